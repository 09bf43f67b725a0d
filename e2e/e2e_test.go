//go:build e2e

// Package e2e runs the built kindstack binary against a real kind cluster, as a user would.
//
// Environment:
//
//	KINDSTACK_E2E_CONFIG      Stack config passed to every command (the air-gapped test bed sets
//	                          e2e/testdata/airgap.yaml); unset = kindstack's defaults (GitHub Actions).
//	KINDSTACK_E2E_NAME        cluster name (default kse2e).
//	KINDSTACK_E2E_HTTP_PORT   host ports of the test cluster (default: free ports picked at start,
//	KINDSTACK_E2E_HTTPS_PORT  so a cluster on 80/443 next to it is left alone).
//	KINDSTACK_E2E_ARTIFACTS   directory for diagnostics when a test fails (one directory per
//	                          failed scenario).
//	KINDSTACK_E2E_KEEP=1      keep the scenarios' cluster (and the HOME it was made in) after the
//	                          run, for re-running one scenario on it (fixture_test.go).
//	CI=true                   missing prerequisites fail instead of skipping.
//
// The scenarios (scenarios_test.go) share one cluster through a fixture (fixture_test.go) that
// converges it to each scenario's precondition, so each one also runs alone:
//
//	go test -tags e2e -count=1 -v -run '^TestStatusAndRepair$' ./e2e/
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// The package state, set by TestMain before any test runs: the kindstack binary it builds once,
// and the cluster fixture the scenarios share (as envtest's suites share their testEnv).
var (
	built struct {
		path string
		err  error
	}
	shared *fixture
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

// runTests builds the binary, runs the tests, then tears the shared cluster down (or keeps it):
// a function of its own so that its defers run before TestMain exits.
func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "kindstack-e2e-bin-")
	if err != nil {
		built.err = err
	} else {
		defer os.RemoveAll(dir)
		built.path, built.err = buildBinary(dir)
	}
	shared = newFixture(clusterName("kse2e"))
	code := m.Run()
	shared.teardown(os.Getenv("KINDSTACK_E2E_KEEP") == "1")
	return code
}

// clusterName is the test cluster's name: KINDSTACK_E2E_NAME overrides the scenarios' (kse2e).
func clusterName(name string) string {
	if v := os.Getenv("KINDSTACK_E2E_NAME"); v != "" && name == "kse2e" {
		return v
	}
	return name
}

func buildBinary(dir string) (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	bin := filepath.Join(dir, "kindstack")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build kindstack: %w\n%s", err, out)
	}
	return bin, nil
}

// onCI reports whether missing prerequisites must fail the run.
func onCI() bool { return os.Getenv("CI") == "true" }

// requireRuntime skips (or fails on CI) when no container engine answers.
func requireRuntime(tb testing.TB) string {
	tb.Helper()
	for _, bin := range []string{"docker", "podman", "nerdctl"} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := exec.CommandContext(ctx, bin, "info").Run()
		cancel()
		if err == nil {
			return bin
		}
	}
	msg := "e2e: NO CONTAINER RUNTIME ANSWERS (docker/podman/nerdctl info failed; DOCKER_HOST=" + os.Getenv("DOCKER_HOST") +
		"); on the test bed run: eval \"$(bash e2e/testbed/setup.sh env)\""
	if onCI() {
		tb.Fatal(msg)
	}
	tb.Skip("SKIPPED: " + msg)
	return ""
}

// world is one user's machine: a HOME and a kubeconfig that already holds a foreign context.
type world struct {
	name       string
	home       string
	kubeconfig string
	config     string // --config file, "" = defaults
	httpPort   int
	httpsPort  int
	runtime    string
	// ingress is the --ingress that up and recreate get ("" = the default, nginx).
	ingress string
}

// foreignKubeconfig is a context the user had before kindstack ran; kindstack must not touch it.
const foreignKubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: foreign-cluster
  cluster:
    server: https://foreign.invalid:6443
    insecure-skip-tls-verify: true
users:
- name: foreign-user
  user:
    token: foreign-token-do-not-touch
contexts:
- name: foreign
  context:
    cluster: foreign-cluster
    user: foreign-user
    namespace: team-a
current-context: foreign
`

// newWorld is a world of its own for one test, in a HOME that goes with the test.
func newWorld(tb testing.TB, name string) *world {
	tb.Helper()
	return newWorldIn(tb, clusterName(name), tb.TempDir())
}

// newWorldIn is a world in home; a kubeconfig already there (a kept world's) is kept as it is.
func newWorldIn(tb testing.TB, name, home string) *world {
	tb.Helper()
	require.NoError(tb, built.err, "building kindstack")
	w := &world{name: name, home: home, runtime: requireRuntime(tb)}
	w.kubeconfig = filepath.Join(w.home, ".kube", "config")
	require.NoError(tb, os.MkdirAll(filepath.Dir(w.kubeconfig), 0o700))
	if _, err := os.Stat(w.kubeconfig); os.IsNotExist(err) {
		require.NoError(tb, os.WriteFile(w.kubeconfig, []byte(foreignKubeconfig), 0o600))
	}
	if c := os.Getenv("KINDSTACK_E2E_CONFIG"); c != "" {
		abs, err := filepath.Abs(c)
		require.NoError(tb, err)
		_, err = os.Stat(abs)
		require.NoError(tb, err, "KINDSTACK_E2E_CONFIG")
		w.config = abs
	}
	w.httpPort = portFromEnv(tb, "KINDSTACK_E2E_HTTP_PORT")
	w.httpsPort = portFromEnv(tb, "KINDSTACK_E2E_HTTPS_PORT")
	for w.httpsPort == w.httpPort {
		w.httpsPort = portFromEnv(tb, "")
	}
	return w
}

func portFromEnv(tb testing.TB, key string) int {
	tb.Helper()
	if v := os.Getenv(key); key != "" && v != "" {
		p, err := strconv.Atoi(v)
		require.NoError(tb, err, key)
		return p
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// result is one finished kindstack command.
type result struct {
	args     []string
	code     int
	stdout   string
	stderr   string
	duration time.Duration
	maxRSSKB int64 // the kindstack process's peak resident set (getrusage), in KiB
}

func (r result) String() string {
	return fmt.Sprintf("kindstack %s: exit %d after %s\n--- stdout\n%s\n--- stderr\n%s",
		strings.Join(r.args, " "), r.code, r.duration.Round(time.Millisecond), r.stdout, r.stderr)
}

// args are the command line of one command in this world: its cluster name, config and ports.
func (w *world) args(config string, cmdArgs ...string) []string {
	args := append([]string{}, cmdArgs...)
	if slices.Contains(cmdArgs, "--context") { // a cluster kindstack did not create: no name, no host ports
		if config != "" {
			args = append(args, "--config", config)
		}
		return args
	}
	args = append(args, "--name", w.name)
	if config != "" {
		args = append(args, "--config", config)
	}
	if (cmdArgs[0] == "up" || cmdArgs[0] == "recreate") && !slices.Contains(cmdArgs, "--http-port") {
		args = append(args, "--http-port", strconv.Itoa(w.httpPort), "--https-port", strconv.Itoa(w.httpsPort))
	}
	// status is never told: it describes what the cluster runs.
	if (cmdArgs[0] == "up" || cmdArgs[0] == "recreate") && w.ingress != "" && !slices.Contains(cmdArgs, "--ingress") {
		args = append(args, "--ingress", w.ingress)
	}
	return args
}

// command is the built binary with args, run as the world's user: its HOME and KUBECONFIG.
func (w *world) command(ctx context.Context, args []string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, built.path, args...)
	cmd.Env = append(os.Environ(), "HOME="+w.home, "KUBECONFIG="+w.kubeconfig, "NO_COLOR=1")
	return cmd
}

// run executes the built binary with the world's HOME and KUBECONFIG. cmdArgs start with the command.
func (w *world) run(tb testing.TB, timeout time.Duration, config string, cmdArgs ...string) result {
	tb.Helper()
	return w.exec(tb, timeout, w.args(config, cmdArgs...))
}

// exec executes the built binary in the world with exactly args.
func (w *world) exec(tb testing.TB, timeout time.Duration, args []string) result {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := w.command(ctx, args)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := result{args: args, stdout: stdout.String(), stderr: stderr.String(), duration: time.Since(start)}
	if ps := cmd.ProcessState; ps != nil {
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
			r.maxRSSKB = int64(ru.Maxrss)
		}
	}
	if err != nil {
		r.code = -1
		if ee, ok := err.(*exec.ExitError); ok {
			r.code = ee.ExitCode()
		}
		if ctx.Err() != nil {
			tb.Fatalf("kindstack %s did not return within %s (test-side limit)\n%s", strings.Join(args, " "), timeout, r)
		}
	}
	tb.Logf("kindstack %s: exit %d in %s", strings.Join(args, " "), r.code, r.duration.Round(time.Second))
	return r
}

// upSummary mirrors `up -o json` (internal/pipeline.UpSummary).
type upSummary struct {
	Name       string       `json:"name"`
	Ready      bool         `json:"ready"`
	Created    bool         `json:"created"`
	Context    string       `json:"context"`
	Kubeconfig string       `json:"kubeconfig"`
	URLs       []string     `json:"urls"`
	Route      string       `json:"route"`
	Again      string       `json:"again"`
	Seconds    float64      `json:"seconds"`
	Timings    []stepTiming `json:"timings"`
	Error      string       `json:"error"`
}

// stepTiming is one entry of an -o json summary's timings.
type stepTiming struct {
	Step    string  `json:"step"`
	Start   float64 `json:"start"` // seconds since the command's first step began
	Seconds float64 `json:"seconds"`
	Error   string  `json:"error"`
}

// ingressComponent is the component that serves the world's ingress.
func (w *world) ingressComponent() string {
	if w.ingress == "traefik" {
		return "traefik"
	}
	return "ingress-nginx"
}

// statusReport mirrors `status -o json` (internal/pipeline.StatusReport).
type statusReport struct {
	Ready   bool   `json:"ready"`
	Ingress string `json:"ingress"`
	Cluster struct {
		Name    string `json:"name"`
		Exists  bool   `json:"exists"`
		Ready   bool   `json:"ready"`
		Context string `json:"context"`
		Problem string `json:"problem"`
		Busy    string `json:"busy"`
	} `json:"cluster"`
	Components []struct {
		Name   string `json:"name"`
		Ready  bool   `json:"ready"`
		Reason string `json:"reason"`
	} `json:"components"`
	Leftovers []string `json:"leftovers"`
	Problem   string   `json:"problem"`
}

func decode[T any](tb testing.TB, r result) T {
	tb.Helper()
	var v T
	require.NoError(tb, json.Unmarshal([]byte(r.stdout), &v), "stdout of %s is not the documented JSON\n%s", r.args[0], r)
	return v
}

// up runs `up -o json` (or recreate) with any extra flags and logs its per-phase timings.
func (w *world) up(tb testing.TB, command, config string, timeout time.Duration, flags ...string) (result, upSummary) {
	tb.Helper()
	r := w.run(tb, timeout+2*time.Minute, config, append([]string{command, "-o", "json", "--timeout", timeout.String()}, flags...)...)
	sum := decode[upSummary](tb, r)
	for _, t := range sum.Timings {
		tb.Logf("  timing %-45s %7.1fs %s", t.Step, t.Seconds, t.Error)
	}
	tb.Logf("  timing %-45s %7.1fs", "TOTAL "+command, sum.Seconds)
	return r, sum
}

func (w *world) status(tb testing.TB) (result, statusReport) {
	tb.Helper()
	return w.statusWith(tb, w.config)
}

// statusWith is status with another config file (status takes no other settings).
func (w *world) statusWith(tb testing.TB, config string) (result, statusReport) {
	tb.Helper()
	r := w.run(tb, 3*time.Minute, config, "status", "-o", "json")
	return r, decode[statusReport](tb, r)
}

// restConfig is the context kindstack wrote into the user's kubeconfig.
func (w *world) restConfig(tb testing.TB) *rest.Config {
	tb.Helper()
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: w.kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: "kind-" + w.name},
	).ClientConfig()
	require.NoError(tb, err, "context kind-%s in %s", w.name, w.kubeconfig)
	return cfg
}

// clientset connects through the context kindstack wrote into the user's kubeconfig.
func (w *world) clientset(tb testing.TB) kubernetes.Interface {
	tb.Helper()
	cs, err := kubernetes.NewForConfig(w.restConfig(tb))
	require.NoError(tb, err)
	return cs
}

// diagnose writes `kindstack logs` of the world's cluster into KINDSTACK_E2E_ARTIFACTS, in a
// directory named for the failed test: what a person debugging a failed run wants, collected the
// way a user would.
func (w *world) diagnose(tb testing.TB) {
	dir := os.Getenv("KINDSTACK_E2E_ARTIFACTS")
	if dir == "" || w.runtime == "" {
		return
	}
	r := w.run(tb, 5*time.Minute, w.config, "logs", "--output-dir", filepath.Join(dir, tb.Name(), w.name))
	tb.Logf("diagnostics: %s", strings.TrimSpace(r.stdout+r.stderr))
}
