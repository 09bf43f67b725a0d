package addons

import (
	"github.com/kindstack/kindstack/internal/component"
	"github.com/kindstack/kindstack/internal/kube"
	"github.com/kindstack/kindstack/internal/transform"
)

// metricsServerManifest is metrics-server's manifest (package embed).
const metricsServerManifest = "metrics-server-v0.8.0.yaml"

// MetricsServer is metrics-server, pinned by digest (in its manifest). Ready means the
// Deployment is available, the APIService v1beta1.metrics.k8s.io is Available, and node metrics
// are actually served.
func MetricsServer() component.Component {
	return component.Component{
		Name:      "metrics-server",
		Summary:   "metrics-server, the metrics API for autoscalers and kubectl top",
		Manifests: component.Files(metricsServerManifest),
		Transforms: func(p component.Params) []transform.Func {
			return []transform.Func{
				transform.Images(p.Images),
				// kind's kubelet serving certificates are self-signed: without this, every scrape
				// fails with "x509: cannot validate certificate ... doesn't contain any IP SANs".
				transform.AppendArgs(transform.Target{Kind: "Deployment", Namespace: "kube-system", Name: "metrics-server"},
					"metrics-server", "--kubelet-insecure-tls"),
			}
		},
		Gates: component.Gates(
			kube.APIServiceAvailable("v1beta1.metrics.k8s.io"),
			NodeMetricsServed(),
		),
		Provides: []component.Capability{component.Metrics},
		// Ready once it has scraped every node twice (10s apart).
		LoadFirst: true,
	}
}
