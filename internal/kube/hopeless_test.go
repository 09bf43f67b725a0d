package kube

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes/fake"
)

func waiting(reason, message string, restarts int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: "app", Image: "registry.example/app:v1", RestartCount: restarts,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: message}}}
}

func TestContainerVerdictSaysNeverOnlyWhenWaitingCannotHelp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		cs       corev1.ContainerStatus
		hopeless bool
		grace    time.Duration
		want     string
	}{
		{"creating", waiting("ContainerCreating", "", 0), false, 0, ""},
		{"slow pull", corev1.ContainerStatus{Name: "app"}, false, 0, ""},
		{"invalid image name", waiting("InvalidImageName", `Failed to apply default image tag "Bad:Tag"`, 0), true, 0, "InvalidImageName"},
		{"crash loop, early", waiting("CrashLoopBackOff", "back-off 20s", 2), false, 0, ""},
		{"crash loop, a minute in", waiting("CrashLoopBackOff", "back-off 40s", 3), true, 0, "CrashLoopBackOff: back-off 40s (restarted 3 times)"},
		{"image not found", waiting("ErrImagePull", `rpc error: failed to resolve reference "registry.example/app:v1": registry.example/app:v1: not found`, 0), true, graceHopeless, "(image registry.example/app:v1)"},
		{"no such host", waiting("ImagePullBackOff", `dial tcp: lookup registry.example: no such host`, 0), true, graceHopeless, "no such host"},
		{"no answer from the registry, for a minute", waiting("ImagePullBackOff", `dial tcp 10.0.0.1:443: i/o timeout`, 0), true, graceUnreachable, "no answer from its registry for 1m0s; next: "},
		{"no answer from DNS, for a minute", waiting("ErrImagePull", `dial tcp: lookup kindstack.test on 172.28.0.1:53: read udp 172.28.0.2:41613->172.28.0.1:53: i/o timeout`, 0), true, graceUnreachable, "(image registry.example/app:v1): no answer"},
		{"refused", waiting("ErrImagePull", `dial tcp 127.0.0.1:5000: connect: connection refused`, 0), true, graceUnreachable, "connection refused"},
		{"a registry's other error may pass", waiting("ErrImagePull", `unexpected status from HEAD request: 503 Service Unavailable`, 0), false, 0, ""},
		{"missing secret", waiting("CreateContainerConfigError", `secret "pg-credentials" not found`, 0), true, graceHopeless, "CreateContainerConfigError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reason, grace, hopeless := containerVerdict(tt.cs)
			assert.Equal(t, tt.hopeless, hopeless)
			assert.Equal(t, tt.grace, grace)
			assert.Contains(t, reason, tt.want)
		})
	}
}

func deployment(t *testing.T) *unstructured.Unstructured {
	t.Helper()
	objs, err := Decode("test", []byte(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: app}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: app, image: registry.example/app:v1}]}
`))
	require.NoError(t, err)
	return objs[0]
}

func podWith(cs corev1.ContainerStatus) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-7d4b9-x2x9z", Namespace: "app", Labels: map[string]string{"app": "web"}},
		Status:     corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{cs}},
	}
}

func TestHopelessNamesThePodContainerReasonAndLastLogs(t *testing.T) {
	t.Parallel()
	c := &Client{kube: fake.NewClientset(podWith(waiting("CrashLoopBackOff", "back-off 40s restarting failed container", 4)))}
	err := newHopelessness().check(context.Background(), c, deployment(t))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Deployment/app/web not ready: will not become ready: pod web-7d4b9-x2x9z container app: CrashLoopBackOff")
	assert.Contains(t, err.Error(), "last log lines of web-7d4b9-x2x9z/app:\n      fake logs", "the container's own words come with it")
}

func TestHopelessWaitsOutTheGraceOfAStateThatMayChange(t *testing.T) {
	t.Parallel()
	c := &Client{kube: fake.NewClientset(podWith(waiting("ErrImagePull", "manifest unknown", 0)))}
	now := time.Unix(1000, 0)
	h := newHopelessness()
	h.now = func() time.Time { return now }
	require.NoError(t, h.check(context.Background(), c, deployment(t)), "first sight: still within the grace")
	now = now.Add(graceHopeless - time.Second)
	require.NoError(t, h.check(context.Background(), c, deployment(t)))
	now = now.Add(2 * time.Second)
	err := h.check(context.Background(), c, deployment(t))
	require.Error(t, err, "past the grace it is hopeless")
	assert.Contains(t, err.Error(), "ErrImagePull: manifest unknown (image registry.example/app:v1)")
	assert.NotContains(t, err.Error(), "log lines", "a container that never ran has no logs to show")
}

func TestHopelessGivesAnUnreachableRegistryAMinute(t *testing.T) {
	t.Parallel()
	c := &Client{kube: fake.NewClientset(podWith(waiting("ImagePullBackOff", `dial tcp: lookup registry.example on 10.96.0.10:53: i/o timeout`, 0)))}
	now := time.Unix(1000, 0)
	h := newHopelessness()
	h.now = func() time.Time { return now }
	require.NoError(t, h.check(context.Background(), c, deployment(t)), "first failed pull: a network may come back")
	now = now.Add(graceUnreachable - time.Second)
	require.NoError(t, h.check(context.Background(), c, deployment(t)), "still within the minute")
	now = now.Add(2 * time.Second)
	err := h.check(context.Background(), c, deployment(t))
	require.Error(t, err, "a minute without an answer: the wait stops")
	assert.Contains(t, err.Error(), "Deployment/app/web not ready: will not become ready: pod web-7d4b9-x2x9z container app: ImagePullBackOff")
	assert.Contains(t, err.Error(), "no answer from its registry for 1m0s; next: a --registry-mirror")
}

func TestHopelessGivesAGateThatAnswersWrongItsGraceWhileEverythingElseIsReady(t *testing.T) {
	t.Parallel()
	const name = "APIService/v1beta1.metrics.k8s.io"
	checked := func(ready bool, grace time.Duration) evaluation {
		return evaluation{gatesChecked: true, gates: []ObjectStatus{{Name: name, Ready: ready, Reason: "Available=False (FailedDiscoveryCheck): bad status from https://10.96.0.5:443/apis/metrics.k8s.io/v1beta1: 404"}},
			gateGrace: []time.Duration{grace}}
	}
	now := time.Unix(1000, 0)
	h := newHopelessness()
	h.now = func() time.Time { return now }
	require.NoError(t, h.gates(checked(false, GraceAnswered)), "first sight")
	now = now.Add(GraceAnswered - time.Second)
	require.NoError(t, h.gates(checked(false, GraceAnswered)), "still within the grace")

	require.NoError(t, h.gates(evaluation{}), "an object not ready again: the gate was not looked at and its clock starts again")
	require.NoError(t, h.gates(checked(false, GraceAnswered)))
	now = now.Add(GraceAnswered - time.Second)
	require.NoError(t, h.gates(checked(false, GraceAnswered)), "the grace counts from the new first sight")
	require.NoError(t, h.gates(checked(false, 0)), "a state that may pass any time stops the clock")
	require.NoError(t, h.gates(checked(false, GraceAnswered)))
	now = now.Add(GraceAnswered)
	require.NoError(t, h.gates(checked(true, 0)), "ready: the clock stops")
	require.NoError(t, h.gates(checked(false, GraceAnswered)))
	now = now.Add(GraceAnswered)
	err := h.gates(checked(false, GraceAnswered))
	require.Error(t, err, "a minute of the same wrong answer: the wait stops")
	assert.Equal(t, name+" not ready: Available=False (FailedDiscoveryCheck): bad status from https://10.96.0.5:443/apis/metrics.k8s.io/v1beta1: 404 (for 1m0s, while everything it needs was ready)", err.Error())
}

func TestHopelessLeavesProgressingPodsAlone(t *testing.T) {
	t.Parallel()
	c := &Client{kube: fake.NewClientset(podWith(waiting("ContainerCreating", "", 0)))}
	assert.NoError(t, newHopelessness().check(context.Background(), c, deployment(t)))
}

func TestHopelessAsksTheImageProbeAboutAPullThatMayPass(t *testing.T) {
	t.Parallel()
	timeout := waiting("ErrImagePull", `failed to do request: Head "https://registry-1.docker.io/v2/app/manifests/v1": dial tcp: lookup registry-1.docker.io: i/o timeout`, 0)
	c := &Client{kube: fake.NewClientset(podWith(timeout))}

	h := newHopelessness()
	var asked []string
	h.probe = func(_ context.Context, image string) string { asked = append(asked, image); return "" }
	assert.NoError(t, h.check(context.Background(), c, deployment(t)), "the probe has no objection: a slow registry is still worth waiting for")
	assert.NoError(t, h.check(context.Background(), c, deployment(t)))
	assert.Equal(t, []string{"registry.example/app:v1"}, asked, "asked once per probeEvery, not on every poll")

	h = newHopelessness()
	h.probe = func(context.Context, string) string { return "not on mirror http://mirror:5000 (HTTP 404)" }
	err := h.check(context.Background(), c, deployment(t))
	require.Error(t, err, "a mirror that says 404 makes it certain at once")
	assert.Contains(t, err.Error(), "(image registry.example/app:v1): not on mirror http://mirror:5000 (HTTP 404)")
	assert.Contains(t, err.Error(), "next: a --registry-mirror REGISTRY=URL that has it")
}

func TestPullsNamesImagesStillBeingPulled(t *testing.T) {
	t.Parallel()
	at := func(s int) metav1.Time { return metav1.NewTime(time.Unix(1_000_000+int64(s), 0)) }
	ev := func(reason, msg string, s int) corev1.Event {
		return corev1.Event{Reason: reason, Message: msg, LastTimestamp: at(s)}
	}
	got := pulling([]corev1.Event{
		ev("Pulled", `Successfully pulled image "app:v1" in 2s`, 12),
		ev("Pulling", `Pulling image "app:v1"`, 10),
		ev("Pulling", `Pulling image "postgres:17-alpine"`, 11),
		ev("Scheduled", `Successfully assigned example/postgres-0 to node`, 1),
	})
	assert.Equal(t, map[string]time.Time{"postgres:17-alpine": at(11).Time}, got, "app:v1 is done; postgres is still coming")

	pod := podWith(corev1.ContainerStatus{Name: "app", Image: "registry.example/app:v1",
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}})
	event := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e1", Namespace: "app"}, Reason: "Pulling", Message: `Pulling image "registry.example/app:v1"`,
		LastTimestamp: at(0), InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: pod.Name, Namespace: "app"}}
	c := &Client{kube: fake.NewClientset(pod, event)}
	assert.Equal(t, []string{"registry.example/app:v1 for 45s (pod web-7d4b9-x2x9z)"},
		c.pulls(context.Background(), Set{Objects: []*unstructured.Unstructured{deployment(t)}}, at(45).Time))
}
