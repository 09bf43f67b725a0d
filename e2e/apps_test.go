//go:build e2e

package e2e

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// helloImage is the e2e tests' own app image: built here from testdata/apps/hello-src as a
// developer builds theirs, in no registry, loaded with `kindstack load`.
const helloRepo, helloImage = "localhost/kse2e-hello", "localhost/kse2e-hello:dev"

// buildHello builds the hello app as version and its image, tagged version (FROM scratch: nothing
// is pulled), with the test bed's toolchain and container engine.
func buildHello(t *testing.T, w *world, version string) {
	t.Helper()
	dir := t.TempDir()
	src, err := filepath.Abs(filepath.Join("testdata", "apps", "hello-src"))
	require.NoError(t, err)
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-X main.version="+version, "-o", filepath.Join(dir, "hello"), ".")
	build.Dir = src
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOTOOLCHAIN=local")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build hello: %s", out)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY hello /hello\nENTRYPOINT [\"/hello\"]\n"), 0o644))
	engine(t, w, "build", "-t", helloRepo+":"+version, dir)
}

// appsConfig is the world's config file with an apps: section after it, in a new file.
func appsConfig(t *testing.T, w *world, name, apps string) string {
	t.Helper()
	var base []byte
	if w.config != "" {
		var err error
		base, err = os.ReadFile(w.config)
		require.NoError(t, err)
	} else {
		base = []byte("apiVersion: kindstack.dev/v1alpha1\nkind: Stack\n")
	}
	testdata, err := filepath.Abs(filepath.Join("testdata", "apps"))
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), name)
	body := string(base) + "\napps:\n" + strings.ReplaceAll(apps, "TESTDATA", testdata)
	require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
	return path
}

// kubectl runs the real kubectl against the world's cluster.
func kubectl(t *testing.T, w *world, args ...string) (string, error) {
	t.Helper()
	bin, err := exec.LookPath("kubectl")
	require.NoError(t, err, "kubectl (the test bed's is on PATH after `eval \"$(bash e2e/testbed/setup.sh env)\"`)")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append([]string{"--kubeconfig", w.kubeconfig, "--context", "kind-" + w.name}, args...)...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// answers waits until GET path through the ingress answers 200 with want in the body.
func answers(t *testing.T, w *world, path, want string, within time.Duration) {
	t.Helper()
	var status int
	var body string
	require.Eventually(t, func() bool {
		status, body = httpDo(t, http.MethodGet, baseURL(w)+path, "")
		return status == http.StatusOK && strings.Contains(body, want)
	}, within, time.Second, "GET %s: want 200 with %q, last: %d %s", path, want, status, body)
}

const (
	helloApp = `  - name: hello
    path: TESTDATA/hello
    needs: [ingress]
    smoke: {path: /hello-kustomize, contains: hello from a Kustomization}
    urls: [/hello-kustomize]
`
	greeterApp = `  - name: greeter
    chart: TESTDATA/greeter
    needs: [ingress]
    values: {message: MESSAGE}
    smoke: {path: /greeter, contains: MESSAGE}
`
)

// testYourOwnApps: the developer's loop on a ready cluster. An image built on this machine goes in
// with `kindstack load`; `up` installs a Kustomization and a Helm chart of the user's as apps,
// waits for them and smoke-tests them through the ingress; a changed chart value is upgraded in
// place; an app taken out of the config file is pruned, and nothing else: the other app, the
// example's row and an object the user made all stay. Real kubectl reads what was made.
func testYourOwnApps(t *testing.T, w *world, row string) {
	loop := time.Now()
	buildHello(t, w, "dev")
	built := time.Since(loop)
	r := w.run(t, 3*time.Minute, "", "load", helloImage)
	require.Equal(t, 0, r.code, "%s", r)
	loaded := time.Since(loop)

	both := appsConfig(t, w, "both.yaml", helloApp+strings.ReplaceAll(greeterApp, "MESSAGE", "first"))
	r, sum := w.up(t, "up", both, upTimeout)
	require.Equal(t, 0, r.code, "%s", r)
	require.True(t, sum.Ready, "%s", r)
	t.Logf("dev loop: image built %.1fs, loaded %.1fs, up with the apps done %.1fs (source to answer)",
		built.Seconds(), (loaded - built).Seconds(), time.Since(loop).Seconds())
	assert.Contains(t, r.stderr, "Install hello")
	assert.Contains(t, r.stderr, "Install greeter")
	assert.Contains(t, r.stderr, "✓ Smoke test through the ingress")
	t.Logf("up with the apps, what the user sees:\n%s", r.stderr)
	assert.Contains(t, sum.URLs, "http://localhost:"+strconv.Itoa(w.httpPort)+"/hello-kustomize", "its URL is printed")
	answers(t, w, "/hello-kustomize", "hello from a Kustomization", 10*time.Second)
	answers(t, w, "/greeter", "first", 10*time.Second)
	r, rep := w.statusWith(t, both)
	require.Equal(t, 0, r.code, "%s", r)
	ready := map[string]bool{}
	for _, c := range rep.Components {
		ready[c.Name] = c.Ready
	}
	assert.Equal(t, map[string]bool{"hello": true, "greeter": true}, map[string]bool{"hello": ready["hello"], "greeter": ready["greeter"]}, "status reports the apps")
	assert.Empty(t, rep.Leftovers)

	out, err := kubectl(t, w, "get", "deployment", "hello", "-n", "hello", "-o", "jsonpath={.metadata.labels}")
	require.NoError(t, err, out)
	assert.Contains(t, out, `"kindstack.dev/component":"hello"`, "kindstack's labels on the user's objects")
	out, err = kubectl(t, w, "get", "configmap", "-n", "kube-public", "kindstack-inventory-greeter", "-o", "jsonpath={.data.objects}")
	require.NoError(t, err, out)
	assert.Contains(t, out, "Deployment", "the chart's objects are in kindstack's inventory")
	out, err = kubectl(t, w, "get", "secrets", "-n", "greeter", "-o", "name")
	require.NoError(t, err, out)
	assert.NotContains(t, out, "sh.helm.release", "the chart is rendered and applied, not installed as a Helm release")

	// An object of the user's own, next to the apps: prune must never touch it.
	_, _ = kubectl(t, w, "delete", "configmap", "mine", "-n", "default", "--ignore-not-found")
	out, err = kubectl(t, w, "create", "configmap", "mine", "-n", "default", "--from-literal=kept=yes")
	require.NoError(t, err, out)
	t.Cleanup(func() { _, _ = kubectl(t, w, "delete", "configmap", "mine", "-n", "default", "--ignore-not-found") })

	upgraded := appsConfig(t, w, "upgraded.yaml", helloApp+strings.ReplaceAll(greeterApp, "MESSAGE", "second"))
	r, sum = w.up(t, "up", upgraded, upTimeout)
	require.Equal(t, 0, r.code, "%s", r)
	require.True(t, sum.Ready, "%s", r)
	answers(t, w, "/greeter", "second", 20*time.Second)
	out, err = kubectl(t, w, "get", "deployment", "greeter", "-n", "greeter", "-o", "jsonpath={.spec.template.spec.containers[0].env[0].value}")
	require.NoError(t, err, out)
	assert.Equal(t, "second", out, "the changed value is what the Deployment runs")

	helloOnly := appsConfig(t, w, "hello-only.yaml", helloApp)
	r, sum = w.up(t, "up", helloOnly, upTimeout)
	require.Equal(t, 0, r.code, "%s", r)
	require.True(t, sum.Ready, "%s", r)
	assert.Contains(t, r.stderr, "greeter removed", "prune says which app it removed")
	out, err = kubectl(t, w, "get", "namespace", "greeter", "--ignore-not-found", "-o", "name")
	require.NoError(t, err, out)
	assert.Empty(t, out, "the app taken out of the config is gone, with its namespace")
	answers(t, w, "/hello-kustomize", "hello from a Kustomization", 10*time.Second)
	assert.Contains(t, rows(t, w), row, "the example's data survives")
	out, err = kubectl(t, w, "get", "configmap", "mine", "-n", "default", "-o", "jsonpath={.data.kept}")
	require.NoError(t, err, out)
	assert.Equal(t, "yes", out, "an object the user made survives")

	// The loop again, after a change of the source: a new build under a new tag, loaded, and the
	// Kustomization pointed at it by an overlay of the user's (kustomize's images transformer).
	loop = time.Now()
	buildHello(t, w, "v2")
	r = w.run(t, 3*time.Minute, "", "load", helloRepo+":v2")
	require.Equal(t, 0, r.code, "%s", r)
	overlay := t.TempDir()
	testdata, err := filepath.Abs(filepath.Join("testdata", "apps", "hello"))
	require.NoError(t, err)
	base, err := filepath.Rel(overlay, testdata) // kustomize takes no absolute base
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(overlay, "kustomization.yaml"), []byte(
		"resources: ["+base+"]\nimages:\n  - {name: "+helloRepo+", newTag: v2}\n"), 0o600))
	v2 := appsConfig(t, w, "v2.yaml", strings.Replace(helloApp, "TESTDATA/hello", overlay, 1))
	r, sum = w.up(t, "up", v2, upTimeout)
	require.Equal(t, 0, r.code, "%s", r)
	require.True(t, sum.Ready, "%s", r)
	answers(t, w, "/hello-kustomize", "hello from a Kustomization (v2)", 30*time.Second)
	t.Logf("dev loop after a change of the source: built, loaded, up, the new pod answering: %.1fs", time.Since(loop).Seconds())

	// Back to the stack without apps: hello is pruned too, and the cluster is as the next scenario wants it.
	r, sum = w.up(t, "up", w.config, upTimeout)
	require.Equal(t, 0, r.code, "%s", r)
	require.True(t, sum.Ready, "%s", r)
	out, err = kubectl(t, w, "get", "namespace", "hello", "--ignore-not-found", "-o", "name")
	require.NoError(t, err, out)
	assert.Empty(t, out)
}
