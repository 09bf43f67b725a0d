// Package cluster manages kindstack's kind cluster through kind's Go library, in-process: the kind
// v1alpha4 config, node provider detection, preflight checks, create/reuse/delete, the stored spec
// that makes `up` idempotent, and the user's kubeconfig entries.
package cluster

import (
	"fmt"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"
)

// IngressReadyLabel marks the node the ingress controller is scheduled onto (its hostPorts 80/443
// are where the extraPortMappings point).
const IngressReadyLabel = "ingress-ready"

// Spec is what kindstack wants from the cluster. It is stored in the cluster on create and compared
// on every later `up`, so a change is noticed instead of silently ignored.
type Spec struct {
	Name          string `json:"name"`
	NodeImage     string `json:"nodeImage"`
	ListenAddress string `json:"listenAddress"`
	HTTPPort      int    `json:"httpPort"`
	HTTPSPort     int    `json:"httpsPort"`
	// Workers is the number of worker nodes beside the control plane (0: one node does it all).
	Workers int `json:"workers,omitempty"`
	// ControllerManagerArgs are kube-controller-manager flags the components ask for (a shorter
	// HPA sync period, say). They apply when the cluster is created and are not compared later:
	// they tune the cluster, and a difference is no reason to recreate it.
	ControllerManagerArgs map[string]string `json:"controllerManagerArgs,omitempty"`
}

// kubeadmPatch is the part of kubeadm's ClusterConfiguration kindstack patches. It names no
// apiVersion, so kind converts the extraArgs map to v1beta4's list form when the node image needs it.
type kubeadmPatch struct {
	Kind              string `json:"kind"`
	ControllerManager struct {
		ExtraArgs map[string]string `json:"extraArgs"`
	} `json:"controllerManager"`
}

// kubeadmPatches returns the kubeadm config patches for spec's controller-manager flags.
func kubeadmPatches(spec Spec) []string {
	if len(spec.ControllerManagerArgs) == 0 {
		return nil
	}
	p := kubeadmPatch{Kind: "ClusterConfiguration"}
	p.ControllerManager.ExtraArgs = spec.ControllerManagerArgs
	out, err := yaml.Marshal(p)
	if err != nil {
		return nil // a struct of strings always marshals
	}
	return []string{string(out)}
}

// KindConfig returns the kind v1alpha4 Cluster for spec: one control-plane node labelled
// ingress-ready=true with the host's HTTP/HTTPS ports mapped to the node's 80/443, then
// spec.Workers worker nodes without labels or ports (only one node can hold the host's ports, and
// the ingress controller is pinned to it).
func KindConfig(spec Spec) *v1alpha4.Cluster {
	cfg := &v1alpha4.Cluster{
		TypeMeta: v1alpha4.TypeMeta{Kind: "Cluster", APIVersion: "kind.x-k8s.io/v1alpha4"},
		Name:     spec.Name,
		// Registry mirrors are hosts.toml files under CertsDir, written by every up (ApplyMirrors).
		ContainerdConfigPatches: []string{containerdConfigPatch},
		KubeadmConfigPatches:    kubeadmPatches(spec),
		Nodes: []v1alpha4.Node{{
			Role:   v1alpha4.ControlPlaneRole,
			Image:  spec.NodeImage,
			Labels: map[string]string{IngressReadyLabel: "true"},
			ExtraPortMappings: []v1alpha4.PortMapping{
				{ContainerPort: 80, HostPort: int32(spec.HTTPPort), ListenAddress: spec.ListenAddress, Protocol: v1alpha4.PortMappingProtocolTCP},
				{ContainerPort: 443, HostPort: int32(spec.HTTPSPort), ListenAddress: spec.ListenAddress, Protocol: v1alpha4.PortMappingProtocolTCP},
			},
		}},
	}
	for range spec.Workers {
		cfg.Nodes = append(cfg.Nodes, v1alpha4.Node{Role: v1alpha4.WorkerRole, Image: spec.NodeImage})
	}
	return cfg
}

// KindConfigYAML renders KindConfig(spec) as kind reads it (for -v output and debugging).
func KindConfigYAML(spec Spec) ([]byte, error) {
	out, err := yaml.Marshal(KindConfig(spec))
	if err != nil {
		return nil, fmt.Errorf("render kind config: %w", err)
	}
	return out, nil
}
