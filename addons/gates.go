package addons

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"k8s.io/client-go/rest"

	"github.com/kindstack/kindstack/internal/kube"
)

const nodeMetricsPath = "/apis/metrics.k8s.io/v1beta1/nodes"

// NodeMetricsServed is ready when the metrics API lists at least one node, i.e. metrics-server has
// scraped a kubelet: what `kubectl top nodes` and the autoscalers need. The APIService can be
// Available well before that.
func NodeMetricsServed() kube.Gate {
	return kube.Gate{
		Name: "node metrics served",
		Check: func(ctx context.Context, c *kube.Client) (kube.Result, error) {
			rc := c.Kubernetes().Discovery().RESTClient()
			if rc == nil {
				return kube.Result{}, errors.New("node metrics: the client has no REST client for raw requests")
			}
			return nodeMetrics(ctx, rc), nil
		},
	}
}

func nodeMetrics(ctx context.Context, rc rest.Interface) kube.Result {
	body, err := rc.Get().AbsPath(nodeMetricsPath).DoRaw(ctx)
	if err != nil {
		return kube.Result{Reason: fmt.Sprintf("GET %s: %v", nodeMetricsPath, err)}
	}
	var list struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return kube.Result{Reason: fmt.Sprintf("GET %s: unreadable answer: %v", nodeMetricsPath, err)}
	}
	if len(list.Items) == 0 {
		return kube.Result{Reason: "the metrics API lists no node yet: metrics-server has not scraped any kubelet " +
			"(see kubectl -n kube-system logs deploy/metrics-server)"}
	}
	return kube.Result{Ready: true}
}
