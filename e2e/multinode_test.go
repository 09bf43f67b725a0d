//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// multiNodeConfig is the config and flags of a 1+2 cluster: on the air-gapped test bed the
// multi-node config (KINDSTACK_E2E_MULTINODE_CONFIG: two workers, the node image with flannel),
// elsewhere kindstack's defaults (kind's own CNI) with --workers 2.
func multiNodeConfig(t *testing.T) (string, []string) {
	t.Helper()
	if c := os.Getenv("KINDSTACK_E2E_MULTINODE_CONFIG"); c != "" {
		_, err := os.Stat(c)
		require.NoError(t, err, "KINDSTACK_E2E_MULTINODE_CONFIG")
		return c, nil
	}
	if os.Getenv("KINDSTACK_E2E_CONFIG") != "" {
		t.Skip("SKIPPED: the air-gapped test bed needs KINDSTACK_E2E_MULTINODE_CONFIG (e2e/testdata/airgap-multinode.yaml, " +
			"after e2e/testbed/flannel.sh): its single-node image cannot route pods between nodes")
	}
	return "", []string{"--workers", "2"}
}

// testMultiNode: a cluster of its own with two workers. The control-plane node alone carries the
// host ports and the ingress controller; the backend's pods run on both workers and requests
// through the host port reach each of them; node metrics come from all three nodes and both
// autoscalers are active; status lists each node; asking for another worker count says what to
// run. The cluster is deleted at the end.
func testMultiNode(t *testing.T) {
	config, flags := multiNodeConfig(t)
	w := newWorld(t, "ksmulti")
	w.config = config
	t.Cleanup(func() {
		if t.Failed() {
			w.diagnose(t)
		}
		if os.Getenv("KINDSTACK_E2E_KEEP") == "1" {
			t.Logf("KINDSTACK_E2E_KEEP=1: cluster %s kept (HOME %s, kubeconfig %s)", w.name, w.home, w.kubeconfig)
			return
		}
		r := w.run(t, 5*time.Minute, config, "down")
		assert.Equal(t, 0, r.code, "down\n%s", r)
	})

	r, sum := w.up(t, "up", config, upTimeout, flags...)
	require.Equal(t, 0, r.code, "%s", r)
	require.True(t, sum.Created, "up created the 1+2 cluster")
	t.Logf("MEASURED: up of a 1+2 cluster from nothing: %.1fs", sum.Seconds)
	logNodeMemory(t, w)

	cs := w.clientset(t)
	ctx := context.Background()
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	var controlPlane string
	var workers []string
	for _, n := range nodes.Items {
		if _, ok := n.Labels["node-role.kubernetes.io/control-plane"]; ok {
			controlPlane = n.Name
			assert.Equal(t, "true", n.Labels["ingress-ready"], "the control-plane node is the ingress node")
			continue
		}
		workers = append(workers, n.Name)
		assert.Empty(t, n.Labels["ingress-ready"], "worker %s is not an ingress node", n.Name)
	}
	require.NotEmpty(t, controlPlane, "a control-plane node")
	require.Len(t, workers, 2, "two workers")

	// The controller on the labelled node, the app through the host port, metrics, both HPAs active.
	assertStackWorks(t, w)

	// Node metrics from every node.
	raw, err := cs.CoreV1().RESTClient().Get().AbsPath("/apis/metrics.k8s.io/v1beta1/nodes").DoRaw(ctx)
	require.NoError(t, err, "GET node metrics")
	assert.ElementsMatch(t, append([]string{controlPlane}, workers...), metricNames(t, raw), "node metrics of every node")

	// The backend's pods are spread over both workers, and each answers through the host port
	// (the stand-in's /host_name names its pod; the API says where that pod runs).
	pods, err := cs.CoreV1().Pods("example").List(ctx, metav1.ListOptions{LabelSelector: "app=backend"})
	require.NoError(t, err)
	nodeOf := map[string]string{}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase == "Running" {
			nodeOf[p.Name] = p.Spec.NodeName
		}
	}
	var backendNodes []string
	for _, n := range nodeOf {
		if !slices.Contains(backendNodes, n) {
			backendNodes = append(backendNodes, n)
		}
	}
	require.ElementsMatch(t, workers, backendNodes, "backend pods %v run on both workers", nodeOf)
	reached := map[string]bool{}
	for i := 0; i < 60 && len(reached) < len(workers); i++ {
		status, body := httpDo(t, http.MethodGet, baseURL(w)+"/api/host_name", "")
		require.Equal(t, http.StatusOK, status, "GET /api/host_name: %s", body)
		var answer struct {
			HostName string `json:"host_name"`
		}
		require.NoError(t, json.Unmarshal([]byte(body), &answer), body)
		node, ok := nodeOf[answer.HostName]
		require.True(t, ok, "the answer names a running backend pod: %s (pods %v)", body, nodeOf)
		reached[node] = true
	}
	assert.Len(t, reached, len(workers), "requests through host port %d reached backend pods on both workers (reached %v)", w.httpPort, reached)

	// status lists each node, Ready.
	sr := w.run(t, 3*time.Minute, config, "status", "-o", "json")
	require.Equal(t, 0, sr.code, "%s", sr)
	var st struct {
		Cluster struct {
			Nodes []struct {
				Name  string `json:"name"`
				Ready bool   `json:"ready"`
			} `json:"nodes"`
		} `json:"cluster"`
	}
	require.NoError(t, json.Unmarshal([]byte(sr.stdout), &st), sr.stdout)
	var listed []string
	for _, n := range st.Cluster.Nodes {
		listed = append(listed, n.Name)
		assert.True(t, n.Ready, "status: node %s Ready", n.Name)
	}
	assert.ElementsMatch(t, append([]string{controlPlane}, workers...), listed, "status lists every node")
	text := w.run(t, 3*time.Minute, config, "status")
	for _, n := range append([]string{controlPlane}, workers...) {
		assert.Contains(t, text.stdout+text.stderr, n, "status text names node %s", n)
	}

	// `kindstack load` puts a developer's image into every node.
	const mine = "localhost/ksmulti-app:dev"
	engine(t, w, "tag", "kindstack.test/example-frontend:dev", mine)
	r = w.run(t, 3*time.Minute, config, "load", mine)
	require.Equal(t, 0, r.code, "%s", r)
	assert.Contains(t, r.stderr, "1 loaded into 3 node(s)", "%s", r)
	for _, n := range append([]string{controlPlane}, workers...) {
		images := engine(t, w, "exec", n, "ctr", "--namespace", "k8s.io", "images", "ls", "--quiet")
		assert.Contains(t, strings.Fields(images), mine, "node %s holds the loaded image", n)
	}

	// Another worker count is a spec change: refused before anything changes, saying what to run.
	r = w.run(t, 3*time.Minute, config, "up", "--workers", "1")
	assert.Equal(t, 1, r.code, "%s", r)
	assert.Contains(t, r.stderr, "workers: cluster has 2, wanted 1", "%s", r)
	assert.Contains(t, r.stderr, "kindstack recreate", "%s", r)
	after, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	assert.Len(t, after.Items, 3, "the refused up changed no node")
}

// logNodeMemory logs each node container's memory use (what README's per-node figures come from).
func logNodeMemory(t *testing.T, w *world) {
	t.Helper()
	out, err := exec.Command(w.runtime, "stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}",
		w.name+"-control-plane", w.name+"-worker", w.name+"-worker2").CombinedOutput()
	if err != nil {
		t.Logf("MEASURED: %s stats failed: %v: %s", w.runtime, err, out)
		return
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		t.Logf("MEASURED: node memory %s", line)
	}
}
