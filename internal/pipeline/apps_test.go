package pipeline_test

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kindstack/kindstack/internal/cli"
	"github.com/kindstack/kindstack/internal/kube"
	"github.com/kindstack/kindstack/internal/smoke"
)

// appsDir copies the e2e tests' apps (a Kustomization and a Helm chart) into a new directory, next
// to which the tests write their config files, and adds a plain directory of manifests.
func appsDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.CopyFS(filepath.Join(dir, "apps"), os.DirFS("../../e2e/testdata/apps")))
	write(t, filepath.Join(dir, "apps", "plain", "config.yaml"), `apiVersion: v1
kind: ConfigMap
metadata:
  name: plain
data:
  answer: "42"
`)
	write(t, filepath.Join(dir, "apps", "plain", "README.md"), "not a manifest: left out\n")
	return dir
}

func write(t *testing.T, path, body string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(body), 0o644))
}

// treeHash is a digest of every file under dir, names and contents.
func treeHash(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		fmt.Fprintf(h, "%s %d %x\n", path, len(data), sha256.Sum256(data))
		return err
	}))
	return fmt.Sprintf("%x", h.Sum(nil))
}

const stackHead = "apiVersion: kindstack.dev/v1alpha1\nkind: Stack\nhttpsPort: 18443\n"

// The user's apps are components: a Kustomization, a Helm chart and a directory of manifests, all
// from the config file (paths relative to it), go through render, images list, up on the fake
// cluster (applied in the order their needs give, waited for, smoke-tested through the ingress,
// their URLs printed), status, an upgrade by a changed value, and prune when one leaves the file;
// the user's files are never written.
func TestYourAppsAreComponents(t *testing.T) {
	var mu sync.Mutex
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.URL.Path)
		mu.Unlock()
		if r.URL.Path == "/hello-kustomize" {
			_, _ = w.Write([]byte("hello from a Kustomization\n"))
			return
		}
		_, _ = w.Write([]byte(`{"healthy":true,"texts":[]} <div id="root"></div>`))
	}))
	defer srv.Close()
	_, port, err := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	require.NoError(t, err)

	m := newMachine(t, readyNode())
	m.pipeline.Smoke = smoke.Run
	dir := appsDir(t)
	before := treeHash(t, filepath.Join(dir, "apps"))
	config := func(name, greeting string, withGreeter bool) string {
		body := stackHead + "httpPort: " + port + "\nexample: false\napps:\n" +
			"  - name: hello\n    path: apps/hello\n    needs: [ingress]\n" +
			"    smoke: {path: /hello-kustomize, contains: hello from a Kustomization}\n    urls: [/hello-kustomize]\n" +
			"  - name: plain\n    path: apps/plain\n    namespace: plain-things\n"
		if withGreeter {
			body += "  - name: greeter\n    chart: apps/greeter\n    needs: [hello]\n    values:\n      message: " + greeting + "\n"
		}
		path := filepath.Join(dir, name)
		write(t, path, body)
		return path
	}
	first := config("first.yaml", "first", true)

	_, out, err := runCLI(t, m, "render", "--config", first)
	require.NoError(t, err)
	for _, want := range []string{"# component: hello", "# component: greeter", "# component: plain", "name: hello-message-", "value: first",
		kube.ComponentLabel + ": greeter", "namespace: plain-things"} {
		assert.Contains(t, out, want)
	}
	assert.NotContains(t, out, "greeter-test", "a chart's test hook is not applied")

	_, out, err = runCLI(t, m, "images", "list", "--config", first, "-o", "json")
	require.NoError(t, err)
	assert.Contains(t, out, `"image": "localhost/kse2e-hello:dev",
    "component": "hello"`)
	assert.Contains(t, out, `"component": "greeter"`)

	up, _, err := runCLI(t, m, "up", "--config", first, "-o", "json")
	require.NoError(t, err)
	events := slices.Clone(m.engine.events)
	helloReady := slices.Index(events, "ready hello")
	greeterApplied := slices.Index(events, "apply Deployment/greeter/greeter")
	require.True(t, helloReady >= 0 && greeterApplied >= 0, "%v", events)
	assert.Less(t, helloReady, greeterApplied, "greeter needs hello: it is applied once hello is ready")
	assert.Contains(t, events, "apply Namespace/plain-things", "the namespace an app's objects land in is made")
	assert.Contains(t, events, "apply ConfigMap/plain-things/plain")
	assert.Contains(t, events, "ready plain")
	mu.Lock()
	assert.Contains(t, asked, "/hello-kustomize", "its smoke request went through the ingress")
	mu.Unlock()
	assert.Contains(t, up["urls"], "http://localhost:"+port+"/hello-kustomize")
	assert.ElementsMatch(t, []string{"hello", "plain", "greeter", "ingress-nginx", "metrics-server"}, keys(m.engine.inventory))

	status, _, err := runCLI(t, m, "status", "--config", first, "-o", "json")
	require.NoError(t, err)
	var names []string
	for _, c := range status["components"].([]any) {
		names = append(names, c.(map[string]any)["name"].(string))
	}
	assert.Subset(t, names, []string{"hello", "plain", "greeter"})

	_, _, err = runCLI(t, m, "up", "--config", config("second.yaml", "second", true))
	require.NoError(t, err)
	env, _, _ := unstructured.NestedSlice(m.engine.applied[kube.Ref{Group: "apps", Kind: "Deployment", Namespace: "greeter", Name: "greeter"}].Object,
		"spec", "template", "spec", "containers")
	assert.Contains(t, fmt.Sprint(env), "second", "a changed value is applied")

	m.engine.pruneCalls = nil
	_, _, err = runCLI(t, m, "up", "--config", config("without.yaml", "", false))
	require.NoError(t, err)
	var pruned []kube.Ref
	for _, call := range m.engine.pruneCalls {
		pruned = append(pruned, call...)
	}
	assert.Contains(t, pruned, kube.Ref{Group: "apps", Kind: "Deployment", Namespace: "greeter", Name: "greeter"}, "an app that left the file is pruned")
	assert.Contains(t, pruned, kube.Ref{Kind: "Namespace", Name: "greeter"})
	for _, r := range pruned {
		ns := r.Namespace
		if r.Kind == "Namespace" {
			ns = r.Name
		}
		assert.Equal(t, "greeter", ns, "only greeter's objects are pruned, not %s", r)
	}
	assert.NotContains(t, keys(m.engine.inventory), "greeter")

	assert.Equal(t, before, treeHash(t, filepath.Join(dir, "apps")), "the user's files are read, never written")
}

// `--app PATH` installs an app named after its directory, a Kustomization or a chart alike.
func TestAppFlag(t *testing.T) {
	m := newMachine(t)
	dir := appsDir(t)
	_, out, err := runCLI(t, m, "render", "--no-example", "--app", filepath.Join(dir, "apps", "hello"), "--app", filepath.Join(dir, "apps", "greeter"))
	require.NoError(t, err)
	assert.Contains(t, out, "# component: hello")
	assert.Contains(t, out, "# component: greeter")
	assert.Contains(t, out, "value: hello from a chart", "the chart's own values")
}

// Every bad app is one sentence naming the file and line (or the flag), exit 1, before anything
// changes: no cluster is made and nothing is applied.
func TestBadAppsFailBeforeAnythingChanges(t *testing.T) {
	dir := appsDir(t)
	write(t, filepath.Join(dir, "broken-kustomize", "kustomization.yaml"), "resources:\n  - missing.yaml\n")
	write(t, filepath.Join(dir, "broken-chart", "Chart.yaml"), "apiVersion: v2\nname: broken\nversion: 0.1.0\n")
	write(t, filepath.Join(dir, "broken-chart", "templates", "cm.yaml"), "{{ fail \"the chart says no\" }}\n")
	write(t, filepath.Join(dir, "not-yaml.yaml"), "message: [unclosed\n")
	write(t, filepath.Join(dir, "in-example", "deploy.yaml"), "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: backend\n  namespace: example\n")
	write(t, filepath.Join(dir, "ns-a", "cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: shared\n")
	write(t, filepath.Join(dir, "ns-b", "cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  namespace: shared\n")
	cases := []struct {
		name, apps string
		want       []string
	}{
		{"a path that does not exist", "  - name: gone\n    path: nowhere\n",
			[]string{"line 6: app \"gone\": " + filepath.Join(dir, "nowhere") + " does not exist"}},
		{"a Kustomization that does not build", "  - name: broken\n    path: broken-kustomize\n",
			[]string{"line 6: app \"broken\": the Kustomization " + filepath.Join(dir, "broken-kustomize") + " does not build", "missing.yaml"}},
		{"a chart that does not render", "  - name: broken\n    chart: broken-chart\n",
			[]string{"line 6: app \"broken\": the chart " + filepath.Join(dir, "broken-chart") + " does not render", "the chart says no"}},
		{"a values file that is not YAML", "  - name: greeter\n    chart: apps/greeter\n    valuesFiles: [not-yaml.yaml]\n",
			[]string{"line 7: app \"greeter\": values file " + filepath.Join(dir, "not-yaml.yaml") + " is not YAML"}},
		{"two apps of one name", "  - name: hello\n    path: apps/hello\n  - name: hello\n    path: apps/plain\n",
			[]string{"line 7: a second app named \"hello\" (the first: config file "}},
		{"an app named like a built-in component", "  - name: example\n    path: apps/plain\n",
			[]string{"line 5: app name \"example\" is a built-in component's"}},
		{"objects in another app's namespace", "  - name: a\n    path: ns-a\n  - name: b\n    path: ns-b\n",
			[]string{"line 7: app \"b\" puts objects in namespace \"shared\", where app \"a\" (config file "}},
		{"an object a built-in component makes", "  - name: mine\n    path: in-example\n",
			[]string{"line 5: app \"mine\" makes Deployment/example/backend, which is the built-in component example's too"}},
		{"a need naming nothing", "  - name: hello\n    path: apps/hello\n    needs: [database]\n",
			[]string{"line 7: app \"hello\" needs \"database\", which is neither ingress, metrics, gateway nor an app's name"}},
		{"needs making a cycle", "  - name: a\n    path: apps/plain\n    needs: [b]\n  - name: b\n    path: apps/hello\n    needs: [a]\n",
			[]string{"apps wait for each other: a → b → a"}},
		{"both path and chart", "  - name: both\n    path: apps/hello\n    chart: apps/greeter\n",
			[]string{"line 5: app \"both\" has both path and chart; give one"}},
		{"neither path nor chart", "  - name: neither\n    namespace: x\n",
			[]string{"line 5: app \"neither\" has neither path nor chart; give one"}},
		{"a chart given as a path", "  - name: greeter\n    path: apps/greeter\n",
			[]string{"line 6: app \"greeter\": " + filepath.Join(dir, "apps", "greeter") + " is a Helm chart; write `chart: "}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t, readyNode())
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".yaml")
			write(t, path, stackHead+"apps:\n"+tc.apps)
			_, _, err := runCLI(t, m, "up", "--config", path, "--http-port", "18080")
			require.Error(t, err)
			for _, want := range tc.want {
				assert.Contains(t, err.Error(), want)
			}
			assert.Contains(t, err.Error(), path, "the file is named")
			var usage *cli.UsageError
			assert.False(t, errors.As(err, &usage), "exit 1, not a usage error")
			assert.Empty(t, m.kind.clusters, "no cluster is made")
			assert.Empty(t, m.engine.events, "nothing is applied")
		})
	}

	t.Run("the flag is named", func(t *testing.T) {
		m := newMachine(t, readyNode())
		_, _, err := runCLI(t, m, "up", "--app", filepath.Join(dir, "nowhere"), "--http-port", "18080", "--https-port", "18443")
		require.Error(t, err)
		assert.Contains(t, err.Error(), "--app "+filepath.Join(dir, "nowhere")+": app \"nowhere\": "+filepath.Join(dir, "nowhere")+" does not exist")
		assert.Empty(t, m.kind.clusters)
	})
}
