package cluster

import (
	"context"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
)

func TestLockIsExclusivePerClusterAndSaysWhoHoldsIt(t *testing.T) {
	t.Parallel()
	m := &Manager{LockDir: t.TempDir()}
	ctx := context.Background()
	unlock, err := m.Lock(ctx, LockOptions{Name: "kindstack"})
	require.NoError(t, err)
	pid, held := m.LockHolder("kindstack")
	assert.True(t, held)
	assert.Equal(t, os.Getpid(), pid)

	_, err = m.Lock(ctx, LockOptions{Name: "kindstack", NoWait: true})
	require.Error(t, err)
	assert.Equal(t, "another kindstack (pid "+strconv.Itoa(os.Getpid())+`) is changing cluster "kindstack"; wait for it to finish, or run again without --no-wait`, err.Error())

	other, err := m.Lock(ctx, LockOptions{Name: "other", NoWait: true})
	require.NoError(t, err, "another cluster's lock is independent")
	other()

	var waited []int
	got := make(chan error, 1)
	go func() {
		u, err := m.Lock(ctx, LockOptions{Name: "kindstack", Waiting: func(holder int) { waited = append(waited, holder) }})
		if err == nil {
			u()
		}
		got <- err
	}()
	time.Sleep(600 * time.Millisecond)
	unlock()
	select {
	case err := <-got:
		require.NoError(t, err, "the waiting command gets the lock once it is released")
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting command never got the lock")
	}
	assert.Equal(t, []int{os.Getpid()}, waited, "it said once whom it waits for")
	_, held = m.LockHolder("kindstack")
	assert.False(t, held)

	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	u, err := m.Lock(ctx, LockOptions{Name: "busy"})
	require.NoError(t, err)
	defer u()
	_, err = m.Lock(cctx, LockOptions{Name: "busy"})
	assert.ErrorContains(t, err, `waiting for another kindstack (pid `)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestCreatingMarkerAndRecord(t *testing.T) {
	t.Parallel()
	m := &Manager{StateDir: t.TempDir()}
	_, half := m.halfCreated("kindstack")
	assert.False(t, half)
	require.NoError(t, m.markCreating("kindstack"))
	mk, half := m.halfCreated("kindstack")
	assert.True(t, half)
	assert.Equal(t, os.Getpid(), mk.PID)
	assert.Empty(t, mk.Nodes, "kind has made no node container yet")
	require.NoError(t, m.markCreatingNodes("kindstack", []string{"c0ffee"}))
	mk, _ = m.halfCreated("kindstack")
	assert.Equal(t, []string{"c0ffee"}, mk.Nodes)

	require.NoError(t, m.recordCreated(StoredSpec{Spec: Spec{Name: "kindstack", HTTPPort: 8080}, Version: "v1"}, []string{"c0ffee"}))
	_, half = m.halfCreated("kindstack")
	assert.False(t, half, "a finished create is no longer half-made")
	rec, ok := m.recorded("kindstack")
	require.True(t, ok)
	assert.Equal(t, 8080, rec.Spec.HTTPPort)
	assert.Equal(t, []string{"c0ffee"}, rec.Nodes)

	require.NoError(t, m.forget("kindstack"))
	_, ok = m.recorded("kindstack")
	assert.False(t, ok)
	require.NoError(t, m.forget("kindstack"), "forgetting twice is fine")
}

func TestStatusTellsAHalfCreatedClusterFromOneBeingCreated(t *testing.T) {
	t.Parallel()
	m := testManager(t, nil, fakeRuntime{installed: dockerOnly, engineUp: true}, &fakeProvider{clusters: []string{"kindstack"}}, nil)
	m.Run = withNodeIDs(m.Run, "c0ffee")
	require.NoError(t, m.markCreatingNodes("kindstack", []string{"c0ffee"}))
	st, err := m.Status(context.Background(), "kindstack", "")
	require.NoError(t, err)
	assert.False(t, st.Ready)
	assert.Contains(t, st.Problem, "was left half-created by an interrupted kindstack")

	unlock, err := m.Lock(context.Background(), LockOptions{Name: "kindstack"})
	require.NoError(t, err)
	defer unlock()
	m.NewClient = func([]byte) (kubernetes.Interface, error) { return fake.NewClientset(), nil }
	st, err = m.Status(context.Background(), "kindstack", "")
	require.NoError(t, err)
	assert.Equal(t, "another kindstack (pid "+strconv.Itoa(os.Getpid())+") is creating this cluster right now", st.Busy)
}

// withNodeIDs answers `ps --no-trunc ... {{.ID}}` with the given node container IDs, and
// everything else with run.
func withNodeIDs(run CommandRunner, ids ...string) CommandRunner {
	return func(ctx context.Context, name string, args ...string) ([]byte, error) {
		if len(args) > 2 && args[0] == "ps" && slices.Contains(args, "--no-trunc") {
			return []byte(strings.Join(ids, "\n") + "\n"), nil
		}
		return run(ctx, name, args...)
	}
}
