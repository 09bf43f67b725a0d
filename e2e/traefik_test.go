//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"
)

var (
	httpRoutes = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"}
	crds       = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
)

// dynamicClient connects like clientset, for the Gateway API's kinds.
func (w *world) dynamicClient(tb testing.TB) dynamic.Interface {
	tb.Helper()
	dc, err := dynamic.NewForConfig(w.restConfig(tb))
	require.NoError(tb, err)
	return dc
}

func assertRowKept(t *testing.T, w *world, text string) {
	t.Helper()
	assert.Contains(t, rows(t, w), text, "the row added before the switch is still there")
}

// testSwitchToTraefik: up --ingress traefik on the nginx stack switches in place, keeping the row
// the user added (text).
func testSwitchToTraefik(t *testing.T, w *world, text string) {
	w.ingress = "traefik"
	r, sum := w.up(t, "up", w.config, upTimeout)
	require.Equal(t, 0, r.code, "%s", r)
	assert.True(t, sum.Ready)
	assert.False(t, sum.Created, "no recreate")
	assert.Contains(t, r.stderr, "✓ Prune · ingress: ingress-nginx → traefik · ingress-nginx removed · ", "the switch is reported")

	cs := w.clientset(t)
	ctx := context.Background()
	_, err := cs.CoreV1().Namespaces().Get(ctx, "ingress-nginx", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "ingress-nginx's namespace is gone: %v", err)
	class, err := cs.NetworkingV1().IngressClasses().Get(ctx, "nginx", metav1.GetOptions{})
	require.NoError(t, err, "IngressClass nginx")
	assert.Equal(t, "traefik", class.Labels["kindstack.dev/component"], "Traefik owns IngressClass nginx now")
	ing, err := cs.NetworkingV1().Ingresses("example").Get(ctx, "frontend-ingress", metav1.GetOptions{})
	require.NoError(t, err, "the example's Ingress is unchanged and still there")
	assert.Equal(t, "/$1", ing.Annotations["nginx.ingress.kubernetes.io/rewrite-target"])

	assertRowKept(t, w, text)
	assertStackWorks(t, w) // /api/x reaches the backend as /x: rewrite-target works in real Traefik

	sr, rep := w.status(t)
	require.Equal(t, 0, sr.code, "status without --ingress follows the cluster\n%s", sr)
	assert.Equal(t, "traefik", rep.Ingress, "status names the controller")
	assert.Contains(t, r.stderr, "✓ Install traefik")
}

// conformanceConfig is the test bed config plus the Gateway listener ports the conformance
// suite's Gateways use besides 80 and 443.
func conformanceConfig(t *testing.T, w *world) string {
	t.Helper()
	data := []byte("apiVersion: kindstack.dev/v1alpha1\nkind: Stack\n")
	if w.config != "" {
		var err error
		data, err = os.ReadFile(w.config)
		require.NoError(t, err)
	}
	p := filepath.Join(t.TempDir(), "conformance.yaml")
	require.NoError(t, os.WriteFile(p, append(data, []byte("gatewayPorts: [8080, 8090, 8443, 8883]\n")...), 0o644))
	return p
}

// testbedPaths reads what e2e/testbed/traefik.sh built.
func testbedPaths(t *testing.T) map[string]string {
	t.Helper()
	return scriptPaths(t, "traefik.sh")
}

// scriptPaths reads the KEY=VALUE lines of `e2e/testbed/SCRIPT paths`.
func scriptPaths(t testing.TB, script string) map[string]string {
	t.Helper()
	out, err := exec.Command("bash", filepath.Join("testbed", script), "paths").Output()
	require.NoError(t, err, "e2e/testbed/%s paths", script)
	paths := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			paths[k] = v
		}
	}
	return paths
}

// testHTTPRoute: the example through an HTTPRoute on kindstack's Gateway, the row (text) kept.
func testHTTPRoute(t *testing.T, w *world, text string) {
	r, sum := w.up(t, "up", w.config, upTimeout, "--example-route", "httproute")
	require.Equal(t, 0, r.code, "%s", r)
	assert.True(t, sum.Ready)
	assert.Regexp(t, `✓ Prune · 1 deleted`, r.stderr, "the HTTPRoute replaces the Ingress")
	ctx := context.Background()
	_, err := w.clientset(t).NetworkingV1().Ingresses("example").Get(ctx, "frontend-ingress", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "the Ingress is pruned: %v", err)
	route, err := w.dynamicClient(t).Resource(httpRoutes).Namespace("example").Get(ctx, "frontend-route", metav1.GetOptions{})
	require.NoError(t, err, "HTTPRoute example/frontend-route")
	parents, _, _ := unstructured.NestedSlice(route.Object, "status", "parents")
	assert.Len(t, parents, 1, "accepted by kindstack's Gateway")
	assertRowKept(t, w, text)
	assertStackWorks(t, w) // through the Gateway: the URLRewrite turns /api/x into /x
}

// testConformance runs the Gateway API conformance suite against kindstack's Traefik. Traefik
// serves every Gateway's port-80 listener from one entrypoint, so the example's host-less routes
// for / would answer the requests the suite expects a 404 for: the suite runs without the
// example, which the next up brings back.
func testConformance(t *testing.T, w *world) {
	r, sum := w.up(t, "up", conformanceConfig(t, w), upTimeout, "--no-example")
	require.Equal(t, 0, r.code, "%s", r)
	assert.True(t, sum.Ready)
	ctx := context.Background()
	binary := conformanceSuite(t, w)

	report := filepath.Join(t.TempDir(), "conformance-report.yaml")
	features := []string{"Gateway", "GatewayPort8080", "HTTPRoute", "ReferenceGrant", "BackendTLSPolicy",
		// Traefik v3.7.13's extended HTTPRoute features (pkg/provider/kubernetes/gateway/features.go)
		"HTTPRouteQueryParamMatching", "HTTPRouteMethodMatching", "HTTPRoutePathRedirect", "HTTPRoutePortRedirect",
		"HTTPRouteSchemeRedirect", "HTTPRoute303RedirectStatusCode", "HTTPRoute307RedirectStatusCode",
		"HTTPRoute308RedirectStatusCode", "HTTPRouteHostRewrite", "HTTPRoutePathRewrite",
		"HTTPRouteResponseHeaderModification", "HTTPRouteBackendProtocolH2C", "HTTPRouteBackendProtocolWebSocket",
		"HTTPRouteDestinationPortMatching", "HTTPRouteBackendRequestHeaderModification", "HTTPRouteNamedRouteRule",
		"HTTPRouteParentRefPort"}
	ctxRun, cancel := context.WithTimeout(ctx, 25*time.Minute)
	defer cancel()
	suite := exec.CommandContext(ctxRun, binary, "-test.run", "^TestConformance$", "-test.timeout", "25m",
		"-gateway-class=traefik", "-conformance-profiles=GATEWAY-HTTP",
		"-supported-features="+strings.Join(features, ","),
		// Every Gateway Traefik serves shares an entrypoint and reports the node's address, so two
		// Gateways' host-less routes for / collide: Traefik's model, skipped by Traefik's own harness.
		"-skip-tests=HTTPRouteMultipleGateways",
		"-report-output="+report, "-organization=traefik", "-project=traefik", "-url=https://github.com/traefik/traefik",
		"-version=v3.7.13", "-contact=https://github.com/traefik/traefik/issues", "-cleanup-base-resources=true",
		// The bounds Traefik's own conformance run uses, instead of the suite's minutes-long defaults
		// for conditions a Gateway reports within seconds or never.
		"-timeout-config-overrides=GatewayMustHaveAddress:30;GatewayMustHaveCondition:30;GWCMustBeAccepted:30;ListenerSetMustHaveCondition:30",
		"-test.v")
	suite.Env = append(os.Environ(), "KUBECONFIG="+w.kubeconfig)
	start := time.Now()
	out, err := suite.CombinedOutput()
	t.Logf("conformance suite ran in %s", time.Since(start).Round(time.Second))
	logSlowest(t, out, 8)
	if err != nil {
		t.Logf("conformance output (last 8000 bytes):\n%s", tail(out, 8000))
	}
	require.NoError(t, err, "the Gateway API conformance suite (GATEWAY-HTTP) passes against kindstack's Traefik")
	data, err := os.ReadFile(report)
	require.NoError(t, err, "the suite writes its report")
	var rep struct {
		Profiles []struct {
			Name     string         `json:"name"`
			Core     map[string]any `json:"core"`
			Extended map[string]any `json:"extended"`
		} `json:"profiles"`
	}
	require.NoError(t, yaml.Unmarshal(data, &rep))
	require.Len(t, rep.Profiles, 1, "one profile: GATEWAY-HTTP\n%s", data)
	for part, res := range map[string]map[string]any{"core": rep.Profiles[0].Core, "extended": rep.Profiles[0].Extended} {
		st, _ := res["statistics"].(map[string]any)
		t.Logf("conformance %s %s: result %v, passed %v, skipped %v, failed %v", rep.Profiles[0].Name, part, res["result"], st["Passed"], st["Skipped"], st["Failed"])
		assert.EqualValues(t, 0, st["Failed"], "%s tests failed\n%s", part, data)
	}
	coreStats, _ := rep.Profiles[0].Core["statistics"].(map[string]any)
	passed, _ := coreStats["Passed"].(float64)
	assert.Greater(t, passed, 0.0, "core tests ran\n%s", data)

	// kindstack's own Gateway is untouched by the suite; the example comes back.
	r, sum = w.up(t, "up", w.config, upTimeout)
	require.Equal(t, 0, r.code, "%s", r)
	assert.True(t, sum.Ready)
	assertStackWorks(t, w)
}

// conformanceSuite returns the suite's test binary. On the test bed it comes from
// e2e/testbed/traefik.sh, whose images of the suite (echo-basic built from the same module, CoreDNS)
// are loaded into the node here; elsewhere (a GitHub runner, with registries) it is built from
// e2e/conformance and the node pulls the suite's images itself.
func conformanceSuite(t *testing.T, w *world) string {
	t.Helper()
	if w.config == "" {
		binary := filepath.Join(t.TempDir(), "conformance.test")
		build := exec.Command("go", "test", "-c", "-o", binary, ".")
		build.Dir = "conformance"
		out, err := build.CombinedOutput()
		require.NoError(t, err, "build the conformance suite: %s", out)
		return binary
	}
	paths := testbedPaths(t)
	archive, binary := paths["CONFORMANCE_ARCHIVE"], paths["CONFORMANCE_TEST"]
	require.FileExists(t, archive, "e2e/testbed/traefik.sh conformance builds the suite's images")
	require.FileExists(t, binary, "e2e/testbed/traefik.sh conformance builds the suite")
	f, err := os.Open(archive)
	require.NoError(t, err)
	defer f.Close()
	load := exec.Command(w.runtime, "exec", "-i", w.name+"-control-plane",
		"ctr", "--namespace=k8s.io", "images", "import", "--all-platforms", "--digests", "--snapshotter=overlayfs", "-")
	load.Stdin = f
	out, err := load.CombinedOutput()
	require.NoError(t, err, "load the suite's images into the node: %s", out)
	return binary
}

// logSlowest logs the n slowest tests of a `go test -v` output, e.g. "--- PASS: TestX/Y (12.34s)".
func logSlowest(t *testing.T, out []byte, n int) {
	t.Helper()
	type test struct {
		line string
		secs float64
	}
	var tests []test
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(line)
		open := strings.LastIndex(line, "(")
		if !strings.HasPrefix(line, "--- ") || open < 0 || !strings.HasSuffix(line, "s)") {
			continue
		}
		var secs float64
		if _, err := fmt.Sscanf(line[open:], "(%fs)", &secs); err == nil {
			tests = append(tests, test{line, secs})
		}
	}
	sort.Slice(tests, func(i, j int) bool { return tests[i].secs > tests[j].secs })
	for i := 0; i < len(tests) && i < n; i++ {
		t.Logf("slowest: %s", tests[i].line)
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// testSwitchBackToNginx: up --ingress nginx on the Traefik stack switches back, keeping the row
// (text) and the user's own HTTPRoute.
func testSwitchBackToNginx(t *testing.T, w *world, text string) {
	ctx := context.Background()
	dc := w.dynamicClient(t)
	// A route of the user's own: switching away from Traefik must not delete it with its CRD.
	users := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
		"metadata": map[string]any{"name": "users-route", "namespace": "default"},
		"spec": map[string]any{
			"parentRefs": []any{map[string]any{"name": "kindstack", "namespace": "kindstack-gateway"}},
			"rules":      []any{map[string]any{"backendRefs": []any{map[string]any{"name": "users-service", "port": int64(80)}}}},
		},
	}}
	_, err := dc.Resource(httpRoutes).Namespace("default").Create(ctx, users, metav1.CreateOptions{})
	require.NoError(t, err)

	w.ingress = "nginx"
	r, sum := w.up(t, "up", w.config, upTimeout)
	require.Equal(t, 0, r.code, "%s", r)
	assert.True(t, sum.Ready)
	assert.False(t, sum.Created)
	assert.Contains(t, r.stderr, "✓ Prune · ingress: traefik → ingress-nginx · traefik removed · ")
	assert.Contains(t, r.stderr, "kept CustomResourceDefinition/httproutes.gateway.networking.k8s.io: objects kindstack did not create still use it")

	_, err = dc.Resource(httpRoutes).Namespace("default").Get(ctx, "users-route", metav1.GetOptions{})
	assert.NoError(t, err, "the user's HTTPRoute survives")
	_, err = dc.Resource(crds).Get(ctx, "gateways.gateway.networking.k8s.io", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "a Gateway API CRD nobody else uses is pruned: %v", err)
	_, err = w.clientset(t).CoreV1().Namespaces().Get(ctx, "traefik", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "Traefik's namespace is gone: %v", err)

	assertRowKept(t, w, text)
	assertStackWorks(t, w)
	_, rep := w.status(t)
	assert.Equal(t, "ingress-nginx", rep.Ingress)
	assert.True(t, rep.Ready)
	assert.Contains(t, rep.Leftovers, "CustomResourceDefinition/httproutes.gateway.networking.k8s.io", "the kept CRD is listed")

	// Once the user's route is gone, the next up prunes the CRD it kept.
	require.NoError(t, dc.Resource(httpRoutes).Namespace("default").Delete(ctx, "users-route", metav1.DeleteOptions{}))
	r, sum = w.up(t, "up", w.config, upTimeout)
	require.Equal(t, 0, r.code, "%s", r)
	assert.True(t, sum.Ready)
	assert.Contains(t, r.stderr, "✓ Prune · traefik-kept removed · 1 deleted")
	_, err = dc.Resource(crds).Get(ctx, "httproutes.gateway.networking.k8s.io", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "the CRD nobody uses any more is pruned: %v", err)
}

func testRecreateWithTraefik(t *testing.T, w *world) {
	w.ingress = "traefik"
	testRecreate(t, w)
	assertStackWorks(t, w)
	_, rep := w.status(t)
	assert.Equal(t, "traefik", rep.Ingress)
}
