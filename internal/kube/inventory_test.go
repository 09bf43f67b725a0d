package kube

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestUnwantedIsWhatWasRecordedAndIsNoLongerWanted(t *testing.T) {
	t.Parallel()
	ns := Ref{Kind: "Namespace", Name: "example"}
	dep := Ref{Group: "apps", Kind: "Deployment", Namespace: "example", Name: "backend"}
	class := Ref{Group: "networking.k8s.io", Kind: "IngressClass", Name: "nginx"}
	ctrl := Ref{Group: "apps", Kind: "Deployment", Namespace: "ingress-nginx", Name: "ingress-nginx-controller"}
	inv := Inventory{"example": {ns, dep}, "ingress-nginx": {ctrl, class}, "traefik": {class}}

	assert.Empty(t, inv.Unwanted([]Ref{ns, dep, class, ctrl}), "everything still wanted")
	assert.Equal(t, []Ref{ns, dep, ctrl}, inv.Unwanted([]Ref{class}),
		"by component name, each once; an object another wanted component ships is kept")
	assert.Empty(t, Inventory{}.Unwanted(nil))
}

func TestPruneResultSaysWhatHappenedInAFewWords(t *testing.T) {
	t.Parallel()
	r := Ref{Kind: "Namespace", Name: "example"}
	assert.Equal(t, "nothing to prune", PruneResult{}.String())
	assert.Equal(t, "2 deleted, 1 already gone, 1 left alone (not kindstack's)",
		PruneResult{Deleted: []Ref{r, r}, Absent: []Ref{r}, LeftAlone: []Ref{r}}.String())
}

func TestTerminationTroubleQuotesTheNamespacesConditions(t *testing.T) {
	t.Parallel()
	ns := &unstructured.Unstructured{Object: map[string]any{"status": map[string]any{"conditions": []any{
		map[string]any{"type": "NamespaceDeletionDiscoveryFailure", "status": "True", "message": "Discovery failed for some groups, 1 failing: unable to retrieve the complete list of server APIs: metrics.k8s.io/v1beta1: stale GroupVersion discovery"},
		map[string]any{"type": "NamespaceDeletionContentFailure", "status": "False", "message": "All content successfully deleted"},
	}}}}
	assert.Equal(t, "; NamespaceDeletionDiscoveryFailure: Discovery failed for some groups, 1 failing: unable to retrieve the complete list of server APIs: metrics.k8s.io/v1beta1: stale GroupVersion discovery",
		terminationTrouble(ns))
	assert.Empty(t, terminationTrouble(&unstructured.Unstructured{Object: map[string]any{}}))
}
