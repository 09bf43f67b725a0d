package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kindstack/kindstack/cluster"
	"github.com/kindstack/kindstack/internal/bundle"
	"github.com/kindstack/kindstack/internal/component"
	"github.com/kindstack/kindstack/internal/config"
	"github.com/kindstack/kindstack/internal/kube"
	"github.com/kindstack/kindstack/internal/smoke"
	"github.com/kindstack/kindstack/internal/steps"
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
	runtime  cluster.Runtime      // preflight: the container runtime kind drives
	cluster  cluster.EnsureResult // cluster step
	engine   Engine               // cluster step: connected to the cluster
	urls     []string             // smoke test: what the user can open
	bundle   bundle.Meta          // preflight: what --bundle holds
	kept     string               // recreate: the old node's images, exported (keepStep)
	keptDir  string               // and the directory holding them, removed when up ends
	early    earlyLoads           // cluster step: imports started while kind creates the cluster
}

// Up is `kindstack up` and `kindstack recreate`. It holds the cluster's lock throughout, so two
// commands never change one cluster at once. Its steps, in order:
//
//  1. Preflight: the settings (config file, images map, components, a --bundle's contents) and
//     the host (runtime, name, ports, mirrors that do not answer), every problem at once, before
//     anything changes.
//  2. For recreate only: keep the images the old node holds that the new one would pull again,
//     then delete the cluster (preflight already checked the new spec's ports).
//  3. Create the cluster (its node image loaded from --bundle, or pulled through a mirror), or
//     reuse it when its stored spec matches; write the node's registry mirrors; merge its
//     kubeconfig context. Recreate then restores the kept images into the new node.
//     A cluster being created gets its images (the bundle's, each component's preload) as soon
//     as its containerd is configured, while kubeadm brings up the control plane.
//  4. With --bundle: import the bundle's images into the node, before anything is pulled.
//  5. Prune: delete what earlier runs installed and these settings no longer want.
//  6. Install every component concurrently: each loads its images into the node, applies its
//     objects, applies those that need another component's capability once that one is ready,
//     and waits until it is really ready.
//  7. Smoke-test the example through the ingress on the host port.
//
// The summary is filled in either way; a failure after the cluster exists keeps the cluster.
func (p *Pipeline) Up(parent context.Context, r *steps.Runner, opts UpOptions) (UpSummary, error) {
	ctx, cancel := context.WithTimeout(parent, opts.Settings.Timeout)
	defer cancel()
	run := &upRun{settings: opts.Settings}
	spec := p.specOf(opts.Settings)
	list := []steps.Step{p.preflightStep(run, spec, opts.ConfigErr, opts.Recreate)}
	if opts.Recreate {
		list = append(list, p.keepStep(run), p.deleteStep(opts.Settings, &DownResult{}))
	}
	list = append(list,
		p.clusterStep(run, spec),
	)
	if opts.Recreate {
		list = append(list, p.restoreStep(run))
	}
	defer func() {
		if run.keptDir != "" {
			_ = os.RemoveAll(run.keptDir)
		}
	}()
	if opts.Settings.Bundle != "" {
		list = append(list, p.bundleStep(run))
	}
	list = append(list,
		p.pruneStep(run),
		p.installStep(run),
	)
	if opts.Settings.Wait && p.smokes(opts.Settings) {
		list = append(list, p.smokeStep(run))
	}

	start := time.Now()
	unlock, err := p.lock(ctx, r, opts.Settings)
	if err != nil {
		return UpSummary{Name: spec.Name, URLs: []string{}, Timings: []TimingJSON{}, Error: err.Error()}, err
	}
	defer unlock()
	timings, err := r.Run(ctx, list)
	if errors.Is(err, context.DeadlineExceeded) && parent.Err() == nil {
		err = fmt.Errorf("%w (the --timeout budget of %s ran out)", err, opts.Settings.Timeout)
	}
	if err != nil && run.engine != nil {
		err = fmt.Errorf("%w\ncluster %q is kept: `kindstack status --name %s` says what is not ready, `kindstack up` retries, `kindstack down` removes it;\n"+
			"`kindstack logs --name %s` collects diagnostics for a bug report", err, spec.Name, spec.Name, spec.Name)
		// A person who pressed Ctrl-C wants kindstack to stop, not to collect.
		if opts.Settings.Diagnostics != "" && parent.Err() == nil {
			err = p.collectDiagnostics(parent, opts.Settings, err)
		}
	}
	if err == nil && !opts.Settings.Wait {
		run.urls = append(run.urls, p.urlsOf(opts.Settings)...) // once the components are ready
	}
	sum := UpSummary{
		Name: spec.Name, Ready: err == nil && opts.Settings.Wait, Waited: opts.Settings.Wait, Created: run.cluster.Created,
		Context: run.cluster.Context, Kubeconfig: run.cluster.KubeconfigPath,
		URLs: append([]string{}, run.urls...), Seconds: time.Since(start).Round(time.Millisecond).Seconds(),
		Timings: timingsJSON(timings),
	}
	if err != nil {
		sum.Error = err.Error()
	}
	return sum, err
}

func (p *Pipeline) specOf(s config.Settings) cluster.Spec {
	return cluster.Spec{Name: s.Name, NodeImage: s.NodeImage, ListenAddress: s.ListenAddress, HTTPPort: s.HTTPPort, HTTPSPort: s.HTTPSPort,
		ControllerManagerArgs: p.clusterNeeds(s).ControllerManagerArgs}
}

// smokes reports whether a wanted component has smoke requests.
func (p *Pipeline) smokes(s config.Settings) bool {
	for _, c := range p.Catalogue {
		if len(c.Smoke) > 0 && p.wanted(c, s) {
			return true
		}
	}
	return false
}

// urlsOf lists the URLs the wanted components serve through the ingress, as this machine reaches them.
func (p *Pipeline) urlsOf(s config.Settings) []string {
	base := BaseURL(s.ListenAddress, s.HTTPPort)
	var out []string
	for _, c := range p.Catalogue {
		if !p.wanted(c, s) {
			continue
		}
		for _, path := range c.URLs {
			out = append(out, base+path)
		}
	}
	return out
}

func (p *Pipeline) preflightStep(run *upRun, spec cluster.Spec, configErr error, replacing bool) steps.Step {
	return steps.Step{
		Name: "Preflight",
		Run: func(ctx context.Context, st *steps.Status) error {
			settingsErr := configErr
			if settingsErr == nil {
				pl, err := p.newPlan(ctx, run.settings)
				if err != nil {
					settingsErr = fmt.Errorf("settings: %w", err)
				}
				run.plan = pl
			}
			if settingsErr == nil {
				for _, w := range untested(run.plan, run.settings.NodeImage) {
					st.Warnf("%s", w)
				}
			}
			if run.settings.Bundle != "" {
				meta, warnings, err := checkBundle(run.settings)
				if err != nil {
					settingsErr = errors.Join(settingsErr, err)
				}
				for _, w := range warnings {
					st.Warnf("%s", w)
				}
				run.bundle = meta
			}
			rep, err := p.Cluster.Preflight(ctx, cluster.PreflightOptions{Spec: spec, ConfigErr: settingsErr, Replacing: replacing})
			for _, w := range rep.Warnings {
				st.Warnf("%s", w)
			}
			if err == nil {
				for _, w := range cluster.ProbeMirrors(ctx, run.settings.Registries) {
					st.Warnf("%s", w)
				}
			}
			if err != nil {
				return err
			}
			run.runtime = rep.Runtime
			st.Result(strings.TrimSpace(rep.Runtime.Name + " " + rep.EngineVersion))
			if y, err := cluster.KindConfigYAML(spec); err == nil {
				st.Infof("kind config:\n%s", strings.TrimRight(string(y), "\n"))
			}
			return nil
		},
	}
}

func (p *Pipeline) clusterStep(run *upRun, spec cluster.Spec) steps.Step {
	return steps.Step{
		Name: "Cluster " + spec.Name,
		Run: func(ctx context.Context, st *steps.Status) error {
			if run.settings.Bundle != "" {
				loaded, err := p.loadNodeImage(ctx, run.runtime, run.settings.Bundle, run.bundle, spec.NodeImage)
				if err != nil {
					return err
				}
				if loaded != "" {
					st.Infof("node image %s loaded from %s", loaded, run.settings.Bundle)
				}
			}
			defer run.early.close()
			res, err := p.Cluster.Ensure(ctx, cluster.EnsureOptions{
				Spec:        spec,
				Runtime:     run.runtime,
				Kubeconfig:  run.settings.Kubeconfig,
				Retain:      run.settings.Retain,
				Restart:     run.settings.Restart,
				KeepContext: run.settings.KeepContext,
				Registries:  run.settings.Registries,
				Configured:  func() { run.early.start(ctx, p, run, st) },
				Logf:        st.Infof,
				Warnf:       st.Warnf,
			})
			if err != nil {
				return err
			}
			run.cluster = res
			if run.engine, err = p.Connect(res.Kubeconfig); err != nil {
				return fmt.Errorf("connect to cluster %q: %w", spec.Name, err)
			}
			result := "exists, unchanged"
			if res.Created {
				result = "created"
			}
			if m := res.Mirrors.String(); m != "" {
				result += " · " + m
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
			// A dropped component is forgotten. The CRDs kept because objects of the user's use
			// them stay recorded, as "<component>-kept", which no settings want: status lists them
			// as left over and every later up tries again to prune them.
			for _, name := range dropped {
				var kept []kube.Ref
				for _, r := range inv[name] {
					if slices.Contains(res.InUse, r) {
						kept = append(kept, r)
					}
				}
				keptAs := strings.TrimSuffix(name, keptSuffix) + keptSuffix
				if len(kept) > 0 {
					if err := run.engine.RecordInventory(ctx, keptAs, kept); err != nil {
						return err
					}
				}
				if len(kept) == 0 || keptAs != name {
					if err := run.engine.ForgetInventory(ctx, name); err != nil {
						return err
					}
				}
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
	base := BaseURL(run.settings.ListenAddress, run.settings.HTTPPort)
	return steps.Step{
		Name: "Smoke test through the ingress",
		Run: func(ctx context.Context, st *steps.Status) error {
			if err := p.Smoke(ctx, smoke.Options{BaseURL: base, Requests: run.plan.smoke(), Infof: st.Infof}); err != nil {
				return err
			}
			for _, path := range run.plan.urls() {
				run.urls = append(run.urls, base+path)
			}
			st.Result(base + " answers")
			return nil
		},
	}
}

// BaseURL is where a browser on this machine reaches the ingress.
func BaseURL(listenAddress string, port int) string {
	host := "localhost"
	switch ip := net.ParseIP(listenAddress); {
	case listenAddress == "" || ip == nil || ip.IsUnspecified() || ip.IsLoopback():
	default:
		host = listenAddress
		if ip.To4() == nil {
			host = "[" + listenAddress + "]"
		}
	}
	if port == 80 {
		return "http://" + host
	}
	return "http://" + host + ":" + strconv.Itoa(port)
}

// untested warns, once each, about every planned component not tested on the Kubernetes version
// of the node image (read from its tag, kindest/node:v1.37.0).
func untested(pl plan, nodeImage string) []string {
	m := regexp.MustCompile(`:v1\.(\d+)\.\d+`).FindStringSubmatch(nodeImage)
	if m == nil {
		return nil
	}
	minor, _ := strconv.Atoi(m[1])
	var out []string
	for _, c := range pl.components {
		if w := c.Untested(minor); w != "" {
			out = append(out, w+" (node image "+nodeImage+")")
		}
	}
	return out
}
