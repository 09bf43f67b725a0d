//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

// upTimeout is the --timeout of every up that is meant to succeed.
const upTimeout = 15 * time.Minute

func baseURL(w *world) string { return "http://127.0.0.1:" + strconv.Itoa(w.httpPort) }

func testUpFromNothing(t *testing.T, w *world) {
	// --no-wait: the killed run's lock must not be stale.
	r, sum := w.up(t, "up", w.config, upTimeout, "--no-wait")
	require.Equal(t, 0, r.code, "%s", r)
	assert.True(t, sum.Ready, "JSON ready")
	assert.True(t, sum.Created, "JSON created: the cluster did not exist")
	assert.Equal(t, "kind-"+w.name, sum.Context)
	assert.Contains(t, r.stderr, "was left half-created by an interrupted kindstack", "up says it replaces the killed run's cluster")
	assertStackWorks(t, w)
}

// assertStackWorks checks what a user of a ready stack notices.
func assertStackWorks(t *testing.T, w *world) {
	t.Helper()
	cs := w.clientset(t)
	ctx := context.Background()

	// The node with the host ports carries ingress-ready=true, and the controller runs there.
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "ingress-ready=true"})
	require.NoError(t, err)
	require.Len(t, nodes.Items, 1, "nodes labelled ingress-ready=true")
	node := nodes.Items[0].Name
	ns, selector := "ingress-nginx", "app.kubernetes.io/component=controller"
	if w.ingress == "traefik" {
		ns, selector = "traefik", "app.kubernetes.io/name=traefik"
	}
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	require.NoError(t, err)
	require.NotEmpty(t, pods.Items, "%s controller pods", ns)
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			assert.Equal(t, corev1.PodRunning, p.Status.Phase, "controller pod %s", p.Name)
			assert.Equal(t, node, p.Spec.NodeName, "controller pod %s runs on the labelled node", p.Name)
		}
	}

	// The app through the host port, from this process, as a browser would.
	base := baseURL(w)
	status, body := httpDo(t, http.MethodGet, base+"/api/healthy", "")
	require.Equal(t, http.StatusOK, status, "GET /api/healthy: %s", body)
	assert.JSONEq(t, `{"healthy":true}`, body, "GET /api/healthy")
	text := fmt.Sprintf("e2e-%d", time.Now().UnixNano())
	status, body = httpDo(t, http.MethodPost, base+"/api/add", fmt.Sprintf(`{"text":%q}`, text))
	require.Equal(t, http.StatusCreated, status, "POST /api/add: %s", body)
	status, body = httpDo(t, http.MethodGet, base+"/api/fetch", "")
	require.Equal(t, http.StatusOK, status, "GET /api/fetch: %s", body)
	assert.Contains(t, body, text, "GET /api/fetch lists the text just added")
	status, body = httpDo(t, http.MethodGet, base+"/", "")
	require.Equal(t, http.StatusOK, status, "GET /")
	assert.Contains(t, body, `<div id="root">`, "GET / serves the React page")

	// metrics.k8s.io serves node and pod metrics.
	rc := cs.CoreV1().RESTClient()
	raw, err := rc.Get().AbsPath("/apis/metrics.k8s.io/v1beta1/nodes").DoRaw(ctx)
	require.NoError(t, err, "GET /apis/metrics.k8s.io/v1beta1/nodes")
	assert.Contains(t, metricNames(t, raw), node, "node metrics")
	var podMetrics []string
	deadline := time.Now().Add(2 * time.Minute)
	for {
		raw, err = rc.Get().AbsPath("/apis/metrics.k8s.io/v1beta1/namespaces/example/pods").DoRaw(ctx)
		if err == nil {
			podMetrics = metricNames(t, raw)
		}
		if len(podMetrics) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Second)
	}
	require.NoError(t, err, "GET pod metrics of namespace example")
	assert.NotEmpty(t, podMetrics, "pod metrics of namespace example within 2m")
	t.Logf("metrics for pods: %s", strings.Join(podMetrics, ", "))

	// Both autoscalers see their metrics.
	for _, name := range []string{"backend", "frontend"} {
		hpa, err := cs.AutoscalingV2().HorizontalPodAutoscalers("example").Get(ctx, name, metav1.GetOptions{})
		require.NoError(t, err, "HPA %s", name)
		active := false
		for _, c := range hpa.Status.Conditions {
			if c.Type == "ScalingActive" {
				active = c.Status == corev1.ConditionTrue
				assert.True(t, active, "HPA %s ScalingActive: %s %s", name, c.Reason, c.Message)
			}
		}
		assert.True(t, active, "HPA %s has condition ScalingActive=True", name)
		assert.NotEmpty(t, hpa.Status.CurrentMetrics, "HPA %s currentMetrics", name)
	}
}

func metricNames(t *testing.T, raw []byte) []string {
	t.Helper()
	var list struct {
		Items []struct {
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		} `json:"items"`
	}
	require.NoError(t, json.Unmarshal(raw, &list), "metrics list: %s", raw)
	var names []string
	for _, it := range list.Items {
		names = append(names, it.Metadata.Name)
	}
	return names
}

func httpDo(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	require.NoError(t, err, "%s %s", method, url)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(b)
}

// installLine matches a finished install line, e.g. "  ✓ Install example · 12 unchanged, ready (3.1s)".
var installLine = regexp.MustCompile(`✓ Install (ingress-nginx|traefik|metrics-server|example) · (.*) \(`)

// testUpAgain: up on the ready stack changes nothing, and the row the user added (text) is kept.
func testUpAgain(t *testing.T, w *world, text string) {
	r, sum := w.up(t, "up", w.config, upTimeout)
	require.Equal(t, 0, r.code, "%s", r)
	assert.True(t, sum.Ready)
	assert.False(t, sum.Created, "the existing cluster is reused")
	assert.Contains(t, r.stderr, "exists, unchanged", "cluster step")
	found := installLine.FindAllStringSubmatch(r.stderr, -1)
	assert.Len(t, found, 3, "one ✓ Install line per component\n%s", r.stderr)
	for _, m := range found {
		assert.Contains(t, m[2], "unchanged", "Install %s", m[1])
		assert.NotContains(t, m[2], "created", "Install %s", m[1])
		assert.NotContains(t, m[2], "configured", "Install %s", m[1])
	}
	t.Logf("second up took %.1fs (command %s)", sum.Seconds, r.duration.Round(time.Millisecond))
	assert.Contains(t, rows(t, w), text, "the user's row is still there after up")
}

func component(rep statusReport, name string) (bool, string, bool) {
	for _, c := range rep.Components {
		if c.Name == name {
			return c.Ready, c.Reason, true
		}
	}
	return false, "", false
}

func testStatusAndRepair(t *testing.T, w *world) {
	r, rep := w.status(t)
	require.Equal(t, 0, r.code, "%s", r)
	assert.True(t, rep.Ready)
	for _, name := range []string{w.ingressComponent(), "metrics-server", "example"} {
		ready, reason, ok := component(rep, name)
		assert.True(t, ok, "status lists %s", name)
		assert.True(t, ready, "%s ready: %s", name, reason)
	}

	cs := w.clientset(t)
	ctx := context.Background()
	require.NoError(t, cs.AppsV1().Deployments("example").Delete(ctx, "backend", metav1.DeleteOptions{}))

	r, rep = w.status(t)
	assert.NotEqual(t, 0, r.code, "status of a broken stack exits non-zero\n%s", r)
	assert.False(t, rep.Ready)
	ready, reason, ok := component(rep, "example")
	require.True(t, ok, "status lists example")
	assert.False(t, ready, "example is not ready without its backend")
	assert.Contains(t, reason, "backend", "status says what is missing")

	r, sum := w.up(t, "up", w.config, upTimeout)
	require.Equal(t, 0, r.code, "up repairs the stack\n%s", r)
	assert.True(t, sum.Ready)
	assertDeploymentAvailable(t, cs, "backend")
}

func assertDeploymentAvailable(t *testing.T, cs kubernetes.Interface, name string) {
	t.Helper()
	d, err := cs.AppsV1().Deployments("example").Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(t, err, "Deployment example/%s", name)
	available := false
	for _, c := range d.Status.Conditions {
		available = available || (c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue)
	}
	assert.True(t, available, "Deployment example/%s Available", name)
}

// missingImage is an image no registry has, reachable or not.
func missingImage() string {
	if os.Getenv("KINDSTACK_E2E_CONFIG") != "" {
		return "kindstack.test/does-not-exist:v0"
	}
	return "ghcr.io/kindstack/does-not-exist:v0"
}

// brokenConfig writes the test's config with the frontend image pointing at a missing image.
func brokenConfig(t *testing.T, w *world) string {
	t.Helper()
	return editedConfig(t, w, "missing-image.yaml", func(stack map[string]any) {
		images, _ := stack["images"].(map[string]any)
		if images == nil {
			images = map[string]any{}
		}
		images["lyzhang1999/frontend:latest"] = missingImage()
		stack["images"] = images
	})
}

// editedConfig writes the world's config (or an empty Stack) as file, after edit.
func editedConfig(t *testing.T, w *world, file string, edit func(stack map[string]any)) string {
	t.Helper()
	stack := map[string]any{"apiVersion": "kindstack.dev/v1alpha1", "kind": "Stack"}
	if w.config != "" {
		data, err := os.ReadFile(w.config)
		require.NoError(t, err)
		require.NoError(t, yaml.Unmarshal(data, &stack))
	}
	edit(stack)
	out, err := yaml.Marshal(stack)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), file)
	require.NoError(t, os.WriteFile(path, out, 0o644))
	return path
}

func testMissingImage(t *testing.T, w *world) {
	const timeout = 2 * time.Minute
	r, sum := w.up(t, "up", brokenConfig(t, w), timeout)
	assert.Equal(t, 1, r.code, "up with a missing image fails\n%s", r)
	assert.False(t, sum.Ready)
	assert.Less(t, r.duration, timeout, "the image cannot come: up stops before its --timeout")
	assert.Contains(t, r.stderr, "next: a --registry-mirror", "the error says what would help")
	if os.Getenv("KINDSTACK_E2E_CONFIG") != "" {
		assert.Contains(t, r.stderr, "no answer from its registry for 1m0s", "on the test bed no registry answers: the error says so")
	}
	assert.Regexp(t, `frontend-[a-z0-9]+-[a-z0-9]+`, r.stderr, "the error names the frontend pod")
	assert.Regexp(t, `ErrImagePull|ImagePullBackOff`, r.stderr, "the error says the image cannot be pulled, not just 'timed out'")
	assert.Regexp(t, `ErrImagePull|ImagePullBackOff`, sum.Error, "the JSON error says so too")
	assert.NotContains(t, r.stderr, "install example: install example", "the error is wrapped once")
	assert.Contains(t, r.stderr, "`kindstack logs --name "+w.name+"` collects diagnostics")
	if onCI() {
		assert.Contains(t, r.stderr, "diagnostics written to ", "under CI=true a failed up collects them itself")
	}

	// What a maintainer gets from `kindstack logs` while it is broken.
	dir := t.TempDir()
	lr := w.run(t, 5*time.Minute, w.config, "logs", "--output-dir", dir)
	require.Equal(t, 0, lr.code, "%s", lr)
	assert.Equal(t, dir+"\n", lr.stdout, "logs prints where it wrote")
	for _, f := range []string{"kindstack.txt", "status.json", "components/ingress-nginx.txt", "components/example.txt",
		"events/example.txt", "nodes/" + w.name + "-control-plane/kubelet.log", "nodes/" + w.name + "-control-plane/images.log"} {
		assert.FileExists(t, filepath.Join(dir, f))
	}
	example := readText(t, filepath.Join(dir, "components", "example.txt"))
	assert.Contains(t, example, "NOT READY  Deployment/example/frontend")
	assert.Regexp(t, `ErrImagePull|ImagePullBackOff`, example, "the broken pod is described")
	brokenPodLogs, _ := filepath.Glob(filepath.Join(dir, "pods", "example_frontend-*_react-frontend.log"))
	assert.NotEmpty(t, brokenPodLogs, "the frontend pods' logs are there")
	assertNoSecretData(t, dir)

	r, sum = w.up(t, "up", w.config, upTimeout)
	require.Equal(t, 0, r.code, "up with the good config repairs the stack\n%s", r)
	assert.True(t, sum.Ready)
	assertDeploymentAvailable(t, w.clientset(t), "frontend")

	healthy := t.TempDir()
	lr = w.run(t, 5*time.Minute, w.config, "logs", "--output-dir", healthy)
	require.Equal(t, 0, lr.code, "%s", lr)
	assert.NotContains(t, readText(t, filepath.Join(healthy, "components", "example.txt")), "NOT READY", "a healthy stack reports everything ready")
}

func readText(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(data)
}

// assertNoSecretData checks that no file of a report holds the example's Secret data (base64 as
// stored, as any dump of the Secret would show it).
func assertNoSecretData(t *testing.T, dir string) {
	t.Helper()
	const secretData = "cG9zdGdyZXM=" // embed/example-database.yaml, Secret pg-credentials
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		assert.NotContains(t, string(data), secretData, "%s holds a Secret's data", p)
		return nil
	}))
}

func testRecreate(t *testing.T, w *world) {
	r, sum := w.up(t, "recreate", w.config, upTimeout)
	require.Equal(t, 0, r.code, "%s", r)
	assert.True(t, sum.Ready)
	assert.True(t, sum.Created, "recreate creates a new cluster")
	t.Logf("recreate took %.1fs", sum.Seconds)
	status, body := httpDo(t, http.MethodGet, baseURL(w)+"/api/healthy", "")
	assert.Equal(t, http.StatusOK, status, "GET /api/healthy after recreate: %s", body)
}

// kubeconfigEntries returns the named entries of a kubeconfig's clusters, users and contexts.
func kubeconfigEntries(t *testing.T, data []byte) map[string]any {
	t.Helper()
	var doc map[string]any
	require.NoError(t, yaml.Unmarshal(data, &doc))
	out := map[string]any{}
	for _, list := range []string{"clusters", "users", "contexts"} {
		items, _ := doc[list].([]any)
		for _, it := range items {
			m, _ := it.(map[string]any)
			out[list+"/"+fmt.Sprint(m["name"])] = m
		}
	}
	return out
}

func testDown(t *testing.T, w *world) {
	r := w.run(t, 5*time.Minute, w.config, "down")
	require.Equal(t, 0, r.code, "%s", r)

	_, rep := w.status(t)
	assert.False(t, rep.Cluster.Exists, "status after down: cluster gone")
	r = w.run(t, time.Minute, w.config, "status")
	assert.Equal(t, 1, r.code, "%s", r)
	assert.Equal(t, "kindstack: cluster \""+w.name+"\" does not exist; run `kindstack up` to create it\n", r.stderr,
		"status of a missing cluster: one sentence that says what to run")

	data, err := os.ReadFile(w.kubeconfig)
	require.NoError(t, err)
	now := kubeconfigEntries(t, data)
	want := kubeconfigEntries(t, []byte(foreignKubeconfig))
	for key, entry := range want {
		assert.Equal(t, entry, now[key], "foreign %s is untouched", key)
	}
	for key := range now {
		assert.NotContains(t, key, "kind-"+w.name, "kindstack's entries are removed")
	}

	r = w.run(t, 5*time.Minute, w.config, "down")
	assert.Equal(t, 0, r.code, "down of a missing cluster succeeds\n%s", r)
}

// managedObjects lists, by "Kind/namespace/name", the identity of every object labelled as
// kindstack's in the namespaces the add-ons use: its UID (not re-created) and its spec's generation
// or, for objects whose status nobody writes, its resourceVersion (not re-configured).
func managedObjects(t *testing.T, cs kubernetes.Interface) map[string]string {
	t.Helper()
	ctx := context.Background()
	sel := metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=kindstack"}
	out := map[string]string{}
	for _, ns := range []string{"ingress-nginx", "kube-system"} {
		deps, err := cs.AppsV1().Deployments(ns).List(ctx, sel)
		require.NoError(t, err)
		for _, d := range deps.Items {
			out["Deployment/"+ns+"/"+d.Name] = fmt.Sprintf("%s generation %d", d.UID, d.Generation)
		}
		svcs, err := cs.CoreV1().Services(ns).List(ctx, sel)
		require.NoError(t, err)
		for _, s := range svcs.Items {
			out["Service/"+ns+"/"+s.Name] = fmt.Sprintf("%s version %s", s.UID, s.ResourceVersion)
		}
	}
	classes, err := cs.NetworkingV1().IngressClasses().List(ctx, sel)
	require.NoError(t, err)
	for _, c := range classes.Items {
		out["IngressClass/"+c.Name] = fmt.Sprintf("%s version %s", c.UID, c.ResourceVersion)
	}
	return out
}

func testPruneExample(t *testing.T, w *world) {
	cs := w.clientset(t)
	ctx := context.Background()
	before := managedObjects(t, cs)
	require.Contains(t, before, "Deployment/ingress-nginx/ingress-nginx-controller", "the add-ons' objects carry kindstack's label")
	require.Contains(t, before, "Deployment/kube-system/metrics-server")
	// Something the user made next to kindstack's objects, in a namespace kindstack also uses.
	_, err := cs.CoreV1().ConfigMaps("kube-system").Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "users-own"}, Data: map[string]string{"keep": "me"}}, metav1.CreateOptions{})
	require.NoError(t, err)

	r, sum := w.up(t, "up", w.config, upTimeout, "--no-example")
	require.Equal(t, 0, r.code, "%s", r)
	assert.True(t, sum.Ready)
	assert.Regexp(t, `✓ Prune · example removed · \d+ deleted`, r.stderr, "the prune step says what it removed")
	for _, m := range installLine.FindAllStringSubmatch(r.stderr, -1) {
		assert.NotEqual(t, "example", m[1], "the example is not installed")
		assert.Contains(t, m[2], "unchanged", "Install %s", m[1])
		assert.NotContains(t, m[2], "configured", "Install %s", m[1])
	}
	_, err = cs.CoreV1().Namespaces().Get(ctx, "example", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "namespace example is gone when up returns: %v", err)
	assert.Equal(t, before, managedObjects(t, cs), "every other object kindstack manages is unchanged")
	cm, err := cs.CoreV1().ConfigMaps("kube-system").Get(ctx, "users-own", metav1.GetOptions{})
	require.NoError(t, err, "an object kindstack did not create is never touched")
	assert.Equal(t, "me", cm.Data["keep"])

	// status with the full settings sees the example missing.
	_, rep := w.status(t)
	ready, _, _ := component(rep, "example")
	assert.False(t, ready, "the example is not ready after it was pruned")

	// Ctrl-C while the example's images stream into the node keeps the cluster and says how to
	// go on. Its images are removed from the node first, so the next up has to load them again.
	node := w.name + "-control-plane"
	out, err := exec.Command(w.runtime, "exec", node, "sh", "-c",
		`ctr -n k8s.io images ls -q | grep -E 'backend|frontend|postgres' | xargs -r ctr -n k8s.io images rm`).CombinedOutput()
	require.NoError(t, err, "remove the example's images from the node: %s", out)
	interrupted := w.start(t, w.config, "up", "-v")
	interrupted.waitLine(t, "importing images into node", 3*time.Minute)
	sent := time.Now()
	require.NoError(t, interrupted.cmd.Process.Signal(syscall.SIGINT))
	assert.Equal(t, 1, interrupted.wait(t, 2*time.Minute), interrupted.output())
	t.Logf("fault: SIGINT during the example's image loading reported in %s", time.Since(sent).Round(100*time.Millisecond))
	assert.Contains(t, interrupted.output(), "cleaning up, press Ctrl-C again to force")
	assert.Contains(t, interrupted.output(), "✗ Install example · interrupted")
	assert.Contains(t, interrupted.output(), "is kept: `kindstack status --name "+w.name+"` says what is not ready, `kindstack up` retries")
	assert.NotEmpty(t, w.nodeContainers(t, w.name), "the cluster is kept")

	// A full up brings it back, loading the images the interrupted one did not finish.
	r, sum = w.up(t, "up", w.config, upTimeout)
	require.Equal(t, 0, r.code, "%s", r)
	assert.True(t, sum.Ready)
	assert.Regexp(t, `✓ Install example · images: \d loaded`, r.stderr, "the example's images are loaded again")
	assertDeploymentAvailable(t, cs, "backend")
	assert.Contains(t, r.stderr, "✓ Prune · nothing to prune")
	status, body := httpDo(t, http.MethodGet, baseURL(w)+"/api/healthy", "")
	assert.Equal(t, http.StatusOK, status, "GET /api/healthy after the example came back: %s", body)
	require.NoError(t, cs.CoreV1().ConfigMaps("kube-system").Delete(ctx, "users-own", metav1.DeleteOptions{}))
}
