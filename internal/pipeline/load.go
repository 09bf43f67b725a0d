package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/kindstack/kindstack/cluster"
	"github.com/kindstack/kindstack/internal/config"
	"github.com/kindstack/kindstack/internal/imageref"
	"github.com/kindstack/kindstack/internal/steps"
)

// LoadOptions are the inputs of Load.
type LoadOptions struct {
	Settings config.Settings
	// Images are taken from the host's engine under the names given.
	Images []string
	// Archive is a `docker save` (or OCI layout) tarball to import instead.
	Archive string
}

// LoadSummary is `load -o json`.
type LoadSummary struct {
	Name    string       `json:"name"`
	Images  []string     `json:"images"`  // what was asked for (an archive's: what it names)
	Loaded  []string     `json:"loaded"`  // imported into every node
	Present []string     `json:"present"` // every node held it with the engine's content already
	Nodes   int          `json:"nodes"`
	Timings []TimingJSON `json:"timings"`
}

// Load is `kindstack load IMAGE...` and `kindstack load --archive FILE`: a user's locally built
// images into every node of the cluster, under the names given, so pods run them without a
// registry. Its steps: check everything before anything changes (each name is an image reference
// the engine holds, or the archive is one; the cluster exists), then import.
func (p *Pipeline) Load(parent context.Context, r *steps.Runner, opts LoadOptions) (LoadSummary, error) {
	ctx, cancel := context.WithTimeout(parent, opts.Settings.Timeout)
	defer cancel()
	s := opts.Settings
	sum := LoadSummary{Name: s.Name, Images: append([]string{}, opts.Images...), Loaded: []string{}, Present: []string{}, Timings: []TimingJSON{}}
	var rt cluster.Runtime
	check := steps.Step{
		Name: "Check images",
		Run: func(ctx context.Context, st *steps.Status) error {
			var err error
			if rt, err = p.checkLoad(ctx, s, &sum, opts); err != nil {
				return err
			}
			st.Result(strings.Join(sum.Images, ", "))
			return nil
		},
	}
	load := steps.Step{
		Name: "Load into cluster " + s.Name,
		Run: func(ctx context.Context, st *steps.Status) error {
			res, err := p.Cluster.Load(ctx, cluster.LoadOptions{Cluster: s.Name, Runtime: rt, Images: opts.Images, Archive: opts.Archive, Logf: st.Infof})
			sum.Nodes = res.Nodes
			sum.Loaded = append(sum.Loaded, res.Loaded...)
			sum.Present = append(sum.Present, res.Present...)
			if err != nil {
				return err
			}
			var parts []string
			if n := len(res.Loaded); n > 0 || opts.Archive != "" {
				parts = append(parts, fmt.Sprintf("%d loaded into %d node(s)", n, res.Nodes))
			}
			if n := len(res.Present); n > 0 {
				parts = append(parts, fmt.Sprintf("%d already on every node", n))
			}
			st.Result(strings.Join(parts, " · "))
			return nil
		},
	}
	timings, err := r.Run(ctx, []steps.Step{check})
	if err == nil {
		t := p.kindOf(s)
		var unlock func()
		if unlock, err = p.lock(ctx, r, t, s.NoWait); err == nil {
			var more []steps.Timing
			more, err = r.Run(ctx, []steps.Step{load})
			timings = append(timings, more...)
			unlock()
		}
	}
	sum.Timings = timingsJSON(timings)
	return sum, err
}

// checkLoad says, before anything changes, everything that stops a load: a name that is not an
// image reference, an image the engine lacks, an archive that is not one, no cluster.
func (p *Pipeline) checkLoad(ctx context.Context, s config.Settings, sum *LoadSummary, opts LoadOptions) (cluster.Runtime, error) {
	if err := cluster.ValidateName(s.Name); err != nil {
		return cluster.Runtime{}, err
	}
	var errs []error
	switch {
	case opts.Archive != "" && len(opts.Images) > 0:
		return cluster.Runtime{}, errors.New("give either images or --archive FILE, not both")
	case opts.Archive == "" && len(opts.Images) == 0:
		return cluster.Runtime{}, errors.New("name the images to load (kindstack load IMAGE...) or an archive (--archive FILE)")
	case opts.Archive != "":
		names, err := cluster.ArchiveImages(opts.Archive)
		if err != nil {
			return cluster.Runtime{}, err
		}
		sum.Images = names
	}
	for _, image := range opts.Images {
		if _, err := imageref.Parse(image); err != nil {
			errs = append(errs, fmt.Errorf("%q is not an image reference (want e.g. localhost:5001/app:dev or app:dev)", image))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return cluster.Runtime{}, err
	}
	rt, err := p.Cluster.Engine(ctx)
	if err != nil {
		return rt, err
	}
	exists, err := p.Cluster.Exists(ctx, rt, s.Name)
	if err != nil {
		return rt, err
	}
	if !exists {
		errs = append(errs, fmt.Errorf("cluster %q does not exist; run `kindstack up --name %s` first", s.Name, s.Name))
	}
	for _, image := range p.Cluster.MissingFromEngine(ctx, rt, opts.Images) {
		errs = append(errs, fmt.Errorf("%s has no image %s: build or pull it first (`%s build -t %s .`)", rt.Name, image, rt.Binary, image))
	}
	return rt, errors.Join(errs...)
}
