package pipeline_test

import (
	"bytes"
	"context"
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
