//go:build integration

package embed_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kindstack/kindstack/addons"
	"github.com/kindstack/kindstack/cluster"
	"github.com/kindstack/kindstack/e2e/testbed/testenv"
	"github.com/kindstack/kindstack/embed"
	"github.com/kindstack/kindstack/internal/catalogue"
	"github.com/kindstack/kindstack/internal/config"
	"github.com/kindstack/kindstack/internal/kube"
	"github.com/kindstack/kindstack/internal/pipeline"
	"github.com/kindstack/kindstack/workloads"
)

// installedSets are the sets kindstack installs with s, built exactly as `up` builds them (the
// Gateway API CRDs come from the Go module cache or proxy, as for `up`).
func installedSets(t *testing.T, s config.Settings, want int) []kube.Set {
	t.Helper()
	p := &pipeline.Pipeline{Catalogue: catalogue.All(), Fetch: pipeline.ModuleFetcher(os.Getenv)}
	sets, err := p.Sets(t.Context(), s)
	require.NoError(t, err)
	require.Len(t, sets, want)
	return sets
}

// traefikSettings install Traefik and route the example with its HTTPRoute, and switch on the
// local registry (off by default), so that every component's objects are in one of the two.
func traefikSettings() config.Settings {
	on := true
	return config.Defaults().WithChoice("ingress", "traefik").
		WithComponent(addons.Registry().Name, config.ComponentSettings{Enabled: &on}).
		WithComponent(addons.Traefik().Name, config.ComponentSettings{Options: &addons.TraefikOptions{GatewayPorts: []int{8080}}}).
		WithComponent(workloads.Example().Name, config.ComponentSettings{Options: &workloads.ExampleOptions{Route: workloads.RouteHTTPRoute}})
}

// The real API server accepts every object we wrote, as transformed for installation, with either
// ingress controller: schema, defaults and admission (minus webhooks, which are not installed
// here) all pass.
func TestAllManifestsPassServerSideDryRun(t *testing.T) {
	cp := testenv.New(t)
	c, err := kube.NewClient(cp.Kubeconfig)
	require.NoError(t, err)
	ctx := t.Context()
	sets := append(installedSets(t, config.Defaults(), 3), installedSets(t, traefikSettings(), 4)...)

	// Every embedded object is in some set, so this covers all of embed/.
	installed := map[kube.Ref]bool{}
	for _, s := range sets {
		for _, r := range kube.RefsOf(s.Objects) {
			installed[r] = true
		}
	}
	for name, objs := range decodeAll(t) {
		for _, r := range kube.RefsOf(objs) {
			assert.True(t, installed[r], "%s of %s is installed by no set", r, name)
		}
	}

	// A dry run of a namespaced object is rejected when its namespace does not exist, and one of a
	// custom resource when its CRD does not: both are created for real first.
	var first []*unstructured.Unstructured
	for _, s := range sets {
		for _, o := range s.Objects {
			if o.GetKind() == "Namespace" || o.GetKind() == "CustomResourceDefinition" {
				first = append(first, o)
			}
		}
	}
	_, err = c.Apply(ctx, first, kube.ApplyOptions{})
	require.NoError(t, err)

	for _, s := range sets {
		changes, err := c.Apply(ctx, s.Objects, kube.ApplyOptions{DryRun: true})
		require.NoError(t, err, "dry-run apply of %s", s.Name)
		assert.Len(t, changes, len(s.Objects), s.Name)
		for _, ch := range changes {
			if ch.Ref.Kind != "Namespace" && ch.Ref.Kind != "CustomResourceDefinition" {
				assert.Equal(t, kube.Created, ch.Action, "%s in %s", ch.Ref, s.Name)
			}
		}
	}

	// A dry run writes nothing.
	_, err = c.Kubernetes().AppsV1().Deployments("ingress-nginx").Get(ctx, "ingress-nginx-controller", metav1.GetOptions{})
	assert.Error(t, err, "the dry run must not create the controller")
}

// With the pods Ready (simulated node, no container runs) but nothing really serving, the gates
// say why: no CA bundle on the webhook, the APIService unavailable, no node metrics, autoscalers
// without metrics.
func TestGatesSayWhyNotReady(t *testing.T) {
	cp := testenv.New(t)
	c, err := kube.NewClient(cp.Kubeconfig)
	require.NoError(t, err)
	cfg, err := clientcmd.RESTConfigFromKubeConfig(cp.Kubeconfig)
	require.NoError(t, err)
	cs, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	ctx := t.Context()
	require.NoError(t, testenv.StartNode(ctx, cs, testenv.NodeOptions{
		Name:   "kindstack-control-plane",
		Labels: map[string]string{cluster.IngressReadyLabel: "true"},
	}))

	sets := installedSets(t, config.Defaults(), 3)
	ingress, metrics, example := sets[0], sets[1], sets[2]
	tests := []struct {
		set  kube.Set
		want map[string]string // gate name -> part of its reason
	}{
		// The example goes first: once the webhook configuration exists, no Ingress passes here.
		{example, map[string]string{
			kube.HPAReportingMetrics(workloads.Namespace, "backend").Name:  "ScalingActive",
			kube.HPAReportingMetrics(workloads.Namespace, "frontend").Name: "ScalingActive",
		}},
		{ingress, map[string]string{
			"ValidatingWebhookConfiguration/ingress-nginx-admission": "has no caBundle",
		}},
		{metrics, map[string]string{
			"APIService/v1beta1.metrics.k8s.io": "Available=False",
			"node metrics served":               "GET /apis/metrics.k8s.io/v1beta1/nodes",
		}},
	}
	for _, tt := range tests {
		_, err := c.Apply(ctx, tt.set.Objects, kube.ApplyOptions{})
		require.NoError(t, err, "apply %s", tt.set.Name)
	}
	for _, tt := range tests {
		t.Run(tt.set.Name, func(t *testing.T) {
			// Wait until the objects are ready, so what remains is the gates.
			gates := map[string]kube.ObjectStatus{}
			require.Eventually(t, func() bool {
				statuses := c.Status(ctx, tt.set)
				objectsReady := true
				for _, st := range statuses[:len(statuses)-len(tt.set.Gates)] {
					objectsReady = objectsReady && st.Ready
				}
				for _, st := range statuses[len(statuses)-len(tt.set.Gates):] {
					gates[st.Name] = st
				}
				return objectsReady
			}, 90*time.Second, time.Second, "objects of %s never became ready: %v", tt.set.Name, c.Status(ctx, tt.set))

			for name, want := range tt.want {
				require.Contains(t, gates, name)
				assert.False(t, gates[name].Ready, name)
				assert.Contains(t, gates[name].Reason, want, name)
			}

			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			err := c.Wait(wctx, tt.set)
			require.Error(t, err, "a wait on unserved gates must fail")
			for name := range tt.want {
				assert.Contains(t, err.Error(), name)
			}
			t.Logf("what `up` prints when %s is not serving:\n%v", tt.set.Name, err)
		})
	}
}

// decodeAll decodes every embedded manifest, by file name.
func decodeAll(t *testing.T) map[string][]*unstructured.Unstructured {
	t.Helper()
	names, err := embed.Names()
	require.NoError(t, err)
	out := map[string][]*unstructured.Unstructured{}
	for _, name := range names {
		data, err := embed.Read(name)
		require.NoError(t, err)
		objs, err := kube.Decode(name, data)
		require.NoError(t, err, "%s must decode", name)
		out[name] = objs
	}
	return out
}
