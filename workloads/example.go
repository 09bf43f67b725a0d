package workloads

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kindstack/kindstack/embed"
	"github.com/kindstack/kindstack/internal/component"
	"github.com/kindstack/kindstack/internal/kube"
	"github.com/kindstack/kindstack/internal/transform"
)

// Namespace is where the example app runs.
const Namespace = "example"

// RouteName is the example's HTTPRoute (embed.ExampleHTTPRoute).
const RouteName = "frontend-route"

// Example is the example app: namespace example, postgres, backend, frontend, their Services, the
// Ingress frontend-ingress and the two autoscalers.
//
// It is routed by the Ingress frontend-ingress, or with Params.ExampleRoute RouteHTTPRoute by the
// HTTPRoute frontend-route attached to kindstack's Gateway (which waits for the gateway capability
// and must be Accepted with its backends resolved).
//
// The Ingress waits for the ingress capability (its admission webhook validates it) and is applied
// retrying webhook errors, since a webhook can still refuse connections for a moment after it first
// reports ready. The autoscalers wait for the metrics capability, so their first sync already finds
// metrics. Ready means every Deployment is available and both autoscalers report metrics.
func Example() component.Component {
	return component.Component{
		Name: "example",
		Manifests: func(p component.Params) []string {
			if p.ExampleRoute == component.RouteHTTPRoute {
				return embed.ExampleFiles(embed.ExampleHTTPRoute)
			}
			return embed.ExampleFiles(embed.ExampleIngress)
		},
		Transforms: func(p component.Params) []transform.Func {
			return []transform.Func{transform.Images(p.Images)}
		},
		Gates: func(p component.Params) []kube.Gate {
			gates := []kube.Gate{
				kube.HPAReportingMetrics(Namespace, "backend"),
				kube.HPAReportingMetrics(Namespace, "frontend"),
			}
			if p.ExampleRoute == component.RouteHTTPRoute {
				gates = append(gates, kube.HTTPRouteAccepted(Namespace, RouteName))
			}
			return gates
		},
		Apply: kube.ApplyOptions{RetryWebhookErrors: true},
		Needs: []component.Need{
			{Capability: component.Ingress, Objects: ofKind("networking.k8s.io", "Ingress")},
			{Capability: component.Gateway, Objects: ofKind("gateway.networking.k8s.io", "HTTPRoute")},
			{Capability: component.Metrics, Objects: ofKind("autoscaling", "HorizontalPodAutoscaler")},
		},
		// Its autoscalers read metrics only once metrics-server scraped its new pods twice.
		LoadFirst: true,
	}
}

func ofKind(group, kind string) func(*unstructured.Unstructured) bool {
	return func(u *unstructured.Unstructured) bool {
		gvk := u.GroupVersionKind()
		return gvk.Group == group && gvk.Kind == kind
	}
}
