package pipeline

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/kindstack/kindstack/addons"
	"github.com/kindstack/kindstack/cluster"
	"github.com/kindstack/kindstack/internal/component"
	"github.com/kindstack/kindstack/internal/config"
	"github.com/kindstack/kindstack/internal/kube"
	"github.com/kindstack/kindstack/internal/transform"
	"github.com/kindstack/kindstack/workloads"
)

// Entry is one component of the catalogue and when the settings want it.
type Entry struct {
	Component component.Component
	Wanted    func(config.Settings) bool
	// Choose, given the objects the cluster's inventory records for the component, sets the
	// choices the user did not make to what the cluster runs (see asRunning).
	Choose func(s *config.Settings, recorded []kube.Ref)
}

// Catalogue is every component kindstack can install. Adding one is a file in addons/ or
// workloads/ and a line here; order and concurrency follow from what each provides and needs.
func Catalogue() []Entry {
	always := func(config.Settings) bool { return true }
	ingress := func(c component.Component, name string) Entry {
		return Entry{c, func(s config.Settings) bool { return s.Ingress == name }, func(s *config.Settings, _ []kube.Ref) {
			if !s.IngressGiven {
				s.Ingress = name
			}
		}}
	}
	return []Entry{
		ingress(addons.IngressNginx(), config.IngressNginx),
		ingress(addons.Traefik(), config.IngressTraefik),
		{addons.MetricsServer(), always, nil},
		{workloads.Example(), func(s config.Settings) bool { return s.Example }, func(s *config.Settings, recorded []kube.Ref) {
			if s.ExampleRouteGiven {
				return
			}
			s.ExampleRoute = config.RouteIngress
			if slices.ContainsFunc(recorded, func(r kube.Ref) bool { return r.Kind == "HTTPRoute" }) {
				s.ExampleRoute = config.RouteHTTPRoute
			}
		}},
	}
}

// paramsOf turns settings into what shapes components' objects; fetch gets remote manifests.
func paramsOf(s config.Settings, fetch func(component.Remote) ([]byte, error)) component.Params {
	return component.Params{
		Images:       transform.ImageMap(s.Images),
		IngressNode:  cluster.IngressNodeSelector(),
		ExampleRoute: s.ExampleRoute,
		GatewayPorts: s.GatewayPorts,
		Fetch:        fetch,
	}
}

// plan is what the settings want installed, built before anything changes.
type plan struct {
	components []component.Component
	sets       map[string]kube.Set
}

// images lists every container image the plan runs, once each, in component order.
func (pl plan) images() []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range pl.components {
		images, _ := transform.ContainerImages(pl.sets[c.Name].Objects)
		for _, image := range images {
			if !seen[image] {
				seen[image] = true
				out = append(out, image)
			}
		}
	}
	return out
}

// refs lists every object the plan applies.
func (pl plan) refs() []kube.Ref {
	var out []kube.Ref
	for _, c := range pl.components {
		out = append(out, kube.RefsOf(pl.sets[c.Name].Objects)...)
	}
	return out
}

// newPlan selects the wanted components and builds their objects. Its errors are about the
// settings, so preflight reports them with every other problem: a key of the images map that
// matches no image kindstack runs is almost always a typo, and would silently pull the upstream
// image instead of the mirror.
//
// Remote manifests (the Gateway API CRDs) are fetched here, within ctx.
func (p *Pipeline) newPlan(ctx context.Context, s config.Settings) (plan, error) {
	if err := s.Check(); err != nil {
		return plan{}, err
	}
	var fetch func(component.Remote) ([]byte, error)
	if p.Fetch != nil {
		fetch = func(r component.Remote) ([]byte, error) { return p.Fetch(ctx, r) }
	}
	params := paramsOf(s, fetch)
	images := params.Images
	if err := images.Validate(); err != nil {
		return plan{}, fmt.Errorf("images: %w", err)
	}
	upstream, err := p.upstreamImages()
	if err != nil {
		return plan{}, err
	}
	if unused := images.Unused(upstream); len(unused) > 0 {
		return plan{}, fmt.Errorf("images: %s matches no image kindstack installs (known: %s)",
			strings.Join(unused, ", "), strings.Join(upstream, ", "))
	}
	pl := plan{sets: map[string]kube.Set{}}
	for _, e := range p.Catalogue {
		if !e.Wanted(s) {
			continue
		}
		set, err := e.Component.Build(params)
		if err != nil {
			return plan{}, err
		}
		c := e.Component
		c.Needs = neededBy(c, set)
		pl.components = append(pl.components, c)
		pl.sets[c.Name] = set
	}
	if err := component.Check(pl.components); err != nil {
		return plan{}, fmt.Errorf("components: %w", err)
	}
	return pl, nil
}

// upstreamImages lists every image of the catalogue before any override, sorted.
func (p *Pipeline) upstreamImages() ([]string, error) {
	var all []string
	for _, e := range p.Catalogue {
		imgs, err := e.Component.Images(component.Params{})
		if err != nil {
			return nil, err
		}
		all = append(all, imgs...)
	}
	sort.Strings(all)
	return all, nil
}

// Sets returns the objects `up` installs with these settings, one set per wanted component in
// catalogue order, exactly as `up` builds them (for tests and for review).
func (p *Pipeline) Sets(ctx context.Context, s config.Settings) ([]kube.Set, error) {
	pl, err := p.newPlan(ctx, s)
	if err != nil {
		return nil, err
	}
	out := make([]kube.Set, 0, len(pl.components))
	for _, c := range pl.components {
		out = append(out, pl.sets[c.Name])
	}
	return out, nil
}

// neededBy keeps the needs that select some of the set's objects: the example routed by its
// HTTPRoute needs the gateway, routed by its Ingress it does not.
func neededBy(c component.Component, set kube.Set) []component.Need {
	var out []component.Need
	for _, n := range c.Needs {
		if n.Objects == nil || slices.ContainsFunc(set.Objects, n.Objects) {
			out = append(out, n)
		}
	}
	return out
}

// asRunning returns the settings that describe what the cluster runs, per its inventory, for the
// choices the user did not make: `status` on a cluster brought up with --ingress traefik reports
// Traefik without being told again.
func (p *Pipeline) asRunning(s config.Settings, inv kube.Inventory) config.Settings {
	for _, e := range p.Catalogue {
		if refs, recorded := inv[e.Component.Name]; recorded && e.Choose != nil {
			e.Choose(&s, refs)
		}
	}
	return s
}

// ingressOf names the component that provides the ingress capability in a plan ("" if none).
func ingressOf(pl plan) string {
	for _, c := range pl.components {
		if slices.Contains(c.Provides, component.Ingress) {
			return c.Name
		}
	}
	return ""
}
