package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/kindstack/kindstack/internal/imageref"
	"github.com/kindstack/kindstack/internal/mirrors"
)

// A baked node image is the cluster's node image with the stack's images already in its
// containerd (/var/lib/containerd, namespace k8s.io), built the way kind builds its node images:
// a container from the base image, containerd started in it, the images imported, containerd
// stopped, the container committed. kind runs each node with an anonymous volume at /var, which
// the engine fills from the image's own /var: a node created from it holds the images, and the
// preload finds them there.
const (
	// BakedRepository is the repository every baked node image is tagged in.
	BakedRepository = "kindstack.local/node"

	labelBakeKey    = "io.kindstack.bake.key"
	labelBakeBase   = "io.kindstack.bake.base"
	labelBakeBaseID = "io.kindstack.bake.base-id"
	labelBakeImages = "io.kindstack.bake.images"
	labelBakeIDs    = "io.kindstack.bake.ids"
)

// BakeOptions are the inputs of Bake.
type BakeOptions struct {
	Runtime Runtime
	// NodeImage is the base: the node image the cluster is created from (the config's nodeImage).
	NodeImage string
	// Images are the stack's images (`images list` without the node image), as the node runs them.
	Images []string
	// Registries are tried for the base image when the engine lacks it.
	Registries mirrors.Registries
	Logf       Logf
}

// BakedImage is one baked node image in the host's engine.
type BakedImage struct {
	Ref    string   `json:"ref"`
	ID     string   `json:"id"`
	Base   string   `json:"base"`
	BaseID string   `json:"baseID"`
	Images []string `json:"images"`
	// Size is the whole image's; Added is what it takes beyond its base image (the base's
	// layers are shared), the disk baking cost.
	Size  int64 `json:"size"`
	Added int64 `json:"added"`
	// Built is false when a matching baked image was there already.
	Built bool `json:"built"`
	key   string
	ids   map[string]string // image → the ID it was baked with; nil for an image baked before it was recorded
}

// BakeKey is what a baked image is found by: the base image's ID and the exact list of images,
// each with the ID the engine holds it under (image → ID). IDs, not names alone: a base pulled
// again, or an image built again under the same tag, is another key.
func BakeKey(baseID string, images map[string]string) string {
	h := sha256.New()
	_, _ = io.WriteString(h, baseID+"\n")
	for _, image := range bakeList(slices.Collect(maps.Keys(images))) {
		_, _ = io.WriteString(h, image+" "+images[image]+"\n")
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// BakedRef is the tag of the image baked from base under key: kindstack.local/node:<base's
// tag>-<key>, e.g. kindstack.local/node:v1.35.8-0123456789ab.
func BakedRef(base, key string) string {
	tag := "node"
	if r, err := imageref.Parse(base); err == nil && r.Tag != "" {
		tag = r.Tag
	}
	const most = 128 - 13 // a tag is at most 128 characters; "-" and the key take 13
	if len(tag) > most {
		tag = tag[:most]
	}
	return BakedRepository + ":" + tag + "-" + key
}

// bakeList is the list a baked image holds: sorted, each image once.
func bakeList(images []string) []string {
	out := dedupe(images)
	sort.Strings(out)
	return out
}

// BakedFor returns the baked node image made from base (the node image as the config names it,
// resolved is what the engine holds it as) with exactly images, when the engine holds one whose
// labels say so. A base that changed, or another list, is another key: a stale image is never
// returned.
//
// A baked image loaded from a bundle (`images save --node-image`) comes to an engine that may
// hold neither its base nor its images: it is used when its labels name this base and exactly
// this list, and the base and each image the engine does hold are the ones it was baked with.
func (m *Manager) BakedFor(ctx context.Context, rt Runtime, base, resolved string, images []string) (BakedImage, bool) {
	baseID, baseErr := m.hostImageID(ctx, rt, resolved)
	ids, missing := m.engineIDs(ctx, rt, images)
	if baseErr == nil && len(missing) == 0 {
		key := BakeKey(baseID, ids)
		b, err := m.inspectBaked(ctx, rt, BakedRef(base, key))
		if err != nil || b.key != key || b.BaseID != baseID || !slices.Equal(b.Images, bakeList(images)) {
			return BakedImage{}, false
		}
		return b, true
	}
	list, err := m.BakedImages(ctx, rt)
	if err != nil {
		return BakedImage{}, false
	}
	for _, b := range list {
		loaded, fromBundle := m.rememberedNodeImage(ctx, rt, b.Ref)
		switch {
		case !fromBundle || loaded != b.ID, b.Base != base, !slices.Equal(b.Images, bakeList(images)), b.ids == nil:
			continue
		case baseErr == nil && baseID != b.BaseID:
			continue // the base tag names other content now
		case BakeKey(b.BaseID, b.ids) != b.key:
			continue // labels that do not agree with each other
		}
		current := true
		for image, id := range ids {
			current = current && b.ids[image] == id // built again since
		}
		if current {
			return b, true
		}
	}
	return BakedImage{}, false
}

// Bake builds the baked node image for these options unless the engine holds it already. Every
// image is taken from the host's engine, as the preload takes them; one the engine lacks is an
// error before anything is built: a baked image holds exactly the list, never part of it.
func (m *Manager) Bake(ctx context.Context, opts BakeOptions) (BakedImage, error) {
	logf := orNop(opts.Logf)
	rt := opts.Runtime
	images := bakeList(opts.Images)
	base, err := m.nodeImage(ctx, rt, opts.NodeImage, opts.Registries, logf)
	if err != nil {
		return BakedImage{}, err
	}
	if _, err := m.hostImageID(ctx, rt, base); err != nil {
		logf("pulling node image %s", base)
		if out, err := m.Run(ctx, rt.Binary, "pull", base); err != nil {
			return BakedImage{}, fmt.Errorf("pull node image %s: %s: %w", base, lastLine(out), err)
		}
	}
	if b, ok := m.BakedFor(ctx, rt, opts.NodeImage, base, images); ok {
		return b, nil
	}
	ids, missing := m.engineIDs(ctx, rt, images)
	if len(missing) > 0 {
		return BakedImage{}, fmt.Errorf("%s lacks %s: a baked node image holds every image of the stack or is not built; put them into %s (`%s pull IMAGE`, or `kindstack images load BUNDLE`) and bake again",
			rt.Name, strings.Join(missing, ", "), rt.Name, rt.Binary)
	}
	baseID, err := m.hostImageID(ctx, rt, base)
	if err != nil {
		return BakedImage{}, fmt.Errorf("node image %s: %w", base, err)
	}
	key := BakeKey(baseID, ids)
	ref := BakedRef(opts.NodeImage, key)
	if err := m.bake(ctx, rt, base, baseID, opts.NodeImage, key, ref, ids, logf); err != nil {
		return BakedImage{}, fmt.Errorf("bake %s: %w", ref, err)
	}
	b, err := m.inspectBaked(ctx, rt, ref)
	if err != nil {
		return BakedImage{}, fmt.Errorf("bake %s: %w", ref, err)
	}
	b.Built = true
	return b, nil
}

// engineIDs are the IDs the host's engine holds the images under, as the preload takes them:
// by name, or for a digest-pinned reference, the tag it was pulled under with exactly that
// digest. missing lists those it does not hold.
func (m *Manager) engineIDs(ctx context.Context, rt Runtime, images []string) (ids map[string]string, missing []string) {
	ids = map[string]string{}
	for _, image := range bakeList(images) {
		name := image
		if ref, err := imageref.Parse(image); err == nil && ref.Pinned() {
			tag, ok := m.pulledAs(ctx, rt, image)
			if !ok {
				missing = append(missing, image)
				continue
			}
			name = tag
		}
		id, err := m.hostImageID(ctx, rt, name)
		if err != nil {
			missing = append(missing, image)
			continue
		}
		ids[image] = id
	}
	return ids, missing
}

// bakeWait bounds each wait for the bake container's containerd, to start and to stop.
const bakeWait = time.Minute

// bake runs the build container, imports the images into its containerd and commits it as ref.
func (m *Manager) bake(ctx context.Context, rt Runtime, base, baseID, baseRef, key, ref string, ids map[string]string, logf Logf) error {
	images := bakeList(slices.Collect(maps.Keys(ids)))
	var cfg struct{ Entrypoint, Cmd []string }
	out, err := m.Run(ctx, rt.Binary, "image", "inspect", "-f", "{{json .Config}}", base)
	if err != nil {
		return fmt.Errorf("inspect node image %s: %s: %w", base, lastLine(out), err)
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		return fmt.Errorf("inspect node image %s: %w", base, err)
	}
	listJSON, err := json.Marshal(images)
	if err != nil {
		return err
	}
	idsJSON, err := json.Marshal(ids)
	if err != nil {
		return err
	}
	container := "kindstack-bake-" + key
	_, _ = m.Run(ctx, rt.Binary, "rm", "-f", container) // what an interrupted bake left
	logf("starting build container %s from %s", container, base)
	// As kind's own node image build: the container sleeps while commands run in it; the labels
	// given here are the committed image's.
	if out, err := m.Run(ctx, rt.Binary, "run", "-d", "--name", container, "--entrypoint", "sleep",
		"--security-opt", "seccomp=unconfined",
		"--label", labelBakeKey+"="+key, "--label", labelBakeBase+"="+baseRef,
		"--label", labelBakeBaseID+"="+baseID, "--label", labelBakeImages+"="+string(listJSON),
		"--label", labelBakeIDs+"="+string(idsJSON),
		base, "infinity"); err != nil {
		return fmt.Errorf("start build container: %s: %w", lastLine(out), err)
	}
	defer func() {
		cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), bakeWait)
		defer cancel()
		_, _ = m.Run(cleanup, rt.Binary, "rm", "-f", container)
	}()
	if out, err := m.Run(ctx, rt.Binary, "exec", "-d", container, "containerd"); err != nil {
		return fmt.Errorf("start containerd: %s: %w", lastLine(out), err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, bakeWait, true, func(ctx context.Context) (bool, error) {
		_, err := m.Run(ctx, rt.Binary, "exec", container, "test", "-S", "/run/containerd/containerd.sock")
		return err == nil, nil
	}); err != nil {
		return fmt.Errorf("containerd did not start in the build container within %s: %w", bakeWait, err)
	}
	node := bakeNode{kindNode: kindNode{m.execNode(ctx, rt, container)}}
	res, err := m.preloadInto(ctx, PreloadOptions{Cluster: container, Runtime: rt, Images: images, Logf: logf}, []ImageNode{node})
	if err != nil {
		return err
	}
	if len(res.Remote) > 0 {
		return fmt.Errorf("%s could not give %s", rt.Name, strings.Join(res.Remote, ", "))
	}
	// containerd stops on SIGTERM with its metadata written; the commit must not catch it half-way.
	if out, err := m.Run(ctx, rt.Binary, "exec", container, "pkill", "-TERM", "-x", "containerd"); err != nil {
		return fmt.Errorf("stop containerd: %s: %w", lastLine(out), err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, bakeWait, true, func(ctx context.Context) (bool, error) {
		_, err := m.Run(ctx, rt.Binary, "exec", container, "pgrep", "-x", "containerd")
		return err != nil, nil
	}); err != nil {
		return fmt.Errorf("containerd did not stop in the build container within %s: %w", bakeWait, err)
	}
	logf("committing %s", ref)
	args := []string{"commit", "--change", "ENTRYPOINT " + execForm(cfg.Entrypoint), "--change", "CMD " + execForm(cfg.Cmd), container, ref}
	if out, err := m.Run(ctx, rt.Binary, args...); err != nil {
		return fmt.Errorf("commit: %s: %w", lastLine(out), err)
	}
	return nil
}

// execForm is a Dockerfile instruction's JSON (exec) form of argv: what commit's --change reads.
func execForm(argv []string) string {
	if argv == nil {
		argv = []string{}
	}
	b, _ := json.Marshal(argv)
	return string(b)
}

// bakeNode is the build container's containerd. Its images are imported unpacked by nothing:
// the container's /var is on the engine's overlay filesystem, where containerd's overlay
// snapshotter cannot unpack, and the node unpacks an image the first time a container of it
// starts, as it does for kind's own images (kind's build imports them with --no-unpack too).
type bakeNode struct{ kindNode }

func (n bakeNode) Import(archive io.Reader) error { return ctrImport(n.Node, archive, "--no-unpack") }

// inspectBaked reads a baked image's labels; an image without them is no baked image.
func (m *Manager) inspectBaked(ctx context.Context, rt Runtime, ref string) (BakedImage, error) {
	out, err := m.Run(ctx, rt.Binary, "image", "inspect", "-f", "{{json .}}", ref)
	if err != nil {
		return BakedImage{}, fmt.Errorf("inspect %s: %s: %w", ref, lastLine(out), err)
	}
	var img struct {
		ID       string `json:"Id"`
		Size     int64
		RepoTags []string
		Config   struct{ Labels map[string]string }
	}
	if err := json.Unmarshal(out, &img); err != nil {
		return BakedImage{}, fmt.Errorf("inspect %s: %w", ref, err)
	}
	l := img.Config.Labels
	if l[labelBakeKey] == "" {
		return BakedImage{}, fmt.Errorf("%s is not a node image kindstack baked", ref)
	}
	b := BakedImage{ID: img.ID, Base: l[labelBakeBase], BaseID: l[labelBakeBaseID], Size: img.Size, Added: img.Size, key: l[labelBakeKey]}
	if err := json.Unmarshal([]byte(l[labelBakeImages]), &b.Images); err != nil {
		return BakedImage{}, fmt.Errorf("%s: label %s: %w", ref, labelBakeImages, err)
	}
	if v := l[labelBakeIDs]; v != "" {
		if err := json.Unmarshal([]byte(v), &b.ids); err != nil {
			return BakedImage{}, fmt.Errorf("%s: label %s: %w", ref, labelBakeIDs, err)
		}
	}
	b.Ref = BakedRef(b.Base, b.key)
	if !slices.Contains(img.RepoTags, b.Ref) && len(img.RepoTags) > 0 {
		b.Ref = img.RepoTags[0]
	}
	if out, err := m.Run(ctx, rt.Binary, "image", "inspect", "-f", "{{.Size}}", b.BaseID); err == nil {
		var baseSize int64
		if _, err := fmt.Sscan(strings.TrimSpace(string(out)), &baseSize); err == nil && baseSize <= b.Size {
			b.Added = b.Size - baseSize
		}
	}
	return b, nil
}

// BakedImages lists every baked node image the host's engine holds.
func (m *Manager) BakedImages(ctx context.Context, rt Runtime) ([]BakedImage, error) {
	out, err := m.Run(ctx, rt.Binary, "images", "--filter", "label="+labelBakeKey, "--format", "{{.ID}}")
	if err != nil {
		return nil, fmt.Errorf("list baked node images: %s: %w", lastLine(out), err)
	}
	var list []BakedImage
	for _, id := range dedupe(strings.Fields(string(out))) {
		b, err := m.inspectBaked(ctx, rt, id)
		if err != nil {
			continue // removed meanwhile
		}
		list = append(list, b)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Ref < list[j].Ref })
	return list, nil
}

// RemoveBaked removes every baked node image from the host's engine, and nothing else: only
// images with kindstack's bake label are listed. One a node container still runs from stays,
// and the error names it.
func (m *Manager) RemoveBaked(ctx context.Context, rt Runtime) ([]BakedImage, error) {
	list, err := m.BakedImages(ctx, rt)
	if err != nil {
		return nil, err
	}
	var removed []BakedImage
	var errs []error
	for _, b := range list {
		if out, err := m.Run(ctx, rt.Binary, "rmi", b.Ref); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %s: %w", b.Ref, lastLine(out), err))
			continue
		}
		removed = append(removed, b)
	}
	return removed, errors.Join(errs...)
}
