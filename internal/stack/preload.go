package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"

	kindcluster "sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/cluster/nodes"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"

	"github.com/kindstack/kindstack/cluster"
)

// PreloadOptions are the inputs of Preload.
type PreloadOptions struct {
	Cluster string
	Runtime cluster.Runtime
	// Images are the references the install will run (after the images map).
	Images []string
	Logf   func(format string, args ...any)
}

// PreloadResult says what Preload did with each image.
type PreloadResult struct {
	Loaded  []string // copied from the host's runtime into the nodes
	Present []string // already in every node
	Remote  []string // not in the host's runtime: the nodes pull them
}

// String says it in a few words, leaving out what did not happen: "2 images loaded, 1 to pull".
func (r PreloadResult) String() string {
	var parts []string
	for _, p := range []struct {
		n    int
		what string
	}{{len(r.Loaded), "loaded"}, {len(r.Present), "already on the node"}, {len(r.Remote), "to pull"}} {
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.what))
		}
	}
	if len(parts) == 0 {
		return "no images"
	}
	noun := "images"
	if len(r.Loaded)+len(r.Present)+len(r.Remote) == 1 {
		noun = "image"
	}
	return noun + ": " + strings.Join(parts, ", ")
}

// Preload copies images that exist in the host's container runtime into every node, the way
// `kind load docker-image` does, so a machine with a mirror or an offline bundle never asks a
// registry for them. Images the nodes already hold are skipped. References pinned by digest are
// left to the registry: an image archive does not keep the registry's manifest digest, so a
// loaded copy could never satisfy them.
func Preload(ctx context.Context, opts PreloadOptions) (PreloadResult, error) {
	var res PreloadResult
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	provider := kindcluster.NewProvider(opts.Runtime.ProviderOption())
	nodeList, err := provider.ListInternalNodes(opts.Cluster)
	if err != nil {
		return res, fmt.Errorf("list nodes of %s: %w", opts.Cluster, err)
	}
	if len(nodeList) == 0 {
		return res, fmt.Errorf("cluster %s has no nodes", opts.Cluster)
	}

	var toSave []string
	missingOn := map[string][]nodes.Node{}
	for _, image := range dedupe(opts.Images) {
		if strings.Contains(image, "@") {
			res.Remote = append(res.Remote, image)
			continue
		}
		id, err := hostImageID(ctx, opts.Runtime.Binary, image)
		if err != nil {
			res.Remote = append(res.Remote, image)
			continue
		}
		for _, n := range nodeList {
			if nodeID, err := nodeutils.ImageID(n, image); err == nil && nodeID == id {
				continue
			}
			missingOn[image] = append(missingOn[image], n)
		}
		if len(missingOn[image]) == 0 {
			res.Present = append(res.Present, image)
			continue
		}
		toSave = append(toSave, image)
	}
	if len(toSave) == 0 {
		return res, nil
	}

	// The runtime's `save` streams straight into each node's containerd: no archive on disk, and
	// the node unpacks while the runtime is still writing.
	logf("streaming %s from %s", strings.Join(toSave, ", "), opts.Runtime.Name)
	var errs []error
	for _, n := range nodeList {
		if !lacksAny(n, toSave, missingOn) {
			continue
		}
		logf("importing images into node %s", n.String())
		if err := stream(ctx, opts.Runtime, toSave, n); err != nil {
			errs = append(errs, fmt.Errorf("load images into node %s: %w", n.String(), err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return res, err
	}
	res.Loaded = toSave
	return res, nil
}

// stream pipes `<runtime> save images...` into the node's image import.
func stream(ctx context.Context, rt cluster.Runtime, images []string, n nodes.Node) error {
	save := exec.CommandContext(ctx, rt.Binary, append([]string{"save"}, images...)...)
	var stderr strings.Builder
	save.Stderr = &stderr
	out, err := save.StdoutPipe()
	if err != nil {
		return err
	}
	if err := save.Start(); err != nil {
		return fmt.Errorf("%s save: %w", rt.Name, err)
	}
	importErr := nodeutils.LoadImageArchive(n, out)
	// Drain what the import left unread, so save can finish and report its own error.
	_, _ = io.Copy(io.Discard, out)
	if err := save.Wait(); err != nil {
		return fmt.Errorf("%s save: %s: %w", rt.Name, strings.TrimSpace(stderr.String()), err)
	}
	return importErr
}

func lacksAny(n nodes.Node, images []string, missingOn map[string][]nodes.Node) bool {
	for _, image := range images {
		for _, m := range missingOn[image] {
			if m.String() == n.String() {
				return true
			}
		}
	}
	return false
}

// hostImageID returns the image ID the host's runtime has for image, or an error if it has none.
func hostImageID(ctx context.Context, binary, image string) (string, error) {
	out, err := exec.CommandContext(ctx, binary, "image", "inspect", "-f", "{{ .Id }}", image).Output()
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
