package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	kindcluster "sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/log"

	"github.com/kindstack/kindstack/cluster"
	"github.com/kindstack/kindstack/internal/pipeline"
	"github.com/kindstack/kindstack/internal/steps"
)

// slowKind is a kind whose create lasts until the node's containerd is configured and the early
// imports have begun, then a little longer: the imports outlive the cluster step.
type slowKind struct {
	*fakeKind
	configured chan struct{}
}

func (k *slowKind) Create(name string, opts ...kindcluster.CreateOption) error {
	select {
	case <-k.configured:
		time.Sleep(50 * time.Millisecond) // Configured runs just after the node said so
	case <-time.After(10 * time.Second):
		return errors.New("the node was never asked whether it is configured")
	}
	return k.fakeKind.Create(name, opts...)
}

// earlyMachine is a machine whose cluster create lets the early imports start, each taking
// importTime, counting the imports in flight and those that started after Up returned.
type earlyMachine struct {
	*machine
	inFlight, late atomic.Int32
	returned       atomic.Bool
}

func newEarlyMachine(t *testing.T, importTime time.Duration) *earlyMachine {
	t.Helper()
	em := &earlyMachine{machine: newMachine(t, readyNode())}
	kind := &slowKind{fakeKind: em.kind, configured: make(chan struct{})}
	var once sync.Once
	mgr := em.pipeline.Cluster
	mgr.NewProvider = func(cluster.Runtime, log.Logger) cluster.Provider { return kind }
	run := mgr.Run
	mgr.Run = func(ctx context.Context, name string, args ...string) ([]byte, error) {
		switch {
		case len(args) > 0 && args[0] == "ps":
			return []byte("kindstack-control-plane\trunning\n"), nil
		case len(args) > 0 && args[0] == "exec" && strings.Contains(strings.Join(args, " "), "ca.crt"):
			once.Do(func() { close(kind.configured) })
			return nil, nil
		}
		return run(ctx, name, args...)
	}
	nodes := mgr.Nodes
	mgr.Nodes = func(ctx context.Context, rt cluster.Runtime, name string) ([]cluster.ImageNode, error) {
		if em.returned.Load() {
			em.late.Add(1)
		}
		em.inFlight.Add(1)
		defer em.inFlight.Add(-1)
		time.Sleep(importTime)
		return nodes(ctx, rt, name)
	}
	return em
}

func TestUpHandsTheEarlyImportsToTheStepsThatWaitForThem(t *testing.T) {
	m := newEarlyMachine(t, 150*time.Millisecond)
	var progress bytes.Buffer
	sum, err := m.pipeline.Up(context.Background(), steps.NewRunner(&progress, steps.Options{Verbose: true}), pipeline.UpOptions{Settings: settings()})
	require.NoError(t, err, progress.String())
	require.Contains(t, progress.String(), "importing images while the control plane starts", "the imports began while kind created the cluster")

	// Each component's install took its early import over: the import is a phase of that install,
	// from when it really began, and the cluster step, long reported, got nothing after its end.
	// They run one after the other, so the first began while the cluster was created.
	cl := timing(t, sum, "Cluster kindstack")
	first := math.Inf(1)
	for _, name := range []string{"ingress-nginx", "metrics-server", "example"} {
		first = min(first, timing(t, sum, "Install components/Install "+name+"/early import").Start)
	}
	assert.Less(t, first, cl.Start+cl.Seconds, "an import began while the cluster was created")
	for _, tj := range sum.Timings {
		if strings.HasPrefix(tj.Step, "Cluster kindstack/") {
			assert.LessOrEqual(t, tj.Start+tj.Seconds, cl.Start+cl.Seconds+0.002, "%s ended after the cluster step reported", tj.Step)
		}
	}
	// No detail line of the cluster step's (three spaces, then ·) follows its ✓ line.
	_, after, ok := strings.Cut(progress.String(), "✓ Cluster kindstack")
	require.True(t, ok, progress.String())
	for _, line := range strings.Split(after, "\n") {
		assert.False(t, strings.HasPrefix(line, "   · "), "a line printed into the cluster step after it reported: %q", line)
	}
}

func TestUpJoinsTheEarlyImportsWhenALaterStepFails(t *testing.T) {
	m := newEarlyMachine(t, 150*time.Millisecond)
	m.engine.readErr = errors.New("the API server went away")
	var progress lockedBuffer
	_, err := m.pipeline.Up(context.Background(), steps.NewRunner(&progress, steps.Options{Verbose: true}), pipeline.UpOptions{Settings: settings()})
	m.returned.Store(true)
	require.ErrorContains(t, err, "the API server went away", "prune failed, so no install took the imports over")
	printed := progress.String()

	assert.Zero(t, m.inFlight.Load(), "an import still ran when up returned")
	time.Sleep(400 * time.Millisecond)
	assert.Zero(t, m.late.Load(), "an import started after up returned")
	assert.Equal(t, printed, progress.String(), "nothing is printed after up returned")
}

// lockedBuffer is a bytes.Buffer that a goroutine may write while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
