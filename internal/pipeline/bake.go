package pipeline

import (
	"context"
	"fmt"

	"github.com/kindstack/kindstack/cluster"
	"github.com/kindstack/kindstack/internal/bundle"
	"github.com/kindstack/kindstack/internal/config"
	"github.com/kindstack/kindstack/internal/steps"
)

// BakedImages is what `images bake`, `images baked` and `images unbake` print as data.
type BakedImages struct {
	Images []cluster.BakedImage `json:"images"`
}

// stackImages are the images a baked node image holds for these settings: exactly those `images
// list` prints, without the node image.
func stackImages(list []ImageInfo) []string {
	var out []string
	for _, img := range list {
		if img.Component != "node" {
			out = append(out, img.Image)
		}
	}
	return out
}

// Bake is `kindstack images bake`: the node image with the stack's images already in its
// containerd, built from the node image (unless the engine holds a matching one already), for
// `up` and `recreate` to create the cluster from. Steps: list the images, bake.
func (p *Pipeline) Bake(parent context.Context, r *steps.Runner, s config.Settings) (cluster.BakedImage, error) {
	ctx, cancel := context.WithTimeout(parent, s.Timeout)
	defer cancel()
	var (
		images []string
		rt     cluster.Runtime
		baked  cluster.BakedImage
	)
	_, err := r.Run(ctx, []steps.Step{{
		Name: "List the stack's images",
		Run: func(ctx context.Context, st *steps.Status) error {
			list, err := p.Images(ctx, s)
			if err != nil {
				return err
			}
			if images = stackImages(list); len(images) == 0 {
				return fmt.Errorf("these settings run no image besides the node image: there is nothing to bake")
			}
			if rt, err = p.Cluster.Engine(ctx); err != nil {
				return err
			}
			st.Result(fmt.Sprintf("%d images on %s", len(images), s.NodeImage))
			return nil
		},
	}, {
		Name: "Bake the node image",
		Run: func(ctx context.Context, st *steps.Status) error {
			var err error
			baked, err = p.Cluster.Bake(ctx, cluster.BakeOptions{
				Runtime: rt, NodeImage: s.NodeImage, Images: images, Registries: s.Registries, Logf: st.Infof,
			})
			if err != nil {
				return err
			}
			how := "built"
			if !baked.Built {
				how = "present, unchanged"
			}
			st.Result(fmt.Sprintf("%s %s · %s beyond the node image", baked.Ref, how, bundle.HumanBytes(baked.Added)))
			return nil
		},
	}})
	return baked, err
}

// Baked is `kindstack images baked`: every baked node image in the engine.
func (p *Pipeline) Baked(ctx context.Context) ([]cluster.BakedImage, error) {
	rt, err := p.Cluster.Engine(ctx)
	if err != nil {
		return nil, err
	}
	return p.Cluster.BakedImages(ctx, rt)
}

// Unbake is `kindstack images unbake`: every baked node image removed from the engine (only
// those: they carry kindstack's bake label).
func (p *Pipeline) Unbake(ctx context.Context, r *steps.Runner) ([]cluster.BakedImage, error) {
	var removed []cluster.BakedImage
	_, err := r.Run(ctx, []steps.Step{{
		Name: "Remove the baked node images",
		Run: func(ctx context.Context, st *steps.Status) error {
			rt, err := p.Cluster.Engine(ctx)
			if err != nil {
				return err
			}
			removed, err = p.Cluster.RemoveBaked(ctx, rt)
			var freed int64
			for _, b := range removed {
				freed += b.Added
			}
			if err == nil {
				st.Result(fmt.Sprintf("%d removed · %s freed", len(removed), bundle.HumanBytes(freed)))
			}
			return err
		},
	}})
	return removed, err
}
