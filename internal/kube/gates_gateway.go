package kube

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// gatewayAPI is the Gateway API group, in the version kindstack reads.
var gatewayAPI = schema.GroupVersion{Group: "gateway.networking.k8s.io", Version: "v1"}

// GatewayClassAccepted passes when the GatewayClass's controller has accepted it (condition
// Accepted=True for the current generation).
func GatewayClassAccepted(name string) Gate {
	return conditionsGate(gatewayAPI.WithResource("gatewayclasses"), "GatewayClass", "", name, "Accepted")
}

// GatewayProgrammed passes when the Gateway is Accepted and Programmed for its current generation:
// its controller has configured a listener for it.
func GatewayProgrammed(namespace, name string) Gate {
	return conditionsGate(gatewayAPI.WithResource("gateways"), "Gateway", namespace, name, "Accepted", "Programmed")
}

// conditionsGate passes when each named condition of the object is True and not older than the
// object's generation. The reason names the first that is not: its status, reason and message.
func conditionsGate(gvr schema.GroupVersionResource, kind, namespace, name string, types ...string) Gate {
	id := kind + "/" + name
	if namespace != "" {
		id = kind + "/" + namespace + "/" + name
	}
	return Gate{
		Name: id,
		Check: func(ctx context.Context, c *Client) (Result, error) {
			u, err := c.dynamic.Resource(gvr).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return Result{Reason: id + " not found"}, nil
			}
			if err != nil {
				return Result{Reason: "cannot read it: " + err.Error()}, nil
			}
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			return conditionsResult(conds, u.GetGeneration(), types), nil
		},
	}
}

// conditionsResult checks conditions (status.conditions or a route parent's) against types.
func conditionsResult(conds []any, generation int64, types []string) Result {
	for _, t := range types {
		c := findCondition(conds, t)
		switch {
		case c == nil:
			return Result{Reason: t + " not reported yet (is its controller running?)"}
		case c["status"] != "True":
			return Result{Reason: fmt.Sprintf("%s=%v (%v): %v", t, c["status"], c["reason"], c["message"])}
		case observedGeneration(c) < generation:
			return Result{Reason: fmt.Sprintf("%s not reported yet for generation %d (last for %d)", t, generation, observedGeneration(c))}
		}
	}
	return Result{Ready: true}
}

func findCondition(conds []any, condType string) map[string]any {
	for _, raw := range conds {
		if c, ok := raw.(map[string]any); ok && c["type"] == condType {
			return c
		}
	}
	return nil
}

func observedGeneration(c map[string]any) int64 {
	switch g := c["observedGeneration"].(type) {
	case int64:
		return g
	case float64:
		return int64(g)
	}
	return 0
}

// HTTPRouteAccepted passes when every Gateway the HTTPRoute names has accepted it and resolved its
// backends (conditions Accepted and ResolvedRefs of each status.parents entry). The reason names
// the parent and the condition that is not True.
func HTTPRouteAccepted(namespace, name string) Gate {
	id := "HTTPRoute/" + namespace + "/" + name
	return Gate{
		Name: id,
		Check: func(ctx context.Context, c *Client) (Result, error) {
			u, err := c.dynamic.Resource(gatewayAPI.WithResource("httproutes")).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return Result{Reason: id + " not found"}, nil
			}
			if err != nil {
				return Result{Reason: "cannot read it: " + err.Error()}, nil
			}
			return routeResult(u), nil
		},
	}
}

func routeResult(u *unstructured.Unstructured) Result {
	wanted, _, _ := unstructured.NestedSlice(u.Object, "spec", "parentRefs")
	parents, _, _ := unstructured.NestedSlice(u.Object, "status", "parents")
	if len(parents) == 0 {
		return Result{Reason: "no Gateway has reported on it yet (is the Gateway's controller running?)"}
	}
	if len(parents) < len(wanted) {
		return Result{Reason: fmt.Sprintf("%d of the %d Gateways it names have reported on it", len(parents), len(wanted))}
	}
	var problems []string
	for _, raw := range parents {
		p, _ := raw.(map[string]any)
		ref, _, _ := unstructured.NestedMap(p, "parentRef")
		conds, _, _ := unstructured.NestedSlice(p, "conditions")
		if r := conditionsResult(conds, u.GetGeneration(), []string{"Accepted", "ResolvedRefs"}); !r.Ready {
			problems = append(problems, fmt.Sprintf("Gateway %v/%v: %s", ref["namespace"], ref["name"], r.Reason))
		}
	}
	if len(problems) > 0 {
		return Result{Reason: strings.Join(problems, "; ")}
	}
	return Result{Ready: true}
}
