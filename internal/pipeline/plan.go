package pipeline

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/kindstack/kindstack/internal/apps"
	"github.com/kindstack/kindstack/internal/component"
	"github.com/kindstack/kindstack/internal/config"
	"github.com/kindstack/kindstack/internal/kube"
	"github.com/kindstack/kindstack/internal/target"
	"github.com/kindstack/kindstack/internal/transform"
)

// wanted reports whether the settings want c installed: the chosen one of its alternatives, an
// optional component not switched off, and every other component.
func (p *Pipeline) wanted(c component.Component, s config.Settings) bool {
	switch {
	case c.Alternative != nil:
		return p.choice(s, c.Alternative.Capability) == c.Alternative.Value
	case c.Optional:
		return s.Enabled(c.Name)
	case c.OptIn:
		return s.OptedIn(c.Name)
	}
	return true
}

// choice is the value chosen for a capability with alternatives: the settings', else the default
// alternative's.
func (p *Pipeline) choice(s config.Settings, capability component.Capability) string {
	if v, ok := s.Choices[string(capability)]; ok {
		return v
	}
	for _, c := range p.Catalogue {
		if a := c.Alternative; a != nil && a.Capability == capability && a.Default {
			return a.Value
		}
	}
	return ""
}

// Alternatives lists, per capability several components provide, the values that pick each one.
func (p *Pipeline) Alternatives() map[component.Capability][]component.Alternative {
	out := map[component.Capability][]component.Alternative{}
	for _, c := range p.Catalogue {
		if a := c.Alternative; a != nil {
			out[a.Capability] = append(out[a.Capability], *a)
		}
	}
	return out
}

// paramsOf turns settings into what shapes c's objects on target t; fetch gets remote manifests.
func paramsOf(s config.Settings, t target.Target, c component.Component, fetch func(component.Remote) ([]byte, error)) component.Params {
	return component.Params{
		Images:       transform.ImageMap(s.Images),
		IngressNode:  t.IngressNode(),
		IngressClass: s.IngressClass,
		Options:      s.Components[c.Name].Options,
		Fetch:        fetch,
	}
}

// plan is what the settings want installed, built before anything changes.
type plan struct {
	components []component.Component
	sets       map[string]kube.Set
	// given are the capabilities the target has of its own.
	given []component.Capability
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

// smoke lists the requests that prove the plan's components work through the ingress.
func (pl plan) smoke() []component.Request {
	var out []component.Request
	for _, c := range pl.components {
		out = append(out, c.Smoke...)
	}
	return out
}

// urls lists the paths the plan's components serve through the ingress, for the user.
func (pl plan) urls() []string {
	var out []string
	for _, c := range pl.components {
		out = append(out, c.URLs...)
	}
	return out
}

// checkSettings says what is wrong with the components' part of the settings, every problem at
// once: a choice no component answers to, options of a component the settings do not install (they
// would silently do nothing), options that do not pass their component's check.
func (p *Pipeline) checkSettings(s config.Settings) error {
	var errs []error
	for capability, alts := range p.Alternatives() {
		v, ok := s.Choices[string(capability)]
		if !ok {
			continue
		}
		var values []string
		for _, a := range alts {
			values = append(values, a.Value)
		}
		if err := config.CheckChoice(string(capability), v, values); err != nil {
			errs = append(errs, err)
		}
	}
	known := map[string]component.Component{}
	for _, c := range p.Catalogue {
		known[c.Name] = c
	}
	for _, name := range slices.Sorted(maps.Keys(s.Components)) {
		c, ok := known[name]
		cs := s.Components[name]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("no component is called %q", name))
		case cs.Options == nil:
		case !p.wanted(c, s):
			errs = append(errs, fmt.Errorf("options of %s are set, but %s is not installed%s", name, name, p.howToInstall(c)))
		case c.Options != nil:
			if err := c.Options.Check(cs.Options); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// howToInstall says how the user gets c installed, e.g. " (--ingress traefik)".
func (p *Pipeline) howToInstall(c component.Component) string {
	if a := c.Alternative; a != nil {
		return fmt.Sprintf(" (--%s %s)", a.Capability, a.Value)
	}
	if c.OptIn {
		return fmt.Sprintf(" (--%s)", c.Name)
	}
	return ""
}

// newPlan selects the wanted components and builds their objects. Its errors are about the
// settings, so preflight reports them with every other problem: a key of the images map that
// matches no image kindstack runs is almost always a typo, and would silently pull the upstream
// image instead of the mirror.
//
// Remote manifests (the Gateway API CRDs) are fetched here, within ctx.
func (p *Pipeline) newPlan(ctx context.Context, s config.Settings, t target.Target) (plan, error) {
	if err := errors.Join(s.Check(), p.checkSettings(s)); err != nil {
		return plan{}, err
	}
	var fetch func(component.Remote) ([]byte, error)
	if p.Fetch != nil {
		fetch = func(r component.Remote) ([]byte, error) { return p.Fetch(ctx, r) }
	}
	images := transform.ImageMap(s.Images)
	if err := images.Validate(); err != nil {
		return plan{}, fmt.Errorf("images: %w", err)
	}
	if err := apps.Check(s.Apps, p.Catalogue); err != nil {
		return plan{}, err
	}
	comps := p.components(s)
	upstream, err := upstreamImages(comps)
	if err != nil {
		return plan{}, err
	}
	if unused := images.Unused(upstream); len(unused) > 0 {
		return plan{}, fmt.Errorf("images: %s matches no image kindstack installs (known: %s)",
			strings.Join(unused, ", "), strings.Join(upstream, ", "))
	}
	pl := plan{sets: map[string]kube.Set{}, given: t.Provides()}
	for _, c := range comps {
		if !p.wanted(c, s) || givenAll(c.Provides, pl.given) {
			continue // what it would provide, the target has: used, not duplicated
		}
		set, err := c.Build(paramsOf(s, t, c, fetch))
		if err != nil {
			return plan{}, err
		}
		c.Needs = neededBy(c, set)
		pl.components = append(pl.components, c)
		pl.sets[c.Name] = set
	}
	if err := apps.CheckObjects(s.Apps, pl.sets); err != nil {
		return plan{}, err
	}
	if err := component.Check(pl.components, pl.given...); err != nil {
		return plan{}, fmt.Errorf("components: %w%s", err, p.providersHint(pl))
	}
	return pl, nil
}

// providersHint names, for each capability the plan needs and does not provide, the choice that
// would provide it: "; --ingress traefik provides gateway".
func (p *Pipeline) providersHint(pl plan) string {
	provided := map[component.Capability]bool{}
	for _, capability := range pl.given {
		provided[capability] = true
	}
	for _, c := range pl.components {
		for _, capability := range c.Provides {
			provided[capability] = true
		}
	}
	var hints []string
	for _, c := range pl.components {
		for _, n := range c.Needs {
			if provided[n.Capability] {
				continue
			}
			for _, other := range p.Catalogue {
				if slices.Contains(other.Provides, n.Capability) && other.Alternative != nil {
					hints = append(hints, fmt.Sprintf("--%s %s provides %s", other.Alternative.Capability, other.Alternative.Value, n.Capability))
				}
			}
		}
	}
	if len(hints) == 0 {
		return ""
	}
	return "; " + strings.Join(hints, ", ")
}

// upstreamImages lists every image of the components before any override, sorted. Every
// component is built: an app that does not build is reported here, with every other one.
func upstreamImages(comps []component.Component) ([]string, error) {
	var all []string
	var errs []error
	for _, c := range comps {
		imgs, err := c.Images(component.Params{})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		all = append(all, imgs...)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	sort.Strings(all)
	return all, nil
}

// components are the catalogue's components and the user's apps (package apps), which are
// components too.
func (p *Pipeline) components(s config.Settings) []component.Component {
	return append(slices.Clone(p.Catalogue), apps.Components(s.Apps)...)
}

// Sets returns the objects `up` installs with these settings, one set per wanted component in
// catalogue order, exactly as `up` builds them (for tests and for review).
func (p *Pipeline) Sets(ctx context.Context, s config.Settings) ([]kube.Set, error) {
	pl, err := p.newPlan(ctx, s, p.targetOf(s))
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
	for _, c := range p.Catalogue {
		if _, recorded := inv[c.Name]; !recorded {
			continue
		}
		if a := c.Alternative; a != nil {
			if _, chosen := s.Choices[string(a.Capability)]; !chosen {
				s = s.WithChoice(string(a.Capability), a.Value)
			}
		}
	}
	for _, c := range p.Catalogue {
		if _, recorded := inv[c.Name]; recorded && c.OptIn && s.Components[c.Name].Enabled == nil && s.Components[c.Name].Options == nil {
			on := true
			s = s.WithComponent(c.Name, config.ComponentSettings{Enabled: &on})
		}
	}
	for _, c := range p.Catalogue {
		refs, recorded := inv[c.Name]
		if !recorded || c.Options == nil || c.Options.FromCluster == nil || s.Components[c.Name].Options != nil || !p.wanted(c, s) {
			continue
		}
		opts := c.Options.New()
		c.Options.FromCluster(opts, refs)
		s = s.WithComponent(c.Name, config.ComponentSettings{Options: opts})
	}
	return s
}

// providerOf names the component that provides a capability in a plan ("" if none).
func providerOf(pl plan, capability component.Capability) string {
	for _, c := range pl.components {
		if slices.Contains(c.Provides, capability) {
			return c.Name
		}
	}
	return ""
}

// clusterNeeds merges what the wanted components ask of a cluster kindstack creates.
func (p *Pipeline) clusterNeeds(s config.Settings) component.ClusterNeeds {
	var out component.ClusterNeeds
	for _, c := range p.components(s) {
		if !p.wanted(c, s) {
			continue
		}
		for k, v := range c.Cluster.ControllerManagerArgs {
			if out.ControllerManagerArgs == nil {
				out.ControllerManagerArgs = map[string]string{}
			}
			out.ControllerManagerArgs[k] = v
		}
	}
	return out
}

// givenAll reports whether a component provides something and all of it is given.
func givenAll(provides, given []component.Capability) bool {
	if len(provides) == 0 {
		return false
	}
	for _, capability := range provides {
		if !slices.Contains(given, capability) {
			return false
		}
	}
	return true
}
