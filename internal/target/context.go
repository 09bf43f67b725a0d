package target

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kindstack/kindstack/cluster"
	"github.com/kindstack/kindstack/internal/component"
	"github.com/kindstack/kindstack/internal/kube"
)

// ContextOptions are the settings of a cluster kindstack did not create, reached through a
// kubeconfig context.
type ContextOptions struct {
	// Context names the kubeconfig context.
	Context string
	// Kubeconfig is the file holding it; "" means kubectl's rule: $KUBECONFIG (a list), else
	// ~/.kube/config.
	Kubeconfig string
	// Getenv reads KUBECONFIG and HOME; nil means os.Getenv.
	Getenv func(string) string
	// AnswerWithin bounds how long the API server may take to answer preflight; 0 means 10s.
	AnswerWithin time.Duration
	// LoadBalancerWithin bounds the wait for a load balancer's address; 0 means 30s.
	LoadBalancerWithin time.Duration
	// IngressClass names an IngressClass of the cluster whose controller provides ingress; ""
	// means kindstack installs its own.
	IngressClass string
}

// Context is a cluster kindstack did not create: connected to, never created, deleted or written
// into the kubeconfig. What it already provides (a metrics API of its own) is used; the ingress
// controller is reached through its Service (Route) instead of host ports.
type Context struct {
	Manager *cluster.Manager
	Options ContextOptions

	// Found by Discover.
	kubeconfig []byte // the context alone, flattened: what the engine connects with
	path       string // the file that holds it, for messages
	server     string
	version    string
	minor      int
	provides   []component.Capability
	from       map[component.Capability]string
	route      Route // the last route Route found
}

// NewContext returns the cluster of these options; m provides the per-user lock.
func NewContext(m *cluster.Manager, opts ContextOptions) *Context {
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if opts.AnswerWithin == 0 {
		opts.AnswerWithin = 10 * time.Second
	}
	if opts.LoadBalancerWithin == 0 {
		opts.LoadBalancerWithin = 30 * time.Second
	}
	return &Context{Manager: m, Options: opts}
}

var _ Target = (*Context)(nil)

// Describe names the context.
func (c *Context) Describe() string { return "context " + c.Options.Context }

// Lock takes a per-user lock named after the context, so two kindstacks never change it at once
// from this machine.
func (c *Context) Lock(ctx context.Context, opts LockOptions) (func(), error) {
	sum := sha256.Sum256([]byte(c.Options.Context))
	return c.Manager.Lock(ctx, cluster.LockOptions{Name: "context-" + hex.EncodeToString(sum[:6]), NoWait: opts.NoWait, Waiting: opts.Waiting})
}

// kubeconfigPaths are the files kubectl would read, in order.
func (c *Context) kubeconfigPaths() []string {
	if c.Options.Kubeconfig != "" {
		return []string{c.Options.Kubeconfig}
	}
	if env := c.Options.Getenv("KUBECONFIG"); env != "" {
		return filepath.SplitList(env)
	}
	home := c.Options.Getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	return []string{filepath.Join(home, ".kube", "config")}
}

// Discover reads the context from the kubeconfig, asks its API server for its version within
// AnswerWithin, and finds what the cluster already provides. It changes nothing. Each failure is
// one sentence naming the context and the kubeconfig.
func (c *Context) Discover(ctx context.Context) error {
	if c.kubeconfig != nil {
		return nil
	}
	paths := c.kubeconfigPaths()
	c.path = strings.Join(paths, string(filepath.ListSeparator))
	rules := &clientcmd.ClientConfigLoadingRules{Precedence: paths}
	if c.Options.Kubeconfig != "" {
		rules = &clientcmd.ClientConfigLoadingRules{ExplicitPath: c.Options.Kubeconfig}
	}
	raw, err := rules.Load()
	if err != nil {
		return fmt.Errorf("read kubeconfig %s: %w", c.path, err)
	}
	if _, ok := raw.Contexts[c.Options.Context]; !ok {
		known := slices.Sorted(maps.Keys(raw.Contexts))
		list := "it has none"
		if len(known) > 0 {
			list = "it has " + strings.Join(known, ", ")
		}
		return fmt.Errorf("context %q is not in the kubeconfig %s (%s)", c.Options.Context, c.path, list)
	}
	cfg := raw.DeepCopy()
	cfg.CurrentContext = c.Options.Context
	if err := clientcmdapi.MinifyConfig(cfg); err != nil {
		return fmt.Errorf("context %q in %s: %w", c.Options.Context, c.path, err)
	}
	if err := clientcmdapi.FlattenConfig(cfg); err != nil {
		return fmt.Errorf("context %q in %s: %w", c.Options.Context, c.path, err)
	}
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return fmt.Errorf("context %q in %s: %w", c.Options.Context, c.path, err)
	}
	for _, cl := range cfg.Clusters {
		c.server = cl.Server
	}
	rest, err := clientcmd.RESTConfigFromKubeConfig(data)
	if err != nil {
		return fmt.Errorf("context %q in %s: %w", c.Options.Context, c.path, err)
	}
	rest.Timeout = c.Options.AnswerWithin
	client, err := kube.NewClientFromConfig(rest)
	if err != nil {
		return fmt.Errorf("context %q: %w", c.Options.Context, err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.Options.AnswerWithin)
	defer cancel()
	body, err := client.Kubernetes().Discovery().RESTClient().Get().AbsPath("/version").Do(ctx).Raw()
	var v version.Info
	if err == nil {
		err = json.Unmarshal(body, &v)
	}
	if err != nil {
		return fmt.Errorf("the API server of context %q (%s) does not answer (waited up to %s): %w", c.Options.Context, c.server, c.Options.AnswerWithin, err)
	}
	c.version = v.GitVersion
	if m := regexp.MustCompile(`^v?1\.(\d+)`).FindStringSubmatch(v.GitVersion); m != nil {
		c.minor, _ = strconv.Atoi(m[1])
	}
	if err := c.findCapabilities(ctx, client); err != nil {
		return err
	}
	c.kubeconfig = data // connected: later calls reuse what was found
	return nil
}

// MetricsAPIService is the APIService whose availability means the cluster serves metrics.
const MetricsAPIService = "v1beta1.metrics.k8s.io"

// findCapabilities finds a metrics API that is Available and not kindstack's (k3s's, a cloud's, a
// metrics-server the user installed).
func (c *Context) findCapabilities(ctx context.Context, client *kube.Client) error {
	c.provides, c.from = nil, map[component.Capability]string{}
	if c.Options.IngressClass != "" {
		if err := c.findIngressClass(ctx, client); err != nil {
			return err
		}
	}
	gvr := schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}
	live, err := client.Dynamic().Resource(gvr).Get(ctx, MetricsAPIService, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("context %q: look for a metrics API: %w", c.Options.Context, err)
	}
	if kube.Owned(live) {
		return nil // kindstack's own: the component that provides metrics reports it
	}
	return c.ownMetrics(live)
}

// findIngressClass checks that the IngressClass the user named exists; its controller provides
// ingress.
func (c *Context) findIngressClass(ctx context.Context, client *kube.Client) error {
	classes, err := client.Kubernetes().NetworkingV1().IngressClasses().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("context %q: list IngressClasses: %w", c.Options.Context, err)
	}
	var names []string
	for _, ic := range classes.Items {
		if ic.Name == c.Options.IngressClass {
			c.provides = append(c.provides, component.Ingress)
			c.from[component.Ingress] = fmt.Sprintf("IngressClass %s (controller %s)", ic.Name, ic.Spec.Controller)
			return nil
		}
		names = append(names, ic.Name)
	}
	has := "it has none"
	if len(names) > 0 {
		has = "it has " + strings.Join(names, ", ")
	}
	return fmt.Errorf("IngressClass %q is not in context %q (%s)", c.Options.IngressClass, c.Options.Context, has)
}

// ownMetrics records the metrics API of the APIService live when it is Available.
func (c *Context) ownMetrics(live *unstructured.Unstructured) error {
	conds, _, _ := unstructured.NestedSlice(live.Object, "status", "conditions")
	available := false
	for _, raw := range conds {
		if m, ok := raw.(map[string]any); ok && m["type"] == "Available" && m["status"] == "True" {
			available = true
		}
	}
	if !available {
		return nil // not serving: kindstack's would be refused by the ownership check, naming it
	}
	ns, _, _ := unstructured.NestedString(live.Object, "spec", "service", "namespace")
	name, _, _ := unstructured.NestedString(live.Object, "spec", "service", "name")
	from := "APIService " + MetricsAPIService
	if name != "" {
		from += " (Service " + ns + "/" + name + ")"
	}
	c.provides = append(c.provides, component.Metrics)
	c.from[component.Metrics] = from
	return nil
}

// Preflight connects (Discover), reporting the settings' problems with its own.
func (c *Context) Preflight(ctx context.Context, opts PreflightOptions) (Preflight, error) {
	err := c.Discover(ctx)
	if err := errors.Join(opts.SettingsErr, err); err != nil {
		return Preflight{}, fmt.Errorf("preflight: %w", err)
	}
	out := Preflight{Engine: "API server " + c.version + " at " + c.server}
	for _, capability := range c.provides {
		out.Details = append(out.Details, fmt.Sprintf("%s: the cluster's own, %s", capability, c.from[capability]))
	}
	return out, nil
}

// Ensure connects: nothing is created, and the kubeconfig is read, never written.
func (c *Context) Ensure(ctx context.Context, _ EnsureOptions) (Connection, error) {
	if err := c.Discover(ctx); err != nil {
		return Connection{}, err
	}
	return Connection{Context: c.Options.Context, KubeconfigPath: c.path, Kubeconfig: c.kubeconfig, Note: "connected, nothing created"}, nil
}

// Status reads the cluster's nodes. A context that is missing or does not answer is an error.
func (c *Context) Status(ctx context.Context) (cluster.Status, error) {
	st := cluster.Status{Name: c.Options.Context, Context: c.Options.Context, Nodes: []cluster.NodeStatus{}}
	if err := c.Discover(ctx); err != nil {
		return st, err
	}
	client, err := kube.NewClient(c.kubeconfig)
	if err != nil {
		return st, err
	}
	nodes, err := client.Kubernetes().CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return st, fmt.Errorf("list the nodes of context %q: %w", c.Options.Context, err)
	}
	st.Exists, st.Ready, st.Kubeconfig = true, len(nodes.Items) > 0, c.kubeconfig
	var notReady []string
	for _, n := range nodes.Items {
		ns := cluster.NodeStatus{Name: n.Name, Version: n.Status.NodeInfo.KubeletVersion}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				ns.Ready = cond.Status == corev1.ConditionTrue
				if !ns.Ready {
					ns.Reason = strings.TrimSpace(cond.Reason + ": " + cond.Message)
				}
			}
		}
		if !ns.Ready {
			st.Ready = false
			notReady = append(notReady, n.Name)
		}
		st.Nodes = append(st.Nodes, ns)
	}
	if len(notReady) > 0 {
		st.Problem = "nodes not Ready: " + strings.Join(notReady, ", ")
	} else if len(nodes.Items) == 0 {
		st.Problem = "the cluster has no nodes"
	}
	return st, nil
}

// Delete never deletes a cluster kindstack did not create; `down` removes what kindstack
// installed there instead (its inventory).
func (c *Context) Delete(context.Context, DeleteOptions) (bool, error) {
	return false, fmt.Errorf("%s is a cluster kindstack did not create: it is never deleted", c.Describe())
}

// CollectLogs has no nodes to export: kindstack does not run them. Status, events and the pods'
// logs come through the API.
func (c *Context) CollectLogs(context.Context, string) error { return nil }

// IngressNode is nil: no node of a cluster kindstack did not create has host ports mapped for it,
// so the ingress controller runs anywhere and is reached through its Service.
func (c *Context) IngressNode() map[string]string { return nil }

// IngressURL is where the last Route found the ingress, "" before.
func (c *Context) IngressURL() string { return c.route.BaseURL }

// Kubernetes is the API server's minor version.
func (c *Context) Kubernetes() (int, string) {
	if c.minor == 0 {
		return 0, ""
	}
	return c.minor, "the API server of context " + c.Options.Context + ", " + c.version
}

// Provides lists what Discover found the cluster has.
func (c *Context) Provides() []component.Capability { return slices.Clone(c.provides) }

// ProvidedBy says where the cluster's own capability comes from ("" when it is not the cluster's).
func (c *Context) ProvidedBy(capability component.Capability) string { return c.from[capability] }

// LoadImages copies nothing: this machine's images do not reach a cluster kindstack did not
// create; its nodes pull them.
func (c *Context) LoadImages(_ context.Context, opts LoadOptions) (cluster.PreloadResult, error) {
	return cluster.PreloadResult{Remote: slices.Clone(opts.Images)}, nil
}

// ImageProbe is nil: kindstack knows nothing of the cluster's registries.
func (c *Context) ImageProbe() func(ctx context.Context, image string) string { return nil }
