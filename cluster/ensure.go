package cluster

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kindstack/kindstack/internal/mirrors"
)

// EnsureOptions are the inputs of Ensure.
type EnsureOptions struct {
	Spec       Spec
	Runtime    Runtime // from Preflight
	Kubeconfig string  // explicit kubeconfig path; "" = kind's rule ($KUBECONFIG, ~/.kube/config)
	Retain     bool    // keep a cluster that failed (or was interrupted) while being created
	Restart    bool    // start the node containers of an existing cluster that are stopped or paused
	// KeepContext adds the kind-<name> entries without making them the current context.
	KeepContext bool
	ReadyWait   time.Duration // how long the control-plane node may take to become Ready; 0 = 5m
	// Registries are the node's registry mirrors, written on every Ensure; the node image is
	// pulled through them when the host's engine lacks it.
	Registries mirrors.Registries
	// Containers run beside the nodes (a local registry): created, started or found running
	// once the cluster (and kind's network) exists; the nodes pull their registries from them.
	Containers []Container
	// Configured, when set, is called once, on its own goroutine, when a cluster Ensure creates
	// has its nodes' containerd running with its final configuration, seconds before kubeadm has
	// the control plane up: images imported from then on are kept. It is not called for a reused
	// cluster, nor when kind's create returns first. Ensure returns only once it has returned.
	Configured func()
	// Baked are the stack's images: a new cluster is created from the node image baked from
	// Spec.NodeImage with exactly these (Bake) when the engine holds one. nil looks for none.
	Baked []string
	Logf  Logf
	Warnf Logf
}

// EnsureResult is the cluster `up` can use from here on.
type EnsureResult struct {
	Created        bool   // false: an existing, matching cluster was reused unchanged
	Context        string // kind-<name>
	KubeconfigPath string // the file holding the context
	Kubeconfig     []byte // the cluster's kubeconfig (host address), for the steps that follow
	Mirrors        MirrorChange
	Baked          string // the baked node image a new cluster was created from, if any
	// Beside says what was done to the containers beside the nodes, e.g. "registry kindstack-registry created".
	Beside []string
}

// Ensure creates the cluster, or reuses it when it exists and its stored spec matches. A cluster
// that exists with a different spec is an error saying what differs and to run `kindstack
// recreate`; one kindstack did not create is left alone. One an interrupted kindstack left
// half-created is deleted and created again. The user's kubeconfig gets only the kind-<name>
// entries. The caller holds the cluster's lock (Lock).
func (m *Manager) Ensure(ctx context.Context, opts EnsureOptions) (EnsureResult, error) {
	logf, warnf := orNop(opts.Logf), orNop(opts.Warnf)
	name := opts.Spec.Name
	res := EnsureResult{Context: ContextName(name), KubeconfigPath: KubeconfigMergePath(opts.Kubeconfig, m.getenv)}
	// Callers check these too; a library entry point does not count on it.
	if err := ValidateName(name); err != nil {
		return res, err
	}
	if err := opts.Registries.Check(); err != nil {
		return res, fmt.Errorf("registry mirrors: %w", err)
	}
	provider := m.NewProvider(opts.Runtime, kindLogger{info: logf, warn: warnf})

	names, err := provider.List()
	if err != nil {
		return res, fmt.Errorf("list kind clusters: %w", err)
	}
	exists := slices.Contains(names, name)
	if mk, half := m.halfCreated(name); exists && half {
		deleted, err := m.deleteHalfCreated(ctx, opts.Runtime, provider, name, mk, warnf)
		if err != nil {
			return res, err
		}
		exists = !deleted
	}
	if exists {
		kc, err := m.reuse(ctx, provider, opts)
		if err != nil {
			return res, err
		}
		res.Kubeconfig = kc
		logf("cluster %q exists and matches; reusing it", name)
	} else {
		kc, err := m.create(ctx, provider, opts, &res)
		if err != nil {
			return res, err
		}
		res.Kubeconfig, res.Created = kc, true
	}
	for _, c := range opts.Containers {
		did, err := m.EnsureContainer(ctx, opts.Runtime, c, opts.Registries, logf)
		if err != nil {
			return res, err
		}
		if did != "" {
			res.Beside = append(res.Beside, c.Describe+" "+c.Name+" "+did)
		}
	}
	if res.Mirrors, err = m.ApplyMirrors(ctx, opts.Runtime, name, withLocal(opts.Registries, opts.Containers)); err != nil {
		return res, err
	}
	merge := MergeKubeconfig
	if opts.KeepContext {
		merge = AddKubeconfigEntries
	}
	changed, err := merge(ctx, res.KubeconfigPath, name, res.Kubeconfig)
	if err != nil {
		return res, fmt.Errorf("update kubeconfig %s: %w", res.KubeconfigPath, err)
	}
	if changed {
		logf("context %s written to %s", res.Context, res.KubeconfigPath)
	}
	return res, nil
}

// deleteHalfCreated deletes the cluster an interrupted kindstack left half-made, when its marker
// names the cluster's node containers. A marker that names other containers is stale (its cluster
// was deleted and the name taken again): it is dropped and the cluster is left alone. One that
// names none cannot tell: that is an error naming `down --force`.
func (m *Manager) deleteHalfCreated(ctx context.Context, rt Runtime, provider Provider, name string, mk creatingMarker, warnf Logf) (bool, error) {
	why := m.identityOf(ctx, rt, name, mk.Nodes)
	switch {
	case why == "":
		warnf("cluster %q was left half-created by an interrupted kindstack (pid %d); deleting it and creating it again", name, mk.PID)
		if err := m.deleteUntilGone(ctx, provider, name); err != nil {
			return false, fmt.Errorf("delete half-created cluster %q: %w", name, err)
		}
		return true, nil
	case len(mk.Nodes) > 0:
		warnf("an interrupted kindstack (pid %d) left a marker of creating cluster %q, but %s; the marker is dropped and the cluster left alone", mk.PID, name, why)
		if err := m.dropMarker(name); err != nil {
			return false, fmt.Errorf("drop the stale marker of cluster %q: %w", name, err)
		}
		return false, nil
	}
	return false, fmt.Errorf("cluster %q may have been left half-created by an interrupted kindstack (pid %d), but its marker %s; kindstack leaves it alone: `kindstack down --force --name %s` deletes it",
		name, mk.PID, why, name)
}

// reuseWait bounds how long an existing cluster's API and nodes may take to be ready again
// (after a restart of its node containers, or of the machine).
const reuseWait = 3 * time.Minute

func (m *Manager) reuse(ctx context.Context, provider Provider, opts EnsureOptions) ([]byte, error) {
	want := opts.Spec
	if err := m.ensureRunning(ctx, opts.Runtime, want.Name, opts.Restart, orNop(opts.Logf)); err != nil {
		return nil, err
	}
	kc, client, err := m.connect(provider, want.Name)
	if err != nil {
		return nil, fmt.Errorf("existing cluster %q: %w", want.Name, err)
	}
	if err := m.waitAPI(ctx, kc, reuseWait); err != nil {
		return nil, fmt.Errorf("existing cluster %q: %w", want.Name, err)
	}
	stored, err := ReadStoredSpec(ctx, client)
	if err != nil {
		return nil, fmt.Errorf("existing cluster %q: %w", want.Name, err)
	}
	if stored == nil {
		return nil, fmt.Errorf("cluster %q exists but was not created by kindstack (no ConfigMap %s/%s), so kindstack leaves it alone: "+
			"use another --name, or `kindstack recreate --force --name %s` to DELETE it and create kindstack's",
			want.Name, SpecNamespace, SpecConfigMap, want.Name)
	}

	if diff := DiffSpec(stored.Spec, want); len(diff) > 0 {
		return nil, fmt.Errorf("cluster %q exists with a different spec (%s); run `kindstack recreate` to replace it, or drop the changed settings",
			want.Name, strings.Join(diff, "; "))
	}
	if err := WaitNodesReady(ctx, client, reuseWait); err != nil {
		return nil, fmt.Errorf("existing cluster %q: %w", want.Name, err)
	}
	return kc, nil
}
