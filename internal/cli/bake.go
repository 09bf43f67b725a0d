package cli

import (
	"context"
	"fmt"
	"text/tabwriter"

	ucli "github.com/urfave/cli/v2"

	"github.com/kindstack/kindstack/internal/bundle"
	"github.com/kindstack/kindstack/internal/pipeline"
)

// bakeCommands are `images bake`, `images baked` and `images unbake`, each made by cmd.
func (a *app) bakeCommands(cmd func(*ucli.Command) *ucli.Command) []*ucli.Command {
	return []*ucli.Command{
		cmd(&ucli.Command{Name: "bake", Usage: "build a node image with every image up runs (images list) already in its containerd; up and recreate create a new cluster from it while it matches the node image and the list",
			Flags: a.upFlags(), Action: a.imagesBake}),
		cmd(&ucli.Command{Name: "baked", Usage: "list the baked node images in the container engine, with the disk each takes beyond its node image",
			Action: a.imagesBaked}),
		cmd(&ucli.Command{Name: "unbake", Usage: "remove every baked node image from the container engine (nothing else)",
			Action: a.imagesUnbake}),
	}
}

func (a *app) imagesBake(c *ucli.Context) error {
	inv, err := a.resolveLoaded(c)
	if err != nil {
		return err
	}
	baked, err := a.pl.Bake(c.Context, a.runner(inv), inv.settings)
	if err != nil {
		return err
	}
	if inv.format != "" {
		return a.printData(inv.format, baked)
	}
	_, err = fmt.Fprintln(a.opts.Stdout, baked.Ref)
	return err
}

func (a *app) imagesBaked(c *ucli.Context) error {
	inv, err := a.resolveLoaded(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Context, inv.settings.Timeout)
	defer cancel()
	list, err := a.pl.Baked(ctx)
	if err != nil {
		return err
	}
	if inv.format != "" {
		return a.printData(inv.format, pipeline.BakedImages{Images: list})
	}
	if len(list) == 0 {
		_, err := fmt.Fprintln(a.opts.Stdout, "No baked node images.")
		return err
	}
	w := tabwriter.NewWriter(a.opts.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "IMAGE\tBASE\tIMAGES\tDISK")
	for _, b := range list {
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\n", b.Ref, b.Base, len(b.Images), bundle.HumanBytes(b.Added))
	}
	return w.Flush()
}

func (a *app) imagesUnbake(c *ucli.Context) error {
	inv, err := a.resolveLoaded(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Context, inv.settings.Timeout)
	defer cancel()
	removed, err := a.pl.Unbake(ctx, a.runner(inv))
	if inv.format != "" {
		if perr := a.printData(inv.format, pipeline.BakedImages{Images: removed}); perr != nil && err == nil {
			err = perr
		}
	}
	return err
}
