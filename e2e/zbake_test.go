//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kindstack/kindstack/internal/bundle"
)

// bakedImage mirrors one entry of `images bake -o json` (cluster.BakedImage).
type bakedImage struct {
	Ref    string   `json:"ref"`
	Images []string `json:"images"`
	Added  int64    `json:"added"`
	Built  bool     `json:"built"`
}

// plain runs the built binary in the world with exactly args: the image commands that take no
// cluster name.
func (w *world) plain(t *testing.T, timeout time.Duration, args ...string) result {
	t.Helper()
	return w.exec(t, timeout, args)
}

// TestUpFromABakedNodeImage bakes the stack's images into the node image, creates a cluster of
// its own (kse2e-bake) from it and checks that the node got every image from the image (nothing
// imported), then removes the cluster and the baked image. It runs after the scenarios (the
// file sorts last) and deletes what it made unless KINDSTACK_E2E_KEEP=1.
func TestUpFromABakedNodeImage(t *testing.T) {
	w := newWorld(t, "kse2e-bake")
	keep := os.Getenv("KINDSTACK_E2E_KEEP") == "1"
	t.Cleanup(func() {
		if !keep {
			w.run(t, 5*time.Minute, "", "down")
			w.plain(t, time.Minute, "images", "unbake")
		}
	})
	cfg := []string{}
	if w.config != "" {
		cfg = []string{"--config", w.config}
	}

	r := w.plain(t, 10*time.Minute, append([]string{"images", "bake", "-o", "json"}, cfg...)...)
	require.Equal(t, 0, r.code, "%s", r)
	var baked bakedImage
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &baked), "%s", r)
	assert.True(t, strings.HasPrefix(baked.Ref, "kindstack.local/node:"), baked.Ref)
	assert.Positive(t, baked.Added, "the disk the baked image takes beyond the node image is shown")

	// Exactly what `images list` prints, the node image left out: nothing the user did not ask for.
	r = w.plain(t, time.Minute, append([]string{"images", "list", "-o", "json"}, cfg...)...)
	require.Equal(t, 0, r.code, "%s", r)
	var list []struct{ Image, Component string }
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &list))
	var want []string
	for _, img := range list {
		if img.Component != "node" && !slices.Contains(want, img.Image) {
			want = append(want, img.Image)
		}
	}
	slices.Sort(want)
	assert.Equal(t, want, baked.Images)

	r = w.plain(t, 2*time.Minute, append([]string{"images", "bake", "-o", "json"}, cfg...)...)
	require.Equal(t, 0, r.code, "%s", r)
	var again bakedImage
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &again))
	assert.False(t, again.Built, "a present, matching baked image is not built again")
	assert.Equal(t, baked.Ref, again.Ref)

	r = w.run(t, 15*time.Minute, w.config, "up")
	require.Equal(t, 0, r.code, "%s", r)
	assert.Contains(t, r.stderr, "from baked node image "+baked.Ref, "the ✓ line says the cluster came from the baked image")
	assert.NotContains(t, r.stderr, " loaded", "no image is imported into a node made from the baked image:\n%s", r.stderr)
	assert.Contains(t, r.stderr, "already on the node")
	assert.Equal(t, baked.Ref, strings.TrimSpace(engine(t, w, "inspect", "-f", "{{.Config.Image}}", w.name+"-control-plane")))

	r = w.plain(t, time.Minute, "images", "baked")
	require.Equal(t, 0, r.code, "%s", r)
	assert.Contains(t, r.stdout, baked.Ref)

	// A baked image a node runs from is not removed; the error names it.
	r = w.plain(t, time.Minute, "images", "unbake")
	assert.NotEqual(t, 0, r.code, "%s", r)
	assert.Contains(t, r.stderr, baked.Ref)

	if keep {
		return
	}
	// One bundle carries it, for a workshop laptop or a CI cache: the baked node image in place of
	// the node image and of every image it holds. Loaded into an engine without the baked image,
	// `up --bundle` creates the node from it and imports nothing.
	file := filepath.Join(t.TempDir(), "baked-bundle.tar")
	r = w.plain(t, 15*time.Minute, append([]string{"images", "save", file, "--node-image"}, cfg...)...)
	require.Equal(t, 0, r.code, "%s", r)
	meta, err := bundle.ReadMeta(file)
	require.NoError(t, err)
	require.Len(t, meta.Images, 1, "one node image and nothing else: %+v", meta.Images)
	assert.Equal(t, baked.Ref, meta.Images[0].Ref)
	assert.Equal(t, nodeImage(t, w), meta.Images[0].BakedFrom)
	r = w.run(t, 5*time.Minute, "", "down")
	require.Equal(t, 0, r.code, "%s", r)
	r = w.plain(t, time.Minute, "images", "unbake")
	require.Equal(t, 0, r.code, "%s", r)
	r = w.plain(t, time.Minute, "images", "baked", "-o", "json")
	require.Equal(t, 0, r.code, "%s", r)
	require.NotContains(t, r.stdout, baked.Ref, "the engine holds no baked image before the bundle is loaded")
	r = w.run(t, 15*time.Minute, w.config, "up", "--bundle", file)
	require.Equal(t, 0, r.code, "%s", r)
	assert.Contains(t, r.stderr, "from baked node image "+baked.Ref, "the node image loaded from the bundle is the baked one, and used")
	assert.NotRegexp(t, `images?: \d+ loaded`, r.stderr, "no image is imported into the node")
	assert.Contains(t, r.stderr, "already on the node")

	r = w.run(t, 5*time.Minute, "", "down")
	require.Equal(t, 0, r.code, "%s", r)
	r = w.plain(t, time.Minute, "images", "unbake")
	require.Equal(t, 0, r.code, "%s", r)
	r = w.plain(t, time.Minute, "images", "baked", "-o", "json")
	require.Equal(t, 0, r.code, "%s", r)
	assert.NotContains(t, r.stdout, baked.Ref, "unbake removed it")
}
