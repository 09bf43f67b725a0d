package component

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kindstack/kindstack/internal/kube"
	"github.com/kindstack/kindstack/internal/transform"
)

func TestBuildLabelsEveryObjectAsKindstacksForItsComponent(t *testing.T) {
	t.Parallel()
	c := Component{
		Name:      "metrics",
		Manifests: Files("metrics-server-v0.8.0.yaml"),
		Transforms: func(p Params) []transform.Func {
			return []transform.Func{transform.Images(p.Images)}
		},
	}
	set, err := c.Build(Params{Images: transform.ImageMap{"registry.k8s.io/metrics-server/metrics-server:v0.8.0": "local/ms:dev"}})
	require.NoError(t, err)
	require.NotEmpty(t, set.Objects)
	assert.Equal(t, "metrics", set.Name)
	for _, o := range set.Objects {
		assert.Equal(t, "kindstack", o.GetLabels()[kube.ManagedByLabel], kube.RefOf(o).String())
		assert.Equal(t, "metrics", o.GetLabels()[kube.ComponentLabel], kube.RefOf(o).String())
	}
	images, err := c.Images(Params{Images: transform.ImageMap{"registry.k8s.io/metrics-server/metrics-server:v0.8.0": "local/ms:dev"}})
	require.NoError(t, err)
	assert.Equal(t, []string{"local/ms:dev"}, images, "the transforms ran")

	_, err = Component{Name: "broken", Manifests: Files("nope.yaml")}.Build(Params{})
	assert.ErrorContains(t, err, "broken: read manifest nope.yaml: open nope.yaml: file does not exist")
}

func TestDeferredSelectsTheObjectsOfANeed(t *testing.T) {
	t.Parallel()
	isIngress := func(u *unstructured.Unstructured) bool { return u.GetKind() == "Ingress" }
	c := Component{Name: "app", Needs: []Need{{Capability: Ingress, Objects: isIngress}, {Capability: Metrics}}}
	ing := &unstructured.Unstructured{}
	ing.SetKind("Ingress")
	dep := &unstructured.Unstructured{}
	dep.SetKind("Deployment")
	capability, deferred := c.Deferred(ing)
	assert.True(t, deferred)
	assert.Equal(t, Ingress, capability)
	_, deferred = c.Deferred(dep)
	assert.False(t, deferred, "a need without objects defers nothing")
}

func TestCheckFindsWhatCannotBeInstalledTogether(t *testing.T) {
	t.Parallel()
	ctrl := Component{Name: "ctrl", Provides: []Capability{Ingress}}
	metrics := Component{Name: "metrics", Provides: []Capability{Metrics}}
	app := Component{Name: "app", Needs: []Need{{Capability: Ingress}, {Capability: Metrics}}}
	tests := []struct {
		name  string
		comps []Component
		want  string // "" = fine
	}{
		{"all provided", []Component{ctrl, metrics, app}, ""},
		{"nothing provides metrics", []Component{ctrl, app}, "app needs metrics, which no installed component provides"},
		{"two providers", []Component{ctrl, {Name: "other", Provides: []Capability{Ingress}}}, `components "ctrl" and "other" both provide ingress`},
		{"listed twice", []Component{ctrl, ctrl}, `component "ctrl" is listed twice`},
		{"needs itself", []Component{{Name: "self", Provides: []Capability{Ingress}, Needs: []Need{{Capability: Ingress}}}}, "self needs ingress, which it provides itself"},
		{"a cycle", []Component{
			{Name: "a", Provides: []Capability{Ingress}, Needs: []Need{{Capability: Metrics}}},
			{Name: "b", Provides: []Capability{Metrics}, Needs: []Need{{Capability: Ingress}}},
		}, "components wait for each other: [a b a]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := Check(tt.comps)
			if tt.want == "" {
				assert.NoError(t, err)
				return
			}
			assert.ErrorContains(t, err, tt.want)
		})
	}
}
