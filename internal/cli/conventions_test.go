package cli

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/kindstack/kindstack/internal/catalogue"
	"github.com/kindstack/kindstack/internal/kube"
	"github.com/kindstack/kindstack/internal/pipeline"
	"github.com/kindstack/kindstack/internal/transform"
)

// run runs the whole app with a pipeline that has no cluster manager: these commands need none.
// Tests that call it do not run in parallel: every Run of a urfave/cli app writes to that
// package's HelpFlag and VersionFlag, which all apps share (one app per process in real use).
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	app := New(Options{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }, Pipeline: &pipeline.Pipeline{Catalogue: catalogue.All()}})
	err := app.RunContext(context.Background(), append([]string{"kindstack"}, args...))
	return stdout.String(), err
}

func TestVersionFlagCommandAndFormats(t *testing.T) {
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

func TestRenderPrintsWhatUpApplies(t *testing.T) {
	out, err := run(t, "render", "--config", filepath.Join("..", "..", "e2e", "testdata", "airgap.yaml"))
	require.NoError(t, err)
	objs, err := kube.Decode("render", []byte(out))
	require.NoError(t, err, "render's output is YAML a person or a GitOps tool can apply")
	components := map[string]int{}
	for _, o := range objs {
		assert.Equal(t, "kindstack", o.GetLabels()[kube.ManagedByLabel], kube.RefOf(o).String())
		components[o.GetLabels()[kube.ComponentLabel]]++
	}
	assert.Len(t, components, 3)
	images, err := transform.ContainerImages(objs)
	require.NoError(t, err)
	for _, img := range images {
		assert.True(t, strings.HasPrefix(img, "kindstack.test/"), "the images map is applied: %s", img)
	}
	assert.Contains(t, out, "# component: ingress-nginx\n---\n")

	without, err := run(t, "render", "--no-example")
	require.NoError(t, err)
	assert.NotContains(t, without, "# component: example")
}

func TestCompletionScripts(t *testing.T) {
	bash, err := run(t, "completion", "bash")
	require.NoError(t, err)
	assert.Contains(t, bash, "complete -o default -F _kindstack_complete kindstack")
	if path, err := exec.LookPath("bash"); err == nil {
		out, err := exec.Command(path, "-n", "-c", bash).CombinedOutput()
		assert.NoError(t, err, "the bash script parses: %s", out)
	}
	zsh, err := run(t, "completion", "zsh")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(zsh, "#compdef kindstack\n"))
	fish, err := run(t, "completion", "fish")
	require.NoError(t, err)
	assert.Contains(t, fish, "complete -c kindstack")
	assert.Contains(t, fish, "-a 'up'")

	// The words themselves come from the binary: main_test runs the script against it.
	_, err = run(t, "completion", "tcsh")
	var usage *UsageError
	require.ErrorAs(t, err, &usage)
	assert.EqualError(t, err, `completion takes one shell: bash, zsh or fish (got "tcsh")`)
}
