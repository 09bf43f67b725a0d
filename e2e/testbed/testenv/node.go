package testenv

import (
	"context"
	"fmt"
	"hash/fnv"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// NodeOptions describe a simulated node.
type NodeOptions struct {
	Name   string
	Labels map[string]string
}

// nodeSyncInterval is how often a simulated node looks at its pods and renews its lease.
const nodeSyncInterval = 250 * time.Millisecond

// StartNode registers a Node that reports Ready and, until ctx ends, plays its kubelet through the
// API — SIMULATED, no container runs: every pod the scheduler binds to it is marked Running with
// all containers started and Ready; pods being deleted are removed at once; its Lease is renewed
// so the node lifecycle controller keeps it Ready. It returns once the node is schedulable.
func StartNode(ctx context.Context, cs kubernetes.Interface, opts NodeOptions) error {
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: opts.Name, Labels: map[string]string{
			"kubernetes.io/hostname": opts.Name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
		}},
	}
	for k, v := range opts.Labels {
		node.Labels[k] = v
	}
	created, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("register node %s: %w", opts.Name, err)
	}
	sim := &simulatedNode{cs: cs, name: opts.Name, subnet: subnetOf(opts.Name)}
	created.Status = sim.status()
	if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("report node %s Ready: %w", opts.Name, err)
	}
	if err := sim.renewLease(ctx); err != nil {
		return err
	}
	// Admission taints a new node not-ready until the node lifecycle controller sees it Ready,
	// which can take its monitor period; wait for that so tests start from a schedulable node.
	if err := sim.waitUntainted(ctx); err != nil {
		return err
	}
	go sim.run(ctx)
	return nil
}

type simulatedNode struct {
	cs     kubernetes.Interface
	name   string
	subnet uint8
	nextIP uint8
}

// subnetOf spreads simulated nodes over 10.244.x.0/24 so their pod IPs differ.
func subnetOf(name string) uint8 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	return uint8(h.Sum32()%250) + 1
}

func (n *simulatedNode) ip() string { return fmt.Sprintf("10.243.0.%d", n.subnet) }

func (n *simulatedNode) status() corev1.NodeStatus {
	now := metav1.Now()
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("32"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	return corev1.NodeStatus{
		Capacity:    capacity,
		Allocatable: capacity,
		Phase:       corev1.NodeRunning,
		Conditions: []corev1.NodeCondition{{
			Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
			Message: "simulated by kindstack testenv", LastHeartbeatTime: now, LastTransitionTime: now,
		}},
		Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: n.ip()}, {Type: corev1.NodeHostName, Address: n.name}},
		NodeInfo:  corev1.NodeSystemInfo{KubeletVersion: "v1.33.13", OperatingSystem: "linux", Architecture: "amd64"},
	}
}

func (n *simulatedNode) waitUntainted(ctx context.Context) error {
	for {
		node, err := n.cs.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("read node %s: %w", n.name, err)
		}
		if len(node.Spec.Taints) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %s still tainted %v: %w", n.name, node.Spec.Taints, context.Cause(ctx))
		case <-time.After(nodeSyncInterval):
		}
	}
}

func (n *simulatedNode) renewLease(ctx context.Context) error {
	leases := n.cs.CoordinationV1().Leases("kube-node-lease")
	now := metav1.NewMicroTime(time.Now())
	lease, err := leases.Get(ctx, n.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = leases.Create(ctx, &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: n.name},
			Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To(n.name), LeaseDurationSeconds: ptr.To[int32](40), RenewTime: &now},
		}, metav1.CreateOptions{})
	} else if err == nil {
		lease.Spec.RenewTime = &now
		_, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("renew lease of node %s: %w", n.name, err)
	}
	return nil
}

// run plays the kubelet until ctx ends. Errors are transient (conflicts, a pod deleted meanwhile)
// and retried on the next round.
func (n *simulatedNode) run(ctx context.Context) {
	tick := time.NewTicker(nodeSyncInterval)
	defer tick.Stop()
	lastRenew := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if time.Since(lastRenew) > 10*time.Second {
			if n.renewLease(ctx) == nil {
				lastRenew = time.Now()
			}
		}
		pods, err := n.cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + n.name})
		if err != nil {
			continue
		}
		for i := range pods.Items {
			pod := &pods.Items[i]
			switch {
			case pod.DeletionTimestamp != nil:
				_ = n.cs.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
			case pod.Status.Phase == "" || pod.Status.Phase == corev1.PodPending:
				n.markRunning(pod)
				_, _ = n.cs.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
			}
		}
	}
}

// markRunning sets the status a kubelet reports once every container started and passed readiness.
func (n *simulatedNode) markRunning(pod *corev1.Pod) {
	now := metav1.Now()
	n.nextIP++
	if n.nextIP == 0 || n.nextIP == 255 {
		n.nextIP = 1
	}
	podIP := fmt.Sprintf("10.244.%d.%d", n.subnet, n.nextIP)
	st := &pod.Status
	st.Phase = corev1.PodRunning
	st.HostIP, st.HostIPs = n.ip(), []corev1.HostIP{{IP: n.ip()}}
	st.PodIP, st.PodIPs = podIP, []corev1.PodIP{{IP: podIP}}
	st.StartTime = &now
	var conds []corev1.PodCondition
	for _, c := range st.Conditions {
		if c.Type == corev1.PodScheduled {
			conds = append(conds, c)
		}
	}
	for _, t := range []corev1.PodConditionType{corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady} {
		conds = append(conds, corev1.PodCondition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: now})
	}
	st.Conditions = conds
	st.InitContainerStatuses = nil
	for i, c := range pod.Spec.InitContainers {
		st.InitContainerStatuses = append(st.InitContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: c.Image, Ready: true,
			ContainerID: fmt.Sprintf("containerd://simulated-%s-init-%d", pod.UID, i),
			State:       corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed", StartedAt: now, FinishedAt: now}},
		})
	}
	st.ContainerStatuses = nil
	for i, c := range pod.Spec.Containers {
		st.ContainerStatuses = append(st.ContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: c.Image, Ready: true, Started: ptr.To(true),
			ContainerID: fmt.Sprintf("containerd://simulated-%s-%d", pod.UID, i),
			State:       corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		})
	}
}
