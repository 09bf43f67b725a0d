package kube

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery/cached/memory"
	fakediscovery "k8s.io/client-go/discovery/fake"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/restmapper"
)

// fakeClient is a Client on fake clients that serve ConfigMaps and Deployments holding objs.
func fakeClient(t *testing.T, objs ...*unstructured.Unstructured) *Client {
	t.Helper()
	kube := k8sfake.NewClientset()
	disco, ok := kube.Discovery().(*fakediscovery.FakeDiscovery)
	require.True(t, ok)
	disco.Resources = []*metav1.APIResourceList{
		{GroupVersion: "v1", APIResources: []metav1.APIResource{{Name: "configmaps", Namespaced: true, Kind: "ConfigMap"}}},
		{GroupVersion: "apps/v1", APIResources: []metav1.APIResource{{Name: "deployments", Namespaced: true, Kind: "Deployment"}}},
	}
	var live []runtime.Object
	for _, o := range objs {
		live = append(live, o.DeepCopy())
	}
	return &Client{
		kube:    kube,
		dynamic: dynamicfake.NewSimpleDynamicClient(runtime.NewScheme(), live...),
		mapper:  restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disco)),
	}
}

func configMap(name string, finalizers ...string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("v1")
	u.SetKind("ConfigMap")
	u.SetNamespace("app")
	u.SetName(name)
	u.SetFinalizers(finalizers)
	return u
}

// rollout is a Deployment whose rollout has the given Progressing condition.
func rollout(name string, progressing metav1.ConditionStatus, reason string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": name, "namespace": "app", "generation": int64(1)},
		"spec":     map[string]any{"replicas": int64(1)},
		"status": map[string]any{
			"observedGeneration": int64(1), "replicas": int64(1), "updatedReplicas": int64(1),
			"conditions": []any{map[string]any{"type": "Progressing", "status": string(progressing), "reason": reason, "message": "rollout " + reason}},
		},
	}}
	return u
}

func TestWaitTimesOutNamingEveryObjectAndGateNotReady(t *testing.T) {
	t.Parallel()
	rolling := rollout("web", metav1.ConditionTrue, "ReplicaSetUpdated")
	c := fakeClient(t, rolling, configMap("settings"))
	never := Gate{Name: "web answers", Check: func(context.Context, *Client) (Result, error) {
		return Result{Reason: "503 from the ingress"}, nil
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 1200*time.Millisecond)
	defer cancel()
	err := c.Wait(ctx, Set{Name: "app", Objects: []*unstructured.Unstructured{rolling, configMap("settings"), configMap("missing")}, Gates: []Gate{never}})
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded, "a wait timeout is an error")
	assert.Contains(t, err.Error(), "wait for app: timed out after")
	assert.Contains(t, err.Error(), "3 of 4 still not ready")
	assert.Contains(t, err.Error(), "Deployment/app/web not ready: InProgress")
	assert.Contains(t, err.Error(), "ConfigMap/app/missing not ready: not found")
	assert.Contains(t, err.Error(), "web answers not ready: 503 from the ingress")
	assert.NotContains(t, err.Error(), "ConfigMap/app/settings", "a ready object is not named")
}

func TestWaitSaysAtOnceWhatWillNeverBeReady(t *testing.T) {
	t.Parallel()
	stuck := rollout("web", metav1.ConditionFalse, "ProgressDeadlineExceeded")
	broken := Gate{Name: "web answers", Check: func(context.Context, *Client) (Result, error) {
		return Result{}, errors.New("no ingress class")
	}}
	tests := []struct {
		name string
		set  Set
		want string
	}{
		{"an object kstatus calls Failed", Set{Name: "app", Objects: []*unstructured.Unstructured{stuck}}, "wait for app: Deployment/app/web not ready: failed: Failed: Progress deadline exceeded"},
		{"a gate that cannot be checked", Set{Name: "app", Objects: []*unstructured.Unstructured{configMap("settings")}, Gates: []Gate{broken}}, "wait for app: check web answers: no ingress class"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := fakeClient(t, stuck, configMap("settings"))
			start := time.Now()
			err := c.Wait(context.Background(), tt.set)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.Less(t, time.Since(start), 5*time.Second, "it did not wait")
		})
	}
}

func TestWaitStopsWhenAGateAnswersWrongForItsGrace(t *testing.T) {
	t.Parallel()
	c := fakeClient(t, configMap("settings"))
	wrong := Gate{Name: "APIService/v1beta1.metrics.k8s.io", Check: func(context.Context, *Client) (Result, error) {
		return Result{Reason: "bad status: 404", HopelessAfter: 1500 * time.Millisecond}, nil
	}}
	start := time.Now()
	err := c.Wait(context.Background(), Set{Name: "metrics-server", Objects: []*unstructured.Unstructured{configMap("settings")}, Gates: []Gate{wrong}})
	require.Error(t, err)
	assert.Equal(t, "wait for metrics-server: APIService/v1beta1.metrics.k8s.io not ready: bad status: 404 (for 1.5s, while everything it needs was ready)", err.Error())
	assert.NotErrorIs(t, err, context.DeadlineExceeded, "a verdict, not a timeout")
	assert.Less(t, time.Since(start), 5*time.Second, "it did not wait for a deadline")
}

func TestWaitReturnsOnceEverythingIsReady(t *testing.T) {
	t.Parallel()
	c := fakeClient(t, configMap("settings"))
	checks := 0
	flaky := Gate{Name: "web answers", Check: func(context.Context, *Client) (Result, error) {
		checks++
		return Result{Ready: checks > 1, Reason: "connection refused"}, nil
	}}
	require.NoError(t, c.Wait(context.Background(), Set{Name: "app", Objects: []*unstructured.Unstructured{configMap("settings")}, Gates: []Gate{flaky}}))
	assert.Equal(t, 2, checks, "a gate not ready yet is asked again")
}

func TestWaitGoneNamesWhatIsStillThereAndWhatHoldsIt(t *testing.T) {
	t.Parallel()
	c := fakeClient(t, configMap("held", "example.com/cleanup"))
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	err := c.waitGone(ctx, []Ref{RefOf(configMap("held")), RefOf(configMap("gone"))})
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "prune: 1 objects not gone")
	assert.Contains(t, err.Error(), "ConfigMap/app/held: still there (finalizers: example.com/cleanup)")

	require.NoError(t, c.waitGone(context.Background(), []Ref{RefOf(configMap("gone"))}), "nothing to wait for")
}
