package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/kindstack/kindstack/cluster"
	"github.com/kindstack/kindstack/internal/config"
	"github.com/kindstack/kindstack/internal/webhookcert"
)

// Render is `kindstack render`: every object `up` would apply with these settings, after the
// transforms and labels, as multi-document YAML in apply order per component, for review or for
// a GitOps repository. It needs no cluster and changes nothing.
//
// A webhook whose certificate kindstack makes gets a new one here, so the output works when
// applied by hand; `up` keeps the cluster's own.
func (p *Pipeline) Render(ctx context.Context, s config.Settings) ([]byte, error) {
	t := p.targetOf(s)
	if err := discover(ctx, t); err != nil {
		return nil, err
	}
	pl, err := p.newPlan(ctx, s, t)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	for _, c := range pl.components {
		set := pl.sets[c.Name]
		objs := set.Objects
		if w := c.WebhookCert; w != nil {
			data, err := webhookcert.Generate(w.Hosts, time.Now())
			if err == nil {
				objs, err = w.Fill(objs, data)
			}
			if err != nil {
				return nil, fmt.Errorf("render %s: %w", set.Name, err)
			}
			fmt.Fprintf(&out, "# Secret %s/%s: a new certificate for webhook %s, made for this output\n", w.Namespace, w.Secret, w.Webhook)
		}
		fmt.Fprintf(&out, "# component: %s\n", set.Name)
		for _, o := range objs {
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
