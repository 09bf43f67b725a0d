package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	ucli "github.com/urfave/cli/v2"

	"github.com/kindstack/kindstack/internal/pipeline"
)

func (a *app) render(c *ucli.Context) error {
	inv, err := a.resolveLoaded(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Context, inv.settings.Timeout)
	defer cancel()
	out, err := a.pl.Render(ctx, inv.settings)
	if err != nil {
		return err
	}
	_, err = a.opts.Stdout.Write(out)
	return err
}

func (a *app) kubeconfig(c *ucli.Context) error {
	inv, err := a.resolveLoaded(c)
	if err != nil {
		return err
	}
	out, err := a.pl.Kubeconfig(c.Context, inv.settings, flagBool(c, flagInternal))
	if err != nil {
		return err
	}
	_, err = a.opts.Stdout.Write(out)
	return err
}

func (a *app) list(c *ucli.Context) error {
	inv, err := a.resolveLoaded(c)
	if err != nil {
		return err
	}
	clusters, err := a.pl.List(c.Context, inv.settings)
	if err != nil {
		return err
	}
	if inv.format != "" {
		return a.printData(inv.format, clusters)
	}
	if len(clusters) == 0 {
		_, err := fmt.Fprintln(a.opts.Stdout, "No kindstack clusters.")
		return err
	}
	w := tabwriter.NewWriter(a.opts.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tSTATE\tCONTEXT")
	for _, cl := range clusters {
		fmt.Fprintf(w, "%s\t%s\t%s\n", cl.Name, cl.State, cl.Context)
	}
	return w.Flush()
}

// completion prints a shell's completion script. Each asks kindstack itself for the words
// (urfave/cli's --generate-bash-completion), so the scripts never go stale.
func (a *app) completion(c *ucli.Context) error {
	var script string
	switch shell := c.Args().First(); shell {
	case "bash":
		script = bashCompletion
	case "zsh":
		script = "#compdef kindstack\nautoload -U +X bashcompinit && bashcompinit\n" + bashCompletion
	case "fish":
		s, err := c.App.ToFishCompletion()
		if err != nil {
			return fmt.Errorf("fish completion: %w", err)
		}
		script = s
	default:
		return usagef("completion takes one shell: bash, zsh or fish (got %q)", shell)
	}
	_, err := fmt.Fprint(a.opts.Stdout, script)
	return err
}

// bashCompletion completes from what kindstack lists for the words typed so far.
const bashCompletion = `_kindstack_complete() {
  local cur words
  cur="${COMP_WORDS[COMP_CWORD]}"
  words=$("${COMP_WORDS[0]}" "${COMP_WORDS[@]:1:COMP_CWORD-1}" --generate-bash-completion 2>/dev/null)
  COMPREPLY=($(compgen -W "${words}" -- "${cur}"))
}
complete -o default -F _kindstack_complete kindstack
`

func (a *app) logs(c *ucli.Context) error {
	inv, err := a.resolveLoaded(c)
	if err != nil {
		return err
	}
	dir, archive := "", ""
	if cc, ok := setIn(c, flagOutputDir); ok {
		dir = cc.String(flagOutputDir)
	}
	if cc, ok := setIn(c, flagArchive); ok {
		archive = cc.String(flagArchive)
		if !strings.HasSuffix(archive, ".tar.gz") {
			return usagef("--archive %q: want a file name ending in .tar.gz", archive)
		}
	}
	path, err := a.pl.Logs(c.Context, pipeline.LogsOptions{Settings: inv.settings, Dir: dir, Archive: archive})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(a.opts.Stdout, path)
	return err
}

func (a *app) doctor(c *ucli.Context) error {
	inv, err := a.resolveLoaded(c)
	if err != nil {
		return err
	}
	rep, err := a.pl.Doctor(c.Context, inv.settings)
	if inv.format != "" {
		return errors.Join(err, a.printData(inv.format, rep))
	}
	w := tabwriter.NewWriter(a.opts.Stdout, 0, 4, 2, ' ', 0)
	for _, ch := range rep.Checks {
		fmt.Fprintf(w, "%s\t%s\t%s\n", ch.Verdict, ch.Name, ch.Detail)
		if ch.Fix != "" {
			fmt.Fprintf(w, "\t\t→ %s\n", ch.Fix)
		}
	}
	return errors.Join(err, w.Flush())
}

func (a *app) imagesList(c *ucli.Context) error {
	inv, err := a.resolveLoaded(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Context, inv.settings.Timeout)
	defer cancel()
	images, err := a.pl.Images(ctx, inv.settings)
	if err != nil {
		return err
	}
	if inv.format != "" {
		return a.printData(inv.format, images)
	}
	w := tabwriter.NewWriter(a.opts.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "IMAGE\tCOMPONENT\tTHROUGH")
	for _, img := range images {
		through := strings.Join(img.Mirrors, ", ")
		if through == "" {
			through = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\n", img.Image, img.Component, through)
	}
	return w.Flush()
}

// fileArg is a command's one FILE argument (see argsAndFlags).
func fileArg(c *ucli.Context) (*ucli.Context, string, error) {
	cc, args, err := argsAndFlags(c)
	if err != nil {
		return nil, "", err
	}
	if len(args) != 1 {
		return nil, "", usagef("images %s takes one argument, the bundle FILE (got %q)", c.Command.Name, args)
	}
	return cc, args[0], nil
}

// argsAndFlags splits a command's arguments from the flags given after them. urfave/cli stops
// reading flags at the first argument, so flags after it (`images save FILE --config x`, `load
// IMAGE -o json`) are parsed here, into a context that resolve reads like any other.
func argsAndFlags(c *ucli.Context) (*ucli.Context, []string, error) {
	all := c.Args().Slice()
	first := 0
	for first < len(all) && !strings.HasPrefix(all[first], "-") {
		first++
	}
	args, rest := all[:first], all[first:]
	if len(rest) == 0 {
		return c, args, nil
	}
	set := flag.NewFlagSet(c.Command.Name, flag.ContinueOnError)
	set.SetOutput(io.Discard)
	for _, f := range c.Command.Flags {
		if err := f.Apply(set); err != nil {
			return nil, nil, err
		}
	}
	if err := set.Parse(rest); err != nil {
		return nil, nil, usagef("%w", err)
	}
	args = append(args, set.Args()...)
	// Each name of a flag is its own entry in a flag.FlagSet: `-o json` must also set output.
	given := map[string]string{}
	set.Visit(func(f *flag.Flag) { given[f.Name] = f.Value.String() })
	for _, fl := range c.Command.Flags {
		for _, name := range fl.Names() {
			v, ok := given[name]
			if !ok {
				continue
			}
			for _, alias := range fl.Names() {
				if alias != name {
					if err := set.Set(alias, v); err != nil {
						return nil, nil, usagef("%w", err)
					}
				}
			}
		}
	}
	return ucli.NewContext(c.App, set, c), args, nil
}

// load is `kindstack load IMAGE...` and `kindstack load --archive FILE`.
func (a *app) load(c *ucli.Context) error {
	c, images, err := argsAndFlags(c)
	if err != nil {
		return err
	}
	inv, err := a.resolveLoaded(c)
	if err != nil {
		return err
	}
	sum, err := a.pl.Load(c.Context, a.runner(inv), pipeline.LoadOptions{Settings: inv.settings, Images: images, Archive: c.String(flagArchive)})
	if inv.format != "" {
		if perr := a.printData(inv.format, sum); perr != nil && err == nil {
			err = perr
		}
	}
	return err
}

func (a *app) imagesSave(c *ucli.Context) error {
	c, file, err := fileArg(c)
	if err != nil {
		return err
	}
	inv, err := a.resolveLoaded(c)
	if err != nil {
		return err
	}
	meta, err := a.pl.SaveImages(c.Context, a.runner(inv), pipeline.SaveImagesOptions{
		Settings: inv.settings, File: file, NodeImage: flagBool(c, flagNodeImage), Platform: c.String(flagPlatform),
	})
	if err != nil {
		return err
	}
	if inv.format != "" {
		return a.printData(inv.format, meta)
	}
	return nil
}

func (a *app) imagesLoad(c *ucli.Context) error {
	c, file, err := fileArg(c)
	if err != nil {
		return err
	}
	inv, err := a.resolveLoaded(c)
	if err != nil {
		return err
	}
	res, err := a.pl.LoadImages(c.Context, a.runner(inv), inv.settings, file)
	if err != nil {
		return err
	}
	if inv.format != "" {
		return a.printData(inv.format, res)
	}
	return nil
}
