package transform

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

const (
	controllerImage = "registry.k8s.io/ingress-nginx/controller:v1.15.1@sha256:594ceea76b01c592858f803f9ff4d2cb40542cae2060410b2c95f75907d659e1"
	certgenImage    = "registry.k8s.io/ingress-nginx/kube-webhook-certgen:v1.6.9@sha256:01038e7de14b78d702d2849c3aad72fd25903c4765af63cf16aa3398f5d5f2dd"
)

func TestImageMapLookup(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		images ImageMap
		image  string
		want   string // "" = no replacement
	}{
		{"exact reference with digest", ImageMap{controllerImage: "m/controller:1"}, controllerImage, "m/controller:1"},
		{"key without the digest matches the pinned image", ImageMap{"registry.k8s.io/ingress-nginx/controller:v1.15.1": "m/controller:1"}, controllerImage, "m/controller:1"},
		{"exact key wins over the key without digest", ImageMap{
			"registry.k8s.io/ingress-nginx/controller:v1.15.1": "loose",
			controllerImage: "exact",
		}, controllerImage, "exact"},
		{"another tag does not match", ImageMap{"registry.k8s.io/ingress-nginx/controller:v1.14.5": "m/c"}, controllerImage, ""},
		{"another digest does not match", ImageMap{"registry.k8s.io/ingress-nginx/controller:v1.15.1@sha256:" + strings.Repeat("0", 64): "m/c"}, controllerImage, ""},
		{"key without the tag does not match", ImageMap{"registry.k8s.io/ingress-nginx/controller": "m/c"}, controllerImage, ""},
		{"docker hub short and long names are the same", ImageMap{"docker.io/library/postgres:17-alpine": "m/pg:17"}, "postgres:17-alpine", "m/pg:17"},
		{"docker hub user image with explicit registry", ImageMap{"docker.io/lyzhang1999/backend:latest": "m/b"}, "lyzhang1999/backend:latest", "m/b"},
		{"no tag means latest", ImageMap{"lyzhang1999/backend": "m/b"}, "lyzhang1999/backend:latest", "m/b"},
		{"index.docker.io is docker hub", ImageMap{"index.docker.io/library/postgres:17-alpine": "m/pg"}, "postgres:17-alpine", "m/pg"},
		{"registry-1.docker.io is docker hub too", ImageMap{"registry-1.docker.io/library/postgres:17-alpine": "m/pg"}, "postgres:17-alpine", "m/pg"},
		{"docker hub official image named with library/", ImageMap{"library/postgres:17-alpine": "m/pg"}, "docker.io/library/postgres:17-alpine", "m/pg"},
		{"registry with a port", ImageMap{"localhost:5000/web:dev": "m/w"}, "localhost:5000/web:dev", "m/w"},
		{"a registry host is not a docker hub user", ImageMap{"quay.io/web:dev": "m/w"}, "web:dev", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.NoError(t, tt.images.Validate())
			got, ok := tt.images.Lookup(tt.image)
			assert.Equal(t, tt.want != "", ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestImageMapValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		images  ImageMap
		wantErr string
	}{
		{"empty map is fine", nil, ""},
		{"empty replacement", ImageMap{"postgres:17-alpine": " "}, `"postgres:17-alpine" has an empty replacement`},
		{"empty key", ImageMap{"": "x"}, "empty image name"},
		{"same image twice with different replacements", ImageMap{
			"postgres:17-alpine":                   "a",
			"docker.io/library/postgres:17-alpine": "b",
		}, "name the same image with different replacements"},
		{"same image twice with the same replacement is fine", ImageMap{
			"postgres:17-alpine":                   "a",
			"docker.io/library/postgres:17-alpine": "a",
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.images.Validate()
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			assert.ErrorContains(t, err, tt.wantErr)
		})
	}
}

const workloads = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: ingress-nginx-controller, namespace: ingress-nginx}
spec:
  template:
    spec:
      initContainers:
      - {name: init, image: "` + certgenImage + `", imagePullPolicy: Always}
      containers:
      - {name: controller, image: "` + controllerImage + `", imagePullPolicy: Always}
      - {name: sidecar, image: "busybox:1.36", imagePullPolicy: Always}
`

func containerField(t *testing.T, u *unstructured.Unstructured, path []string, list, name, field string) string {
	t.Helper()
	containers, _, err := unstructured.NestedSlice(u.Object, append(path, list)...)
	require.NoError(t, err)
	for _, c := range containers {
		m := c.(map[string]any)
		if m["name"] == name {
			s, _ := m[field].(string)
			return s
		}
	}
	t.Fatalf("no container %s in %s", name, list)
	return ""
}

func TestImages(t *testing.T) {
	t.Parallel()
	podTemplate := []string{"spec", "template", "spec"}
	tests := []struct {
		name      string
		manifest  string
		path      []string
		list      string
		container string
		images    ImageMap
		wantImage string
		wantPull  string
	}{
		{
			name:     "replaced container image gets IfNotPresent",
			manifest: workloads, path: podTemplate, list: "containers", container: "controller",
			images:    ImageMap{"registry.k8s.io/ingress-nginx/controller:v1.15.1": "localhost/controller:dev"},
			wantImage: "localhost/controller:dev", wantPull: "IfNotPresent",
		},
		{
			name:     "init containers are replaced too",
			manifest: workloads, path: podTemplate, list: "initContainers", container: "init",
			images:    ImageMap{certgenImage: "mirror.example/certgen:v1.6.9"},
			wantImage: "mirror.example/certgen:v1.6.9", wantPull: "IfNotPresent",
		},
		{
			name:     "other containers keep image and pull policy",
			manifest: workloads, path: podTemplate, list: "containers", container: "sidecar",
			images:    ImageMap{"registry.k8s.io/ingress-nginx/controller:v1.15.1": "localhost/controller:dev"},
			wantImage: "busybox:1.36", wantPull: "Always",
		},
		{
			name: "jobs",
			manifest: `
apiVersion: batch/v1
kind: Job
metadata: {name: create, namespace: ingress-nginx}
spec: {template: {spec: {containers: [{name: create, image: "` + certgenImage + `"}]}}}`,
			path: podTemplate, list: "containers", container: "create",
			images:    ImageMap{"registry.k8s.io/ingress-nginx/kube-webhook-certgen:v1.6.9": "m/certgen"},
			wantImage: "m/certgen", wantPull: "IfNotPresent",
		},
		{
			name: "cronjobs",
			manifest: `
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly, namespace: demo}
spec: {jobTemplate: {spec: {template: {spec: {containers: [{name: c, image: "postgres:17-alpine"}]}}}}}`,
			path: []string{"spec", "jobTemplate", "spec", "template", "spec"}, list: "containers", container: "c",
			images:    ImageMap{"postgres:17-alpine": "m/pg:17"},
			wantImage: "m/pg:17", wantPull: "IfNotPresent",
		},
		{
			name: "bare pods",
			manifest: `
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: demo}
spec: {containers: [{name: c, image: "lyzhang1999/backend:latest"}]}`,
			path: []string{"spec"}, list: "containers", container: "c",
			images:    ImageMap{"lyzhang1999/backend:latest": "localhost/backend:dev"},
			wantImage: "localhost/backend:dev", wantPull: "IfNotPresent",
		},
		{
			name: "a kind named Deployment in another group is not a workload",
			manifest: `
apiVersion: example.com/v1
kind: Deployment
metadata: {name: p, namespace: demo}
spec: {template: {spec: {containers: [{name: c, image: "postgres:17-alpine"}]}}}`,
			path: podTemplate, list: "containers", container: "c",
			images:    ImageMap{"postgres:17-alpine": "m/pg:17"},
			wantImage: "postgres:17-alpine", wantPull: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u := object(t, tt.manifest)
			require.NoError(t, Apply([]*unstructured.Unstructured{u}, Images(tt.images)))
			assert.Equal(t, tt.wantImage, containerField(t, u, tt.path, tt.list, tt.container, "image"))
			assert.Equal(t, tt.wantPull, containerField(t, u, tt.path, tt.list, tt.container, "imagePullPolicy"))
		})
	}
}

func TestImagesWithInvalidMapFails(t *testing.T) {
	t.Parallel()
	u := object(t, workloads)
	err := Apply([]*unstructured.Unstructured{u}, Images(ImageMap{"busybox:1.36": ""}))
	require.ErrorContains(t, err, "empty replacement")
	assert.Equal(t, "busybox:1.36", containerField(t, u, []string{"spec", "template", "spec"}, "containers", "sidecar", "image"))
}

func TestContainerImagesAndUnused(t *testing.T) {
	t.Parallel()
	objs := []*unstructured.Unstructured{
		object(t, workloads),
		object(t, `
apiVersion: batch/v1
kind: Job
metadata: {name: create, namespace: ingress-nginx}
spec: {template: {spec: {containers: [{name: create, image: "`+certgenImage+`"}]}}}`),
		object(t, `{apiVersion: v1, kind: ConfigMap, metadata: {name: c, namespace: d}, data: {image: "not-an-image:1"}}`),
	}
	images, err := ContainerImages(objs)
	require.NoError(t, err)
	assert.Equal(t, []string{"busybox:1.36", controllerImage, certgenImage}, images)

	m := ImageMap{
		"registry.k8s.io/ingress-nginx/controller:v1.15.1": "a", // used, without digest
		"docker.io/library/busybox:1.36":                   "b", // used, long form
		"registry.k8s.io/ingress-nginx/controler:v1.15.1":  "c", // typo
		"not-an-image:1": "d", // only in a ConfigMap
	}
	assert.Equal(t, []string{"not-an-image:1", "registry.k8s.io/ingress-nginx/controler:v1.15.1"}, m.Unused(images))
}
