package cluster

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// NodeStatus is one node as `status` reports it.
type NodeStatus struct {
	Name    string `json:"name"`
	Ready   bool   `json:"ready"`
	Reason  string `json:"reason,omitempty"` // why not Ready
	Version string `json:"kubeletVersion,omitempty"`
}

// Status is the cluster as `status` reports it. Its JSON shape is part of kindstack's interface.
type Status struct {
	Name        string       `json:"name"`
	Runtime     string       `json:"runtime,omitempty"`
	Exists      bool         `json:"exists"`
	Ready       bool         `json:"ready"` // exists and every node is Ready
	Context     string       `json:"context,omitempty"`
	Nodes       []NodeStatus `json:"nodes"`
	Spec        *Spec        `json:"spec,omitempty"`             // as stored at creation
	ToolVersion string       `json:"kindstackVersion,omitempty"` // kindstack version that created it
	Problem     string       `json:"problem,omitempty"`          // why it is not ready, one sentence
	Busy        string       `json:"busy,omitempty"`             // another kindstack is changing it now
	Kubeconfig  []byte       `json:"-"`                          // the cluster's kubeconfig, for component checks
}

// Status inspects the cluster without changing anything. Only a failure to look (no runtime) is an
// error; a missing or unready cluster is reported in the Status.
func (m *Manager) Status(ctx context.Context, name, kubeconfig string) (Status, error) {
	st := Status{Name: name, Nodes: []NodeStatus{}}
	if err := ValidateName(name); err != nil {
		return st, err
	}
	rt, _, err := m.engine(ctx, nil)
	if err != nil {
		return st, err
	}
	st.Runtime = rt.Name
	provider := m.NewProvider(rt, nil)
	names, err := provider.List()
	if err != nil {
		return st, fmt.Errorf("list kind clusters: %w", err)
	}
	if !slices.Contains(names, name) {
		st.Problem = fmt.Sprintf("cluster %q does not exist; run `kindstack up` to create it", name)
		return st, nil
	}
	st.Exists, st.Context = true, ContextName(name)
	pid, held := m.LockHolder(name)
	if held {
		st.Busy = fmt.Sprintf("another kindstack (pid %d) is changing this cluster right now", pid)
	}
	if mk, half := m.halfCreated(name); half {
		switch {
		case held:
			st.Busy = fmt.Sprintf("another kindstack (pid %d) is creating this cluster right now", pid)
		case m.identityOf(ctx, rt, name, mk.Nodes) == "":
			st.Problem = fmt.Sprintf("cluster %q was left half-created by an interrupted kindstack (pid %d); `kindstack up` deletes it and creates it again", name, mk.PID)
			return st, nil
		}
	}
	// A stopped or paused node answers nothing; say so at once instead of waiting on its API.
	if containers, err := m.nodeContainers(ctx, rt, name); err == nil {
		if stopped := stoppedNodes(containers); len(stopped) > 0 {
			for _, n := range stopped {
				st.Nodes = append(st.Nodes, NodeStatus{Name: n.Name, Reason: "its container is " + n.State})
			}
			st.Problem = notRunningError(rt, name, stopped).Error()
			return st, nil
		}
	}
	// The context `up` merged into the user's kubeconfig answers without asking kind, which reads
	// it from the node and looks up the host port (seven runtime commands); kind's is the fallback
	// when that context is gone or stale.
	kc, nodes := m.userKubeconfig(kubeconfig, name), (*corev1.NodeList)(nil)
	var client kubernetes.Interface
	if kc != nil {
		if client, err = m.NewClient(kc); err == nil {
			if nodes, err = client.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err != nil {
				nodes = nil
			}
		}
	}
	if nodes == nil {
		kc, client, err = m.connect(provider, name)
		if err != nil {
			st.Problem = err.Error()
			return st, nil
		}
		if nodes, err = client.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err != nil {
			st.Problem = fmt.Sprintf("the API server does not answer: %v", err)
			return st, nil
		}
	}
	st.Kubeconfig = kc
	st.Nodes = nodeStatuses(nodes.Items)
	st.Ready = len(st.Nodes) > 0
	for _, n := range st.Nodes {
		if !n.Ready {
			st.Ready = false
			st.Problem = fmt.Sprintf("node %s is not Ready: %s", n.Name, n.Reason)
		}
	}
	stored, err := ReadStoredSpec(ctx, client)
	switch {
	case err != nil:
		st.Ready = false
		st.Problem = err.Error()
	case stored != nil:
		st.Spec, st.ToolVersion = &stored.Spec, stored.Version
	case st.Problem == "":
		st.Problem = fmt.Sprintf("cluster %q was not created by kindstack (no ConfigMap %s/%s)", name, SpecNamespace, SpecConfigMap)
	}
	return st, nil
}

func nodeStatuses(items []corev1.Node) []NodeStatus {
	out := make([]NodeStatus, 0, len(items))
	for _, n := range items {
		ns := NodeStatus{Name: n.Name, Version: n.Status.NodeInfo.KubeletVersion, Reason: "no Ready condition yet"}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				ns.Ready = c.Status == corev1.ConditionTrue
				ns.Reason = ""
				if !ns.Ready {
					ns.Reason = strings.TrimSpace(c.Reason + ": " + c.Message)
				}
			}
		}
		out = append(out, ns)
	}
	return out
}
