package cluster

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	kindcluster "sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/log"
)

// stuckProvider's Create never finishes on its own (a slow image pull); removing the nodes (Delete)
// makes it fail, as with kind. It checks the interrupt path only: nothing here claims creation works.
type stuckProvider struct {
	fakeProvider
	mu      sync.Mutex
	once    sync.Once
	release chan struct{}
}

func (p *stuckProvider) Create(string, ...kindcluster.CreateOption) error {
	<-p.release
	return errors.New("node container removed")
}

func (p *stuckProvider) Delete(name, kubeconfig string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.once.Do(func() { close(p.release) })
	return p.fakeProvider.Delete(name, kubeconfig)
}

func TestInterruptedCreateDeletesTheHalfCreatedCluster(t *testing.T) {
	t.Parallel()
	for _, retain := range []bool{false, true} {
		p := &stuckProvider{release: make(chan struct{})}
		m := testManager(t, nil, fakeRuntime{}, nil, nil)
		m.NewProvider = func(Runtime, log.Logger) Provider { return p }
		kubeconfig := t.TempDir() + "/config"
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		_, err := m.Ensure(ctx, EnsureOptions{Spec: Spec{Name: "kindstack"}, Kubeconfig: kubeconfig, Retain: retain})
		cancel()
		require.ErrorIs(t, err, context.DeadlineExceeded)
		if retain {
			close(p.release) // let the abandoned create goroutine finish
			assert.Empty(t, p.deleted)
			assert.Contains(t, err.Error(), "the half-created cluster is kept (--retain): remove it with `kindstack down --name kindstack`")
		} else {
			assert.Equal(t, []string{"kindstack", "kindstack"}, p.deleted, "deleted, and deleted again once kind's create returned")
			assert.Contains(t, err.Error(), "the half-created cluster was deleted")
		}
		assert.NoFileExists(t, kubeconfig)
	}
}
