package transform

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

func object(t *testing.T, manifest string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	require.NoError(t, yaml.Unmarshal([]byte(manifest), &u.Object))
	return u
}

const controller = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: ingress-nginx-controller, namespace: ingress-nginx}
spec:
  template:
    spec:
      nodeSelector: {kubernetes.io/os: linux}
      containers:
      - name: controller
        image: registry.k8s.io/ingress-nginx/controller:v1.15.1@sha256:594c
        args: [/nginx-ingress-controller, --ingress-class=nginx]
`

func TestNodeSelector(t *testing.T) {
	t.Parallel()
	target := Target{Kind: "Deployment", Namespace: "ingress-nginx", Name: "ingress-nginx-controller"}
	tests := []struct {
		name     string
		manifest string
		labels   map[string]string
		want     map[string]string
		wantErr  string
	}{
		{
			name:     "adds the label and keeps existing ones",
			manifest: controller,
			labels:   map[string]string{"ingress-ready": "true"},
			want:     map[string]string{"kubernetes.io/os": "linux", "ingress-ready": "true"},
		},
		{
			name:     "overwrites a key with another value",
			manifest: controller,
			labels:   map[string]string{"kubernetes.io/os": "windows"},
			want:     map[string]string{"kubernetes.io/os": "windows"},
		},
		{
			name: "creates the selector when there is none",
			manifest: `
apiVersion: apps/v1
kind: Deployment
metadata: {name: ingress-nginx-controller, namespace: ingress-nginx}
spec: {template: {spec: {containers: [{name: c, image: x}]}}}`,
			labels: map[string]string{"ingress-ready": "true"},
			want:   map[string]string{"ingress-ready": "true"},
		},
		{
			name: "leaves another deployment alone",
			manifest: `
apiVersion: apps/v1
kind: Deployment
metadata: {name: other, namespace: ingress-nginx}
spec: {template: {spec: {nodeSelector: {a: b}, containers: [{name: c, image: x}]}}}`,
			labels: map[string]string{"ingress-ready": "true"},
			want:   map[string]string{"a": "b"},
		},
		{
			name: "a target without pods is an error",
			manifest: `
apiVersion: v1
kind: Deployment
metadata: {name: ingress-nginx-controller, namespace: ingress-nginx}`,
			labels:  map[string]string{"ingress-ready": "true"},
			wantErr: "has no pod template",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u := object(t, tt.manifest)
			err := Apply([]*unstructured.Unstructured{u}, NodeSelector(target, tt.labels))
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				assert.ErrorContains(t, err, "Deployment/ingress-nginx/ingress-nginx-controller", "the error names the object")
				return
			}
			require.NoError(t, err)
			got, _, err := unstructured.NestedStringMap(u.Object, "spec", "template", "spec", "nodeSelector")
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestAppendArgs(t *testing.T) {
	t.Parallel()
	target := Target{Kind: "Deployment", Namespace: "ingress-nginx", Name: "ingress-nginx-controller"}
	tests := []struct {
		name      string
		container string
		args      []string
		want      []string
		wantErr   string
	}{
		{
			name:      "appends a new flag",
			container: "controller",
			args:      []string{"--v=2"},
			want:      []string{"/nginx-ingress-controller", "--ingress-class=nginx", "--v=2"},
		},
		{
			name:      "does not repeat a flag that is already there",
			container: "controller",
			args:      []string{"--ingress-class=nginx", "--v=2", "--v=2"},
			want:      []string{"/nginx-ingress-controller", "--ingress-class=nginx", "--v=2"},
		},
		{
			name:      "a missing container is an error",
			container: "sidecar",
			args:      []string{"--v=2"},
			wantErr:   `no container "sidecar"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u := object(t, controller)
			err := Apply([]*unstructured.Unstructured{u}, AppendArgs(target, tt.container, tt.args...))
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			containers, _, err := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
			require.NoError(t, err)
			got, _, err := unstructured.NestedStringSlice(containers[0].(map[string]any), "args")
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestApplyRunsAllAndJoinsErrors(t *testing.T) {
	t.Parallel()
	a := object(t, controller)
	b := object(t, `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: demo}
spec: {template: {spec: {containers: [{name: web, image: nginx}]}}}`)
	err := Apply([]*unstructured.Unstructured{a, b},
		AppendArgs(Target{Kind: "Deployment", Namespace: "ingress-nginx", Name: "ingress-nginx-controller"}, "nope", "--x"),
		AppendArgs(Target{Kind: "Deployment", Namespace: "demo", Name: "web"}, "nope", "--x"),
		Images(ImageMap{"nginx": "mirror.local/nginx:1"}),
	)
	require.Error(t, err)
	assert.ErrorContains(t, err, "Deployment/ingress-nginx/ingress-nginx-controller")
	assert.ErrorContains(t, err, "Deployment/demo/web")
	// The transforms after a failing one still ran.
	images, err := ContainerImages([]*unstructured.Unstructured{b})
	require.NoError(t, err)
	assert.Equal(t, []string{"mirror.local/nginx:1"}, images)
}

func TestLabelsMarkObjectsButNotPodTemplates(t *testing.T) {
	dep := object(t, `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: app, labels: {app: web, app.kubernetes.io/managed-by: helm}}
spec:
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: web:v1}]}
`)
	ns := object(t, `
apiVersion: v1
kind: Namespace
metadata: {name: app}
`)
	require.NoError(t, Apply([]*unstructured.Unstructured{dep, ns}, Labels(map[string]string{"app.kubernetes.io/managed-by": "kindstack", "kindstack.dev/component": "app"})))
	assert.Equal(t, map[string]string{"app": "web", "app.kubernetes.io/managed-by": "kindstack", "kindstack.dev/component": "app"}, dep.GetLabels())
	assert.Equal(t, map[string]string{"app.kubernetes.io/managed-by": "kindstack", "kindstack.dev/component": "app"}, ns.GetLabels())
	tmpl, _, err := unstructured.NestedStringMap(dep.Object, "spec", "template", "metadata", "labels")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"app": "web"}, tmpl, "pod templates (and so selectors) are left as they are")
}
