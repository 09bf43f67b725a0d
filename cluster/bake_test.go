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

// bakedBy is the engine image Bake would have committed from base (its ID) with images.
func bakedBy(base, baseID string, images []string, size int64) (string, engineImage) {
	key := BakeKey(baseID, images)
	list, _ := json.Marshal(bakeList(images))
	return BakedRef(base, key), engineImage{id: "sha256:baked-" + key, size: size, labels: map[string]string{
		labelBakeKey: key, labelBakeBase: base, labelBakeBaseID: baseID, labelBakeImages: string(list),
	}}
}

func TestBakeKeyIsTheBaseAndTheExactList(t *testing.T) {
	t.Parallel()
	list := []string{"b:v1", "a:v1"}
	key := BakeKey("sha256:base1", list)
	assert.Len(t, key, 12)
	assert.Equal(t, key, BakeKey("sha256:base1", []string{"a:v1", "b:v1", "a:v1"}), "order and repeats do not make another image")
	assert.NotEqual(t, key, BakeKey("sha256:base2", list), "a base pulled again with other content is another key")
	assert.NotEqual(t, key, BakeKey("sha256:base1", []string{"a:v1", "b:v2"}), "another tag is another key")
	assert.NotEqual(t, key, BakeKey("sha256:base1", []string{"a:v1"}), "a shorter list is another key")
	assert.NotEqual(t, key, BakeKey("sha256:base1", []string{"a:v1", "b:v1", "c:v1"}), "a longer list is another key")
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
	ref, baked := bakedBy(base, "sha256:base1", list, 1500)

	t.Run("matching", func(t *testing.T) {
		t.Parallel()
		m, _ := bakeEngine(map[string]engineImage{base: {id: "sha256:base1", size: 1000}, ref: baked})
		b, ok := m.BakedFor(context.Background(), rt, base, base, []string{"db:v2", "app:v1"})
		require.True(t, ok)
		assert.Equal(t, ref, b.Ref)
		assert.Equal(t, []string{"app:v1", "db:v2"}, b.Images)
		assert.Equal(t, int64(500), b.Added, "the disk baking took is what lies beyond the base image")
	})
	t.Run("the list changed", func(t *testing.T) {
		t.Parallel()
		m, _ := bakeEngine(map[string]engineImage{base: {id: "sha256:base1"}, ref: baked})
		_, ok := m.BakedFor(context.Background(), rt, base, base, []string{"app:v2", "db:v2"})
		assert.False(t, ok, "an image baked with app:v1 is not used for app:v2")
		_, ok = m.BakedFor(context.Background(), rt, base, base, []string{"app:v1", "db:v2", "cache:v1"})
		assert.False(t, ok, "an image that lacks one of the images is not used")
	})
	t.Run("the base changed", func(t *testing.T) {
		t.Parallel()
		m, _ := bakeEngine(map[string]engineImage{base: {id: "sha256:base2"}, ref: baked})
		_, ok := m.BakedFor(context.Background(), rt, base, base, list)
		assert.False(t, ok, "the base tag now names other content: the old baked image is stale")
	})
	t.Run("no base in the engine", func(t *testing.T) {
		t.Parallel()
		m, _ := bakeEngine(map[string]engineImage{ref: baked})
		_, ok := m.BakedFor(context.Background(), rt, base, base, list)
		assert.False(t, ok)
	})
	t.Run("labels that do not match the tag", func(t *testing.T) {
		t.Parallel()
		_, other := bakedBy(base, "sha256:base1", []string{"app:v0"}, 1500)
		m, _ := bakeEngine(map[string]engineImage{base: {id: "sha256:base1"}, ref: other})
		_, ok := m.BakedFor(context.Background(), rt, base, base, list)
		assert.False(t, ok, "an image tagged with the key but holding another list (retagged by hand) is not used")
	})
	t.Run("not baked by kindstack", func(t *testing.T) {
		t.Parallel()
		m, _ := bakeEngine(map[string]engineImage{base: {id: "sha256:base1"}, ref: {id: "sha256:someone"}})
		_, ok := m.BakedFor(context.Background(), rt, base, base, list)
		assert.False(t, ok)
	})
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
	list := []string{"app:v1"}
	ref, baked := bakedBy(base, "sha256:base1", list, 1500)
	m, other := bakeEngine(map[string]engineImage{base: {id: "sha256:base1", size: 1000}, ref: baked})
	b, err := m.Bake(context.Background(), BakeOptions{Runtime: Runtime{Name: "docker", Binary: "docker"}, NodeImage: base, Images: list})
	require.NoError(t, err)
	assert.False(t, b.Built)
	assert.Equal(t, ref, b.Ref)
	assert.Empty(t, *other, "a present, matching baked image is not built again")
}
