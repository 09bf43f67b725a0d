package cluster

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kindstack/kindstack/internal/mirrors"
	"github.com/kindstack/kindstack/internal/nodeimage"
)

func TestNodeImageIsPulledThroughTheMirrorsWhenTheEngineLacksIt(t *testing.T) {
	t.Parallel()
	const node = nodeimage.Default
	r := mirrors.Registries{Mirrors: map[string][]string{"docker.io": {"https://down.example", "https://docker.m.daocloud.io"}}}
	var calls []string
	have := map[string]bool{}
	m := &Manager{StateDir: t.TempDir(), Run: func(_ context.Context, _ string, args ...string) ([]byte, error) {
		calls = append(calls, strings.Join(args, " "))
		ref := args[len(args)-1]
		switch args[0] {
		case "image":
			if have[ref] {
				return []byte("sha256:id\n"), nil
			}
			return []byte("Error: No such image: " + ref), errors.New("exit status 1")
		case "pull":
			if strings.HasPrefix(ref, "docker.m.daocloud.io/") {
				have[ref] = true
				return nil, nil
			}
			return []byte("Error response from daemon: Get \"https://down.example/v2/\": dial tcp: i/o timeout"), errors.New("exit status 1")
		}
		return nil, errors.New("unexpected")
	}}
	rt := Runtime{Name: "docker", Binary: "docker"}
	got, err := m.nodeImage(context.Background(), rt, node, r, func(string, ...any) {})
	require.NoError(t, err)
	assert.Equal(t, "docker.m.daocloud.io/"+nodeimage.Default, got, "the second mirror, digest kept")
	assert.Contains(t, calls, "pull down.example/"+nodeimage.Default, "the first mirror was tried first")

	have[node] = true
	got, err = m.nodeImage(context.Background(), rt, node, r, func(string, ...any) {})
	require.NoError(t, err)
	assert.Equal(t, node, got, "an engine that has it: no pull, no rewrite")

	got, err = m.nodeImage(context.Background(), rt, "quay.io/x/node:v1", r, func(string, ...any) {})
	require.NoError(t, err)
	assert.Equal(t, "quay.io/x/node:v1", got, "no mirror for its registry: kind pulls it as named")
}
