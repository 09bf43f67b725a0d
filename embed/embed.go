// Package embed holds kindstack's Kubernetes manifests as data: one YAML file per component and
// version, written by kindstack from upstream facts (never copied from upstream files). Each
// component names its own files (packages addons and workloads); this package only holds them.
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

// Read returns one embedded manifest by file name, e.g. "metrics-server-v0.8.0.yaml".
func Read(name string) ([]byte, error) {
	data, err := files.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("read embedded manifest %s: %w", name, err)
	}
	return data, nil
}
