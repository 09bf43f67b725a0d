package apps

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	chartv2loader "helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kindstack/kindstack/internal/config"
	"github.com/kindstack/kindstack/internal/kube"
)

func TestAFlagsAppIsNamedAfterItsPath(t *testing.T) {
	t.Parallel()
	for path, want := range map[string]string{
		"./deploy":                  "deploy",
		"/home/me/My_Shop/":         "my-shop",
		"charts/shop-0.1.0.tgz":     "shop",
		"charts/shop-v1.2.3-rc.tgz": "shop",
	} {
		a := FromFlag(path)
		assert.Equal(t, want, a.Name, path)
		assert.Equal(t, "--app "+path, a.Where("path"))
	}
}

func objects(t *testing.T, yaml string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := kube.Decode("test", []byte(yaml))
	require.NoError(t, err)
	return objs
}

// Namespaced objects without a namespace go to the app's; cluster-scoped ones (built-in kinds and
// the app's own cluster-scoped CRDs) stay without; the namespace is made unless the app makes it.
func TestObjectsGoToTheAppsNamespace(t *testing.T) {
	t.Parallel()
	objs := inNamespace(objects(t, `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: web-reader}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Cluster
  names: {kind: Widget, plural: widgets}
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: big}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: elsewhere, namespace: other}
`), "shop")
	var refs []string
	for _, o := range objs {
		refs = append(refs, kube.RefOf(o).String())
	}
	assert.Equal(t, []string{"Namespace/shop", "Deployment/shop/web", "ClusterRole/web-reader", "CustomResourceDefinition/widgets.example.com",
		"Widget/big", "ConfigMap/other/elsewhere"}, refs)

	mine := inNamespace(objects(t, "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\n"), "shop")
	assert.Len(t, mine, 2, "the app's own Namespace is not made twice")
	none := inNamespace(objects(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: other}\n"), "shop")
	assert.Len(t, none, 1, "no namespace is made where nothing lands")
}

func chartDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	files["Chart.yaml"] = "apiVersion: v2\nname: demo\nversion: 0.1.0\n"
	for name, body := range files {
		path := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(body), 0o644))
	}
	return dir
}

// A chart renders as `helm template` does: values files in order, inline values on top, the
// release's name and namespace the app's; hooks become ordinary objects, except tests.
func TestAChartRendersLikeHelmTemplate(t *testing.T) {
	t.Parallel()
	dir := chartDir(t, map[string]string{
		"values.yaml":              "color: red\nsize: small\nshape: round\n",
		"dev.yaml":                 "color: green\nsize: medium\n",
		"templates/cm.yaml":        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cfg\n  namespace: {{ .Release.Namespace }}\ndata:\n  color: {{ .Values.color }}\n  size: {{ .Values.size }}\n  shape: {{ .Values.shape }}\n",
		"templates/job.yaml":       "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\n  annotations: {helm.sh/hook: pre-install}\n",
		"templates/tests/get.yaml": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: get\n  annotations: {helm.sh/hook: test}\n",
		"crds/widget.yaml":         "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\nspec: {group: example.com, scope: Namespaced, names: {kind: Widget, plural: widgets}}\n",
	})
	a := config.App{Name: "demo", Chart: dir, Namespace: "tools", ValuesFiles: []string{filepath.Join(dir, "dev.yaml")},
		Values: map[string]any{"size": "large"}, Line: 3}
	objs, err := objectsOf(a)
	require.NoError(t, err)
	byRef := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		byRef[kube.RefOf(o).String()] = o
	}
	require.Contains(t, byRef, "ConfigMap/tools/demo-cfg")
	data, _, _ := unstructured.NestedStringMap(byRef["ConfigMap/tools/demo-cfg"].Object, "data")
	assert.Equal(t, map[string]string{"color": "green", "size": "large", "shape": "round"}, data, "chart < values files < inline values")
	assert.Contains(t, byRef, "Job/tools/migrate", "a hook is an ordinary object")
	assert.Contains(t, byRef, "CustomResourceDefinition/widgets.example.com", "the chart's CRDs")
	assert.Contains(t, byRef, "Namespace/tools")
	assert.NotContains(t, byRef, "Pod/tools/get", "test hooks are not applied")
}

// What an app makes is compared with every other component's objects.
func TestObjectsOfAppsCollide(t *testing.T) {
	t.Parallel()
	specs := []config.App{{Name: "a", Line: 4, File: "k.yaml"}, {Name: "b", Line: 7, File: "k.yaml"}}
	sets := map[string]kube.Set{
		"example": {Objects: objects(t, "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: example}\n")},
		"a":       {Objects: objects(t, "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: example}\n")},
		"b":       {Objects: objects(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: example}\n")},
	}
	err := CheckObjects(specs, sets)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `config file k.yaml, line 4: app "a" makes Service/example/web, which is the built-in component example's too`)
	assert.NotContains(t, err.Error(), `app "b" puts objects in namespace "example"`, "a built-in's namespace is not an app's")

	sets["a"] = kube.Set{Objects: objects(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other, namespace: example}\n")}
	err = CheckObjects(specs, sets)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `config file k.yaml, line 7: app "b" puts objects in namespace "example", where app "a" (config file k.yaml, line 4) has objects too`)
}

func TestCheckNeedsAndNames(t *testing.T) {
	t.Parallel()
	err := Check([]config.App{
		{Name: "Shop", Flag: "--app ./Shop"},
		{Name: "metrics", Flag: "--app ./metrics"},
		{Name: "web", Flag: "--app ./web", Needs: []string{"web"}, URLs: []string{"shop"}},
	}, nil)
	require.Error(t, err)
	for _, want := range []string{
		`--app ./Shop: app name "Shop" is not a DNS label`,
		`--app ./metrics: app name "metrics" is a capability's`,
		`--app ./web: app "web" needs itself`,
		`--app ./web: app "web": URL "shop" is not a path through the ingress`,
	} {
		assert.Contains(t, err.Error(), want)
	}
	assert.NoError(t, Check([]config.App{{Name: "a", Needs: []string{"b", "metrics"}}, {Name: "b", Needs: []string{"ingress"}}}, nil))
}

// A packaged chart (`helm package`'s name-version.tgz) given to --app is a chart named without
// its version.
func TestAPackagedChartThroughTheFlag(t *testing.T) {
	t.Parallel()
	ch, err := chartv2loader.Load("../../e2e/testdata/apps/greeter")
	require.NoError(t, err)
	tgz, err := chartutil.Save(ch, t.TempDir())
	require.NoError(t, err)
	require.Equal(t, "greeter-0.1.0.tgz", filepath.Base(tgz))
	a := FromFlag(tgz)
	assert.Equal(t, "greeter", a.Name)
	objs, err := objectsOf(a)
	require.NoError(t, err)
	var refs []string
	for _, o := range objs {
		refs = append(refs, kube.RefOf(o).String())
	}
	assert.ElementsMatch(t, []string{"Namespace/greeter", "Service/greeter/greeter", "Deployment/greeter/greeter", "Ingress/greeter/greeter"}, refs)
}
