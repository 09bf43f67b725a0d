package cluster

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// What Docker's containerd image store and a node's containerd said on the test bed's second
// engine for one image: the engine's ID is the manifest's digest, the node's CRI ID the config's.
const (
	manifestDigest = "sha256:4b1a0ac3b2d83a7148c1e04ff4154da072e64ab0c7b9c009c967103cdf250bdf"
	configDigest   = "sha256:9040b820c69c41269c4c0f981348981e65bab1193eff49c337eccdbd7dd0fa6d"
	indexDigest    = "sha256:17df06455dc0a2072ab01bbab038a61e1f8cffceaeb23b7d2e8c3ca607778f7f"
	ctrListing     = "REF                                  TYPE                                                 DIGEST                                                                  SIZE     PLATFORMS   LABELS \n" +
		"kindstack.test/metrics-server:v0.9.0 application/vnd.docker.distribution.manifest.v2+json " + manifestDigest + " 67.7 MiB linux/amd64 io.cri-containerd.image=managed \n"
)

// digestStore is a node that also names its images' manifest digests, as kindNode does.
type digestStore struct {
	imageStore
	digests map[string]string
}

func (n *digestStore) ImageDigest(image string) (string, error) {
	if d, ok := n.digests[image]; ok {
		return d, nil
	}
	return "", errors.New("ctr lists no image")
}

func TestHoldsContentKnowsAnImageByEitherStoresID(t *testing.T) {
	t.Parallel()
	const image = "kindstack.test/metrics-server:v0.9.0"
	classic := &imageStore{name: "n", images: map[string]string{image: configDigest}}
	loaded := &digestStore{imageStore{name: "n", images: map[string]string{image: configDigest}}, map[string]string{image: manifestDigest}}
	for _, tc := range []struct {
		name string
		node ImageNode
		ids  []string
		want bool
	}{
		{"classic store: the engine's ID is the node's CRI ID", classic, []string{configDigest}, true},
		{"containerd store: the node names the engine's manifest", loaded, []string{manifestDigest}, true},
		{"containerd store: the platform's manifest of the engine's index", loaded, []string{indexDigest, manifestDigest}, true},
		{"other content", loaded, []string{indexDigest}, false},
		{"a node that cannot name manifests compares the CRI ID only", classic, []string{manifestDigest}, false},
		{"an image the node lacks", &imageStore{name: "n"}, []string{configDigest}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, holdsContent(tc.node, image, tc.ids))
		})
	}
}

func TestContentIDsAddTheNodePlatformsManifest(t *testing.T) {
	t.Parallel()
	run := func(platformOut string, platformErr error) CommandRunner {
		return func(_ context.Context, _ string, args ...string) ([]byte, error) {
			switch {
			case args[len(args)-1] != "app:dev":
				return []byte("Error: No such image"), errors.New("exit status 1")
			case strings.Contains(strings.Join(args, " "), "--platform "+NodePlatform()):
				return []byte(platformOut), platformErr
			default:
				return []byte(indexDigest + "\n"), nil
			}
		}
	}
	rt := Runtime{Name: "docker", Binary: "docker"}

	ids, err := (&Manager{Run: run(manifestDigest+"\n", nil)}).contentIDs(context.Background(), rt, "app:dev")
	require.NoError(t, err)
	assert.Equal(t, []string{indexDigest, manifestDigest}, ids, "containerd store: the index and the node platform's manifest")

	ids, err = (&Manager{Run: run(`"--platform" requires API version 1.49, but the Docker daemon API version is 1.41`, errors.New("exit status 1"))}).
		contentIDs(context.Background(), rt, "app:dev")
	require.NoError(t, err)
	assert.Equal(t, []string{indexDigest}, ids, "an engine that cannot inspect a platform: its ID alone")

	_, err = (&Manager{Run: run("", nil)}).contentIDs(context.Background(), rt, "missing:dev")
	assert.Error(t, err, "an image the engine lacks")
}

func TestKindNodeImageDigestReadsCtrsListing(t *testing.T) {
	t.Parallel()
	node := &ctrNode{list: ctrListing}
	got, err := kindNode{node}.ImageDigest("kindstack.test/metrics-server:v0.9.0")
	require.NoError(t, err)
	assert.Equal(t, manifestDigest, got)
	assert.Equal(t, []string{"ctr", "--namespace=k8s.io", "images", "ls", "name==kindstack.test/metrics-server:v0.9.0"}, node.commands[0])

	node = &ctrNode{list: "REF TYPE DIGEST SIZE PLATFORMS LABELS \n"}
	_, err = kindNode{node}.ImageDigest("docker.io/library/app:v1")
	assert.ErrorContains(t, err, "ctr lists no image")
	assert.Equal(t, "name==docker.io/library/app:v1", node.commands[0][4], "the node's containerd name")
}
