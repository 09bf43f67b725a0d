package kube

import (
	"testing"

	"github.com/stretchr/testify/assert"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
)

func TestAPIServiceResult(t *testing.T) {
	t.Parallel()
	withCond := func(conds ...any) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{"status": map[string]any{"conditions": conds}}}
	}
	assert.Equal(t, Result{Ready: true}, apiServiceResult(withCond(map[string]any{"type": "Available", "status": "True"})))
	assert.Equal(t, Result{Reason: `Available=False (FailedDiscoveryCheck): failing or missing response from https://10.96.0.5:443/apis/metrics.k8s.io/v1beta1`},
		apiServiceResult(withCond(map[string]any{"type": "Available", "status": "False", "reason": "FailedDiscoveryCheck",
			"message": "failing or missing response from https://10.96.0.5:443/apis/metrics.k8s.io/v1beta1"})))
	assert.Equal(t, Result{Reason: "Available condition not reported yet"}, apiServiceResult(withCond()))
	// Podman on the test bed: metrics-server Ready, and the aggregator's discovery answered 404.
	assert.Equal(t, Result{Reason: "Available=False (FailedDiscoveryCheck): failing or missing response from https://10.96.0.5:443/apis/metrics.k8s.io/v1beta1: " +
		"bad status from https://10.96.0.5:443/apis/metrics.k8s.io/v1beta1: 404; the server behind it answers, but not for this API", HopelessAfter: GraceAnswered},
		apiServiceResult(withCond(map[string]any{"type": "Available", "status": "False", "reason": "FailedDiscoveryCheck",
			"message": "failing or missing response from https://10.96.0.5:443/apis/metrics.k8s.io/v1beta1: bad status from https://10.96.0.5:443/apis/metrics.k8s.io/v1beta1: 404"})))
	assert.Equal(t, Result{Reason: "Available=False (MissingEndpoints): endpoints for service/metrics-server have no addresses"},
		apiServiceResult(withCond(map[string]any{"type": "Available", "status": "False", "reason": "MissingEndpoints",
			"message": "endpoints for service/metrics-server have no addresses"})), "no server yet: it may come")
}

func TestHPAResult(t *testing.T) {
	t.Parallel()
	cpu := autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceCPU}}
	mem := autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceMemory}}
	cpuNow := autoscalingv2.MetricStatus{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricStatus{Name: corev1.ResourceCPU}}
	active := func(s corev1.ConditionStatus) []autoscalingv2.HorizontalPodAutoscalerCondition {
		return []autoscalingv2.HorizontalPodAutoscalerCondition{{Type: autoscalingv2.ScalingActive, Status: s, Reason: "FailedGetResourceMetric", Message: "unable to get metrics for resource cpu"}}
	}
	hpa := func(specs []autoscalingv2.MetricSpec, conds []autoscalingv2.HorizontalPodAutoscalerCondition, current ...autoscalingv2.MetricStatus) *autoscalingv2.HorizontalPodAutoscaler {
		return &autoscalingv2.HorizontalPodAutoscaler{
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{Metrics: specs, MinReplicas: ptr.To[int32](2),
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "backend"}},
			Status: autoscalingv2.HorizontalPodAutoscalerStatus{Conditions: conds, CurrentMetrics: current, CurrentReplicas: 2},
		}
	}
	withReplicas := func(h *autoscalingv2.HorizontalPodAutoscaler, n int32) *autoscalingv2.HorizontalPodAutoscaler {
		h.Status.CurrentReplicas = n
		return h
	}
	tests := []struct {
		name    string
		hpa     *autoscalingv2.HorizontalPodAutoscaler
		running *int32 // replicas the Deployment runs now
		want    Result
	}{
		{"not evaluated", hpa([]autoscalingv2.MetricSpec{cpu}, nil), nil, Result{Reason: "ScalingActive not reported yet (the HPA controller has not evaluated it)"}},
		{"no metrics API", hpa([]autoscalingv2.MetricSpec{cpu}, active(corev1.ConditionFalse)), nil,
			Result{Reason: "ScalingActive=False (FailedGetResourceMetric): unable to get metrics for resource cpu"}},
		{"one metric missing", hpa([]autoscalingv2.MetricSpec{cpu, mem}, active(corev1.ConditionTrue), cpuNow), nil,
			Result{Reason: "no current value for metrics: memory"}},
		{"reporting", hpa([]autoscalingv2.MetricSpec{cpu}, active(corev1.ConditionTrue), cpuNow), ptr.To[int32](2), Result{Ready: true}},
		{"reporting, target of a kind without a known scale", hpa([]autoscalingv2.MetricSpec{cpu}, active(corev1.ConditionTrue), cpuNow), nil, Result{Ready: true}},
		{"the status of a Deployment since re-created", hpa([]autoscalingv2.MetricSpec{cpu}, active(corev1.ConditionTrue), cpuNow), ptr.To[int32](1),
			Result{Reason: "Deployment backend runs 1 replicas, the HPA status still describes 2 (not evaluated since)"}},
		{"below minReplicas", withReplicas(hpa([]autoscalingv2.MetricSpec{cpu}, active(corev1.ConditionTrue)), 1), ptr.To[int32](1),
			Result{Reason: "1 replicas, scaling up to minReplicas 2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, hpaResult(tt.hpa, tt.running))
		})
	}
}

func TestHasReadyEndpoint(t *testing.T) {
	t.Parallel()
	slice := func(ready *bool, addrs ...string) discoveryv1.EndpointSlice {
		return discoveryv1.EndpointSlice{Endpoints: []discoveryv1.Endpoint{{Addresses: addrs, Conditions: discoveryv1.EndpointConditions{Ready: ready}}}}
	}
	assert.False(t, hasReadyEndpoint(nil), "no slices")
	assert.False(t, hasReadyEndpoint([]discoveryv1.EndpointSlice{slice(ptr.To(false), "10.0.0.1")}), "only an unready endpoint")
	assert.True(t, hasReadyEndpoint([]discoveryv1.EndpointSlice{slice(ptr.To(false), "10.0.0.1"), slice(ptr.To(true), "10.0.0.2")}))
	assert.True(t, hasReadyEndpoint([]discoveryv1.EndpointSlice{slice(nil, "10.0.0.3")}), "unknown readiness counts as ready")
	assert.False(t, hasReadyEndpoint([]discoveryv1.EndpointSlice{slice(ptr.To(true))}), "an endpoint without addresses")
}
