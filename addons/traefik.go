package addons

import (
	"errors"
	"fmt"

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

// traefikManifest is Traefik's manifest (package embed).
const traefikManifest = "traefik-v3.7.13.yaml"

// TraefikOptions are Traefik's own settings: the config file's `traefik:` section.
type TraefikOptions struct {
	// GatewayPorts are extra entrypoints (container and node ports) for Gateway listeners on other
	// ports than 80 and 443.
	GatewayPorts []int `yaml:"gatewayPorts"`
}

// reservedPort says what a container port kindstack's Traefik already listens on is, or "".
func reservedPort(p int) string {
	switch p {
	case 80:
		return "the web entrypoint"
	case 443:
		return "the websecure entrypoint"
	case 9000:
		return "Traefik's own /ping"
	}
	return ""
}

func checkTraefik(o TraefikOptions) error {
	seen := map[int]bool{}
	var errs []error
	for _, p := range o.GatewayPorts {
		switch {
		case p < 1 || p > 65535:
			errs = append(errs, fmt.Errorf("port %d is not between 1 and 65535", p))
		case reservedPort(p) != "":
			errs = append(errs, fmt.Errorf("port %d is already %s", p, reservedPort(p)))
		case seen[p]:
			errs = append(errs, fmt.Errorf("port %d is listed twice", p))
		}
		seen[p] = true
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("gatewayPorts: %w", err)
	}
	return nil
}

// Traefik is Traefik v3.7.13, pinned by digest (in its manifest), with the Gateway API: its
// kubernetesIngressNGINX provider serves Ingresses of class nginx (ingress-nginx's annotations
// included), its kubernetesGateway provider the Gateway kindstack-gateway/kindstack. Ready means
// the controller answers /ping (its readiness probe), the GatewayClass is Accepted and the Gateway
// is Programmed.
//
// TraefikOptions.GatewayPorts adds one entrypoint per port, with the same host port on the node,
// for Gateway listeners on other ports (Traefik maps a listener to the entrypoint of its port).
func Traefik() component.Component {
	deploy := transform.Target{Kind: "Deployment", Namespace: "traefik", Name: "traefik"}
	opts := component.Typed(TraefikOptions{}, checkTraefik)
	opts.Aliases = map[string]string{"gatewayPorts": "gatewayPorts"}
	return component.Component{
		Name:    "traefik",
		Summary: "the Traefik controller with the Gateway API",
		Alternative: &component.Alternative{Capability: component.Ingress, Value: "traefik",
			Usage: "Traefik with the Gateway API; serves the same Ingresses"},
		Options:   opts,
		Remote:    []component.Remote{GatewayAPIStandard},
		Manifests: component.Files(traefikManifest),
		Transforms: func(p component.Params) []transform.Func {
			ports := component.OptionsOf[TraefikOptions](p).GatewayPorts
			var args []string
			for _, port := range ports {
				args = append(args, fmt.Sprintf("--entrypoints.p%d.address=:%d", port, port))
			}
			if p.IngressNode == nil {
				// No node has host ports mapped for kindstack (a cluster it did not create): the
				// controller runs anywhere and is reached through its Service, whose type the
				// target chooses (LoadBalancer, else NodePort).
				return []transform.Func{
					transform.Images(p.Images),
					transform.AppendArgs(deploy, "traefik", args...),
					transform.NoHostPorts(deploy),
					transform.NoServiceType(transform.Target{Kind: "Service", Namespace: "traefik", Name: "traefik"}),
				}
			}
			return []transform.Func{
				transform.Images(p.Images),
				transform.NodeSelector(deploy, p.IngressNode),
				transform.AppendArgs(deploy, "traefik", args...),
				transform.HostPorts(deploy, "traefik", ports...),
			}
		},
		Exposed: &component.Service{Namespace: "traefik", Name: "traefik", Port: "web"},
		Gates: component.Gates(
			kube.GatewayClassAccepted(GatewayClassName),
			kube.GatewayProgrammed(GatewayNamespace, GatewayName),
		),
		Provides: []component.Capability{component.Ingress, component.Gateway},
	}
}
