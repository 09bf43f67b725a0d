package transform

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// IngressClassName sets spec.ingressClassName of every Ingress to name, e.g. the class of the
// controller a cluster already runs (`--ingress-class`). An empty name changes nothing.
func IngressClassName(name string) Func {
	return func(u *unstructured.Unstructured) error {
		if name == "" || u.GetKind() != "Ingress" || u.GroupVersionKind().Group != "networking.k8s.io" {
			return nil
		}
		if err := unstructured.SetNestedField(u.Object, name, "spec", "ingressClassName"); err != nil {
			return fmt.Errorf("ingress class: %w", err)
		}
		return nil
	}
}
