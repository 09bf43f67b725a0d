package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/kindstack/kindstack/cluster"
	"github.com/kindstack/kindstack/internal/config"
	"github.com/kindstack/kindstack/internal/steps"
)

// UpSummary is `up -o json`: one object on stdout, also when `up` fails.
type UpSummary struct {
	Name       string       `json:"name"`
	Ready      bool         `json:"ready"`
	Created    bool         `json:"created"` // false: an existing cluster was reused
	Context    string       `json:"context,omitempty"`
	Kubeconfig string       `json:"kubeconfig,omitempty"` // file holding the context
	URLs       []string     `json:"urls"`
	Seconds    float64      `json:"seconds"`
	Timings    []TimingJSON `json:"timings"`
	Error      string       `json:"error,omitempty"`
}

// upSteps is the `up` pipeline: preflight, the cluster, then whatever StepsAfterCluster adds.
func (a *app) upSteps(inv invocation, env *UpEnv, deleteFirst bool) []steps.Step {
	spec := specOf(env.Settings)
	var pre cluster.PreflightReport
	list := []steps.Step{{
		Name: "Preflight",
		Run: func(ctx context.Context, st *steps.Status) error {
			configErr := inv.configErr
			if a.opts.ValidateSettings != nil && configErr == nil {
				if err := a.opts.ValidateSettings(env.Settings); err != nil {
					configErr = fmt.Errorf("settings: %w", err)
				}
			}
			rep, err := a.mgr.Preflight(ctx, cluster.PreflightOptions{Spec: spec, ConfigErr: configErr})
			for _, w := range rep.Warnings {
				st.Warnf("%s", w)
			}
			if err != nil {
				return err
			}
			pre = rep
			env.Runtime = rep.Runtime
			st.Result(strings.TrimSpace(rep.Runtime.Name + " " + rep.EngineVersion))
			if y, err := cluster.KindConfigYAML(spec); err == nil {
				st.Infof("kind config:\n%s", strings.TrimRight(string(y), "\n"))
			}
			return nil
		},
	}}
	if deleteFirst {
		list = append(list, a.deleteStep(env.Settings))
	}
	list = append(list, steps.Step{
		Name: "Cluster " + spec.Name,
		Run: func(ctx context.Context, st *steps.Status) error {
			res, err := a.mgr.Ensure(ctx, cluster.EnsureOptions{
				Spec:       spec,
				Runtime:    pre.Runtime,
				Kubeconfig: env.Settings.Kubeconfig,
				Retain:     env.Settings.Retain,
				Logf:       st.Infof,
				Warnf:      st.Warnf,
			})
			if err != nil {
				return err
			}
			env.Cluster = res
			if res.Created {
				st.Result("created")
			} else {
				st.Result("exists, unchanged")
			}
			return nil
		},
	})
	if a.opts.StepsAfterCluster != nil {
		list = append(list, a.opts.StepsAfterCluster(env)...)
	}
	return list
}

func (a *app) deleteStep(s config.Settings) steps.Step {
	return steps.Step{
		Name: "Delete cluster " + s.Name,
		Run: func(ctx context.Context, st *steps.Status) error {
			existed, err := a.mgr.Delete(ctx, cluster.DeleteOptions{Name: s.Name, Kubeconfig: s.Kubeconfig, Logf: st.Infof})
			if err != nil {
				return err
			}
			if existed {
				st.Result("deleted")
			} else {
				st.Result("already absent")
			}
			return nil
		},
	}
}

func (a *app) up(c *ucli.Context) error { return a.runUp(c, false) }

func (a *app) recreate(c *ucli.Context) error { return a.runUp(c, true) }

func (a *app) runUp(c *ucli.Context, deleteFirst bool) error {
	inv, err := resolve(c)
	if err != nil {
		return err
	}
	env := &UpEnv{Settings: inv.settings}
	ctx, cancel := context.WithTimeout(c.Context, inv.settings.Timeout)
	defer cancel()
	start := time.Now()
	timings, runErr := a.runner(inv).Run(ctx, a.upSteps(inv, env, deleteFirst))
	if errors.Is(runErr, context.DeadlineExceeded) && c.Context.Err() == nil {
		runErr = fmt.Errorf("%w (the --timeout budget of %s ran out)", runErr, inv.settings.Timeout)
	}
	sum := UpSummary{
		Name: inv.settings.Name, Ready: runErr == nil, Created: env.Cluster.Created,
		Context: env.Cluster.Context, Kubeconfig: env.Cluster.KubeconfigPath,
		URLs: append([]string{}, env.URLs...), Seconds: time.Since(start).Round(time.Millisecond).Seconds(),
		Timings: timingsJSON(timings),
	}
	if runErr != nil {
		sum.Error = runErr.Error()
	}
	if inv.json {
		if err := a.printJSON(sum); err != nil {
			return errors.Join(runErr, err)
		}
		return runErr
	}
	if runErr != nil {
		return runErr
	}
	if !inv.quiet {
		w := a.opts.Stdout
		fmt.Fprintf(w, "Cluster %q is ready (%s).\n", sum.Name, steps.FormatDuration(time.Since(start)))
		fmt.Fprintf(w, "kubectl context: %s (in %s)\n", sum.Context, sum.Kubeconfig)
		for _, u := range sum.URLs {
			fmt.Fprintf(w, "  %s\n", u)
		}
	}
	return nil
}

func (a *app) down(c *ucli.Context) error {
	inv, err := resolveLoaded(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Context, inv.settings.Timeout)
	defer cancel()
	timings, err := a.runner(inv).Run(ctx, []steps.Step{a.deleteStep(inv.settings)})
	if inv.json {
		out := struct {
			Name    string       `json:"name"`
			Deleted bool         `json:"deleted"`
			Timings []TimingJSON `json:"timings"`
		}{inv.settings.Name, err == nil, timingsJSON(timings)}
		return errors.Join(err, a.printJSON(out))
	}
	return err
}

// StatusReport is `status -o json`: one stable object on stdout.
type StatusReport struct {
	Ready      bool              `json:"ready"` // cluster ready and every component ready
	Cluster    cluster.Status    `json:"cluster"`
	Components []ComponentStatus `json:"components"`
	Problem    string            `json:"problem,omitempty"` // why status could not look (e.g. no runtime)
}

func (a *app) status(c *ucli.Context) error {
	inv, err := resolveLoaded(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Context, inv.settings.Timeout)
	defer cancel()
	rep := StatusReport{Components: []ComponentStatus{}}
	st, lookErr := a.mgr.Status(ctx, inv.settings.Name)
	rep.Cluster = st
	if lookErr != nil {
		rep.Problem = lookErr.Error()
	}
	if lookErr == nil && st.Exists && st.Kubeconfig != nil && a.opts.StatusComponents != nil {
		rep.Components = a.opts.StatusComponents(ctx, st, inv.settings)
	}
	rep.Ready = lookErr == nil && st.Ready
	for _, comp := range rep.Components {
		rep.Ready = rep.Ready && comp.Ready
	}

	if inv.json {
		if err := a.printJSON(rep); err != nil {
			return err
		}
	} else if lookErr == nil {
		a.printStatus(rep)
	}
	switch {
	case lookErr != nil:
		return fmt.Errorf("status of cluster %q: %w", inv.settings.Name, lookErr)
	case !st.Exists:
		return errors.New(st.Problem) // it names the cluster and says what to run
	case !rep.Ready && st.Problem != "":
		return fmt.Errorf("cluster %q is not ready: %s", st.Name, st.Problem)
	case !rep.Ready:
		return fmt.Errorf("cluster %q is not ready: some components are not ready", st.Name)
	}
	return nil
}

func (a *app) printStatus(rep StatusReport) {
	w := a.opts.Stdout
	st := rep.Cluster
	mark := func(ok bool) string {
		if ok {
			return "ready"
		}
		return "NOT READY"
	}
	if !st.Exists {
		fmt.Fprintf(w, "cluster %s: not found (runtime %s)\n", st.Name, st.Runtime)
		return
	}
	fmt.Fprintf(w, "cluster %s: %s (runtime %s, context %s)\n", st.Name, mark(st.Ready), st.Runtime, st.Context)
	for _, n := range st.Nodes {
		line := fmt.Sprintf("  node %s: %s", n.Name, mark(n.Ready))
		if n.Reason != "" {
			line += " — " + n.Reason
		}
		fmt.Fprintln(w, line)
	}
	for _, comp := range rep.Components {
		line := fmt.Sprintf("  %s: %s", comp.Name, mark(comp.Ready))
		if comp.Reason != "" {
			line += " — " + comp.Reason
		}
		fmt.Fprintln(w, line)
	}
}
