package pipeline

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kindstack/kindstack/internal/component"
	"github.com/kindstack/kindstack/internal/config"
	"github.com/kindstack/kindstack/internal/kube"
	"github.com/kindstack/kindstack/internal/steps"
	"github.com/kindstack/kindstack/internal/target"
)

// What a target that kindstack did not create offers beyond Target (target.Context does).
type (
	// discoverer connects and learns what the cluster provides before a plan is made.
	discoverer interface {
		Discover(ctx context.Context) error
	}
	// router reaches the ingress through its Service when no host port is mapped for it, or,
	// when the cluster's own controller provides it, through the address it gives an Ingress.
	router interface {
		Route(ctx context.Context, svc component.Service, probe target.Probe, logf func(format string, args ...any)) (target.Route, error)
		RouteIngress(ctx context.Context, namespace, name string, probe target.Probe, logf func(format string, args ...any)) (target.Route, error)
	}
	// provenance says where a capability the target has of its own comes from.
	provenance interface {
		ProvidedBy(capability component.Capability) string
	}
)

// contextOf is the cluster of the settings' kubeconfig context.
func (p *Pipeline) contextOf(s config.Settings) *target.Context {
	return target.NewContext(p.Cluster, target.ContextOptions{Context: s.Context, Kubeconfig: s.Kubeconfig, IngressClass: s.IngressClass, Getenv: p.Cluster.Getenv})
}

// discover lets a target that can learn what the cluster provides do so, before a plan is made.
func discover(ctx context.Context, t target.Target) error {
	if d, ok := t.(discoverer); ok {
		return d.Discover(ctx)
	}
	return nil
}

// selector is how the user names the target on the command line: "--name x" or "--context y".
func selector(s config.Settings) string {
	if s.Context != "" {
		return "--context " + s.Context
	}
	return "--name " + s.Name
}

// objects lists every object the plan applies, in component order.
func (pl plan) objects() []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, c := range pl.components {
		out = append(out, pl.sets[c.Name].Objects...)
	}
	return out
}

// checkOwners refuses, before anything in the cluster changes, every object the plan would apply
// that exists and is not kindstack's (a user's kubectl, another tool), each named with who manages
// it; with --force they are taken over, and said so.
func checkOwners(ctx context.Context, st *steps.Status, e Engine, pl plan, force bool) error {
	foreign, err := e.Foreign(ctx, pl.objects())
	if err != nil {
		return err
	}
	if len(foreign) == 0 {
		return nil
	}
	if !force {
		return &kube.ForeignError{Objects: foreign}
	}
	for _, f := range foreign {
		st.Warnf("--force: taking over %s", f)
	}
	return nil
}

// exposedOf is the Service of the component that provides the ingress in the plan, nil if none.
func exposedOf(pl plan) (component.Service, string, bool) {
	for _, c := range pl.components {
		if slices.Contains(c.Provides, component.Ingress) {
			if c.Exposed == nil {
				return component.Service{}, c.Name, false
			}
			return *c.Exposed, c.Name, true
		}
	}
	return component.Service{}, "", false
}

// firstIngress is the first Ingress the plan applies, the one the smoke test's requests follow.
func firstIngress(pl plan) (namespace, name string, ok bool) {
	for _, o := range pl.objects() {
		if o.GetKind() == "Ingress" && o.GroupVersionKind().Group == "networking.k8s.io" {
			return o.GetNamespace(), o.GetName(), true
		}
	}
	return "", "", false
}

// capabilities says where each capability of the plan comes from.
func capabilities(pl plan, t target.Target) map[string]string {
	out := map[string]string{}
	for _, capability := range pl.given {
		from := t.Describe()
		if pv, ok := t.(provenance); ok && pv.ProvidedBy(capability) != "" {
			from = pv.ProvidedBy(capability)
		}
		out[string(capability)] = "the cluster's own: " + from
	}
	for _, c := range pl.components {
		for _, capability := range c.Provides {
			out[string(capability)] = c.Name + " (installed by kindstack)"
		}
	}
	return out
}

// uninstallStep is `down` on a cluster kindstack did not create: it deletes exactly what
// kindstack's inventory recorded there, the components that need a capability before the one
// providing it, each in reverse apply order, waits until it is gone, then forgets the records.
// The cluster, and every object kindstack did not create or no longer owns, stay.
func (p *Pipeline) uninstallStep(t target.Target, res *DownResult) steps.Step {
	return steps.Step{
		Name: "Remove what kindstack installed on " + t.Describe(),
		Run: func(ctx context.Context, st *steps.Status) error {
			conn, err := t.Ensure(ctx, target.EnsureOptions{Logf: st.Infof, Warnf: st.Warnf})
			if err != nil {
				return err
			}
			e, err := p.Connect(conn.Kubeconfig)
			if err != nil {
				return fmt.Errorf("connect to %s: %w", t.Describe(), err)
			}
			inv, err := e.ReadInventory(ctx)
			if err != nil {
				return err
			}
			if len(inv) == 0 {
				st.Result("nothing recorded: nothing to remove")
				return nil
			}
			var done kube.PruneResult
			for _, group := range p.pruneOrder(inv, inv.Unwanted(nil)) {
				st.Infof("removing %d objects of %s", len(group.refs), group.component)
				r, err := e.Prune(ctx, group.refs)
				done.Deleted = append(done.Deleted, r.Deleted...)
				done.Absent = append(done.Absent, r.Absent...)
				done.LeftAlone = append(done.LeftAlone, r.LeftAlone...)
				done.InUse = append(done.InUse, r.InUse...)
				if err != nil {
					return err
				}
			}
			if err := forgetDropped(ctx, e, inv, keysOf(inv), done.InUse); err != nil {
				return err
			}
			for _, r := range done.LeftAlone {
				st.Warnf("left %s: it is no longer labelled as kindstack's", r)
			}
			for _, r := range done.InUse {
				st.Warnf("kept %s: objects kindstack did not create still use it", r)
			}
			res.Removed = len(done.Deleted)
			components := sortedCopy(keysOf(inv))
			st.Result(fmt.Sprintf("%s · %s · the cluster stays", strings.Join(components, ", "), done.String()))
			return nil
		},
	}
}
