package pipeline

import (
	"context"
	"fmt"

	"github.com/kindstack/kindstack/internal/config"
	"github.com/kindstack/kindstack/internal/imageref"
	"github.com/kindstack/kindstack/internal/transform"
)

// ImageInfo is one image `up` runs with the current settings.
type ImageInfo struct {
	// Image is the reference as the node runs it (after the images map).
	Image string `json:"image"`
	// Component is "node" for the node image, else the component that runs it.
	Component string `json:"component"`
	// Digest is true when the reference pins a digest: only that exact content will do.
	Digest bool `json:"digest"`
	// Mirrors are the references the image is pulled through first, in order (registryMirrors).
	Mirrors []string `json:"mirrors"`
	// Beside: the image runs on the host's engine beside the nodes (a local registry), not in them.
	Beside bool `json:"beside,omitempty"`
}

// Images is `kindstack images list`: every image `up` runs for these settings, the node image
// first, then each component's, after the images map and with the mirrors each goes through.
// It needs no cluster and changes nothing.
func (p *Pipeline) Images(ctx context.Context, s config.Settings) ([]ImageInfo, error) {
	sets, err := p.Sets(ctx, s)
	if err != nil {
		return nil, err
	}
	info := func(image, component string) ImageInfo {
		mirrors, _ := s.Registries.MirroredImage(image)
		if mirrors == nil {
			mirrors = []string{}
		}
		ref, err := imageref.Parse(image)
		return ImageInfo{Image: image, Component: component, Digest: err == nil && ref.Pinned(), Mirrors: mirrors}
	}
	list := []ImageInfo{info(s.NodeImage, "node")}
	// Containers beside the nodes run on the host's engine, which pulls them (through the mirrors).
	for _, c := range p.Catalogue {
		if !p.wanted(c, s) {
			continue
		}
		for _, b := range p.containersOf(c, s) {
			bi := info(b.Image, c.Name)
			bi.Beside = true
			list = append(list, bi)
		}
	}
	for _, set := range sets {
		images, err := transform.ContainerImages(set.Objects)
		if err != nil {
			return nil, fmt.Errorf("images of %s: %w", set.Name, err)
		}
		for _, image := range images {
			list = append(list, info(image, set.Name))
		}
	}
	return list, nil
}
