package kube

import (
	"context"
	"fmt"
	"sort"
	"strings"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
)

// APIServiceAvailable passes when the APIService's condition Available is True (the aggregator
// reached the service behind it). Otherwise the reason is the condition's reason and message.
func APIServiceAvailable(name string) Gate {
	return Gate{
		Name: "APIService/" + name,
		Check: func(ctx context.Context, c *Client) (Result, error) {
			apiServices := schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}
			u, err := c.dynamic.Resource(apiServices).Get(ctx, name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return Result{Reason: "APIService " + name + " not found"}, nil
			}
			if err != nil {
				return Result{Reason: "cannot read it: " + err.Error()}, nil
			}
			return apiServiceResult(u), nil
		},
	}
}

func apiServiceResult(u *unstructured.Unstructured) Result {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, raw := range conds {
		c, ok := raw.(map[string]any)
		if !ok || c["type"] != "Available" {
			continue
		}
		if c["status"] == "True" {
			return Result{Ready: true}
		}
		res := Result{Reason: fmt.Sprintf("Available=%v (%v): %v", c["status"], c["reason"], c["message"])}
		// The aggregator reached the API's server, which answered its discovery request with an
		// error status (kube-aggregator's "bad status from URL: CODE"): a server that is Ready and
		// still does not serve the API it registered will not start to by waiting.
		if msg, _ := c["message"].(string); c["reason"] == "FailedDiscoveryCheck" && strings.Contains(msg, "bad status from") {
			res.Reason += "; the server behind it answers, but not for this API"
			res.HopelessAfter = GraceAnswered
		}
		return res
	}
	return Result{Reason: "Available condition not reported yet"}
}

// WebhookServing passes when the ValidatingWebhookConfiguration's webhooks can be called: each
// service-backed webhook has a caBundle and its Service has at least one ready endpoint (per its
// EndpointSlices). Webhooks that name a URL are trusted to the apiserver's own retries; only their
// presence is checked. The reason names every missing piece.
func WebhookServing(vwcName string) Gate {
	return Gate{
		Name: "ValidatingWebhookConfiguration/" + vwcName,
		Check: func(ctx context.Context, c *Client) (Result, error) {
			vwc, err := c.kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, vwcName, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return Result{Reason: "ValidatingWebhookConfiguration " + vwcName + " not found"}, nil
			}
			if err != nil {
				return Result{Reason: "cannot read it: " + err.Error()}, nil
			}
			var missing []string
			checked := map[string]string{}
			for _, wh := range vwc.Webhooks {
				svc := wh.ClientConfig.Service
				if svc == nil {
					continue
				}
				if len(wh.ClientConfig.CABundle) == 0 {
					missing = append(missing, fmt.Sprintf("webhook %s has no caBundle (the certificate is not injected yet)", wh.Name))
				}
				key := svc.Namespace + "/" + svc.Name
				problem, seen := checked[key]
				if !seen {
					problem = serviceEndpointsProblem(ctx, c, svc.Namespace, svc.Name)
					checked[key] = problem
					if problem != "" {
						missing = append(missing, problem)
					}
				}
			}
			if len(missing) > 0 {
				return Result{Reason: strings.Join(missing, "; ")}, nil
			}
			return Result{Ready: true}, nil
		},
	}
}

// serviceEndpointsProblem returns "" when the Service exists and has a ready endpoint, else why not.
func serviceEndpointsProblem(ctx context.Context, c *Client, ns, name string) string {
	if _, err := c.kube.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Sprintf("service %s/%s not found", ns, name)
		}
		return fmt.Sprintf("cannot read service %s/%s: %v", ns, name, err)
	}
	slices, err := c.kube.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{
		LabelSelector: discoveryv1.LabelServiceName + "=" + name,
	})
	if err != nil {
		return fmt.Sprintf("cannot list endpoints of service %s/%s: %v", ns, name, err)
	}
	if !hasReadyEndpoint(slices.Items) {
		return fmt.Sprintf("service %s/%s has no ready endpoints (is the webhook's pod Ready?)", ns, name)
	}
	return ""
}

func hasReadyEndpoint(slices []discoveryv1.EndpointSlice) bool {
	for _, s := range slices {
		for _, ep := range s.Endpoints {
			// A nil Ready means unknown, which consumers are told to treat as ready.
			if len(ep.Addresses) > 0 && (ep.Conditions.Ready == nil || *ep.Conditions.Ready) {
				return true
			}
		}
	}
	return false
}

// HPAReportingMetrics passes when the HorizontalPodAutoscaler can compute a scale: condition
// ScalingActive is True, its status describes the workload as it runs now (a Deployment just
// re-created starts with one replica while the HPA still shows the old one's metrics) with at least
// minReplicas, and it reports a current value for its metrics (so the metrics pipeline works).
func HPAReportingMetrics(namespace, name string) Gate {
	return Gate{
		Name: "HorizontalPodAutoscaler/" + namespace + "/" + name + " metrics",
		Check: func(ctx context.Context, c *Client) (Result, error) {
			hpa, err := c.kube.AutoscalingV2().HorizontalPodAutoscalers(namespace).Get(ctx, name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return Result{Reason: "HorizontalPodAutoscaler " + namespace + "/" + name + " not found"}, nil
			}
			if err != nil {
				return Result{Reason: "cannot read it: " + err.Error()}, nil
			}
			running, err := c.targetReplicas(ctx, namespace, hpa.Spec.ScaleTargetRef)
			if err != nil {
				return Result{Reason: "cannot read its scale target: " + err.Error()}, nil
			}
			return hpaResult(hpa, running), nil
		},
	}
}

// targetReplicas is how many replicas the HPA's target runs now (the number the HPA controller
// reads as its current replicas), or nil for a kind whose scale subresource it does not know.
func (c *Client) targetReplicas(ctx context.Context, namespace string, ref autoscalingv2.CrossVersionObjectReference) (*int32, error) {
	var scale *autoscalingv1.Scale
	var err error
	switch ref.Kind {
	case "Deployment":
		scale, err = c.kube.AppsV1().Deployments(namespace).GetScale(ctx, ref.Name, metav1.GetOptions{})
	case "StatefulSet":
		scale, err = c.kube.AppsV1().StatefulSets(namespace).GetScale(ctx, ref.Name, metav1.GetOptions{})
	case "ReplicaSet":
		scale, err = c.kube.AppsV1().ReplicaSets(namespace).GetScale(ctx, ref.Name, metav1.GetOptions{})
	default:
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &scale.Status.Replicas, nil
}

// hpaResult judges the HPA's status; running is how many replicas its target runs now (nil: unknown).
func hpaResult(hpa *autoscalingv2.HorizontalPodAutoscaler, running *int32) Result {
	var active *autoscalingv2.HorizontalPodAutoscalerCondition
	for i := range hpa.Status.Conditions {
		if hpa.Status.Conditions[i].Type == autoscalingv2.ScalingActive {
			active = &hpa.Status.Conditions[i]
		}
	}
	switch {
	case active == nil:
		return Result{Reason: "ScalingActive not reported yet (the HPA controller has not evaluated it)"}
	case active.Status != corev1.ConditionTrue:
		return Result{Reason: fmt.Sprintf("ScalingActive=%s (%s): %s", active.Status, active.Reason, clip(active.Message))}
	case running != nil && *running != hpa.Status.CurrentReplicas:
		return Result{Reason: fmt.Sprintf("%s %s runs %d replicas, the HPA status still describes %d (not evaluated since)",
			hpa.Spec.ScaleTargetRef.Kind, hpa.Spec.ScaleTargetRef.Name, *running, hpa.Status.CurrentReplicas)}
	case hpa.Status.CurrentReplicas < ptr.Deref(hpa.Spec.MinReplicas, 1):
		return Result{Reason: fmt.Sprintf("%d replicas, scaling up to minReplicas %d", hpa.Status.CurrentReplicas, ptr.Deref(hpa.Spec.MinReplicas, 1))}
	}
	var missing []string
	for _, m := range hpa.Spec.Metrics {
		if !hasCurrentMetric(hpa.Status.CurrentMetrics, m) {
			missing = append(missing, metricName(m.Type, m.Resource, m.ContainerResource))
		}
	}
	if len(hpa.Status.CurrentMetrics) == 0 || len(missing) > 0 {
		sort.Strings(missing)
		return Result{Reason: "no current value for metrics: " + strings.Join(missing, ", ")}
	}
	return Result{Ready: true}
}

func hasCurrentMetric(current []autoscalingv2.MetricStatus, spec autoscalingv2.MetricSpec) bool {
	for _, cur := range current {
		if cur.Type != spec.Type {
			continue
		}
		switch spec.Type {
		case autoscalingv2.ResourceMetricSourceType:
			if spec.Resource != nil && cur.Resource != nil && cur.Resource.Name == spec.Resource.Name {
				return true
			}
		case autoscalingv2.ContainerResourceMetricSourceType:
			if spec.ContainerResource != nil && cur.ContainerResource != nil && cur.ContainerResource.Name == spec.ContainerResource.Name {
				return true
			}
		default:
			return true
		}
	}
	return false
}

func metricName(t autoscalingv2.MetricSourceType, r *autoscalingv2.ResourceMetricSource, cr *autoscalingv2.ContainerResourceMetricSource) string {
	switch {
	case r != nil:
		return string(r.Name)
	case cr != nil:
		return string(cr.Name)
	}
	return string(t)
}
