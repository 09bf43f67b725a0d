package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/kindstack/kindstack/internal/pipeline"
)

// run runs the whole app with a pipeline that must not be reached for these commands.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	app := New(Options{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }, Pipeline: &pipeline.Pipeline{}})
	err := app.RunContext(context.Background(), append([]string{"kindstack"}, args...))
	return stdout.String(), err
}

func TestVersionFlagCommandAndFormats(t *testing.T) {
	t.Parallel()
	flag, err := run(t, "--version")
	require.NoError(t, err)
	cmd, err := run(t, "version")
	require.NoError(t, err)
	assert.Equal(t, cmd, flag, "--version prints what `version` prints")
	assert.True(t, strings.HasPrefix(flag, "kindstack dev"), flag)
	assert.Contains(t, flag, "default node image: kindest/node:")

	out, err := run(t, "version", "-o", "yaml")
	require.NoError(t, err)
	var vi VersionInfo
	require.NoError(t, yaml.UnmarshalStrict([]byte(out), &vi), out)
	assert.True(t, strings.HasPrefix(vi.Version, "dev"))
	assert.NotEmpty(t, vi.DefaultNodeImage)

	verbose, err := run(t, "-v", "version")
	require.NoError(t, err, "-v is --verbose, not urfave's version flag")
	assert.Equal(t, cmd, verbose)

	_, err = run(t, "version", "-o", "xml")
	var usage *UsageError
	require.ErrorAs(t, err, &usage)
	assert.EqualError(t, err, `invalid value "xml" for -o/--output: want text, json or yaml`)
}

func TestConfigAndTimeoutFromTheEnvironment(t *testing.T) {
	file := writeConfig(t, "httpPort: 8081\n")
	t.Setenv("KINDSTACK_CONFIG", file)
	t.Setenv("KINDSTACK_TIMEOUT", "7m")
	inv, err := resolveArgs(t, "up")
	require.NoError(t, err)
	require.NoError(t, inv.configErr)
	assert.Equal(t, 8081, inv.settings.HTTPPort, "KINDSTACK_CONFIG names the config file")
	assert.Equal(t, 7*time.Minute, inv.settings.Timeout, "KINDSTACK_TIMEOUT sets the budget")
	assert.Equal(t, 7*time.Minute, inv.settings.StatusTimeout)

	inv, err = resolveArgs(t, "up", "--timeout", "2m")
	require.NoError(t, err)
	assert.Equal(t, 2*time.Minute, inv.settings.Timeout, "the flag wins over the environment")
}
