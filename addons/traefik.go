package addons

import (
	"fmt"

	"github.com/kindstack/kindstack/embed"
	"github.com/kindstack/kindstack/internal/component"
	"github.com/kindstack/kindstack/internal/kube"
	"github.com/kindstack/kindstack/internal/transform"
)

// GatewayAPIStandard is the standard channel of the Gateway API CRDs, v1.6.1: the version Traefik
// v3.7.13 is built against. They are the Gateway API project's own files, applied from its Go
// module (verified by its go.sum hash), not shipped by kindstack.
var GatewayAPIStandard = component.Remote{
	Name:    "gateway-api-v1.6.1-standard",
	Module:  "sigs.k8s.io/gateway-api",
	Version: "v1.6.1",
	Sum:     "h1:mock6phZbI6rvZerwrVNk7hVNymQgHo+6sJ81Ia7ftY=",
	Dir:     "config/crd/standard",
}

// Gateway kindstack installs with Traefik: HTTPRoutes attach to it to be served on the host ports.
const (
	GatewayNamespace = "kindstack-gateway"
	GatewayName      = "kindstack"
	GatewayClassName = "traefik"
)

// Traefik is Traefik v3.7.13, pinned by digest (see embed.Traefik), with the Gateway API: its
// kubernetesIngressNGINX provider serves Ingresses of class nginx (ingress-nginx's annotations
// included), its kubernetesGateway provider the Gateway kindstack-gateway/kindstack. Ready means
// the controller answers /ping (its readiness probe), the GatewayClass is Accepted and the Gateway
// is Programmed.
//
// Params.GatewayPorts adds one entrypoint per port, with the same host port on the node, for
// Gateway listeners on other ports (Traefik maps a listener to the entrypoint of its port).
func Traefik() component.Component {
	deploy := transform.Target{Kind: "Deployment", Namespace: "traefik", Name: "traefik"}
	return component.Component{
		Name:      "traefik",
		Remote:    []component.Remote{GatewayAPIStandard},
		Manifests: component.Files(embed.Traefik),
		Transforms: func(p component.Params) []transform.Func {
			var args []string
			for _, port := range p.GatewayPorts {
				args = append(args, fmt.Sprintf("--entrypoints.p%d.address=:%d", port, port))
			}
			return []transform.Func{
				transform.Images(p.Images),
				transform.NodeSelector(deploy, p.IngressNode),
				transform.AppendArgs(deploy, "traefik", args...),
				transform.HostPorts(deploy, "traefik", p.GatewayPorts...),
			}
		},
		Gates: component.Gates(
			kube.GatewayClassAccepted(GatewayClassName),
			kube.GatewayProgrammed(GatewayNamespace, GatewayName),
		),
		Provides: []component.Capability{component.Ingress, component.Gateway},
	}
}
