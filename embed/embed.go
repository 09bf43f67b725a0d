// Package embed holds kindstack's Kubernetes manifests as data: one YAML file per component and
// version, written by kindstack from upstream facts (never copied from upstream files).
//
// The files are plain multi-document YAML. Policy that depends on the user or the cluster
// (image overrides, node selectors, extra args) is applied in Go by internal/transform, not here.
package embed

import (
	goembed "embed"
	"fmt"
	"io/fs"
	"sort"
)

// Manifest file names.
const (
	IngressNginx  = "ingress-nginx-v1.15.1.yaml"
	Traefik       = "traefik-v3.7.13.yaml"
	MetricsServer = "metrics-server-v0.8.0.yaml"

	ExampleNamespace = "example-namespace.yaml"
	ExampleDatabase  = "example-database.yaml"
	ExampleBackend   = "example-backend.yaml"
	ExampleFrontend  = "example-frontend.yaml"
	ExampleIngress   = "example-ingress.yaml"
	ExampleHTTPRoute = "example-httproute.yaml"
	ExampleHPA       = "example-hpa.yaml"
)

// ExampleFiles returns the example app's manifests in the order a person would apply them, with
// the file that routes to it: ExampleIngress or ExampleHTTPRoute.
func ExampleFiles(route string) []string {
	return []string{ExampleNamespace, ExampleDatabase, ExampleBackend, ExampleFrontend, route, ExampleHPA}
}

//go:embed *.yaml
var files goembed.FS

// FS returns the embedded manifests, read-only.
func FS() fs.FS { return files }

// Names returns the names of every embedded manifest, sorted.
func Names() ([]string, error) {
	names, err := fs.Glob(files, "*.yaml")
	if err != nil {
		return nil, fmt.Errorf("list embedded manifests: %w", err)
	}
	sort.Strings(names)
	return names, nil
}

// Read returns one embedded manifest by file name, e.g. embed.IngressNginx.
func Read(name string) ([]byte, error) {
	data, err := files.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("read embedded manifest %s: %w", name, err)
	}
	return data, nil
}

// UnpinnedImages lists the images that our manifests reference by tag instead of by digest, each
// with the reason. Every other image must carry an @sha256 digest (a unit test enforces both ways).
// Users who need reproducibility can pin these themselves through the images map of the config file.
func UnpinnedImages() map[string]string {
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
