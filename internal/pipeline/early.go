package pipeline

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/kindstack/kindstack/cluster"
	"github.com/kindstack/kindstack/internal/component"
	"github.com/kindstack/kindstack/internal/steps"
	"github.com/kindstack/kindstack/internal/target"
	"github.com/kindstack/kindstack/internal/transform"
)

// earlyLoads are the image imports `up` starts while kind is still bringing up the control plane
// of a cluster it creates (target.EnsureOptions.AcceptsImages): the --bundle's images and each
// component's preload. The steps that would do that work afterwards take these over instead
// (earlyOr); one that failed is done again by its step.
//
// The imports outlive the cluster step that starts them, so they report to no step while they
// run: each notes what it would say, and the step that takes it over waits for it and prints that
// as its own. Up stops and joins whatever no step took over (a step before the installs failed)
// before it returns, and so before it lets go of the cluster's lock.
type earlyLoads struct {
	mu      sync.Mutex
	closed  bool // the cluster step is over: nothing starts any more
	started bool
	cancel  context.CancelFunc
	running sync.WaitGroup
	bundle  *earlyJob[string]
	preload map[string]*earlyJob[cluster.PreloadResult] // by component
}

// start begins the imports, once, unless the cluster step has already ended.
func (e *earlyLoads) start(ctx context.Context, p *Pipeline, run *upRun, st *steps.Status) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed || e.started {
		return
	}
	e.started = true
	ctx, e.cancel = context.WithCancel(ctx)
	st.Infof("the node's containerd is configured: importing images while the control plane starts")
	if run.settings.Bundle != "" && run.kind != nil {
		e.bundle = newEarlyJob[string]()
		e.running.Go(func() {
			e.bundle.run(func(logf func(string, ...any)) (string, error) {
				return p.importBundle(ctx, run.kind.Runtime(), run.settings.Name, run.settings.Bundle, run.bundle)
			})
		})
	}
	// A recreate that kept the old node's images restores them after the create: those are the
	// images the engine cannot give (restoreStep), so the preloads are left to the installs, which
	// run after the restore and then find them on the node.
	if run.kept != "" {
		return
	}
	// One component after the other, those marked LoadFirst first, then in plan order: the node
	// imports one archive at a time anyway (cluster.Manager.Preload), and each component's install
	// goes on as soon as its own images are in. Measured on the bench's test bed: metrics-server
	// and the example before the ingress controller (ready 3 s after its pod starts) brings `up`
	// from 55–65 s to 46–50 s.
	e.preload = map[string]*earlyJob[cluster.PreloadResult]{}
	type job struct {
		images []string
		out    *earlyJob[cluster.PreloadResult]
	}
	var jobs []job
	components := slices.Clone(run.plan.components)
	slices.SortStableFunc(components, func(a, b component.Component) int {
		switch {
		case a.LoadFirst && !b.LoadFirst:
			return -1
		case b.LoadFirst && !a.LoadFirst:
			return 1
		}
		return 0
	})
	for _, c := range components {
		images, err := transform.ContainerImages(run.plan.sets[c.Name].Objects)
		if err != nil {
			continue // the install step reports it
		}
		j := job{images: images, out: newEarlyJob[cluster.PreloadResult]()}
		e.preload[c.Name] = j.out
		jobs = append(jobs, j)
	}
	bundle := e.bundle
	e.running.Go(func() {
		// What the bundle brings is on the node before the preloads look, as when its step runs
		// before the installs: they find those images there instead of counting them as pulls.
		if bundle != nil {
			select {
			case <-bundle.done:
			case <-ctx.Done():
			}
		}
		for _, j := range jobs {
			j.out.run(func(logf func(string, ...any)) (cluster.PreloadResult, error) {
				if err := ctx.Err(); err != nil {
					return cluster.PreloadResult{}, context.Cause(ctx)
				}
				return run.target.LoadImages(ctx, target.LoadOptions{Images: j.images, Logf: logf})
			})
		}
	})
}

// close is called when the cluster step ends: from then on each step does its own imports.
func (e *earlyLoads) close() {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
}

// stop cancels the imports no step took over and waits until every one has returned: Up defers
// it, so none still writes into the node once Up has returned and unlocked the cluster.
func (e *earlyLoads) stop() {
	e.mu.Lock()
	e.closed = true
	cancel := e.cancel
	e.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	e.running.Wait()
}

// bundleImport is the early --bundle import, nil when none was started.
func (e *earlyLoads) bundleImport() *earlyJob[string] {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.bundle
}

// preloadOf is component name's early preload, nil when none was started.
func (e *earlyLoads) preloadOf(name string) *earlyJob[cluster.PreloadResult] {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.preload[name]
}

// earlyOr takes the early work over when it was started and returns its result if it succeeded;
// otherwise it does the work now.
func earlyOr[T any](ctx context.Context, st *steps.Status, j *earlyJob[T], now func() (T, error)) (T, error) {
	if j != nil {
		v, err := j.take(ctx, st)
		if err == nil || ctx.Err() != nil {
			return v, err
		}
		st.Infof("the import started while the cluster was created failed (%v); doing it again", err)
	}
	return now()
}

// earlyPhase names an early import in the timings of the step that took it over.
const earlyPhase = "early import"

// earlyJob is one import running in the background for a step that comes later. While it runs
// it belongs to no step, so what it says is noted, not printed.
type earlyJob[T any] struct {
	done chan struct{} // closed once the fields below are final

	mu    sync.Mutex
	notes []string

	start time.Time
	took  time.Duration
	val   T
	err   error
}

func newEarlyJob[T any]() *earlyJob[T] { return &earlyJob[T]{done: make(chan struct{})} }

// run does the work, noting its log lines, and sets the result.
func (j *earlyJob[T]) run(work func(logf func(string, ...any)) (T, error)) {
	j.start = time.Now()
	j.val, j.err = work(func(format string, args ...any) {
		j.mu.Lock()
		j.notes = append(j.notes, fmt.Sprintf(format, args...))
		j.mu.Unlock()
	})
	j.took = time.Since(j.start)
	close(j.done)
}

// take waits until the job is done, then makes it st's: its notes become st's detail lines and
// its run a phase of st, from when it began. If ctx ends first the job is left to Up's stop.
func (j *earlyJob[T]) take(ctx context.Context, st *steps.Status) (T, error) {
	select {
	case <-j.done:
	case <-ctx.Done():
		var zero T
		return zero, context.Cause(ctx)
	}
	j.mu.Lock()
	notes := j.notes
	j.mu.Unlock()
	for _, n := range notes {
		st.Infof("%s", n)
	}
	st.PhaseRan(earlyPhase, j.start, j.took, j.err)
	return j.val, j.err
}
