package addons

import (
	"github.com/kindstack/kindstack/embed"
	"github.com/kindstack/kindstack/internal/component"
	"github.com/kindstack/kindstack/internal/kube"
	"github.com/kindstack/kindstack/internal/transform"
)

// IngressNginx is the ingress-nginx controller, its IngressClass nginx and its admission webhook.
// Ready means the controller Deployment is available and the webhook serves (CA bundle set,
// endpoints ready), so Ingresses can be applied. The certificate Jobs stay after they complete, so
// the wait sees them Complete and a second up finds them unchanged.
//
// ingress-nginx is retired upstream: its last release, controller v1.15.1 (2026-03-19), is pinned
// by digest (see embed.IngressNginx). It is tested upstream on Kubernetes 1.31 to 1.35 only.
func IngressNginx() component.Component {
	return component.Component{
		Name:      "ingress-nginx",
		Manifests: component.Files(embed.IngressNginx),
		Transforms: func(p component.Params) []transform.Func {
			return []transform.Func{
				transform.Images(p.Images),
				// Only the ingress node has host ports 80/443 mapped; upstream dropped this selector
				// in v1.13, which breaks clusters with workers.
				transform.NodeSelector(transform.Target{Kind: "Deployment", Namespace: "ingress-nginx", Name: "ingress-nginx-controller"},
					p.IngressNode),
			}
		},
		Gates:    component.Gates(kube.WebhookServing("ingress-nginx-admission")),
		Provides: []component.Capability{component.Ingress},
	}
}
