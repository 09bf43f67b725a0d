package cluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"github.com/kindstack/kindstack/internal/imageref"
)

// NodePlatform is the platform of a kind node on this machine.
func NodePlatform() string { return "linux/" + runtime.GOARCH }

// ContainerdName is the name the node's containerd keeps an image under once the kubelet pulled
// it: "docker.io/library/postgres:17-alpine", or "docker.io/library/traefik@sha256:…" for a
// reference pinned by digest (the tag is dropped).
func ContainerdName(image string) string {
	ref, err := imageref.Parse(image)
	switch {
	case err != nil:
		return image // ctr names what it cannot find
	case ref.Pinned():
		return ref.DigestName()
	default:
		return ref.Normalized()
	}
}

// NodeImages returns which of the images every node of the cluster holds (none when the nodes
// cannot be listed). The nodes are listed once.
func (m *Manager) NodeImages(ctx context.Context, rt Runtime, cluster string, images []string) []string {
	nodeList, err := m.Nodes(ctx, rt, cluster)
	if err != nil {
		return nil
	}
	var held []string
	for _, image := range images {
		if onEvery(nodeList, image) {
			held = append(held, image)
		}
	}
	return held
}

// ExportFromNode writes the images, as the cluster's node holds them, into file: an OCI archive
// for the node's platform with the registries' digests, for ImportForPlatform into another node.
func (m *Manager) ExportFromNode(ctx context.Context, rt Runtime, cluster string, images []string, file string) error {
	nodes, err := m.someNodes(ctx, rt, cluster)
	if err != nil {
		return err
	}
	out, err := os.Create(file)
	if err != nil {
		return err
	}
	args := []string{"exec", nodes[0].Name, "ctr", "--namespace=k8s.io", "images", "export", "--platform", NodePlatform()}
	// A ctr with the transfer API (containerd 2) writes its progress to stdout, which is the
	// archive here; --local exports without it. Older ones have neither.
	if help, err := m.Run(ctx, rt.Binary, "exec", nodes[0].Name, "ctr", "images", "export", "--help"); err == nil && strings.Contains(string(help), "--local") {
		args = append(args, "--local")
	}
	args = append(args, "-")
	for _, image := range images {
		args = append(args, ContainerdName(image))
	}
	cmd := exec.CommandContext(ctx, rt.Binary, args...)
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = out, &stderr
	runErr := cmd.Run()
	closeErr := out.Close()
	if runErr != nil {
		return fmt.Errorf("export images from node %s: %s: %w", nodes[0].Name, strings.TrimSpace(stderr.String()), runErr)
	}
	return closeErr
}

// ImportForPlatform imports an archive that ExportFromNode wrote into every node of the cluster.
// Only the node's platform is imported: the archive holds a multi-platform image's index but
// only that platform's content (kind's own import asks for every platform, and would fail).
func (m *Manager) ImportForPlatform(ctx context.Context, rt Runtime, cluster, file string) error {
	nodes, err := m.someNodes(ctx, rt, cluster)
	if err != nil {
		return err
	}
	for _, n := range nodes {
		dump, err := m.Run(ctx, rt.Binary, "exec", n.Name, "containerd", "config", "dump")
		if err != nil {
			return fmt.Errorf("read containerd's config in node %s: %s: %w", n.Name, lastLine(dump), err)
		}
		snapshotter, err := snapshotterOf(dump)
		if err != nil {
			return fmt.Errorf("node %s: %w", n.Name, err)
		}
		in, err := os.Open(file)
		if err != nil {
			return err
		}
		cmd := exec.CommandContext(ctx, rt.Binary, append([]string{"exec", "-i", n.Name, "ctr"}, ctrImportArgs("--snapshotter="+snapshotter)...)...)
		var out strings.Builder
		cmd.Stdin, cmd.Stdout, cmd.Stderr = in, &out, &out
		runErr := cmd.Run()
		in.Close()
		if runErr != nil {
			return fmt.Errorf("import images into node %s: %s: %w", n.Name, strings.TrimSpace(out.String()), runErr)
		}
	}
	return nil
}
