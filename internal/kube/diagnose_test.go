package kube

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func pod(name string, phase corev1.PodPhase, conds []corev1.PodCondition, containers ...corev1.ContainerStatus) corev1.Pod {
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Status:     corev1.PodStatus{Phase: phase, Conditions: conds, ContainerStatuses: containers},
	}
}

func TestDescribePod(t *testing.T) {
	t.Parallel()
	ready := []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	tests := []struct {
		name string
		pod  corev1.Pod
		want []string
	}{
		{
			name: "ready pod says nothing",
			pod:  pod("web-1", corev1.PodRunning, ready),
		},
		{
			name: "unschedulable quotes the scheduler",
			pod: pod("web-1", corev1.PodPending, []corev1.PodCondition{{
				Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable",
				Message: "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector.",
			}}),
			want: []string{"pod web-1: Pending, PodScheduled=False (Unschedulable): 0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."},
		},
		{
			name: "image pull back-off",
			pod: pod("web-1", corev1.PodPending, nil, corev1.ContainerStatus{
				Name: "web",
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
					Reason: "ImagePullBackOff", Message: `Back-off pulling image "example.com/web:dev"`,
				}},
			}),
			want: []string{
				"pod web-1: Pending",
				`pod web-1 container web waiting: ImagePullBackOff: Back-off pulling image "example.com/web:dev"`,
			},
		},
		{
			name: "crash loop shows the last termination",
			pod: pod("web-1", corev1.PodRunning, []corev1.PodCondition{{
				Type: corev1.PodReady, Status: corev1.ConditionFalse, Message: "containers with unready status: [web]",
			}}, corev1.ContainerStatus{
				Name:         "web",
				RestartCount: 4,
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
					Reason: "CrashLoopBackOff", Message: "back-off 1m20s restarting failed container=web",
				}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					Reason: "Error", ExitCode: 2, Message: "panic: no DATABASE_URL\n",
				}},
			}),
			want: []string{
				"pod web-1: Running, Ready=False: containers with unready status: [web]",
				"pod web-1 container web waiting: CrashLoopBackOff: back-off 1m20s restarting failed container=web; last terminated: Error (exit code 2): panic: no DATABASE_URL, restarts 4",
			},
		},
		{
			name: "running but failing readiness",
			pod: pod("web-1", corev1.PodRunning, []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}},
				corev1.ContainerStatus{Name: "web", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}),
			want: []string{"pod web-1: Running, Ready=False", "pod web-1 container web running but not ready"},
		},
		{
			name: "succeeded job pod says nothing",
			pod:  pod("job-1", corev1.PodSucceeded, nil),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, describePod(&tt.pod))
		})
	}
}

func warning(kind, name, reason, msg string, at time.Time) corev1.Event {
	return corev1.Event{
		InvolvedObject: corev1.ObjectReference{Kind: kind, Name: name},
		Type:           corev1.EventTypeWarning, Reason: reason, Message: msg,
		LastTimestamp: metav1.NewTime(at), Count: 1,
	}
}

func TestDescribeWorkloadLimitsPodsAndShowsLatestWarnings(t *testing.T) {
	t.Parallel()
	now := time.Now()
	unsched := []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/1 nodes are available"}}
	pods := []corev1.Pod{
		pod("web-e", corev1.PodPending, unsched), pod("web-d", corev1.PodPending, unsched),
		pod("web-c", corev1.PodPending, unsched), pod("web-b", corev1.PodPending, unsched),
		pod("web-a", corev1.PodRunning, []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}),
	}
	subjects := []involved{{"Deployment", "web"}, {"ReplicaSet", "web-5d"}, {"Pod", "web-b"}}
	events := []corev1.Event{
		warning("ReplicaSet", "web-5d", "FailedCreate", "pods \"web-5d-x\" is forbidden: exceeded quota", now.Add(-4*time.Minute)),
		warning("Pod", "web-b", "FailedScheduling", "0/1 nodes are available", now.Add(-time.Minute)),
		warning("Pod", "other", "BackOff", "not ours", now),
		warning("Deployment", "web", "Old", "oldest, dropped", now.Add(-10*time.Minute)),
		warning("Deployment", "web", "Newer", "kept", now.Add(-3*time.Minute)),
		warning("Pod", "web-b", "FailedMount", "secret \"x\" not found", now.Add(-2*time.Minute)),
	}
	events[5].Count = 7

	got := describeWorkload(pods, subjects, events)
	assert.Equal(t, []string{
		"pod web-b: Pending, PodScheduled=False (Unschedulable): 0/1 nodes are available",
		"pod web-c: Pending, PodScheduled=False (Unschedulable): 0/1 nodes are available",
		"pod web-d: Pending, PodScheduled=False (Unschedulable): 0/1 nodes are available",
		"(1 more pods not ready)",
		`warning event on ReplicaSet/web-5d: FailedCreate: pods "web-5d-x" is forbidden: exceeded quota`,
		"warning event on Deployment/web: Newer: kept",
		`warning event on Pod/web-b: FailedMount: secret "x" not found (x7)`,
	}, got, "ready pods, other objects' events, repeats of a pod condition and all but the latest warnings are left out")
}

func TestNotReadyErrorFormat(t *testing.T) {
	t.Parallel()
	head := errors.New("wait for web: timed out after 5m0s with 2 of 6 still not ready: context deadline exceeded")
	err := errors.Join(head,
		&NotReadyError{Name: "Deployment/example/web", Reason: "InProgress: Available: 0/2", Details: []string{"pod web-1: Pending", "pod web-1 container web waiting: ImagePullBackOff: nope"}},
		&NotReadyError{Name: "APIService/v1beta1.metrics.k8s.io", Reason: "Available=False (MissingEndpoints): endpoints for service/metrics-server in \"kube-system\" have no addresses"},
	)
	assert.Equal(t, `wait for web: timed out after 5m0s with 2 of 6 still not ready: context deadline exceeded
Deployment/example/web not ready: InProgress: Available: 0/2
    pod web-1: Pending
    pod web-1 container web waiting: ImagePullBackOff: nope
APIService/v1beta1.metrics.k8s.io not ready: Available=False (MissingEndpoints): endpoints for service/metrics-server in "kube-system" have no addresses`, err.Error())
	var nre *NotReadyError
	assert.ErrorAs(t, err, &nre, "callers can pick out the objects that are not ready")
}

func TestClipFlattensAndBounds(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "a b c", clip("a\n  b\tc\n"))
	long := clip(string(make([]byte, 1000)) + "x")
	assert.LessOrEqual(t, len(long), maxMessage+len("…"))
}
