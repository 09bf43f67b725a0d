package kube

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func cond(t, status, reason string, gen int64) any {
	return map[string]any{"type": t, "status": status, "reason": reason, "message": "msg of " + t, "observedGeneration": gen}
}

func TestConditionsResultNamesTheFirstConditionNotTrueForThisGeneration(t *testing.T) {
	t.Parallel()
	types := []string{"Accepted", "Programmed"}
	assert.Equal(t, Result{Ready: true}, conditionsResult([]any{cond("Accepted", "True", "Accepted", 2), cond("Programmed", "True", "Programmed", 2)}, 2, types))
	assert.Equal(t, "Programmed=False (Invalid): msg of Programmed",
		conditionsResult([]any{cond("Accepted", "True", "Accepted", 2), cond("Programmed", "False", "Invalid", 2)}, 2, types).Reason)
	assert.Equal(t, "Accepted not reported yet for generation 3 (last for 2)",
		conditionsResult([]any{cond("Accepted", "True", "Accepted", 2), cond("Programmed", "True", "Programmed", 2)}, 3, types).Reason)
	assert.Equal(t, "Accepted not reported yet (is its controller running?)", conditionsResult(nil, 1, types).Reason)
}

func TestRouteResultNeedsEveryParentToAcceptAndResolve(t *testing.T) {
	t.Parallel()
	route := func(parents ...any) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"metadata": map[string]any{"generation": int64(1)},
			"spec":     map[string]any{"parentRefs": []any{map[string]any{"name": "kindstack", "namespace": "kindstack-gateway"}}},
			"status":   map[string]any{"parents": parents},
		}}
	}
	parent := func(conds ...any) any {
		return map[string]any{"parentRef": map[string]any{"name": "kindstack", "namespace": "kindstack-gateway"}, "conditions": conds}
	}
	assert.Equal(t, "no Gateway has reported on it yet (is the Gateway's controller running?)", routeResult(route()).Reason)
	assert.Equal(t, "Gateway kindstack-gateway/kindstack: ResolvedRefs=False (BackendNotFound): msg of ResolvedRefs",
		routeResult(route(parent(cond("Accepted", "True", "Accepted", 1), cond("ResolvedRefs", "False", "BackendNotFound", 1)))).Reason)
	assert.True(t, routeResult(route(parent(cond("Accepted", "True", "Accepted", 1), cond("ResolvedRefs", "True", "ResolvedRefs", 1)))).Ready)
}
