package cluster

import (
	"context"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// waitAPI polls the API server's /readyz until it answers ok, or budget or ctx ends.
func (m *Manager) waitAPI(ctx context.Context, kubeconfig []byte, budget time.Duration) error {
	if m.APIReady == nil {
		return nil
	}
	var last error
	err := wait.PollUntilContextTimeout(ctx, time.Second, budget, true, func(ctx context.Context) (bool, error) {
		last = m.APIReady(ctx, kubeconfig)
		return last == nil, nil
	})
	if err != nil {
		if last == nil {
			last = err
		}
		return fmt.Errorf("the API server is not ready after %s: %w", roundWait(budget), last)
	}
	return nil
}

// APIReadyz asks the API server's /readyz once.
func APIReadyz(ctx context.Context, kubeconfig []byte) error {
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		return err
	}
	cfg.Timeout = 5 * time.Second
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("GET /readyz: %w", err)
	}
	if strings.TrimSpace(string(body)) != "ok" {
		return fmt.Errorf("GET /readyz: %s", strings.TrimSpace(string(body)))
	}
	return nil
}

// WaitNodesReady polls until every node is Ready, and fails naming the unready ones when budget
// or ctx runs out (a timeout is an error, unlike kind's own wait).
func WaitNodesReady(ctx context.Context, client kubernetes.Interface, budget time.Duration) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, 2*time.Second, budget, true, func(ctx context.Context) (bool, error) {
		nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			last = "API server: " + err.Error()
			return false, nil
		}
		var unready []string
		for _, n := range nodeStatuses(nodes.Items) {
			if !n.Ready {
				unready = append(unready, n.Name+" ("+n.Reason+")")
			}
		}
		switch {
		case len(nodes.Items) == 0:
			last = "no nodes registered"
			return false, nil
		case len(unready) > 0:
			last = "not Ready: " + strings.Join(unready, ", ")
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("nodes not Ready after %s: %s: %w", roundWait(budget), last, err)
	}
	return nil
}

func roundWait(d time.Duration) time.Duration {
	if d < time.Second {
		return d
	}
	return d.Round(time.Second)
}
