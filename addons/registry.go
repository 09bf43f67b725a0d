package addons

import (
	"errors"
	"fmt"
	"net"
	"strconv"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/kindstack/kindstack/internal/component"
	"github.com/kindstack/kindstack/internal/transform"
)

// RegistryImage is the distribution project's registry (Docker Hub's official `registry:3`),
// pinned by the digest several independent public projects pin for registry:3 (December 2026);
// no registry was reachable to check it here. The e2e test bed runs the registry built from its Go
// module (github.com/distribution/distribution/v3, cmd/registry) through the images map.
const RegistryImage = "docker.io/library/registry:3@sha256:1be55279f18a2fe1a74edf2664cac61c1bea305b7b4642dab412e7affdcb3e33"

// The local registry beside the nodes: one per machine (container engine), shared by every
// kindstack cluster on it, as kind's documented `kind-registry` is.
const (
	RegistryContainer = "kindstack-registry"
	// RegistryVolume holds the pushed images: the user's data, removed only by `kindstack registry rm`.
	RegistryVolume = "kindstack-registry"
	// registryPort is where the registry serves inside its container (its image's EXPOSE).
	registryPort = 5000
	// registryData is where the registry keeps its storage (its image's VOLUME).
	registryData = "/var/lib/registry"
	// RegistryHelp is the `help` of the KEP-1755 ConfigMap.
	RegistryHelp = "https://github.com/kindstack/kindstack#local-registry"
)

// registryManifest is the KEP-1755 ConfigMap's manifest (package embed).
const registryManifest = "local-registry-hosting.yaml"

// RegistryOptions are the local registry's own settings: the config file's `registry:` section.
type RegistryOptions struct {
	// Port is the host port the registry is published on, and the port in the name pods use
	// (localhost:<port>/app:dev).
	Port int `yaml:"port"`
	// ListenAddress is the host address the port listens on.
	ListenAddress string `yaml:"listenAddress"`
}

func checkRegistry(o RegistryOptions) error {
	var errs []error
	if o.Port < 1 || o.Port > 65535 {
		errs = append(errs, fmt.Errorf("port %d is not a TCP port (1-65535)", o.Port))
	}
	if net.ParseIP(o.ListenAddress) == nil {
		errs = append(errs, fmt.Errorf("listenAddress %q is not an IP address; use 127.0.0.1 (or 0.0.0.0 for every interface)", o.ListenAddress))
	}
	return errors.Join(errs...)
}

// LocalRegistryHosting is the document under the KEP-1755 ConfigMap's key localRegistryHosting.v1.
type LocalRegistryHosting struct {
	// Host is where this machine pushes: `docker push localhost:5001/app:dev`.
	Host string `json:"host"`
	// HostFromContainerRuntime is the name the nodes' containerd pulls by (pods' image: fields).
	HostFromContainerRuntime string `json:"hostFromContainerRuntime"`
	// HostFromClusterNetwork is where pods reach the registry over the network.
	HostFromClusterNetwork string `json:"hostFromClusterNetwork"`
	// Help says how to use it.
	Help string `json:"help"`
}

// hosting is what the ConfigMap says for these options.
func hosting(o RegistryOptions) LocalRegistryHosting {
	port := strconv.Itoa(o.Port)
	host := "localhost"
	if ip := net.ParseIP(o.ListenAddress); ip != nil && !ip.IsLoopback() && !ip.IsUnspecified() {
		host = o.ListenAddress
	}
	return LocalRegistryHosting{
		Host:                     net.JoinHostPort(host, port),
		HostFromContainerRuntime: "localhost:" + port,
		HostFromClusterNetwork:   net.JoinHostPort(RegistryContainer, strconv.Itoa(registryPort)),
		Help:                     RegistryHelp,
	}
}

// localRegistryHosting fills the KEP-1755 ConfigMap's data.
func localRegistryHosting(o RegistryOptions) transform.Func {
	return func(obj *unstructured.Unstructured) error {
		if obj.GetKind() != "ConfigMap" || obj.GetNamespace() != "kube-public" || obj.GetName() != "local-registry-hosting" {
			return nil
		}
		doc, err := yaml.Marshal(hosting(o))
		if err != nil {
			return fmt.Errorf("local-registry-hosting: %w", err)
		}
		return unstructured.SetNestedStringMap(obj.Object, map[string]string{"localRegistryHosting.v1": string(doc)}, "data")
	}
}

// Registry is a local image registry (the distribution project's registry, `registry:3`) that
// `docker push localhost:5001/app:dev` reaches from this machine and every node pulls
// `localhost:5001/app:dev` from. It runs as the container kindstack-registry on kind's network,
// beside the nodes, its images in the volume kindstack-registry; each node's containerd resolves
// localhost:<port> to it through a hosts.toml. In the cluster it is the ConfigMap
// kube-public/local-registry-hosting of KEP-1755, which Tilt and Skaffold read. Off unless asked
// for (`--registry`, `registry: true`, or a `registry:` section).
func Registry() component.Component {
	opts := component.Typed(RegistryOptions{Port: 5001, ListenAddress: "127.0.0.1"}, checkRegistry)
	opts.Flags = []component.Flag{
		{Name: "registry-port", Field: "port", Usage: "host port of the local registry, and the port pods name it by (localhost:PORT/app:dev); implies --registry (default 5001)"},
		{Name: "registry-listen-address", Field: "listenAddress", Usage: "host address the local registry's port listens on; implies --registry (default 127.0.0.1)"},
	}
	return component.Component{
		Name:      "registry",
		Summary:   "a local image registry at localhost:5001 that every node pulls from",
		OptIn:     true,
		Options:   opts,
		Manifests: component.Files(registryManifest),
		Transforms: func(p component.Params) []transform.Func {
			return []transform.Func{localRegistryHosting(component.OptionsOf[RegistryOptions](p))}
		},
		Beside: func(p component.Params) []component.Container {
			o := component.OptionsOf[RegistryOptions](p)
			image := RegistryImage
			if img, ok := p.Images.Lookup(image); ok {
				image = img
			}
			return []component.Container{{
				Name:  RegistryContainer,
				Image: image,
				// The image's own command serves its config file; what kindstack relies on is set
				// here, so any image of the registry's layout will do.
				Env: map[string]string{
					"REGISTRY_HTTP_ADDR":                        ":" + strconv.Itoa(registryPort),
					"REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": registryData,
					"REGISTRY_STORAGE_DELETE_ENABLED":           "true",
				},
				Port:          registryPort,
				ListenAddress: o.ListenAddress,
				HostPort:      o.Port,
				Volume:        RegistryVolume,
				VolumePath:    registryData,
				Registry:      "localhost:" + strconv.Itoa(o.Port),
				Describe:      "registry",
				PortFlag:      "--registry-port",
			}}
		},
	}
}
