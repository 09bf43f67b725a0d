package target

import (
	"context"
	"net"
	"regexp"
	"strconv"
	"strings"

	"github.com/kindstack/kindstack/cluster"
	"github.com/kindstack/kindstack/internal/component"
	"github.com/kindstack/kindstack/internal/mirrors"
)

// KindOptions are the settings of a kind cluster kindstack manages.
type KindOptions struct {
	Spec cluster.Spec
	// Kubeconfig is the file to merge the context into; "" means kind's rule.
	Kubeconfig string
	// Retain keeps a cluster that failed or was interrupted while being created.
	Retain bool
	// Restart starts the stopped or paused node containers of an existing cluster.
	Restart bool
	// KeepContext leaves the kubeconfig's current-context as it is.
	KeepContext bool
	// Force deletes a cluster kindstack did not create.
	Force bool
	// Preload copies the images the host's engine has into the node; false leaves every pull to
	// the node (through its mirrors).
	Preload bool
	// Registries are the node's registry mirrors.
	Registries mirrors.Registries
	// Containers run beside the nodes, on kind's network (a local registry); they outlive the cluster.
	Containers []cluster.Container
	// Baked are the stack's images: a new cluster is created from the node image baked with
	// exactly these when the engine holds one (cluster.Bake). nil looks for none.
	Baked []string
}

// Kind is a kind cluster kindstack creates and manages, through kind's library in-process: one
// control-plane node labelled ingress-ready=true with the host's HTTP/HTTPS ports mapped to it.
type Kind struct {
	Manager *cluster.Manager
	Options KindOptions
	// runtime is the container engine kind drives, found by Preflight.
	runtime cluster.Runtime
}

// NewKind returns the kind cluster of these options, driven by m.
func NewKind(m *cluster.Manager, opts KindOptions) *Kind { return &Kind{Manager: m, Options: opts} }

var _ Target = (*Kind)(nil)

// Name is the cluster's name.
func (k *Kind) Name() string { return k.Options.Spec.Name }

// Runtime is the container engine kind drives (known once Preflight ran), for the steps that only
// a kind cluster has: the image bundle, the images recreate keeps.
func (k *Kind) Runtime() cluster.Runtime { return k.runtime }

// Describe names the cluster.
func (k *Kind) Describe() string { return "cluster " + k.Name() }

// Lock takes the cluster name's lock. An invalid name takes none: preflight reports it.
func (k *Kind) Lock(ctx context.Context, opts LockOptions) (func(), error) {
	if err := cluster.ValidateName(k.Name()); err != nil {
		return func() {}, nil
	}
	return k.Manager.Lock(ctx, cluster.LockOptions{Name: k.Name(), NoWait: opts.NoWait, Waiting: opts.Waiting})
}

// Preflight checks the engine, the name, the listen address and host ports, and warns about
// mirrors this machine cannot reach.
func (k *Kind) Preflight(ctx context.Context, opts PreflightOptions) (Preflight, error) {
	rep, err := k.Manager.Preflight(ctx, cluster.PreflightOptions{Spec: k.Options.Spec, ConfigErr: opts.SettingsErr, Replacing: opts.Replacing,
		Containers: k.Options.Containers, Registries: k.Options.Registries})
	out := Preflight{Warnings: rep.Warnings}
	if err != nil {
		return out, err
	}
	out.Warnings = append(out.Warnings, cluster.ProbeMirrors(ctx, k.Options.Registries)...)
	k.runtime = rep.Runtime
	out.Engine = strings.TrimSpace(rep.Runtime.Name + " " + rep.EngineVersion)
	if y, err := cluster.KindConfigYAML(k.Options.Spec); err == nil {
		out.Details = append(out.Details, "kind config:\n"+strings.TrimRight(string(y), "\n"))
	}
	return out, nil
}

// Ensure creates the cluster or reuses it when its stored spec matches, writes its registry
// mirrors and merges its kubeconfig context.
func (k *Kind) Ensure(ctx context.Context, opts EnsureOptions) (Connection, error) {
	res, err := k.Manager.Ensure(ctx, cluster.EnsureOptions{
		Spec:        k.Options.Spec,
		Runtime:     k.runtime,
		Kubeconfig:  k.Options.Kubeconfig,
		Retain:      k.Options.Retain,
		Restart:     k.Options.Restart,
		KeepContext: k.Options.KeepContext,
		Registries:  k.Options.Registries,
		Containers:  k.Options.Containers,
		Configured:  opts.AcceptsImages,
		Baked:       k.Options.Baked,
		Logf:        opts.Logf,
		Warnf:       opts.Warnf,
	})
	if err != nil {
		return Connection{}, err
	}
	notes := append([]string{}, res.Beside...)
	if m := res.Mirrors.String(); m != "" {
		notes = append(notes, m)
	}
	if res.Baked != "" {
		notes = append(notes, "from baked node image "+res.Baked)
	}
	return Connection{Created: res.Created, Context: res.Context, KubeconfigPath: res.KubeconfigPath,
		Kubeconfig: res.Kubeconfig, Note: strings.Join(notes, ", ")}, nil
}

// Status reads the cluster's nodes and stored spec.
func (k *Kind) Status(ctx context.Context) (cluster.Status, error) {
	return k.Manager.Status(ctx, k.Name(), k.Options.Kubeconfig)
}

// Delete deletes the cluster and its kubeconfig entries; one kindstack did not create is refused
// unless Force.
func (k *Kind) Delete(ctx context.Context, opts DeleteOptions) (bool, error) {
	return k.Manager.Delete(ctx, cluster.DeleteOptions{Name: k.Name(), Kubeconfig: k.Options.Kubeconfig, Force: k.Options.Force, Logf: opts.Logf})
}

// CollectLogs exports the nodes' logs (kind's export).
func (k *Kind) CollectLogs(ctx context.Context, dir string) error {
	return k.Manager.CollectNodeLogs(ctx, k.Name(), dir)
}

// IngressNode is the node whose ports 80 and 443 are mapped to the host.
func (k *Kind) IngressNode() map[string]string { return cluster.IngressNodeSelector() }

// IngressURL is the host port mapped to the node's port 80.
func (k *Kind) IngressURL() string {
	return BaseURL(k.Options.Spec.ListenAddress, k.Options.Spec.HTTPPort)
}

// Kubernetes reads the minor version from the node image's tag (kindest/node:v1.35.8).
func (k *Kind) Kubernetes() (int, string) {
	image := k.Options.Spec.NodeImage
	m := regexp.MustCompile(`:v1\.(\d+)\.\d+`).FindStringSubmatch(image)
	if m == nil {
		return 0, ""
	}
	minor, _ := strconv.Atoi(m[1])
	return minor, "node image " + image
}

// Provides nothing: a new kind cluster has no ingress and no metrics API of its own.
func (k *Kind) Provides() []component.Capability { return nil }

// LoadImages copies the images the host's engine has into the node (unless preload is off).
func (k *Kind) LoadImages(ctx context.Context, opts LoadOptions) (cluster.PreloadResult, error) {
	return k.Manager.Preload(ctx, cluster.PreloadOptions{
		Cluster: k.Name(), Runtime: k.runtime, Images: opts.Images, Off: !k.Options.Preload, Logf: opts.Logf,
	})
}

// ImageProbe asks the node's mirrors about an image its pods cannot pull, when it has mirrors.
func (k *Kind) ImageProbe() func(ctx context.Context, image string) string {
	if k.Options.Registries.Empty() {
		return nil
	}
	return func(ctx context.Context, image string) string {
		return k.Manager.MirrorVerdict(ctx, k.runtime, k.Name(), k.Options.Registries, image)
	}
}

// BaseURL is where a browser on this machine reaches a port the host listens on.
func BaseURL(listenAddress string, port int) string {
	host := "localhost"
	switch ip := net.ParseIP(listenAddress); {
	case listenAddress == "" || ip == nil || ip.IsUnspecified() || ip.IsLoopback():
	default:
		host = listenAddress
		if ip.To4() == nil {
			host = "[" + listenAddress + "]"
		}
	}
	if port == 80 {
		return "http://" + host
	}
	return "http://" + host + ":" + strconv.Itoa(port)
}
