package kube

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

const (
	// maxPodsDescribed bounds how many unready pods one workload's diagnosis describes.
	maxPodsDescribed = 3
	// maxEvents is how many of the latest warning events a diagnosis shows.
	maxEvents = 3
	// maxMessage bounds one message quoted from the cluster.
	maxMessage = 400
)

// involved names an object events can be about.
type involved struct{ kind, name string }

// diagnose explains why a workload is not ready from its pods and warning events. Other kinds get
// their own warning events only. Errors reading the cluster become a line of the diagnosis: it is
// best effort and never hides the kstatus reason it complements.
func (c *Client) diagnose(ctx context.Context, live *unstructured.Unstructured) []string {
	ns := live.GetNamespace()
	subjects := []involved{{live.GetKind(), live.GetName()}}
	var pods []corev1.Pod
	var lines []string
	if isWorkload(live) && ns != "" {
		sel, err := podSelector(live)
		if err != nil {
			lines = append(lines, "cannot read its pod selector: "+err.Error())
		} else {
			list, err := c.kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
			if err != nil {
				lines = append(lines, "cannot list its pods: "+err.Error())
			} else {
				pods = list.Items
			}
			if live.GetKind() == "Deployment" {
				// ReplicaSets carry the events that say why pods were not even created (quota, admission).
				rsList, err := c.kube.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
				if err == nil {
					subjects = append(subjects, ownedReplicaSets(live, rsList.Items)...)
				}
			}
		}
	}
	for _, p := range pods {
		subjects = append(subjects, involved{"Pod", p.Name})
	}
	// One list per namespace is cheaper than one per subject; a cluster-scoped object's events
	// may be in any namespace, so ask for them by name.
	fieldSelector := "type=Warning"
	if ns == "" {
		fieldSelector += ",involvedObject.name=" + live.GetName()
	}
	var events []corev1.Event
	list, err := c.kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: fieldSelector})
	if err != nil {
		lines = append(lines, "cannot list events: "+err.Error())
	} else {
		events = list.Items
	}
	return append(lines, describeWorkload(pods, subjects, events)...)
}

func isWorkload(u *unstructured.Unstructured) bool {
	gvk := u.GroupVersionKind()
	switch {
	case gvk.Group == "apps":
		return gvk.Kind == "Deployment" || gvk.Kind == "StatefulSet" || gvk.Kind == "DaemonSet" || gvk.Kind == "ReplicaSet"
	case gvk.Group == "batch":
		return gvk.Kind == "Job"
	}
	return false
}

// podSelector returns the workload's spec.selector as a label selector string.
func podSelector(u *unstructured.Unstructured) (string, error) {
	raw, found, err := unstructured.NestedMap(u.Object, "spec", "selector")
	if err != nil || !found {
		return "", fmt.Errorf("spec.selector missing")
	}
	var ls metav1.LabelSelector
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &ls); err != nil {
		return "", err
	}
	sel, err := metav1.LabelSelectorAsSelector(&ls)
	if err != nil {
		return "", err
	}
	return sel.String(), nil
}

func ownedReplicaSets(owner *unstructured.Unstructured, rss []appsv1.ReplicaSet) []involved {
	var out []involved
	for _, rs := range rss {
		for _, ref := range rs.OwnerReferences {
			if ref.UID == owner.GetUID() {
				out = append(out, involved{"ReplicaSet", rs.Name})
			}
		}
	}
	return out
}

// describeWorkload formats what the pods and the warning events about the subjects say: at most
// maxPodsDescribed unready pods, then the latest maxEvents warnings not already said by a pod.
func describeWorkload(pods []corev1.Pod, subjects []involved, events []corev1.Event) []string {
	var lines []string
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	described, unready := 0, 0
	for i := range pods {
		podLines := describePod(&pods[i])
		if len(podLines) == 0 {
			continue
		}
		unready++
		if described < maxPodsDescribed {
			lines = append(lines, podLines...)
			described++
		}
	}
	if unready > described {
		lines = append(lines, fmt.Sprintf("(%d more pods not ready)", unready-described))
	}
	said := strings.Join(lines, "\n")
	return append(lines, describeEvents(subjects, events, said)...)
}

// describePod says why a pod is not ready, one line for the pod and one per troubled container.
// A Ready or Succeeded pod yields nothing.
func describePod(p *corev1.Pod) []string {
	if p.Status.Phase == corev1.PodSucceeded || (p.Status.Phase == corev1.PodRunning && podConditionTrue(p, corev1.PodReady)) {
		return nil
	}
	phase := string(p.Status.Phase)
	if phase == "" {
		phase = "Pending"
	}
	line := fmt.Sprintf("pod %s: %s", p.Name, phase)
	if p.DeletionTimestamp != nil {
		line += ", terminating"
	}
	if c := podCondition(p, corev1.PodScheduled); c != nil && c.Status == corev1.ConditionFalse {
		line += fmt.Sprintf(", PodScheduled=False (%s): %s", c.Reason, clip(c.Message))
	} else if c := podCondition(p, corev1.PodReady); c != nil && c.Status == corev1.ConditionFalse && p.Status.Phase == corev1.PodRunning {
		line += ", Ready=False"
		if c.Message != "" {
			line += ": " + clip(c.Message)
		}
	}
	if p.Status.Reason != "" {
		line += fmt.Sprintf(" (%s: %s)", p.Status.Reason, clip(p.Status.Message))
	}
	lines := []string{line}
	statuses := containerStatuses(p)
	for _, cs := range statuses {
		if l := describeContainer(p.Name, cs); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

func describeContainer(pod string, cs corev1.ContainerStatus) string {
	var parts []string
	switch {
	case cs.State.Waiting != nil && cs.State.Waiting.Reason != "" && cs.State.Waiting.Reason != "PodInitializing" && cs.State.Waiting.Reason != "ContainerCreating":
		w := "waiting: " + cs.State.Waiting.Reason
		if cs.State.Waiting.Message != "" {
			w += ": " + clip(cs.State.Waiting.Message)
		}
		parts = append(parts, w)
	case cs.State.Terminated != nil && cs.State.Terminated.ExitCode != 0:
		parts = append(parts, "terminated: "+describeTermination(cs.State.Terminated))
	case cs.State.Running != nil && !cs.Ready:
		parts = append(parts, "running but not ready")
	}
	if t := cs.LastTerminationState.Terminated; t != nil && len(parts) > 0 {
		parts = append(parts, fmt.Sprintf("last terminated: %s, restarts %d", describeTermination(t), cs.RestartCount))
	}
	if len(parts) == 0 {
		return ""
	}
	return fmt.Sprintf("pod %s container %s %s", pod, cs.Name, strings.Join(parts, "; "))
}

func describeTermination(t *corev1.ContainerStateTerminated) string {
	s := fmt.Sprintf("%s (exit code %d)", t.Reason, t.ExitCode)
	if t.Message != "" {
		s += ": " + clip(t.Message)
	}
	return s
}

// describeEvents returns the latest warning events about the subjects, oldest first, leaving out
// messages already said (the scheduler's FailedScheduling repeats the pod's condition).
func describeEvents(subjects []involved, events []corev1.Event, said string) []string {
	want := make(map[involved]bool, len(subjects))
	for _, s := range subjects {
		want[s] = true
	}
	var picked []corev1.Event
	for _, e := range events {
		if e.Type != corev1.EventTypeWarning || !want[involved{e.InvolvedObject.Kind, e.InvolvedObject.Name}] {
			continue
		}
		if e.Message != "" && strings.Contains(said, clip(e.Message)) {
			continue
		}
		picked = append(picked, e)
	}
	sort.SliceStable(picked, func(i, j int) bool { return eventTime(picked[i]).Before(eventTime(picked[j])) })
	if len(picked) > maxEvents {
		picked = picked[len(picked)-maxEvents:]
	}
	lines := make([]string, 0, len(picked))
	for _, e := range picked {
		l := fmt.Sprintf("warning event on %s/%s: %s: %s", e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, clip(e.Message))
		if n := eventCount(e); n > 1 {
			l += fmt.Sprintf(" (x%d)", n)
		}
		lines = append(lines, l)
	}
	return lines
}

func eventTime(e corev1.Event) time.Time {
	switch {
	case e.Series != nil && !e.Series.LastObservedTime.IsZero():
		return e.Series.LastObservedTime.Time
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

func eventCount(e corev1.Event) int32 {
	if e.Series != nil && e.Series.Count > e.Count {
		return e.Series.Count
	}
	return e.Count
}

func podCondition(p *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == t {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

func podConditionTrue(p *corev1.Pod, t corev1.PodConditionType) bool {
	c := podCondition(p, t)
	return c != nil && c.Status == corev1.ConditionTrue
}

// clip flattens a message to one line and bounds its length.
func clip(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxMessage {
		s = s[:maxMessage] + "…"
	}
	return s
}
