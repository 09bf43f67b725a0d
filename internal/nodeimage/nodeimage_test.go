package nodeimage

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kindstack/kindstack/internal/imageref"
)

func TestDefaultIsAKindNodePinnedByDigest(t *testing.T) {
	t.Parallel()
	r, err := imageref.Parse(Default)
	require.NoError(t, err)
	assert.Equal(t, "docker.io/kindest/node", r.Name(), "kind's own node image")
	assert.True(t, r.Pinned(), "a tag can move; the digest is what was tested")
	assert.NotEmpty(t, r.Tag, "the tag says the Kubernetes version to a reader")
}
