package transform

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// NoHostPorts removes the host ports of every container of the target workload: on a cluster
// kindstack did not create no node has them mapped for kindstack, and a host port taken by
// something else there would keep the pod from being scheduled.
func NoHostPorts(target Target) Func {
	return func(u *unstructured.Unstructured) error {
		if !target.matches(u) {
			return nil
		}
		err := eachContainer(u, func(c map[string]any) error {
			ports, _, err := unstructured.NestedSlice(c, "ports")
			if err != nil {
				return err
			}
			for _, p := range ports {
				if m, ok := p.(map[string]any); ok {
					delete(m, "hostPort")
				}
			}
			if ports != nil {
				return unstructured.SetNestedSlice(c, ports, "ports")
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("no host ports: %w", err)
		}
		return nil
	}
}

// NoServiceType removes the type (and any node ports) of the target Service, so kindstack's
// apply does not own them: where the ingress is exposed (LoadBalancer or NodePort) is decided
// once the cluster is known, under a field manager of its own.
func NoServiceType(target Target) Func {
	return func(u *unstructured.Unstructured) error {
		if !target.matches(u) || u.GetKind() != "Service" {
			return nil
		}
		unstructured.RemoveNestedField(u.Object, "spec", "type")
		ports, _, err := unstructured.NestedSlice(u.Object, "spec", "ports")
		if err != nil {
			return fmt.Errorf("no service type: %w", err)
		}
		for _, p := range ports {
			if m, ok := p.(map[string]any); ok {
				delete(m, "nodePort")
			}
		}
		if ports != nil {
			return unstructured.SetNestedSlice(u.Object, ports, "spec", "ports")
		}
		return nil
	}
}
