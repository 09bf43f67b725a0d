package pipeline

import (
	"context"
	"slices"
	"sync"

	"github.com/kindstack/kindstack/cluster"
	"github.com/kindstack/kindstack/internal/component"
	"github.com/kindstack/kindstack/internal/steps"
	"github.com/kindstack/kindstack/internal/target"
	"github.com/kindstack/kindstack/internal/transform"
)

// earlyLoads are the image imports `up` starts while kind is still bringing up the control plane
// of a cluster it creates (cluster.EnsureOptions.Configured): the --bundle's images and each
// component's preload. The steps that would do that work afterwards wait for these instead; one
// that failed is done again by its step.
type earlyLoads struct {
	mu      sync.Mutex
	closed  bool // the cluster step is over: nothing starts any more
	started bool
	bundle  *future[string]
	preload map[string]*future[cluster.PreloadResult] // by component
}

// start begins the imports, once, unless the cluster step has already ended.
func (e *earlyLoads) start(ctx context.Context, p *Pipeline, run *upRun, st *steps.Status) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed || e.started {
		return
	}
	e.started = true
	st.Infof("the node's containerd is configured: importing images while the control plane starts")
	if run.settings.Bundle != "" && run.kind != nil {
		e.bundle = goFuture(func() (string, error) {
			end := st.Phase("import " + run.settings.Bundle)
			msg, err := p.importBundle(ctx, run.kind.Runtime(), run.settings.Name, run.settings.Bundle, run.bundle)
			end(err)
			return msg, err
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
	e.preload = map[string]*future[cluster.PreloadResult]{}
	type job struct {
		name   string
		images []string
		out    *future[cluster.PreloadResult]
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
		j := job{name: c.Name, images: images, out: newFuture[cluster.PreloadResult]()}
		e.preload[c.Name] = j.out
		jobs = append(jobs, j)
	}
	bundle := e.bundle
	go func() {
		// What the bundle brings is on the node before the preloads look, as when its step runs
		// before the installs: they find those images there instead of counting them as pulls.
		if bundle != nil {
			_, _ = bundle.wait(ctx)
		}
		for _, j := range jobs {
			end := st.Phase("images of " + j.name)
			res, err := run.target.LoadImages(ctx, target.LoadOptions{Images: j.images, Logf: st.Infof})
			end(err)
			j.out.resolve(res, err)
		}
	}()
}

// close is called when the cluster step ends: from then on each step does its own imports.
func (e *earlyLoads) close() {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
}

// bundleImport is the early --bundle import, nil when none was started.
func (e *earlyLoads) bundleImport() *future[string] {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.bundle
}

// preloadOf is component name's early preload, nil when none was started.
func (e *earlyLoads) preloadOf(name string) *future[cluster.PreloadResult] {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.preload[name]
}

// earlyOr returns the early work's result when it was started and succeeded; otherwise it does
// the work now.
func earlyOr[T any](ctx context.Context, st *steps.Status, f *future[T], now func() (T, error)) (T, error) {
	if f != nil {
		v, err := f.wait(ctx)
		if err == nil || ctx.Err() != nil {
			return v, err
		}
		st.Infof("the import started while the cluster was created failed (%v); doing it again", err)
	}
	return now()
}

// future is the result of work running on its own goroutine.
type future[T any] struct {
	done chan struct{}
	val  T
	err  error
}

func newFuture[T any]() *future[T] { return &future[T]{done: make(chan struct{})} }

// goFuture runs f on its own goroutine.
func goFuture[T any](f func() (T, error)) *future[T] {
	fu := newFuture[T]()
	go func() { fu.resolve(f()) }()
	return fu
}

// resolve sets the result, once.
func (f *future[T]) resolve(v T, err error) {
	f.val, f.err = v, err
	close(f.done)
}

// wait returns the result once the work is done, or ctx's error first.
func (f *future[T]) wait(ctx context.Context) (T, error) {
	select {
	case <-f.done:
		return f.val, f.err
	case <-ctx.Done():
		var zero T
		return zero, context.Cause(ctx)
	}
}
