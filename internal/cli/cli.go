// Package cli is kindstack's command line: the urfave/cli app, its flags, how flags, the config
// file and defaults combine into Settings, and how results are rendered as text or JSON. What the
// commands do is package pipeline's.
package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"runtime/debug"
	"slices"
	"strings"

	ucli "github.com/urfave/cli/v2"
	"sigs.k8s.io/yaml"

	"github.com/kindstack/kindstack/internal/apps"
	"github.com/kindstack/kindstack/internal/config"
	"github.com/kindstack/kindstack/internal/mirrors"
	"github.com/kindstack/kindstack/internal/nodeimage"
	"github.com/kindstack/kindstack/internal/pipeline"
	"github.com/kindstack/kindstack/internal/steps"
)

// Version is kindstack's version, stamped at build time with
// -ldflags "-X github.com/kindstack/kindstack/internal/cli.Version=v1.2.3".
var Version = "dev"

// UsageError is a command line the user has to fix (unknown flag or command, bad flag value);
// main maps it to exit code 2.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

func usagef(format string, args ...any) error { return &UsageError{Err: fmt.Errorf(format, args...)} }

// Options wire the app to its surroundings; nil fields get the real ones.
type Options struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// Pipeline runs the commands; nil means pipeline.New(Version, Getenv).
	Pipeline *pipeline.Pipeline
}

type app struct {
	opts Options
	pl   *pipeline.Pipeline
}

// New builds the kindstack command line app. It never exits the process: errors are returned
// from RunContext, and main maps them to exit codes.
func New(opts Options) *ucli.App {
	if opts.Stdout == nil {
		opts.Stdout = os.Stdout
	}
	if opts.Stderr == nil {
		opts.Stderr = os.Stderr
	}
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	a := &app{opts: opts, pl: opts.Pipeline}
	if a.pl == nil {
		a.pl = pipeline.New(Version, opts.Getenv)
	}
	onUsage := func(_ *ucli.Context, err error, _ bool) error { return &UsageError{Err: err} }
	cmd := func(c *ucli.Command) *ucli.Command {
		c.Flags = append(commonFlags(), c.Flags...)
		c.OnUsageError = onUsage
		return c
	}
	commands := []*ucli.Command{}
	// Each component that runs containers beside the nodes gets a command to remove them, and
	// nothing else removes them: `kindstack registry rm`.
	for _, comp := range a.pl.Catalogue {
		if comp.Beside == nil {
			continue
		}
		commands = append(commands, &ucli.Command{Name: comp.Name, Usage: comp.Summary + " (its storage outlives every cluster; `" + comp.Name + " rm` removes it)",
			Subcommands: []*ucli.Command{cmd(&ucli.Command{Name: "rm",
				Usage:  "remove " + comp.Summary + ": its container and its storage (what was pushed to it); no cluster is touched",
				Flags:  []ucli.Flag{&ucli.BoolFlag{Name: flagKeepStorage, Usage: "keep the storage (a volume), so the next up with it finds what was pushed"}},
				Action: func(c *ucli.Context) error { return a.removeBeside(c, comp.Name) }})}})
	}
	return &ucli.App{
		Name:                 "kindstack",
		Usage:                "a local Kubernetes environment (kind, ingress, metrics and apps, all really ready) in one command",
		UsageText:            "kindstack [global flags] command [flags]",
		Writer:               opts.Stdout,
		ErrWriter:            opts.Stderr,
		Flags:                append(commonFlags(), &ucli.BoolFlag{Name: flagVersion, Usage: "print the version and exit"}),
		OnUsageError:         onUsage,
		ExitErrHandler:       func(*ucli.Context, error) {}, // never os.Exit here: main decides
		EnableBashCompletion: true,                          // the hidden --generate-bash-completion behind `completion`
		HideVersion:          true,                          // its -v would shadow --verbose; --version is ours
		Action: func(c *ucli.Context) error {
			if c.Bool(flagVersion) {
				return a.version(c)
			}
			if c.Args().Present() {
				return usagef("unknown command %q", c.Args().First())
			}
			return ucli.ShowAppHelp(c)
		},
		Commands: append([]*ucli.Command{
			cmd(&ucli.Command{Name: "up", Usage: "create or reuse the cluster and install everything, then wait until it works",
				Flags: append(a.upFlags(), contextFlags()...), Action: a.up}),
			cmd(&ucli.Command{Name: "down", Usage: "delete the cluster and its kubeconfig context (succeeds when already gone); with --context, remove what kindstack installed there",
				Flags: append(downFlags(), contextFlags()[0]), Action: a.down}),
			cmd(&ucli.Command{Name: "recreate", Usage: "delete the cluster, then up",
				Flags: a.upFlags(), Action: a.recreate}),
			cmd(&ucli.Command{Name: "status", Usage: "show the cluster, its nodes and components: ready or why not (exit 1 when not ready)",
				Flags: contextFlags(), Action: a.status}),
			cmd(&ucli.Command{Name: "list", Usage: "list the clusters kindstack created on this machine, with their state",
				Action: a.list}),
			cmd(&ucli.Command{Name: "kubeconfig", Usage: "print the cluster's kubeconfig instead of merging it",
				Flags: []ucli.Flag{&ucli.BoolFlag{Name: flagInternal, Usage: "the address other containers on kind's network use"}}, Action: a.kubeconfig}),
			cmd(&ucli.Command{Name: "doctor", Usage: "check this machine for what would make up fail or crawl, each with a fix (exit 1 when a check fails)",
				Flags: a.upFlags(), Action: a.doctor}),
			cmd(&ucli.Command{Name: "logs", Usage: "collect diagnostics for a bug report (node logs, status, what is not ready with its pods' logs, events); prints where",
				Flags: []ucli.Flag{
					&ucli.StringFlag{Name: flagOutputDir, Usage: "directory to write into (default: a new one under the temporary directory)", TakesFile: true},
					&ucli.StringFlag{Name: flagArchive, Usage: "also write them as this .tar.gz", TakesFile: true},
					contextFlags()[0],
				}, Action: a.logs}),
			{Name: "images", Usage: "the images up runs: list them, save them into one bundle for offline use, load a bundle, bake them into the node image",
				Subcommands: append([]*ucli.Command{
					cmd(&ucli.Command{Name: "list", Usage: "print every image up runs with these settings (node image first, after the images map) and the mirrors each is pulled through",
						Flags: a.upFlags(), Action: a.imagesList}),
					cmd(&ucli.Command{Name: "save", Usage: "pull every image up runs (through the mirrors) into ONE bundle FILE for offline use, registry digests kept",
						ArgsUsage: "FILE", Action: a.imagesSave, Flags: append(a.upFlags(),
							&ucli.BoolFlag{Name: flagNodeImage, Usage: "put the kind node image in too (large; loaded into the host's engine); the baked one (`images bake`), when the engine holds it, in place of it and every image it holds"},
							&ucli.StringFlag{Name: flagPlatform, Usage: "os/arch of the node (default " + pipeline.DefaultPlatform() + ")"})}),
					cmd(&ucli.Command{Name: "load", Usage: "load a bundle FILE: its node image into the host's engine, the rest into the cluster's node (or use up --bundle FILE)",
						ArgsUsage: "FILE", Action: a.imagesLoad}),
				}, a.bakeCommands(cmd)...)},
			cmd(&ucli.Command{Name: "load", Usage: "put images you built into every node of the cluster, under the names you gave, so pods run them without a registry",
				ArgsUsage: "IMAGE...", Action: a.load, Flags: []ucli.Flag{
					&ucli.StringFlag{Name: flagArchive, Usage: "load the images of this `docker save` (or OCI layout) tarball instead", TakesFile: true},
					noWaitFlag(),
				}}),
			cmd(&ucli.Command{Name: "render", Usage: "print every manifest up would apply with these settings (after transforms), for review or GitOps",
				Flags: append(a.upFlags(), contextFlags()...), Action: a.render}),
			{Name: "completion", Usage: "print a shell completion script: completion bash|zsh|fish", ArgsUsage: "bash|zsh|fish",
				OnUsageError: onUsage, Action: a.completion},
			cmd(&ucli.Command{Name: "version", Usage: "print the version", Action: a.version}),
		}, commands...),
	}
}

// Flag names shared by code and help.
const (
	flagName          = "name"
	flagKubeconfig    = "kubeconfig"
	flagConfig        = "config"
	flagTimeout       = "timeout"
	flagQuiet         = "quiet"
	flagVerbose       = "verbose"
	flagOutput        = "output"
	flagImage         = "image"
	flagListenAddress = "listen-address"
	flagHTTPPort      = "http-port"
	flagHTTPSPort     = "https-port"
	flagRetain        = "retain"
	flagNoWait        = "no-wait"
	flagForce         = "force"
	flagRestart       = "restart"
	flagVersion       = "version"
	flagKeepContext   = "keep-context"
	flagInternal      = "internal"
	flagOutputDir     = "output-dir"
	flagArchive       = "archive"
	flagDiagnostics   = "diagnostics"
	flagWait          = "wait"
	flagMirror        = "registry-mirror"
	flagInsecure      = "insecure-mirror"
	flagPreload       = "preload"
	flagBundle        = "bundle"
	flagNodeImage     = "node-image"
	flagPlatform      = "platform"
	flagKeepStorage   = "keep-storage"
	flagWorkers       = "workers"
	flagContext       = "context"
	flagIngressClass  = "ingress-class"
	flagApp           = "app"
)

// commonFlags are accepted both before and after the command (`kindstack --name x up` and
// `kindstack up --name x`); defaults live in config.Defaults, so none are set here.
func commonFlags() []ucli.Flag {
	d := config.Defaults()
	return []ucli.Flag{
		&ucli.StringFlag{Name: flagName, Usage: "cluster name (default \"" + d.Name + "\")", EnvVars: []string{"KINDSTACK_CLUSTER_NAME"}},
		&ucli.StringFlag{Name: flagKubeconfig, Usage: "kubeconfig file: where up writes the kind cluster's context, or with --context where it is read (default $KUBECONFIG, else ~/.kube/config)"},
		&ucli.StringFlag{Name: flagConfig, Usage: "Stack config file (apiVersion " + config.APIVersion + ", kind " + config.Kind + ")", TakesFile: true, EnvVars: []string{"KINDSTACK_CONFIG"}},
		&ucli.DurationFlag{Name: flagTimeout, Usage: "time budget for the whole command (status: " + d.StatusTimeout.String() + ")", DefaultText: d.Timeout.String(), EnvVars: []string{"KINDSTACK_TIMEOUT"}},
		&ucli.BoolFlag{Name: flagQuiet, Aliases: []string{"q"}, Usage: "no progress output"},
		&ucli.BoolFlag{Name: flagVerbose, Aliases: []string{"v"}, Usage: "show details of each step"},
		&ucli.StringFlag{Name: flagOutput, Aliases: []string{"o"}, Usage: "output format: text, json or yaml"},
	}
}

func (a *app) upFlags() []ucli.Flag {
	d := config.Defaults()
	return append([]ucli.Flag{
		&ucli.StringFlag{Name: flagImage, Usage: "kind node image (default " + d.NodeImage + ")"},
		&ucli.StringFlag{Name: flagListenAddress, Usage: "host address the HTTP/HTTPS ports listen on (default " + d.ListenAddress + ")"},
		&ucli.IntFlag{Name: flagHTTPPort, Usage: "host port for HTTP into the ingress", DefaultText: fmt.Sprint(d.HTTPPort)},
		&ucli.IntFlag{Name: flagHTTPSPort, Usage: "host port for HTTPS into the ingress", DefaultText: fmt.Sprint(d.HTTPSPort)},
		&ucli.IntFlag{Name: flagWorkers, Usage: "worker nodes beside the control-plane node, which keeps the host ports and the ingress controller; a different number means `kindstack recreate`", DefaultText: fmt.Sprint(d.Workers)},
		&ucli.BoolFlag{Name: flagWait, Value: true, Usage: "wait until everything is ready and smoke-test it; --wait=false returns once the cluster is up and every component is applied (`kindstack status` says when they are ready)"},
		&ucli.StringSliceFlag{Name: flagMirror, Usage: "REGISTRY=URL: pull REGISTRY's images through the mirror at URL first (repeatable, tried in order, REGISTRY itself last; replaces the config file's mirrors for REGISTRY), e.g. docker.io=https://docker.m.daocloud.io"},
		&ucli.StringSliceFlag{Name: flagInsecure, Usage: "URL: do not verify the TLS certificate of this registry mirror (self-signed; repeatable)"},
		&ucli.StringFlag{Name: flagBundle, Usage: "import this image bundle (`kindstack images save`) into the node, and its node image into the host's engine, before anything is pulled", TakesFile: true},
		&ucli.BoolFlag{Name: flagPreload, Value: true, Usage: "copy the images the host's container engine already has into the node; --preload=false leaves every pull to the node and its mirrors"},
		&ucli.BoolFlag{Name: flagRetain, Usage: "keep a cluster that failed or was interrupted while being created, for debugging"},
		&ucli.BoolFlag{Name: flagRestart, Usage: "start the node containers of an existing cluster that are stopped or paused"},
		&ucli.BoolFlag{Name: flagKeepContext, Usage: "add the kind-<name> context to the kubeconfig without making it the current one"},
		&ucli.StringFlag{Name: flagDiagnostics, Usage: "when up fails, collect `kindstack logs` into this directory (with CI=true: a new temporary one)", TakesFile: true},
		&ucli.StringSliceFlag{Name: flagApp, TakesFile: true, Usage: "PATH: install your own app from PATH, a directory of manifests (like kubectl apply -f), a Kustomization (like kubectl apply -k) or a Helm chart directory or .tgz (like helm install), named after the directory (repeatable; added to the config file's apps:)"},
		noWaitFlag(),
		forceFlag("recreate: delete the cluster even if kindstack did not create it"),
	}, a.componentFlags()...)
}

// componentFlags are the flags the components bring: `--<capability> VALUE` for a capability
// several components provide, `--no-<name>` for an optional component, and each component's own.
func (a *app) componentFlags() []ucli.Flag {
	var out []ucli.Flag
	alts := a.pl.Alternatives()
	for _, capability := range slices.Sorted(maps.Keys(alts)) {
		var values []string
		def := ""
		for _, alt := range alts[capability] {
			values = append(values, alt.Value+" ("+alt.Usage+")")
			if alt.Default {
				def = alt.Value
			}
		}
		out = append(out, &ucli.StringFlag{Name: string(capability), Usage: fmt.Sprintf(
			"which component provides %s: %s; switching an existing cluster converges it (default %s)", capability, strings.Join(values, " or "), def)})
	}
	for _, c := range a.pl.Catalogue {
		if c.Optional {
			out = append(out, &ucli.BoolFlag{Name: "no-" + c.Name, Usage: "do not install " + c.Summary + " (after a full up: remove it)"})
		}
		if c.OptIn {
			out = append(out, &ucli.BoolFlag{Name: c.Name, Usage: "also install " + c.Summary + " (--" + c.Name + "=false after an up with it: remove it from the cluster)"})
		}
		if c.Options != nil {
			for _, f := range c.Options.Flags {
				out = append(out, &ucli.StringFlag{Name: f.Name, Usage: f.Usage})
			}
		}
	}
	return out
}

// componentSettings applies the component flags given on the command line to s.
func (a *app) componentSettings(c *ucli.Context, s config.Settings) (config.Settings, error) {
	for capability, alts := range a.pl.Alternatives() {
		name := string(capability)
		cc, ok := setIn(c, name)
		if !ok {
			continue
		}
		var values []string
		for _, alt := range alts {
			values = append(values, alt.Value)
		}
		if err := config.CheckChoice(name, cc.String(name), values); err != nil {
			return s, usagef("invalid value for --%s: %w", name, err)
		}
		s = s.WithChoice(name, cc.String(name))
	}
	for _, comp := range a.pl.Catalogue {
		if cc, ok := setIn(c, "no-"+comp.Name); ok && comp.Optional {
			on := !cc.Bool("no-" + comp.Name)
			s = s.WithComponent(comp.Name, config.ComponentSettings{Enabled: &on})
		}
		if cc, ok := setIn(c, comp.Name); ok && comp.OptIn {
			on := cc.Bool(comp.Name)
			s = s.WithComponent(comp.Name, config.ComponentSettings{Enabled: &on})
		}
		if comp.Options == nil {
			continue
		}
		for _, f := range comp.Options.Flags {
			cc, ok := setIn(c, f.Name)
			if !ok {
				continue
			}
			var err error
			if s, err = s.SetOption(comp, f.Field, cc.String(f.Name)); err != nil {
				return s, usagef("invalid value for --%s: %w", f.Name, err)
			}
		}
	}
	return s, nil
}

func noWaitFlag() ucli.Flag {
	return &ucli.BoolFlag{Name: flagNoWait, Usage: "fail at once when another kindstack is changing the cluster, instead of waiting for it"}
}

func forceFlag(usage string) ucli.Flag { return &ucli.BoolFlag{Name: flagForce, Usage: usage} }

func downFlags() []ucli.Flag {
	return []ucli.Flag{noWaitFlag(), forceFlag("delete the cluster even if kindstack did not create it")}
}

// setIn returns the innermost context where the flag was given (command line or env), if any.
func setIn(c *ucli.Context, name string) (*ucli.Context, bool) {
	for _, cc := range c.Lineage() {
		if cc.IsSet(name) {
			return cc, true
		}
	}
	return nil, false
}

func flagBool(c *ucli.Context, name string) bool {
	cc, ok := setIn(c, name)
	return ok && cc.Bool(name)
}

// invocation is one command's resolved inputs.
type invocation struct {
	settings  config.Settings
	configErr error  // the --config file failed to load; `up` reports it with the other preflight problems
	format    string // "json" or "yaml": print the command's data object instead of text
	quiet     bool
	verbose   bool
}

// resolveLoaded is resolve for commands that cannot go on without the config file: a file that
// failed to load is their error (only `up` collects it with the other preflight problems).
func (a *app) resolveLoaded(c *ucli.Context) (invocation, error) {
	inv, err := a.resolve(c)
	if err == nil {
		err = inv.configErr
	}
	return inv, err
}

// resolve combines defaults, the config file and flags, in that order of precedence (lowest first).
func (a *app) resolve(c *ucli.Context) (invocation, error) {
	inv := invocation{quiet: flagBool(c, flagQuiet), verbose: flagBool(c, flagVerbose)}
	if cc, ok := setIn(c, flagOutput); ok {
		switch o := cc.String(flagOutput); o {
		case "text":
		case "json", "yaml":
			inv.format = o
		default:
			return inv, usagef("invalid value %q for -o/--output: want text, json or yaml", o)
		}
	}
	if c.Args().Present() && c.Command.ArgsUsage == "" { // a command with ArgsUsage checks its own
		return inv, usagef("%s takes no arguments, got %q", c.Command.Name, c.Args().First())
	}
	s := config.Defaults()
	if cc, ok := setIn(c, flagConfig); ok {
		st, err := config.Load(cc.String(flagConfig), a.pl.Catalogue)
		if err != nil {
			inv.configErr = err
		}
		s = s.Apply(st)
	}
	s, err := settingFlags(c, s)
	if err == nil {
		s, err = mirrorSettings(c, s)
	}
	if err == nil {
		s, err = a.componentSettings(c, s)
	}
	if err == nil {
		s, err = a.contextSettings(c, s)
	}
	if err != nil {
		return inv, err
	}
	if cc, ok := setIn(c, flagApp); ok {
		for _, path := range cc.StringSlice(flagApp) {
			s.Apps = append(s.Apps, apps.FromFlag(path))
		}
	}
	inv.settings = s
	return inv, nil
}

// settingFlags applies the flags given on the command line that set one setting each.
func settingFlags(c *ucli.Context, s config.Settings) (config.Settings, error) {
	for name, dst := range map[string]*string{flagName: &s.Name, flagKubeconfig: &s.Kubeconfig, flagImage: &s.NodeImage,
		flagListenAddress: &s.ListenAddress, flagDiagnostics: &s.Diagnostics, flagBundle: &s.Bundle} {
		if cc, ok := setIn(c, name); ok {
			*dst = cc.String(name)
		}
	}
	for name, dst := range map[string]*int{flagHTTPPort: &s.HTTPPort, flagHTTPSPort: &s.HTTPSPort, flagWorkers: &s.Workers} {
		if cc, ok := setIn(c, name); ok {
			*dst = cc.Int(name)
		}
	}
	for name, dst := range map[string]*bool{flagNoWait: &s.NoWait, flagForce: &s.Force, flagRestart: &s.Restart, flagKeepContext: &s.KeepContext,
		flagRetain: &s.Retain, flagWait: &s.Wait, flagPreload: &s.Preload} {
		if cc, ok := setIn(c, name); ok {
			*dst = cc.Bool(name)
		}
	}
	if cc, ok := setIn(c, flagTimeout); ok {
		s.Timeout = cc.Duration(flagTimeout)
		if s.Timeout <= 0 {
			return s, usagef("invalid value %s for --timeout: want a positive duration such as 10m", s.Timeout)
		}
		s.StatusTimeout = s.Timeout
	}
	return s, nil
}

// mirrorSettings applies --registry-mirror (replacing the file's mirrors of each registry given)
// and --insecure-mirror.
func mirrorSettings(c *ucli.Context, s config.Settings) (config.Settings, error) {
	if cc, ok := setIn(c, flagMirror); ok {
		given, err := mirrorFlags(cc.StringSlice(flagMirror))
		if err != nil {
			return s, err
		}
		merged := map[string][]string{}
		for k, v := range s.Registries.Mirrors {
			merged[k] = v
		}
		for k, v := range given {
			merged[k] = v
		}
		s.Registries.Mirrors = merged
	}
	if cc, ok := setIn(c, flagInsecure); ok {
		for _, m := range cc.StringSlice(flagInsecure) {
			if err := mirrors.CheckMirrorURL(m); err != nil {
				return s, usagef("invalid value for --%s: %w", flagInsecure, err)
			}
			s.Registries.Insecure = append(s.Registries.Insecure, m)
		}
	}
	return s, nil
}

// mirrorFlags reads --registry-mirror REGISTRY=URL values, keeping their order per registry.
func mirrorFlags(values []string) (map[string][]string, error) {
	out := map[string][]string{}
	for _, v := range values {
		registry, mirror, ok := strings.Cut(v, "=")
		if !ok {
			return nil, usagef("invalid value %q for --%s: want REGISTRY=URL, e.g. docker.io=https://docker.m.daocloud.io", v, flagMirror)
		}
		if err := mirrors.CheckRegistry(registry); err != nil {
			return nil, usagef("invalid value for --%s: %w", flagMirror, err)
		}
		if err := mirrors.CheckMirrorURL(mirror); err != nil {
			return nil, usagef("invalid value for --%s: %w", flagMirror, err)
		}
		out[registry] = append(out[registry], mirror)
	}
	return out, nil
}

func (a *app) runner(inv invocation) *steps.Runner {
	return steps.NewRunner(a.opts.Stderr, steps.Options{Quiet: inv.quiet, Verbose: inv.verbose, Getenv: a.opts.Getenv})
}

// printData writes a command's data object in the chosen format (json or yaml), to stdout.
func (a *app) printData(format string, v any) error {
	if format == "yaml" {
		out, err := yaml.Marshal(v)
		if err != nil {
			return fmt.Errorf("write yaml: %w", err)
		}
		_, err = a.opts.Stdout.Write(out)
		return err
	}
	enc := json.NewEncoder(a.opts.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	return nil
}

// versionInfo reads what the binary knows of itself. Built without -ldflags (go build, go
// install), the version is "dev" plus the VCS revision Go's build info recorded.
func versionInfo() VersionInfo {
	vi := VersionInfo{Version: Version, Kind: "unknown", DefaultNodeImage: nodeimage.Default}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return vi
	}
	vi.Go = bi.GoVersion
	for _, d := range bi.Deps {
		if d.Path == "sigs.k8s.io/kind" {
			vi.Kind = d.Version
		}
	}
	var rev, modified string
	for _, kv := range bi.Settings {
		switch kv.Key {
		case "vcs.revision":
			rev = kv.Value
		case "vcs.modified":
			modified = kv.Value
		}
	}
	if vi.Version == "dev" && rev != "" {
		vi.Version += "+" + rev[:min(12, len(rev))]
		if modified == "true" {
			vi.Version += "-dirty"
		}
	}
	return vi
}

// VersionInfo is `version -o json`.
type VersionInfo struct {
	Version          string `json:"version"`
	Kind             string `json:"kind"`
	Go               string `json:"go,omitempty"`
	DefaultNodeImage string `json:"defaultNodeImage"`
}

func (a *app) version(c *ucli.Context) error {
	inv, err := a.resolve(c)
	if err != nil {
		return err
	}
	vi := versionInfo()
	if inv.format != "" {
		return a.printData(inv.format, vi)
	}
	_, err = fmt.Fprintf(a.opts.Stdout, "kindstack %s (kind %s, %s)\ndefault node image: %s\n", vi.Version, vi.Kind, vi.Go, vi.DefaultNodeImage)
	return err
}
