package cluster

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"strings"

	"github.com/kindstack/kindstack/internal/imageref"
)

// LoadOptions are the inputs of Load: the user's images, from the host's engine or an archive.
type LoadOptions struct {
	Cluster string
	Runtime Runtime
	// Images are taken from the host's engine under these names.
	Images []string
	// Archive, when set, is a `docker save` (or OCI layout) tarball imported as it is.
	Archive string
	Logf    Logf
}

// LoadResult says what Load did, by image.
type LoadResult struct {
	// Loaded are the images imported into every node; Present those every node held already
	// with the engine's content.
	Loaded, Present []string
	// Nodes is how many nodes got them.
	Nodes int
}

// MissingFromEngine lists the images the host's engine does not hold.
func (m *Manager) MissingFromEngine(ctx context.Context, rt Runtime, images []string) []string {
	var out []string
	for _, image := range images {
		if _, err := m.hostImageID(ctx, rt, image); err != nil {
			out = append(out, image)
		}
	}
	return out
}

// ArchiveImages lists the images an archive names (`docker save`'s manifest.json RepoTags, or an
// OCI layout's image-name annotations); an error when the file is not an image archive.
func ArchiveImages(file string) ([]string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	var tags, annotated []string
	found := false
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s is not an image archive (a tar written by `docker save` or an OCI layout): %w", file, err)
		}
		switch path.Clean(h.Name) {
		case "manifest.json":
			var entries []struct{ RepoTags []string }
			if err := json.NewDecoder(tr).Decode(&entries); err != nil {
				return nil, fmt.Errorf("%s: manifest.json: %w", file, err)
			}
			for _, e := range entries {
				tags = append(tags, e.RepoTags...)
			}
			found = true
		case "index.json":
			var index struct {
				Manifests []struct {
					Annotations map[string]string `json:"annotations"`
				} `json:"manifests"`
			}
			if err := json.NewDecoder(tr).Decode(&index); err != nil {
				return nil, fmt.Errorf("%s: index.json: %w", file, err)
			}
			for _, d := range index.Manifests {
				if n := d.Annotations["io.containerd.image.name"]; n != "" {
					annotated = append(annotated, n)
				}
			}
			found = true
		}
	}
	if !found {
		return nil, fmt.Errorf("%s is not an image archive: it has neither manifest.json (docker save) nor index.json (OCI layout)", file)
	}
	return onePerImage(append(tags, annotated...)), nil
}

// onePerImage keeps the first spelling of each image: Docker's containerd image store writes one
// image into both manifest.json ("app:v1", as the user named it) and index.json
// ("docker.io/library/app:v1").
func onePerImage(names []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, name := range names {
		key := name
		if ref, err := imageref.Parse(name); err == nil {
			key = ref.Normalized()
		}
		if name == "" || seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, name)
	}
	return out
}

// Load imports the user's images into every node under the names given, like `kind load
// docker-image` and `kind load image-archive`, and works where those do not: only the node's
// platform is imported (an index whose other platforms are absent, as Docker's containerd image
// store and Podman keep pulled images, imports), and the engine is asked to save that platform
// alone when it can (`save --platform`). An image every node already holds with the engine's
// content is not imported again. Afterwards every node is asked for every image.
func (m *Manager) Load(ctx context.Context, opts LoadOptions) (LoadResult, error) {
	logf := orNop(opts.Logf)
	res := LoadResult{}
	for _, image := range opts.Images {
		if _, err := imageref.Parse(image); err != nil {
			return res, fmt.Errorf("%q is not an image reference: %w", image, err)
		}
	}
	nodeList, err := m.Nodes(ctx, opts.Runtime, opts.Cluster)
	if err != nil {
		return res, fmt.Errorf("list nodes of %s: %w", opts.Cluster, err)
	}
	if len(nodeList) == 0 {
		return res, fmt.Errorf("cluster %s has no nodes", opts.Cluster)
	}
	res.Nodes = len(nodeList)
	names := dedupe(opts.Images)
	file := opts.Archive
	if file != "" {
		// What the archive names is what every node must hold afterwards, and what was loaded.
		if names, err = ArchiveImages(file); err != nil {
			return res, err
		}
	} else {
		var toSave []string
		for _, image := range names {
			ids, err := m.contentIDs(ctx, opts.Runtime, image)
			if err != nil {
				return res, fmt.Errorf("%s has no image %s", opts.Runtime.Name, image)
			}
			if sameOnEvery(nodeList, image, ids) {
				res.Present = append(res.Present, image)
				continue
			}
			toSave = append(toSave, image)
		}
		if len(toSave) == 0 {
			return res, nil
		}
		dir, err := os.MkdirTemp("", "kindstack-load-")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(dir)
		file = dir + "/images.tar"
		logf("saving %s from %s", strings.Join(toSave, ", "), opts.Runtime.Name)
		if err := m.saveForNode(ctx, opts.Runtime, toSave, file); err != nil {
			return res, err
		}
		names = toSave
	}
	m.importMu.Lock()
	defer m.importMu.Unlock()
	logf("importing into %d node(s) of %s for %s", len(nodeList), opts.Cluster, NodePlatform())
	if err := m.ImportForPlatform(ctx, opts.Runtime, opts.Cluster, file); err != nil {
		return res, err
	}
	var missing []string
	for _, image := range names {
		for _, n := range nodeList {
			if _, err := n.ImageID(image); err != nil {
				missing = append(missing, fmt.Sprintf("%s on node %s", image, n.String()))
			}
		}
	}
	if len(missing) > 0 {
		return res, fmt.Errorf("imported, but the nodes do not hold %s (the archive names them otherwise, or holds no %s content)", strings.Join(missing, ", "), NodePlatform())
	}
	res.Loaded = names
	return res, nil
}

// sameOnEvery reports whether every node holds image with the engine's content (contentIDs).
func sameOnEvery(nodeList []ImageNode, image string, ids []string) bool {
	for _, n := range nodeList {
		if !holdsContent(n, image, ids) {
			return false
		}
	}
	return len(nodeList) > 0
}

// SaveImage writes image, as the host's engine holds it, into file (`docker save`), for the node's
// platform.
func (m *Manager) SaveImage(ctx context.Context, rt Runtime, image, file string) error {
	return m.saveForNode(ctx, rt, []string{image}, file)
}

// saveForNode writes the images, as the engine holds them, into file: only the node's platform
// when the engine's `save` can choose one (saveArgs).
func (m *Manager) saveForNode(ctx context.Context, rt Runtime, images []string, file string) error {
	help, err := m.Run(ctx, rt.Binary, "save", "--help")
	args := append(append([]string{"save", "-o", file}, saveArgs(help, err, len(images))...), images...)
	var out strings.Builder
	cmd := exec.CommandContext(ctx, rt.Binary, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s save: %s: %w", rt.Name, strings.TrimSpace(out.String()), err)
	}
	return nil
}

// saveArgs are the flags the engine's `save` needs, as its help (or the error asking for it)
// shows them, to write images into one archive for the node:
//   - --platform: the node's platform alone. Docker 28 and later have it; their containerd image
//     store otherwise writes a pulled image's whole index, platforms it does not hold included.
//     Older engines keep a single platform per image with the classic store.
//   - --multi-image-archive, for more than one image: Podman's save takes the further names as
//     tags of the first image without it.
func saveArgs(saveHelp []byte, err error, images int) []string {
	if err != nil {
		return nil
	}
	var args []string
	if strings.Contains(string(saveHelp), "--platform") {
		args = append(args, "--platform", NodePlatform())
	}
	if images > 1 && strings.Contains(string(saveHelp), "--multi-image-archive") {
		args = append(args, "--multi-image-archive")
	}
	return args
}
