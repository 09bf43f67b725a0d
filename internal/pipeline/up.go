package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/kindstack/kindstack/cluster"
	"github.com/kindstack/kindstack/internal/bundle"
	"github.com/kindstack/kindstack/internal/component"
	"github.com/kindstack/kindstack/internal/config"
	"github.com/kindstack/kindstack/internal/kube"
	"github.com/kindstack/kindstack/internal/smoke"
	"github.com/kindstack/kindstack/internal/steps"
	"github.com/kindstack/kindstack/internal/target"
)

// UpOptions are the inputs of Up.
type UpOptions struct {
	Settings config.Settings
	// ConfigErr is a config file that failed to load; preflight reports it with every other problem.
	ConfigErr error
	// Recreate deletes the cluster first (`kindstack recreate`).
	Recreate bool
}

// upRun is what one `up` learns as its steps run; each step fills in what the next ones read.
type upRun struct {
	settings config.Settings
	plan     plan
	target   target.Target     // what up acts on
	kind     *target.Kind      // the same, when it is a kind cluster kindstack manages
	conn     target.Connection // cluster step
	engine   Engine            // cluster step: connected to the cluster
	urls     []string          // smoke test: what the user can open
	route    target.Route      // smoke test: how it reached the ingress of a target without host ports
	bundle   bundle.Meta       // preflight: what --bundle holds
	kept     string            // recreate: the old node's images, exported (keepStep)
	keptDir  string            // and the directory holding them, removed when up ends
	early    earlyLoads        // cluster step: imports started while kind creates the cluster
}

// Up is `kindstack up` and `kindstack recreate`, acting on the settings' target (a kind cluster
// kindstack manages unless Pipeline.Target says otherwise). It holds the target's lock
// throughout, so two commands never change one cluster at once. Its steps, in order:
//
//  1. Preflight: the settings (config file, images map, components, a --bundle's contents) and
//     the target (runtime, name, ports, mirrors that do not answer), every problem at once,
//     before anything changes.
//  2. For recreate only: keep the images the old node holds that the new one would pull again
//     (kind only), then delete the target (preflight already checked the new spec's ports).
//  3. Ensure the target: create the cluster (its node image loaded from --bundle, or pulled
//     through a mirror), or reuse it when its stored spec matches; write the node's registry
//     mirrors; merge its kubeconfig context. Recreate then restores the kept images into the new node.
//     A cluster being created gets its images (the bundle's, each component's preload) as soon
//     as its containerd is configured, while kubeadm brings up the control plane.
//  4. With --bundle: import the bundle's images into the node, before anything is pulled.
//  5. Prune: delete what earlier runs installed and these settings no longer want.
//  6. Install every component concurrently: each loads its images into the node, applies its
//     objects, applies those that need another component's capability once that one is ready,
//     and waits until it is really ready.
//  7. Send the components' smoke requests through the ingress where the target says it answers.
//
// The summary is filled in either way; a failure after the cluster exists keeps the cluster.
func (p *Pipeline) Up(parent context.Context, r *steps.Runner, opts UpOptions) (UpSummary, error) {
	ctx, cancel := context.WithTimeout(parent, opts.Settings.Timeout)
	defer cancel()
	run := &upRun{settings: opts.Settings}
	run.target = p.targetOf(opts.Settings)
	run.kind, _ = run.target.(*target.Kind)
	// The steps for the images a kind node takes from this machine (--bundle, the images recreate
	// keeps) exist only for a kind cluster; any target gets the others.
	list := []steps.Step{p.preflightStep(run, opts.ConfigErr, opts.Recreate)}
	if opts.Recreate && run.kind != nil {
		list = append(list, p.keepStep(run))
	}
	if opts.Recreate {
		list = append(list, p.deleteStep(run.target, &DownResult{}))
	}
	list = append(list,
		p.clusterStep(run),
	)
	if opts.Recreate && run.kind != nil {
		list = append(list, p.restoreStep(run))
	}
	defer func() {
		if run.keptDir != "" {
			_ = os.RemoveAll(run.keptDir)
		}
	}()
	if opts.Settings.Bundle != "" && run.kind != nil {
		list = append(list, p.bundleStep(run))
	}
	list = append(list,
		p.pruneStep(run),
		p.installStep(run),
	)
	name := opts.Settings.Name
	if opts.Settings.Context != "" {
		name = opts.Settings.Context
	}
	if opts.Settings.Wait && p.smokes(opts.Settings) {
		list = append(list, p.smokeStep(run))
	}

	start := time.Now()
	unlock, err := p.lock(ctx, r, run.target, opts.Settings.NoWait)
	if err != nil {
		return UpSummary{Name: name, URLs: []string{}, Timings: []TimingJSON{}, Error: err.Error()}, err
	}
	defer unlock()
	defer run.early.stop() // before the unlock: no import still writes into the node then
	timings, err := r.Run(ctx, list)
	if errors.Is(err, context.DeadlineExceeded) && parent.Err() == nil {
		err = fmt.Errorf("%w (the --timeout budget of %s ran out)", err, opts.Settings.Timeout)
	}
	if err != nil && run.engine != nil {
		err = fmt.Errorf("%w\ncluster %q is kept: `kindstack status %s` says what is not ready, `kindstack up` retries, `kindstack down` removes it;\n"+
			"`kindstack logs %s` collects diagnostics for a bug report", err, name, selector(opts.Settings), selector(opts.Settings))
		// A person who pressed Ctrl-C wants kindstack to stop, not to collect.
		if opts.Settings.Diagnostics != "" && parent.Err() == nil {
			err = p.collectDiagnostics(parent, opts.Settings, err)
		}
	}
	if err == nil && !opts.Settings.Wait {
		run.urls = append(run.urls, p.urlsOf(run.target, opts.Settings)...) // once the components are ready
	}
	sum := UpSummary{
		Name: name, Ready: err == nil && opts.Settings.Wait, Waited: opts.Settings.Wait, Created: run.conn.Created,
		Context: run.conn.Context, Kubeconfig: run.conn.KubeconfigPath,
		URLs: append([]string{}, run.urls...), Seconds: time.Since(start).Round(time.Millisecond).Seconds(),
		Route: run.route.How, Again: run.route.Again,
		Timings: timingsJSON(timings),
	}
	if err != nil {
		sum.Error = err.Error()
	}
	return sum, err
}

func (p *Pipeline) specOf(s config.Settings) cluster.Spec {
	return cluster.Spec{Name: s.Name, NodeImage: s.NodeImage, ListenAddress: s.ListenAddress, HTTPPort: s.HTTPPort, HTTPSPort: s.HTTPSPort, Workers: s.Workers,
		ControllerManagerArgs: p.clusterNeeds(s).ControllerManagerArgs}
}

// smokes reports whether a wanted component has smoke requests.
func (p *Pipeline) smokes(s config.Settings) bool {
	for _, c := range p.components(s) {
		if len(c.Smoke) > 0 && p.wanted(c, s) {
			return true
		}
	}
	return false
}

// urlsOf lists the URLs the wanted components serve through the ingress, as this machine reaches them.
func (p *Pipeline) urlsOf(t target.Target, s config.Settings) []string {
	base := t.IngressURL()
	var out []string
	for _, c := range p.components(s) {
		if !p.wanted(c, s) {
			continue
		}
		for _, path := range c.URLs {
			out = append(out, base+path)
		}
	}
	return out
}

// targetOf is what the settings make the commands act on: Pipeline.Target's choice, else the kind
// cluster they describe.
func (p *Pipeline) targetOf(s config.Settings) target.Target {
	switch {
	case p.Target != nil:
		return p.Target(s)
	case s.Context != "":
		return p.contextOf(s)
	}
	return p.kindOf(s)
}

// kindOf is the kind cluster the settings describe.
func (p *Pipeline) kindOf(s config.Settings) *target.Kind {
	return target.NewKind(p.Cluster, target.KindOptions{
		Spec: p.specOf(s), Kubeconfig: s.Kubeconfig, Retain: s.Retain, Restart: s.Restart, KeepContext: s.KeepContext,
		Force: s.Force, Preload: s.Preload, Registries: s.Registries, Containers: p.besideOf(s),
	})
}

func (p *Pipeline) preflightStep(run *upRun, configErr error, replacing bool) steps.Step {
	return steps.Step{
		Name: "Preflight",
		Run: func(ctx context.Context, st *steps.Status) error {
			settingsErr := configErr
			// A cluster kindstack did not create is asked first what it has (and whether it
			// answers at all): the plan uses what it provides instead of installing it again.
			if err := discover(ctx, run.target); err != nil {
				return fmt.Errorf("preflight: %w", err)
			}
			if settingsErr == nil {
				pl, err := p.newPlan(ctx, run.settings, run.target)
				if err != nil {
					settingsErr = fmt.Errorf("settings: %w", err)
				}
				run.plan = pl
			}
			if settingsErr == nil {
				for _, w := range untested(run.plan, run.target) {
					// On a cluster kindstack did not create, a controller not tested on its
					// Kubernetes is refused: it is someone else's cluster.
					if run.kind == nil && !run.settings.Force {
						settingsErr = errors.Join(settingsErr, fmt.Errorf("%s; --force installs it anyway", w))
						continue
					}
					st.Warnf("%s", w)
				}
			}
			if run.kind == nil && settingsErr == nil {
				for _, c := range run.plan.components {
					if len(p.containersOf(c, run.settings)) > 0 {
						settingsErr = errors.Join(settingsErr, fmt.Errorf("%s runs a container beside the nodes of a kind cluster that kindstack manages; %s takes none", c.Name, run.target.Describe()))
					}
				}
			}
			if run.settings.Bundle != "" && run.kind == nil {
				settingsErr = errors.Join(settingsErr, fmt.Errorf("--bundle imports images into a kind node that kindstack manages; %s takes none", run.target.Describe()))
			} else if run.settings.Bundle != "" {
				meta, warnings, err := checkBundle(run.settings)
				if err != nil {
					settingsErr = errors.Join(settingsErr, err)
				}
				for _, w := range warnings {
					st.Warnf("%s", w)
				}
				run.bundle = meta
			}
			rep, err := run.target.Preflight(ctx, target.PreflightOptions{SettingsErr: settingsErr, Replacing: replacing})
			for _, w := range rep.Warnings {
				st.Warnf("%s", w)
			}
			if err == nil && settingsErr != nil {
				err = fmt.Errorf("preflight: %w", settingsErr) // a target that does not report them still stops here
			}
			if err != nil {
				return err
			}
			st.Result(rep.Engine)
			for _, d := range rep.Details {
				st.Infof("%s", d)
			}
			return nil
		},
	}
}

func (p *Pipeline) clusterStep(run *upRun) steps.Step {
	name := "Cluster " + run.settings.Name
	if run.settings.Context != "" {
		name = "Connect to " + run.target.Describe()
	}
	return steps.Step{
		Name: name,
		Run: func(ctx context.Context, st *steps.Status) error {
			if run.settings.Bundle != "" && run.kind != nil {
				loaded, err := p.loadNodeImage(ctx, run.kind.Runtime(), run.settings.Bundle, run.bundle, run.kind.Options.Spec.NodeImage)
				if err != nil {
					return err
				}
				if loaded != "" {
					st.Infof("node image %s loaded from %s", loaded, run.settings.Bundle)
				}
			}
			if run.kind != nil {
				run.kind.Options.Baked = run.plan.images() // a node image baked with them is used (bake.go)
			}
			defer run.early.close()
			res, err := run.target.Ensure(ctx, target.EnsureOptions{
				AcceptsImages: func() { run.early.start(ctx, p, run, st) },
				Logf:          st.Infof,
				Warnf:         st.Warnf,
			})
			if err != nil {
				return err
			}
			run.conn = res
			if run.engine, err = p.Connect(res.Kubeconfig); err != nil {
				return fmt.Errorf("connect to %s: %w", run.target.Describe(), err)
			}
			if err := checkOwners(ctx, st, run.engine, run.plan, run.settings.Force); err != nil {
				return err
			}
			result := "exists, unchanged"
			if run.settings.Context != "" {
				result = "reached"
			}
			if res.Created {
				result = "created"
			}
			if res.Note != "" {
				result += " · " + res.Note
			}
			st.Result(result)
			return nil
		},
	}
}

// pruneStep deletes every object an earlier run recorded that the plan no longer has (a component
// switched off, or an object a component stopped shipping), then forgets components left empty.
func (p *Pipeline) pruneStep(run *upRun) steps.Step {
	return steps.Step{
		Name: "Prune",
		Run: func(ctx context.Context, st *steps.Status) error {
			inv, err := run.engine.ReadInventory(ctx)
			if err != nil {
				return err
			}
			unwanted := inv.Unwanted(run.plan.refs())
			wanted := map[string]bool{}
			for _, c := range run.plan.components {
				wanted[c.Name] = true
			}
			var dropped []string
			for name := range inv {
				if !wanted[name] {
					dropped = append(dropped, name)
				}
			}
			if len(unwanted) == 0 && len(dropped) == 0 {
				st.Result("nothing to prune")
				return nil
			}
			// Component by component, those that need a capability before the one providing it
			// (the example's Ingress before the ingress controller), each in reverse apply order.
			var res kube.PruneResult
			for _, group := range p.pruneOrder(inv, unwanted) {
				for _, r := range group.refs {
					st.Infof("pruning %s of %s", r, group.component)
				}
				done, err := run.engine.Prune(ctx, group.refs)
				res.Deleted = append(res.Deleted, done.Deleted...)
				res.Absent = append(res.Absent, done.Absent...)
				res.LeftAlone = append(res.LeftAlone, done.LeftAlone...)
				res.InUse = append(res.InUse, done.InUse...)
				if err != nil {
					return err
				}
			}
			if err := forgetDropped(ctx, run.engine, inv, dropped, res.InUse); err != nil {
				return err
			}
			for _, r := range res.InUse {
				st.Warnf("kept %s: objects kindstack did not create still use it (once they are deleted, the next `kindstack up` prunes it)", r)
			}
			msg := res.String()
			if len(dropped) > 0 {
				msg = strings.Join(sortedCopy(dropped), ", ") + " removed · " + msg
			}
			if sw := p.switched(dropped, run.plan.components); sw != "" {
				msg = sw + " · " + msg
			}
			st.Result(msg)
			return nil
		},
	}
}

// forgetDropped forgets the components no settings want any more. The CRDs kept because objects
// of the user's use them stay recorded, as "<component>-kept", which no settings want: status lists
// them as left over and every later up tries again to prune them.
func forgetDropped(ctx context.Context, e Engine, inv kube.Inventory, dropped []string, inUse []kube.Ref) error {
	for _, name := range dropped {
		var kept []kube.Ref
		for _, r := range inv[name] {
			if slices.Contains(inUse, r) {
				kept = append(kept, r)
			}
		}
		keptAs := strings.TrimSuffix(name, keptSuffix) + keptSuffix
		if len(kept) > 0 {
			if err := e.RecordInventory(ctx, keptAs, kept); err != nil {
				return err
			}
		}
		if len(kept) == 0 || keptAs != name {
			if err := e.ForgetInventory(ctx, name); err != nil {
				return err
			}
		}
	}
	return nil
}

// keptSuffix names the inventory of the CRDs a dropped component left because they are in use.
const keptSuffix = "-kept"

// switched names a capability whose provider changed, e.g. "ingress: ingress-nginx → traefik".
func (p *Pipeline) switched(dropped []string, now []component.Component) string {
	provides := map[string][]component.Capability{}
	for _, c := range p.Catalogue {
		provides[c.Name] = c.Provides
	}
	var out []string
	for _, old := range sortedCopy(dropped) {
		for _, capability := range provides[old] {
			for _, c := range now {
				if slices.Contains(c.Provides, capability) {
					out = append(out, fmt.Sprintf("%s: %s → %s", capability, old, c.Name))
				}
			}
		}
	}
	return strings.Join(out, ", ")
}

// pruneGroup is what one component's prune deletes.
type pruneGroup struct {
	component string
	refs      []kube.Ref
}

// pruneOrder splits the unwanted objects by the component that recorded them (each object once)
// and orders the components so that one needing a capability comes before its provider. Components
// the catalogue no longer knows go first: nothing can depend on them.
func (p *Pipeline) pruneOrder(inv kube.Inventory, unwanted []kube.Ref) []pruneGroup {
	rank := map[string]int{}                           // higher = pruned later
	providersOf := map[component.Capability][]string{} // alternatives provide the same
	for _, c := range p.Catalogue {
		for _, capability := range c.Provides {
			providersOf[capability] = append(providersOf[capability], c.Name)
		}
	}
	var depth func(name string, seen map[string]bool) int
	depth = func(name string, seen map[string]bool) int {
		best := 0
		if seen[name] {
			return 0
		}
		seen[name] = true
		for _, c := range p.Catalogue {
			for _, n := range c.Needs {
				if slices.Contains(providersOf[n.Capability], name) {
					best = max(best, depth(c.Name, seen)+1)
				}
			}
		}
		return best
	}
	for _, c := range p.Catalogue {
		rank[c.Name] = depth(c.Name, map[string]bool{}) + 1
	}
	want := map[kube.Ref]bool{}
	for _, r := range unwanted {
		want[r] = true
	}
	var groups []pruneGroup
	for _, name := range sortedCopy(keysOf(inv)) {
		g := pruneGroup{component: name}
		for _, r := range inv[name] {
			if want[r] {
				g.refs = append(g.refs, r)
				delete(want, r)
			}
		}
		if len(g.refs) > 0 {
			groups = append(groups, g)
		}
	}
	slices.SortStableFunc(groups, func(a, b pruneGroup) int { return rank[a.component] - rank[b.component] })
	return groups
}

func keysOf(inv kube.Inventory) []string {
	out := make([]string, 0, len(inv))
	for k := range inv {
		out = append(out, k)
	}
	return out
}

func (p *Pipeline) installStep(run *upRun) steps.Step {
	return steps.Step{
		Name: "Install components",
		Run: func(ctx context.Context, st *steps.Status) error {
			return p.installAll(run).Run(ctx, st)
		},
	}
}

func (p *Pipeline) smokeStep(run *upRun) steps.Step {
	return steps.Step{
		Name: "Smoke test through the ingress",
		Run: func(ctx context.Context, st *steps.Status) error {
			base := run.target.IngressURL()
			r, routed := run.target.(router)
			if routed {
				var route target.Route
				var err error
				// A candidate address counts once the smoke requests pass there.
				probe := func(ctx context.Context, base string) error {
					ctx, cancel := context.WithTimeout(ctx, probeWithin)
					defer cancel()
					return p.Smoke(ctx, smoke.Options{BaseURL: base, Requests: run.plan.smoke(), Interval: time.Second})
				}
				svc, provider, ok := exposedOf(run.plan)
				switch {
				case ok:
					route, err = r.Route(ctx, svc, probe, st.Infof)
				case provider != "":
					return fmt.Errorf("%s has no Service to reach it through on %s, which maps no host ports for kindstack", provider, run.target.Describe())
				default: // the cluster's own controller serves the ingress
					ns, name, found := firstIngress(run.plan)
					if !found {
						return fmt.Errorf("no Ingress to follow to the ingress controller of %s", run.target.Describe())
					}
					route, err = r.RouteIngress(ctx, ns, name, probe, st.Infof)
				}
				if err != nil {
					return err
				}
				defer route.Close()
				run.route = route
				base = route.BaseURL
			}
			if err := p.Smoke(ctx, smoke.Options{BaseURL: base, Requests: run.plan.smoke(), Infof: st.Infof}); err != nil {
				return err
			}
			open := base
			if routed && !run.route.Lasting {
				// A port-forward ends with kindstack: the URLs are those of the command that opens it again.
				open = "http://localhost:8080"
				st.Warnf("the port-forward ends when kindstack returns; `%s` opens it again for the URLs below", run.route.Again)
			}
			for _, path := range run.plan.urls() {
				run.urls = append(run.urls, open+path)
			}
			if routed {
				st.Result(base + " answers · through " + run.route.How)
				return nil
			}
			st.Result(base + " answers")
			return nil
		},
	}
}

// probeWithin bounds how long an address the cluster offers may take to serve the smoke requests
// before the next way to reach the ingress is tried.
const probeWithin = 20 * time.Second

// BaseURL is where a browser on this machine reaches the ingress on a host port.
func BaseURL(listenAddress string, port int) string { return target.BaseURL(listenAddress, port) }

// untested warns, once each, about every planned component not tested on the Kubernetes version
// the target runs.
func untested(pl plan, t target.Target) []string {
	minor, from := t.Kubernetes()
	if minor == 0 {
		return nil
	}
	var out []string
	for _, c := range pl.components {
		if w := c.Untested(minor); w != "" {
			out = append(out, w+" ("+from+")")
		}
	}
	return out
}
