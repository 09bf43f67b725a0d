package kube

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// SetReport is what a bug report needs of one set: each object's and gate's verdict, the
// describe-level facts of those not ready, and the logs of their pods. It never holds an object's
// manifest (a Secret's data stays out).
type SetReport struct {
	Text string
	// PodLogs maps "namespace_pod_container.log" (".previous.log" for the last run) to log tails.
	PodLogs map[string][]byte
}

// reportLogLines bounds each pod log tail in a report.
const reportLogLines = 500

// Report evaluates the set once and describes it for a bug report.
func (c *Client) Report(ctx context.Context, set Set) SetReport {
	rep := SetReport{PodLogs: map[string][]byte{}}
	ev := c.evaluate(ctx, set, true)
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", set.Name)
	for _, o := range ev.objects {
		if o.res.Ready {
			fmt.Fprintf(&b, "  ready      %s\n", o.ref)
			continue
		}
		fmt.Fprintf(&b, "  NOT READY  %s: %s\n", o.ref, o.res.Reason)
		if o.live == nil {
			continue
		}
		for _, line := range c.diagnose(ctx, o.live) {
			fmt.Fprintf(&b, "             %s\n", line)
		}
		if isWorkload(o.live) {
			c.collectPodLogs(ctx, o.live.GetNamespace(), o.live, rep.PodLogs)
		}
	}
	for _, g := range ev.gates {
		if g.Ready {
			fmt.Fprintf(&b, "  ready      %s\n", g.Name)
		} else {
			fmt.Fprintf(&b, "  NOT READY  %s: %s\n", g.Name, g.Reason)
		}
	}
	rep.Text = b.String()
	return rep
}

// collectPodLogs adds the log tails of a workload's pods.
func (c *Client) collectPodLogs(ctx context.Context, ns string, workload *unstructured.Unstructured, into map[string][]byte) {
	sel, err := podSelector(workload)
	if err != nil {
		return
	}
	pods, err := c.kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return
	}
	c.podLogs(ctx, pods.Items, into)
}

// Events lists a namespace's events, oldest first, one line each.
func (c *Client) Events(ctx context.Context, namespace string) ([]byte, error) {
	list, err := c.kube.CoreV1().Events(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("events of %s: %w", namespace, err)
	}
	items := list.Items
	sort.SliceStable(items, func(i, j int) bool { return eventTime(items[i]).Before(eventTime(items[j])) })
	var b strings.Builder
	for _, e := range items {
		fmt.Fprintf(&b, "%s  %-7s  %-24s  %s/%s  %s", eventTime(e).UTC().Format("15:04:05"), e.Type, e.Reason,
			e.InvolvedObject.Kind, e.InvolvedObject.Name, strings.TrimSpace(e.Message))
		if n := eventCount(e); n > 1 {
			fmt.Fprintf(&b, " (x%d)", n)
		}
		b.WriteString("\n")
	}
	return []byte(b.String()), nil
}

// podLogs adds the current and previous log tails of every container of the pods.
func (c *Client) podLogs(ctx context.Context, pods []corev1.Pod, into map[string][]byte) {
	for _, p := range pods {
		statuses := containerStatuses(&p)
		for _, cs := range statuses {
			for _, previous := range []bool{false, true} {
				if previous && cs.RestartCount == 0 {
					continue
				}
				raw, err := c.logTail(ctx, &p, cs.Name, reportLogLines, previous)
				if err != nil {
					raw = []byte("(cannot read the logs: " + err.Error() + ")\n")
				}
				name := p.Namespace + "_" + p.Name + "_" + cs.Name
				if previous {
					name += ".previous"
				}
				into[name+".log"] = raw
			}
		}
	}
}
