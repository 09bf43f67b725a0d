package cluster

import (
	"context"
	"fmt"
	"io"
	"strings"

	kindcluster "sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/cluster/nodes"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"
	kindexec "sigs.k8s.io/kind/pkg/exec"
)

// ImageNode is one node's image store, as Preload sees it.
type ImageNode interface {
	String() string
	// ImageID returns the ID of the image the node holds under that reference, or an error if none.
	ImageID(image string) (string, error)
	// Import reads an image archive (what `docker save` writes) into the node's containerd.
	Import(archive io.Reader) error
	// Tag gives the node's image src the name dst too (containerd names, fully qualified).
	Tag(src, dst string) error
}

// KindNodes is the real node lister: the cluster's nodes as kind knows them, every command they
// run bound to ctx. kind's listing itself takes no context, so one that has ended is not started.
func KindNodes(ctx context.Context, rt Runtime, cluster string) ([]ImageNode, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	list, err := kindcluster.NewProvider(rt.ProviderOption()).ListInternalNodes(cluster)
	if err != nil {
		return nil, err
	}
	out := make([]ImageNode, 0, len(list))
	for _, n := range list {
		out = append(out, kindNode{boundNode{Node: n, ctx: ctx}})
	}
	return out, nil
}

// boundNode is a kind node whose every command ends with ctx: kind's nodeutils call Command,
// which takes none.
type boundNode struct {
	nodes.Node
	ctx context.Context
}

func (n boundNode) Command(command string, args ...string) kindexec.Cmd {
	return n.Node.CommandContext(n.ctx, command, args...)
}

// kindNode reaches a node's containerd the way `kind load` does.
type kindNode struct{ nodes.Node }

func (n kindNode) ImageID(image string) (string, error) { return nodeutils.ImageID(n.Node, image) }

// Import reads the archive into the node's containerd, unpacked by its CRI snapshotter, like kind's
// LoadImageArchive, but for the node's platform only: kind's import asks for every platform, and
// fails on an index whose other platforms are absent, which is how Docker's containerd image store
// (and Podman) keep a pulled multi-platform image and how its `docker save` writes it (kind issue 3795).
func (n kindNode) Import(archive io.Reader) error {
	var dump strings.Builder
	cmd := n.Node.Command("containerd", "config", "dump")
	cmd.SetStdout(&dump)
	cmd.SetStderr(&dump)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("read containerd's config: %s: %w", lastLine([]byte(dump.String())), err)
	}
	snapshotter, err := snapshotterOf([]byte(dump.String()))
	if err != nil {
		return err
	}
	return ctrImport(n.Node, archive, "--snapshotter="+snapshotter)
}

// ctrImportArgs is the node's import of an image archive for the node's platform alone (with the
// registries' digests the archive records), extra flags before the archive on stdin.
func ctrImportArgs(extra ...string) []string {
	args := []string{"--namespace=k8s.io", "images", "import", "--platform", NodePlatform(), "--digests"}
	return append(append(args, extra...), "-")
}

// ctrImport runs ctrImportArgs(extra...) in the node with the archive on stdin; its error carries
// what ctr said.
func ctrImport(node kindexec.Cmder, archive io.Reader, extra ...string) error {
	var out strings.Builder
	cmd := node.Command("ctr", ctrImportArgs(extra...)...).SetStdin(archive)
	cmd.SetStdout(&out)
	cmd.SetStderr(&out)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ctr images import: %s: %w", strings.TrimSpace(out.String()), err)
	}
	return nil
}
func (n kindNode) Tag(src, dst string) error {
	var out strings.Builder
	cmd := n.Node.Command("ctr", "--namespace=k8s.io", "images", "tag", "--force", src, dst)
	cmd.SetStdout(&out)
	cmd.SetStderr(&out)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ctr images tag %s %s: %s: %w", src, dst, strings.TrimSpace(out.String()), err)
	}
	return nil
}
