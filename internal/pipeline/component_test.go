package pipeline_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kindstack/kindstack/internal/component"
	"github.com/kindstack/kindstack/internal/kube"
	"github.com/kindstack/kindstack/internal/smoke"
	"github.com/kindstack/kindstack/internal/transform"
)

// greeterOptions are the test component's own options: its config section `greeter:`.
type greeterOptions struct {
	Greeting string `yaml:"greeting"`
}

// greeter is a component that exists only in this file: its manifests, its options, its smoke
// request and its URL. Nothing else in the tree knows it.
func greeter() component.Component {
	opts := component.Typed(greeterOptions{Greeting: "hello"}, func(o greeterOptions) error {
		if o.Greeting == "" {
			return fmt.Errorf("greeting is empty")
		}
		return nil
	})
	opts.Flags = []component.Flag{{Name: "greeting", Field: "greeting", Usage: "what the greeter says"}}
	return component.Component{
		Name:     "greeter",
		Summary:  "a greeter",
		Optional: true,
		Options:  opts,
		Files: fstest.MapFS{"greeter.yaml": {Data: []byte(`apiVersion: v1
kind: ConfigMap
metadata:
  name: greeter
  namespace: default
data:
  greeting: placeholder
`)}},
		Manifests: component.Files("greeter.yaml"),
		Transforms: func(p component.Params) []transform.Func {
			greeting := component.OptionsOf[greeterOptions](p).Greeting
			return []transform.Func{func(u *unstructured.Unstructured) error {
				return unstructured.SetNestedField(u.Object, greeting, "data", "greeting")
			}}
		},
		Smoke: []component.Request{{Path: "/greet", Proves: "ingress -> greeter", Check: func(body []byte) string {
			if !strings.Contains(string(body), "hello") {
				return "want a greeting"
			}
			return ""
		}}},
		URLs: []string{"/greet"},
	}
}

// A component defined only in this test file goes through the config file (its own section,
// strictly), render, up on the fake cluster (applied, waited for, smoke-tested through the
// ingress, its URL printed), status and prune, with no change to any other file.
func TestAComponentIsCompleteData(t *testing.T) {
	var mu sync.Mutex
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.URL.Path)
		mu.Unlock()
		_, _ = w.Write([]byte("hello from the greeter"))
	}))
	defer srv.Close()
	_, port, err := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	require.NoError(t, err)

	m := newMachine(t, readyNode())
	m.pipeline.Catalogue = append(m.pipeline.Catalogue, greeter())
	m.pipeline.Smoke = smoke.Run // the real smoke test, through the "ingress" on the host port
	dir := t.TempDir()
	file := func(name, body string) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte("apiVersion: kindstack.dev/v1alpha1\nkind: Stack\nexample: false\nhttpsPort: 18443\nhttpPort: "+port+"\n"+body), 0o600))
		return path
	}
	on := file("on.yaml", "greeter:\n  greeting: hello, world\n")

	_, out, err := runCLI(t, m, "render", "--config", on)
	require.NoError(t, err)
	assert.Contains(t, out, "# component: greeter")
	assert.Contains(t, out, "greeting: hello, world", "its option shaped its object")
	assert.Contains(t, out, kube.ComponentLabel+": greeter")

	_, _, err = runCLI(t, m, "render", "--config", file("typo.yaml", "greeter:\n  greting: hi\n"))
	assert.ErrorContains(t, err, `line 7: unknown field "greting" (did you mean "greeting"?)`, "its section is decoded strictly")
	_, _, err = runCLI(t, m, "render", "--config", on, "--greeting", "")
	assert.ErrorContains(t, err, "invalid value for --greeting: greeting is empty", "its flag is checked like its field")

	up, _, err := runCLI(t, m, "up", "--config", on, "-o", "json")
	require.NoError(t, err)
	assert.Contains(t, m.engine.events, "apply ConfigMap/default/greeter")
	assert.Contains(t, m.engine.events, "ready greeter", "it was waited for")
	mu.Lock()
	assert.Contains(t, asked, "/greet", "its smoke request went through the ingress")
	mu.Unlock()
	assert.Contains(t, up["urls"], "http://localhost:"+port+"/greet", "its URL is printed")

	status, _, err := runCLI(t, m, "status", "--config", on, "-o", "json")
	require.NoError(t, err)
	var names []string
	for _, c := range status["components"].([]any) {
		names = append(names, c.(map[string]any)["name"].(string))
	}
	assert.Contains(t, names, "greeter")

	_, _, err = runCLI(t, m, "up", "--config", file("off.yaml", "greeter: false\n"))
	require.NoError(t, err)
	require.NotEmpty(t, m.engine.pruneCalls)
	assert.Contains(t, m.engine.pruneCalls[len(m.engine.pruneCalls)-1], kube.Ref{Kind: "ConfigMap", Namespace: "default", Name: "greeter"}, "switched off, it is pruned")
	assert.NotContains(t, keys(m.engine.inventory), "greeter")
}
