package pipeline

import (
	"fmt"
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
}

// Catalogue is every component kindstack can install. Adding one is a file in addons/ or
// workloads/ and a line here; order and concurrency follow from what each provides and needs.
func Catalogue() []Entry {
	always := func(config.Settings) bool { return true }
	return []Entry{
		{addons.IngressNginx(), always},
		{addons.MetricsServer(), always},
		{workloads.Example(), func(s config.Settings) bool { return s.Example }},
	}
}

// paramsOf turns settings into what shapes components' objects.
func paramsOf(s config.Settings) component.Params {
	return component.Params{Images: transform.ImageMap(s.Images), IngressNode: cluster.IngressNodeSelector()}
}

// plan is what the settings want installed, built before anything changes.
type plan struct {
	components []component.Component
	sets       map[string]kube.Set
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
func (p *Pipeline) newPlan(s config.Settings) (plan, error) {
	params := paramsOf(s)
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
		pl.components = append(pl.components, e.Component)
		pl.sets[e.Component.Name] = set
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
func (p *Pipeline) Sets(s config.Settings) ([]kube.Set, error) {
	pl, err := p.newPlan(s)
	if err != nil {
		return nil, err
	}
	out := make([]kube.Set, 0, len(pl.components))
	for _, c := range pl.components {
		out = append(out, pl.sets[c.Name])
	}
	return out, nil
}
