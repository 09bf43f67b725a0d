package kube

import (
	"testing"

	"github.com/stretchr/testify/assert"
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
