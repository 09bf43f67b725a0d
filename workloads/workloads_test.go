package workloads

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kindstack/kindstack/internal/component"
	"github.com/kindstack/kindstack/internal/kube"
	"github.com/kindstack/kindstack/internal/transform"
)

func example(t *testing.T) kube.Set {
	t.Helper()
	set, err := Example().Build(component.Params{})
	require.NoError(t, err)
	return set
}

func find(t *testing.T, set kube.Set, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, u := range set.Objects {
		if u.GetKind() == kind && u.GetName() == name {
			return u
		}
	}
	t.Fatalf("example has no %s %s", kind, name)
	return nil
}

func onlyContainer(t *testing.T, u *unstructured.Unstructured) map[string]any {
	t.Helper()
	containers, _, err := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
	require.NoError(t, err)
	require.Len(t, containers, 1)
	return containers[0].(map[string]any)
}

func TestExampleObjectsAreTheTutorials(t *testing.T) {
	t.Parallel()
	set := example(t)
	assert.Equal(t, "example", set.Name)
	var got []string
	for _, u := range set.Objects {
		got = append(got, u.GetKind()+"/"+u.GetName())
		if u.GetKind() != "Namespace" {
			assert.Equal(t, Namespace, u.GetNamespace(), "%s/%s", u.GetKind(), u.GetName())
		}
	}
	assert.ElementsMatch(t, []string{
		"Namespace/example",
		"Secret/pg-credentials", "ConfigMap/pg-init-script", "Deployment/postgres", "Service/pg-service",
		"Deployment/backend", "Service/backend-service",
		"Deployment/frontend", "Service/frontend-service",
		"Ingress/frontend-ingress",
		"HorizontalPodAutoscaler/backend", "HorizontalPodAutoscaler/frontend",
	}, got)
	assert.Equal(t, "Namespace/example", got[0], "the namespace comes first")
}

func TestIngressPassesStrictPathValidation(t *testing.T) {
	t.Parallel()
	ing := find(t, example(t), "Ingress", "frontend-ingress")
	assert.Equal(t, "/$1", ing.GetAnnotations()["nginx.ingress.kubernetes.io/rewrite-target"])
	class, _, _ := unstructured.NestedString(ing.Object, "spec", "ingressClassName")
	assert.Equal(t, "nginx", class)

	rules, _, err := unstructured.NestedSlice(ing.Object, "spec", "rules")
	require.NoError(t, err)
	require.Len(t, rules, 1)
	_, hasHost := rules[0].(map[string]any)["host"]
	assert.False(t, hasHost, "any Host header (localhost, 127.0.0.1) must match")
	paths, _, err := unstructured.NestedSlice(rules[0].(map[string]any), "http", "paths")
	require.NoError(t, err)
	routes := map[string]string{}
	for _, p := range paths {
		m := p.(map[string]any)
		assert.Equal(t, "ImplementationSpecific", m["pathType"], "ingress-nginx >= 1.12 rejects %v with Prefix", m["path"])
		svc, _, _ := unstructured.NestedString(m, "backend", "service", "name")
		port, _, _ := unstructured.NestedInt64(m, "backend", "service", "port", "number")
		routes[m["path"].(string)] = svc + ":" + map[int64]string{3000: "3000", 5000: "5000"}[port]
	}
	assert.Equal(t, map[string]string{"/?(.*)": "frontend-service:3000", "/api/?(.*)": "backend-service:5000"}, routes)
}

func TestAutoscalers(t *testing.T) {
	t.Parallel()
	set := example(t)
	tests := []struct {
		name     string
		min, max int64
		targets  map[string]int64
	}{
		{"backend", 2, 10, map[string]int64{"cpu": 50, "memory": 50}},
		{"frontend", 2, 2, map[string]int64{"cpu": 80}},
	}
	for _, tt := range tests {
		hpa := find(t, set, "HorizontalPodAutoscaler", tt.name)
		minR, _, _ := unstructured.NestedInt64(hpa.Object, "spec", "minReplicas")
		maxR, _, _ := unstructured.NestedInt64(hpa.Object, "spec", "maxReplicas")
		assert.Equal(t, tt.min, minR, tt.name)
		assert.Equal(t, tt.max, maxR, tt.name)
		target, _, _ := unstructured.NestedString(hpa.Object, "spec", "scaleTargetRef", "name")
		assert.Equal(t, tt.name, target)
		metrics, _, err := unstructured.NestedSlice(hpa.Object, "spec", "metrics")
		require.NoError(t, err)
		got := map[string]int64{}
		for _, m := range metrics {
			name, _, _ := unstructured.NestedString(m.(map[string]any), "resource", "name")
			util, _, _ := unstructured.NestedInt64(m.(map[string]any), "resource", "target", "averageUtilization")
			got[name] = util
		}
		assert.Equal(t, tt.targets, got, tt.name)

		// The HPA owns the replica count; a replicas field would be reset on every apply.
		dep := find(t, set, "Deployment", tt.name)
		_, has, _ := unstructured.NestedFieldNoCopy(dep.Object, "spec", "replicas")
		assert.False(t, has, "Deployment %s must not set spec.replicas", tt.name)
		// Utilization is relative to requests.
		_, has, _ = unstructured.NestedFieldNoCopy(onlyContainer(t, dep), "resources", "requests", "cpu")
		assert.True(t, has, "Deployment %s needs a cpu request", tt.name)
	}
	var gates []string
	for _, g := range set.Gates {
		gates = append(gates, g.Name)
	}
	assert.Equal(t, []string{
		kube.HPAReportingMetrics(Namespace, "backend").Name,
		kube.HPAReportingMetrics(Namespace, "frontend").Name,
	}, gates)
}

func TestProbesMeanServing(t *testing.T) {
	t.Parallel()
	set := example(t)

	pg := onlyContainer(t, find(t, set, "Deployment", "postgres"))
	cmd, _, _ := unstructured.NestedStringSlice(pg, "readinessProbe", "exec", "command")
	require.NotEmpty(t, cmd)
	assert.Contains(t, cmd[len(cmd)-1], "pg_isready --host=127.0.0.1", "ready only when TCP connections are accepted")

	backend := onlyContainer(t, find(t, set, "Deployment", "backend"))
	for _, probe := range []string{"startupProbe", "readinessProbe", "livenessProbe"} {
		path, _, _ := unstructured.NestedString(backend, probe, "httpGet", "path")
		assert.Equal(t, "/healthy", path, "backend %s", probe)
	}

	frontend := onlyContainer(t, find(t, set, "Deployment", "frontend"))
	path, _, _ := unstructured.NestedString(frontend, "readinessProbe", "httpGet", "path")
	assert.Equal(t, "/", path)
	failures, _, _ := unstructured.NestedInt64(frontend, "startupProbe", "failureThreshold")
	period, _, _ := unstructured.NestedInt64(frontend, "startupProbe", "periodSeconds")
	assert.GreaterOrEqual(t, failures*period, int64(300), "the dev server compiles for minutes on a small machine")
	memLimit, _, _ := unstructured.NestedString(frontend, "resources", "limits", "memory")
	assert.Equal(t, "1Gi", memLimit)
}

func TestCredentialsComeFromTheSecret(t *testing.T) {
	t.Parallel()
	set := example(t)
	find(t, set, "Secret", "pg-credentials")
	tests := []struct {
		deployment string
		env        map[string]string // env name -> secret key
	}{
		{"postgres", map[string]string{"POSTGRES_USER": "username", "POSTGRES_PASSWORD": "password"}},
		{"backend", map[string]string{"DATABASE_USERNAME": "username", "DATABASE_PASSWORD": "password"}},
	}
	for _, tt := range tests {
		c := onlyContainer(t, find(t, set, "Deployment", tt.deployment))
		env, _, err := unstructured.NestedSlice(c, "env")
		require.NoError(t, err)
		got := map[string]string{}
		for _, e := range env {
			m := e.(map[string]any)
			secret, _, _ := unstructured.NestedString(m, "valueFrom", "secretKeyRef", "name")
			key, _, _ := unstructured.NestedString(m, "valueFrom", "secretKeyRef", "key")
			if secret == "pg-credentials" {
				got[m["name"].(string)] = key
			}
		}
		assert.Equal(t, tt.env, got, tt.deployment)
	}
}

func TestExampleImages(t *testing.T) {
	t.Parallel()
	images, err := Example().Images(component.Params{})
	require.NoError(t, err)
	assert.Equal(t, []string{"lyzhang1999/backend:latest", "lyzhang1999/frontend:latest", "postgres:17-alpine"}, images)

	images, err = Example().Images(component.Params{Images: transform.ImageMap{"docker.io/lyzhang1999/backend": "localhost/backend:dev"}})
	require.NoError(t, err)
	assert.Equal(t, []string{"localhost/backend:dev", "lyzhang1999/frontend:latest", "postgres:17-alpine"}, images)
}

func TestTheAutoscaledDeploymentsSpreadOverNodesButNeverWaitForOne(t *testing.T) {
	t.Parallel()
	set := example(t)
	for _, name := range []string{"backend", "frontend"} {
		d := find(t, set, "Deployment", name)
		spread, _, err := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "topologySpreadConstraints")
		require.NoError(t, err)
		require.Len(t, spread, 1, name)
		c := spread[0].(map[string]any)
		assert.Equal(t, "kubernetes.io/hostname", c["topologyKey"], name)
		assert.Equal(t, "ScheduleAnyway", c["whenUnsatisfiable"], "%s: a single node must still run every replica", name)
		selector, _, err := unstructured.NestedStringMap(c, "labelSelector", "matchLabels")
		require.NoError(t, err)
		want, _, err := unstructured.NestedStringMap(d.Object, "spec", "selector", "matchLabels")
		require.NoError(t, err)
		assert.Equal(t, want, selector, "%s: spread counts its own pods", name)
	}
}
