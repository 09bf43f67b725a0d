package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kindstack/kindstack/cluster"
	"github.com/kindstack/kindstack/internal/component"
	"github.com/kindstack/kindstack/internal/config"
	"github.com/kindstack/kindstack/internal/kube"
	"github.com/kindstack/kindstack/internal/pipeline"
	"github.com/kindstack/kindstack/internal/smoke"
	"github.com/kindstack/kindstack/internal/steps"
	"github.com/kindstack/kindstack/internal/target"
)

// otherTarget is a cluster kindstack did not create: it has a metrics API of its own, takes no
// images from this machine and is reached at an address of its own.
type otherTarget struct {
	mu      sync.Mutex // the installs load their images at once
	loaded  [][]string
	deleted bool
}

func (o *otherTarget) Describe() string { return "context other" }
func (o *otherTarget) Lock(context.Context, target.LockOptions) (func(), error) {
	return func() {}, nil
}
func (o *otherTarget) Preflight(context.Context, target.PreflightOptions) (target.Preflight, error) {
	return target.Preflight{Engine: "API server v1.35.0"}, nil
}
func (o *otherTarget) Ensure(context.Context, target.EnsureOptions) (target.Connection, error) {
	return target.Connection{Context: "other", Kubeconfig: []byte("other")}, nil
}
func (o *otherTarget) Status(context.Context) (cluster.Status, error) {
	return cluster.Status{Name: "other", Exists: true, Ready: true, Nodes: []cluster.NodeStatus{}, Kubeconfig: []byte("other")}, nil
}
func (o *otherTarget) Delete(context.Context, target.DeleteOptions) (bool, error) {
	o.deleted = true
	return true, nil
}
func (o *otherTarget) CollectLogs(context.Context, string) error { return nil }
func (o *otherTarget) IngressNode() map[string]string            { return nil }
func (o *otherTarget) IngressURL() string                        { return "http://192.0.2.10:30080" }
func (o *otherTarget) Kubernetes() (int, string)                 { return 35, "the API server" }
func (o *otherTarget) Provides() []component.Capability {
	return []component.Capability{component.Metrics}
}
func (o *otherTarget) LoadImages(_ context.Context, opts target.LoadOptions) (cluster.PreloadResult, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.loaded = append(o.loaded, opts.Images)
	return cluster.PreloadResult{}, nil
}
func (o *otherTarget) ImageProbe() func(context.Context, string) string { return nil }

// up, status and down run their steps unchanged on a target that is not a kind cluster: it is
// connected to, not created; what it provides is used, not installed again; the smoke test and
// the URLs go where it says its ingress answers.
func TestTheStepsActOnATargetThatIsNotKind(t *testing.T) {
	m := newMachine(t, readyNode())
	other := &otherTarget{}
	m.pipeline.Target = func(config.Settings) target.Target { return other }
	var smoked []string
	m.pipeline.Smoke = func(_ context.Context, opts smoke.Options) error {
		smoked = append(smoked, opts.BaseURL)
		return nil
	}
	var progress bytes.Buffer
	sum, err := m.pipeline.Up(context.Background(), steps.NewRunner(&progress, steps.Options{}), pipeline.UpOptions{Settings: settings()})
	require.NoError(t, err, progress.String())
	assert.Contains(t, progress.String(), "✓ Preflight · API server v1.35.0")
	assert.Empty(t, m.kind.clusters, "no kind cluster was created")
	assert.False(t, sum.Created)
	assert.Equal(t, "other", sum.Context)
	assert.NotContains(t, keys(m.engine.inventory), "metrics-server", "the target's own metrics API is used")
	assert.Contains(t, keys(m.engine.inventory), "example", "the example's autoscalers wait for the target's metrics")
	assert.Len(t, other.loaded, 2, "the images of each component went to the target")
	assert.Equal(t, []string{"http://192.0.2.10:30080"}, smoked)
	assert.True(t, slices.Contains(sum.URLs, "http://192.0.2.10:30080/api/healthy"), "%v", sum.URLs)

	rep, err := m.pipeline.Status(context.Background(), settings())
	require.NoError(t, err)
	assert.True(t, rep.Ready)
	assert.Len(t, rep.Components, 2)

	rep, err = m.pipeline.Status(context.Background(), settings())
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"ingress": "ingress-nginx (installed by kindstack)", "metrics": "the cluster's own: context other"},
		rep.Capabilities, "status says where each capability comes from")

	var downProgress bytes.Buffer
	res, err := m.pipeline.Down(context.Background(), steps.NewRunner(&downProgress, steps.Options{}), settings())
	require.NoError(t, err)
	assert.False(t, other.deleted, "a cluster kindstack did not create is never deleted")
	assert.Empty(t, m.engine.inventory, "what kindstack installed there is removed, and its records with it")
	require.Len(t, m.engine.pruneCalls, 2)
	inNamespace := func(ns string) func(kube.Ref) bool { return func(r kube.Ref) bool { return r.Namespace == ns } }
	assert.True(t, slices.ContainsFunc(m.engine.pruneCalls[0], inNamespace("example")), "the example needs ingress: it goes before ingress-nginx")
	assert.True(t, slices.ContainsFunc(m.engine.pruneCalls[1], inNamespace("ingress-nginx")))
	assert.Equal(t, len(m.engine.pruned), res.Removed)
	assert.Contains(t, downProgress.String(), "✓ Remove what kindstack installed on context other · example, ingress-nginx · ")
	assert.Contains(t, downProgress.String(), "the cluster stays")

	s := settings()
	s.Bundle = "bundle.tar"
	_, err = m.pipeline.Up(context.Background(), quiet(), pipeline.UpOptions{Settings: s})
	assert.ErrorContains(t, err, "--bundle imports images into a kind node that kindstack manages; context other takes none")
}

// routedTarget is a cluster without host ports whose ingress is reached through a port-forward.
type routedTarget struct {
	otherTarget
	asked  []component.Service
	probed []string
	closed bool
}

func (r *routedTarget) Route(ctx context.Context, svc component.Service, probe target.Probe, _ func(string, ...any)) (target.Route, error) {
	r.asked = append(r.asked, svc)
	if err := probe(ctx, "http://192.0.2.10:31380"); err == nil {
		r.probed = append(r.probed, "http://192.0.2.10:31380 passed")
	}
	return target.Route{BaseURL: "http://127.0.0.1:40123", How: "port-forward to pod ingress-nginx/c-1 port 80 (it lasts while kindstack runs)",
		Again: "kubectl --context other -n ingress-nginx port-forward service/ingress-nginx-controller 8080:80", Close: func() { r.closed = true }}, nil
}

func (r *routedTarget) RouteIngress(context.Context, string, string, target.Probe, func(string, ...any)) (target.Route, error) {
	return target.Route{}, errors.New("not asked")
}

// On a target without host ports, the smoke test goes where the target routes it, up says which
// way, and URLs that a port-forward served are those of the command that opens it again.
func TestTheSmokeTestTakesTheTargetsRouteAndSaysWhich(t *testing.T) {
	m := newMachine(t, readyNode())
	routed := &routedTarget{}
	m.pipeline.Target = func(config.Settings) target.Target { return routed }
	var smoked []string
	m.pipeline.Smoke = func(_ context.Context, opts smoke.Options) error {
		smoked = append(smoked, opts.BaseURL)
		if opts.BaseURL == "http://192.0.2.10:31380" {
			return errors.New("a transparent proxy answered, not the ingress")
		}
		return nil
	}
	var progress bytes.Buffer
	sum, err := m.pipeline.Up(context.Background(), steps.NewRunner(&progress, steps.Options{}), pipeline.UpOptions{Settings: settings()})
	require.NoError(t, err, progress.String())
	assert.Equal(t, []component.Service{{Namespace: "ingress-nginx", Name: "ingress-nginx-controller", Port: "http"}}, routed.asked)
	assert.Empty(t, routed.probed, "the probe runs the smoke requests and failed there")
	assert.Equal(t, []string{"http://192.0.2.10:31380", "http://127.0.0.1:40123"}, smoked)
	assert.True(t, routed.closed, "the port-forward ends with the step")
	assert.Contains(t, progress.String(), "✓ Smoke test through the ingress · http://127.0.0.1:40123 answers · through port-forward to pod ingress-nginx/c-1 port 80")
	assert.Contains(t, progress.String(), "the port-forward ends when kindstack returns; `kubectl --context other -n ingress-nginx port-forward service/ingress-nginx-controller 8080:80` opens it again")
	assert.Equal(t, "port-forward to pod ingress-nginx/c-1 port 80 (it lasts while kindstack runs)", sum.Route)
	assert.Equal(t, "kubectl --context other -n ingress-nginx port-forward service/ingress-nginx-controller 8080:80", sum.Again)
	assert.Contains(t, sum.URLs, "http://localhost:8080/api/healthy")
}

// newerTarget runs a Kubernetes newer than ingress-nginx is tested on.
type newerTarget struct{ otherTarget }

func (n *newerTarget) Kubernetes() (int, string) {
	return 36, "the API server of context other, v1.36.0"
}

// On a cluster kindstack did not create, a component not tested on its Kubernetes is refused
// before anything changes (on a kind cluster kindstack makes, it is a warning); --force installs it.
func TestAnUntestedKubernetesIsRefusedOnAClusterKindstackDidNotCreate(t *testing.T) {
	m := newMachine(t, readyNode())
	m.pipeline.Target = func(config.Settings) target.Target { return &newerTarget{} }
	m.pipeline.Smoke = func(context.Context, smoke.Options) error { return nil }
	_, err := m.pipeline.Up(context.Background(), quiet(), pipeline.UpOptions{Settings: settings()})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ingress-nginx is tested up to Kubernetes 1.35, not on 1.36")
	assert.Contains(t, err.Error(), "(the API server of context other, v1.36.0); --force installs it anyway")
	assert.Empty(t, m.engine.events, "nothing was applied")

	s := settings()
	s.Force = true
	var progress bytes.Buffer
	_, err = m.pipeline.Up(context.Background(), steps.NewRunner(&progress, steps.Options{}), pipeline.UpOptions{Settings: s})
	require.NoError(t, err, progress.String())
	assert.Contains(t, progress.String(), "ingress-nginx is tested up to Kubernetes 1.35, not on 1.36")
}
