package pipeline

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kindstack/kindstack/cluster"
	"github.com/kindstack/kindstack/internal/bundle"
	"github.com/kindstack/kindstack/internal/config"
	"github.com/kindstack/kindstack/internal/steps"
)

// SaveImagesOptions are the inputs of SaveImages.
type SaveImagesOptions struct {
	Settings config.Settings
	File     string
	// NodeImage puts the kind node image in too (about 1 GB unpacked; the host's engine loads it).
	NodeImage bool
	// Platform is os/arch[/variant]; "" is the node's: linux on this machine's architecture.
	Platform string
}

// DefaultPlatform is the platform of a kind node on this machine.
func DefaultPlatform() string { return cluster.NodePlatform() }

// SaveImages is `kindstack images save FILE`: every image `up` runs with these settings (the node
// image only when asked), pulled through the mirrors, written as one bundle. Steps: one per image,
// then writing the file; the file changes only when every image is in.
func (p *Pipeline) SaveImages(parent context.Context, r *steps.Runner, opts SaveImagesOptions) (bundle.Meta, error) {
	ctx, cancel := context.WithTimeout(parent, opts.Settings.Timeout)
	defer cancel()
	if opts.Platform == "" {
		opts.Platform = DefaultPlatform()
	}
	platform, err := v1.ParsePlatform(opts.Platform)
	if err != nil {
		return bundle.Meta{}, fmt.Errorf("platform %q: %w", opts.Platform, err)
	}
	if err := opts.Settings.Registries.Check(); err != nil {
		return bundle.Meta{}, fmt.Errorf("registry mirrors: %w", err)
	}
	images, err := p.Images(ctx, opts.Settings)
	if err != nil {
		return bundle.Meta{}, err
	}
	w, err := bundle.Create(opts.File, *platform, opts.Settings.Registries)
	if err != nil {
		return bundle.Meta{}, err
	}
	var list []steps.Step
	if opts.NodeImage {
		if step, ok := p.saveBakedStep(ctx, w, opts.Settings, stackImages(images)); ok {
			list = append(list, step) // it holds every other image: one node image, nothing to import
			images = nil
		}
	}
	seen := map[string]bool{}
	for _, img := range images {
		node := img.Component == "node"
		// A bundle carries what goes into the node, and the node image; an image beside the
		// nodes (the local registry's) reaches the host's engine through its mirrors or registry.
		if (node && !opts.NodeImage) || img.Beside || seen[img.Image] {
			continue
		}
		seen[img.Image] = true
		list = append(list, steps.Step{
			Name: "Pull " + img.Image,
			Run: func(ctx context.Context, st *steps.Status) error {
				entry, err := w.Add(ctx, img.Image, node)
				if err != nil {
					return err
				}
				via := ""
				if entry.From != img.Image {
					via = " · through " + entry.From
				}
				st.Result(bundle.HumanBytes(entry.Size) + via)
				return nil
			},
		})
	}
	var meta bundle.Meta
	list = append(list, steps.Step{
		Name: "Write " + opts.File,
		Run: func(ctx context.Context, st *steps.Status) error {
			var err error
			if meta, err = w.Close(); err != nil {
				return err
			}
			size := int64(0)
			if fi, err := os.Stat(opts.File); err == nil {
				size = fi.Size()
			}
			st.Result(fmt.Sprintf("%d images for %s · %s", len(meta.Images), meta.Platform, bundle.HumanBytes(size)))
			return nil
		},
	})
	if _, err := r.Run(ctx, list); err != nil {
		w.Abort()
		return meta, err
	}
	return meta, nil
}

// saveBakedStep is the step that puts the baked node image of these settings, when the host's
// engine holds one (`images bake`), into the bundle in place of the node image and the stack's
// images it already holds: a machine that loads the bundle creates its node from it and imports
// nothing.
func (p *Pipeline) saveBakedStep(ctx context.Context, w *bundle.Writer, s config.Settings, images []string) (steps.Step, bool) {
	rt, err := p.Cluster.Engine(ctx)
	if err != nil {
		return steps.Step{}, false // no engine: no baked image; the node image is pulled
	}
	baked, ok := p.Cluster.BakedFor(ctx, rt, s.NodeImage, s.NodeImage, images)
	if !ok {
		return steps.Step{}, false
	}
	return steps.Step{
		Name: "Save " + baked.Ref,
		Run: func(ctx context.Context, st *steps.Status) error {
			st.Infof("the node image %s baked with the stack's %d images (`images bake`), from %s", s.NodeImage, len(baked.Images), rt.Name)
			dir, err := os.MkdirTemp("", "kindstack-baked-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			archive := filepath.Join(dir, "baked.tar")
			if err := p.Cluster.SaveImage(ctx, rt, baked.Ref, archive); err != nil {
				return err
			}
			entry, err := w.AddBakedNodeImage(baked.Ref, s.NodeImage, archive)
			if err != nil {
				return err
			}
			st.Result(fmt.Sprintf("%s · holds %d images", bundle.HumanBytes(entry.Size), len(baked.Images)))
			return nil
		},
	}, true
}

// LoadResult says what LoadImages did.
type LoadResult struct {
	File      string `json:"file"`
	Images    int    `json:"images"`
	NodeImage string `json:"nodeImage,omitempty"` // loaded into the host's engine
	Cluster   bool   `json:"cluster"`             // imported into the cluster's node
}

// LoadImages is `kindstack images load FILE`: the bundle's node image into the host's engine,
// the rest into the cluster's node when the cluster exists (`up --bundle` does it otherwise).
func (p *Pipeline) LoadImages(parent context.Context, r *steps.Runner, s config.Settings, file string) (LoadResult, error) {
	ctx, cancel := context.WithTimeout(parent, s.Timeout)
	defer cancel()
	res := LoadResult{File: file}
	var meta bundle.Meta
	var rt cluster.Runtime
	list := []steps.Step{{
		Name: "Read " + file,
		Run: func(ctx context.Context, st *steps.Status) error {
			var err error
			if meta, err = bundle.ReadMeta(file); err != nil {
				return err
			}
			if rt, err = p.Cluster.Engine(ctx); err != nil {
				return err
			}
			res.Images = len(meta.Images)
			st.Result(fmt.Sprintf("%d images for %s, written %s", len(meta.Images), meta.Platform, meta.Created.Format("2006-01-02 15:04 MST")))
			return nil
		},
	}, {
		Name: "Load the node image",
		Run: func(ctx context.Context, st *steps.Status) error {
			loaded, err := p.loadNodeImage(ctx, rt, file, meta, "")
			res.NodeImage = loaded
			if err == nil {
				st.Result(orText(loaded, "none in the bundle"))
			}
			return err
		},
	}, {
		Name: "Import images into cluster " + s.Name,
		Run: func(ctx context.Context, st *steps.Status) error {
			exists, err := p.Cluster.Exists(ctx, rt, s.Name)
			if err != nil {
				return err
			}
			if !exists {
				st.Result(fmt.Sprintf("no cluster %s yet: `kindstack up --bundle %s` creates it and imports them", s.Name, file))
				return nil
			}
			msg, err := p.importBundle(ctx, rt, s.Name, file, meta)
			res.Cluster = err == nil
			if err == nil {
				st.Result(msg)
			}
			return err
		},
	}}
	_, err := r.Run(ctx, list)
	return res, err
}

// loadNodeImage loads the bundle's node image into the host's engine unless the engine has it
// already, and remembers which image it is; want, when set, is the node image up runs. It returns
// what it loaded ("" for nothing).
func (p *Pipeline) loadNodeImage(ctx context.Context, rt cluster.Runtime, file string, meta bundle.Meta, want string) (string, error) {
	img, ok := meta.NodeImage()
	if !ok || (want != "" && img.Ref != want && img.BakedFrom != want) {
		return "", nil
	}
	if id := p.Cluster.HostImageID(ctx, rt, img.ID); id == img.ID {
		return "", p.Cluster.RememberNodeImage(img.Ref, img.ID)
	}
	if err := p.Cluster.LoadIntoEngine(ctx, rt, func(w io.Writer) error { return bundle.Stream(file, meta, bundle.Engine, w) }); err != nil {
		return "", fmt.Errorf("load node image %s from %s: %w", img.Ref, file, err)
	}
	if err := p.Cluster.RememberNodeImage(img.Ref, img.ID); err != nil {
		return "", err
	}
	return img.Ref, nil
}

// importBundle imports the bundle's component images into the cluster's node, unless the node
// holds every one already.
func (p *Pipeline) importBundle(ctx context.Context, rt cluster.Runtime, name, file string, meta bundle.Meta) (string, error) {
	var names []string
	for _, img := range meta.Images {
		if !img.NodeImage {
			names = append(names, img.Names[len(img.Names)-1])
		}
	}
	total := len(names)
	missing := total - len(p.Cluster.NodeImages(ctx, rt, name, names))
	switch {
	case total == 0:
		return "no images for the node in the bundle", nil
	case missing == 0:
		return fmt.Sprintf("%d images already on the node", total), nil
	}
	if err := p.Cluster.ImportIntoNodes(ctx, rt, name, func(w io.Writer) error { return bundle.Stream(file, meta, bundle.Node, w) }); err != nil {
		return "", fmt.Errorf("import %s: %w", file, err)
	}
	return fmt.Sprintf("%d images imported", total), nil
}

// bundleStep imports `up --bundle`'s component images into the node before anything is pulled.
func (p *Pipeline) bundleStep(run *upRun) steps.Step {
	return steps.Step{
		Name: "Import " + run.settings.Bundle,
		Run: func(ctx context.Context, st *steps.Status) error {
			msg, err := earlyOr(ctx, st, run.early.bundleImport(), func() (string, error) {
				return p.importBundle(ctx, run.kind.Runtime(), run.settings.Name, run.settings.Bundle, run.bundle)
			})
			if err == nil {
				st.Result(msg)
			}
			return err
		},
	}
}

// checkBundle reads `up --bundle`'s table of contents in preflight and says what does not fit.
func checkBundle(s config.Settings) (bundle.Meta, []string, error) {
	meta, err := bundle.ReadMeta(s.Bundle)
	if err != nil {
		return meta, nil, err
	}
	var warnings []string
	if meta.Platform != DefaultPlatform() {
		warnings = append(warnings, fmt.Sprintf("bundle %s holds images for %s; this machine's node runs %s", s.Bundle, meta.Platform, DefaultPlatform()))
	}
	if img, ok := meta.NodeImage(); ok && img.Ref != s.NodeImage && img.BakedFrom != s.NodeImage {
		warnings = append(warnings, fmt.Sprintf("bundle %s holds node image %s, but the node image is %s: it is not used", s.Bundle, img.Ref, s.NodeImage))
	}
	return meta, warnings, nil
}

func orText(s, otherwise string) string {
	if strings.TrimSpace(s) == "" {
		return otherwise
	}
	return s
}

// keepStep runs before recreate's delete: the images the old node holds that the new one would
// otherwise pull again (the host's engine does not have them, or preload is off) are exported
// from it, registry digests kept. Failing to keep them is a warning: the new node pulls them.
func (p *Pipeline) keepStep(run *upRun) steps.Step {
	return steps.Step{
		Name: "Keep the node's images",
		Run: func(ctx context.Context, st *steps.Status) error {
			rt, name := run.kind.Runtime(), run.settings.Name
			exists, err := p.Cluster.Exists(ctx, rt, name)
			if err != nil || !exists {
				st.Result("no cluster to keep them from")
				return nil
			}
			var candidates []string
			for _, image := range run.plan.images() {
				if run.settings.Preload && p.Cluster.HostImageID(ctx, rt, image) != "" {
					continue // preload brings it from the engine
				}
				candidates = append(candidates, image)
			}
			held := p.Cluster.NodeImages(ctx, rt, name, candidates)
			if len(held) == 0 {
				st.Result("none the new node would pull again")
				return nil
			}
			dir, err := os.MkdirTemp("", "kindstack-kept-")
			if err != nil {
				return err
			}
			run.keptDir = dir
			file := dir + "/images.tar"
			if err := p.Cluster.ExportFromNode(ctx, rt, name, held, file); err != nil {
				st.Warnf("the node's images are not kept, the new node pulls them: %v", err)
				return nil
			}
			run.kept = file
			size := int64(0)
			if fi, err := os.Stat(file); err == nil {
				size = fi.Size()
			}
			st.Result(fmt.Sprintf("%d images · %s", len(held), bundle.HumanBytes(size)))
			return nil
		},
	}
}

// restoreStep imports what keepStep exported into the new node, before anything is installed.
func (p *Pipeline) restoreStep(run *upRun) steps.Step {
	return steps.Step{
		Name: "Restore the node's images",
		Run: func(ctx context.Context, st *steps.Status) error {
			if run.kept == "" {
				st.Result("nothing kept")
				return nil
			}
			if err := p.Cluster.ImportForPlatform(ctx, run.kind.Runtime(), run.settings.Name, run.kept); err != nil {
				st.Warnf("the kept images are not restored, the node pulls them: %v", err)
				return nil
			}
			st.Result("imported into the new node")
			return nil
		},
	}
}
