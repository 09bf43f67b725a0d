package pipeline

import (
	"context"
	"fmt"
	"strings"

	"github.com/kindstack/kindstack/cluster"
	"github.com/kindstack/kindstack/internal/component"
	"github.com/kindstack/kindstack/internal/config"
	"github.com/kindstack/kindstack/internal/steps"
	"github.com/kindstack/kindstack/internal/transform"
)

// besideOf lists the containers the wanted components run beside a kind cluster's nodes (a
// local registry), as the cluster package runs them.
func (p *Pipeline) besideOf(s config.Settings) []cluster.Container {
	var out []cluster.Container
	for _, c := range p.Catalogue {
		if p.wanted(c, s) {
			out = append(out, p.containersOf(c, s)...)
		}
	}
	return out
}

// containersOf are c's containers with the settings' options and images map.
func (p *Pipeline) containersOf(c component.Component, s config.Settings) []cluster.Container {
	var out []cluster.Container
	params := component.Params{Images: transform.ImageMap(s.Images), Options: s.Components[c.Name].Options}
	for _, b := range c.Containers(params) {
		out = append(out, cluster.Container{
			Name: b.Name, Image: b.Image, Env: b.Env, Port: b.Port, ListenAddress: b.ListenAddress, HostPort: b.HostPort,
			Volume: b.Volume, VolumePath: b.VolumePath, Registry: b.Registry, Describe: b.Describe, PortFlag: b.PortFlag,
		})
	}
	return out
}

// BesideStatus is one container beside the nodes, as `status` reports it.
type BesideStatus struct {
	cluster.ContainerState
	// Component runs it; Wanted says whether these settings want it.
	Component string `json:"component"`
	Wanted    bool   `json:"wanted"`
	// Ready: it runs, or it is not wanted; Reason says why not.
	Ready  bool   `json:"ready"`
	Reason string `json:"reason,omitempty"`
}

// besideStatus reports every container a component of the catalogue runs beside the nodes that
// exists, or that the settings want: they are shared by the clusters of this machine, so one
// exists even where these settings do not ask for it.
func (p *Pipeline) besideStatus(ctx context.Context, s config.Settings) ([]BesideStatus, error) {
	var out []BesideStatus
	var rt cluster.Runtime
	for _, c := range p.Catalogue {
		cs := p.containersOf(c, s)
		if len(cs) == 0 {
			continue
		}
		if rt.Binary == "" {
			var err error
			if rt, err = p.Cluster.Engine(ctx); err != nil {
				return nil, err
			}
		}
		wanted := p.wanted(c, s)
		for _, b := range cs {
			st, err := p.Cluster.ContainerState(ctx, rt, b)
			if err != nil {
				return nil, err
			}
			if !st.Exists && !wanted {
				continue
			}
			bs := BesideStatus{ContainerState: st, Component: c.Name, Wanted: wanted, Ready: st.Running || !wanted}
			switch {
			case !st.Exists:
				bs.Reason = fmt.Sprintf("no container %s; `kindstack up` creates it", b.Name)
			case !st.Ours:
				bs.Ready, bs.Reason = !wanted, fmt.Sprintf("the container %s was not created by kindstack", b.Name)
			case !st.Running && wanted:
				bs.Reason = fmt.Sprintf("%s; `kindstack up` starts it", st.State)
			}
			out = append(out, bs)
		}
	}
	return out, nil
}

// RemoveBesideOptions are the inputs of RemoveBeside.
type RemoveBesideOptions struct {
	Settings config.Settings
	// Component runs the containers to remove.
	Component string
	// KeepStorage keeps their volumes (the registry's images): the next up reuses them.
	KeepStorage bool
}

// BesideRemoval is `kindstack <component> rm -o json`.
type BesideRemoval struct {
	Component string                `json:"component"`
	Removed   []BesideRemovalResult `json:"removed"`
}

// BesideRemovalResult says what was removed of one container.
type BesideRemovalResult struct {
	Name   string `json:"name"`
	Volume string `json:"volume"`
	cluster.RemoveResult
}

// RemoveBeside is `kindstack <component> rm` (`kindstack registry rm`): one step per container
// the component runs beside the nodes, removing it and, unless KeepStorage, its volume — its
// data. Nothing else removes them: not down, not recreate, not an up without the component. A
// container or volume kindstack did not create is refused; one already gone is success.
func (p *Pipeline) RemoveBeside(parent context.Context, r *steps.Runner, opts RemoveBesideOptions) (BesideRemoval, error) {
	ctx, cancel := context.WithTimeout(parent, opts.Settings.Timeout)
	defer cancel()
	res := BesideRemoval{Component: opts.Component, Removed: []BesideRemovalResult{}}
	var comp *component.Component
	for i, c := range p.Catalogue {
		if c.Name == opts.Component && c.Beside != nil {
			comp = &p.Catalogue[i]
		}
	}
	if comp == nil {
		return res, fmt.Errorf("no component called %q runs containers beside the nodes", opts.Component)
	}
	var rt cluster.Runtime
	list := []steps.Step{{
		Name: "Container engine",
		Run: func(ctx context.Context, st *steps.Status) error {
			var err error
			rt, err = p.Cluster.Engine(ctx)
			if err == nil {
				st.Result(rt.Name)
			}
			return err
		},
	}}
	for _, c := range p.containersOf(*comp, opts.Settings) {
		list = append(list, steps.Step{
			Name: "Remove " + c.Describe + " " + c.Name,
			Run: func(ctx context.Context, st *steps.Status) error {
				done, err := p.Cluster.RemoveContainer(ctx, rt, c, opts.KeepStorage)
				if err != nil {
					return err
				}
				res.Removed = append(res.Removed, BesideRemovalResult{Name: c.Name, Volume: c.Volume, RemoveResult: done})
				var parts []string
				if done.Container {
					parts = append(parts, "container removed")
				}
				switch {
				case done.Volume:
					parts = append(parts, "volume "+c.Volume+" removed with its data")
				case opts.KeepStorage:
					parts = append(parts, "volume "+c.Volume+" kept")
				}
				if len(parts) == 0 {
					parts = append(parts, "already absent")
				}
				st.Result(strings.Join(parts, " · "))
				return nil
			},
		})
	}
	_, err := r.Run(ctx, list)
	return res, err
}
