//go:build integration

package testenv_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kindstack/kindstack/e2e/testbed/testenv"
)

// The control plane answers as a real cluster: its version is the test bed's, and a pod bound to
// a simulated node becomes Running (SIMULATED kubelet: no container runs).
func TestControlPlaneServesAndSimulatedNodeRunsPods(t *testing.T) {
	cp := testenv.New(t)
	cfg, err := clientcmd.RESTConfigFromKubeConfig(cp.Kubeconfig)
	require.NoError(t, err)
	cs, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)

	v, err := cs.Discovery().ServerVersion()
	require.NoError(t, err)
	assert.Equal(t, "v1.33.13", v.GitVersion)
	assert.Less(t, cp.Timings.Ready, 60*time.Second, "control plane start-up")

	require.NoError(t, testenv.StartNode(t.Context(), cs, testenv.NodeOptions{Name: "sim-0"}))
	node, err := cs.CoreV1().Nodes().Get(t.Context(), "sim-0", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Empty(t, node.Spec.Taints, "a Ready simulated node is schedulable")

	_, err = cs.CoreV1().Pods("default").Create(t.Context(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "example.com/web:dev"}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		pod, err := cs.CoreV1().Pods("default").Get(t.Context(), "web", metav1.GetOptions{})
		require.NoError(c, err)
		assert.Equal(c, "sim-0", pod.Spec.NodeName, "the scheduler bound it")
		assert.Equal(c, corev1.PodRunning, pod.Status.Phase)
		assert.NotEmpty(c, pod.Status.PodIP)
	}, 20*time.Second, 200*time.Millisecond)
}
