package pipeline_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kindstack/kindstack/internal/kube"
	"github.com/kindstack/kindstack/internal/pipeline"
	"github.com/kindstack/kindstack/internal/steps"
)

// On any target, an object up would apply that someone else made is refused before anything in
// the cluster changes, named with who manages it; --force takes it over and says so.
func TestUpRefusesObjectsAnotherManagerMadeUnlessForced(t *testing.T) {
	m := newMachine(t, readyNode())
	theirs := kube.Ref{Kind: "ConfigMap", Namespace: "example", Name: "pg-init-script"}
	m.engine.foreign = map[kube.Ref][]string{theirs: {"kubectl-client-side-apply"}}

	_, err := m.pipeline.Up(context.Background(), quiet(), pipeline.UpOptions{Settings: settings()})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "1 objects kindstack would apply exist already and are not kindstack's: ConfigMap/example/pg-init-script (managed by kubectl-client-side-apply); "+
		"kindstack leaves them alone (delete or rename them, or pass --force to take them over)")
	assert.Empty(t, m.engine.events, "nothing was applied, pruned or recorded")
	assert.Empty(t, m.engine.inventory)

	s := settings()
	s.Force = true
	var progress bytes.Buffer
	_, err = m.pipeline.Up(context.Background(), steps.NewRunner(&progress, steps.Options{}), pipeline.UpOptions{Settings: s})
	require.NoError(t, err, progress.String())
	assert.Contains(t, progress.String(), "--force: taking over ConfigMap/example/pg-init-script (managed by kubectl-client-side-apply)")
	require.NotEmpty(t, m.engine.applyOpts)
	for _, o := range m.engine.applyOpts {
		assert.True(t, o.TakeOver, "every apply takes over with --force")
	}
}
