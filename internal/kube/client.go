package kube

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
)

// FieldManager is the server-side apply field manager of every object kindstack applies.
const FieldManager = "kindstack"

// Client talks to one cluster. It is safe for concurrent use: several sets may be installed at once.
type Client struct {
	config  *rest.Config
	kube    kubernetes.Interface
	dynamic dynamic.Interface
	// mapper is discovery-backed and cached; Apply resets it after new kinds (CRDs) appear.
	mapper *restmapper.DeferredDiscoveryRESTMapper
}

// NewClient builds a Client from kubeconfig bytes (its current context).
func NewClient(kubeconfig []byte) (*Client, error) {
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("read kubeconfig: %w", err)
	}
	return NewClientFromConfig(cfg)
}

// NewClientFromConfig builds a Client from a REST config.
func NewClientFromConfig(cfg *rest.Config) (*Client, error) {
	cfg = rest.CopyConfig(cfg)
	// The defaults (5 QPS, burst 10) throttle waits: every poll reads each object of every set
	// being installed, and several sets are waited on at once.
	if cfg.QPS == 0 {
		cfg.QPS = 100
	}
	if cfg.Burst == 0 {
		cfg.Burst = 200
	}
	// No request may hang on an API server that stopped answering (a paused node): every wait
	// polls, so a bounded request only costs one more poll.
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("create kubernetes client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("create dynamic client: %w", err)
	}
	disco, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("create discovery client: %w", err)
	}
	return &Client{
		config:  cfg,
		kube:    kube,
		dynamic: dyn,
		mapper:  restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disco)),
	}, nil
}

// Kubernetes returns the typed clientset.
func (c *Client) Kubernetes() kubernetes.Interface { return c.kube }

// Dynamic returns the dynamic client.
func (c *Client) Dynamic() dynamic.Interface { return c.dynamic }

// RESTConfig returns a copy of the client's REST config.
func (c *Client) RESTConfig() *rest.Config { return rest.CopyConfig(c.config) }

// mapping finds the resource and scope of a kind. The deferred mapper refreshes discovery once
// by itself when a kind is unknown to a stale cache.
func (c *Client) mapping(gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	m, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		if meta.IsNoMatchError(err) {
			return nil, fmt.Errorf("the cluster does not serve kind %s (is its CRD or API installed?): %w", gvk, err)
		}
		return nil, fmt.Errorf("map kind %s: %w", gvk, err)
	}
	return m, nil
}

// resource returns the dynamic resource interface for an object of the given mapping and namespace.
func (c *Client) resource(m *meta.RESTMapping, namespace string) dynamic.ResourceInterface {
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return c.dynamic.Resource(m.Resource).Namespace(namespace)
	}
	return c.dynamic.Resource(m.Resource)
}

// Secret returns the data of Secret namespace/name, nil when there is none.
func (c *Client) Secret(ctx context.Context, namespace, name string) (map[string][]byte, error) {
	s, err := c.kube.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read secret %s/%s: %w", namespace, name, err)
	}
	return s.Data, nil
}
