package kube

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// GraceAnswered is how long a server whose pods are Ready may keep giving a wrong answer (an
// aggregated API's server answering the aggregator's discovery with an error status, an API that
// is 404) before a gate's wait gives up: the aggregator checks again at least every 30 s (its
// resync), so it has asked twice more by then.
const GraceAnswered = time.Minute

// Waiting out the budget is for things that are still progressing. These say "never" early.
const (
	// crashLoopRestarts is how many restarts make a CrashLoopBackOff hopeless (about a minute of
	// the kubelet's 10 s, 20 s, 40 s back-off).
	crashLoopRestarts = 3
	// graceHopeless is how long a state that usually means "never" must last before the wait gives
	// up: a Secret applied a moment later, a registry's answer that changes on the next try.
	graceHopeless = 20 * time.Second
	// graceUnreachable is how long the node may fail to reach a registry at all (no DNS answer, no
	// connection) before the wait gives up: the kubelet has tried about four times by then (its
	// back-off is 10 s, 20 s, 40 s), and a network that is only slow answers something in that time.
	graceUnreachable = time.Minute
	// logLines is how many of a failing container's last log lines an error quotes.
	logLines = 10
)

// neverWaiting are container waiting reasons that no amount of waiting fixes.
var neverWaiting = map[string]bool{"InvalidImageName": true, "ErrImageNeverPull": true}

// lateWaiting are waiting reasons that mean "never" once they last graceHopeless.
var lateWaiting = map[string]bool{"CreateContainerConfigError": true, "CreateContainerError": true, "RunContainerError": true}

// unpullable are parts of a registry's answer that mean the image cannot be pulled as named.
var unpullable = []string{"not found", "manifest unknown", "unauthorized", "denied", "no such host", "invalid reference format", "does not exist"}

// unreachable are parts of a pull error that mean the node got no answer from the registry at all.
var unreachable = []string{"i/o timeout", "connection refused", "no route to host", "network is unreachable",
	"tls handshake timeout", "connection reset by peer", "server misbehaving"}

// hopelessness remembers since when each troubled container or gate has looked hopeless, across
// polls.
type hopelessness struct {
	since map[string]time.Time
	// gateSince is the same for gates, which are only looked at while every object is ready.
	gateSince map[string]time.Time
	now       func() time.Time
	// probe is the set's ImageProbe; probed caches its answers for probeEvery.
	probe  func(ctx context.Context, image string) string
	probed map[string]probeAnswer
}

type probeAnswer struct {
	at      time.Time
	verdict string
}

// probeEvery is how long an ImageProbe answer stands before it is asked again.
const probeEvery = 10 * time.Second

// pullHint is the next step for an image that cannot be pulled as named.
const pullHint = "next: a --registry-mirror REGISTRY=URL that has it, an `images:` entry that maps it to one that exists, or --bundle FILE from `kindstack images save`"

func newHopelessness() *hopelessness {
	return &hopelessness{since: map[string]time.Time{}, gateSince: map[string]time.Time{}, now: time.Now, probed: map[string]probeAnswer{}}
}

// probeVerdict asks the probe about a container whose pull fails for a reason that may pass.
func (h *hopelessness) probeVerdict(ctx context.Context, cs corev1.ContainerStatus) (string, bool) {
	w := cs.State.Waiting
	if h.probe == nil || w == nil || (w.Reason != "ErrImagePull" && w.Reason != "ImagePullBackOff") {
		return "", false
	}
	a, ok := h.probed[cs.Image]
	if !ok || h.now().Sub(a.at) >= probeEvery {
		a = probeAnswer{at: h.now(), verdict: h.probe(ctx, cs.Image)}
		h.probed[cs.Image] = a
	}
	if a.verdict == "" {
		return "", false
	}
	msg := w.Reason
	if w.Message != "" {
		msg += ": " + clip(w.Message)
	}
	return fmt.Sprintf("%s (image %s): %s; %s", msg, cs.Image, a.verdict, pullHint), true
}

// containerVerdict says whether one container will never become ready, and why. grace is how
// long the state must last before it counts (0: at once).
func containerVerdict(cs corev1.ContainerStatus) (reason string, grace time.Duration, hopeless bool) {
	w := cs.State.Waiting
	if w == nil {
		return "", 0, false
	}
	msg := w.Reason
	if w.Message != "" {
		msg += ": " + clip(w.Message)
	}
	switch {
	case neverWaiting[w.Reason]:
		return msg, 0, true
	case lateWaiting[w.Reason]:
		return msg, graceHopeless, true
	case w.Reason == "CrashLoopBackOff" && cs.RestartCount >= crashLoopRestarts:
		return fmt.Sprintf("%s (restarted %d times)", msg, cs.RestartCount), 0, true
	case w.Reason == "ErrImagePull" || w.Reason == "ImagePullBackOff":
		lower := strings.ToLower(w.Message)
		for _, p := range unpullable {
			if strings.Contains(lower, p) {
				return fmt.Sprintf("%s (image %s); %s", msg, cs.Image, pullHint), graceHopeless, true
			}
		}
		for _, p := range unreachable {
			if strings.Contains(lower, p) {
				return fmt.Sprintf("%s (image %s): no answer from its registry for %s; %s", msg, cs.Image, graceUnreachable, pullHint),
					graceUnreachable, true
			}
		}
	}
	return "", 0, false
}

// check looks at a workload's pods and returns an error when one of them will never become
// ready: it names the workload, the pod, the container, the reason, and the container's last log
// lines. nil means "still worth waiting".
func (h *hopelessness) check(ctx context.Context, c *Client, live *unstructured.Unstructured) error {
	if !isWorkload(live) || live.GetNamespace() == "" {
		return nil
	}
	sel, err := podSelector(live)
	if err != nil {
		return nil
	}
	pods, err := c.kube.CoreV1().Pods(live.GetNamespace()).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil // the regular wait reports an API that does not answer
	}
	now := h.now()
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		statuses := containerStatuses(&p)
		for _, cs := range statuses {
			key := p.Namespace + "/" + p.Name + "/" + cs.Name
			reason, grace, hopeless := containerVerdict(cs)
			if !hopeless || grace > 0 {
				// The probe's answer is already certain: no grace.
				if r, ok := h.probeVerdict(ctx, cs); ok {
					reason, grace, hopeless = r, 0, true
				}
			}
			if !hopeless {
				delete(h.since, key)
				continue
			}
			first, seen := h.since[key]
			if !seen {
				h.since[key], first = now, now
			}
			if now.Sub(first) < grace {
				continue
			}
			e := &NotReadyError{
				Name:    RefOf(live).String(),
				Reason:  fmt.Sprintf("will not become ready: pod %s container %s: %s", p.Name, cs.Name, reason),
				Details: c.lastLogs(ctx, &p, cs),
			}
			return e
		}
	}
	return nil
}

// lastLogs returns a container's last log lines, of its previous run when it has restarted.
func (c *Client) lastLogs(ctx context.Context, p *corev1.Pod, cs corev1.ContainerStatus) []string {
	if cs.State.Waiting != nil && cs.RestartCount == 0 && cs.LastTerminationState.Terminated == nil {
		return nil // it never ran: there is nothing to read
	}
	raw, err := c.logTail(ctx, p, cs.Name, logLines, cs.RestartCount > 0)
	if err != nil {
		return []string{fmt.Sprintf("(cannot read the logs of container %s: %v)", cs.Name, clip(err.Error()))}
	}
	lines := []string{fmt.Sprintf("last log lines of %s/%s:", p.Name, cs.Name)}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		lines = append(lines, "  "+clip(sc.Text()))
	}
	if len(lines) == 1 {
		return []string{fmt.Sprintf("(container %s wrote no log lines)", cs.Name)}
	}
	return lines
}

// logTail reads the last lines of one container's log, of its previous run if asked.
func (c *Client) logTail(ctx context.Context, p *corev1.Pod, container string, lines int64, previous bool) ([]byte, error) {
	return c.kube.CoreV1().Pods(p.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{
		Container: container, TailLines: &lines, Previous: previous,
	}).DoRaw(ctx)
}

// containerStatuses lists a pod's init containers, then its containers.
func containerStatuses(p *corev1.Pod) []corev1.ContainerStatus {
	return append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...)
}

// gates returns an error for the first gate whose hopeless state has outlasted its grace. Gates
// are only checked while every object is ready; when they were not, the clocks start again.
func (h *hopelessness) gates(ev evaluation) error {
	if !ev.gatesChecked {
		clear(h.gateSince)
		return nil
	}
	now := h.now()
	for i, g := range ev.gates {
		grace := ev.gateGrace[i]
		if g.Ready || grace == 0 {
			delete(h.gateSince, g.Name)
			continue
		}
		since, ok := h.gateSince[g.Name]
		if !ok {
			h.gateSince[g.Name] = now
			continue
		}
		if now.Sub(since) >= grace {
			return &NotReadyError{Name: g.Name, Reason: fmt.Sprintf("%s (for %s, while everything it needs was ready)", g.Reason, grace)}
		}
	}
	return nil
}
