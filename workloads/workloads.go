// Package workloads installs the example app of the tutorial kindstack automates (a React
// frontend, a Flask backend and PostgreSQL behind the ingress, with autoscalers) and smoke-tests
// it through the host port the way a browser would.
//
// The manifests are kindstack's own, written from the facts of lyzhang1999/kubernetes-example
// (which has no licence). They fix what breaks on today's clusters: the Ingress uses
// pathType ImplementationSpecific (current ingress-nginx rejects the tutorial's regex paths
// under Prefix), credentials live in a Secret, and every pod has probes that mean "serving".
package workloads

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kindstack/kindstack/embed"
	"github.com/kindstack/kindstack/internal/kube"
	"github.com/kindstack/kindstack/internal/transform"
)

// Namespace is where the example app runs.
const Namespace = "example"

// Options change what the example installs.
type Options struct {
	// Images replaces upstream images (mirrors, images loaded into the cluster).
	Images transform.ImageMap
}

// Example returns the example app as one set: namespace example, postgres, backend, frontend,
// their Services, the Ingress frontend-ingress and the two autoscalers.
//
// Apply it only once ingress-nginx's admission webhook is serving, with
// kube.ApplyOptions{RetryWebhookErrors: true}: the webhook validates the Ingress and can still
// refuse connections for a moment after it first reports ready. Ready means every Deployment is
// available and both autoscalers report metrics, which needs metrics-server.
func Example(opts Options) (kube.Set, error) {
	var objs []*unstructured.Unstructured
	for _, name := range embed.ExampleFiles() {
		data, err := embed.Read(name)
		if err != nil {
			return kube.Set{}, fmt.Errorf("example: %w", err)
		}
		decoded, err := kube.Decode(name, data)
		if err != nil {
			return kube.Set{}, fmt.Errorf("example: %w", err)
		}
		objs = append(objs, decoded...)
	}
	if err := transform.Apply(objs, transform.Images(opts.Images)); err != nil {
		return kube.Set{}, fmt.Errorf("example: %w", err)
	}
	return kube.Set{
		Name:    "example",
		Objects: objs,
		Gates: []kube.Gate{
			kube.HPAReportingMetrics(Namespace, "backend"),
			kube.HPAReportingMetrics(Namespace, "frontend"),
		},
	}, nil
}

// Images returns every image the example app runs, after opts.Images is applied, sorted.
func Images(opts Options) ([]string, error) {
	set, err := Example(opts)
	if err != nil {
		return nil, err
	}
	return transform.ContainerImages(set.Objects)
}
