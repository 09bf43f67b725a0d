package cli

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/kindstack/kindstack/internal/pipeline"
	"github.com/kindstack/kindstack/internal/steps"
)

func (a *app) up(c *ucli.Context) error { return a.runUp(c, false) }

func (a *app) recreate(c *ucli.Context) error { return a.runUp(c, true) }

func (a *app) runUp(c *ucli.Context, recreate bool) error {
	inv, err := a.resolve(c)
	if err != nil {
		return err
	}
	if inv.settings.Diagnostics == "" && a.opts.Getenv("CI") == "true" {
		inv.settings.Diagnostics = pipeline.AutoDiagnostics
	}
	start := time.Now()
	sum, runErr := a.pl.Up(c.Context, a.runner(inv), pipeline.UpOptions{Settings: inv.settings, ConfigErr: inv.configErr, Recreate: recreate})
	if err := a.reportToGitHub(sum, runErr); err != nil {
		runErr = errors.Join(runErr, err)
	}
	if inv.format != "" {
		return errors.Join(runErr, a.printData(inv.format, sum))
	}
	if runErr != nil {
		return runErr
	}
	if !inv.quiet {
		w := a.opts.Stdout
		if sum.Waited {
			fmt.Fprintf(w, "Cluster %q is ready (%s).\n", sum.Name, steps.FormatDuration(time.Since(start)))
		} else {
			fmt.Fprintf(w, "Cluster %q is up and its components are applied, not waited for (%s): `kindstack status --name %s` says when they are ready.\n",
				sum.Name, steps.FormatDuration(time.Since(start)), sum.Name)
		}
		fmt.Fprintf(w, "kubectl context: %s (in %s)\n", sum.Context, sum.Kubeconfig)
		if sum.Route != "" {
			fmt.Fprintf(w, "ingress reached through %s\n", sum.Route)
		}
		if sum.Again != "" {
			fmt.Fprintf(w, "the port-forward ended with kindstack; to open the URLs below, first run: %s\n", sum.Again)
		}
		for _, u := range sum.URLs {
			fmt.Fprintf(w, "  %s\n", u)
		}
	}
	return nil
}

func (a *app) down(c *ucli.Context) error {
	inv, err := a.resolveLoaded(c)
	if err != nil {
		return err
	}
	res, err := a.pl.Down(c.Context, a.runner(inv), inv.settings)
	if inv.format != "" {
		return errors.Join(err, a.printData(inv.format, res))
	}
	return err
}

func (a *app) status(c *ucli.Context) error {
	inv, err := a.resolveLoaded(c)
	if err != nil {
		return err
	}
	rep, err := a.pl.Status(c.Context, inv.settings)
	switch {
	case inv.format != "":
		return errors.Join(err, a.printData(inv.format, rep))
	case rep.Problem == "": // the cluster could be looked at
		a.printStatus(rep)
	}
	return err
}

func (a *app) printStatus(rep pipeline.StatusReport) {
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
	if st.Runtime == "" { // a cluster kindstack did not create
		fmt.Fprintf(w, "cluster %s: %s (context %s)\n", st.Name, mark(st.Ready), st.Context)
	} else {
		fmt.Fprintf(w, "cluster %s: %s (runtime %s, context %s)\n", st.Name, mark(st.Ready), st.Runtime, st.Context)
	}
	if st.Busy != "" {
		fmt.Fprintf(w, "  %s\n", st.Busy)
	}
	for _, n := range st.Nodes {
		line := fmt.Sprintf("  node %s: %s", n.Name, mark(n.Ready))
		if n.Reason != "" {
			line += " — " + n.Reason
		}
		fmt.Fprintln(w, line)
	}
	if rep.Ingress != "" {
		fmt.Fprintf(w, "  ingress controller: %s\n", rep.Ingress)
	}
	for _, capability := range slices.Sorted(maps.Keys(rep.Capabilities)) {
		fmt.Fprintf(w, "  %s: %s\n", capability, rep.Capabilities[capability])
	}
	for _, comp := range rep.Components {
		line := fmt.Sprintf("  %s: %s", comp.Name, mark(comp.Ready))
		if comp.Reason != "" {
			line += " — " + comp.Reason
		}
		fmt.Fprintln(w, line)
	}
	for _, b := range rep.Beside {
		state := b.State
		if !b.Exists {
			state = "absent"
		}
		line := fmt.Sprintf("  %s %s: %s", b.Describe, b.Name, state)
		if b.Address != "" {
			line += " at " + b.Address
		}
		if !b.Wanted {
			line += " (these settings do not use it; `kindstack " + b.Component + " rm` removes it)"
		}
		if b.Reason != "" {
			line += " — " + b.Reason
		}
		fmt.Fprintln(w, line)
	}
	if len(rep.Leftovers) > 0 {
		fmt.Fprintf(w, "  left over from an earlier run (the next `kindstack up` prunes them): %d objects\n", len(rep.Leftovers))
		for _, l := range rep.Leftovers {
			fmt.Fprintf(w, "    %s\n", l)
		}
	}
}

// removeBeside is `kindstack <component> rm`: the containers the component runs beside the nodes.
func (a *app) removeBeside(c *ucli.Context, component string) error {
	inv, err := a.resolveLoaded(c)
	if err != nil {
		return err
	}
	res, err := a.pl.RemoveBeside(c.Context, a.runner(inv), pipeline.RemoveBesideOptions{
		Settings: inv.settings, Component: component, KeepStorage: flagBool(c, flagKeepStorage)})
	if inv.format != "" {
		return errors.Join(err, a.printData(inv.format, res))
	}
	return err
}
