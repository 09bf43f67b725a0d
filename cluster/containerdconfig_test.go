package cluster

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestContainerdConfigSnapshotterAndRegistryPath(t *testing.T) {
	t.Parallel()
	v2 := "version = 2\n[plugins]\n  [plugins.\"io.containerd.grpc.v1.cri\"]\n    [plugins.\"io.containerd.grpc.v1.cri\".containerd]\n      snapshotter = \"overlayfs\"\n"
	s, err := snapshotterOf([]byte(v2))
	require.NoError(t, err)
	assert.Equal(t, "overlayfs", s)
	v3 := "version = 3\n[plugins.\"io.containerd.cri.v1.images\"]\n  snapshotter = \"native\"\n"
	s, err = snapshotterOf([]byte(v3))
	require.NoError(t, err)
	assert.Equal(t, "native", s)
	_, err = snapshotterOf([]byte("version = 2\n"))
	assert.ErrorContains(t, err, "names no CRI snapshotter")

	p, err := registryConfigPathOf([]byte(criConfig))
	require.NoError(t, err)
	assert.Equal(t, "/etc/containerd/certs.d", p, "kindstack's patch, as containerd dumps it")
	v3 = "version = 3\n[plugins.\"io.containerd.cri.v1.images\".registry]\n  config_path = \"/etc/containerd/certs.d\"\n"
	p, err = registryConfigPathOf([]byte(v3))
	require.NoError(t, err)
	assert.Equal(t, "/etc/containerd/certs.d", p, "containerd 2's images plugin")
	p, err = registryConfigPathOf([]byte("version = 2\n"))
	require.NoError(t, err)
	assert.Empty(t, p, "a cluster created before kindstack set config_path")
}
