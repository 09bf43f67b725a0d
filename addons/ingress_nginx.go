package addons

import (
	"github.com/kindstack/kindstack/internal/component"
	"github.com/kindstack/kindstack/internal/kube"
	"github.com/kindstack/kindstack/internal/transform"
)

// ingressNginxManifest is ingress-nginx's manifest (package embed).
const ingressNginxManifest = "ingress-nginx-v1.15.1.yaml"

// IngressNginx is the ingress-nginx controller, its IngressClass nginx and its admission webhook.
// Ready means the controller Deployment is available and the webhook serves (CA bundle set,
// endpoints ready), so Ingresses can be applied. The webhook's certificate is kindstack's
// (WebhookCert), made on the first up and reused after, instead of upstream's certgen Jobs.
//
// ingress-nginx is retired upstream: its last release, controller v1.15.1 (2026-03-19), is pinned
// by digest (in its manifest). It is tested upstream on Kubernetes 1.31 to 1.35 only.
func IngressNginx() component.Component {
	return component.Component{
		Name:    "ingress-nginx",
		Summary: "the ingress-nginx controller",
		Alternative: &component.Alternative{Capability: component.Ingress, Value: "nginx", Default: true,
			Usage: "ingress-nginx, retired upstream"},
		Tested: component.KubernetesRange{MaxMinor: 35,
			Advice: "it is retired (its last release, v1.15.1, is tested up to Kubernetes 1.35); `--ingress traefik` installs Traefik, which serves the same Ingresses and the Gateway API"},
		Manifests: component.Files(ingressNginxManifest),
		Transforms: func(p component.Params) []transform.Func {
			controller := transform.Target{Kind: "Deployment", Namespace: "ingress-nginx", Name: "ingress-nginx-controller"}
			if p.IngressNode == nil {
				// No node has host ports mapped for kindstack (a cluster it did not create): the
				// controller runs anywhere and is reached through its Service, whose type the
				// target chooses (LoadBalancer, else NodePort).
				return []transform.Func{
					transform.Images(p.Images),
					transform.NoHostPorts(controller),
					transform.NoServiceType(transform.Target{Kind: "Service", Namespace: "ingress-nginx", Name: "ingress-nginx-controller"}),
				}
			}
			return []transform.Func{
				transform.Images(p.Images),
				// Only the ingress node has host ports 80/443 mapped; upstream dropped this selector
				// in v1.13, which breaks clusters with workers.
				transform.NodeSelector(controller, p.IngressNode),
			}
		},
		Exposed:  &component.Service{Namespace: "ingress-nginx", Name: "ingress-nginx-controller", Port: "http"},
		Gates:    component.Gates(kube.WebhookServing("ingress-nginx-admission")),
		Provides: []component.Capability{component.Ingress},
		WebhookCert: &component.WebhookCert{
			Namespace: "ingress-nginx", Secret: "ingress-nginx-admission", Webhook: "ingress-nginx-admission",
			// What kube-webhook-certgen is given upstream: the Service by name, and in its namespace.
			Hosts: []string{"ingress-nginx-controller-admission", "ingress-nginx-controller-admission.ingress-nginx.svc"},
		},
	}
}
