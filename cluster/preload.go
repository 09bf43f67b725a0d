package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sort"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/kindstack/kindstack/internal/imageref"
)

// SaveFunc streams `<runtime> save images...`: read the archive, then call wait for save's own verdict.
type SaveFunc func(ctx context.Context, rt Runtime, images []string) (archive io.ReadCloser, wait func() error, err error)

// PreloadOptions are the inputs of Preload.
type PreloadOptions struct {
	Cluster string
	Runtime Runtime
	// Images are the references the install will run (after the images map).
	Images []string
	// Off leaves every image to the node's pulls (preload: false).
	Off  bool
	Logf Logf
}

// PreloadResult says what Preload did with each image.
type PreloadResult struct {
	Loaded  []string // copied from the host's runtime into the nodes
	Present []string // already in every node
	Remote  []string // neither in the host's runtime (or preload is off) nor in the nodes: the nodes pull them
}

// String says it in a few words, leaving out what did not happen: "2 images loaded, 1 pulled by the node".
func (r PreloadResult) String() string {
	var parts []string
	for _, p := range []struct {
		n    int
		what string
	}{{len(r.Loaded), "loaded"}, {len(r.Present), "already on the node"}, {len(r.Remote), "pulled by the node"}} {
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
// registry for them. Images the nodes already hold are skipped. A reference pinned by digest is
// loaded when the engine pulled it from a registry under that digest (its RepoDigests): the
// archive loses the digest, so the node's copy is then named repo@digest too, the name the
// kubelet resolves such a reference by.
func (m *Manager) Preload(ctx context.Context, opts PreloadOptions) (PreloadResult, error) {
	var res PreloadResult
	nodeList, err := m.Nodes(ctx, opts.Runtime, opts.Cluster)
	if err != nil {
		return res, fmt.Errorf("list nodes of %s: %w", opts.Cluster, err)
	}
	if len(nodeList) == 0 {
		return res, fmt.Errorf("cluster %s has no nodes", opts.Cluster)
	}
	return m.preloadInto(ctx, opts, nodeList)
}

// preloadInto is Preload into the nodes given: a cluster's, or the container a node image is
// baked in (bake.go).
func (m *Manager) preloadInto(ctx context.Context, opts PreloadOptions, nodeList []ImageNode) (PreloadResult, error) {
	var res PreloadResult
	logf := orNop(opts.Logf)
	// Each image's checks (the engine's and every node's copy) are a few runtime commands; they
	// run for planWorkers images at a time, then the answers are taken in order.
	images := dedupe(opts.Images)
	plans := make([]imagePlan, len(images))
	var g errgroup.Group
	g.SetLimit(planWorkers)
	for i, image := range images {
		g.Go(func() error {
			plans[i] = m.planImage(ctx, opts, nodeList, image)
			return nil
		})
	}
	_ = g.Wait() // planImage fails no image: what it cannot tell is left to the node's pull
	var toSave []string
	lacking := map[string]bool{}   // node name → it misses at least one image of toSave
	aliases := map[string]string{} // digest-pinned image → the tag it is saved by
	var loading []string           // the images toSave brings, as the install names them
	for i, pl := range plans {
		image := images[i]
		switch {
		case pl.present:
			res.Present = append(res.Present, image)
		case pl.saveAs == "":
			res.Remote = append(res.Remote, image)
		default:
			for _, n := range pl.lacking {
				lacking[n] = true
			}
			if pl.saveAs != image {
				aliases[image] = pl.saveAs
			}
			toSave = append(toSave, pl.saveAs)
			loading = append(loading, image)
		}
	}
	if len(toSave) == 0 {
		return res, nil
	}

	// The runtime's `save` streams straight into each node's containerd: no archive on disk, and
	// the node unpacks while the runtime is still writing.
	// One archive at a time: containerd's content store refuses a second writer of a blob another
	// import is writing ("ref ... locked"), and on a small machine the imports only slow each other.
	m.importMu.Lock()
	defer m.importMu.Unlock()
	logf("streaming %s from %s", strings.Join(toSave, ", "), opts.Runtime.Name)
	var errs []error
	for _, n := range nodeList {
		if !lacking[n.String()] {
			continue
		}
		logf("importing images into node %s", n.String())
		if err := m.stream(ctx, opts.Runtime, toSave, n); err != nil {
			errs = append(errs, fmt.Errorf("load images into node %s: %w", n.String(), err))
			continue
		}
		for _, image := range sortedKeys(aliases) {
			if err := n.Tag(normalized(aliases[image]), digestName(image)); err != nil {
				errs = append(errs, fmt.Errorf("name %s in node %s: %w", image, n.String(), err))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return res, err
	}
	res.Loaded = loading
	return res, nil
}

// planWorkers bounds how many images Preload checks at once: each check is a few runtime
// commands, and a small machine runs only so many `docker exec` at a time.
const planWorkers = 4

// imagePlan is what Preload does with one image: nothing (present: every node holds it), leave it
// to the nodes' pulls (saveAs ""), or save saveAs from the engine into the lacking nodes.
type imagePlan struct {
	present bool
	saveAs  string
	lacking []string
}

func (m *Manager) planImage(ctx context.Context, opts PreloadOptions, nodeList []ImageNode, image string) imagePlan {
	remote := func() imagePlan { return imagePlan{present: onEvery(nodeList, image)} }
	if opts.Off {
		return remote()
	}
	ref, err := imageref.Parse(image)
	if err != nil {
		return remote() // the kubelet says what is wrong with it
	}
	saveAs := image
	if ref.Pinned() {
		if onEvery(nodeList, image) {
			return imagePlan{present: true}
		}
		tag, ok := m.pulledAs(ctx, opts.Runtime, image)
		if !ok {
			return remote()
		}
		saveAs = tag
	}
	ids, err := m.contentIDs(ctx, opts.Runtime, saveAs)
	if err != nil {
		return remote()
	}
	var lacking []string
	for _, n := range nodeList {
		if !holdsContent(n, image, ids) {
			lacking = append(lacking, n.String())
		}
	}
	if len(lacking) == 0 {
		return imagePlan{present: true}
	}
	return imagePlan{saveAs: saveAs, lacking: lacking}
}

// pulledAs returns a tag the host's engine holds the digest-pinned image under, when the engine
// pulled it from a registry under exactly that digest (RepoDigests); ok is false otherwise.
func (m *Manager) pulledAs(ctx context.Context, rt Runtime, image string) (string, bool) {
	out, err := m.Run(ctx, rt.Binary, "image", "inspect", "-f", "{{json .RepoDigests}} {{json .RepoTags}}", image)
	if err != nil {
		return "", false
	}
	digestsJSON, tagsJSON, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
	var digests, tags []string
	if json.Unmarshal([]byte(digestsJSON), &digests) != nil || json.Unmarshal([]byte(tagsJSON), &tags) != nil || len(tags) == 0 {
		return "", false
	}
	want := digestName(image)
	for _, d := range digests {
		if pulled, err := imageref.Parse(d); err == nil && pulled.DigestName() == want {
			return tags[0], true
		}
	}
	return "", false
}

// digestName is the name containerd resolves a pinned reference by: "docker.io/library/x@sha256:…".
func digestName(image string) string {
	ref, err := imageref.Parse(image)
	if err != nil {
		return image
	}
	return ref.DigestName()
}

// normalized is the name containerd gives an image loaded from the host's engine under a tag.
func normalized(image string) string {
	ref, err := imageref.Parse(image)
	if err != nil {
		return image
	}
	return ref.Normalized()
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// stream pipes the runtime's save of images into the node's import.
func (m *Manager) stream(ctx context.Context, rt Runtime, images []string, n ImageNode) error {
	archive, wait, err := m.Save(ctx, rt, images)
	if err != nil {
		return err
	}
	importErr := n.Import(archive)
	// Drain what the import left unread, so save can finish and report its own error, which names
	// the real cause when an image is missing.
	_, _ = io.Copy(io.Discard, archive)
	saveErr := wait()
	if err := ctx.Err(); err != nil {
		return err // save was killed because the command ends; its "signal: killed" says less
	}
	if saveErr != nil {
		return saveErr
	}
	return importErr
}

// hostImageID returns the image ID the host's runtime has for image, or an error if it has none.
// It is a digest: Podman prints the config digest's hex alone, which gets its "sha256:" back so it
// compares with what a node's containerd reports.
func (m *Manager) hostImageID(ctx context.Context, rt Runtime, image string) (string, error) {
	out, err := m.Run(ctx, rt.Binary, "image", "inspect", "-f", "{{ .Id }}", image)
	if err != nil {
		return "", err
	}
	return asDigest(strings.TrimSpace(string(out))), nil
}

// asDigest puts "sha256:" before a bare 64-digit hex ID.
func asDigest(id string) string {
	if len(id) != 64 || strings.Trim(id, "0123456789abcdef") != "" {
		return id
	}
	return "sha256:" + id
}

// SaveWithRuntime is the real SaveFunc: the runtime's CLI writes the archive to a pipe, for the
// node's platform alone when its save can choose one (saveArgs).
func SaveWithRuntime(ctx context.Context, rt Runtime, images []string) (io.ReadCloser, func() error, error) {
	help, err := exec.CommandContext(ctx, rt.Binary, "save", "--help").Output()
	save := exec.CommandContext(ctx, rt.Binary, append(append([]string{"save"}, saveArgs(help, err, len(images))...), images...)...)
	var stderr strings.Builder
	save.Stderr = &stderr
	out, err := save.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := save.Start(); err != nil {
		return nil, nil, fmt.Errorf("%s save: %w", rt.Name, err)
	}
	wait := func() error {
		if err := save.Wait(); err != nil {
			return fmt.Errorf("%s save: %s: %w", rt.Name, strings.TrimSpace(stderr.String()), err)
		}
		return nil
	}
	return out, wait, nil
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
