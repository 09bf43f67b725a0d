package cluster

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/kind/pkg/cluster/nodes"
	kindexec "sigs.k8s.io/kind/pkg/exec"
)

// ctrNode plays a kind node for the image import: it answers `containerd config dump` with its
// config, reads what `ctr images import` gets on stdin, and fails that import with ctrOut when
// ctrFails is set, as ctr does on content an index lists but the archive lacks.
type ctrNode struct {
	nodes.Node // nil: only Command is called
	config     string
	ctrFails   bool
	ctrOut     string
	list       string // what `ctr images ls` prints
	commands   [][]string
	stdin      []string
}

func (n *ctrNode) String() string { return "kseng-control-plane" }

func (n *ctrNode) Command(name string, args ...string) kindexec.Cmd {
	return &ctrCmd{node: n, argv: append([]string{name}, args...)}
}

type ctrCmd struct {
	node        *ctrNode
	argv        []string
	in          io.Reader
	out, errOut io.Writer
}

func (c *ctrCmd) SetEnv(...string) kindexec.Cmd      { return c }
func (c *ctrCmd) SetStdin(r io.Reader) kindexec.Cmd  { c.in = r; return c }
func (c *ctrCmd) SetStdout(w io.Writer) kindexec.Cmd { c.out = w; return c }
func (c *ctrCmd) SetStderr(w io.Writer) kindexec.Cmd { c.errOut = w; return c }
func (c *ctrCmd) write(w io.Writer, s string)        { _, _ = io.WriteString(w, s) }
func (c *ctrCmd) is(argv ...string) bool             { return strings.Join(c.argv, " ") == strings.Join(argv, " ") }
func (c *ctrCmd) Run() error {
	c.node.commands = append(c.node.commands, c.argv)
	switch {
	case c.is("containerd", "config", "dump"):
		c.write(c.out, c.node.config)
		return nil
	case len(c.argv) > 3 && c.argv[0] == "ctr" && c.argv[2] == "images" && c.argv[3] == "ls":
		c.write(c.out, c.node.list)
		return nil
	case len(c.argv) > 0 && c.argv[0] == "ctr":
		b, err := io.ReadAll(c.in)
		if err != nil {
			return err
		}
		c.node.stdin = append(c.node.stdin, string(b))
		if c.node.ctrFails {
			c.write(c.errOut, c.node.ctrOut)
			return errors.New("exit status 1")
		}
		return nil
	}
	return errors.New("unexpected command " + strings.Join(c.argv, " "))
}

const overlayConfig = "version = 2\n[plugins]\n  [plugins.\"io.containerd.grpc.v1.cri\"]\n    [plugins.\"io.containerd.grpc.v1.cri\".containerd]\n      snapshotter = \"overlayfs\"\n"

func TestKindNodeImportAsksForTheNodesPlatformOnly(t *testing.T) {
	t.Parallel()
	node := &ctrNode{config: overlayConfig}
	require.NoError(t, kindNode{node}.Import(strings.NewReader("ARCHIVE")))

	require.Len(t, node.commands, 2, "the snapshotter is read from the node's config, then the archive imported")
	assert.Equal(t, []string{"ctr", "--namespace=k8s.io", "images", "import", "--platform", NodePlatform(), "--digests",
		"--snapshotter=overlayfs", "-"}, node.commands[1])
	assert.NotContains(t, node.commands[1], "--all-platforms",
		"an index whose other platforms are absent (Docker's containerd image store) must import")
	assert.Equal(t, []string{"ARCHIVE"}, node.stdin, "the archive reaches ctr whole")
}

func TestKindNodeImportFailureSaysWhatCtrSaid(t *testing.T) {
	t.Parallel()
	node := &ctrNode{config: overlayConfig, ctrFails: true,
		ctrOut: "ctr: content digest sha256:67d99322a2cc48708d0e6b90c09b1d049c9c4c9b2f97ab05222417ce3040c756: not found\n"}
	err := kindNode{node}.Import(strings.NewReader("ARCHIVE"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "content digest sha256:67d99322a2cc48708d0e6b90c09b1d049c9c4c9b2f97ab05222417ce3040c756: not found")
}

func TestKindNodeImportNeedsTheNodesSnapshotter(t *testing.T) {
	t.Parallel()
	node := &ctrNode{config: "version = 2\n"}
	err := kindNode{node}.Import(strings.NewReader("ARCHIVE"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "names no CRI snapshotter")
	assert.Empty(t, node.stdin, "nothing is imported with a guessed snapshotter")
}

func TestBakeNodeImportKeepsImagesPackedForTheNodesPlatform(t *testing.T) {
	t.Parallel()
	node := &ctrNode{}
	require.NoError(t, bakeNode{kindNode{node}}.Import(strings.NewReader("ARCHIVE")))
	require.Len(t, node.commands, 1)
	assert.Equal(t, []string{"ctr", "--namespace=k8s.io", "images", "import", "--platform", NodePlatform(), "--digests",
		"--no-unpack", "-"}, node.commands[0])
}

func TestSaveArgs(t *testing.T) {
	t.Parallel()
	docker28 := "Usage:  docker save [OPTIONS] IMAGE [IMAGE...]\n\nOptions:\n  -o, --output string     Write to a file, instead of STDOUT\n" +
		"      --platform string   Save only the given platform variant\n"
	docker20 := "Usage:  docker save [OPTIONS] IMAGE [IMAGE...]\n\nOptions:\n  -o, --output string   Write to a file, instead of STDOUT\n"
	podman43 := "Save image(s) to an archive\n\nOptions:\n      --format string         Save image to oci-archive, oci-dir, docker-archive, docker-dir (default \"docker-archive\")\n" +
		"  -m, --multi-image-archive   Interpret additional arguments as images not tags and create a multi-image-archive (only for docker-archive)\n" +
		"  -o, --output string         Write to a specified file (default: stdout, which must be redirected)\n"
	for _, tc := range []struct {
		name   string
		help   string
		err    error
		images int
		want   []string
	}{
		{"engine with the flag saves the node's platform", docker28, nil, 3, []string{"--platform", NodePlatform()}},
		{"engine without the flag saves as before", docker20, nil, 3, nil},
		{"help that failed adds nothing", docker28, errors.New("exit status 1"), 3, nil},
		{"podman saves several images as images, not as tags of the first", podman43, nil, 2, []string{"--multi-image-archive"}},
		{"podman saves one image as it is", podman43, nil, 1, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, saveArgs([]byte(tc.help), tc.err, tc.images))
		})
	}
}

func TestHostImageIDsAreDigests(t *testing.T) {
	t.Parallel()
	const hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	assert.Equal(t, "sha256:"+hex, asDigest(hex), "Podman's bare hex ID becomes the digest the node reports")
	assert.Equal(t, "sha256:"+hex, asDigest("sha256:"+hex), "Docker's ID stays")
	assert.Equal(t, "abc", asDigest("abc"), "anything else stays as it was")
}
