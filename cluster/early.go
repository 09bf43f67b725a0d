package cluster

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// configuredPoll is how often a cluster being created is asked whether its nodes are configured.
const configuredPoll = 250 * time.Millisecond

// configuredScript succeeds once kubeadm init has written the cluster's CA and containerd's CRI
// answers. kind's config action, which rewrites containerd's config and restarts it, runs before
// kubeadm init: from then on the node's containerd keeps running with its final configuration,
// and images can be imported while the control plane comes up. The CA alone is not enough: on
// the test bed, a node from a baked node image (bake.go) had the CA for 3 s while containerd's
// socket was not there yet, and every image asked for then counted as missing.
const configuredScript = "test -e /etc/kubernetes/pki/ca.crt && crictl info >/dev/null 2>&1"

// whenConfigured waits until every node of the cluster kind is creating runs containerd with its
// final configuration, and reports true; false when ctx ends first (create ends it when kind's
// create returns). kind configures every node, workers included, before `kubeadm init`, so the
// control-plane node passing configuredScript speaks for all of them (a worker has the CA only
// once it has joined, at the end of create).
func (m *Manager) whenConfigured(ctx context.Context, rt Runtime, cluster string) bool {
	controlPlane := cluster + "-control-plane" // kind's name for the first control-plane node
	err := wait.PollUntilContextCancel(ctx, configuredPoll, false, func(ctx context.Context) (bool, error) {
		_, err := m.Run(ctx, rt.Binary, "exec", controlPlane, "sh", "-c", configuredScript)
		return err == nil, nil
	})
	return err == nil
}

// inEveryNode runs script in every node of the cluster, in turn, and returns the first failure,
// naming its node and the script's last line of output.
func (m *Manager) inEveryNode(ctx context.Context, rt Runtime, cluster string, privileged bool, script string) error {
	nodes, err := m.someNodes(ctx, rt, cluster)
	if err != nil {
		return err
	}
	for _, n := range nodes {
		args := []string{"exec"}
		if privileged {
			args = append(args, "--privileged")
		}
		if out, err := m.Run(ctx, rt.Binary, append(args, n.Name, "sh", "-c", script)...); err != nil {
			if line := lastLine(out); line != "" {
				return fmt.Errorf("node %s: %s: %w", n.Name, line, err)
			}
			return fmt.Errorf("node %s: %w", n.Name, err)
		}
	}
	return nil
}

// proxyHealthzScript asks kube-proxy's health endpoint on the node: it answers 200 only once
// kube-proxy has written the Services' rules. A pod that calls a Service (the API server's
// 10.96.0.1 included) before that has its connection's first packet tracked without the rewrite
// to an endpoint, and the connection hangs until its dial times out: metrics-server started that
// early exits with "dial tcp 10.96.0.1:443: i/o timeout".
const proxyHealthzScript = "curl -fsS -m 2 -o /dev/null http://127.0.0.1:10256/healthz"

// KubeProxyHealthy asks every node of the cluster once whether kube-proxy has programmed the
// Services (proxyHealthzScript).
func (m *Manager) KubeProxyHealthy(ctx context.Context, rt Runtime, cluster string) error {
	if err := m.inEveryNode(ctx, rt, cluster, false, proxyHealthzScript); err != nil {
		return fmt.Errorf("kube-proxy has not programmed the Services yet: %w", err)
	}
	return nil
}

// forgetUnrepliedFlowsScript drops the node's connection-tracking entries that never got an
// answer. Pods started with the node (CoreDNS, and anything kindstack installed while kubeadm
// ran) called Services before kube-proxy had written their rules; their connections stay tracked
// without the rewrite, and every retry of those packets hangs the same way until the dial gives up
// (CoreDNS is then not Ready for about 35 s). Without the entries, the next retry goes through the
// rules. Failing to run it is harmless: the connections time out on their own.
const forgetUnrepliedFlowsScript = "conntrack -D --status UNREPLIED >/dev/null 2>&1 || true"

func (m *Manager) forgetUnrepliedFlows(ctx context.Context, rt Runtime, cluster string) {
	_ = m.inEveryNode(ctx, rt, cluster, true, forgetUnrepliedFlowsScript)
}

// waitProxy waits up to budget until ProxyReady passes, so nothing is installed before Services
// work.
func (m *Manager) waitProxy(ctx context.Context, rt Runtime, cluster string, budget time.Duration) error {
	if m.ProxyReady == nil {
		return nil
	}
	var last error
	err := wait.PollUntilContextTimeout(ctx, configuredPoll, budget, true, func(ctx context.Context) (bool, error) {
		last = m.ProxyReady(ctx, rt, cluster)
		return last == nil, nil
	})
	if err != nil {
		if last == nil {
			last = err
		}
		return fmt.Errorf("%w after %s", last, budget)
	}
	m.forgetUnrepliedFlows(ctx, rt, cluster)
	return nil
}
