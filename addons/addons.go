// Package addons installs the cluster add-ons kindstack sets up on every cluster: the
// ingress-nginx controller and metrics-server. Each is a kube.Set: the embedded manifests (see
// package embed), kindstack's policy applied in Go (image overrides, the ingress-ready node
// selector, --kubelet-insecure-tls), and the readiness gates that say when it really works.
//
// ingress-nginx is retired upstream: its last release, controller v1.15.1, came out on
// 2026-03-19 and no fixes will follow. kindstack pins that release by digest. It is tested
// upstream on Kubernetes 1.31 to 1.35 only.
//
// metrics-server is pinned to v0.8.0 by digest: the newest release with a verified digest.
package addons

import (
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kindstack/kindstack/embed"
	"github.com/kindstack/kindstack/internal/kube"
	"github.com/kindstack/kindstack/internal/transform"
)

// Versions kindstack installs.
const (
	IngressNginxVersion  = "v1.15.1"
	MetricsServerVersion = "v0.8.0"
)

// IngressReadyLabel is the node label (value "true") of the node whose ports 80 and 443 are mapped
// to the host. The ingress controller runs there, serving those ports as hostPorts.
const IngressReadyLabel = "ingress-ready"

// Options change what the add-ons install.
type Options struct {
	// Images replaces upstream images (mirrors, images loaded into the cluster).
	Images transform.ImageMap
}

// IngressNginx returns the ingress-nginx set. Ready means the controller Deployment is available
// and its admission webhook is serving (CA bundle set, endpoints ready), so Ingresses can be applied.
// The certificate Jobs stay after they complete, so the wait sees them Complete and a second
// up finds them unchanged.
func IngressNginx(opts Options) (kube.Set, error) {
	objs, err := load(embed.IngressNginx,
		transform.Images(opts.Images),
		// Only the node labelled ingress-ready has host ports 80/443 mapped; upstream dropped this
		// selector in v1.13, which breaks clusters with workers.
		transform.NodeSelector(transform.Target{Kind: "Deployment", Namespace: "ingress-nginx", Name: "ingress-nginx-controller"},
			map[string]string{IngressReadyLabel: "true"}),
	)
	if err != nil {
		return kube.Set{}, fmt.Errorf("ingress-nginx: %w", err)
	}
	return kube.Set{
		Name:    "ingress-nginx",
		Objects: objs,
		Gates:   []kube.Gate{kube.WebhookServing("ingress-nginx-admission")},
	}, nil
}

// MetricsServer returns the metrics-server set. Ready means the Deployment is available, the
// APIService v1beta1.metrics.k8s.io is Available, and node metrics are actually served.
func MetricsServer(opts Options) (kube.Set, error) {
	objs, err := load(embed.MetricsServer,
		transform.Images(opts.Images),
		// kind's kubelet serving certificates are self-signed: without this, every scrape fails with
		// "x509: cannot validate certificate ... doesn't contain any IP SANs".
		transform.AppendArgs(transform.Target{Kind: "Deployment", Namespace: "kube-system", Name: "metrics-server"},
			"metrics-server", "--kubelet-insecure-tls"),
	)
	if err != nil {
		return kube.Set{}, fmt.Errorf("metrics-server: %w", err)
	}
	return kube.Set{
		Name:    "metrics-server",
		Objects: objs,
		Gates: []kube.Gate{
			kube.APIServiceAvailable("v1beta1.metrics.k8s.io"),
			NodeMetricsServed(),
		},
	}, nil
}

// Images returns every image the add-ons run, after opts.Images is applied, sorted: what a cluster
// will pull, and what an offline bundle must hold.
func Images(opts Options) ([]string, error) {
	var all []*unstructured.Unstructured
	var errs []error
	for _, build := range []func(Options) (kube.Set, error){IngressNginx, MetricsServer} {
		set, err := build(opts)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		all = append(all, set.Objects...)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return transform.ContainerImages(all)
}

// load decodes one embedded manifest and applies the transforms to it.
func load(name string, fns ...transform.Func) ([]*unstructured.Unstructured, error) {
	data, err := embed.Read(name)
	if err != nil {
		return nil, err
	}
	objs, err := kube.Decode(name, data)
	if err != nil {
		return nil, err
	}
	if err := transform.Apply(objs, fns...); err != nil {
		return nil, err
	}
	return objs, nil
}
