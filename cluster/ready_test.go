package cluster

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWaitsGiveUpSayingWhatTheyLastSaw(t *testing.T) {
	t.Parallel()
	m := &Manager{
		APIReady: func(context.Context, []byte) error { return errors.New("GET /readyz: etcd not ready") },
		ProxyReady: func(context.Context, Runtime, string) error {
			return errors.New("kube-proxy has not programmed the Services yet")
		},
	}
	err := m.waitAPI(context.Background(), nil, 50*time.Millisecond)
	assert.EqualError(t, err, "the API server is not ready after 50ms: GET /readyz: etcd not ready")
	err = m.waitProxy(context.Background(), Runtime{}, "x", 50*time.Millisecond)
	assert.EqualError(t, err, "kube-proxy has not programmed the Services yet after 50ms")
}

func TestWaitAPIReturnsOnceTheServerAnswers(t *testing.T) {
	t.Parallel()
	var asked atomic.Int32
	m := &Manager{APIReady: func(context.Context, []byte) error {
		if asked.Add(1) < 2 {
			return errors.New("connection refused")
		}
		return nil
	}}
	require.NoError(t, m.waitAPI(context.Background(), nil, time.Minute))
	assert.Equal(t, int32(2), asked.Load(), "asked again a second later, and no more once it answered")
}

func TestKubeconfigLockHeldByAnotherProgram(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "config")
	require.NoError(t, os.WriteFile(path+".lock", nil, 0o600))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := MergeKubeconfig(ctx, path, "kindstack", kindKubeconfig("kindstack", "https://127.0.0.1:1"))
	require.ErrorIs(t, err, context.Canceled, "an interrupted command does not wait out the lock")
	assert.ErrorContains(t, err, "remove "+path+".lock if no kubectl or kind is running")
}

func TestPreloadChecksAtMostFourImagesAtOnce(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	running, most := 0, 0
	m := &Manager{
		Run: func(context.Context, string, ...string) ([]byte, error) {
			mu.Lock()
			running++
			most = max(most, running)
			mu.Unlock()
			time.Sleep(5 * time.Millisecond)
			mu.Lock()
			running--
			mu.Unlock()
			return nil, errors.New("no such image")
		},
		Nodes: func(context.Context, Runtime, string) ([]ImageNode, error) {
			return []ImageNode{&imageStore{name: "n"}}, nil
		},
	}
	var images []string
	for _, c := range "abcdefghijklmnop" {
		images = append(images, string(c)+":v1")
	}
	res, err := m.Preload(context.Background(), PreloadOptions{Cluster: "x", Runtime: Runtime{Binary: "docker"}, Images: images})
	require.NoError(t, err)
	assert.Len(t, res.Remote, len(images), "none on the host: the node pulls them")
	assert.LessOrEqual(t, most, planWorkers, "a small machine runs only so many runtime commands at once")
	assert.Greater(t, most, 1, "but more than one")
}
