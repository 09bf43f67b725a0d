package pipeline

import (
	"bytes"
	"context"
	"fmt"

	"sigs.k8s.io/yaml"

	"github.com/kindstack/kindstack/cluster"
	"github.com/kindstack/kindstack/internal/config"
)

// Render is `kindstack render`: every object `up` would apply with these settings, after the
// transforms and labels, as multi-document YAML in apply order per component, for review or for
// a GitOps repository. It needs no cluster and changes nothing.
func (p *Pipeline) Render(ctx context.Context, s config.Settings) ([]byte, error) {
	sets, err := p.Sets(ctx, s)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	for _, set := range sets {
		fmt.Fprintf(&out, "# component: %s\n", set.Name)
		for _, o := range set.Objects {
			y, err := yaml.Marshal(o.Object)
			if err != nil {
				return nil, fmt.Errorf("render %s: %w", set.Name, err)
			}
			out.WriteString("---\n")
			out.Write(y)
		}
	}
	return out.Bytes(), nil
}

// List is `kindstack list`: the clusters kindstack created on this machine, with their state.
func (p *Pipeline) List(parent context.Context, s config.Settings) ([]cluster.ClusterInfo, error) {
	ctx, cancel := context.WithTimeout(parent, s.StatusTimeout)
	defer cancel()
	return p.Cluster.List(ctx)
}

// Kubeconfig is `kindstack kubeconfig`: the cluster's kubeconfig, printed instead of merged.
func (p *Pipeline) Kubeconfig(parent context.Context, s config.Settings, internal bool) ([]byte, error) {
	ctx, cancel := context.WithTimeout(parent, s.StatusTimeout)
	defer cancel()
	return p.Cluster.Kubeconfig(ctx, s.Name, internal)
}
