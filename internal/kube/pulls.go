package kube

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// progressEvery is how often a wait reports the images its pods are still pulling.
const progressEvery = 15 * time.Second

// pulls lists the images the set's pods are pulling right now, from the kubelet's events, as
// "postgres:17-alpine for 40s (pod postgres-0)": a slow pull is not an error, but the person
// waiting should see it.
func (c *Client) pulls(ctx context.Context, set Set, now time.Time) []string {
	var out []string
	for _, o := range set.Objects {
		if !isWorkload(o) || o.GetNamespace() == "" {
			continue
		}
		sel, err := podSelector(o)
		if err != nil {
			continue
		}
		pods, err := c.kube.CoreV1().Pods(o.GetNamespace()).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			continue
		}
		for _, p := range pods.Items {
			if p.Status.Phase != corev1.PodPending || p.DeletionTimestamp != nil {
				continue
			}
			events, err := c.kube.CoreV1().Events(p.Namespace).List(ctx, metav1.ListOptions{
				FieldSelector: "involvedObject.kind=Pod,involvedObject.name=" + p.Name,
			})
			if err != nil {
				continue
			}
			for image, since := range pulling(events.Items) {
				out = append(out, fmt.Sprintf("%s for %s (pod %s)", image, now.Sub(since).Round(time.Second), p.Name))
			}
		}
	}
	sort.Strings(out)
	return out
}

// pulling reads a pod's events: each image with a Pulling event and no later Pulled or Failed
// one, with when the pull started.
func pulling(events []corev1.Event) map[string]time.Time {
	sort.SliceStable(events, func(i, j int) bool { return eventTime(events[i]).Before(eventTime(events[j])) })
	started := map[string]time.Time{}
	for _, ev := range events {
		image := quoted(ev.Message)
		if image == "" {
			continue
		}
		switch ev.Reason {
		case "Pulling":
			started[image] = eventTime(ev)
		case "Pulled", "Failed", "ErrImagePull", "BackOff":
			delete(started, image)
		}
	}
	return started
}

// quoted is the first "double-quoted" part of s (the image in the kubelet's pull events).
func quoted(s string) string {
	_, rest, ok := strings.Cut(s, `"`)
	if !ok {
		return ""
	}
	image, _, ok := strings.Cut(rest, `"`)
	if !ok {
		return ""
	}
	return image
}
