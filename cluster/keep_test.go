package cluster

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestContainerdName(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "docker.io/library/busybox:latest", ContainerdName("busybox"))
	assert.Equal(t, "docker.io/lyzhang1999/backend:latest", ContainerdName("lyzhang1999/backend:latest"))
	assert.Equal(t, "docker.io/library/traefik@"+testDigest, ContainerdName("docker.io/library/traefik:v3.7.13@"+testDigest))
	assert.Equal(t, "localhost:5000/x:latest", ContainerdName("localhost:5000/x"))
	assert.Equal(t, "localhost/x:1", ContainerdName("localhost/x:1"), "localhost is a registry, not a Docker Hub user")
}
