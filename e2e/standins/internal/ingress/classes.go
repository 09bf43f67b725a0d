package ingress

import (
	networkingv1 "k8s.io/api/networking/v1"
)

// annotationIngressClass is the legacy way to pick a controller.
const annotationIngressClass = "kubernetes.io/ingress.class"

// ClassFilter decides which Ingresses belong to this controller, as ingress-nginx does: by
// spec.ingressClassName naming an IngressClass whose spec.controller is ours, by the legacy
// annotation equal to --ingress-class, or (with --watch-ingress-without-class) by having no class.
type ClassFilter struct {
	ControllerClass          string
	IngressClass             string
	WatchIngressWithoutClass bool
	// Controller returns spec.controller of the named IngressClass, false when it does not exist.
	Controller func(className string) (string, bool)
}

// Handles reports whether ing is ours.
func (f ClassFilter) Handles(ing *networkingv1.Ingress) bool {
	if ing.Spec.IngressClassName != nil && *ing.Spec.IngressClassName != "" {
		name := *ing.Spec.IngressClassName
		if f.Controller != nil {
			if controller, ok := f.Controller(name); ok {
				return controller == f.ControllerClass
			}
		}
		return false
	}
	if class, ok := ing.Annotations[annotationIngressClass]; ok {
		return class == f.IngressClass
	}
	return f.WatchIngressWithoutClass
}
