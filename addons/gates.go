package addons

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/kindstack/kindstack/internal/kube"
)

const nodeMetricsPath = "/apis/metrics.k8s.io/v1beta1/nodes"

// NodeMetricsServed is ready when the metrics API lists every node of the cluster, i.e.
// metrics-server has scraped each kubelet: what `kubectl top nodes` and the autoscalers need (a
// pod on a node not scraped has no metrics for its HPA). The APIService can be Available well
// before that.
func NodeMetricsServed() kube.Gate {
	return kube.Gate{
		Name: "node metrics served",
		Check: func(ctx context.Context, c *kube.Client) (kube.Result, error) {
			rc := c.Kubernetes().Discovery().RESTClient()
			if rc == nil {
				return kube.Result{}, errors.New("node metrics: the client has no REST client for raw requests")
			}
			nodes, err := c.Kubernetes().CoreV1().Nodes().List(ctx, metav1.ListOptions{})
			if err != nil {
				return kube.Result{Reason: fmt.Sprintf("list nodes: %v", err)}, nil
			}
			names := make([]string, 0, len(nodes.Items))
			for _, n := range nodes.Items {
				names = append(names, n.Name)
			}
			return nodeMetrics(ctx, rc, names), nil
		},
	}
}

func nodeMetrics(ctx context.Context, rc rest.Interface, nodes []string) kube.Result {
	body, err := rc.Get().AbsPath(nodeMetricsPath).DoRaw(ctx)
	if apierrors.IsNotFound(err) {
		// Before the APIService is Available the aggregator answers 503; a 404 while every object
		// is ready (the APIService too) means nothing routes the group to metrics-server, and
		// waiting does not change that.
		return kube.Result{Reason: fmt.Sprintf("GET %s: %v (404): the apiserver does not reach the metrics API "+
			"(see kubectl get apiservice v1beta1.metrics.k8s.io and kubectl -n kube-system logs deploy/metrics-server)", nodeMetricsPath, err),
			HopelessAfter: kube.GraceAnswered}
	}
	if err != nil {
		return kube.Result{Reason: fmt.Sprintf("GET %s: %v", nodeMetricsPath, err)}
	}
	var list struct {
		Items []struct {
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		} `json:"items"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return kube.Result{Reason: fmt.Sprintf("GET %s: unreadable answer: %v", nodeMetricsPath, err)}
	}
	if len(list.Items) == 0 {
		return kube.Result{Reason: "the metrics API lists no node yet: metrics-server has not scraped any kubelet " +
			"(see kubectl -n kube-system logs deploy/metrics-server)"}
	}
	served := map[string]bool{}
	for _, item := range list.Items {
		served[item.Metadata.Name] = true
	}
	var missing []string
	for _, n := range nodes {
		if !served[n] {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return kube.Result{Reason: fmt.Sprintf("the metrics API lists %d of %d nodes; not yet %s: metrics-server has not scraped their kubelets "+
			"(see kubectl -n kube-system logs deploy/metrics-server)", len(nodes)-len(missing), len(nodes), strings.Join(missing, ", "))}
	}
	return kube.Result{Ready: true}
}
