// Package pipeline owns what each kindstack command does, as one ordered list of named steps per
// command: up.go tells the whole story of `up` (and `recreate`), down.go of `down`, status.go of
// `status`. It composes the cluster (package cluster), the components (given as data: package
// catalogue lists them, and no code here names one) and the one apply/wait engine
// (internal/kube). It never parses flags or renders output: internal/cli does both.
package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kindstack/kindstack/cluster"
	"github.com/kindstack/kindstack/internal/catalogue"
	"github.com/kindstack/kindstack/internal/component"
	"github.com/kindstack/kindstack/internal/config"
	"github.com/kindstack/kindstack/internal/kube"
	"github.com/kindstack/kindstack/internal/modfetch"
	"github.com/kindstack/kindstack/internal/smoke"
	"github.com/kindstack/kindstack/internal/target"
)

// Engine is what the pipeline needs of the apply/wait engine; *kube.Client is the real one.
type Engine interface {
	Apply(ctx context.Context, objs []*unstructured.Unstructured, opts kube.ApplyOptions) (kube.ChangeSet, error)
	Wait(ctx context.Context, set kube.Set) error
	Status(ctx context.Context, set kube.Set) []kube.ObjectStatus
	ReadInventory(ctx context.Context) (kube.Inventory, error)
	RecordInventory(ctx context.Context, component string, refs []kube.Ref) error
	ForgetInventory(ctx context.Context, component string) error
	Prune(ctx context.Context, refs []kube.Ref) (kube.PruneResult, error)
	// Foreign lists the objects of objs that exist and are not kindstack's (kube.Owned).
	Foreign(ctx context.Context, objs []*unstructured.Unstructured) ([]kube.Foreign, error)
	Report(ctx context.Context, set kube.Set) kube.SetReport
	Events(ctx context.Context, namespace string) ([]byte, error)
	// Secret returns a Secret's data, nil when there is none.
	Secret(ctx context.Context, namespace, name string) (map[string][]byte, error)
}

// Pipeline runs kindstack's commands. Every dependency is a field so tests can replace it.
type Pipeline struct {
	// Cluster drives kind: preflight, create/reuse/delete, image loading, status.
	Cluster *cluster.Manager
	// Connect builds the engine for a cluster from its kubeconfig.
	Connect func(kubeconfig []byte) (Engine, error)
	// Smoke sends the components' smoke requests through the ingress until they pass.
	Smoke func(ctx context.Context, opts smoke.Options) error
	// Catalogue lists every component kindstack knows; the settings say which are wanted.
	Catalogue []component.Component
	// Target, when set, is what the commands act on for these settings; nil means the kind
	// cluster the settings describe.
	Target func(config.Settings) target.Target
	// Fetch returns a remote manifest (a Go module's files, verified by its go.sum hash); nil
	// builds components without their remote manifests.
	Fetch func(ctx context.Context, r component.Remote) ([]byte, error)
}

// New returns the real pipeline; version is kindstack's, stored with the cluster's spec.
func New(version string, getenv func(string) string) *Pipeline {
	mgr := cluster.NewManager(version)
	if getenv != nil {
		mgr.Getenv = getenv
		mgr.LockDir = cluster.DefaultLockDir(getenv)
	}
	return &Pipeline{
		Cluster:   mgr,
		Connect:   func(kubeconfig []byte) (Engine, error) { return kube.NewClient(kubeconfig) },
		Smoke:     smoke.Run,
		Catalogue: catalogue.All(),
		Fetch:     ModuleFetcher(mgr.Getenv),
	}
}

// ModuleFetcher gets remote manifests the way the go command gets modules: the local module cache
// ($GOMODCACHE, else $GOPATH/pkg/mod, else ~/go/pkg/mod) first, then kindstack's cache
// (~/.cache/kindstack/modules), then $GOPROXY (default proxy.golang.org), each zip verified by
// its go.sum hash.
func ModuleFetcher(getenv func(string) string) func(ctx context.Context, r component.Remote) ([]byte, error) {
	return func(ctx context.Context, r component.Remote) ([]byte, error) {
		home, _ := os.UserHomeDir()
		modCache := getenv("GOMODCACHE")
		if modCache == "" {
			gopath := getenv("GOPATH")
			if gopath == "" && home != "" {
				gopath = filepath.Join(home, "go")
			}
			if gopath != "" {
				modCache = filepath.Join(filepath.SplitList(gopath)[0], "pkg", "mod")
			}
		}
		cacheDir := getenv("XDG_CACHE_HOME")
		if cacheDir == "" && home != "" {
			cacheDir = filepath.Join(home, ".cache")
		}
		if cacheDir != "" {
			cacheDir = filepath.Join(cacheDir, "kindstack", "modules")
		}
		proxy := getenv("GOPROXY")
		if proxy == "" {
			proxy = modfetch.DefaultProxy
		}
		f := modfetch.Fetcher{Proxy: proxy, ModCache: modCache, CacheDir: cacheDir, PrivateDir: cluster.PrivateDir}
		data, err := f.YAML(ctx, modfetch.Module{Path: r.Module, Version: r.Version, Sum: r.Sum}, r.Dir)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.Name, err)
		}
		return data, nil
	}
}
