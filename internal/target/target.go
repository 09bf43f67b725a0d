// Package target says what kindstack's commands act on: the cluster the components go into, as
// the steps of up, status, down, logs and render need it — ensure it exists, connect to it, know
// where the ingress controller runs and where it answers from this machine, get images into it,
// know what it already provides. Kind is the cluster kindstack creates and manages with kind's
// library; a cluster kindstack did not create (an existing kubeconfig context) is another Target,
// and the steps do not change for it.
package target

import (
	"context"

	"github.com/kindstack/kindstack/cluster"
	"github.com/kindstack/kindstack/internal/component"
)

// Target is what a command acts on.
type Target interface {
	// Describe is what progress lines and errors call it: `cluster "kindstack"`.
	Describe() string
	// Lock takes the target's lock for a command that changes it; the func releases it.
	Lock(ctx context.Context, opts LockOptions) (func(), error)
	// Preflight checks, before anything changes, everything the target needs of this machine
	// and the settings, reporting every problem at once together with settingsErr.
	Preflight(ctx context.Context, opts PreflightOptions) (Preflight, error)
	// Ensure brings the target into being, or reuses it, and returns a connection to it.
	Ensure(ctx context.Context, opts EnsureOptions) (Connection, error)
	// Status looks at the target without changing it. Only a failure to look is an error.
	Status(ctx context.Context) (cluster.Status, error)
	// Delete removes the target; false when there was none.
	Delete(ctx context.Context, opts DeleteOptions) (bool, error)
	// CollectLogs writes what the target's nodes logged into dir.
	CollectLogs(ctx context.Context, dir string) error

	// IngressNode selects the node the ingress controller runs on (nil: any node).
	IngressNode() map[string]string
	// IngressURL is where the ingress answers from this machine.
	IngressURL() string
	// Kubernetes is the Kubernetes minor version (1.x) the target runs, 0 when unknown, and
	// where that was read, e.g. "node image kindest/node:v1.35.8".
	Kubernetes() (minor int, from string)
	// Provides lists the capabilities the target has without kindstack installing them.
	Provides() []component.Capability

	// LoadImages gets images into the target before its pods need them.
	LoadImages(ctx context.Context, opts LoadOptions) (cluster.PreloadResult, error)
	// ImageProbe, when not nil, says why an image the target's pods cannot pull will not come
	// (every mirror lacks it), or "" while it may still come.
	ImageProbe() func(ctx context.Context, image string) string
}

// LockOptions are the inputs of Target.Lock.
type LockOptions struct {
	// NoWait fails at once when another kindstack holds the lock.
	NoWait bool
	// Waiting is told once, with the holder's pid, that the command waits for the lock.
	Waiting func(holder int)
}

// PreflightOptions are the inputs of Target.Preflight.
type PreflightOptions struct {
	// SettingsErr are the problems found in the settings, reported with the target's own.
	SettingsErr error
	// Replacing: the target is deleted first (recreate).
	Replacing bool
}

// Preflight is what a target's preflight learnt, for the steps that follow.
type Preflight struct {
	// Engine names what runs the target, e.g. "docker 28.2.2".
	Engine string
	// Warnings are things that work today but will bite.
	Warnings []string
	// Details are lines for -v, e.g. the kind config.
	Details []string
}

// EnsureOptions are the inputs of Target.Ensure.
type EnsureOptions struct {
	// AcceptsImages, when set, is called once, on its own goroutine, when a target being created
	// can take images while it is still coming up.
	AcceptsImages func()
	Logf, Warnf   func(format string, args ...any)
}

// Connection is a target `up` can use from here on.
type Connection struct {
	Created        bool   // false: an existing target was reused
	Context        string // the kubeconfig context that reaches it
	KubeconfigPath string // the file holding the context
	Kubeconfig     []byte // for the steps that follow
	// Note says what else Ensure changed, e.g. "mirrors for docker.io written".
	Note string
}

// DeleteOptions are the inputs of Target.Delete.
type DeleteOptions struct {
	Logf func(format string, args ...any)
}

// LoadOptions are the inputs of Target.LoadImages.
type LoadOptions struct {
	Images []string
	Logf   func(format string, args ...any)
}
