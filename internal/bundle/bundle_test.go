package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kindstack/kindstack/internal/imageref"
	"github.com/kindstack/kindstack/internal/mirrors"
)

var amd64 = v1.Platform{OS: "linux", Architecture: "amd64"}

// mirror is a real OCI registry (go-containerregistry's, in-process) standing in for a mirror of
// docker.io: it serves images under their Docker Hub repository paths.
func mirror(t *testing.T) (host string, regs mirrors.Registries) {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host = strings.TrimPrefix(srv.URL, "http://")
	return host, mirrors.Registries{Mirrors: map[string][]string{"docker.io": {"http://127.0.0.1:1", srv.URL}}}
}

func push(t *testing.T, ref string, img v1.Image) v1.Hash {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	require.NoError(t, err)
	require.NoError(t, remote.Write(r, img))
	d, err := img.Digest()
	require.NoError(t, err)
	return d
}

// twoPlatforms pushes an index of an amd64 and an arm64 image and returns the index's digest and
// the amd64 image's.
func twoPlatforms(t *testing.T, ref string) (index, amd v1.Hash) {
	t.Helper()
	a, err := random.Image(512, 2)
	require.NoError(t, err)
	b, err := random.Image(512, 1)
	require.NoError(t, err)
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: a, Descriptor: v1.Descriptor{Platform: &amd64}},
		mutate.IndexAddendum{Add: b, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}})
	r, err := name.ParseReference(ref, name.Insecure)
	require.NoError(t, err)
	require.NoError(t, remote.WriteIndex(r, idx))
	index, err = idx.Digest()
	require.NoError(t, err)
	amd, err = a.Digest()
	require.NoError(t, err)
	return index, amd
}

func entries(t *testing.T, r io.Reader) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		b, err := io.ReadAll(tr)
		require.NoError(t, err)
		out[h.Name] = b
	}
}

func TestSaveKeepsDigestsAndNamesImagesAsTheKubeletAsks(t *testing.T) {
	host, regs := mirror(t)
	app, err := random.Image(1024, 2)
	require.NoError(t, err)
	appDigest := push(t, host+"/library/app:v1", app)
	index, amdDigest := twoPlatforms(t, host+"/acme/tool:v2")
	node, err := random.Image(2048, 3)
	require.NoError(t, err)
	push(t, host+"/kindest/node:v1.35.8", node)

	file := filepath.Join(t.TempDir(), "bundle.tar")
	pinned := "acme/tool:v2@" + index.String()
	meta := save(t, file, regs, "kindest/node:v1.35.8", "app:v1", pinned)
	assert.Equal(t, "linux/amd64", meta.Platform)
	require.Len(t, meta.Images, 3)
	assert.True(t, meta.Images[0].NodeImage)
	assert.Equal(t, []string{"kindest/node:v1.35.8"}, meta.Images[0].Names)
	assert.Equal(t, []string{"docker.io/library/app:v1"}, meta.Images[1].Names)
	assert.Equal(t, appDigest.String(), meta.Images[1].Manifest, "the registry's manifest digest, kept")
	assert.Equal(t, host+"/library/app:v1", meta.Images[1].From, "through the second mirror: the first does not answer")
	assert.Equal(t, []string{"docker.io/acme/tool:v2", "docker.io/acme/tool@" + index.String()}, meta.Images[2].Names,
		"a pinned reference is also stored under repo@digest, the name containerd resolves it by offline")
	assert.Equal(t, amdDigest.String(), meta.Images[2].Manifest, "the node's platform out of the index")

	again, err := ReadMeta(file)
	require.NoError(t, err)
	assert.Equal(t, meta.Images, again.Images)

	// What the node's containerd imports: the OCI layout with the component images only.
	var nodeSide bytes.Buffer
	require.NoError(t, Stream(file, meta, Node, &nodeSide))
	got := entries(t, &nodeSide)
	assert.Contains(t, got, "oci-layout")
	assert.NotContains(t, got, "manifest.json")
	var idx v1.IndexManifest
	require.NoError(t, json.Unmarshal(got["index.json"], &idx))
	var names []string
	for _, d := range idx.Manifests {
		names = append(names, d.Annotations["io.containerd.image.name"])
		assert.Contains(t, got, blobPath(d.Digest.String()), "the manifest of %s is in the stream", d.Annotations["io.containerd.image.name"])
	}
	assert.ElementsMatch(t, []string{"docker.io/library/app:v1", "docker.io/acme/tool:v2", "docker.io/acme/tool@" + index.String()}, names)
	for _, b := range meta.Images[0].Blobs {
		assert.NotContains(t, got, blobPath(b), "the node image's blobs stay out of the node")
	}

	// What the host's engine loads: a docker-save manifest.json for the node image, with its blobs.
	var engineSide bytes.Buffer
	require.NoError(t, Stream(file, meta, Engine, &engineSide))
	got = entries(t, &engineSide)
	var dm []dockerEntry
	require.NoError(t, json.Unmarshal(got["manifest.json"], &dm))
	require.Len(t, dm, 1)
	assert.Equal(t, []string{"kindest/node:v1.35.8"}, dm[0].RepoTags)
	assert.Len(t, dm[0].Layers, 3)
	for _, l := range append(dm[0].Layers, dm[0].Config) {
		assert.Contains(t, got, l)
	}
	assert.NotContains(t, got, "index.json")
}

func TestSaveNamesEachPlaceItTriedAndKeepsTheOldBundle(t *testing.T) {
	_, regs := mirror(t)
	file := filepath.Join(t.TempDir(), "bundle.tar")
	require.NoError(t, os.WriteFile(file, []byte("old"), 0o644))
	w, err := Create(file, amd64, regs)
	require.NoError(t, err)
	_, err = w.Add(context.Background(), "nosuch/image:v1", false)
	require.Error(t, err)
	w.Abort()
	assert.Contains(t, err.Error(), "pull nosuch/image:v1 for linux/amd64: 127.0.0.1:1/nosuch/image:v1: ")
	assert.Contains(t, err.Error(), "NAME_UNKNOWN: Unknown name", "the mirror's answer")
	old, _ := os.ReadFile(file)
	assert.Equal(t, "old", string(old), "a failed save leaves the previous bundle as it was")
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(file), ".kindstack-bundle-*"))
	assert.Empty(t, leftovers)
}

func save(t *testing.T, file string, regs mirrors.Registries, nodeImage string, images ...string) Meta {
	t.Helper()
	w, err := Create(file, amd64, regs)
	require.NoError(t, err)
	_, err = w.Add(context.Background(), nodeImage, true)
	require.NoError(t, err)
	for _, ref := range images {
		_, err := w.Add(context.Background(), ref, false)
		require.NoError(t, err)
	}
	meta, err := w.Close()
	require.NoError(t, err)
	return meta
}

func TestReadMetaRefusesWhatIsNotABundle(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "images.tar")
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "manifest.json", Size: 2, Mode: 0o644}))
	_, _ = tw.Write([]byte("[]"))
	require.NoError(t, tw.Close())
	require.NoError(t, os.WriteFile(file, b.Bytes(), 0o644))
	_, err := ReadMeta(file)
	assert.EqualError(t, err, file+" is not a kindstack image bundle (written by `kindstack images save`): its first entry is not kindstack-bundle.json")
}

func TestContainerdNames(t *testing.T) {
	t.Parallel()
	const digest = "sha256:07b2536e30b803ed61d1677a79df6115f798ce64c80f9e22f6ed45afd09323c0"
	tests := []struct {
		ref   string
		names []string
		tag   string
	}{
		{"postgres:17-alpine", []string{"docker.io/library/postgres:17-alpine"}, "postgres:17-alpine"},
		{"busybox", []string{"docker.io/library/busybox:latest"}, "busybox:latest"},
		{"registry.k8s.io/pause@" + digest, []string{"registry.k8s.io/pause@" + digest}, "registry.k8s.io/pause:latest"},
		{"registry.k8s.io/pause:3.10@" + digest, []string{"registry.k8s.io/pause:3.10", "registry.k8s.io/pause@" + digest}, "registry.k8s.io/pause:3.10"},
		{"kindest/node:v1.35.8@" + digest, []string{"docker.io/kindest/node:v1.35.8", "docker.io/kindest/node@" + digest}, "kindest/node:v1.35.8"},
		{"localhost:5000/x:1@" + digest, []string{"localhost:5000/x:1", "localhost:5000/x@" + digest}, "localhost:5000/x:1"},
	}
	for _, tt := range tests {
		r, err := imageref.Parse(tt.ref)
		require.NoError(t, err, tt.ref)
		assert.Equal(t, tt.names, containerdNames(r), "%s: the names the kubelet resolves it by", tt.ref)
		assert.Equal(t, tt.tag, tagName(r), "%s: the engine's RepoTag for a node image", tt.ref)
	}
}

// A baked node image exists only in the host's engine: the bundle takes it from what the engine
// saved, as the node image, with the image ID the engine gave it, and says which node image it
// stands for. Engines write each layer their own way, and differently within one image.
func TestABakedNodeImageGoesInFromTheEnginesArchive(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		gzipped []bool
	}{
		{"classic store: every layer a tar", []bool{false, false, false}},
		{"containerd store: the loaded base a tar, the committed layers gzip", []bool{false, true, true}},
		{"a gzip layer first, tars after", []bool{true, false, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testBakedNodeImage(t, tc.gzipped)
		})
	}
}

func testBakedNodeImage(t *testing.T, gzipped []bool) {
	img, err := random.Image(2048, int64(len(gzipped)))
	require.NoError(t, err)
	const ref = "kindstack.local/node:v1.33.13-0123456789ab"
	saved := savedArchive(t, ref, img, gzipped)
	id, err := img.ConfigName()
	require.NoError(t, err)

	file := filepath.Join(t.TempDir(), "bundle.tar")
	w, err := Create(file, amd64, mirrors.Registries{})
	require.NoError(t, err)
	entry, err := w.AddBakedNodeImage(ref, "kindest/node:v1.33.13", saved)
	require.NoError(t, err)
	meta, err := w.Close()
	require.NoError(t, err)
	require.Len(t, meta.Images, 1)
	assert.Equal(t, entry, meta.Images[0])
	assert.True(t, entry.NodeImage)
	assert.Equal(t, "kindest/node:v1.33.13", entry.BakedFrom)
	assert.Equal(t, id.String(), entry.ID, "the engine's image ID: a later load is recognised by it")
	got, ok := meta.NodeImage()
	require.True(t, ok)
	assert.Equal(t, ref, got.Ref)

	// What the host's engine loads: a docker-save manifest naming the baked tag, with every blob.
	var engineSide bytes.Buffer
	require.NoError(t, Stream(file, meta, Engine, &engineSide))
	files := entries(t, &engineSide)
	var manifest []dockerEntry
	require.NoError(t, json.Unmarshal(files["manifest.json"], &manifest))
	require.Len(t, manifest, 1)
	assert.Equal(t, []string{ref}, manifest[0].RepoTags)
	assert.Contains(t, files, manifest[0].Config)
	// Each layer is gzip once and unpacks to what the engine saved: the diff IDs the config
	// lists, so the engine that loads it unpacks it and takes it as the same image.
	cfg, err := img.ConfigFile()
	require.NoError(t, err)
	require.Len(t, manifest[0].Layers, len(cfg.RootFS.DiffIDs))
	assert.Equal(t, id.Hex, strings.TrimPrefix(manifest[0].Config, "blobs/sha256/"))
	for i, l := range manifest[0].Layers {
		require.Contains(t, files, l)
		assert.Equal(t, strings.TrimPrefix(l, "blobs/sha256/"), digestOf(files[l]).Hex, "a blob is named by its digest")
		zr, err := gzip.NewReader(bytes.NewReader(files[l]))
		require.NoError(t, err, "layer %d is gzip", i)
		content, err := io.ReadAll(zr)
		require.NoError(t, err)
		assert.Equal(t, cfg.RootFS.DiffIDs[i].Hex, digestOf(content).Hex, "layer %d unpacks to the saved content, not to another gzip", i)
	}
	var nodeSide bytes.Buffer
	require.NoError(t, Stream(file, meta, Node, &nodeSide))
	assert.NotContains(t, entries(t, &nodeSide), manifest[0].Config, "nothing of it goes into a node")
}

// savedArchive writes img as an engine's `docker save` does, each layer a tar or, where gzipped
// says so, gzip, and returns the archive's path.
func savedArchive(t *testing.T, ref string, img v1.Image, gzipped []bool) string {
	t.Helper()
	layers, err := img.Layers()
	require.NoError(t, err)
	config, err := img.RawConfigFile()
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "saved.tar")
	f, err := os.Create(path)
	require.NoError(t, err)
	tw := tar.NewWriter(f)
	add := func(name string, b []byte) string {
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}))
		_, err := tw.Write(b)
		require.NoError(t, err)
		return name
	}
	entry := dockerEntry{Config: add("blobs/sha256/"+digestOf(config).Hex, config), RepoTags: []string{ref}}
	for i, l := range layers {
		open := l.Uncompressed
		if gzipped[i] {
			open = l.Compressed
		}
		rc, err := open()
		require.NoError(t, err)
		b, err := io.ReadAll(rc)
		require.NoError(t, err)
		entry.Layers = append(entry.Layers, add("blobs/sha256/"+digestOf(b).Hex, b))
	}
	m, err := json.Marshal([]dockerEntry{entry})
	require.NoError(t, err)
	add("manifest.json", m)
	require.NoError(t, tw.Close())
	require.NoError(t, f.Close())
	return path
}
