package workloads

import (
	"bytes"
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kindstack/kindstack/internal/component"
	"github.com/kindstack/kindstack/internal/kube"
	"github.com/kindstack/kindstack/internal/transform"
)

// Namespace is where the example app runs.
const Namespace = "example"

// RouteName is the example's HTTPRoute (the file exampleHTTPRoute).
const RouteName = "frontend-route"

// The example's manifests (package embed), in the order a person would apply them.
const (
	exampleNamespace = "example-namespace.yaml"
	exampleDatabase  = "example-database.yaml"
	exampleBackend   = "example-backend.yaml"
	exampleFrontend  = "example-frontend.yaml"
	exampleIngress   = "example-ingress.yaml"
	exampleHTTPRoute = "example-httproute.yaml"
	exampleHPA       = "example-hpa.yaml"
)

// How the example app is routed (ExampleOptions.Route).
const (
	RouteIngress   = "ingress"
	RouteHTTPRoute = "httproute"
)

// ExampleOptions are the example's own settings: the config file's `example:` section.
type ExampleOptions struct {
	// Route is how the example is exposed: RouteIngress (its Ingress, any ingress controller) or
	// RouteHTTPRoute (an HTTPRoute on the Gateway, which only a controller with the Gateway API has).
	Route string `yaml:"route"`
}

func checkExample(o ExampleOptions) error {
	if o.Route != RouteIngress && o.Route != RouteHTTPRoute {
		return fmt.Errorf("unknown route %q: want %s or %s", o.Route, RouteIngress, RouteHTTPRoute)
	}
	return nil
}

// hpaSyncPeriod is how often the cluster's HPA controller re-reads metrics and scales. Kubernetes'
// default is 15s; a local cluster with a handful of HPAs can afford to look more often, and `up`
// waits for the example's HPAs' first reading.
const hpaSyncPeriod = "3s"

// Example is the example app: namespace example, postgres, backend, frontend, their Services, the
// Ingress frontend-ingress and the two autoscalers.
//
// It is routed by the Ingress frontend-ingress, or with route httproute by the HTTPRoute
// frontend-route attached to kindstack's Gateway (which waits for the gateway capability and must
// be Accepted with its backends resolved).
//
// The Ingress waits for the ingress capability (its admission webhook validates it) and is applied
// retrying webhook errors, since a webhook can still refuse connections for a moment after it first
// reports ready. The autoscalers wait for the metrics capability, so their first sync already finds
// metrics. Ready means every Deployment is available and both autoscalers report metrics; then the
// smoke requests go through the ingress to the backend, the database and the frontend.
func Example() component.Component {
	opts := component.Typed(ExampleOptions{Route: RouteIngress}, checkExample)
	opts.Aliases = map[string]string{"exampleRoute": "route"}
	opts.Flags = []component.Flag{{Name: "example-route", Field: "route",
		Usage: "route the example app with its " + RouteIngress + " or with an " + RouteHTTPRoute + " on kindstack's Gateway (traefik only) (default " + RouteIngress + ")"}}
	// The route the cluster runs is the one its inventory records.
	opts.FromCluster = func(o any, recorded []kube.Ref) {
		eo := o.(*ExampleOptions)
		eo.Route = RouteIngress
		for _, r := range recorded {
			if r.Kind == "HTTPRoute" {
				eo.Route = RouteHTTPRoute
			}
		}
	}
	return component.Component{
		Name:     "example",
		Summary:  "the example app: postgres, a Flask backend, a React frontend",
		Optional: true,
		Options:  opts,
		Manifests: func(p component.Params) []string {
			route := exampleIngress
			if component.OptionsOf[ExampleOptions](p).Route == RouteHTTPRoute {
				route = exampleHTTPRoute
			}
			return []string{exampleNamespace, exampleDatabase, exampleBackend, exampleFrontend, route, exampleHPA}
		},
		Transforms: func(p component.Params) []transform.Func {
			return []transform.Func{transform.Images(p.Images), transform.IngressClassName(p.IngressClass)}
		},
		Gates: func(p component.Params) []kube.Gate {
			gates := []kube.Gate{
				kube.HPAReportingMetrics(Namespace, "backend"),
				kube.HPAReportingMetrics(Namespace, "frontend"),
			}
			if component.OptionsOf[ExampleOptions](p).Route == RouteHTTPRoute {
				gates = append(gates, kube.HTTPRouteAccepted(Namespace, RouteName))
			}
			return gates
		},
		Apply: kube.ApplyOptions{RetryWebhookErrors: true},
		Needs: []component.Need{
			{Capability: component.Ingress, Objects: ofKind("networking.k8s.io", "Ingress")},
			{Capability: component.Gateway, Objects: ofKind("gateway.networking.k8s.io", "HTTPRoute")},
			// Applied with the rest, the autoscalers are evaluated every sync from the start and
			// report metrics one sync after metrics-server serves them, instead of being created then.
			{Capability: component.Metrics, Objects: ofKind("autoscaling", "HorizontalPodAutoscaler"), AtOnce: true},
		},
		// Its autoscalers read metrics only once metrics-server scraped its new pods twice.
		LoadFirst: true,
		Smoke:     smokeRequests(),
		URLs:      []string{"/", "/api/healthy"},
		Cluster: component.ClusterNeeds{ControllerManagerArgs: map[string]string{
			"horizontal-pod-autoscaler-sync-period": hpaSyncPeriod,
		}},
		Unpinned: unpinned(),
	}
}

// smokeRequests check the example end to end through the ingress without changing anything a user
// put in it: the app cannot delete one row, so they write none, and every `up` leaves the table as
// the user left it.
//
//	GET /api/healthy  200 {"healthy":true}       ingress -> backend
//	GET /api/fetch    200 {"texts":[...]}        backend -> postgres (a read of the app's table)
//	GET /             200, the React page        ingress -> frontend
func smokeRequests() []component.Request {
	return []component.Request{
		{Path: "/api/healthy", Proves: "ingress -> backend", Check: func(body []byte) string {
			var health struct {
				Healthy bool `json:"healthy"`
			}
			if json.Unmarshal(body, &health) != nil || !health.Healthy {
				return `want {"healthy":true}`
			}
			return ""
		}},
		{Path: "/api/fetch", Proves: "backend -> postgres", Check: func(body []byte) string {
			var fetched struct {
				Texts *[]struct {
					Text string `json:"text"`
				} `json:"texts"`
			}
			if json.Unmarshal(body, &fetched) != nil || fetched.Texts == nil {
				return `want JSON {"texts":[...]} (the backend read the database)`
			}
			return ""
		}},
		{Path: "/", Proves: "ingress -> frontend", Check: func(body []byte) string {
			if !bytes.Contains(body, []byte(`<div id="root">`)) {
				return `want the React app's page (<div id="root">)`
			}
			return ""
		}},
	}
}

// unpinned are the example's images referenced by tag, with why.
func unpinned() map[string]string {
	const exampleApp = "the tutorial's example app publishes only this moving tag; its digest could not be " +
		"verified (Docker Hub was unreachable when the facts were gathered) and the image cannot be rebuilt " +
		"reliably from its unpinned sources"
	return map[string]string{
		"lyzhang1999/backend:latest":  exampleApp,
		"lyzhang1999/frontend:latest": exampleApp,
		"postgres:17-alpine": "official image pinned to a major version; no digest could be verified " +
			"(Docker Hub was unreachable when the facts were gathered)",
	}
}

func ofKind(group, kind string) func(*unstructured.Unstructured) bool {
	return func(u *unstructured.Unstructured) bool {
		gvk := u.GroupVersionKind()
		return gvk.Group == group && gvk.Kind == kind
	}
}
