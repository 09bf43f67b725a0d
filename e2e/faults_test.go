//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	kindcluster "sigs.k8s.io/kind/pkg/cluster"

	"github.com/kindstack/kindstack/cluster"
)

// running is a kindstack command started in the background, its stderr watched line by line.
type running struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stderr bytes.Buffer
	stdout bytes.Buffer
	lines  chan string
	done   chan struct{}
	code   int
	start  time.Time
}

// start runs kindstack like run does, without waiting for it.
func (w *world) start(tb testing.TB, config string, cmdArgs ...string) *running {
	tb.Helper()
	args := w.args(config, cmdArgs...)
	cmd := w.command(context.Background(), args)
	r := &running{cmd: cmd, lines: make(chan string, 1000), done: make(chan struct{})}
	cmd.Stdout = &lockedWriter{mu: &r.mu, w: &r.stdout}
	pipe, err := cmd.StderrPipe()
	require.NoError(tb, err)
	r.start = time.Now()
	require.NoError(tb, cmd.Start())
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			r.mu.Lock()
			r.stderr.WriteString(sc.Text() + "\n")
			r.mu.Unlock()
			select {
			case r.lines <- sc.Text():
			default:
			}
		}
		_, _ = io.Copy(io.Discard, pipe)
		err := cmd.Wait()
		r.code = 0
		if ee, ok := err.(*exec.ExitError); ok {
			r.code = ee.ExitCode()
		} else if err != nil {
			r.code = -1
		}
		close(r.lines)
		close(r.done)
	}()
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-r.done
	})
	return r
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// waitLine waits until stderr has a line containing want, and fails the test if it never comes.
func (r *running) waitLine(tb testing.TB, want string, timeout time.Duration) {
	tb.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case line, ok := <-r.lines:
			if !ok {
				tb.Fatalf("kindstack exited before printing %q\n%s", want, r.output())
			}
			if strings.Contains(line, want) {
				return
			}
		case <-deadline:
			tb.Fatalf("kindstack did not print %q within %s\n%s", want, timeout, r.output())
		}
	}
}

// wait waits for the command to exit and returns its exit code.
func (r *running) wait(tb testing.TB, timeout time.Duration) int {
	tb.Helper()
	select {
	case <-r.done:
		return r.code
	case <-time.After(timeout):
		tb.Fatalf("kindstack did not exit within %s\n%s", timeout, r.output())
		return -1
	}
}

func (r *running) output() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return "--- stdout\n" + r.stdout.String() + "--- stderr\n" + r.stderr.String()
}

// nodeContainers lists the cluster's node containers, whatever their state.
func (w *world) nodeContainers(tb testing.TB, name string) []string {
	tb.Helper()
	out, err := exec.Command(w.runtime, "ps", "-a", "--filter", "label=io.x-k8s.kind.cluster="+name, "--format", "{{.Names}}").Output()
	require.NoError(tb, err)
	return strings.Fields(string(out))
}

// waitNodeContainer waits until kind has made the cluster's first node container: create is under way.
func (w *world) waitNodeContainer(tb testing.TB, r *running) {
	tb.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for len(w.nodeContainers(tb, w.name)) == 0 {
		select {
		case <-r.done:
			tb.Fatalf("kindstack exited before creating a node\n%s", r.output())
		default:
		}
		require.True(tb, time.Now().Before(deadline), "no node container after 3m\n%s", r.output())
		time.Sleep(200 * time.Millisecond)
	}
}

// Ctrl-C while kind creates the node: nothing is left, the kubeconfig is as it was.
func testInterruptDuringCreate(t *testing.T, w *world) {
	before, err := os.ReadFile(w.kubeconfig)
	require.NoError(t, err)
	r := w.start(t, w.config, "up")
	w.waitNodeContainer(t, r)
	sent := time.Now()
	require.NoError(t, r.cmd.Process.Signal(syscall.SIGINT))
	code := r.wait(t, 3*time.Minute)
	t.Logf("fault: SIGINT during create reported and cleaned up in %s", time.Since(sent).Round(100*time.Millisecond))
	assert.Equal(t, 1, code, r.output())
	out := r.output()
	assert.Contains(t, out, "cleaning up, press Ctrl-C again to force")
	assert.Contains(t, out, "the half-created cluster was deleted")
	assert.Empty(t, w.nodeContainers(t, w.name), "no node container is left after an interrupted create")
	after, err := os.ReadFile(w.kubeconfig)
	require.NoError(t, err)
	assert.Equal(t, string(before), string(after), "the kubeconfig is byte for byte what it was")
}

// SIGKILL while kind creates the node: nothing can clean up, so the next up must.
func testKillDuringCreate(t *testing.T, w *world) {
	killDuringCreate(t, w)
	assert.NotEmpty(t, w.nodeContainers(t, w.name), "a killed create leaves its node behind (nothing could clean up)")
	// The lock died with the process: a command that does not wait for it gets it at once.
	st := w.run(t, time.Minute, w.config, "status")
	assert.NotContains(t, st.stderr+st.stdout, "is changing this cluster right now", "the lock is not stale")
}

// killDuringCreate starts up and SIGKILLs it once kind has made the node container.
func killDuringCreate(t *testing.T, w *world) {
	t.Helper()
	r := w.start(t, w.config, "up")
	w.waitNodeContainer(t, r)
	// kindstack records the node containers it makes within a quarter of a second of their
	// appearing (a kill inside that window leaves a cluster `up` refuses to delete without --force:
	// it cannot tell it is its own); a kill somewhere in kind's ~20 s create lands after it.
	time.Sleep(time.Second)
	require.NoError(t, r.cmd.Process.Kill())
	r.wait(t, time.Minute)
}

// Two up at once on a ready cluster: the second waits for the first, both succeed.
func testTwoUpsAtOnce(t *testing.T, w *world) {
	first := w.start(t, w.config, "up")
	second := w.start(t, w.config, "up")
	c1, c2 := first.wait(t, upTimeout), second.wait(t, upTimeout)
	assert.Equal(t, 0, c1, first.output())
	assert.Equal(t, 0, c2, second.output())
	waited := strings.Contains(first.output(), "waiting for another kindstack on cluster "+w.name) ||
		strings.Contains(second.output(), "waiting for another kindstack on cluster "+w.name)
	assert.True(t, waited, "one of them said it waits for the other\n%s\n%s", first.output(), second.output())

	// While another kindstack holds the cluster (here: this test), --no-wait fails at once and
	// status, which never waits for the lock, says who is at work.
	locks := &cluster.Manager{LockDir: cluster.DefaultLockDir(os.Getenv)}
	unlock, err := locks.Lock(context.Background(), cluster.LockOptions{Name: w.name, NoWait: true})
	require.NoError(t, err)
	defer unlock()
	pid := strconv.Itoa(os.Getpid())
	r := w.run(t, time.Minute, w.config, "up", "--no-wait")
	assert.Equal(t, 1, r.code, "%s", r)
	assert.Equal(t, "kindstack: another kindstack (pid "+pid+") is changing cluster \""+w.name+"\"; wait for it to finish, or run again without --no-wait\n", r.stderr)
	assert.Less(t, r.duration, 5*time.Second, "--no-wait does not wait")
	st := w.run(t, time.Minute, w.config, "status")
	assert.Equal(t, 0, st.code, "%s", st)
	assert.Contains(t, st.stdout, "another kindstack (pid "+pid+") is changing this cluster right now")
}

// The node container stopped (a reboot, Docker Desktop restarted): status says so at once, up
// says what to run, up --restart brings everything back.
func testStoppedNode(t *testing.T, w *world) {
	node := w.name + "-control-plane"
	out, err := exec.Command(w.runtime, "stop", node).CombinedOutput()
	require.NoError(t, err, "%s", out)

	r := w.run(t, time.Minute, w.config, "status")
	t.Logf("fault: status of a stopped node answered in %s", r.duration.Round(10*time.Millisecond))
	assert.Equal(t, 1, r.code, "%s", r)
	assert.Less(t, r.duration, 10*time.Second, "status does not wait on a stopped node")
	assert.Contains(t, r.stderr, "node container "+node+" is exited")
	assert.Contains(t, r.stderr, "kindstack up --restart")

	up := w.run(t, 5*time.Minute, w.config, "up", "--http-port", strconv.Itoa(w.httpPort), "--https-port", strconv.Itoa(w.httpsPort))
	assert.Equal(t, 1, up.code, "%s", up)
	assert.Contains(t, up.stderr, "is not running: node container "+node+" is exited; run `kindstack up --restart")

	res, sum := w.up(t, "up", w.config, upTimeout, "--restart")
	require.Equal(t, 0, res.code, "%s", res)
	assert.True(t, sum.Ready)
	t.Logf("fault: up --restart had everything ready again in %.1fs", sum.Seconds)
	status, body := httpDo(t, http.MethodGet, baseURL(w)+"/api/healthy", "")
	assert.Equal(t, http.StatusOK, status, "GET /api/healthy after the restart: %s", body)
}

// up and down at once: down waits for up, then deletes; nobody destroys the other's half.
func testUpAndDownAtOnce(t *testing.T, w *world) {
	up := w.start(t, w.config, "up")
	up.waitLine(t, "Preflight", time.Minute)
	down := w.start(t, w.config, "down")
	assert.Equal(t, 0, up.wait(t, upTimeout), up.output())
	assert.Equal(t, 0, down.wait(t, 5*time.Minute), down.output())
	assert.Contains(t, down.output(), "waiting for another kindstack on cluster "+w.name)
	assert.Empty(t, w.nodeContainers(t, w.name), "down ran after up, so the cluster is gone")
}

// A kind cluster kindstack did not create is left alone unless --force.
func TestForeignClusterIsLeftAlone(t *testing.T) {
	w := newWorld(t, "kse2e-foreign")
	provider := kindcluster.NewProvider(kindcluster.ProviderWithDocker())
	if w.runtime != "docker" {
		opt, err := kindcluster.DetectNodeProvider()
		require.NoError(t, err)
		provider = kindcluster.NewProvider(opt)
	}
	kubeconfig := t.TempDir() + "/kubeconfig"
	// The name is this test's own: a cluster an interrupted run of it left is deleted first.
	names, err := provider.List()
	require.NoError(t, err)
	if slices.Contains(names, w.name) {
		t.Logf("cluster %s is left from an earlier run: deleting it", w.name)
		require.NoError(t, provider.Delete(w.name, kubeconfig))
	}
	require.NoError(t, provider.Create(w.name,
		kindcluster.CreateWithNodeImage(nodeImage(t, w)),
		kindcluster.CreateWithKubeconfigPath(kubeconfig),
		kindcluster.CreateWithWaitForReady(5*time.Minute),
		kindcluster.CreateWithDisplayUsage(false), kindcluster.CreateWithDisplaySalutation(false)))
	t.Cleanup(func() { _ = provider.Delete(w.name, kubeconfig) })

	r := w.run(t, 2*time.Minute, w.config, "down")
	assert.Equal(t, 1, r.code, "%s", r)
	assert.True(t, strings.HasSuffix(r.stderr, "\nkindstack: cluster \""+w.name+"\" was not created by kindstack (it has no ConfigMap kube-public/kindstack-spec), so kindstack leaves it alone; pass --force to delete it anyway\n"),
		"down ends with one sentence naming the cluster and --force:\n%s", r.stderr)
	assert.NotEmpty(t, w.nodeContainers(t, w.name), "the cluster is still there")

	r = w.run(t, 2*time.Minute, w.config, "recreate", "--http-port", strconv.Itoa(w.httpPort))
	assert.Equal(t, 1, r.code, "%s", r)
	assert.Contains(t, r.stderr, "pass --force to delete it anyway")
	assert.NotEmpty(t, w.nodeContainers(t, w.name), "recreate refused before deleting anything")

	r = w.run(t, 2*time.Minute, w.config, "down", "--force")
	assert.Equal(t, 0, r.code, "%s", r)
	assert.Empty(t, w.nodeContainers(t, w.name), "--force deleted it")
}

// A kindstack cluster deleted outside kindstack and made again by kind under the same name: the
// record this machine kept of creating the first one does not authorize deleting the second, even
// when its API does not answer (a stopped node, where the record is all kindstack has to go on).
func testRecordDoesNotSpeakForAClusterMadeAgain(t *testing.T, w *world) {
	provider := kindcluster.NewProvider(kindcluster.ProviderWithDocker())
	if w.runtime != "docker" {
		opt, err := kindcluster.DetectNodeProvider()
		require.NoError(t, err)
		provider = kindcluster.NewProvider(opt)
	}
	before := w.nodeIDs(t)
	// kind's own kubeconfig, not the world's: the user's file keeps kindstack's context, as it
	// would after `kind delete cluster` run with another KUBECONFIG.
	kubeconfig := t.TempDir() + "/kubeconfig"
	require.NoError(t, provider.Delete(w.name, kubeconfig), "the cluster deleted outside kindstack")
	require.NoError(t, provider.Create(w.name,
		kindcluster.CreateWithNodeImage(nodeImage(t, w)),
		kindcluster.CreateWithKubeconfigPath(kubeconfig),
		kindcluster.CreateWithWaitForReady(5*time.Minute),
		kindcluster.CreateWithDisplayUsage(false), kindcluster.CreateWithDisplaySalutation(false)))
	t.Cleanup(func() {
		if len(w.nodeContainers(t, w.name)) > 0 {
			_ = provider.Delete(w.name, kubeconfig)
		}
	})
	again := w.nodeIDs(t)
	require.NotEqual(t, before, again, "kind made new node containers under the name")

	r := w.run(t, 2*time.Minute, w.config, "down")
	assert.Equal(t, 1, r.code, "%s", r)
	assert.Contains(t, r.stderr, "cluster \""+w.name+"\" was not created by kindstack", "the running cluster has no stored spec")
	assert.Equal(t, again, w.nodeIDs(t), "down deleted nothing")

	node := w.name + "-control-plane"
	out, err := exec.Command(w.runtime, "stop", node).CombinedOutput()
	require.NoError(t, err, "%s", out)
	r = w.run(t, 2*time.Minute, w.config, "down")
	assert.Equal(t, 1, r.code, "%s", r)
	assert.Contains(t, r.stderr, "this machine's record of creating a cluster of that name does not speak for it (its node containers are not the ones recorded",
		"a stopped node: the record names the old node containers, not these")
	assert.Contains(t, r.stderr, "pass --force to delete it anyway")
	assert.Equal(t, again, w.nodeIDs(t), "down deleted nothing")

	r = w.run(t, 2*time.Minute, w.config, "down", "--force")
	assert.Equal(t, 0, r.code, "%s", r)
	assert.Empty(t, w.nodeContainers(t, w.name), "--force deleted it")
}

// nodeIDs are the full IDs of the world's node containers, sorted.
func (w *world) nodeIDs(tb testing.TB) []string {
	tb.Helper()
	out, err := exec.Command(w.runtime, "ps", "-a", "--no-trunc", "--filter", "label=io.x-k8s.kind.cluster="+w.name, "--format", "{{.ID}}").Output()
	require.NoError(tb, err)
	ids := strings.Fields(string(out))
	slices.Sort(ids)
	return ids
}
