package cluster

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Well-formed digests for the references the tests pin.
const (
	digestC     = "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
	digest8925  = "sha256:8925000000000000000000000000000000000000000000000000000000000000"
	digestBad   = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	digestOther = "sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
)

// imageStore is a node (or the host) holding images by reference -> ID.
type imageStore struct {
	name     string
	images   map[string]string
	imported []string // what each Import read, one entry per import
	tagged   []string // each Tag as "src -> dst"
}

func (n *imageStore) String() string { return n.name }
func (n *imageStore) ImageID(image string) (string, error) {
	if id, ok := n.images[image]; ok {
		return id, nil
	}
	return "", errors.New("no such image")
}
func (n *imageStore) Tag(src, dst string) error {
	n.tagged = append(n.tagged, src+" -> "+dst)
	return nil
}
func (n *imageStore) Import(r io.Reader) error {
	b, err := io.ReadAll(r)
	n.imported = append(n.imported, string(b))
	return err
}

func preloadManager(host map[string]string, nodes ...*imageStore) (*Manager, *[]string) {
	var saved []string
	m := &Manager{
		Run: func(_ context.Context, name string, args ...string) ([]byte, error) {
			image := args[len(args)-1]
			if id, ok := host[image]; ok && name == "docker" && args[0] == "image" {
				return []byte(id + "\n"), nil
			}
			return []byte("Error: No such image: " + image), errors.New("exit status 1")
		},
		Nodes: func(context.Context, Runtime, string) ([]ImageNode, error) {
			out := make([]ImageNode, len(nodes))
			for i, n := range nodes {
				out[i] = n
			}
			return out, nil
		},
		Save: func(_ context.Context, _ Runtime, images []string) (io.ReadCloser, func() error, error) {
			saved = append(saved, strings.Join(images, " "))
			return io.NopCloser(strings.NewReader("archive of " + strings.Join(images, " "))), func() error { return nil }, nil
		},
	}
	return m, &saved
}

func TestPreloadSkipsWhatTheNodeHasAndLoadsWhatTheHostHas(t *testing.T) {
	t.Parallel()
	host := map[string]string{"app:v1": "sha256:aaa", "db:v2": "sha256:bbb", "old:v1": "sha256:new"}
	node := &imageStore{name: "kindstack-control-plane", images: map[string]string{"db:v2": "sha256:bbb", "old:v1": "sha256:old"}}
	m, saved := preloadManager(host, node)

	res, err := m.Preload(context.Background(), PreloadOptions{Cluster: "kindstack", Runtime: Runtime{Name: "docker", Binary: "docker"},
		Images: []string{"app:v1", "db:v2", "old:v1", "remote:v3", "pinned:v1@" + digestC, "app:v1"}})
	require.NoError(t, err)
	assert.Equal(t, []string{"app:v1", "old:v1"}, res.Loaded, "missing on the node, or a different image under the same name")
	assert.Equal(t, []string{"db:v2"}, res.Present)
	assert.Equal(t, []string{"remote:v3", "pinned:v1@" + digestC}, res.Remote, "not on the host, or pinned by a digest an archive cannot keep")
	assert.Equal(t, []string{"app:v1 old:v1"}, *saved, "one save streams every image that is needed")
	assert.Equal(t, []string{"archive of app:v1 old:v1"}, node.imported)
	assert.Equal(t, "images: 2 loaded, 1 already on the node, 2 pulled by the node", res.String())
}

func TestPreloadLoadsADigestPinnedImageTheEnginePulledUnderThatDigest(t *testing.T) {
	t.Parallel()
	const pinned = "registry.k8s.io/metrics-server/metrics-server:v0.8.0@" + digest8925
	node := &imageStore{name: "n", images: map[string]string{}}
	m, saved := preloadManager(nil, node)
	m.Run = func(_ context.Context, _ string, args ...string) ([]byte, error) {
		switch strings.Join(args, " ") {
		case "image inspect -f {{json .RepoDigests}} {{json .RepoTags}} " + pinned:
			return []byte(`["registry.k8s.io/metrics-server/metrics-server@` + digest8925 + `"] ["registry.k8s.io/metrics-server/metrics-server:v0.8.0"]` + "\n"), nil
		case "image inspect -f {{json .RepoDigests}} {{json .RepoTags}} docker.io/library/traefik:v3@" + digestBad:
			return []byte(`["traefik@` + digestOther + `"] ["traefik:v3"]` + "\n"), nil
		case "image inspect -f {{ .Id }} registry.k8s.io/metrics-server/metrics-server:v0.8.0":
			return []byte("sha256:cfg\n"), nil
		}
		return []byte("Error: No such image"), errors.New("exit status 1")
	}
	res, err := m.Preload(context.Background(), PreloadOptions{Runtime: Runtime{Name: "docker", Binary: "docker"},
		Images: []string{pinned, "docker.io/library/traefik:v3@" + digestBad}})
	require.NoError(t, err)
	assert.Equal(t, []string{pinned}, res.Loaded, "the engine pulled it under that very digest")
	assert.Equal(t, []string{"docker.io/library/traefik:v3@" + digestBad}, res.Remote, "the engine's copy has another digest: not a match")
	assert.Equal(t, []string{"registry.k8s.io/metrics-server/metrics-server:v0.8.0"}, *saved, "saved by its tag")
	assert.Equal(t, []string{"registry.k8s.io/metrics-server/metrics-server:v0.8.0 -> registry.k8s.io/metrics-server/metrics-server@" + digest8925}, node.tagged,
		"named in the node as the kubelet resolves the pinned reference")
}

func TestPreloadCountsWhatTheNodeAlreadyPulledAndObeysOff(t *testing.T) {
	t.Parallel()
	host := map[string]string{"app:v1": "sha256:aaa"}
	node := &imageStore{name: "n", images: map[string]string{"pinned:v1@" + digestC: "sha256:ccc", "pulled:v1": "sha256:ddd"}}
	m, saved := preloadManager(host, node)
	res, err := m.Preload(context.Background(), PreloadOptions{Runtime: Runtime{Name: "docker", Binary: "docker"},
		Images: []string{"pinned:v1@" + digestC, "pulled:v1", "app:v1"}, Off: true})
	require.NoError(t, err)
	assert.Equal(t, []string{"pinned:v1@" + digestC, "pulled:v1"}, res.Present, "the node pulled them on an earlier up")
	assert.Equal(t, []string{"app:v1"}, res.Remote, "preload off: the host's copy is not used")
	assert.Empty(t, *saved)
	assert.Equal(t, "images: 2 already on the node, 1 pulled by the node", res.String())
}

func TestPreloadLoadsOnlyNodesThatLackAnImage(t *testing.T) {
	t.Parallel()
	host := map[string]string{"app:v1": "sha256:aaa"}
	full := &imageStore{name: "a", images: map[string]string{"app:v1": "sha256:aaa"}}
	empty := &imageStore{name: "b", images: map[string]string{}}
	m, _ := preloadManager(host, full, empty)
	res, err := m.Preload(context.Background(), PreloadOptions{Runtime: Runtime{Name: "docker", Binary: "docker"}, Images: []string{"app:v1"}})
	require.NoError(t, err)
	assert.Equal(t, []string{"app:v1"}, res.Loaded)
	assert.Empty(t, full.imported)
	assert.Len(t, empty.imported, 1)
}

func TestPreloadReportsAFailedImportAndAClusterWithoutNodes(t *testing.T) {
	t.Parallel()
	m, _ := preloadManager(map[string]string{"app:v1": "sha256:aaa"}, &imageStore{name: "n"})
	m.Save = func(context.Context, Runtime, []string) (io.ReadCloser, func() error, error) {
		return io.NopCloser(strings.NewReader("")), func() error { return errors.New("docker save: reference does not exist: exit status 1") }, nil
	}
	_, err := m.Preload(context.Background(), PreloadOptions{Runtime: Runtime{Name: "docker", Binary: "docker"}, Images: []string{"app:v1"}})
	assert.EqualError(t, err, "load images into node n: docker save: reference does not exist: exit status 1")

	m, _ = preloadManager(nil)
	_, err = m.Preload(context.Background(), PreloadOptions{Cluster: "kindstack", Images: []string{"app:v1"}})
	assert.EqualError(t, err, "cluster kindstack has no nodes")
}

func TestPreloadResultSaysWhatHappenedInAFewWords(t *testing.T) {
	t.Parallel()
	tests := []struct {
		res  PreloadResult
		want string
	}{
		{PreloadResult{}, "no images"},
		{PreloadResult{Loaded: []string{"a"}}, "image: 1 loaded"},
		{PreloadResult{Loaded: []string{"a", "b"}, Remote: []string{"c@sha256:00"}}, "images: 2 loaded, 1 pulled by the node"},
		{PreloadResult{Present: []string{"a", "b", "c"}}, "images: 3 already on the node"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.res.String())
	}
}
