package transform

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

func obj(t *testing.T, y string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	require.NoError(t, yaml.Unmarshal([]byte(y), &u.Object))
	return u
}

func TestNoHostPortsAndNoServiceTypeLeaveTheRest(t *testing.T) {
	t.Parallel()
	dep := obj(t, `
apiVersion: apps/v1
kind: Deployment
metadata: {name: c, namespace: ns}
spec:
  template:
    spec:
      containers:
      - name: c
        ports:
        - {name: http, containerPort: 80, hostPort: 80}
        - {name: metrics, containerPort: 9000}
`)
	svc := obj(t, `
apiVersion: v1
kind: Service
metadata: {name: c, namespace: ns}
spec:
  type: NodePort
  ports:
  - {name: http, port: 80, targetPort: http, nodePort: 30080}
`)
	other := obj(t, `
apiVersion: v1
kind: Service
metadata: {name: other, namespace: ns}
spec: {type: NodePort}
`)
	require.NoError(t, Apply([]*unstructured.Unstructured{dep, svc, other},
		NoHostPorts(Target{Kind: "Deployment", Namespace: "ns", Name: "c"}),
		NoServiceType(Target{Kind: "Service", Namespace: "ns", Name: "c"})))
	ports, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	assert.Equal(t, []any{map[string]any{"name": "http", "containerPort": float64(80)}, map[string]any{"name": "metrics", "containerPort": float64(9000)}},
		ports[0].(map[string]any)["ports"])
	_, hasType, _ := unstructured.NestedString(svc.Object, "spec", "type")
	assert.False(t, hasType)
	sp, _, _ := unstructured.NestedSlice(svc.Object, "spec", "ports")
	assert.Equal(t, map[string]any{"name": "http", "port": float64(80), "targetPort": "http"}, sp[0])
	typ, _, _ := unstructured.NestedString(other.Object, "spec", "type")
	assert.Equal(t, "NodePort", typ, "another Service keeps its type")
}

func TestIngressClassNameSetsEveryIngressAndOnlyThem(t *testing.T) {
	t.Parallel()
	ing := obj(t, `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: ns}
spec: {ingressClassName: nginx}
`)
	svc := obj(t, `
apiVersion: v1
kind: Service
metadata: {name: web, namespace: ns}
spec: {type: ClusterIP}
`)
	require.NoError(t, Apply([]*unstructured.Unstructured{ing, svc}, IngressClassName("")))
	class, _, _ := unstructured.NestedString(ing.Object, "spec", "ingressClassName")
	assert.Equal(t, "nginx", class, "no class given: kindstack's own")
	require.NoError(t, Apply([]*unstructured.Unstructured{ing, svc}, IngressClassName("traefik")))
	class, _, _ = unstructured.NestedString(ing.Object, "spec", "ingressClassName")
	assert.Equal(t, "traefik", class)
	_, found, _ := unstructured.NestedString(svc.Object, "spec", "ingressClassName")
	assert.False(t, found)
}
