package pipeline_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	kindcluster "sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/log"
	"sigs.k8s.io/yaml"

	"github.com/kindstack/kindstack/cluster"
	"github.com/kindstack/kindstack/internal/catalogue"
	"github.com/kindstack/kindstack/internal/cli"
	"github.com/kindstack/kindstack/internal/config"
	"github.com/kindstack/kindstack/internal/kube"
	"github.com/kindstack/kindstack/internal/nodeimage"
	"github.com/kindstack/kindstack/internal/pipeline"
	"github.com/kindstack/kindstack/internal/smoke"
	"github.com/kindstack/kindstack/internal/steps"
	"github.com/kindstack/kindstack/internal/transform"
	"github.com/kindstack/kindstack/workloads"
)

// fakeKind stands in for kind's provider: clusters are names, creation either works or fails.
type fakeKind struct {
	mu        sync.Mutex
	clusters  []string
	createErr error
	deleted   []string
}

func (k *fakeKind) Create(name string, _ ...kindcluster.CreateOption) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.createErr != nil {
		return k.createErr
	}
	k.clusters = append(k.clusters, name)
	return nil
}

func (k *fakeKind) Delete(name, _ string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.clusters = slices.DeleteFunc(k.clusters, func(c string) bool { return c == name })
	k.deleted = append(k.deleted, name)
	return nil
}

func (k *fakeKind) List() ([]string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.clusters), nil
}

func (k *fakeKind) KubeConfig(name string, _ bool) (string, error) {
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: kind-%[1]s
  cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}
users:
- name: kind-%[1]s
  user: {token: t}
contexts:
- name: kind-%[1]s
  context: {cluster: kind-%[1]s, user: kind-%[1]s}
current-context: kind-%[1]s
`, name), nil
}

func (k *fakeKind) CollectLogs(name, dir string) error {
	node := filepath.Join(dir, name+"-control-plane")
	if err := os.MkdirAll(node, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(node, "kubelet.log"), []byte("I1201 kubelet started\n"), 0o644)
}

// fakeNode is a node whose image store holds nothing.
type fakeNode struct{}

func (fakeNode) String() string                 { return "node" }
func (fakeNode) ImageID(string) (string, error) { return "", errors.New("no such image") }
func (fakeNode) Import(io.Reader) error         { return nil }
func (fakeNode) Tag(string, string) error       { return nil }

// fakeEngine records what the pipeline asked of the cluster, in order.
type fakeEngine struct {
	mu         sync.Mutex
	foreign    map[kube.Ref][]string // objects that exist and are another manager's
	applyOpts  []kube.ApplyOptions
	events     []string
	inventory  kube.Inventory
	pruned     []kube.Ref
	pruneCalls [][]kube.Ref
	waitErr    map[string]error             // set name -> Wait error
	waitFor    map[string]chan struct{}     // set name -> Wait returns once it is closed (or ctx ends)
	inUse      map[kube.Ref]bool            // CRDs Prune keeps because objects of the user's use them
	secrets    map[string]map[string][]byte // namespace/name -> data, as applied
	applied    map[kube.Ref]*unstructured.Unstructured
	readErr    error // what ReadInventory fails with
}

func (e *fakeEngine) log(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.events = append(e.events, fmt.Sprintf(format, args...))
}

func (e *fakeEngine) Apply(_ context.Context, objs []*unstructured.Unstructured, opts kube.ApplyOptions) (kube.ChangeSet, error) {
	var cs kube.ChangeSet
	e.mu.Lock()
	e.applyOpts = append(e.applyOpts, opts)
	e.mu.Unlock()
	for _, o := range objs {
		e.mu.Lock()
		if e.applied == nil {
			e.applied, e.secrets = map[kube.Ref]*unstructured.Unstructured{}, map[string]map[string][]byte{}
		}
		e.applied[kube.RefOf(o)] = o.DeepCopy()
		if o.GetKind() == "Secret" {
			enc, _, _ := unstructured.NestedStringMap(o.Object, "data")
			data := map[string][]byte{}
			for k, v := range enc {
				data[k], _ = base64.StdEncoding.DecodeString(v)
			}
			e.secrets[o.GetNamespace()+"/"+o.GetName()] = data
		}
		e.mu.Unlock()
		e.log("apply %s", kube.RefOf(o))
		cs = append(cs, kube.Change{Ref: kube.RefOf(o), Action: kube.Created})
	}
	return cs, nil
}

func (e *fakeEngine) Wait(ctx context.Context, set kube.Set) error {
	if ch := e.waitFor[set.Name]; ch != nil {
		select {
		case <-ch:
		case <-ctx.Done():
			e.log("wait %s stopped", set.Name)
			return context.Cause(ctx)
		}
	}
	e.log("ready %s", set.Name)
	return e.waitErr[set.Name]
}

func (e *fakeEngine) Status(_ context.Context, set kube.Set) []kube.ObjectStatus {
	return []kube.ObjectStatus{{Name: set.Name, Ready: true}}
}

func (e *fakeEngine) ReadInventory(context.Context) (kube.Inventory, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.readErr != nil {
		return nil, e.readErr
	}
	out := kube.Inventory{}
	for k, v := range e.inventory {
		out[k] = slices.Clone(v)
	}
	return out, nil
}

func (e *fakeEngine) RecordInventory(_ context.Context, comp string, refs []kube.Ref) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.inventory[comp] = refs
	return nil
}

func (e *fakeEngine) ForgetInventory(_ context.Context, comp string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.inventory, comp)
	return nil
}

func (e *fakeEngine) Prune(_ context.Context, refs []kube.Ref) (kube.PruneResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.pruneCalls = append(e.pruneCalls, refs)
	var res kube.PruneResult
	for _, r := range refs {
		if e.inUse[r] {
			res.InUse = append(res.InUse, r)
			continue
		}
		e.pruned = append(e.pruned, r)
		res.Deleted = append(res.Deleted, r)
	}
	return res, nil
}

func (e *fakeEngine) Report(_ context.Context, set kube.Set) kube.SetReport {
	rep := kube.SetReport{Text: set.Name + "\n", PodLogs: map[string][]byte{}}
	if err := e.waitErr[set.Name]; err != nil {
		rep.Text += "  NOT READY  " + err.Error() + "\n"
		rep.PodLogs["kube-system_"+set.Name+"-x_main.previous.log"] = []byte("panic: cannot reach the kubelet\n")
	}
	return rep
}

func (e *fakeEngine) Foreign(_ context.Context, objs []*unstructured.Unstructured) ([]kube.Foreign, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []kube.Foreign
	for _, o := range objs {
		if managers, ok := e.foreign[kube.RefOf(o)]; ok {
			out = append(out, kube.Foreign{Ref: kube.RefOf(o), Managers: managers})
		}
	}
	return out, nil
}

func (e *fakeEngine) Events(_ context.Context, ns string) ([]byte, error) {
	return []byte("12:00:00  Normal  Scheduled  Pod/x  in " + ns + "\n"), nil
}

func (e *fakeEngine) Secret(_ context.Context, ns, name string) (map[string][]byte, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.secrets[ns+"/"+name], nil
}

func (e *fakeEngine) index(event string) int { return slices.Index(e.events, event) }

// machine is a user's machine: docker answers, kind is fake, the cluster's API is a fake clientset.
type machine struct {
	kind       *fakeKind
	api        *fake.Clientset
	engine     *fakeEngine
	smoked     []string
	kubeconfig string
	pipeline   *pipeline.Pipeline
}

func readyNode() *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "kindstack-control-plane"},
		Status:     corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}},
	}
}

func newMachine(t *testing.T, nodes ...*corev1.Node) *machine {
	t.Helper()
	m := &machine{kind: &fakeKind{}, engine: &fakeEngine{inventory: kube.Inventory{}}}
	m.api = fake.NewClientset()
	for _, n := range nodes {
		_, err := m.api.CoreV1().Nodes().Create(context.Background(), n, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	home := t.TempDir()
	m.kubeconfig = filepath.Join(home, ".kube", "config")
	mgr := cluster.NewManager("test")
	mgr.Getenv = func(k string) string {
		if k == "HOME" {
			return home
		}
		return ""
	}
	mgr.Run = func(_ context.Context, name string, args ...string) ([]byte, error) {
		switch {
		case name == "docker" && len(args) == 1 && args[0] == "-v":
			return []byte("Docker version 28.2.2, build e6534b4\n"), nil
		case name == "docker" && args[0] == "version":
			return []byte("28.2.2\n"), nil
		}
		return []byte("Error: No such image"), errors.New("exit status 1")
	}
	mgr.Listen = func(string, string) (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }
	mgr.CgroupV2 = func() bool { return true }
	mgr.StateDir, mgr.LockDir = t.TempDir(), t.TempDir()
	mgr.APIReady = nil   // the fake clientset has no /readyz
	mgr.ProxyReady = nil // nor a node to ask
	mgr.ProcRoot = t.TempDir()
	mgr.LookupHost = func(_ context.Context, host string) ([]string, error) {
		if host == "registry.k8s.io" {
			return []string{"34.96.108.209"}, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	// Registries as doctor's make run line probes them: only registry.k8s.io and one mirror answer.
	mgr.ProbeRegistry = func(_ context.Context, base string) error {
		if base == "https://registry.k8s.io" || base == "https://mirror.test" {
			return nil
		}
		return errors.New("connection refused")
	}
	mgr.Geteuid = func() int { return 0 }
	mgr.NewProvider = func(cluster.Runtime, log.Logger) cluster.Provider { return m.kind }
	mgr.NewClient = func([]byte) (kubernetes.Interface, error) { return m.api, nil }
	mgr.Nodes = func(context.Context, cluster.Runtime, string) ([]cluster.ImageNode, error) {
		return []cluster.ImageNode{fakeNode{}}, nil
	}
	mgr.Save = func(context.Context, cluster.Runtime, []string) (io.ReadCloser, func() error, error) {
		return nil, nil, errors.New("nothing to save: the host has no image")
	}
	m.pipeline = &pipeline.Pipeline{
		Cluster:   mgr,
		Connect:   func([]byte) (pipeline.Engine, error) { return m.engine, nil },
		Catalogue: catalogue.All(),
		Smoke: func(_ context.Context, opts smoke.Options) error {
			m.smoked = append(m.smoked, opts.BaseURL)
			return nil
		},
	}
	return m
}

func settings() config.Settings {
	s := config.Defaults()
	s.HTTPPort, s.HTTPSPort = 18080, 18443
	return s
}

func quiet() *steps.Runner { return steps.NewRunner(io.Discard, steps.Options{}) }

// stepNames are the steps of the summary's timings, without the phases steps mark.
func stepNames(sum pipeline.UpSummary) []string {
	var out []string
	for _, t := range sum.Timings {
		if strings.Count(t.Step, "/") < 2 {
			out = append(out, t.Step)
		}
	}
	return out
}

// timing is the summary's entry for step (or phase), failing the test when there is none.
func timing(t *testing.T, sum pipeline.UpSummary, step string) pipeline.TimingJSON {
	t.Helper()
	for _, tj := range sum.Timings {
		if tj.Step == step {
			return tj
		}
	}
	t.Fatalf("no timing %q in %v", step, sum.Timings)
	return pipeline.TimingJSON{}
}

func TestUpCreatesStoresMergesThenInstallsInTheOrderNeedsGive(t *testing.T) {
	m := newMachine(t, readyNode())
	var progress bytes.Buffer
	sum, err := m.pipeline.Up(context.Background(), steps.NewRunner(&progress, steps.Options{}), pipeline.UpOptions{Settings: settings()})
	require.NoError(t, err, progress.String())

	assert.True(t, sum.Ready)
	assert.True(t, sum.Created)
	assert.Equal(t, []string{"kindstack"}, m.kind.clusters, "the cluster was created")
	assert.Equal(t, []string{
		"Preflight", "Cluster kindstack", "Prune", "Install components",
		"Install components/Install ingress-nginx", "Install components/Install metrics-server", "Install components/Install example",
		"Smoke test through the ingress",
	}, stepNames(sum))

	stored, err := cluster.ReadStoredSpec(context.Background(), m.api)
	require.NoError(t, err)
	require.NotNil(t, stored, "the spec is stored in the new cluster")
	assert.Equal(t, 18080, stored.Spec.HTTPPort)
	assert.Equal(t, "test", stored.Version)

	kc, err := os.ReadFile(m.kubeconfig)
	require.NoError(t, err, "the context is merged into the user's kubeconfig")
	assert.Contains(t, string(kc), "current-context: kind-kindstack")
	assert.Equal(t, "kind-kindstack", sum.Context)
	assert.Equal(t, m.kubeconfig, sum.Kubeconfig)

	// The example's Ingress goes in only after ingress-nginx is ready; the rest of it does not
	// wait (its autoscalers: TestAutoscalersGoInAtOnceAndTheExampleIsReadyOnlyWithMetrics).
	e := m.engine
	ingressReady := e.index("ready ingress-nginx")
	require.NotEqual(t, -1, ingressReady, e.events)
	assert.Greater(t, e.index("apply Ingress/example/frontend-ingress"), ingressReady, e.events)
	assert.NotEqual(t, -1, e.index("apply Deployment/example/backend"), e.events)

	assert.ElementsMatch(t, []string{"ingress-nginx", "metrics-server", "example"}, keys(e.inventory), "every component's objects are recorded")
	assert.Contains(t, e.inventory["example"], kube.Ref{Kind: "Namespace", Name: "example"})
	assert.Equal(t, []string{"http://localhost:18080"}, m.smoked)
	assert.Equal(t, []string{"http://localhost:18080/", "http://localhost:18080/api/healthy"}, sum.URLs)
	assert.Contains(t, progress.String(), "✓ Install example · images: 3 pulled by the node · 12 created, ready")
	assert.Contains(t, progress.String(), "✓ Prune · nothing to prune")

	// The timings say when each phase ran, relative to the first step: the critical-path table.
	cl, ex := timing(t, sum, "Cluster kindstack"), "Install components/Install example/"
	nginx := timing(t, sum, "Install components/Install ingress-nginx")
	images, apply, waitIngress, ready := timing(t, sum, ex+"images"), timing(t, sum, ex+"apply"), timing(t, sum, ex+"wait for ingress"), timing(t, sum, ex+"ready")
	assert.Zero(t, timing(t, sum, "Preflight").Start)
	assert.GreaterOrEqual(t, images.Start, cl.Start+cl.Seconds-0.002, "no early import: the fake kind creates at once")
	assert.GreaterOrEqual(t, apply.Start, images.Start+images.Seconds-0.002) // each is rounded to 1 ms
	assert.GreaterOrEqual(t, waitIngress.Start+waitIngress.Seconds, nginx.Start+nginx.Seconds-0.002, "the Ingress waited for ingress-nginx")
	assert.GreaterOrEqual(t, ready.Start, waitIngress.Start+waitIngress.Seconds-0.002)
}

func keys(inv kube.Inventory) []string {
	var out []string
	for k := range inv {
		out = append(out, k)
	}
	return out
}

func TestUpDeletesAClusterThatNeverBecameReady(t *testing.T) {
	notReady := readyNode()
	notReady.Status.Conditions[0] = corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionFalse, Reason: "KubeletNotReady", Message: "cni not initialized"}
	m := newMachine(t, notReady)
	s := settings()
	s.Timeout = 2 * time.Second
	sum, err := m.pipeline.Up(context.Background(), quiet(), pipeline.UpOptions{Settings: s})
	require.Error(t, err)
	assert.False(t, sum.Ready)
	assert.Equal(t, []string{"kindstack"}, m.kind.deleted, "the half-made cluster is deleted")
	assert.Empty(t, m.kind.clusters)
	assert.Contains(t, err.Error(), "KubeletNotReady: cni not initialized", "the error says why the node is not Ready")
	assert.Contains(t, err.Error(), "the cluster was deleted; --retain keeps it for debugging")
	assert.NotContains(t, err.Error(), "is kept", "no cluster is left to keep")
	assert.Empty(t, m.engine.events, "nothing is installed")
	_, statErr := os.Stat(m.kubeconfig)
	assert.True(t, os.IsNotExist(statErr), "the user's kubeconfig is not written for a cluster that is gone")
}

func TestAFailedProviderFailsItsDependantsAtOnce(t *testing.T) {
	m := newMachine(t, readyNode())
	m.engine.waitErr = map[string]error{"ingress-nginx": errors.New("wait for ingress-nginx: Deployment/ingress-nginx/ingress-nginx-controller not ready")}
	sum, err := m.pipeline.Up(context.Background(), quiet(), pipeline.UpOptions{Settings: settings()})
	require.Error(t, err)
	assert.False(t, sum.Ready)
	assert.Contains(t, err.Error(), "install ingress-nginx: wait for ingress-nginx")
	assert.Contains(t, err.Error(), "install example: not installed: it needs ingress, and ingress-nginx failed")
	assert.NotContains(t, err.Error(), "install metrics-server", "an independent component still becomes ready")
	assert.Equal(t, -1, m.engine.index("apply Ingress/example/frontend-ingress"), "the Ingress is never applied")
	assert.Contains(t, err.Error(), "cluster \"kindstack\" is kept: `kindstack status --name kindstack`")
	assert.Empty(t, m.smoked, "no smoke test after a failed install")
	assert.Empty(t, m.kind.deleted, "a failed install keeps the cluster")
}

func TestUpPrunesWhatIsNoLongerWantedAndNothingElse(t *testing.T) {
	m := newMachine(t, readyNode())
	_, err := m.pipeline.Up(context.Background(), quiet(), pipeline.UpOptions{Settings: settings()})
	require.NoError(t, err)
	exampleRefs := slices.Clone(m.engine.inventory["example"])
	require.NotEmpty(t, exampleRefs)
	// An object an earlier version shipped with ingress-nginx, and one moved between components.
	stale := kube.Ref{Kind: "ConfigMap", Namespace: "ingress-nginx", Name: "ingress-nginx-old-settings"}
	m.engine.inventory["ingress-nginx"] = append(m.engine.inventory["ingress-nginx"], stale)
	m.engine.inventory["example"] = append(m.engine.inventory["example"], kube.Ref{Group: "networking.k8s.io", Kind: "IngressClass", Name: "nginx"})
	m.engine.events = nil

	s := settings()
	s = s.WithComponent("example", config.ComponentSettings{Enabled: new(bool)})
	rep, err := m.pipeline.Status(context.Background(), s)
	require.NoError(t, err, "left-over objects do not make the cluster unready")
	assert.Contains(t, rep.Leftovers, "Namespace/example", "status lists what the next up prunes")
	assert.Contains(t, rep.Leftovers, "ConfigMap/ingress-nginx/ingress-nginx-old-settings")
	assert.NotContains(t, rep.Leftovers, "IngressClass/nginx", "an object still wanted is no leftover")

	var progress bytes.Buffer
	sum, err := m.pipeline.Up(context.Background(), steps.NewRunner(&progress, steps.Options{}), pipeline.UpOptions{Settings: s})
	require.NoError(t, err)
	assert.False(t, sum.Created, "the cluster is reused")
	assert.ElementsMatch(t, append(exampleRefs, stale), m.engine.pruned, "the example's objects and the stale one are pruned; the IngressClass ingress-nginx still ships is kept")
	assert.ElementsMatch(t, []string{"ingress-nginx", "metrics-server"}, keys(m.engine.inventory), "the example is forgotten")
	assert.Contains(t, progress.String(), "✓ Prune · example removed · 13 deleted")
	assert.NotContains(t, stepNames(sum), "Smoke test through the ingress")
	for _, ev := range m.engine.events {
		assert.NotContains(t, ev, "example", "nothing of the example is applied")
	}
}

func TestUpSwitchesTheIngressControllerInPlaceAndStatusFollowsTheCluster(t *testing.T) {
	m := newMachine(t, readyNode())
	_, err := m.pipeline.Up(context.Background(), quiet(), pipeline.UpOptions{Settings: settings()})
	require.NoError(t, err)
	nginxRefs := slices.Clone(m.engine.inventory["ingress-nginx"])

	s := settings()
	s = s.WithChoice("ingress", "traefik")
	var progress bytes.Buffer
	sum, err := m.pipeline.Up(context.Background(), steps.NewRunner(&progress, steps.Options{}), pipeline.UpOptions{Settings: s})
	require.NoError(t, err)
	assert.False(t, sum.Created, "no recreate")
	class := kube.Ref{Group: "networking.k8s.io", Kind: "IngressClass", Name: "nginx"}
	assert.NotContains(t, m.engine.pruned, class, "IngressClass nginx is Traefik's now: taken over, not deleted")
	assert.Contains(t, m.engine.pruned, kube.Ref{Group: "apps", Kind: "Deployment", Namespace: "ingress-nginx", Name: "ingress-nginx-controller"})
	assert.Len(t, m.engine.pruned, len(nginxRefs)-1)
	assert.Contains(t, progress.String(), "✓ Prune · ingress: ingress-nginx → traefik · ingress-nginx removed · ")
	assert.ElementsMatch(t, []string{"traefik", "metrics-server", "example"}, keys(m.engine.inventory))
	for _, r := range m.engine.pruned {
		assert.NotEqual(t, "example", r.Namespace, "the example and its data stay")
	}

	rep, err := m.pipeline.Status(context.Background(), settings())
	require.NoError(t, err, "status without --ingress describes what the cluster runs")
	assert.Equal(t, "traefik", rep.Ingress)
	assert.Empty(t, rep.Leftovers)

	s = s.WithComponent("example", config.ComponentSettings{Options: &workloads.ExampleOptions{Route: workloads.RouteHTTPRoute}})
	m.engine.pruned = nil
	_, err = m.pipeline.Up(context.Background(), quiet(), pipeline.UpOptions{Settings: s})
	require.NoError(t, err)
	assert.Equal(t, []kube.Ref{{Group: "networking.k8s.io", Kind: "Ingress", Namespace: "example", Name: "frontend-ingress"}}, m.engine.pruned,
		"the HTTPRoute replaces the Ingress, nothing else changes")
	rep, err = m.pipeline.Status(context.Background(), settings())
	require.NoError(t, err)
	assert.Empty(t, rep.Leftovers, "status finds the HTTPRoute from the inventory")
}

func TestACRDInUseStaysRecordedUntilAnUpCanPruneIt(t *testing.T) {
	m := newMachine(t, readyNode())
	s := settings()
	s = s.WithChoice("ingress", "traefik")
	_, err := m.pipeline.Up(context.Background(), quiet(), pipeline.UpOptions{Settings: s})
	require.NoError(t, err)
	routes := kube.Ref{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition", Name: "httproutes.gateway.networking.k8s.io"}
	m.engine.inventory["traefik"] = append(m.engine.inventory["traefik"], routes) // as if fetched
	m.engine.inUse = map[kube.Ref]bool{routes: true}

	var progress bytes.Buffer
	_, err = m.pipeline.Up(context.Background(), steps.NewRunner(&progress, steps.Options{}), pipeline.UpOptions{Settings: settings()})
	require.NoError(t, err)
	assert.Contains(t, progress.String(), "kept CustomResourceDefinition/httproutes.gateway.networking.k8s.io: objects kindstack did not create still use it")
	assert.Contains(t, progress.String(), "1 CRDs kept (objects of yours use them)")
	assert.Equal(t, []kube.Ref{routes}, m.engine.inventory["traefik-kept"], "the kept CRD stays recorded")
	assert.NotContains(t, keys(m.engine.inventory), "traefik")
	rep, err := m.pipeline.Status(context.Background(), settings())
	require.NoError(t, err)
	assert.Equal(t, "ingress-nginx", rep.Ingress, "a kept CRD does not make the cluster a Traefik one")
	assert.Contains(t, rep.Leftovers, "CustomResourceDefinition/httproutes.gateway.networking.k8s.io")

	m.engine.inUse = nil
	progress.Reset()
	_, err = m.pipeline.Up(context.Background(), steps.NewRunner(&progress, steps.Options{}), pipeline.UpOptions{Settings: settings()})
	require.NoError(t, err)
	assert.Contains(t, progress.String(), "✓ Prune · traefik-kept removed · 1 deleted")
	assert.NotContains(t, keys(m.engine.inventory), "traefik-kept")
}

func TestUpWithoutWaitAppliesEverythingAndWaitsForNothing(t *testing.T) {
	m := newMachine(t, readyNode())
	s := settings()
	s.Wait = false
	var progress bytes.Buffer
	sum, err := m.pipeline.Up(context.Background(), steps.NewRunner(&progress, steps.Options{}), pipeline.UpOptions{Settings: s})
	require.NoError(t, err, progress.String())
	assert.False(t, sum.Ready, "nothing was checked ready")
	assert.False(t, sum.Waited)
	assert.True(t, sum.Created)
	assert.NotContains(t, stepNames(sum), "Smoke test through the ingress")
	assert.Equal(t, []string{"http://localhost:18080/", "http://localhost:18080/api/healthy"}, sum.URLs, "where the example will answer")
	for _, ev := range m.engine.events {
		assert.False(t, strings.HasPrefix(ev, "ready "), "no component is waited for: %s", ev)
	}
	assert.Contains(t, progress.String(), "✓ Install example · ")
	assert.Contains(t, progress.String(), ", not waited for")

	_, out, err := runCLI(t, m, "up", "--wait=false", "--http-port", "18080", "--https-port", "18443")
	require.NoError(t, err)
	assert.Contains(t, out, `Cluster "kindstack" is up and its components are applied, not waited for (`)
	assert.Contains(t, out, "`kindstack status --name kindstack` says when they are ready")
	up, _, err := runCLI(t, m, "up", "-o", "json", "--wait=false", "--http-port", "18080", "--https-port", "18443")
	require.NoError(t, err)
	assert.Equal(t, false, up["waited"])
	assert.Equal(t, false, up["ready"])
	e := m.engine
	ingress, webhook := e.index("apply Ingress/example/frontend-ingress"), e.index("apply ValidatingWebhookConfiguration/ingress-nginx-admission")
	require.NotEqual(t, -1, ingress, e.events)
	assert.Greater(t, ingress, webhook, "the Ingress still goes in after all of its controller is applied")
}

func TestUpWarnsOnceThatIngressNginxIsUntestedAfterKubernetes135(t *testing.T) {
	for _, tt := range []struct {
		image, ingress string
		warns          bool
	}{
		{"kindest/node:v1.37.0", "nginx", true},
		{"kindest/node:v1.35.8@sha256:07b2536e0e4b4bc1ba6c1ecb4ba7d2c8d2ae21e8a4b3b8b7e8f2a5a43f8d9c1e", "nginx", false},
		{"kindest/node:v1.37.0", "traefik", false},
	} {
		m := newMachine(t, readyNode())
		s := settings()
		s.NodeImage = tt.image
		s = s.WithChoice("ingress", tt.ingress)
		var progress bytes.Buffer
		_, err := m.pipeline.Up(context.Background(), steps.NewRunner(&progress, steps.Options{}), pipeline.UpOptions{Settings: s})
		require.NoError(t, err)
		warning := "ingress-nginx is tested up to Kubernetes 1.35, not on 1.37: it is retired (its last release, v1.15.1, is tested up to Kubernetes 1.35); " +
			"`--ingress traefik` installs Traefik, which serves the same Ingresses and the Gateway API (node image kindest/node:v1.37.0)"
		if tt.warns {
			assert.Equal(t, 1, strings.Count(progress.String(), warning), "%s with %s warns once\n%s", tt.image, tt.ingress, progress.String())
		} else {
			assert.NotContains(t, progress.String(), "ingress-nginx is tested up to", "%s with %s", tt.image, tt.ingress)
		}
	}
}

func TestPreflightRejectsAnImagesKeyThatMatchesNothingBeforeAnyChange(t *testing.T) {
	m := newMachine(t, readyNode())
	s := settings()
	s.Images = map[string]string{"lyzhang1999/frontnd:latest": "mirror.example.com/frontend:latest"}
	_, err := m.pipeline.Up(context.Background(), quiet(), pipeline.UpOptions{Settings: s})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "lyzhang1999/frontnd:latest matches no image kindstack installs")
	assert.Contains(t, err.Error(), "lyzhang1999/frontend:latest", "the message lists the images that can be replaced")
	assert.Empty(t, m.kind.clusters, "nothing was created")

	s.Images = map[string]string{"lyzhang1999/frontend:latest": "mirror.example.com/frontend:latest"}
	_, err = m.pipeline.Sets(context.Background(), s)
	assert.NoError(t, err)
}

// The e2e test bed's config must keep replacing every image kindstack installs: an image it
// misses would be pulled, which cannot work offline.
func TestAirgapConfigReplacesEveryImage(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "e2e", "testdata", "airgap.yaml"))
	require.NoError(t, err)
	var file struct {
		Images map[string]string `json:"images"`
	}
	require.NoError(t, yaml.Unmarshal(data, &file))
	s := config.Defaults()
	s.Images = file.Images
	sets, err := (&pipeline.Pipeline{Catalogue: catalogue.All()}).Sets(context.Background(), s)
	require.NoError(t, err)
	s = s.WithChoice("ingress", "traefik")
	withTraefik, err := (&pipeline.Pipeline{Catalogue: catalogue.All()}).Sets(context.Background(), s)
	require.NoError(t, err)
	sets = append(sets, withTraefik...)
	require.Len(t, sets, 6)
	for _, set := range sets {
		used, err := transform.ContainerImages(set.Objects)
		require.NoError(t, err)
		for _, img := range used {
			assert.True(t, strings.HasPrefix(img, "kindstack.test/"), "%s runs %s, which the test bed does not build", set.Name, img)
		}
	}
}

func TestBaseURLIsWhatABrowserOnThisMachineOpens(t *testing.T) {
	tests := []struct {
		listen string
		port   int
		want   string
	}{
		{"127.0.0.1", 80, "http://localhost"},
		{"", 80, "http://localhost"},
		{"0.0.0.0", 8080, "http://localhost:8080"},
		{"::1", 8080, "http://localhost:8080"},
		{"::", 80, "http://localhost"},
		{"192.168.1.20", 80, "http://192.168.1.20"},
		{"192.168.1.20", 8080, "http://192.168.1.20:8080"},
		{"fd00::1", 8080, "http://[fd00::1]:8080"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, pipeline.BaseURL(tt.listen, tt.port), "listen %q port %d", tt.listen, tt.port)
	}
}

// runCLI runs the command line against the machine, as main does, and returns stdout and the error.
func runCLI(t *testing.T, m *machine, args ...string) (map[string]any, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	app := cli.New(cli.Options{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }, Pipeline: m.pipeline})
	err := app.RunContext(context.Background(), append([]string{"kindstack"}, args...))
	var out map[string]any
	if strings.HasPrefix(strings.TrimSpace(stdout.String()), "{") {
		require.NoError(t, json.Unmarshal(stdout.Bytes(), &out), stdout.String())
	}
	return out, stdout.String(), err
}

func TestJSONShapesOfUpStatusAndDown(t *testing.T) {
	m := newMachine(t, readyNode())

	up, _, err := runCLI(t, m, "up", "-o", "json", "--http-port", "18080", "--https-port", "18443")
	require.NoError(t, err)
	for _, key := range []string{"name", "ready", "waited", "created", "context", "kubeconfig", "urls", "seconds", "timings"} {
		assert.Contains(t, up, key, "up -o json")
	}
	assert.Equal(t, true, up["ready"])
	assert.Equal(t, true, up["waited"])
	assert.NotContains(t, up, "error")

	status, _, err := runCLI(t, m, "status", "-o", "json")
	require.NoError(t, err)
	assert.Equal(t, true, status["ready"])
	assert.Len(t, status["components"], 3)
	assert.Equal(t, true, status["cluster"].(map[string]any)["exists"])
	assert.NotContains(t, status, "leftovers", "nothing is left over")

	down, _, err := runCLI(t, m, "down", "-o", "json")
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"name": "kindstack", "deleted": true}, without(down, "timings"))

	down, _, err = runCLI(t, m, "down", "-o", "json")
	require.NoError(t, err, "down of a missing cluster succeeds")
	assert.Equal(t, false, down["deleted"], "nothing existed, so nothing was deleted")

	status, _, err = runCLI(t, m, "status", "-o", "json")
	require.Error(t, err, "status of a missing cluster fails (exit 1)")
	assert.Equal(t, `cluster "kindstack" does not exist; run `+"`kindstack up`"+` to create it`, err.Error())
	var usage *cli.UsageError
	assert.False(t, errors.As(err, &usage), "a missing cluster is not a usage error")
	assert.Equal(t, false, status["cluster"].(map[string]any)["exists"])
	assert.Equal(t, false, status["ready"])
}

func without(m map[string]any, key string) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		if k != key {
			out[k] = v
		}
	}
	return out
}

func TestFailedUpPrintsItsSummaryAndExitsWithTheError(t *testing.T) {
	m := newMachine(t)
	m.kind.createErr = errors.New(`command "docker run --name kindstack-control-plane" failed with error: exit status 125`)
	up, _, err := runCLI(t, m, "up", "-o", "json", "--http-port", "18080", "--https-port", "18443")
	require.Error(t, err)
	assert.Equal(t, false, up["ready"])
	assert.Contains(t, up["error"], "create cluster \"kindstack\": command \"docker run")
	assert.Equal(t, []any{}, up["urls"])

	_, _, err = runCLI(t, m, "up", "--bogus")
	var usage *cli.UsageError
	assert.True(t, errors.As(err, &usage), "an unknown flag is a usage error (exit 2): %v", err)
}

// Switching components off prunes those that need a capability before the one providing it.
func TestPruneGoesDependantsFirst(t *testing.T) {
	m := newMachine(t, readyNode())
	_, err := m.pipeline.Up(context.Background(), quiet(), pipeline.UpOptions{Settings: settings()})
	require.NoError(t, err)
	exampleRefs, ingressRefs := m.engine.inventory["example"], m.engine.inventory["ingress-nginx"]
	m.engine.inventory["retired-addon"] = []kube.Ref{{Kind: "ConfigMap", Namespace: "kube-system", Name: "retired"}}

	// A catalogue where only metrics-server is still wanted: the others became optional and are off.
	s := settings()
	for i := range m.pipeline.Catalogue {
		if c := &m.pipeline.Catalogue[i]; c.Name != "metrics-server" {
			c.Alternative, c.Optional = nil, true
			s = s.WithComponent(c.Name, config.ComponentSettings{Enabled: new(bool)})
		}
	}
	_, err = m.pipeline.Up(context.Background(), quiet(), pipeline.UpOptions{Settings: s})
	require.NoError(t, err)
	require.Len(t, m.engine.pruneCalls, 3)
	assert.Equal(t, []kube.Ref{{Kind: "ConfigMap", Namespace: "kube-system", Name: "retired"}}, m.engine.pruneCalls[0], "a component the catalogue no longer has goes first")
	assert.ElementsMatch(t, exampleRefs, m.engine.pruneCalls[1], "the example needs ingress: it goes before ingress-nginx")
	assert.ElementsMatch(t, ingressRefs, m.engine.pruneCalls[2])
	assert.ElementsMatch(t, []string{"metrics-server"}, keys(m.engine.inventory))
}

func TestUpKeepContextLeavesTheCurrentContext(t *testing.T) {
	m := newMachine(t, readyNode())
	require.NoError(t, os.MkdirAll(filepath.Dir(m.kubeconfig), 0o700))
	require.NoError(t, os.WriteFile(m.kubeconfig, []byte("apiVersion: v1\nkind: Config\ncurrent-context: work\n"), 0o600))
	_, _, err := runCLI(t, m, "up", "--keep-context", "-q", "--http-port", "18080", "--https-port", "18443")
	require.NoError(t, err)
	kc, err := os.ReadFile(m.kubeconfig)
	require.NoError(t, err)
	assert.Contains(t, string(kc), "name: kind-kindstack", "the context is added")
	assert.Contains(t, string(kc), "current-context: work", "and the user's stays current")
}

func TestListAndKubeconfig(t *testing.T) {
	m := newMachine(t, readyNode())
	_, out, err := runCLI(t, m, "list")
	require.NoError(t, err)
	assert.Equal(t, "No kindstack clusters.\n", out)

	_, _, err = runCLI(t, m, "up", "-q", "--http-port", "18080", "--https-port", "18443")
	require.NoError(t, err)
	_, out, err = runCLI(t, m, "list")
	require.NoError(t, err)
	assert.Equal(t, "NAME       STATE    CONTEXT\nkindstack  running  kind-kindstack\n", out)
	var listed []cluster.ClusterInfo
	_, out, err = runCLI(t, m, "list", "-o", "json")
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal([]byte(out), &listed))
	require.Len(t, listed, 1)
	assert.Equal(t, 18080, listed[0].Spec.HTTPPort, "list shows the spec kindstack created it with")

	m.kind.clusters = append(m.kind.clusters, "colleague")
	_, out, err = runCLI(t, m, "list")
	require.NoError(t, err)
	assert.NotContains(t, out, "colleague", "kind clusters kindstack did not create are not listed")

	_, out, err = runCLI(t, m, "kubeconfig")
	require.NoError(t, err)
	assert.Contains(t, out, "current-context: kind-kindstack", "the cluster's own kubeconfig is printed")
	kc, err := os.ReadFile(m.kubeconfig)
	require.NoError(t, err)
	assert.NotEqual(t, out, string(kc), "printed, not merged")

	m.kind.clusters = slices.DeleteFunc(m.kind.clusters, func(c string) bool { return c == "kindstack" })
	_, _, err = runCLI(t, m, "kubeconfig", "--name", "kindstack")
	assert.EqualError(t, err, `cluster "kindstack" does not exist; run `+"`kindstack up`"+` to create it`)
	_, out, err = runCLI(t, m, "list")
	require.NoError(t, err)
	assert.Contains(t, out, "kindstack  missing (deleted outside kindstack)")
}

// The example's autoscalers are applied with its Deployments, so the HPA controller evaluates them
// from the start; the example is still ready only once metrics-server is, and fails as soon as
// metrics-server does, while its own wait still runs.
func TestAutoscalersGoInAtOnceAndTheExampleIsReadyOnlyWithMetrics(t *testing.T) {
	m := newMachine(t, readyNode())
	metrics := make(chan struct{})
	m.engine.waitFor = map[string]chan struct{}{"metrics-server": metrics}
	applied := make(chan struct{})
	go func() {
		defer close(metrics)
		defer close(applied)
		for range 500 {
			m.engine.mu.Lock()
			i := m.engine.index("apply HorizontalPodAutoscaler/example/backend")
			m.engine.mu.Unlock()
			if i >= 0 {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	_, err := m.pipeline.Up(context.Background(), quiet(), pipeline.UpOptions{Settings: settings()})
	<-applied
	require.NoError(t, err)
	e := m.engine
	hpa, metricsReady := e.index("apply HorizontalPodAutoscaler/example/backend"), e.index("ready metrics-server")
	require.NotEqual(t, -1, hpa, e.events)
	assert.Less(t, hpa, metricsReady, "the autoscaler is applied while metrics-server is not ready yet: %v", e.events)

	// metrics-server fails while the example still waits: the example fails at once, saying why.
	m = newMachine(t, readyNode())
	never := make(chan struct{})
	m.engine.waitFor = map[string]chan struct{}{"example": never}
	m.engine.waitErr = map[string]error{"metrics-server": errors.New("APIService/v1beta1.metrics.k8s.io not ready")}
	start := time.Now()
	_, err = m.pipeline.Up(context.Background(), quiet(), pipeline.UpOptions{Settings: settings()})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "install example: not installed: it needs metrics, and metrics-server failed")
	assert.Less(t, time.Since(start), 30*time.Second, "it does not wait out the budget")
	assert.Contains(t, m.engine.events, "wait example stopped")
}

func TestInGitHubActionsUpWritesTheJobSummaryAndAnnotatesWhatIsNotReady(t *testing.T) {
	m := newMachine(t, readyNode())
	m.engine.waitErr = map[string]error{"metrics-server": fmt.Errorf("wait for metrics-server: %w", errors.Join(
		errors.New("wait for metrics-server: timed out after 5m0s with 1 of 10 still not ready"),
		&kube.NotReadyError{Name: "APIService/v1beta1.metrics.k8s.io", Reason: "Available=False (FailedDiscoveryCheck): no response, 50%", Details: []string{"pod metrics-server-x: Running, Ready=False"}},
	))}
	summary := filepath.Join(t.TempDir(), "summary.md")
	env := map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": summary}
	var stdout, stderr bytes.Buffer
	app := cli.New(cli.Options{Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return env[k] }, Pipeline: m.pipeline})
	err := app.RunContext(context.Background(), []string{"kindstack", "up", "-o", "json", "--http-port", "18080", "--https-port", "18443"})
	require.Error(t, err)

	assert.Contains(t, stderr.String(),
		"\n::error title=kindstack%3A APIService/v1beta1.metrics.k8s.io not ready::Available=False (FailedDiscoveryCheck): no response, 50%25%0Apod metrics-server-x: Running, Ready=False\n",
		"one annotation per unready object, escaped as workflow commands want")
	assert.Contains(t, stderr.String(), "\n::error title=kindstack up failed::install example: not installed: it needs metrics, and metrics-server failed\n",
		"the example failing because metrics-server did is annotated too")
	assert.Equal(t, 2, strings.Count(stderr.String(), "::error "), stderr.String())
	var sum map[string]any
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &sum), "stdout stays pure JSON: %s", stdout.String())

	md, err := os.ReadFile(summary)
	require.NoError(t, err)
	assert.Contains(t, string(md), "### kindstack up `kindstack`: failed in ")
	assert.Contains(t, string(md), "| step | seconds | result |\n| --- | ---: | --- |\n| Preflight | ")
	assert.Contains(t, string(md), "| Install components/Install metrics-server | ")
	assert.Contains(t, string(md), "| ✗ install metrics-server: wait for metrics-server: wait for metrics-server: timed out after 5m0s with 1 of 10 still not ready |")

	// Outside GitHub Actions nothing of this is written, even with the variable set.
	m2 := newMachine(t, readyNode())
	m2.engine.waitErr = m.engine.waitErr
	other := filepath.Join(t.TempDir(), "summary.md")
	stderr.Reset()
	app = cli.New(cli.Options{Stdout: io.Discard, Stderr: &stderr, Getenv: func(k string) string { return map[string]string{"GITHUB_STEP_SUMMARY": other}[k] }, Pipeline: m2.pipeline})
	require.Error(t, app.RunContext(context.Background(), []string{"kindstack", "up", "--http-port", "18080", "--https-port", "18443"}))
	assert.NotContains(t, stderr.String(), "::error")
	assert.NoFileExists(t, other)
}

// archiveNames lists the files of a .tar.gz.
func archiveNames(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	gz, err := gzip.NewReader(f)
	require.NoError(t, err)
	tr := tar.NewReader(gz)
	out := map[string]string{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		data, err := io.ReadAll(tr)
		require.NoError(t, err)
		out[hdr.Name] = string(data)
	}
}

func TestLogsCollectWhatABugReportNeeds(t *testing.T) {
	m := newMachine(t, readyNode())
	m.engine.waitErr = map[string]error{"metrics-server": errors.New("APIService/v1beta1.metrics.k8s.io not ready")}
	diag := filepath.Join(t.TempDir(), "diag")
	_, _, err := runCLI(t, m, "up", "-q", "--diagnostics", diag, "--http-port", "18080", "--https-port", "18443")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "`kindstack logs --name kindstack` collects diagnostics for a bug report")
	assert.Contains(t, err.Error(), "diagnostics written to "+diag, "--diagnostics makes up collect them itself")
	assert.FileExists(t, filepath.Join(diag, "components", "metrics-server.txt"))

	archive := filepath.Join(t.TempDir(), "report.tar.gz")
	_, out, err := runCLI(t, m, "logs", "--archive", archive)
	require.NoError(t, err)
	assert.Equal(t, archive+"\n", out, "logs prints where it wrote")
	files := archiveNames(t, archive)
	var names []string
	for n := range files {
		names = append(names, n)
	}
	assert.ElementsMatch(t, []string{
		"report/kindstack.txt", "report/status.json",
		"report/components/ingress-nginx.txt", "report/components/metrics-server.txt", "report/components/example.txt",
		"report/pods/kube-system_metrics-server-x_main.previous.log",
		"report/events/example.txt", "report/events/ingress-nginx.txt", "report/events/kube-system.txt",
		"report/nodes/kindstack-control-plane/kubelet.log",
	}, names)
	assert.Contains(t, files["report/kindstack.txt"], "kindstack test\ncluster kindstack\n")
	assert.Contains(t, files["report/kindstack.txt"], "stored spec: {Name:kindstack")
	assert.Contains(t, files["report/components/metrics-server.txt"], "NOT READY  APIService/v1beta1.metrics.k8s.io not ready")
	assert.Contains(t, files["report/pods/kube-system_metrics-server-x_main.previous.log"], "panic: cannot reach the kubelet")
	var status pipeline.StatusReport
	require.NoError(t, json.Unmarshal([]byte(files["report/status.json"]), &status))
	assert.True(t, status.Cluster.Exists)

	_, _, err = runCLI(t, m, "logs", "--archive", "report.zip")
	var usage *cli.UsageError
	assert.ErrorAs(t, err, &usage)
}

func TestDoctorChecksTheRegistriesTheStackPullsFrom(t *testing.T) {
	m := newMachine(t, readyNode())
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	port := strconv.Itoa(busy.Addr().(*net.TCPAddr).Port)
	m.pipeline.Cluster.Listen = net.Listen

	rep, out, err := runCLI(t, m, "doctor", "-o", "json", "--http-port", port, "--https-port", "18443")
	require.Error(t, err, "a busy port fails doctor")
	assert.Equal(t, "doctor: 1 of "+strconv.Itoa(len(rep["checks"].([]any)))+" checks failed", err.Error())
	assert.Equal(t, false, rep["ok"])
	verdicts := map[string]string{}
	for _, c := range rep["checks"].([]any) {
		m := c.(map[string]any)
		verdicts[m["name"].(string)] = m["verdict"].(string)
	}
	assert.Equal(t, "fail", verdicts["host port "+port], out)
	assert.Equal(t, "ok", verdicts["registry registry.k8s.io"], "the add-ons' registry")
	assert.Equal(t, "warn", verdicts["registry registry-1.docker.io"], "Docker Hub: the node image and the example's images")
	assert.Equal(t, "ok", verdicts["container engine"])

	_, text, err := runCLI(t, m, "doctor", "--http-port", "18080", "--https-port", "18443")
	require.NoError(t, err, "warnings alone do not fail doctor")
	assert.Contains(t, text, "warn  registry registry-1.docker.io")
	assert.Contains(t, text, "→ images from it can only come from a mirror")

	// The make run line: Docker Hub does not answer, so make run would build the images, unless
	// its mirror (from the flags, through the settings) answers.
	cache := t.TempDir()
	getenv := m.pipeline.Cluster.Getenv
	m.pipeline.Cluster.Getenv = func(k string) string {
		if k == "KINDSTACK_TESTBED_DIR" {
			return cache
		}
		return getenv(k)
	}
	_, text, err = runCLI(t, m, "doctor", "--http-port", "18080", "--https-port", "18443")
	require.NoError(t, err)
	assert.Contains(t, text, "warn  make run")
	assert.Contains(t, text, "engine: yours (docker 28.2.2); images: built from source, as no registry or mirror answers for registry-1.docker.io; not built yet")
	_, text, err = runCLI(t, m, "doctor", "--http-port", "18080", "--https-port", "18443", "--registry-mirror", "docker.io=https://mirror.test")
	require.NoError(t, err)
	assert.Contains(t, text, "ok    make run")
	assert.Contains(t, text, "images: pulled (registry-1.docker.io, registry.k8s.io answer)")
}

func TestImagesListNamesEveryImageUpRunsAndItsMirrors(t *testing.T) {
	m := newMachine(t, readyNode())
	_, out, err := runCLI(t, m, "images", "list", "-o", "json", "--ingress", "traefik",
		"--registry-mirror", "docker.io=https://docker.m.daocloud.io", "--registry-mirror", "registry.k8s.io=https://k8s.m.daocloud.io")
	require.NoError(t, err)
	var list []pipeline.ImageInfo
	require.NoError(t, json.Unmarshal([]byte(out), &list), out)
	byImage := map[string]pipeline.ImageInfo{}
	for _, img := range list {
		byImage[img.Image] = img
	}
	require.NotEmpty(t, list)
	assert.Equal(t, "node", list[0].Component, "the node image comes first")
	assert.Equal(t, nodeimage.Default, list[0].Image)
	assert.Equal(t, []string{"docker.m.daocloud.io/" + nodeimage.Default}, list[0].Mirrors, "the node image goes through the docker.io mirror, digest kept")
	pg := byImage["postgres:17-alpine"]
	assert.Equal(t, "example", pg.Component)
	assert.Equal(t, []string{"docker.m.daocloud.io/library/postgres:17-alpine"}, pg.Mirrors)
	var traefik, nginx bool
	for _, img := range list {
		traefik = traefik || img.Component == "traefik" && img.Digest && strings.HasPrefix(img.Image, "docker.io/library/traefik:")
		nginx = nginx || img.Component == "ingress-nginx"
		if strings.HasPrefix(img.Image, "registry.k8s.io/") {
			assert.True(t, strings.HasPrefix(img.Mirrors[0], "k8s.m.daocloud.io/"), img.Image)
		}
	}
	assert.True(t, traefik, "Traefik's digest-pinned image is listed")
	assert.False(t, nginx, "the settings choose Traefik: ingress-nginx's images are not run")

	_, text, err := runCLI(t, m, "images", "list", "--config", writeFile(t, "images:\n  postgres:17-alpine: mirror.local/postgres:17\n"))
	require.NoError(t, err)
	assert.Contains(t, text, "mirror.local/postgres:17")
	assert.NotContains(t, text, "postgres:17-alpine", "after the images map")
}

// writeFile writes a Stack config file with body after its apiVersion and kind.
func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kindstack.yaml")
	require.NoError(t, os.WriteFile(p, []byte("apiVersion: kindstack.dev/v1alpha1\nkind: Stack\n"+body), 0o644))
	return p
}

// The admission webhook's certificate is made by the first up and kept by every later one (the
// Secret applied again is the same, so nothing changes), and the webhook trusts its CA.
func TestUpMakesTheWebhookCertificateOnceAndKeepsIt(t *testing.T) {
	m := newMachine(t, readyNode())
	_, err := m.pipeline.Up(context.Background(), quiet(), pipeline.UpOptions{Settings: settings()})
	require.NoError(t, err)
	first := m.engine.secrets["ingress-nginx/ingress-nginx-admission"]
	require.NotEmpty(t, first["cert"], "the Secret the controller mounts is filled")
	for _, e := range m.engine.events {
		assert.NotContains(t, e, "Job/", "no certgen Job")
	}
	vwc := m.engine.applied[kube.Ref{Group: "admissionregistration.k8s.io", Kind: "ValidatingWebhookConfiguration", Name: "ingress-nginx-admission"}]
	require.NotNil(t, vwc)
	hooks, _, _ := unstructured.NestedSlice(vwc.Object, "webhooks")
	bundle, _, _ := unstructured.NestedString(hooks[0].(map[string]any), "clientConfig", "caBundle")
	assert.Equal(t, base64.StdEncoding.EncodeToString(first["ca"]), bundle)

	_, err = m.pipeline.Up(context.Background(), quiet(), pipeline.UpOptions{Settings: settings()})
	require.NoError(t, err)
	assert.Equal(t, first, m.engine.secrets["ingress-nginx/ingress-nginx-admission"], "the second up keeps the certificate")
}

// A cluster deleted outside kindstack and made again under its name has other node containers:
// this machine's record of the first one does not let `down` delete it without --force.
func TestDownLeavesAClusterMadeAgainUnderTheNameAlone(t *testing.T) {
	m := newMachine(t, readyNode())
	mgr := m.pipeline.Cluster
	nodeID := "c0ffee"
	run := mgr.Run
	mgr.Run = func(ctx context.Context, name string, args ...string) ([]byte, error) {
		if len(args) > 0 && args[0] == "ps" && slices.Contains(args, "--no-trunc") {
			return []byte(nodeID + "\n"), nil
		}
		return run(ctx, name, args...)
	}
	_, err := m.pipeline.Up(context.Background(), quiet(), pipeline.UpOptions{Settings: settings()})
	require.NoError(t, err)

	nodeID = "deadbeef" // `kind create cluster --name kindstack`, its node not answering yet
	mgr.NewClient = func([]byte) (kubernetes.Interface, error) { return nil, errors.New("connection refused") }
	_, err = m.pipeline.Down(context.Background(), quiet(), settings())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "its node containers are not the ones recorded (deadbeef is new), so the cluster was made again since")
	assert.Contains(t, err.Error(), "pass --force to delete it anyway")
	assert.Equal(t, []string{"kindstack"}, m.kind.clusters, "the other cluster is left alone")

	nodeID = "c0ffee" // the very cluster up made
	_, err = m.pipeline.Down(context.Background(), quiet(), settings())
	require.NoError(t, err, "the record speaks for the cluster it recorded")
	assert.Empty(t, m.kind.clusters)
}
