package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kindstack/kindstack/cluster"
	"github.com/kindstack/kindstack/internal/component"
	"github.com/kindstack/kindstack/internal/kube"
	"github.com/kindstack/kindstack/internal/steps"
	"github.com/kindstack/kindstack/internal/target"
	"github.com/kindstack/kindstack/internal/transform"
	"github.com/kindstack/kindstack/internal/webhookcert"
)

// readiness is one capability's outcome, announced once by the component that provides it.
type readiness struct {
	provider string
	once     sync.Once
	done     chan struct{}
	err      error
}

func (r *readiness) announce(err error) {
	r.once.Do(func() {
		r.err = err
		close(r.done)
	})
}

// wait blocks until the capability is ready, its provider failed, or ctx ends.
func (r *readiness) wait(ctx context.Context, c component.Capability) error {
	select {
	case <-r.done:
		if r.err != nil {
			return fmt.Errorf("not installed: it needs %s, and %s failed", c, r.provider)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("still waiting for %s from %s: %w", c, r.provider, context.Cause(ctx))
	}
}

// installAll runs every planned component at once; each one waits only for the capabilities it
// needs, so the order follows from the components' data. A component that fails announces it to
// every component waiting on it, which then fail at once instead of waiting out the budget.
func (p *Pipeline) installAll(run *upRun) steps.Step {
	ready := map[component.Capability]*readiness{}
	for _, capability := range run.plan.given {
		r := &readiness{provider: run.target.Describe(), done: make(chan struct{})}
		r.announce(nil) // the target has it already
		ready[capability] = r
	}
	for _, c := range run.plan.components {
		for _, capability := range c.Provides {
			ready[capability] = &readiness{provider: c.Name, done: make(chan struct{})}
		}
	}
	var children []steps.Step
	for _, c := range run.plan.components {
		children = append(children, steps.Step{
			Name: "Install " + c.Name,
			Run: func(ctx context.Context, st *steps.Status) error {
				err := p.install(ctx, st, run, c, ready)
				for _, capability := range c.Provides {
					ready[capability].announce(err)
				}
				return err
			},
		})
	}
	return steps.Parallel("Install components", children...)
}

// install loads one component's images, applies its objects (those that need a capability once
// it is ready), and waits until the component is ready. Its inventory is recorded before the
// first apply, so an interrupted run still knows what it may have created.
func (p *Pipeline) install(ctx context.Context, st *steps.Status, run *upRun, c component.Component, ready map[component.Capability]*readiness) error {
	set := run.plan.sets[c.Name]
	set.ImageProbe = run.target.ImageProbe()
	set.Progress = func(msg string) { st.Notef("%s", msg) }
	images, err := transform.ContainerImages(set.Objects)
	if err != nil {
		return err
	}
	endImages := st.Phase("images")
	loaded, err := earlyOr(ctx, st, run.early.preloadOf(c.Name), func() (cluster.PreloadResult, error) {
		return run.target.LoadImages(ctx, target.LoadOptions{Images: images, Logf: st.Infof})
	})
	endImages(err)
	if err != nil {
		return err
	}
	if err := run.engine.RecordInventory(ctx, c.Name, kube.RefsOf(set.Objects)); err != nil {
		return err
	}

	if c.WebhookCert != nil {
		endCert := st.Phase("webhook certificate")
		set.Objects, err = p.webhookCert(ctx, st, run.engine, *c.WebhookCert, set.Objects)
		endCert(err)
		if err != nil {
			return err
		}
	}
	now, later := split(c, set.Objects)
	endApply := st.Phase("apply")
	applyOpts := c.Apply
	applyOpts.TakeOver = run.settings.Force // the objects were checked, and named, before anything changed
	changes, err := run.engine.Apply(ctx, now, applyOpts)
	endApply(err)
	if err != nil {
		return err
	}
	// Each group goes in as soon as its own capability is ready, whatever the others do.
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, len(later))
	for i, capability := range sortedKeys(later) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st.Infof("waiting for %s before applying %d objects", capability, len(later[capability]))
			endWait := st.Phase("wait for " + string(capability))
			errs[i] = ready[capability].wait(ctx, capability)
			endWait(errs[i])
			if errs[i] != nil {
				return
			}
			var more kube.ChangeSet
			endApply := st.Phase("apply after " + string(capability))
			more, errs[i] = run.engine.Apply(ctx, later[capability], applyOpts)
			endApply(errs[i])
			mu.Lock()
			changes = append(changes, more...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if !run.settings.Wait {
		// Its dependants go on once it is applied (an admission webhook that does not serve yet
		// is retried by their apply).
		st.Result(loaded.String() + " · " + changes.String() + ", not waited for")
		return nil
	}
	endReady := st.Phase("ready")
	err = waitReady(ctx, run.engine, c, set, ready)
	endReady(err)
	if err != nil {
		return err
	}
	st.Result(loaded.String() + " · " + changes.String() + ", ready")
	return nil
}

// waitReady waits until the component's objects are ready. Those applied before a capability they
// need (component.Need.AtOnce) make it wait for that capability too: it is ready once that is,
// and fails as soon as its provider does, instead of waiting out the budget for metrics that
// will never come.
func waitReady(parent context.Context, e Engine, c component.Component, set kube.Set, ready map[component.Capability]*readiness) error {
	var needs sync.WaitGroup
	defer needs.Wait()
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	for _, n := range c.Needs {
		if !n.AtOnce {
			continue
		}
		needs.Go(func() {
			if err := ready[n.Capability].wait(ctx, n.Capability); err != nil && ctx.Err() == nil {
				cancel(err)
			}
		})
	}
	if err := e.Wait(ctx, set); err != nil {
		if parent.Err() == nil && ctx.Err() != nil {
			return context.Cause(ctx) // a provider failed: that is why it is not ready
		}
		return err
	}
	for _, n := range c.Needs {
		if n.AtOnce {
			if err := ready[n.Capability].wait(parent, n.Capability); err != nil {
				return err
			}
		}
	}
	return nil
}

// split separates the objects applied at once from those that wait for a capability, keeping order.
func split(c component.Component, objs []*unstructured.Unstructured) ([]*unstructured.Unstructured, map[component.Capability][]*unstructured.Unstructured) {
	var now []*unstructured.Unstructured
	later := map[component.Capability][]*unstructured.Unstructured{}
	for _, o := range objs {
		if capability, deferred := c.Deferred(o); deferred {
			later[capability] = append(later[capability], o)
			continue
		}
		now = append(now, o)
	}
	return now, later
}

func sortedKeys[V any](m map[component.Capability]V) []component.Capability {
	keys := make([]component.Capability, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func sortedCopy(in []string) []string {
	out := slices.Clone(in)
	sort.Strings(out)
	return out
}

// webhookCert completes the webhook's Secret and caBundle in objs: with the certificate the
// cluster's Secret holds when it still serves, else with a new one (webhookcert.Ensure).
func (p *Pipeline) webhookCert(ctx context.Context, st *steps.Status, e Engine, w component.WebhookCert, objs []*unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
	existing, err := e.Secret(ctx, w.Namespace, w.Secret)
	if err != nil {
		return nil, err
	}
	data, reused, why, err := webhookcert.Ensure(existing, w.Hosts, time.Now())
	if err != nil {
		return nil, err
	}
	switch {
	case reused:
		st.Infof("webhook %s: the certificate in Secret %s/%s still serves; kept", w.Webhook, w.Namespace, w.Secret)
	case why != "":
		st.Notef("webhook %s: a new certificate, as the one in Secret %s/%s cannot be used (%s)", w.Webhook, w.Namespace, w.Secret, why)
	default:
		st.Infof("webhook %s: a new certificate for %s", w.Webhook, strings.Join(w.Hosts, ", "))
	}
	return w.Fill(objs, data)
}
