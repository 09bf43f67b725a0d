package catalogue_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kindstack/kindstack/addons"
	"github.com/kindstack/kindstack/embed"
	"github.com/kindstack/kindstack/internal/catalogue"
	"github.com/kindstack/kindstack/internal/component"
	"github.com/kindstack/kindstack/internal/kube"
	"github.com/kindstack/kindstack/internal/transform"
	"github.com/kindstack/kindstack/workloads"
)

// manifests are the files each component of the catalogue installs, by file name, with every
// option that changes the list (the example's route).
func manifests(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, c := range catalogue.All() {
		params := []component.Params{{}}
		if c.Name == workloads.Example().Name {
			params = append(params, component.Params{Options: &workloads.ExampleOptions{Route: workloads.RouteHTTPRoute}})
		}
		for _, p := range params {
			if p.Options == nil && c.Options != nil {
				p.Options = c.Options.New()
			}
			for _, name := range c.Manifests(p) {
				out[name] = c.Name
			}
		}
	}
	return out
}

// unpinned are the images the catalogue's components name by tag, with why.
func unpinned() map[string]string {
	out := map[string]string{}
	for _, c := range catalogue.All() {
		for img, why := range c.Unpinned {
			out[img] = why
		}
	}
	return out
}

// clusterScoped are the cluster-scoped kinds our manifests use; every other object must name its namespace,
// because kindstack applies objects where they say (there is no `kubectl apply -n`).
func clusterScoped(kind string) bool {
	switch kind {
	case "Namespace", "ClusterRole", "ClusterRoleBinding", "IngressClass", "ValidatingWebhookConfiguration", "APIService", "GatewayClass":
		return true
	}
	return false
}

func decodeAll(t *testing.T) map[string][]*unstructured.Unstructured {
	t.Helper()
	names, err := embed.Names()
	require.NoError(t, err)
	out := map[string][]*unstructured.Unstructured{}
	for _, name := range names {
		data, err := embed.Read(name)
		require.NoError(t, err)
		objs, err := kube.Decode(name, data)
		require.NoError(t, err, "%s must decode", name)
		require.NotEmpty(t, objs, "%s holds no object", name)
		out[name] = objs
	}
	return out
}

func TestEveryManifestIsListedAndDecodes(t *testing.T) {
	t.Parallel()
	names, err := embed.Names()
	require.NoError(t, err)
	var want []string
	for name := range manifests(t) {
		want = append(want, name)
	}
	assert.ElementsMatch(t, want, names, "a manifest that no component loads would never be installed")
	decodeAll(t)
}

func TestReadUnknownManifestNamesIt(t *testing.T) {
	t.Parallel()
	_, err := embed.Read("traefik.yaml")
	assert.ErrorContains(t, err, "traefik.yaml")
}

func TestNoDuplicateObjectsAndNamespacesExplicit(t *testing.T) {
	t.Parallel()
	// The two ingress controllers are never installed together, and both serve IngressClass nginx.
	byFile := manifests(t)
	nginx, traefik := addons.IngressNginx().Name, addons.Traefik().Name
	alternatives := func(a, b string) bool {
		return (byFile[a] == nginx && byFile[b] == traefik) || (byFile[a] == traefik && byFile[b] == nginx)
	}
	seen := map[string]string{}
	for file, objs := range decodeAll(t) {
		for _, u := range objs {
			ref := kube.RefOf(u)
			key := ref.Group + "/" + ref.String()
			if prev, dup := seen[key]; dup && !(alternatives(prev, file) && key == "networking.k8s.io/IngressClass/nginx") {
				t.Errorf("%s is defined in %s and again in %s", key, prev, file)
			}
			seen[key] = file
			if clusterScoped(u.GetKind()) {
				assert.Empty(t, u.GetNamespace(), "%s in %s is cluster-scoped", ref, file)
			} else {
				assert.NotEmpty(t, u.GetNamespace(), "%s in %s must set metadata.namespace", ref, file)
			}
		}
	}
}

func TestImagesArePinnedOrListedExceptions(t *testing.T) {
	t.Parallel()
	exceptions := unpinned()
	used := map[string]bool{}
	for file, objs := range decodeAll(t) {
		images, err := transform.ContainerImages(objs)
		require.NoError(t, err)
		for _, img := range images {
			used[img] = true
			_, excepted := exceptions[img]
			pinned := strings.Contains(img, "@sha256:")
			switch {
			case excepted && pinned:
				t.Errorf("%s (%s) is pinned: remove it from its component's Unpinned", img, file)
			case !excepted && !pinned:
				t.Errorf("%s (%s) is neither pinned by digest nor listed in its component's Unpinned", img, file)
			case pinned:
				// a tag next to the digest tells people which version it is
				assert.Regexp(t, `:[^/@]+@sha256:[0-9a-f]{64}$`, img, "%s: want name:tag@sha256:<64 hex>", file)
			}
		}
	}
	for img, reason := range exceptions {
		assert.True(t, used[img], "a component's Unpinned lists %s, which no manifest uses", img)
		assert.NotEmpty(t, reason, "%s needs a reason", img)
	}
}

func TestEveryContainerPullsOnlyWhenMissing(t *testing.T) {
	t.Parallel()
	// IfNotPresent everywhere: images loaded into the node (offline bundles, tests) must be used, not re-pulled.
	for file, objs := range decodeAll(t) {
		for _, u := range objs {
			for _, path := range [][]string{{"spec", "template", "spec", "containers"}, {"spec", "template", "spec", "initContainers"}} {
				containers, _, err := unstructured.NestedSlice(u.Object, path...)
				require.NoError(t, err)
				for _, c := range containers {
					m := c.(map[string]any)
					assert.Equal(t, "IfNotPresent", m["imagePullPolicy"], "%s: %s container %s", file, kube.RefOf(u), m["name"])
				}
			}
		}
	}
}
