//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
)

// fixture is the one cluster the scenarios share, the way controller-runtime's envtest shares a
// control plane and kind's e2e a cluster. Creating a cluster costs about a minute, so a scenario
// does not make its own: it states its precondition (no cluster, a half-made one, a ready one with
// these settings, a row in the example's database) and the fixture converges the cluster there.
// Each precondition looks first, cheaply (`status -o json`, the kubeconfig, a few reads), and acts
// only when the cluster is not there yet, by what a user would run: `up` with the scenario's
// settings (about 2 s on a ready cluster), `down`, or recreating a half-made cluster.
//
// So a scenario runs alone, from nothing or on a cluster kept by KINDSTACK_E2E_KEEP=1, and a
// failed one hides nothing: the next one converges from whatever state it left. The scenarios are
// ordered (scenarios_test.go) so that each one's precondition is what the one before leaves, and
// a whole run converges only where it must; the run ends with a summary of what the fixture did.
//
// The world the cluster was made in (HOME, kubeconfig, kindstack's own records, the host ports)
// lives in a directory named for the cluster (homeFor) and is kept with it, so a later run finds
// the cluster exactly as a user who kept it would. Scenarios do not call t.Parallel.
type fixture struct {
	name string
	home string
	w    *world // made by the first scenario that asks
	// done is what the fixture converged, scenario by scenario, for the summary.
	done []string
}

func newFixture(name string) *fixture {
	return &fixture{name: name, home: homeFor(name)}
}

// homeFor is the HOME of the world the scenarios' cluster lives in: one per user and cluster name,
// kept with the cluster.
func homeFor(cluster string) string {
	return filepath.Join(os.TempDir(), fmt.Sprintf("kindstack-e2e-%d-%s", os.Getuid(), cluster))
}

// stack is the settings a scenario needs the cluster to run: what the fixture's `up` gets. The
// example always runs.
type stack struct {
	ingress string // --ingress: nginx or traefik
	// anyRoute: the scenario does not mind how the example is routed; otherwise it is through its
	// Ingress (--example-route ingress).
	anyRoute bool
	// mirrored: every image comes through the test bed's registry as a mirror, nothing is
	// preloaded (mirrorConfig); the registry runs.
	mirrored bool
}

func (s stack) String() string {
	out := s.ingress
	if s.mirrored {
		out += ", mirrored"
	}
	if s.anyRoute {
		out += ", any route"
	}
	return out
}

var (
	nginxStack    = stack{ingress: "nginx"}
	traefikStack  = stack{ingress: "traefik"}
	mirroredStack = stack{ingress: "traefik", mirrored: true}
)

// world is the shared world, made on first use, with diagnostics collected if the scenario fails.
func (f *fixture) world(t *testing.T) *world {
	t.Helper()
	if f.w == nil {
		require.NoError(t, os.MkdirAll(f.home, 0o700))
		w := newWorldIn(t, f.name, f.home)
		f.hostPortsOfNode(t, w)
		f.w = w
	}
	w := f.w
	t.Cleanup(func() {
		if t.Failed() {
			w.diagnose(t)
		}
	})
	return w
}

// hostPortsOfNode gives the world the host ports of a cluster that is already there (kept from an
// earlier run), unless KINDSTACK_E2E_HTTP_PORT and _HTTPS_PORT name them: `up` with other ports
// would refuse it.
func (f *fixture) hostPortsOfNode(t *testing.T, w *world) {
	t.Helper()
	if os.Getenv("KINDSTACK_E2E_HTTP_PORT") != "" || os.Getenv("KINDSTACK_E2E_HTTPS_PORT") != "" {
		return
	}
	out, err := exec.Command(w.runtime, "inspect", "-f", "{{json .HostConfig.PortBindings}}", w.name+"-control-plane").Output()
	if err != nil {
		return // no node: the ports newWorldIn picked
	}
	var bindings map[string][]struct {
		HostPort string `json:"HostPort"`
	}
	require.NoError(t, json.Unmarshal(out, &bindings), "port bindings of %s-control-plane: %s", w.name, out)
	port := func(container string) int {
		if len(bindings[container]) == 0 {
			return 0
		}
		p, _ := strconv.Atoi(bindings[container][0].HostPort)
		return p
	}
	if plain, tls := port("80/tcp"), port("443/tcp"); plain != 0 && tls != 0 {
		w.httpPort, w.httpsPort = plain, tls
		t.Logf("fixture: cluster %s exists, on host ports %d and %d", w.name, plain, tls)
	}
}

// converge records and logs that the fixture acts, and why, before it does.
func (f *fixture) converge(t *testing.T, why, action string) {
	t.Helper()
	t.Logf("fixture: %s, so %s", why, action)
	f.done = append(f.done, fmt.Sprintf("%s: %s, so %s", t.Name(), why, action))
}

// look is where every precondition starts: status with config (a third of a second on a ready
// cluster). Only a status that could not look at all fails the scenario.
func (f *fixture) look(t *testing.T, w *world, config string) statusReport {
	t.Helper()
	r, rep := w.statusWith(t, config)
	require.Empty(t, rep.Problem, "status cannot look at the cluster\n%s", r)
	return rep
}

func halfMade(rep statusReport) bool {
	return rep.Cluster.Exists && strings.Contains(rep.Cluster.Problem, "half-created")
}

// Absent: no cluster of the name.
func (f *fixture) Absent(t *testing.T) *world {
	t.Helper()
	w := f.world(t)
	w.ingress = ""
	f.absent(t, w, f.look(t, w, w.config))
	return w
}

// absent deletes the cluster status (rep) saw.
func (f *fixture) absent(t *testing.T, w *world, rep statusReport) {
	t.Helper()
	if !rep.Cluster.Exists {
		return
	}
	f.converge(t, "cluster "+w.name+" exists", "down")
	r := w.run(t, 5*time.Minute, w.config, "down")
	require.Equal(t, 0, r.code, "fixture: down\n%s", r)
}

// HalfMade: a cluster a kindstack was SIGKILLed while creating (nothing could clean up).
func (f *fixture) HalfMade(t *testing.T) *world {
	t.Helper()
	w := f.world(t)
	w.ingress = ""
	rep := f.look(t, w, w.config)
	if halfMade(rep) {
		return w
	}
	f.absent(t, w, rep)
	f.converge(t, "no half-made cluster", "up killed while kind creates the node")
	killDuringCreate(t, w)
	return w
}

// Exists: a cluster kindstack created, with any settings, its context in the kubeconfig.
func (f *fixture) Exists(t *testing.T) *world {
	t.Helper()
	w := f.world(t)
	rep := f.look(t, w, w.config)
	if rep.Cluster.Exists && !halfMade(rep) && hasContext(t, w) {
		return w
	}
	f.ready(t, w, nginxStack)
	return w
}

// Ready: the stack runs with the settings s and everything is ready.
func (f *fixture) Ready(t *testing.T, s stack) *world {
	t.Helper()
	w := f.world(t)
	f.ready(t, w, s)
	return w
}

func (f *fixture) ready(t *testing.T, w *world, s stack) {
	t.Helper()
	w.ingress = s.ingress
	config := w.config
	if s.mirrored {
		config = f.mirrorConfig(t, w)
	}
	why := f.notReady(t, w, s, config)
	if why == "" {
		return
	}
	flags := []string{}
	if !s.anyRoute {
		flags = append(flags, "--example-route", "ingress")
	}
	f.converge(t, why, "up ("+s.String()+")")
	r, sum := w.up(t, "up", config, upTimeout, append(flags, "--restart")...)
	if r.code == 0 && sum.Ready {
		return
	}
	// Whatever a scenario left that up cannot fix (another spec, a node that will not start).
	f.converge(t, "up failed: "+sum.Error, "recreate ("+s.String()+")")
	r, sum = w.up(t, "recreate", config, upTimeout, flags...)
	require.Equal(t, 0, r.code, "fixture: recreate\n%s", r)
	require.True(t, sum.Ready, "fixture: recreate\n%s", r)
}

// notReady says why the cluster is not yet what Ready(s) promises, "" when it is.
func (f *fixture) notReady(t *testing.T, w *world, s stack, config string) string {
	t.Helper()
	rep := f.look(t, w, config)
	switch {
	case !rep.Cluster.Exists:
		return "no cluster " + w.name
	case rep.Cluster.Busy != "":
		return rep.Cluster.Busy
	case !rep.Ready:
		return "the stack is not ready (" + notReadyReason(rep) + ")"
	case rep.Ingress != ingressComponent(s.ingress):
		return "the ingress is " + rep.Ingress
	case len(rep.Leftovers) > 0:
		return "leftovers to prune: " + strings.Join(rep.Leftovers, ", ")
	case !hasContext(t, w):
		return "the kubeconfig has no context kind-" + w.name
	}
	if why := imagesNotRunning(t, w, config, s); why != "" {
		return why
	}
	if !s.anyRoute {
		_, err := w.clientset(t).NetworkingV1().Ingresses("example").Get(context.Background(), "frontend-ingress", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return "the example is not routed by its Ingress"
		}
		require.NoError(t, err, "fixture: Ingress example/frontend-ingress")
	}
	return ""
}

func notReadyReason(rep statusReport) string {
	if rep.Cluster.Problem != "" {
		return rep.Cluster.Problem
	}
	var not []string
	for _, c := range rep.Components {
		if !c.Ready {
			not = append(not, c.Name+": "+c.Reason)
		}
	}
	return strings.Join(not, "; ")
}

func ingressComponent(ingress string) string {
	if ingress == "traefik" {
		return "traefik"
	}
	return "ingress-nginx"
}

// hasContext reports whether the world's kubeconfig has the cluster's context (`up` writes it).
func hasContext(t *testing.T, w *world) bool {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(w.kubeconfig)
	require.NoError(t, err, "fixture: %s", w.kubeconfig)
	_, ok := cfg.Contexts["kind-"+w.name]
	return ok
}

// imagesNotRunning says which image `up` would run with these settings no pod runs (another
// images map, another controller), "" when every one is running.
func imagesNotRunning(t *testing.T, w *world, config string, s stack) string {
	t.Helper()
	r := w.run(t, time.Minute, config, "images", "list", "-o", "json", "--ingress", s.ingress)
	require.Equal(t, 0, r.code, "fixture: images list\n%s", r)
	var want []struct {
		Image     string `json:"image"`
		Component string `json:"component"`
		Beside    bool   `json:"beside"` // runs beside the nodes (the local registry), in no pod
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &want), "fixture: images list -o json\n%s", r)
	pods, err := w.clientset(t).CoreV1().Pods("").List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err, "fixture: list pods")
	running := map[string]bool{}
	for _, p := range pods.Items {
		for _, c := range slices.Concat(p.Spec.InitContainers, p.Spec.Containers) {
			running[imageName(c.Image)] = true
		}
	}
	for _, img := range want {
		if img.Component != "node" && !img.Beside && !running[imageName(img.Image)] {
			return fmt.Sprintf("no pod runs %s (%s)", img.Image, img.Component)
		}
	}
	return ""
}

// imageName is a reference in one spelling (docker.io/library/x:latest for x), to compare.
func imageName(ref string) string {
	parsed, err := name.ParseReference(ref)
	if err != nil {
		return ref
	}
	return parsed.Name()
}

// mirrorConfig is the config of the mirrored stack, with the test bed's registry running.
func (f *fixture) mirrorConfig(t *testing.T, w *world) string {
	t.Helper()
	reg := scriptPaths(t, "registry.sh")
	if !registryRunning(t, w, reg) {
		f.converge(t, "the test bed's registry is not running", "start it")
		reg = testbedRegistry(t)
	}
	return mirrorConfig(t, w, reg["REGISTRY_URL"])
}

// registryRunning reports whether the test bed's registry container runs.
func registryRunning(t *testing.T, w *world, reg map[string]string) bool {
	t.Helper()
	out, err := exec.Command(w.runtime, "inspect", "-f", "{{.State.Running}}", reg["REGISTRY_NAME"]).Output()
	return err == nil && strings.TrimSpace(string(out)) == "true"
}

// ImagesOnlyInNode: a Traefik stack with the mirrored settings whose node holds every image it
// runs, and no registry runs: nothing but the node could give those images again (the bundle
// scenario leaves the cluster so).
func (f *fixture) ImagesOnlyInNode(t *testing.T) *world {
	t.Helper()
	w := f.world(t)
	w.ingress = "traefik"
	reg := scriptPaths(t, "registry.sh")
	registry := registryRunning(t, w, reg)
	rep := f.look(t, w, mirrorConfig(t, w, reg["REGISTRY_URL"]))
	holds := rep.Cluster.Exists && rep.Ready && rep.Ingress == "traefik" && len(nodeLacks(t, w)) == 0
	if holds && !registry {
		return w
	}
	if !holds {
		f.ready(t, w, mirroredStack) // the node pulls every image through the registry
	}
	f.converge(t, "the test bed's registry runs", "stop it")
	stop, err := exec.Command("bash", filepath.Join("testbed", "registry.sh"), "stop").CombinedOutput()
	require.NoError(t, err, "fixture: registry.sh stop: %s", stop)
	return w
}

// nodeLacks returns the repositories of a Traefik stack's images (mirrored) of which the node's
// containerd holds no image, by tag or digest.
func nodeLacks(t *testing.T, w *world) []string {
	t.Helper()
	out, err := exec.Command(w.runtime, "exec", w.name+"-control-plane", "ctr", "-n", "k8s.io", "images", "ls", "-q").CombinedOutput()
	if err != nil {
		return []string{"(no node: " + strings.TrimSpace(string(out)) + ")"}
	}
	held := map[string]bool{}
	for _, ref := range strings.Fields(string(out)) {
		if parsed, err := name.ParseReference(ref); err == nil {
			held[parsed.Context().Name()] = true
		}
	}
	var missing []string
	for _, img := range mirrored {
		repo, err := name.NewRepository(img.registry + "/" + img.path)
		require.NoError(t, err)
		if !held[repo.Name()] {
			missing = append(missing, repo.Name())
		}
	}
	return missing
}

// Row: the example's database holds a row of the scenario's own, added through the app as a user
// would; it returns its text, for the scenario to prove the row is kept.
func (f *fixture) Row(t *testing.T, w *world) string {
	t.Helper()
	text := "row-of-" + t.Name()
	if slices.Contains(rows(t, w), text) {
		return text
	}
	status, body := httpDo(t, http.MethodPost, baseURL(w)+"/api/add", fmt.Sprintf(`{"text":%q}`, text))
	require.Equal(t, http.StatusCreated, status, "fixture: POST /api/add: %s", body)
	return text
}

// rows are the texts the example's database holds (GET /api/fetch).
func rows(t *testing.T, w *world) []string {
	t.Helper()
	status, body := httpDo(t, http.MethodGet, baseURL(w)+"/api/fetch", "")
	require.Equal(t, http.StatusOK, status, "GET /api/fetch: %s", body)
	var fetched struct {
		Texts []struct {
			Text string `json:"text"`
		} `json:"texts"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &fetched), "GET /api/fetch: %s", body)
	out := make([]string, 0, len(fetched.Texts))
	for _, r := range fetched.Texts {
		out = append(out, r.Text)
	}
	return out
}

// teardown runs after every test: it says what the fixture converged, then deletes the cluster
// and its world, or keeps both and says how to go on.
func (f *fixture) teardown(keep bool) {
	if f.w == nil {
		return
	}
	fmt.Printf("fixture: %d convergences\n", len(f.done))
	for _, d := range f.done {
		fmt.Printf("  %s\n", d)
	}
	if keep {
		fmt.Printf("KINDSTACK_E2E_KEEP=1: cluster %s (if the last scenario left one) is kept with its world (HOME %s, "+
			"kubeconfig %s); run a scenario on it again with KINDSTACK_E2E_KEEP=1 go test -tags e2e -run '^TestName$' ./e2e/, "+
			"a run without KINDSTACK_E2E_KEEP deletes both\n",
			f.name, f.home, f.w.kubeconfig)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := f.w.command(ctx, f.w.args(f.w.config, "down")).CombinedOutput()
	if err != nil {
		fmt.Printf("fixture: kindstack down --name %s failed, its world %s is kept: %v\n%s", f.name, f.home, err, out)
		return
	}
	if err := os.RemoveAll(f.home); err != nil {
		fmt.Printf("fixture: remove %s: %v\n", f.home, err)
	}
}
