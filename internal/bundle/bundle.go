// Package bundle writes and reads kindstack's image bundle: ONE tar archive holding every image
// `up` runs, for one platform, with the registries' digests kept, so a machine with no network
// (a workshop laptop, an air-gapped CI runner) resolves even digest-pinned references.
//
// The archive is an OCI image layout (oci-layout, index.json, blobs/sha256/...), which
// containerd's `ctr images import` reads as it is: each index.json entry is one platform manifest
// named (io.containerd.image.name) exactly as the kubelet asks for it, "repo:tag" and, for a
// pinned reference, "repo@sha256:<pinned digest>". The node image, when included, is left out of
// index.json and described by a docker-save manifest.json instead, for the host's engine (`docker
// load`). kindstack-bundle.json, the first entry, says what is inside and which blobs belong to
// which side, so loading streams each side only its own blobs.
package bundle

import (
	"archive/tar"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/kindstack/kindstack/internal/imageref"
	"github.com/kindstack/kindstack/internal/mirrors"
)

// MetaFile is the bundle's own table of contents, the archive's first entry.
const MetaFile = "kindstack-bundle.json"

// Format is the version of MetaFile's layout this build writes and reads.
const Format = 1

// Meta is what a bundle holds.
type Meta struct {
	Format   int       `json:"format"`
	Platform string    `json:"platform"` // os/arch[/variant]
	Created  time.Time `json:"created"`
	Images   []Image   `json:"images"`
}

// Image is one image in the bundle.
type Image struct {
	// Ref is the reference as kindstack runs it (after the images map).
	Ref string `json:"ref"`
	// Names are what the image is stored under: containerd names (index.json) for a node
	// image's content, RepoTags for the node image.
	Names []string `json:"names"`
	// NodeImage marks the kind node image: it goes to the host's engine, not into the node.
	NodeImage bool `json:"nodeImage,omitempty"`
	// BakedFrom is the node image a baked node image was made from (`images bake`): it holds
	// the stack's images, and stands for BakedFrom on the machine that loads it.
	BakedFrom string `json:"bakedFrom,omitempty"`
	// Manifest is the platform manifest's digest; ID the config's (the engine's image ID).
	Manifest string `json:"manifest"`
	ID       string `json:"id"`
	// Blobs are the manifest, config and layers, by digest.
	Blobs []string `json:"blobs"`
	Size  int64    `json:"size"`
	// From is the reference it was pulled through (a mirror's, or Ref itself).
	From string `json:"from"`
}

// Writer builds a bundle: Add each image, then Close. Until Close succeeds the file is untouched.
type Writer struct {
	file           string
	work           string
	oci            layout.Path
	meta           Meta
	platform       v1.Platform
	registries     mirrors.Registries
	dockerManifest []dockerEntry
}

// Create starts a bundle for one platform; images are pulled through the registries' mirrors first.
func Create(file string, platform v1.Platform, registries mirrors.Registries) (*Writer, error) {
	work, err := os.MkdirTemp(filepath.Dir(file), ".kindstack-bundle-")
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", file, err)
	}
	oci, err := layout.Write(filepath.Join(work, "layout"), empty.Index)
	if err != nil {
		os.RemoveAll(work)
		return nil, fmt.Errorf("bundle %s: %w", file, err)
	}
	return &Writer{file: file, work: work, oci: oci, platform: platform, registries: registries,
		meta: Meta{Format: Format, Platform: platform.String(), Created: time.Now().UTC().Truncate(time.Second)}}, nil
}

// Add pulls ref for the bundle's platform (each mirror in order, then the registry) and writes
// it. nodeImage marks the kind node image, which goes to the host's engine.
func (w *Writer) Add(ctx context.Context, ref string, nodeImage bool) (Image, error) {
	parsed, err := imageref.Parse(ref)
	if err != nil {
		return Image{}, err
	}
	img, from, err := pull(ctx, ref, parsed.Registry, w.platform, w.registries)
	if err != nil {
		return Image{}, err
	}
	entry, err := describe(ref, from, img)
	if err != nil {
		return Image{}, err
	}
	entry.NodeImage = nodeImage
	if nodeImage {
		if err := w.oci.WriteImage(img); err != nil {
			return Image{}, fmt.Errorf("write %s: %w", ref, err)
		}
		entry.Names = []string{tagName(parsed)}
		w.dockerManifest = append(w.dockerManifest, dockerEntryOf(entry))
	} else {
		entry.Names = containerdNames(parsed)
		for _, n := range entry.Names {
			if err := w.oci.AppendImage(img, layout.WithAnnotations(map[string]string{
				"io.containerd.image.name":          n,
				"org.opencontainers.image.ref.name": n,
			})); err != nil {
				return Image{}, fmt.Errorf("write %s: %w", ref, err)
			}
		}
	}
	w.meta.Images = append(w.meta.Images, entry)
	return entry, nil
}

// AddBakedNodeImage writes the baked node image ref, made from the node image bakedFrom, out of
// archive: what the host's engine saved of it (`docker save`), since no registry has it.
func (w *Writer) AddBakedNodeImage(ref, bakedFrom, archive string) (Image, error) {
	parsed, err := imageref.Parse(ref)
	if err != nil {
		return Image{}, err
	}
	img, err := compressOnce(archive, filepath.Join(string(w.oci), "blobs", "sha256"))
	if err != nil {
		return Image{}, fmt.Errorf("read %s as saved by the engine: %w", ref, err)
	}
	entry, err := describe(ref, "the host's engine", img)
	if err != nil {
		return Image{}, err
	}
	if err := w.oci.WriteImage(img); err != nil {
		return Image{}, fmt.Errorf("write %s: %w", ref, err)
	}
	entry.NodeImage, entry.BakedFrom, entry.Names = true, bakedFrom, []string{tagName(parsed)}
	w.dockerManifest = append(w.dockerManifest, dockerEntryOf(entry))
	w.meta.Images = append(w.meta.Images, entry)
	return entry, nil
}

// Close writes the archive and puts it in place of the file.
func (w *Writer) Close() (Meta, error) {
	defer os.RemoveAll(w.work)
	if w.dockerManifest != nil {
		b, err := json.Marshal(w.dockerManifest)
		if err != nil {
			return w.meta, err
		}
		if err := w.oci.WriteFile("manifest.json", b, 0o644); err != nil {
			return w.meta, err
		}
	}
	b, err := json.MarshalIndent(w.meta, "", "  ")
	if err != nil {
		return w.meta, err
	}
	if err := w.oci.WriteFile(MetaFile, b, 0o644); err != nil {
		return w.meta, err
	}
	tmp := filepath.Join(w.work, "bundle.tar")
	if err := writeTar(string(w.oci), tmp); err != nil {
		return w.meta, fmt.Errorf("bundle %s: %w", w.file, err)
	}
	if err := os.Rename(tmp, w.file); err != nil {
		return w.meta, fmt.Errorf("bundle %s: %w", w.file, err)
	}
	return w.meta, nil
}

// Abort drops what was written; the file stays as it was.
func (w *Writer) Abort() { os.RemoveAll(w.work) }

// pull fetches ref's image for the platform from the first place that has it: each mirror of its
// registry in order, then the registry itself. The error names every place and its answer.
func pull(ctx context.Context, ref, registry string, platform v1.Platform, registries mirrors.Registries) (v1.Image, string, error) {
	mirrored, _ := registries.MirroredImage(ref)
	mirrorURLs := registries.Mirrors[registry]
	var errs []string
	for i, candidate := range append(mirrored, ref) {
		var scheme, mirror string
		if i < len(mirrored) {
			mirror = mirrorURLs[i]
			if u, err := url.Parse(mirror); err == nil {
				scheme = u.Scheme
			}
		}
		var nameOpts []name.Option
		if scheme == "http" {
			nameOpts = append(nameOpts, name.Insecure)
		}
		parsed, err := imageref.Parse(candidate)
		if err != nil {
			return nil, "", err
		}
		r, err := parsed.Reference(nameOpts...)
		if err != nil {
			return nil, "", err
		}
		// Credentials from `docker login` (Docker Hub's pull limit is higher for a logged-in user).
		remoteOpts := []remote.Option{remote.WithContext(ctx), remote.WithPlatform(platform), remote.WithAuthFromKeychain(authn.DefaultKeychain)}
		if mirror != "" && registries.InsecureMirror(mirror) {
			remoteOpts = append(remoteOpts, remote.WithTransport(&http.Transport{
				TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // the user listed this mirror as insecure
			}))
		}
		img, err := remote.Image(r, remoteOpts...)
		if err == nil {
			// Reading the manifest here verifies it against a pinned digest before anything is written.
			if _, err = img.Manifest(); err == nil {
				return img, candidate, nil
			}
		}
		if ctx.Err() != nil {
			return nil, "", fmt.Errorf("pull %s: %w", ref, ctx.Err())
		}
		errs = append(errs, candidate+": "+oneLine(err))
	}
	return nil, "", fmt.Errorf("pull %s for %s: %s", ref, platform, strings.Join(errs, "; "))
}

// containerdNames are the names the kubelet's lookups resolve: "docker.io/library/x:tag" for
// the tag, and "docker.io/library/x@sha256:D" when the reference pins D.
func containerdNames(r imageref.Ref) []string {
	var names []string
	if r.Tag != "" || !r.Pinned() {
		names = append(names, r.TagName())
	}
	if r.Pinned() {
		names = append(names, r.DigestName())
	}
	return names
}

// tagName is the RepoTag the host's engine stores the node image under: Docker's short form,
// latest when the reference names no tag.
func tagName(r imageref.Ref) string {
	r.Digest = ""
	if r.Tag == "" {
		r.Tag = "latest"
	}
	return r.Familiar()
}

func describe(ref, from string, img v1.Image) (Image, error) {
	digest, err := img.Digest()
	if err != nil {
		return Image{}, fmt.Errorf("image %s: %w", ref, err)
	}
	m, err := img.Manifest()
	if err != nil {
		return Image{}, fmt.Errorf("image %s: %w", ref, err)
	}
	size, err := img.Size()
	if err != nil {
		return Image{}, fmt.Errorf("image %s: %w", ref, err)
	}
	e := Image{Ref: ref, From: from, Manifest: digest.String(), ID: m.Config.Digest.String(), Size: size + m.Config.Size,
		Blobs: []string{digest.String(), m.Config.Digest.String()}}
	for _, l := range m.Layers {
		e.Size += l.Size
		e.Blobs = append(e.Blobs, l.Digest.String())
	}
	return e, nil
}

// dockerEntry is one image of a docker-save manifest.json.
type dockerEntry struct {
	Config   string   `json:"Config"`
	RepoTags []string `json:"RepoTags"`
	Layers   []string `json:"Layers"`
}

func dockerEntryOf(e Image) dockerEntry {
	d := dockerEntry{Config: blobPath(e.ID), RepoTags: e.Names}
	for _, b := range e.Blobs[2:] {
		d.Layers = append(d.Layers, blobPath(b))
	}
	return d
}

func blobPath(digest string) string {
	algo, hex, _ := strings.Cut(digest, ":")
	return "blobs/" + algo + "/" + hex
}

// writeTar archives the layout directory: the table of contents and indexes first (so a reader
// knows what follows before the blobs), then every blob.
func writeTar(dir, out string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	var files []string
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		files = append(files, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		f.Close()
		return err
	}
	first := map[string]int{MetaFile: 0, "oci-layout": 1, "index.json": 2, "manifest.json": 3}
	sort.SliceStable(files, func(i, j int) bool {
		ri, iok := first[files[i]]
		rj, jok := first[files[j]]
		switch {
		case iok && jok:
			return ri < rj
		case iok != jok:
			return iok
		}
		return files[i] < files[j]
	})
	for _, rel := range files {
		if err := addFile(tw, filepath.Join(dir, rel), rel); err != nil {
			f.Close()
			return err
		}
	}
	if err := tw.Close(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func addFile(tw *tar.Writer, path, name string) error {
	src, err := os.Open(path)
	if err != nil {
		return err
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: st.Size(), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	_, err = io.Copy(tw, src)
	return err
}

// ReadMeta reads a bundle's table of contents. A file that is not a kindstack bundle, or one
// from a newer kindstack, is an error that says so.
func ReadMeta(file string) (Meta, error) {
	var meta Meta
	f, err := os.Open(file)
	if err != nil {
		return meta, fmt.Errorf("bundle: %w", err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	h, err := tr.Next()
	if err != nil || h.Name != MetaFile {
		return meta, fmt.Errorf("%s is not a kindstack image bundle (written by `kindstack images save`): its first entry is not %s", file, MetaFile)
	}
	if err := json.NewDecoder(io.LimitReader(tr, 16<<20)).Decode(&meta); err != nil {
		return meta, fmt.Errorf("bundle %s: read %s: %w", file, MetaFile, err)
	}
	if meta.Format != Format {
		return meta, fmt.Errorf("bundle %s has format %d; this kindstack reads format %d (use the kindstack that wrote it)", file, meta.Format, Format)
	}
	return meta, nil
}

// Side is one destination of a bundle's content.
type Side int

const (
	// Node is containerd in the kind node: the component images.
	Node Side = iota
	// Engine is the host's container engine: the node image.
	Engine
)

// Stream writes the part of the bundle one side imports, as a tar: for Node the OCI layout with
// the component images' blobs, for Engine manifest.json with the node image's blobs.
func Stream(file string, meta Meta, side Side, w io.Writer) error {
	keep := map[string]bool{}
	for _, img := range meta.Images {
		if img.NodeImage != (side == Engine) {
			continue
		}
		for _, b := range img.Blobs {
			keep[blobPath(b)] = true
		}
	}
	switch side {
	case Node:
		keep["oci-layout"], keep["index.json"] = true, true
	case Engine:
		keep["manifest.json"] = true
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	tw := tar.NewWriter(w)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("bundle %s: %w", file, err)
		}
		if !keep[h.Name] {
			continue
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
	return tw.Close()
}

// Has reports whether the bundle holds images for side.
func (m Meta) Has(side Side) bool {
	for _, img := range m.Images {
		if img.NodeImage == (side == Engine) {
			return true
		}
	}
	return false
}

// NodeImage returns the bundle's node image entry, if it has one.
func (m Meta) NodeImage() (Image, bool) {
	for _, img := range m.Images {
		if img.NodeImage {
			return img, true
		}
	}
	return Image{}, false
}

func oneLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// HumanBytes is n in KiB, MiB or GiB, for messages.
func HumanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
