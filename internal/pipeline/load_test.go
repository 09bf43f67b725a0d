package pipeline_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kindstack/kindstack/internal/cli"
)

// Every bad input to load is one sentence and exit 1 (not a usage error), before anything changes.
func TestLoadRefusesBadInputBeforeAnyChange(t *testing.T) {
	m := newMachine(t, readyNode())
	notArchive := filepath.Join(t.TempDir(), "notes.txt")
	require.NoError(t, os.WriteFile(notArchive, []byte("not a tar at all, just some words of text here"), 0o600))

	_, _, err := runCLI(t, m, "load", "app:dev")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `cluster "kindstack" does not exist; run `+"`kindstack up --name kindstack`"+` first`)
	assert.Contains(t, err.Error(), "docker has no image app:dev: build or pull it first (`docker build -t app:dev .`)")

	_, _, err = runCLI(t, m, "up")
	require.NoError(t, err)
	applied := len(m.engine.events)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"load", "Not:A:Ref"}, `"Not:A:Ref" is not an image reference`},
		{[]string{"load", "app:dev", "-o", "json"}, "docker has no image app:dev"},
		{[]string{"load"}, "name the images to load (kindstack load IMAGE...) or an archive (--archive FILE)"},
		{[]string{"load", "--archive", notArchive, "app:dev"}, "give either images or --archive FILE, not both"},
		{[]string{"load", "--archive", notArchive}, notArchive + " is not an image archive"},
	} {
		_, _, err := runCLI(t, m, tt.args...)
		require.Error(t, err, "%v", tt.args)
		assert.Contains(t, err.Error(), tt.want, "%v", tt.args)
		var usage *cli.UsageError
		assert.False(t, errors.As(err, &usage), "%v: exit 1, not a usage error", tt.args)
	}
	assert.Len(t, m.engine.events, applied, "nothing was applied")
	assert.Len(t, m.kind.clusters, 1, "the cluster is as it was")
}
