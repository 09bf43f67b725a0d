package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
)

// LoadIntoEngine streams an image archive in `docker save` form into the host's engine
// (`<runtime> load`). write fills the archive; its error wins over load's, which would only
// say the stream ended early.
func (m *Manager) LoadIntoEngine(ctx context.Context, rt Runtime, write func(io.Writer) error) error {
	pr, pw := io.Pipe()
	load := exec.CommandContext(ctx, rt.Binary, "load")
	var out strings.Builder
	load.Stdin, load.Stdout, load.Stderr = pr, &out, &out
	if err := load.Start(); err != nil {
		return fmt.Errorf("%s load: %w", rt.Name, err)
	}
	writeErr := write(pw)
	pw.CloseWithError(writeErr)
	loadErr := load.Wait()
	if writeErr != nil {
		return writeErr
	}
	if loadErr != nil {
		return fmt.Errorf("%s load: %s: %w", rt.Name, strings.TrimSpace(out.String()), loadErr)
	}
	return nil
}

// ImportIntoNodes streams an image archive (an OCI layout; registry digests are kept) into
// every node's containerd, the way `kind load image-archive` does.
func (m *Manager) ImportIntoNodes(ctx context.Context, rt Runtime, cluster string, write func(io.Writer) error) error {
	nodeList, err := m.Nodes(ctx, rt, cluster)
	if err != nil {
		return fmt.Errorf("list nodes of %s: %w", cluster, err)
	}
	if len(nodeList) == 0 {
		return fmt.Errorf("cluster %s has no nodes", cluster)
	}
	var errs []error
	for _, n := range nodeList {
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		go func() { done <- n.Import(pr) }()
		writeErr := write(pw)
		pw.CloseWithError(writeErr)
		importErr := <-done
		_, _ = io.Copy(io.Discard, pr)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := errors.Join(writeErr, importErr); err != nil {
			errs = append(errs, fmt.Errorf("import images into node %s: %w", n.String(), err))
		}
	}
	return errors.Join(errs...)
}

// onEvery reports whether every node holds the image (and there is a node).
func onEvery(nodeList []ImageNode, image string) bool {
	for _, n := range nodeList {
		if _, err := n.ImageID(image); err != nil {
			return false
		}
	}
	return len(nodeList) > 0
}

// HostImageID is the ID of the image the host's engine holds under that reference ("" if none).
func (m *Manager) HostImageID(ctx context.Context, rt Runtime, image string) string {
	id, err := m.hostImageID(ctx, rt, image)
	if err != nil {
		return ""
	}
	return id
}
