package kube

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func obj(apiVersion, kind, namespace, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetNamespace(namespace)
	u.SetName(name)
	return u
}

func TestStagesOrderDefinitionsThenClassesThenTheRest(t *testing.T) {
	t.Parallel()
	in := []*unstructured.Unstructured{
		obj("networking.k8s.io/v1", "Ingress", "app", "web"),
		obj("apps/v1", "Deployment", "app", "web"),
		obj("networking.k8s.io/v1", "IngressClass", "", "nginx"),
		obj("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "", "crb"),
		obj("v1", "Namespace", "", "app"),
		obj("rbac.authorization.k8s.io/v1", "Role", "app", "role"),
		obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "widgets.kindstack.dev"),
		obj("scheduling.k8s.io/v1", "PriorityClass", "", "high"),
		obj("rbac.authorization.k8s.io/v1", "ClusterRole", "", "cr"),
		obj("kindstack.dev/v1", "Widget", "app", "w"),
	}
	var got [][]string
	for _, stage := range Stages(in) {
		var names []string
		for _, o := range stage {
			names = append(names, RefOf(o).String())
		}
		got = append(got, names)
	}
	assert.Equal(t, [][]string{
		{"ClusterRoleBinding/crb", "Namespace/app", "CustomResourceDefinition/widgets.kindstack.dev", "ClusterRole/cr"},
		{"IngressClass/nginx", "PriorityClass/high"},
		{"Ingress/app/web", "Deployment/app/web", "Role/app/role", "Widget/app/w"},
	}, got, "stages keep the input order within a stage")
}

func TestStagesLeaveOutEmptyStages(t *testing.T) {
	t.Parallel()
	stages := Stages([]*unstructured.Unstructured{obj("v1", "ConfigMap", "a", "b")})
	require.Len(t, stages, 1)
	assert.Equal(t, "ConfigMap/a/b", RefOf(stages[0][0]).String())
	assert.Empty(t, Stages(nil))
}

func TestActionOf(t *testing.T) {
	t.Parallel()
	live := func(rv string, replicas int64, managed bool) *unstructured.Unstructured {
		u := obj("apps/v1", "Deployment", "a", "web")
		u.SetResourceVersion(rv)
		u.Object["spec"] = map[string]any{"replicas": replicas}
		if managed {
			u.Object["metadata"].(map[string]any)["managedFields"] = []any{map[string]any{"manager": "kindstack"}}
		}
		return u
	}
	tests := []struct {
		name          string
		before, after *unstructured.Unstructured
		dryRun        bool
		want          Action
	}{
		{"did not exist", nil, live("5", 1, true), false, Created},
		{"did not exist, dry run", nil, live("", 1, true), true, Created},
		{"no write", live("5", 1, true), live("5", 1, true), false, Unchanged},
		{"spec changed", live("5", 1, true), live("6", 2, true), false, Configured},
		{"only ownership recorded", live("5", 1, false), live("6", 1, true), false, Unchanged},
		{"dry run of the same", live("5", 1, true), live("5", 1, true), true, Unchanged},
		{"dry run of a change", live("5", 1, true), live("5", 3, true), true, Configured},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, actionOf(tt.before, tt.after, tt.dryRun))
		})
	}
}

func TestIsWebhookUnavailable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		msg  string
		want bool
	}{
		{`Internal error occurred: failed calling webhook "validate.nginx.ingress.kubernetes.io": failed to call webhook: Post "https://ingress-nginx-controller-admission.ingress-nginx.svc:443/networking/v1/ingresses?timeout=10s": dial tcp 10.96.1.2:443: connect: connection refused`, true},
		{`Internal error occurred: failed calling webhook "validate.nginx.ingress.kubernetes.io": failed to call webhook: Post "https://x.svc:443/?timeout=10s": no endpoints available for service "ingress-nginx-controller-admission"`, true},
		{`Internal error occurred: failed calling webhook "v.example": failed to call webhook: Post "https://x.svc:443/": tls: failed to verify certificate: x509: certificate signed by unknown authority`, true},
		{`admission webhook "validate.nginx.ingress.kubernetes.io" denied the request: host "a" and path "/" is already defined`, false},
		{`Deployment.apps "web" is invalid: spec.template.spec.containers[0].image: Required value`, false},
		{`connection refused`, false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, IsWebhookUnavailable(fmt.Errorf("apply: %w", errors.New(tt.msg))), tt.msg)
	}
	assert.False(t, IsWebhookUnavailable(nil))
}
