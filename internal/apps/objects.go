package apps

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"helm.sh/helm/v4/pkg/action"
	chartloader "helm.sh/helm/v4/pkg/chart/loader"
	valuesloader "helm.sh/helm/v4/pkg/chart/v2/loader"
	releasev1 "helm.sh/helm/v4/pkg/release/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/kindstack/kindstack/internal/config"
	"github.com/kindstack/kindstack/internal/kube"
)

// kustomizationFiles are the names kustomize looks for in a directory.
var kustomizationFiles = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// objectsOf makes the app's objects: a chart rendered, a Kustomization built, or the manifests of
// a directory (or one file) read; then every namespaced object without a namespace is put in the
// app's namespace, and that namespace is made when the app does not make it itself.
func objectsOf(a config.App) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	var err error
	switch {
	case a.Chart != "":
		if err := exists(a, "chart", a.Chart); err != nil {
			return nil, err
		}
		objs, err = renderChart(a, a.Chart)
	default:
		if err := exists(a, "path", a.Path); err != nil {
			return nil, err
		}
		objs, err = readPath(a)
	}
	if err != nil {
		return nil, err
	}
	return inNamespace(objs, namespaceOf(a)), nil
}

func namespaceOf(a config.App) string {
	if a.Namespace != "" {
		return a.Namespace
	}
	return a.Name
}

// readPath reads what a path holds: a Kustomization, a chart (only through --app, which takes
// any), a directory of manifests, or one manifest file.
func readPath(a config.App) ([]*unstructured.Unstructured, error) {
	info, err := os.Stat(a.Path)
	if err != nil {
		return nil, fmt.Errorf("%s: app %q: %w", a.Where("path"), a.Name, err)
	}
	isChart := strings.HasSuffix(a.Path, ".tgz") && !info.IsDir()
	if info.IsDir() {
		if _, err := os.Stat(filepath.Join(a.Path, "Chart.yaml")); err == nil {
			isChart = true
		}
	}
	switch {
	case isChart && a.Flag != "":
		return renderChart(a, a.Path)
	case isChart:
		return nil, fmt.Errorf("%s: app %q: %s is a Helm chart; write `chart: %s` instead of `path:`", a.Where("path"), a.Name, a.Path, a.Path)
	case !info.IsDir():
		data, err := os.ReadFile(a.Path)
		if err != nil {
			return nil, fmt.Errorf("%s: app %q: %w", a.Where("path"), a.Name, err)
		}
		return decode(a, a.Path, data)
	}
	for _, name := range kustomizationFiles {
		if _, err := os.Stat(filepath.Join(a.Path, name)); err == nil {
			return kustomize(a)
		}
	}
	entries, err := os.ReadDir(a.Path)
	if err != nil {
		return nil, fmt.Errorf("%s: app %q: %w", a.Where("path"), a.Name, err)
	}
	var objs []*unstructured.Unstructured
	read := 0
	for _, e := range entries { // in name order, like kubectl apply -f DIR
		ext := filepath.Ext(e.Name())
		if e.IsDir() || (ext != ".yaml" && ext != ".yml" && ext != ".json") {
			continue
		}
		file := filepath.Join(a.Path, e.Name())
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("%s: app %q: %w", a.Where("path"), a.Name, err)
		}
		more, err := decode(a, file, data)
		if err != nil {
			return nil, err
		}
		objs = append(objs, more...)
		read++
	}
	if read == 0 {
		return nil, fmt.Errorf("%s: app %q: %s holds no .yaml, .yml or .json file and no kustomization.yaml", a.Where("path"), a.Name, a.Path)
	}
	return objs, nil
}

func decode(a config.App, source string, data []byte) ([]*unstructured.Unstructured, error) {
	objs, err := kube.Decode(source, data)
	if err != nil {
		return nil, fmt.Errorf("%s: app %q: %w", a.Where("path"), a.Name, err)
	}
	return objs, nil
}

// kustomize builds the Kustomization at the app's path as `kubectl kustomize` does (krusty with
// its default options: files outside the directory's tree are refused, no plugins, no Helm).
func kustomize(a config.App) ([]*unstructured.Unstructured, error) {
	fail := func(err error) error {
		return fmt.Errorf("%s: app %q: the Kustomization %s does not build: %w", a.Where("path"), a.Name, a.Path, err)
	}
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), a.Path)
	if err != nil {
		return nil, fail(err)
	}
	data, err := res.AsYaml()
	if err != nil {
		return nil, fail(err)
	}
	return decode(a, a.Path, data)
}

// renderChart renders a Helm chart (a directory or a .tgz) as `helm template` does, with the app's
// name as the release name and its namespace as the release namespace: the chart's templates,
// the CRDs of its crds/ directory, and its hooks except tests, as ordinary objects. Values: each
// values file in order, then the inline values on top (like helm's -f, then --set).
func renderChart(a config.App, chart string) ([]*unstructured.Unstructured, error) {
	field := "chart"
	if a.Chart == "" {
		field = "path"
	}
	vals := map[string]any{}
	for _, f := range a.ValuesFiles {
		if err := exists(a, "valuesFiles", f); err != nil {
			return nil, err
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("%s: app %q: %w", a.Where("valuesFiles"), a.Name, err)
		}
		more, err := valuesloader.LoadValues(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("%s: app %q: values file %s is not YAML: %w", a.Where("valuesFiles"), a.Name, f, errors.Unwrap(err))
		}
		vals = valuesloader.MergeMaps(vals, more)
	}
	if len(a.Values) > 0 {
		vals = valuesloader.MergeMaps(vals, a.Values)
	}
	fail := func(err error) error {
		return fmt.Errorf("%s: app %q: the chart %s does not render: %w", a.Where(field), a.Name, chart, err)
	}
	ch, err := chartloader.Load(chart)
	if err != nil {
		return nil, fail(err)
	}
	install := action.NewInstall(action.NewConfiguration(action.ConfigurationSetLogger(slog.DiscardHandler)))
	install.DryRunStrategy = action.DryRunClient // render only: no cluster, no release stored
	install.ReleaseName = a.Name
	install.Namespace = namespaceOf(a)
	install.Replace = true
	install.IncludeCRDs = true
	rel, err := install.RunWithContext(context.Background(), ch, vals)
	if err != nil {
		return nil, fail(err)
	}
	r, ok := rel.(*releasev1.Release)
	if !ok {
		return nil, fail(fmt.Errorf("unexpected release type %T", rel))
	}
	var out bytes.Buffer
	out.WriteString(r.Manifest)
	hooks := slices.Clone(r.Hooks)
	sort.SliceStable(hooks, func(i, j int) bool { return hooks[i].Weight < hooks[j].Weight })
	for _, h := range hooks {
		if slices.Contains(h.Events, releasev1.HookTest) {
			continue
		}
		fmt.Fprintf(&out, "\n---\n%s\n", h.Manifest)
	}
	objs, err := kube.Decode(chart, out.Bytes())
	if err != nil {
		return nil, fail(err)
	}
	return objs, nil
}

// clusterScoped are the built-in kinds that have no namespace, by group.
var clusterScoped = map[string][]string{
	"":                             {"Namespace", "Node", "PersistentVolume", "ComponentStatus"},
	"rbac.authorization.k8s.io":    {"ClusterRole", "ClusterRoleBinding"},
	"apiextensions.k8s.io":         {"CustomResourceDefinition"},
	"apiregistration.k8s.io":       {"APIService"},
	"admissionregistration.k8s.io": {"ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding"},
	"storage.k8s.io":               {"StorageClass", "CSIDriver", "CSINode", "VolumeAttachment", "VolumeAttributesClass"},
	"scheduling.k8s.io":            {"PriorityClass"},
	"node.k8s.io":                  {"RuntimeClass"},
	"networking.k8s.io":            {"IngressClass", "IPAddress", "ServiceCIDR"},
	"gateway.networking.k8s.io":    {"GatewayClass"},
	"certificates.k8s.io":          {"CertificateSigningRequest", "ClusterTrustBundle"},
	"flowcontrol.apiserver.k8s.io": {"FlowSchema", "PriorityLevelConfiguration"},
	"resource.k8s.io":              {"DeviceClass"},
}

// inNamespace puts every namespaced object without a namespace into ns (kinds the app defines
// itself as cluster-scoped CRDs stay without one), and adds the Namespace ns when an object lands
// there and the app does not make it.
func inNamespace(objs []*unstructured.Unstructured, ns string) []*unstructured.Unstructured {
	scoped := func(group, kind string) bool { return slices.Contains(clusterScoped[group], kind) }
	for _, o := range objs {
		if o.GetKind() != "CustomResourceDefinition" {
			continue
		}
		scope, _, _ := unstructured.NestedString(o.Object, "spec", "scope")
		group, _, _ := unstructured.NestedString(o.Object, "spec", "group")
		kind, _, _ := unstructured.NestedString(o.Object, "spec", "names", "kind")
		if scope == "Cluster" {
			prev := scoped
			scoped = func(g, k string) bool { return (g == group && k == kind) || prev(g, k) }
		}
	}
	used, made := false, false
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		if scoped(gvk.Group, gvk.Kind) {
			if gvk.Group == "" && gvk.Kind == "Namespace" && o.GetName() == ns {
				made = true
			}
			continue
		}
		if o.GetNamespace() == "" {
			o.SetNamespace(ns)
		}
		if o.GetNamespace() == ns {
			used = true
		}
	}
	if !used || made {
		return objs
	}
	namespace := &unstructured.Unstructured{}
	namespace.SetAPIVersion("v1")
	namespace.SetKind("Namespace")
	namespace.SetName(ns)
	return append([]*unstructured.Unstructured{namespace}, objs...)
}
