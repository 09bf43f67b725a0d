//go:build integration

package kube_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kindstack/kindstack/internal/kube"
)

// An object a user made with kubectl in a namespace kindstack applies into is refused, named with
// its manager, and left exactly as it was; --force (TakeOver) takes it over; what kindstack
// applied itself is applied again without a word.
func testOwnership(t *testing.T, c *kube.Client) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cms := c.Kubernetes().CoreV1().ConfigMaps("owners")
	_, err := c.Kubernetes().CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "owners"}},
		metav1.CreateOptions{FieldManager: "kubectl-create"})
	require.NoError(t, err)
	_, err = cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings"}, Data: map[string]string{"mine": "yes"}},
		metav1.CreateOptions{FieldManager: "kubectl-create"})
	require.NoError(t, err)

	objs := decode(t, "owners.yaml", `
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: owners, labels: {app.kubernetes.io/managed-by: kindstack}}
data: {mine: "no"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: ours, namespace: owners, labels: {app.kubernetes.io/managed-by: kindstack}}
data: {a: b}
`)
	foreign, err := c.Foreign(ctx, objs)
	require.NoError(t, err)
	require.Len(t, foreign, 1)
	assert.Equal(t, "ConfigMap/owners/settings (managed by kubectl-create)", foreign[0].String())

	_, err = c.Apply(ctx, objs, kube.ApplyOptions{})
	var fe *kube.ForeignError
	require.True(t, errors.As(err, &fe), "%v", err)
	assert.ErrorContains(t, err, "ConfigMap/owners/settings (managed by kubectl-create)")
	live, err := cms.Get(ctx, "settings", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "yes", live.Data["mine"], "the user's object is left as it was")
	assert.Empty(t, live.Labels, "not even labelled")

	// What kindstack applied is its own: a second apply refuses nothing.
	_, err = c.Apply(ctx, objs[1:], kube.ApplyOptions{})
	require.NoError(t, err)
	foreign, err = c.Foreign(ctx, objs[1:])
	require.NoError(t, err)
	assert.Empty(t, foreign)

	changes, err := c.Apply(ctx, objs, kube.ApplyOptions{TakeOver: true})
	require.NoError(t, err, "--force takes it over")
	assert.Equal(t, "1 configured, 1 unchanged", changes.String())
	live, err = cms.Get(ctx, "settings", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "no", live.Data["mine"])
	foreign, err = c.Foreign(ctx, objs)
	require.NoError(t, err)
	assert.Empty(t, foreign, "taken over, it is kindstack's now")
}
