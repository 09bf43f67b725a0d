package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kindstack/kindstack/internal/mirrors"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	kindcluster "sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/log"
)

// Provider is the part of kind's *cluster.Provider kindstack uses.
type Provider interface {
	Create(name string, options ...kindcluster.CreateOption) error
	Delete(name, explicitKubeconfigPath string) error
	List() ([]string, error)
	KubeConfig(name string, internal bool) (string, error)
	CollectLogs(name, dir string) error
}

// Manager creates, reuses, inspects and deletes kindstack's kind cluster. Every dependency is a
// field so tests can replace it; NewManager fills in the real ones.
type Manager struct {
	// Version is kindstack's version, stored next to the applied spec.
	Version string
	// LockDir holds the per-cluster locks; StateDir the creating markers and records (state.go).
	LockDir     string
	StateDir    string
	Getenv      func(string) string
	Run         CommandRunner
	Listen      func(network, address string) (net.Listener, error)
	CgroupV2    func() bool
	NewProvider func(rt Runtime, logger log.Logger) Provider
	NewClient   func(kubeconfig []byte) (kubernetes.Interface, error)
	// Nodes lists a cluster's nodes for image loading; Save streams images out of the host's runtime.
	Nodes func(rt Runtime, cluster string) ([]ImageNode, error)
	Save  SaveFunc
	// APIReady asks a cluster's API server once whether it is ready (/readyz); nil skips the check.
	APIReady func(ctx context.Context, kubeconfig []byte) error
	// ProxyReady asks a new cluster's nodes once whether kube-proxy has programmed the Services
	// (KubeProxyHealthy); nil skips the check.
	ProxyReady func(ctx context.Context, rt Runtime, cluster string) error
	// ProcRoot is where doctor reads the kernel's limits (/proc); FreeBytes how much disk is free.
	ProcRoot  string
	FreeBytes func(path string) (int64, error)
	// LookupHost resolves a registry's name for doctor; nil means the system's resolver.
	LookupHost func(ctx context.Context, host string) ([]string, error)

	importMu sync.Mutex // Preload streams one archive at a time
}

// NewManager returns a Manager wired to the real host: environment, container runtime CLI,
// network, kind and client-go.
func NewManager(version string) *Manager {
	m := &Manager{
		Version:  version,
		LockDir:  DefaultLockDir(os.Getenv),
		StateDir: DefaultStateDir(),
		Getenv:   os.Getenv,
		Run:      ExecCommand,
		Listen:   net.Listen,
		CgroupV2: CgroupV2,
		NewProvider: func(rt Runtime, logger log.Logger) Provider {
			if logger == nil {
				logger = log.NoopLogger{}
			}
			return kindcluster.NewProvider(rt.ProviderOption(), kindcluster.ProviderWithLogger(logger))
		},
		NewClient: func(kubeconfig []byte) (kubernetes.Interface, error) {
			cfg, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
			if err != nil {
				return nil, err
			}
			cfg.Timeout = 15 * time.Second
			return kubernetes.NewForConfig(cfg)
		},
		Nodes:     KindNodes,
		Save:      SaveWithRuntime,
		APIReady:  APIReadyz,
		ProcRoot:  "/proc",
		FreeBytes: StatFreeBytes,
	}
	m.ProxyReady = m.KubeProxyHealthy
	return m
}

func (m *Manager) getenv(k string) string {
	if m.Getenv == nil {
		return os.Getenv(k)
	}
	return m.Getenv(k)
}

// engine finds the container runtime kind will drive and checks that its engine answers; it
// returns the engine's version. warn receives kind's message for an unknown provider override.
func (m *Manager) engine(ctx context.Context, warn func(string)) (Runtime, string, error) {
	rt, err := DetectRuntime(ctx, m.getenv, m.Run, warn)
	if err != nil {
		return rt, "", err
	}
	version, err := Ping(ctx, m.Run, rt)
	return rt, version, err
}

// connect reads a cluster's kubeconfig (host address) from kind and builds a client from it.
func (m *Manager) connect(provider Provider, name string) ([]byte, kubernetes.Interface, error) {
	kc, err := provider.KubeConfig(name, false)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read the cluster's kubeconfig: %w", err)
	}
	client, err := m.NewClient([]byte(kc))
	if err != nil {
		return nil, nil, fmt.Errorf("cannot connect to the cluster: %w", err)
	}
	return []byte(kc), client, nil
}

// Logf receives progress details (shown with -v).
type Logf func(format string, args ...any)

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
	// Configured, when set, is called once, on its own goroutine, when a cluster Ensure creates
	// has its nodes' containerd running with its final configuration, seconds before kubeadm has
	// the control plane up: images imported from then on are kept. It is not called for a reused
	// cluster, nor when kind's create returns first.
	Configured func()
	Logf       Logf
	Warnf      Logf
}

// EnsureResult is the cluster `up` can use from here on.
type EnsureResult struct {
	Created        bool   // false: an existing, matching cluster was reused unchanged
	Context        string // kind-<name>
	KubeconfigPath string // the file holding the context
	Kubeconfig     []byte // the cluster's kubeconfig (host address), for the steps that follow
	Mirrors        MirrorChange
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
	provider := m.NewProvider(opts.Runtime, kindLogger{info: logf, warn: warnf})

	names, err := provider.List()
	if err != nil {
		return res, fmt.Errorf("list kind clusters: %w", err)
	}
	exists := slices.Contains(names, name)
	if pid, half := m.halfCreated(name); exists && half {
		warnf("cluster %q was left half-created by an interrupted kindstack (pid %d); deleting it and creating it again", name, pid)
		if err := m.deleteUntilGone(ctx, provider, name); err != nil {
			return res, fmt.Errorf("delete half-created cluster %q: %w", name, err)
		}
		exists = false
	}
	if exists {
		kc, err := m.reuse(ctx, provider, opts)
		if err != nil {
			return res, err
		}
		res.Kubeconfig = kc
		logf("cluster %q exists and matches; reusing it", name)
	} else {
		kc, err := m.create(ctx, provider, opts)
		if err != nil {
			return res, err
		}
		res.Kubeconfig, res.Created = kc, true
	}
	if res.Mirrors, err = m.ApplyMirrors(ctx, opts.Runtime, name, opts.Registries); err != nil {
		return res, err
	}
	merge := MergeKubeconfig
	if opts.KeepContext {
		merge = AddKubeconfigEntries
	}
	changed, err := merge(res.KubeconfigPath, name, res.Kubeconfig)
	if err != nil {
		return res, fmt.Errorf("update kubeconfig %s: %w", res.KubeconfigPath, err)
	}
	if changed {
		logf("context %s written to %s", res.Context, res.KubeconfigPath)
	}
	return res, nil
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

func (m *Manager) create(ctx context.Context, provider Provider, opts EnsureOptions) ([]byte, error) {
	name := opts.Spec.Name
	wait := opts.ReadyWait
	if wait <= 0 {
		wait = 5 * time.Minute
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
		wait = time.Until(dl)
	}
	if err := m.markCreating(name); err != nil {
		return nil, fmt.Errorf("create cluster %q: %w", name, err)
	}
	// kind always writes a kubeconfig; give it a private file so it never touches the user's.
	tmp, err := os.MkdirTemp("", "kindstack-kubeconfig-")
	if err != nil {
		return nil, fmt.Errorf("create cluster %q: %w", name, err)
	}
	defer os.RemoveAll(tmp)
	kindKubeconfig := filepath.Join(tmp, "config")
	nodeImage, err := m.nodeImage(ctx, opts.Runtime, opts.Spec.NodeImage, opts.Registries, orNop(opts.Logf))
	if err != nil {
		_ = m.forget(name)
		return nil, fmt.Errorf("create cluster %q: %w", name, err)
	}

	done := make(chan error, 1)
	created := make(chan struct{}) // closed when kind's create has returned
	if opts.Configured != nil {
		go func() {
			if m.whenConfigured(ctx, opts.Runtime, name, created) {
				opts.Configured()
			}
		}()
	}
	go func() {
		defer close(created)
		done <- provider.Create(name,
			kindcluster.CreateWithV1Alpha4Config(KindConfig(opts.Spec)),
			kindcluster.CreateWithNodeImage(nodeImage),
			kindcluster.CreateWithWaitForReady(wait),
			kindcluster.CreateWithKubeconfigPath(kindKubeconfig),
			kindcluster.CreateWithRetain(opts.Retain),
			kindcluster.CreateWithDisplayUsage(false),
			kindcluster.CreateWithDisplaySalutation(false),
		)
	}()
	var createErr error
	select {
	case createErr = <-done:
	case <-ctx.Done():
		// kind's Create cannot be cancelled; removing its nodes makes it fail fast.
		if opts.Retain {
			return nil, fmt.Errorf("create cluster %q: %w; the half-created cluster is kept (--retain): remove it with `kindstack down --name %s`", name, ctx.Err(), name)
		}
		delErr := provider.Delete(name, kindKubeconfig)
		select {
		case <-done:
		case <-time.After(time.Minute):
		}
		// kind may have started a node container after that delete listed the nodes: once its
		// create has returned, delete again so nothing is left behind.
		if delErr == nil {
			delErr = provider.Delete(name, kindKubeconfig)
		}
		if delErr == nil {
			delErr = m.forget(name)
		}
		if delErr != nil {
			return nil, fmt.Errorf("create cluster %q: %w; deleting the half-created cluster failed too (run `kindstack down --name %s`): %w", name, ctx.Err(), name, delErr)
		}
		return nil, fmt.Errorf("create cluster %q: %w; the half-created cluster was deleted", name, ctx.Err())
	}
	if createErr != nil {
		if names, err := provider.List(); !opts.Retain && err == nil && !slices.Contains(names, name) {
			_ = m.forget(name) // kind deleted what it made; whatever is left keeps its marker
		}
		return nil, fmt.Errorf("create cluster %q: %w%s", name, createErr, commandOutput(createErr, opts.Retain))
	}

	kc, err := m.afterCreate(ctx, provider, opts.Runtime, opts.Spec, wait)
	if err != nil {
		if !opts.Retain {
			_ = provider.Delete(name, kindKubeconfig)
			_ = m.forget(name)
			return nil, fmt.Errorf("%w (the cluster was deleted; --retain keeps it for debugging)", err)
		}
		return nil, err
	}
	return kc, nil
}

// afterCreate checks the node really is Ready (kind's wait returns success on timeout) and that
// Services work, then stores the spec the cluster was created with.
func (m *Manager) afterCreate(ctx context.Context, provider Provider, rt Runtime, spec Spec, wait time.Duration) ([]byte, error) {
	kc, client, err := m.connect(provider, spec.Name)
	if err != nil {
		return nil, fmt.Errorf("new cluster %q: %w", spec.Name, err)
	}
	if err := WaitNodesReady(ctx, client, wait); err != nil {
		return nil, fmt.Errorf("new cluster %q: %w", spec.Name, err)
	}
	if err := m.waitProxy(ctx, rt, spec.Name, wait); err != nil {
		return nil, fmt.Errorf("new cluster %q: %w", spec.Name, err)
	}
	stored := StoredSpec{Spec: spec, Version: m.Version}
	if err := WriteStoredSpec(ctx, client, stored); err != nil {
		return nil, fmt.Errorf("new cluster %q: %w", spec.Name, err)
	}
	if err := m.recordCreated(stored); err != nil {
		return nil, fmt.Errorf("new cluster %q: record it in %s: %w", spec.Name, m.StateDir, err)
	}
	return kc, nil
}

// DeleteOptions are the inputs of Delete.
type DeleteOptions struct {
	Name       string
	Kubeconfig string // explicit path; "" = every path in $KUBECONFIG, else ~/.kube/config
	// Force deletes a cluster kindstack did not create (or cannot tell).
	Force bool
	Logf  Logf
}

// Delete deletes the cluster and its kubeconfig entries. A cluster that is already gone is not an
// error (like rm -f); it reports whether there was one. A cluster kindstack did not create is
// refused unless Force: with KINDSTACK_CLUSTER_NAME exported, a colleague's cluster is one typo
// away. The caller holds the cluster's lock (Lock).
func (m *Manager) Delete(ctx context.Context, opts DeleteOptions) (bool, error) {
	if err := ValidateName(opts.Name); err != nil {
		return false, err
	}
	rt, _, err := m.engine(ctx, orNop(opts.Logf).msg)
	if err != nil {
		return false, err
	}
	provider := m.NewProvider(rt, kindLogger{info: orNop(opts.Logf), warn: orNop(opts.Logf)})
	names, err := provider.List()
	if err != nil {
		return false, fmt.Errorf("list kind clusters: %w", err)
	}
	existed := slices.Contains(names, opts.Name)
	if existed && !opts.Force {
		if err := m.owned(ctx, provider, opts.Name); err != nil {
			return false, err
		}
	}
	if existed {
		if err := m.deleteCluster(provider, opts.Name); err != nil {
			return false, fmt.Errorf("delete cluster %q: %w", opts.Name, err)
		}
	}
	errs := []error{m.forget(opts.Name)}
	for _, p := range KubeconfigPaths(opts.Kubeconfig, m.getenv) {
		if _, err := RemoveKubeconfig(p, opts.Name); err != nil {
			errs = append(errs, fmt.Errorf("remove context %s from %s: %w", ContextName(opts.Name), p, err))
		}
	}
	return existed, errors.Join(errs...)
}

// deleteCluster deletes the cluster's nodes; kind's kubeconfig edit goes to a private file.
func (m *Manager) deleteCluster(provider Provider, name string) error {
	tmp, err := os.MkdirTemp("", "kindstack-kubeconfig-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	return provider.Delete(name, filepath.Join(tmp, "config"))
}

// goneChecks is how many looks, goneInterval apart, must find a deleted cluster absent before it
// counts as gone: a killed kindstack's `docker run` lives on and may create a node after the delete.
const (
	goneChecks   = 3
	goneInterval = time.Second
	goneWait     = time.Minute
)

// deleteUntilGone deletes the cluster, again and again, until it stays gone.
func (m *Manager) deleteUntilGone(ctx context.Context, provider Provider, name string) error {
	ctx, cancel := context.WithTimeout(ctx, goneWait)
	defer cancel()
	absent := 0
	for absent < goneChecks {
		names, err := provider.List()
		if err != nil {
			return err
		}
		if slices.Contains(names, name) {
			absent = 0
			if err := m.deleteCluster(provider, name); err != nil {
				return err
			}
		} else {
			absent++
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("its nodes keep coming back: %w", context.Cause(ctx))
		case <-time.After(goneInterval):
		}
	}
	return nil
}

// ownershipWait bounds the look into a cluster that decides whether kindstack created it.
const ownershipWait = 10 * time.Second

// owned returns nil when kindstack created the cluster: its stored spec says so, or, when its
// API does not answer (a stopped node), this machine recorded creating it, or an interrupted
// kindstack left it half-made. Otherwise the error says why it is refused and names --force.
func (m *Manager) owned(ctx context.Context, provider Provider, name string) error {
	if _, half := m.halfCreated(name); half {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, ownershipWait)
	defer cancel()
	_, client, err := m.connect(provider, name)
	var stored *StoredSpec
	if err == nil {
		stored, err = ReadStoredSpec(ctx, client)
	}
	switch {
	case err == nil && stored != nil:
		return nil
	case err == nil:
		return fmt.Errorf("cluster %q was not created by kindstack (it has no ConfigMap %s/%s), so kindstack leaves it alone; pass --force to delete it anyway",
			name, SpecNamespace, SpecConfigMap)
	}
	if _, ok := m.recorded(name); ok {
		return nil
	}
	return fmt.Errorf("cluster %q does not answer (%v) and this machine has no record of kindstack creating it, so kindstack leaves it alone; pass --force to delete it anyway",
		name, err)
}

// NodeStatus is one node as `status` reports it.
type NodeStatus struct {
	Name    string `json:"name"`
	Ready   bool   `json:"ready"`
	Reason  string `json:"reason,omitempty"` // why not Ready
	Version string `json:"kubeletVersion,omitempty"`
}

// Status is the cluster as `status` reports it. Its JSON shape is part of kindstack's interface.
type Status struct {
	Name        string       `json:"name"`
	Runtime     string       `json:"runtime,omitempty"`
	Exists      bool         `json:"exists"`
	Ready       bool         `json:"ready"` // exists and every node is Ready
	Context     string       `json:"context,omitempty"`
	Nodes       []NodeStatus `json:"nodes"`
	Spec        *Spec        `json:"spec,omitempty"`             // as stored at creation
	ToolVersion string       `json:"kindstackVersion,omitempty"` // kindstack version that created it
	Problem     string       `json:"problem,omitempty"`          // why it is not ready, one sentence
	Busy        string       `json:"busy,omitempty"`             // another kindstack is changing it now
	Kubeconfig  []byte       `json:"-"`                          // the cluster's kubeconfig, for component checks
}

// Status inspects the cluster without changing anything. Only a failure to look (no runtime) is an
// error; a missing or unready cluster is reported in the Status.
func (m *Manager) Status(ctx context.Context, name, kubeconfig string) (Status, error) {
	st := Status{Name: name, Nodes: []NodeStatus{}}
	if err := ValidateName(name); err != nil {
		return st, err
	}
	rt, _, err := m.engine(ctx, nil)
	if err != nil {
		return st, err
	}
	st.Runtime = rt.Name
	provider := m.NewProvider(rt, nil)
	names, err := provider.List()
	if err != nil {
		return st, fmt.Errorf("list kind clusters: %w", err)
	}
	if !slices.Contains(names, name) {
		st.Problem = fmt.Sprintf("cluster %q does not exist; run `kindstack up` to create it", name)
		return st, nil
	}
	st.Exists, st.Context = true, ContextName(name)
	pid, held := m.LockHolder(name)
	if held {
		st.Busy = fmt.Sprintf("another kindstack (pid %d) is changing this cluster right now", pid)
	}
	if creator, half := m.halfCreated(name); half {
		if held {
			st.Busy = fmt.Sprintf("another kindstack (pid %d) is creating this cluster right now", pid)
		} else {
			st.Problem = fmt.Sprintf("cluster %q was left half-created by an interrupted kindstack (pid %d); `kindstack up` deletes it and creates it again", name, creator)
			return st, nil
		}
	}
	// A stopped or paused node answers nothing; say so at once instead of waiting on its API.
	if containers, err := m.nodeContainers(ctx, rt, name); err == nil {
		if stopped := stoppedNodes(containers); len(stopped) > 0 {
			for _, n := range stopped {
				st.Nodes = append(st.Nodes, NodeStatus{Name: n.Name, Reason: "its container is " + n.State})
			}
			st.Problem = notRunningError(rt, name, stopped).Error()
			return st, nil
		}
	}
	// The context `up` merged into the user's kubeconfig answers without asking kind, which reads
	// it from the node and looks up the host port (seven runtime commands); kind's is the fallback
	// when that context is gone or stale.
	kc, nodes := m.userKubeconfig(kubeconfig, name), (*corev1.NodeList)(nil)
	var client kubernetes.Interface
	if kc != nil {
		if client, err = m.NewClient(kc); err == nil {
			if nodes, err = client.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err != nil {
				nodes = nil
			}
		}
	}
	if nodes == nil {
		kc, client, err = m.connect(provider, name)
		if err != nil {
			st.Problem = err.Error()
			return st, nil
		}
		if nodes, err = client.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err != nil {
			st.Problem = fmt.Sprintf("the API server does not answer: %v", err)
			return st, nil
		}
	}
	st.Kubeconfig = kc
	st.Nodes = nodeStatuses(nodes.Items)
	st.Ready = len(st.Nodes) > 0
	for _, n := range st.Nodes {
		if !n.Ready {
			st.Ready = false
			st.Problem = fmt.Sprintf("node %s is not Ready: %s", n.Name, n.Reason)
		}
	}
	stored, err := ReadStoredSpec(ctx, client)
	switch {
	case err != nil:
		st.Ready = false
		st.Problem = err.Error()
	case stored != nil:
		st.Spec, st.ToolVersion = &stored.Spec, stored.Version
	case st.Problem == "":
		st.Problem = fmt.Sprintf("cluster %q was not created by kindstack (no ConfigMap %s/%s)", name, SpecNamespace, SpecConfigMap)
	}
	return st, nil
}

func nodeStatuses(items []corev1.Node) []NodeStatus {
	out := make([]NodeStatus, 0, len(items))
	for _, n := range items {
		ns := NodeStatus{Name: n.Name, Version: n.Status.NodeInfo.KubeletVersion, Reason: "no Ready condition yet"}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				ns.Ready = c.Status == corev1.ConditionTrue
				ns.Reason = ""
				if !ns.Ready {
					ns.Reason = strings.TrimSpace(c.Reason + ": " + c.Message)
				}
			}
		}
		out = append(out, ns)
	}
	return out
}

// WaitNodesReady polls until every node is Ready, and fails naming the unready ones when wait or
// ctx runs out (a timeout is an error, unlike kind's own wait).
func WaitNodesReady(ctx context.Context, client kubernetes.Interface, wait time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var last string
	for {
		nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err == nil {
			var unready []string
			for _, n := range nodeStatuses(nodes.Items) {
				if !n.Ready {
					unready = append(unready, n.Name+" ("+n.Reason+")")
				}
			}
			if len(nodes.Items) > 0 && len(unready) == 0 {
				return nil
			}
			last = "not Ready: " + strings.Join(unready, ", ")
			if len(nodes.Items) == 0 {
				last = "no nodes registered"
			}
		} else {
			last = "API server: " + err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("nodes not Ready after %s: %s: %w", roundWait(wait), last, ctx.Err())
		case <-time.After(2 * time.Second):
		}
	}
}

func roundWait(d time.Duration) time.Duration {
	if d < time.Second {
		return d
	}
	return d.Round(time.Second)
}

// Where the applied spec is stored in the cluster.
const (
	SpecNamespace = "kube-public"
	SpecConfigMap = "kindstack-spec"
)

// StoredSpec is the spec a cluster was created with and the kindstack version that created it.
type StoredSpec struct {
	Spec    Spec
	Version string
}

// ReadStoredSpec returns the stored spec, or nil when the ConfigMap does not exist.
func ReadStoredSpec(ctx context.Context, client kubernetes.Interface) (*StoredSpec, error) {
	cm, err := client.CoreV1().ConfigMaps(SpecNamespace).Get(ctx, SpecConfigMap, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read stored spec %s/%s: %w", SpecNamespace, SpecConfigMap, err)
	}
	var spec Spec
	if err := json.Unmarshal([]byte(cm.Data["spec"]), &spec); err != nil {
		return nil, fmt.Errorf("stored spec %s/%s is not valid: %w", SpecNamespace, SpecConfigMap, err)
	}
	return &StoredSpec{Spec: spec, Version: cm.Data["kindstackVersion"]}, nil
}

// WriteStoredSpec creates or replaces the stored spec.
func WriteStoredSpec(ctx context.Context, client kubernetes.Interface, s StoredSpec) error {
	data, err := json.Marshal(s.Spec)
	if err != nil {
		return fmt.Errorf("encode spec: %w", err)
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: SpecNamespace, Name: SpecConfigMap,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "kindstack"}},
		Data: map[string]string{"spec": string(data), "kindstackVersion": s.Version},
	}
	cms := client.CoreV1().ConfigMaps(SpecNamespace)
	_, err = cms.Create(ctx, cm, metav1.CreateOptions{FieldManager: "kindstack"})
	if apierrors.IsAlreadyExists(err) {
		_, err = cms.Update(ctx, cm, metav1.UpdateOptions{FieldManager: "kindstack"})
	}
	if err != nil {
		return fmt.Errorf("store spec in %s/%s: %w", SpecNamespace, SpecConfigMap, err)
	}
	return nil
}

// DiffSpec lists every setting that differs between the cluster's stored spec and the wanted one,
// e.g. `httpPort: cluster has 80, wanted 8080`.
func DiffSpec(have, want Spec) []string {
	var diff []string
	add := func(field string, h, w any) {
		if h != w {
			diff = append(diff, fmt.Sprintf("%s: cluster has %v, wanted %v", field, h, w))
		}
	}
	add("nodeImage", have.NodeImage, want.NodeImage)
	add("listenAddress", have.ListenAddress, want.ListenAddress)
	add("httpPort", have.HTTPPort, want.HTTPPort)
	add("httpsPort", have.HTTPSPort, want.HTTPSPort)
	return diff
}

func orNop(f Logf) Logf {
	if f == nil {
		return func(string, ...any) {}
	}
	return f
}

func (f Logf) msg(s string) { f("%s", s) }

// kindLogger forwards kind's messages: its progress becomes details, its warnings stay warnings.
type kindLogger struct{ info, warn Logf }

func (l kindLogger) Warn(message string)               { l.warn("%s", trimLine(message)) }
func (l kindLogger) Warnf(format string, args ...any)  { l.Warn(fmt.Sprintf(format, args...)) }
func (l kindLogger) Error(message string)              { l.Warn(message) }
func (l kindLogger) Errorf(format string, args ...any) { l.Warnf(format, args...) }
func (l kindLogger) V(level log.Level) log.InfoLogger  { return kindInfo{l: l, on: level == 0} }
func (kindInfo) Enabled() bool                         { return true }
func (i kindInfo) Info(message string) {
	if i.on {
		i.l.info("%s", trimLine(message))
	}
}
func (i kindInfo) Infof(format string, args ...any) { i.Info(fmt.Sprintf(format, args...)) }

// trimLine drops the padding and newlines kind's own CLI puts around its status messages: our
// step runner lays lines out itself.
func trimLine(s string) string { return strings.TrimSpace(s) }

type kindInfo struct {
	l  kindLogger
	on bool
}
