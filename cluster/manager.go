package cluster

import (
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	kindcluster "sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/log"
)

// Provider is the part of kind's *cluster.Provider kindstack uses. kind's methods take no
// context: a call that starts is waited for (or, for Create, made to fail by deleting its nodes).
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
	// Both are checked as the user's own, private directories on every use (privatedir.go).
	LockDir  string
	StateDir string
	// FileOwner says who owns a file of the local state; nil is the system's answer. Tests play
	// another user with it.
	FileOwner FileOwner
	Getenv    func(string) string
	Run       CommandRunner
	// RunInput is Run with an input: how a file's content reaches a node (nodefile.go).
	RunInput    InputRunner
	Listen      func(network, address string) (net.Listener, error)
	CgroupV2    func() bool
	NewProvider func(rt Runtime, logger log.Logger) Provider
	NewClient   func(kubeconfig []byte) (kubernetes.Interface, error)
	// Nodes lists a cluster's nodes for image loading, their commands bound to ctx; Save streams
	// images out of the host's runtime.
	Nodes func(ctx context.Context, rt Runtime, cluster string) ([]ImageNode, error)
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
	// ProbeRegistry asks a registry or mirror (base URL) whether it answers, for doctor's make run
	// line; nil means an HTTP request to its /v2/ (makerun.go).
	ProbeRegistry func(ctx context.Context, base string) error
	// Geteuid is the user's id for the make run line (only root can start kindstack's private
	// engine and build the offline images); nil means os.Geteuid.
	Geteuid func() int

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
		RunInput: ExecCommandInput,
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

// Engine finds the container runtime kind drives and checks that its engine answers.
func (m *Manager) Engine(ctx context.Context) (Runtime, error) {
	rt, _, err := m.engine(ctx, nil)
	return rt, err
}

// Exists reports whether kind has a cluster of that name. kind's listing takes no context, so
// one that has already ended is not started.
func (m *Manager) Exists(ctx context.Context, rt Runtime, name string) (bool, error) {
	if err := ValidateName(name); err != nil {
		return false, err
	}
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("list kind clusters: %w", err)
	}
	names, err := m.NewProvider(rt, nil).List()
	if err != nil {
		return false, fmt.Errorf("list kind clusters: %w", err)
	}
	return slices.Contains(names, name), nil
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

func orNop(f Logf) Logf {
	if f == nil {
		return func(string, ...any) {}
	}
	return f
}

func (f Logf) msg(s string) { f("%s", s) }
