//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"
)

// testbedTools are the kind CLI (built from the kind module kindstack requires) and kubectl of
// the test bed, built by e2e/testbed/tutorial.sh build (cached).
func testbedTools(t *testing.T) (kindCLI, kubectl string) {
	t.Helper()
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	script := filepath.Join(root, "e2e", "testbed", "tutorial.sh")
	if out, err := exec.Command("bash", script, "build").CombinedOutput(); err != nil {
		msg := fmt.Sprintf("e2e: THE TEST BED'S KIND CLI CANNOT BE BUILT (%v): %s", err, out)
		if onCI() {
			t.Fatal(msg)
		}
		t.Skip("SKIPPED: " + msg)
	}
	out, err := exec.Command("bash", script, "paths").Output()
	require.NoError(t, err)
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			switch k {
			case "KIND_CLI":
				kindCLI = v
			case "KUBECTL":
				kubectl = v
			}
		}
	}
	for _, p := range []string{kindCLI, kubectl} {
		if _, err := os.Stat(p); err != nil {
			msg := "e2e: " + p + " is missing; run e2e/testbed/setup.sh binaries and tutorial.sh build"
			if onCI() {
				t.Fatal(msg)
			}
			t.Skip("SKIPPED: " + msg)
		}
	}
	return kindCLI, kubectl
}

// tool runs a test bed tool as the world's user.
func (w *world) tool(t *testing.T, stdin []byte, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "HOME="+w.home, "KUBECONFIG="+w.kubeconfig)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s %s\n%s", filepath.Base(bin), strings.Join(args, " "), out)
	return string(out)
}

// airgapImages are the images the air-gapped config points kindstack's manifests at, except
// Traefik's (this test installs ingress-nginx).
func airgapImages(t *testing.T, w *world) []string {
	t.Helper()
	data, err := os.ReadFile(w.config)
	require.NoError(t, err)
	var stack struct {
		Images map[string]string `json:"images"`
	}
	require.NoError(t, yaml.Unmarshal(data, &stack))
	var out []string
	for _, v := range stack.Images {
		if !strings.Contains(v, "traefik") && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out
}

// componentOf cuts one component's documents out of `kindstack render` output.
func componentOf(rendered, name string) string {
	var out strings.Builder
	in := false
	sc := bufio.NewScanner(strings.NewReader(rendered))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "# component: ") {
			in = strings.TrimPrefix(line, "# component: ") == name
			continue
		}
		if in {
			out.WriteString(line + "\n")
		}
	}
	return out.String()
}

// withoutKindstackLabels removes kindstack's labels from every document: what a user who took
// kindstack's rendered manifests into their own tooling would apply.
func withoutKindstackLabels(t *testing.T, docs string) []byte {
	t.Helper()
	var out bytes.Buffer
	for _, doc := range strings.Split(docs, "\n---\n") {
		doc = strings.TrimPrefix(strings.TrimSpace(doc), "---")
		if strings.TrimSpace(doc) == "" {
			continue
		}
		u := &unstructured.Unstructured{}
		require.NoError(t, yaml.Unmarshal([]byte(doc), &u.Object))
		labels := u.GetLabels()
		delete(labels, "app.kubernetes.io/managed-by")
		delete(labels, "kindstack.dev/component")
		u.SetLabels(labels)
		y, err := yaml.Marshal(u.Object)
		require.NoError(t, err)
		out.WriteString("---\n")
		out.Write(y)
	}
	return out.Bytes()
}

// objectSet is every object the API server lists, of every resource kind it serves, by
// "group/Kind namespace/name uid".
func objectSet(t *testing.T, cfg *rest.Config) map[string]bool {
	t.Helper()
	disco, err := discovery.NewDiscoveryClientForConfig(cfg)
	require.NoError(t, err)
	dyn, err := dynamic.NewForConfig(cfg)
	require.NoError(t, err)
	lists, err := disco.ServerPreferredResources()
	require.NoError(t, err)
	out := map[string]bool{}
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		require.NoError(t, err)
		for _, r := range l.APIResources {
			// Events come and go by themselves; metrics are measurements, not objects.
			if !slices.Contains(r.Verbs, "list") || r.Kind == "Event" || gv.Group == "metrics.k8s.io" {
				continue
			}
			items, err := dyn.Resource(gv.WithResource(r.Name)).List(context.Background(), metav1.ListOptions{})
			require.NoError(t, err, "list %s", r.Name)
			for _, it := range items.Items {
				out[fmt.Sprintf("%s/%s %s/%s %s", gv.Group, r.Kind, it.GetNamespace(), it.GetName(), it.GetUID())] = true
			}
		}
	}
	return out
}

// diff lists what is in a and not in b.
func diff(a, b map[string]bool) []string {
	var out []string
	for k := range a {
		if !b[k] {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// A kind cluster made with the kind CLI (no kindstack spec, no ingress-ready label, no port
// mappings) gets the stack with `up --context`: its own metrics-server (installed beforehand from
// kindstack's render output, under another field manager) is used, not replaced; the ingress is
// reached through its Service; `down --context` leaves the cluster's objects exactly as they were.
func TestUpOnAClusterKindstackDidNotCreate(t *testing.T) {
	w := newWorld(t, "kse2e-context")
	if w.config == "" {
		t.Skip("SKIPPED: this scenario runs on the air-gapped test bed (KINDSTACK_E2E_CONFIG=e2e/testdata/airgap.yaml)")
	}
	kindCLI, kubectl := testbedTools(t)
	kctx := "kind-" + w.name

	// The cluster, as a person makes it with kind alone; a run that was interrupted left it.
	if strings.Contains(w.tool(t, nil, kindCLI, "get", "clusters"), w.name+"\n") {
		w.tool(t, nil, kindCLI, "delete", "cluster", "--name", w.name)
	}
	start := time.Now()
	w.tool(t, nil, kindCLI, "create", "cluster", "--name", w.name, "--image", nodeImage(t, w), "--wait", "5m")
	t.Cleanup(func() {
		if t.Failed() {
			r := w.run(t, 5*time.Minute, "", "logs", "--context", kctx, "--output-dir", filepath.Join(os.Getenv("KINDSTACK_E2E_ARTIFACTS")+"/"+t.Name(), w.name))
			t.Logf("diagnostics: %s", strings.TrimSpace(r.stdout+r.stderr))
		}
		if os.Getenv("KINDSTACK_E2E_KEEP") != "1" {
			w.tool(t, nil, kindCLI, "delete", "cluster", "--name", w.name)
		}
	})
	t.Logf("kind create cluster: %s", time.Since(start).Round(time.Second))
	// Offline, the images come from the test bed's engine, as `kind load` gives them.
	w.tool(t, nil, kindCLI, append([]string{"load", "docker-image", "--name", w.name}, airgapImages(t, w)...)...)

	// The user's own metrics-server: kindstack's rendered manifests, without kindstack's labels,
	// applied with kubectl under the user's field manager.
	rendered := w.run(t, 2*time.Minute, w.config, "render")
	require.Equal(t, 0, rendered.code, "%s", rendered)
	theirs := withoutKindstackLabels(t, componentOf(rendered.stdout, "metrics-server"))
	require.NotEmpty(t, theirs)
	w.tool(t, theirs, kubectl, "--context", kctx, "apply", "--server-side", "--field-manager", "e2e-user", "-f", "-")
	w.tool(t, nil, kubectl, "--context", kctx, "wait", "--for=condition=Available", "apiservice/v1beta1.metrics.k8s.io", "--timeout=5m")
	// An object of the user's own, in the namespace kindstack keeps its records in.
	w.tool(t, nil, kubectl, "--context", kctx, "-n", "kube-public", "create", "configmap", "e2e-own", "--from-literal=mine=yes")

	// An object kindstack would apply that the user made by hand is refused, named with its
	// manager, before anything changes; once it is gone, up goes ahead.
	w.tool(t, nil, kubectl, "--context", kctx, "create", "clusterrole", "ingress-nginx", "--verb=get", "--resource=pods")
	refused := w.run(t, 3*time.Minute, w.config, "up", "--context", kctx)
	assert.Equal(t, 1, refused.code, "%s", refused)
	assert.Contains(t, refused.stderr, "ClusterRole/ingress-nginx (managed by kubectl-create)", "%s", refused)
	assert.Contains(t, refused.stderr, "pass --force to take them over")
	w.tool(t, nil, kubectl, "--context", kctx, "delete", "clusterrole", "ingress-nginx")
	ns := w.tool(t, nil, kubectl, "--context", kctx, "get", "namespaces", "-o", "name")
	assert.NotContains(t, ns, "namespace/ingress-nginx", "nothing was applied")

	cfg := w.restConfig(t) // kind's context is kind-<name>, the one restConfig reads
	cs := w.clientset(t)
	before := objectSet(t, cfg)
	ownBefore, err := cs.CoreV1().ConfigMaps("kube-public").Get(context.Background(), "e2e-own", metav1.GetOptions{})
	require.NoError(t, err)
	msBefore, err := cs.AppsV1().Deployments("kube-system").Get(context.Background(), "metrics-server", metav1.GetOptions{})
	require.NoError(t, err)
	kubeconfigBefore, err := os.ReadFile(w.kubeconfig)
	require.NoError(t, err)

	r, sum := w.up(t, "up", w.config, 10*time.Minute, "--context", kctx)
	require.Equal(t, 0, r.code, "%s", r)
	assert.True(t, sum.Ready)
	assert.False(t, sum.Created, "nothing is created")
	assert.Equal(t, kctx, sum.Context)
	t.Logf("up --context from nothing: %.1fs, ingress reached through %s", sum.Seconds, sum.Route)
	require.NotEmpty(t, sum.Route, "up says which route the smoke test took")
	assert.Contains(t, r.stderr, "answers · through "+sum.Route)
	assert.NotContains(t, strings.Join(timingSteps(sum), ","), "metrics-server", "the cluster's own metrics-server is used, not installed again")
	if strings.HasPrefix(sum.Route, "NodePort") {
		// A NodePort on the node container's address works from this machine after up returns.
		var healthy string
		for _, u := range sum.URLs {
			if strings.HasSuffix(u, "/api/healthy") {
				healthy = u
			}
		}
		require.NotEmpty(t, healthy, "%v", sum.URLs)
		resp, err := http.Get(healthy)
		require.NoError(t, err)
		_ = resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, healthy)
	} else {
		assert.Contains(t, sum.Route, "port-forward")
		assert.NotEmpty(t, sum.Again, "the command that opens the port-forward again")
	}

	msAfter, err := cs.AppsV1().Deployments("kube-system").Get(context.Background(), "metrics-server", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, msBefore.Generation, msAfter.Generation, "the user's metrics-server is not changed")
	for _, m := range msAfter.ManagedFields {
		assert.NotContains(t, m.Manager, "kindstack", "kindstack never wrote the user's metrics-server")
	}
	_, err = cs.CoreV1().ConfigMaps("kube-public").Get(context.Background(), "kindstack-inventory-metrics-server", metav1.GetOptions{})
	assert.Error(t, err, "no inventory of a metrics-server kindstack did not install")

	again, sumAgain := w.up(t, "up", w.config, 10*time.Minute, "--context", kctx)
	require.Equal(t, 0, again.code, "%s", again)
	t.Logf("up --context on a ready cluster: %.1fs (route %s)", sumAgain.Seconds, sumAgain.Route)

	st := w.run(t, 3*time.Minute, "", "status", "--context", kctx, "-o", "json")
	require.Equal(t, 0, st.code, "%s", st)
	var rep struct {
		Ready        bool              `json:"ready"`
		Capabilities map[string]string `json:"capabilities"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(st.stdout), &rep))
	assert.True(t, rep.Ready)
	assert.Equal(t, "the cluster's own: APIService v1beta1.metrics.k8s.io (Service kube-system/metrics-server)", rep.Capabilities["metrics"])
	assert.Equal(t, "ingress-nginx (installed by kindstack)", rep.Capabilities["ingress"])

	down := w.run(t, 6*time.Minute, "", "down", "--context", kctx)
	require.Equal(t, 0, down.code, "%s", down)
	after := objectSet(t, cfg)
	assert.Empty(t, diff(after, before), "down --context left nothing of kindstack's")
	assert.Empty(t, diff(before, after), "down --context deleted nothing it did not create")
	ownAfter, err := cs.CoreV1().ConfigMaps("kube-public").Get(context.Background(), "e2e-own", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, ownBefore.ResourceVersion, ownAfter.ResourceVersion, "the user's object is untouched")
	kubeconfigAfter, err := os.ReadFile(w.kubeconfig)
	require.NoError(t, err)
	assert.Equal(t, string(kubeconfigBefore), string(kubeconfigAfter), "the kubeconfig is never rewritten")
}

// timingSteps lists the step names of an up summary.
func timingSteps(sum upSummary) []string {
	var out []string
	for _, s := range sum.Timings {
		out = append(out, s.Step)
	}
	return out
}
