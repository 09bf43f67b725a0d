package cluster

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestNodeContainersReadsDockersAndPodmansStates(t *testing.T) {
	t.Parallel()
	tests := []struct{ engine, ps string }{
		{"docker", "ks-control-plane\trunning\nks-worker\texited\nks-worker2\tpaused\n"},
		// Podman 4.3.1's {{.State}}, as seen on the test bed.
		{"podman", "ks-control-plane\tUp 47 seconds ago\nks-worker\tExited (137) Less than a second ago\nks-worker2\tPaused\n"},
	}
	for _, tt := range tests {
		t.Run(tt.engine, func(t *testing.T) {
			t.Parallel()
			m := &Manager{Run: func(context.Context, string, ...string) ([]byte, error) { return []byte(tt.ps), nil }}
			nodes, err := m.nodeContainers(context.Background(), Runtime{Name: tt.engine, Binary: tt.engine}, "ks")
			assert.NoError(t, err)
			assert.Equal(t, []NodeContainer{{"ks-control-plane", "running"}, {"ks-worker", "exited"}, {"ks-worker2", "paused"}}, nodes)
			assert.Equal(t, []NodeContainer{{"ks-worker", "exited"}, {"ks-worker2", "paused"}}, stoppedNodes(nodes), "a running node is not called stopped")
		})
	}
}
