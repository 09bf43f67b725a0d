package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/kindstack/kindstack/internal/mirrors"
)

// nodeImage is the reference kind creates the node from. The host's engine, not the node, pulls
// it, so the node's mirrors do not apply: when the engine lacks the image, each mirror of its
// registry is tried in order (the reference rewritten, digest kept) before the registry itself.
func (m *Manager) nodeImage(ctx context.Context, rt Runtime, image string, r mirrors.Registries, logf Logf) (string, error) {
	if _, err := m.hostImageID(ctx, rt, image); err == nil {
		return image, nil
	}
	if id, ok := m.rememberedNodeImage(ctx, rt, image); ok {
		logf("node image %s: using %s, loaded from a kindstack bundle", image, id)
		return id, nil
	}
	mirrored, ok := r.MirroredImage(image)
	if !ok {
		return image, nil
	}
	for _, ref := range mirrored {
		if _, err := m.hostImageID(ctx, rt, ref); err == nil {
			return ref, nil
		}
		logf("pulling node image %s", ref)
		out, err := m.Run(ctx, rt.Binary, "pull", ref)
		if err == nil {
			return ref, nil
		}
		if ctx.Err() != nil {
			return "", fmt.Errorf("pull node image %s: %w", ref, ctx.Err())
		}
		logf("node image %s not pulled through that mirror: %s", ref, lastLine(out))
	}
	return image, nil
}

// RememberNodeImage records that the engine's image id is the node image ref, verified against
// ref's digest when a bundle was written: an engine that loaded it from an archive has no
// registry digest to match ref by, so create uses the id instead.
func (m *Manager) RememberNodeImage(ref, id string) error {
	dir, err := m.stateDir(true, nodeImagesDir)
	if err != nil {
		return err
	}
	return writePrivateFile(dir, refKey(ref), []byte(id+"\n"))
}

// nodeImagesDir is the state directory's subdirectory of remembered node images.
const nodeImagesDir = "node-images"

// rememberedNodeImage is the image id RememberNodeImage recorded for ref, if the engine still has it.
func (m *Manager) rememberedNodeImage(ctx context.Context, rt Runtime, ref string) (string, bool) {
	dir, err := m.stateDir(false, nodeImagesDir)
	if err != nil {
		return "", false
	}
	data, err := readPrivateFile(filepath.Join(dir, refKey(ref)), m.fileOwner())
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
