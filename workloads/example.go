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

// Example is the example app: namespace example, postgres, backend, frontend, their Services, the
// Ingress frontend-ingress and the two autoscalers.
//
// The Ingress waits for the ingress capability (its admission webhook validates it) and is applied
// retrying webhook errors, since a webhook can still refuse connections for a moment after it first
// reports ready. The autoscalers wait for the metrics capability, so their first sync already finds
// metrics. Ready means every Deployment is available and both autoscalers report metrics.
func Example() component.Component {
	return component.Component{
		Name:      "example",
		Manifests: embed.ExampleFiles(),
		Transforms: func(p component.Params) []transform.Func {
			return []transform.Func{transform.Images(p.Images)}
		},
		Gates: []kube.Gate{
			kube.HPAReportingMetrics(Namespace, "backend"),
			kube.HPAReportingMetrics(Namespace, "frontend"),
		},
		Apply: kube.ApplyOptions{RetryWebhookErrors: true},
		Needs: []component.Need{
			{Capability: component.Ingress, Objects: ofKind("networking.k8s.io", "Ingress")},
			{Capability: component.Metrics, Objects: ofKind("autoscaling", "HorizontalPodAutoscaler")},
		},
	}
}

func ofKind(group, kind string) func(*unstructured.Unstructured) bool {
	return func(u *unstructured.Unstructured) bool {
		gvk := u.GroupVersionKind()
		return gvk.Group == group && gvk.Kind == kind
	}
}
