package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// engineImage is one image a fake engine holds.
type engineImage struct {
	id     string
	size   int64
	labels map[string]string
}

// bakeEngine is a fake engine's `image inspect`, by reference or ID; every other command is
// recorded and fails.
func bakeEngine(images map[string]engineImage) (*Manager, *[]string) {
	var other []string
	find := func(ref string) (engineImage, bool) {
		if img, ok := images[ref]; ok {
			return img, true
		}
		for _, img := range images {
			if img.id == ref {
				return img, true
			}
		}
		return engineImage{}, false
	}
	m := &Manager{Run: func(_ context.Context, name string, args ...string) ([]byte, error) {
		if strings.Join(args, " ") == "images --filter label="+labelBakeKey+" --format {{.ID}}" {
			var ids []string
			for _, img := range images {
				if img.labels[labelBakeKey] != "" {
					ids = append(ids, img.id)
				}
			}
			return []byte(strings.Join(ids, "\n")), nil
		}
		if len(args) == 5 && args[0] == "image" && args[1] == "inspect" {
			img, ok := find(args[4])
			if !ok {
				return []byte("Error: No such image: " + args[4]), errors.New("exit status 1")
			}
			switch args[3] {
			case "{{ .Id }}":
				return []byte(img.id + "\n"), nil
			case "{{.Size}}":
				return []byte(fmt.Sprintf("%d\n", img.size)), nil
			case "{{json .}}":
				var tags []string
				for ref, i := range images {
					if i.id == img.id {
						tags = append(tags, ref)
					}
				}
				return json.Marshal(map[string]any{"Id": img.id, "Size": img.size, "RepoTags": tags, "Config": map[string]any{"Labels": img.labels}})
			}
		}
		other = append(other, name+" "+strings.Join(args, " "))
		return []byte("unexpected"), errors.New("exit status 1")
	}}
	return m, &other
}

// bakedBy is the engine image Bake would have committed from base (its ID) with images (image → ID).
func bakedBy(base, baseID string, images map[string]string, size int64) (string, engineImage) {
	key := BakeKey(baseID, images)
	var names []string
	for image := range images {
		names = append(names, image)
	}
	list, _ := json.Marshal(bakeList(names))
	ids, _ := json.Marshal(images)
	return BakedRef(base, key), engineImage{id: "sha256:baked-" + key, size: size, labels: map[string]string{
		labelBakeKey: key, labelBakeBase: base, labelBakeBaseID: baseID, labelBakeImages: string(list), labelBakeIDs: string(ids),
	}}
}

func TestBakeKeyIsTheBaseAndTheExactListWithIDs(t *testing.T) {
	t.Parallel()
	list := map[string]string{"b:v1": "sha256:b", "a:v1": "sha256:a"}
	key := BakeKey("sha256:base1", list)
	assert.Len(t, key, 12)
	assert.Equal(t, key, BakeKey("sha256:base1", map[string]string{"a:v1": "sha256:a", "b:v1": "sha256:b"}), "the same list is the same image")
	assert.NotEqual(t, key, BakeKey("sha256:base2", list), "a base pulled again with other content is another key")
	assert.NotEqual(t, key, BakeKey("sha256:base1", map[string]string{"a:v1": "sha256:a", "b:v2": "sha256:b"}), "another tag is another key")
	assert.NotEqual(t, key, BakeKey("sha256:base1", map[string]string{"a:v1": "sha256:a", "b:v1": "sha256:rebuilt"}), "an image built again under its tag is another key")
	assert.NotEqual(t, key, BakeKey("sha256:base1", map[string]string{"a:v1": "sha256:a"}), "a shorter list is another key")
	assert.NotEqual(t, key, BakeKey("sha256:base1", map[string]string{"a:v1": "sha256:a", "b:v1": "sha256:b", "c:v1": "sha256:c"}), "a longer list is another key")
}

func TestBakedRefNamesTheBaseTag(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "kindstack.local/node:v1.35.8-0123456789ab", BakedRef("kindest/node:v1.35.8@sha256:07b2536e30b803ed61d1677a79df6115f798ce64c80f9e22f6ed45afd09323c0", "0123456789ab"))
	assert.Equal(t, "kindstack.local/node:node-0123456789ab", BakedRef("kindest/node@sha256:07b2536e30b803ed61d1677a79df6115f798ce64c80f9e22f6ed45afd09323c0", "0123456789ab"))
	long := BakedRef("example.com/node:"+strings.Repeat("v", 128), "0123456789ab")
	assert.LessOrEqual(t, len(long)-len(BakedRepository+":"), 128, "a tag is at most 128 characters")
}

func TestBakedForUsesOnlyAnImageOfTheCurrentBaseAndList(t *testing.T) {
	t.Parallel()
	rt := Runtime{Name: "docker", Binary: "docker"}
	const base = "kindest/node:v1.33.13"
	list := []string{"app:v1", "db:v2"}
	ref, baked := bakedBy(base, "sha256:base1", map[string]string{"app:v1": "sha256:app1", "db:v2": "sha256:db2"}, 1500)
	// engine holds the images under the IDs they were baked with, and more.
	engine := func(more map[string]engineImage) map[string]engineImage {
		out := map[string]engineImage{"app:v1": {id: "sha256:app1"}, "db:v2": {id: "sha256:db2"}, "app:v2": {id: "sha256:app2"}, "cache:v1": {id: "sha256:cache1"}}
		for k, v := range more {
			out[k] = v
		}
		return out
	}
	lookup := func(t *testing.T, e map[string]engineImage, images []string) (BakedImage, bool) {
		m, other := bakeEngine(e)
		b, ok := m.BakedFor(context.Background(), rt, base, base, images)
		assert.Empty(t, *other, "a lookup only inspects")
		return b, ok
	}

	t.Run("matching", func(t *testing.T) {
		t.Parallel()
		b, ok := lookup(t, engine(map[string]engineImage{base: {id: "sha256:base1", size: 1000}, ref: baked}), []string{"db:v2", "app:v1"})
		require.True(t, ok)
		assert.Equal(t, ref, b.Ref)
		assert.Equal(t, []string{"app:v1", "db:v2"}, b.Images)
		assert.Equal(t, int64(500), b.Added, "the disk baking took is what lies beyond the base image")
	})
	t.Run("the list changed", func(t *testing.T) {
		t.Parallel()
		e := engine(map[string]engineImage{base: {id: "sha256:base1"}, ref: baked})
		_, ok := lookup(t, e, []string{"app:v2", "db:v2"})
		assert.False(t, ok, "an image baked with app:v1 is not used for app:v2")
		_, ok = lookup(t, e, []string{"app:v1", "db:v2", "cache:v1"})
		assert.False(t, ok, "an image that lacks one of the images is not used")
		_, ok = lookup(t, e, []string{"app:v1"})
		assert.False(t, ok, "an image with more than the list is not used")
	})
	t.Run("an image built again", func(t *testing.T) {
		t.Parallel()
		_, ok := lookup(t, engine(map[string]engineImage{base: {id: "sha256:base1"}, ref: baked, "db:v2": {id: "sha256:db2-rebuilt"}}), list)
		assert.False(t, ok, "db:v2 built again under its tag: the baked copy is stale")
	})
	t.Run("an image gone from the engine", func(t *testing.T) {
		t.Parallel()
		e := engine(map[string]engineImage{base: {id: "sha256:base1"}, ref: baked})
		delete(e, "db:v2")
		_, ok := lookup(t, e, list)
		assert.False(t, ok, "what the engine no longer holds cannot be compared: not used")
	})
	t.Run("the base changed", func(t *testing.T) {
		t.Parallel()
		_, ok := lookup(t, engine(map[string]engineImage{base: {id: "sha256:base2"}, ref: baked}), list)
		assert.False(t, ok, "the base tag now names other content: the old baked image is stale")
	})
	t.Run("no base in the engine", func(t *testing.T) {
		t.Parallel()
		_, ok := lookup(t, engine(map[string]engineImage{ref: baked}), list)
		assert.False(t, ok)
	})
	t.Run("labels that do not match the tag", func(t *testing.T) {
		t.Parallel()
		_, other := bakedBy(base, "sha256:base1", map[string]string{"app:v0": "sha256:app0"}, 1500)
		_, ok := lookup(t, engine(map[string]engineImage{base: {id: "sha256:base1"}, ref: other}), list)
		assert.False(t, ok, "an image tagged with the key but holding another list (retagged by hand) is not used")
	})
	t.Run("not baked by kindstack", func(t *testing.T) {
		t.Parallel()
		_, ok := lookup(t, engine(map[string]engineImage{base: {id: "sha256:base1"}, ref: {id: "sha256:someone"}}), list)
		assert.False(t, ok)
	})
}

// A baked image loaded from a bundle (`images save --node-image`) reaches an engine that may hold
// neither its base nor the stack's images: it is used for exactly its base and list, unless what
// the engine does hold was built again since.
func TestBakedForUsesABakedImageFromABundleWithoutItsBaseOrImages(t *testing.T) {
	t.Parallel()
	rt := Runtime{Name: "docker", Binary: "docker"}
	const base = "kindest/node:v1.33.13"
	list := []string{"app:v1", "db:v2"}
	ref, baked := bakedBy(base, "sha256:base1", map[string]string{"app:v1": "sha256:app1", "db:v2": "sha256:db2"}, 1500)
	// lookup asks for base and images on an engine holding e, where the image tagged loaded (if
	// any) came from a bundle.
	lookup := func(t *testing.T, e map[string]engineImage, loaded string, images []string) bool {
		m, other := bakeEngine(e)
		m.StateDir = t.TempDir()
		if loaded != "" {
			require.NoError(t, m.RememberNodeImage(loaded, e[loaded].id))
		}
		b, ok := m.BakedFor(context.Background(), rt, base, base, images)
		assert.Empty(t, *other, "a lookup only lists and inspects")
		if ok {
			assert.Equal(t, ref, b.Ref)
		}
		return ok
	}
	assert.True(t, lookup(t, map[string]engineImage{ref: baked}, ref, list), "neither base nor images in the engine: the bundle's baked image is used")
	assert.True(t, lookup(t, map[string]engineImage{ref: baked, base: {id: "sha256:base1"}, "app:v1": {id: "sha256:app1"}}, ref, list),
		"what the engine holds is what it was baked with")
	assert.False(t, lookup(t, map[string]engineImage{ref: baked}, "", list), "one baked here and then stripped of its images is not used")
	assert.False(t, lookup(t, map[string]engineImage{ref: baked, "app:v1": {id: "sha256:app1-rebuilt"}}, ref, list), "app:v1 built again since: stale")
	assert.False(t, lookup(t, map[string]engineImage{ref: baked, base: {id: "sha256:base2"}}, ref, list), "the base tag names other content: stale")
	assert.False(t, lookup(t, map[string]engineImage{ref: baked}, ref, []string{"app:v1"}), "another list")
	ref2, baked2 := bakedBy("kindest/node:v1.35.8", "sha256:base1", map[string]string{"app:v1": "sha256:app1", "db:v2": "sha256:db2"}, 1500)
	assert.False(t, lookup(t, map[string]engineImage{ref2: baked2}, ref2, list), "baked from another base")
}

func TestBakeRefusesAListTheEngineDoesNotHoldBeforeBuildingAnything(t *testing.T) {
	t.Parallel()
	const base = "kindest/node:v1.33.13"
	m, other := bakeEngine(map[string]engineImage{base: {id: "sha256:base1"}, "app:v1": {id: "sha256:app"}})
	_, err := m.Bake(context.Background(), BakeOptions{Runtime: Runtime{Name: "docker", Binary: "docker"}, NodeImage: base,
		Images: []string{"app:v1", "db:v2"}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "docker lacks db:v2")
	assert.NotContains(t, err.Error(), "app:v1", "only what is missing is named")
	assert.Empty(t, *other, "no container is run, nothing pulled, nothing committed")
}

func TestBakeOfAPresentImageBuildsNothing(t *testing.T) {
	t.Parallel()
	const base = "kindest/node:v1.33.13"
	ref, baked := bakedBy(base, "sha256:base1", map[string]string{"app:v1": "sha256:app"}, 1500)
	m, other := bakeEngine(map[string]engineImage{base: {id: "sha256:base1", size: 1000}, ref: baked, "app:v1": {id: "sha256:app"}})
	b, err := m.Bake(context.Background(), BakeOptions{Runtime: Runtime{Name: "docker", Binary: "docker"}, NodeImage: base, Images: []string{"app:v1"}})
	require.NoError(t, err)
	assert.False(t, b.Built)
	assert.Equal(t, ref, b.Ref)
	assert.Empty(t, *other, "a present, matching baked image is not built again")
}
