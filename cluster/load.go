package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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
	nodeList, err := m.Nodes(rt, cluster)
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

// RememberNodeImage records that the engine's image id is the node image ref, verified against
// ref's digest when a bundle was written: an engine that loaded it from an archive has no
// registry digest to match ref by, so create uses the id instead.
func (m *Manager) RememberNodeImage(ref, id string) error {
	dir := filepath.Join(m.StateDir, "node-images")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, refKey(ref)), []byte(id+"\n"), 0o644)
}

// rememberedNodeImage is the image id RememberNodeImage recorded for ref, if the engine still has it.
func (m *Manager) rememberedNodeImage(ctx context.Context, rt Runtime, ref string) (string, bool) {
	data, err := os.ReadFile(filepath.Join(m.StateDir, "node-images", refKey(ref)))
	if err != nil {
		return "", false
	}
	id := strings.TrimSpace(string(data))
	if got, err := m.hostImageID(ctx, rt, id); err != nil || got != id {
		return "", false
	}
	return id, true
}

func refKey(ref string) string {
	sum := sha256.Sum256([]byte(ref))
	return hex.EncodeToString(sum[:8])
}

// Engine finds the container runtime kind drives and checks that its engine answers.
func (m *Manager) Engine(ctx context.Context) (Runtime, error) {
	rt, _, err := m.engine(ctx, nil)
	return rt, err
}

// Exists reports whether kind has a cluster of that name.
func (m *Manager) Exists(rt Runtime, name string) (bool, error) {
	names, err := m.NewProvider(rt, nil).List()
	if err != nil {
		return false, fmt.Errorf("list kind clusters: %w", err)
	}
	return slices.Contains(names, name), nil
}
