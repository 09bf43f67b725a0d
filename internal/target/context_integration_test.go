//go:build integration

package target_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kindstack/kindstack/cluster"
	"github.com/kindstack/kindstack/e2e/testbed/testenv"
	"github.com/kindstack/kindstack/internal/component"
	"github.com/kindstack/kindstack/internal/kube"
	"github.com/kindstack/kindstack/internal/target"
)

// A real control plane stands for a cluster kindstack did not create: Discover reads the context
// alone from the kubeconfig, finds the metrics API and the IngressClass the cluster has, and Route
// gives the ingress Service a type under its own field manager.
func TestContextAgainstARealControlPlane(t *testing.T) {
	cp := testenv.New(t)
	kubeconfig := filepath.Join(t.TempDir(), "config")
	require.NoError(t, os.WriteFile(kubeconfig, cp.Kubeconfig, 0o600))
	before, err := os.ReadFile(kubeconfig)
	require.NoError(t, err)
	c, err := kube.NewClient(cp.Kubeconfig)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	require.NoError(t, testenv.StartNode(ctx, c.Kubernetes(), testenv.NodeOptions{Name: "their-node"}))
	newContext := func(opts target.ContextOptions) *target.Context {
		opts.Kubeconfig = kubeconfig
		return target.NewContext(cluster.NewManager("test"), opts)
	}

	err = newContext(target.ContextOptions{Context: "nope"}).Discover(ctx)
	assert.EqualError(t, err, `context "nope" is not in the kubeconfig `+kubeconfig+` (it has testenv)`)

	plain := newContext(target.ContextOptions{Context: "testenv"})
	require.NoError(t, plain.Discover(ctx))
	assert.Empty(t, plain.Provides(), "no metrics API, no class named")
	minor, from := plain.Kubernetes()
	assert.Equal(t, 33, minor)
	assert.True(t, strings.HasPrefix(from, "the API server of context testenv, v1.33."), from)

	// The user's own metrics API (a local APIService is Available at once) and ingress controller.
	apiServices := c.Dynamic().Resource(schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"})
	_, err = apiServices.Create(ctx, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
		"metadata": map[string]any{"name": "v1beta1.metrics.k8s.io"},
		"spec":     map[string]any{"group": "metrics.k8s.io", "version": "v1beta1", "groupPriorityMinimum": int64(100), "versionPriority": int64(100)},
	}}, metav1.CreateOptions{FieldManager: "their-tool"})
	require.NoError(t, err)
	_, err = c.Kubernetes().NetworkingV1().IngressClasses().Create(ctx, &networkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{Name: "theirs"}, Spec: networkingv1.IngressClassSpec{Controller: "example.com/their-controller"}},
		metav1.CreateOptions{FieldManager: "their-tool"})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		own := newContext(target.ContextOptions{Context: "testenv"})
		return own.Discover(ctx) == nil && len(own.Provides()) == 1
	}, 30*time.Second, 500*time.Millisecond, "the APIService becomes Available")

	own := newContext(target.ContextOptions{Context: "testenv", IngressClass: "theirs"})
	require.NoError(t, own.Discover(ctx))
	assert.ElementsMatch(t, []component.Capability{component.Ingress, component.Metrics}, own.Provides())
	assert.Equal(t, "APIService v1beta1.metrics.k8s.io", own.ProvidedBy(component.Metrics))
	assert.Equal(t, "IngressClass theirs (controller example.com/their-controller)", own.ProvidedBy(component.Ingress))
	err = newContext(target.ContextOptions{Context: "testenv", IngressClass: "nginx"}).Discover(ctx)
	assert.EqualError(t, err, `IngressClass "nginx" is not in context "testenv" (it has theirs)`)

	st, err := own.Status(ctx)
	require.NoError(t, err)
	assert.True(t, st.Exists)
	require.Len(t, st.Nodes, 1)
	assert.Equal(t, "their-node", st.Nodes[0].Name)

	// Route: no load balancer comes, so the Service becomes NodePort under kindstack-expose; this
	// simulated node has no address to reach, and no kubelet to port-forward through.
	_, err = c.Kubernetes().CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ing"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = c.Kubernetes().CoreV1().Services("ing").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "controller"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "controller"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
	}, metav1.CreateOptions{FieldManager: kube.FieldManager})
	require.NoError(t, err)
	routed := newContext(target.ContextOptions{Context: "testenv", LoadBalancerWithin: 2 * time.Second})
	var said []string
	probed := 0
	probe := func(context.Context, string) error { probed++; return errors.New("not the ingress") }
	_, err = routed.Route(ctx, component.Service{Namespace: "ing", Name: "controller", Port: "http"}, probe, func(f string, a ...any) {
		said = append(said, fmt.Sprintf(f, a...))
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Service ing/controller has no ready pod to port-forward to")
	svc, err := c.Kubernetes().CoreV1().Services("ing").Get(ctx, "controller", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, corev1.ServiceTypeNodePort, svc.Spec.Type, "no load balancer address: NodePort")
	assert.NotZero(t, svc.Spec.Ports[0].NodePort)
	var managers []string
	for _, m := range svc.ManagedFields {
		managers = append(managers, m.Manager)
	}
	assert.Contains(t, managers, target.ExposeManager)
	assert.Contains(t, said[0], "asking the cluster for a load balancer")
	assert.Contains(t, said[1], "no load balancer address within 2s: Service ing/controller becomes NodePort")
	assert.Contains(t, said[len(said)-1], "port-forwarding instead")
	// Where something accepts every TCP connection (a transparent proxy), only the probe tells.
	t.Logf("probed %d candidate addresses", probed)

	after, err := os.ReadFile(kubeconfig)
	require.NoError(t, err)
	assert.Equal(t, string(before), string(after), "the kubeconfig is only read")
}
