package cluster

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

func TestKindConfigGolden(t *testing.T) {
	tests := []struct {
		golden string
		spec   Spec
	}{
		{"kind-config-default.golden", Spec{Name: "kindstack", NodeImage: "kindest/node:v1.35.8@sha256:07b2536e30b803ed61d1677a79df6115f798ce64c80f9e22f6ed45afd09323c0", ListenAddress: "127.0.0.1", HTTPPort: 80, HTTPSPort: 443,
			ControllerManagerArgs: map[string]string{"horizontal-pod-autoscaler-sync-period": "3s"}}},
		{"kind-config-custom-ports.golden", Spec{Name: "workshop", NodeImage: "kindest/node:v1.34.11", ListenAddress: "0.0.0.0", HTTPPort: 8080, HTTPSPort: 8443,
			ControllerManagerArgs: map[string]string{"horizontal-pod-autoscaler-sync-period": "3s"}}},
		{"kind-config-two-workers.golden", Spec{Name: "kindstack", NodeImage: "kindest/node:v1.34.11", ListenAddress: "127.0.0.1", HTTPPort: 80, HTTPSPort: 443, Workers: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			got, err := KindConfigYAML(tt.spec)
			require.NoError(t, err)
			path := filepath.Join("testdata", tt.golden)
			if *update {
				require.NoError(t, os.WriteFile(path, got, 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test ./cluster -update to create the golden file")
			assert.Equal(t, string(want), string(got))
		})
	}
}

func TestKindConfigIsWhatKindNeeds(t *testing.T) {
	t.Parallel()
	c := KindConfig(Spec{Name: "x", NodeImage: "img", ListenAddress: "127.0.0.1", HTTPPort: 8080, HTTPSPort: 8443})
	require.Len(t, c.Nodes, 1)
	n := c.Nodes[0]
	assert.Equal(t, "control-plane", string(n.Role))
	assert.Equal(t, map[string]string{"ingress-ready": "true"}, n.Labels)
	require.Len(t, n.ExtraPortMappings, 2)
	assert.Equal(t, int32(80), n.ExtraPortMappings[0].ContainerPort)
	assert.Equal(t, int32(8080), n.ExtraPortMappings[0].HostPort)
	assert.Equal(t, int32(443), n.ExtraPortMappings[1].ContainerPort)
	assert.Equal(t, int32(8443), n.ExtraPortMappings[1].HostPort)
}

func TestWorkersGetNeitherThePortsNorTheIngressLabel(t *testing.T) {
	t.Parallel()
	c := KindConfig(Spec{Name: "x", NodeImage: "img", ListenAddress: "127.0.0.1", HTTPPort: 80, HTTPSPort: 443, Workers: 2})
	require.Len(t, c.Nodes, 3)
	assert.Equal(t, "control-plane", string(c.Nodes[0].Role))
	assert.Equal(t, map[string]string{"ingress-ready": "true"}, c.Nodes[0].Labels)
	assert.Len(t, c.Nodes[0].ExtraPortMappings, 2)
	for _, w := range c.Nodes[1:] {
		assert.Equal(t, "worker", string(w.Role))
		assert.Equal(t, "img", w.Image, "every node runs the same node image")
		assert.Empty(t, w.Labels, "only the control-plane node is ingress-ready")
		assert.Empty(t, w.ExtraPortMappings, "only one node can hold the host's ports")
	}
}

func TestCheckWorkersSaysWhatEachNodeNeeds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		workers   int
		available int64
		want      string // "" = accepted
	}{
		{"one node", 0, 1 << 20, ""},
		{"negative", -2, 64 << 30, "--workers is -2; the number of worker nodes cannot be negative (0 runs everything on the control-plane node)"},
		{"memory unknown", 50, -1, ""},
		{"fits exactly", 2, ControlPlaneMemory + 2*WorkerMemory, ""},
		{"one worker too many", 3, ControlPlaneMemory + 2*WorkerMemory,
			"--workers 3 needs about 2.5 GiB of memory (1.0 GiB for the control plane and 512 MiB for each worker), but this machine has 2.0 GiB available; use --workers 2 or fewer, or free memory"},
		{"not even the control plane", 1, 512 << 20,
			"--workers 1 needs about 1.5 GiB of memory (1.0 GiB for the control plane and 512 MiB for each worker), but this machine has 512 MiB available; use --workers 0 or fewer, or free memory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := CheckWorkers(tt.workers, tt.available)
			if tt.want == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Equal(t, tt.want, err.Error())
		})
	}
}
