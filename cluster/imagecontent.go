package cluster

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// imageDigester is a node that can also say which manifest (or index) its containerd names an
// image by. Docker's containerd image store identifies an image by that digest, not by the
// config digest the node's CRI reports, so without it an image the node already holds looks
// different and is imported again on every up and load.
type imageDigester interface {
	ImageDigest(image string) (string, error)
}

// contentIDs are the IDs of the engine's content of image as a node can hold it: the engine's
// image ID (in Docker's classic store the config digest, which is the node's CRI image ID; in the
// containerd store the index or manifest digest) and, where the engine can inspect one platform
// (Docker 28 and later), the node platform's manifest digest, which is what the node names after
// importing that platform alone. An error when the engine has no such image.
func (m *Manager) contentIDs(ctx context.Context, rt Runtime, image string) ([]string, error) {
	id, err := m.hostImageID(ctx, rt, image)
	if err != nil {
		return nil, err
	}
	ids := []string{id}
	out, err := m.Run(ctx, rt.Binary, "image", "inspect", "--platform", NodePlatform(), "-f", "{{ .Id }}", image)
	if p := strings.TrimSpace(string(out)); err == nil && strings.HasPrefix(p, "sha256:") && p != id {
		ids = append(ids, p)
	}
	return ids, nil
}

// holdsContent reports whether node n holds image with one of the engine's content IDs.
func holdsContent(n ImageNode, image string, ids []string) bool {
	nodeID, err := n.ImageID(image)
	if err != nil {
		return false
	}
	if slices.Contains(ids, nodeID) {
		return true
	}
	d, ok := n.(imageDigester)
	if !ok {
		return false
	}
	digest, err := d.ImageDigest(image)
	return err == nil && slices.Contains(ids, digest)
}

// ImageDigest returns the digest of what the node's containerd names image (`ctr images ls`).
func (n kindNode) ImageDigest(image string) (string, error) {
	var out strings.Builder
	cmd := n.Node.Command("ctr", "--namespace=k8s.io", "images", "ls", "name=="+ContainerdName(image))
	cmd.SetStdout(&out)
	cmd.SetStderr(&out)
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("ctr images ls: %s: %w", strings.TrimSpace(out.String()), err)
	}
	return listedDigest(out.String())
}

// listedDigest reads the DIGEST column of `ctr images ls` (REF TYPE DIGEST SIZE PLATFORMS LABELS)
// for its one image.
func listedDigest(table string) (string, error) {
	for _, line := range strings.Split(table, "\n")[1:] {
		if f := strings.Fields(line); len(f) >= 3 && strings.HasPrefix(f[2], "sha256:") {
			return f[2], nil
		}
	}
	return "", fmt.Errorf("ctr lists no image: %q", strings.TrimSpace(table))
}
