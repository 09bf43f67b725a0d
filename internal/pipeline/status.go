package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/kindstack/kindstack/internal/component"
	"github.com/kindstack/kindstack/internal/config"
	"github.com/kindstack/kindstack/internal/target"
)

// Status is `kindstack status`, within its own short budget (it never takes the cluster's lock,
// and a stopped or paused node is reported from its container's state): the cluster and its nodes, then every wanted component (each
// object and gate, by the same checks `up` waits on, evaluated once), then anything an earlier run
// installed that these settings no longer want. It changes nothing. The error says why the
// cluster is not ready (or does not exist); the report is complete either way.
func (p *Pipeline) Status(parent context.Context, s config.Settings) (StatusReport, error) {
	ctx, cancel := context.WithTimeout(parent, s.StatusTimeout)
	defer cancel()
	return p.status(ctx, s, p.targetOf(s))
}

// status is Status of target t.
func (p *Pipeline) status(ctx context.Context, s config.Settings, t target.Target) (StatusReport, error) {
	rep := StatusReport{Components: []ComponentStatus{}}
	st, err := t.Status(ctx)
	rep.Cluster = st
	if err != nil {
		rep.Problem = err.Error()
		if s.Context != "" {
			return rep, err // it names the context
		}
		return rep, fmt.Errorf("status of cluster %q: %w", s.Name, err)
	}
	if !st.Exists {
		return rep, errors.New(st.Problem) // it names the cluster and says what to run
	}
	running := s
	if st.Kubeconfig != nil {
		rep.Components, rep.Leftovers, rep.Ingress, rep.Capabilities, running = p.componentStatus(ctx, st.Kubeconfig, s, t)
	}
	if _, kind := t.(*target.Kind); kind {
		beside, err := p.besideStatus(ctx, running)
		if err != nil {
			rep.Components = append(rep.Components, ComponentStatus{Name: "beside the nodes", Reason: err.Error()})
		}
		rep.Beside = beside
	}
	rep.Ready = st.Ready
	for _, c := range rep.Components {
		rep.Ready = rep.Ready && c.Ready
	}
	for _, b := range rep.Beside {
		rep.Ready = rep.Ready && b.Ready
	}
	switch {
	case !rep.Ready && st.Problem != "":
		return rep, fmt.Errorf("cluster %q is not ready: %s", st.Name, st.Problem)
	case !rep.Ready:
		return rep, fmt.Errorf("cluster %q is not ready: some components are not ready", st.Name)
	}
	return rep, nil
}

// componentsAtOnce bounds how many components status evaluates at once.
const componentsAtOnce = 4

// componentStatus evaluates every component the settings want, or the cluster runs where the
// user did not choose (asRunning); it returns them, the leftovers, the ingress controller, the
// capabilities and the settings that describe the cluster as it runs.
func (p *Pipeline) componentStatus(ctx context.Context, kubeconfig []byte, s config.Settings, t target.Target) ([]ComponentStatus, []string, string, map[string]string, config.Settings) {
	engine, err := p.Connect(kubeconfig)
	if err != nil {
		return []ComponentStatus{{Name: "api", Reason: err.Error()}}, nil, "", nil, s
	}
	inv, invErr := engine.ReadInventory(ctx)
	if invErr == nil {
		s = p.asRunning(s, inv)
	}
	pl, err := p.newPlan(ctx, s, t)
	if err != nil {
		return []ComponentStatus{{Name: "settings", Reason: err.Error()}}, nil, "", nil, s
	}
	// The components are evaluated at once, a few at a time (each reads up to 16 objects at once
	// too): a catalogue with many apps must not open hundreds of requests together.
	out := make([]ComponentStatus, len(pl.components))
	var g errgroup.Group
	g.SetLimit(componentsAtOnce)
	for i, c := range pl.components {
		g.Go(func() error {
			cs := ComponentStatus{Name: c.Name, Ready: true}
			var reasons []string
			for _, obj := range engine.Status(ctx, pl.sets[c.Name]) {
				if !obj.Ready {
					cs.Ready = false
					reasons = append(reasons, obj.Name+": "+obj.Reason)
				}
			}
			cs.Reason = strings.Join(reasons, "; ")
			out[i] = cs
			return nil
		})
	}
	_ = g.Wait() // each evaluation reports its trouble in its ComponentStatus
	var leftovers []string
	if invErr != nil {
		leftovers = append(leftovers, "cannot read the inventory: "+invErr.Error())
	}
	for _, r := range inv.Unwanted(pl.refs()) {
		leftovers = append(leftovers, r.String())
	}
	return out, leftovers, providerOf(pl, component.Ingress), capabilities(pl, t), s
}
