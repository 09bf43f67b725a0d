package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	ucli "github.com/urfave/cli/v2"

	"github.com/kindstack/kindstack/cluster"
	"github.com/kindstack/kindstack/internal/catalogue"
	"github.com/kindstack/kindstack/internal/config"
	"github.com/kindstack/kindstack/internal/pipeline"
)

// testApp is the app with kindstack's components and no pipeline to run.
func testApp() *app { return &app{pl: &pipeline.Pipeline{Catalogue: catalogue.All()}} }

// resolveArgs runs the real flag definitions and returns what `up` would run with.
func resolveArgs(t *testing.T, args ...string) (invocation, error) {
	t.Helper()
	var got invocation
	var resolveErr error
	onUsage := func(_ *ucli.Context, err error, _ bool) error { return &UsageError{Err: err} }
	a := testApp()
	app := &ucli.App{
		Name: "kindstack", Flags: commonFlags(), OnUsageError: onUsage, ExitErrHandler: func(*ucli.Context, error) {},
		Writer: &bytes.Buffer{}, ErrWriter: &bytes.Buffer{},
		Commands: []*ucli.Command{{Name: "up", Flags: append(commonFlags(), a.upFlags()...), OnUsageError: onUsage,
			Action: func(c *ucli.Context) error { got, resolveErr = a.resolve(c); return nil }}},
	}
	if err := app.RunContext(context.Background(), append([]string{"kindstack"}, args...)); err != nil {
		return got, err
	}
	return got, resolveErr
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kindstack.yaml")
	require.NoError(t, os.WriteFile(path, []byte("apiVersion: kindstack.dev/v1alpha1\nkind: Stack\n"+body), 0o600))
	return path
}

func TestPrecedenceFlagsOverFileOverDefaults(t *testing.T) {
	// Not parallel: urfave reads KINDSTACK_CLUSTER_NAME from the process environment.
	file := writeConfig(t, "name: from-file\nhttpPort: 8080\nhttpsPort: 8443\nexample: true\ntimeout: 20m\nlistenAddress: 0.0.0.0\n")
	d := config.Defaults()

	tests := []struct {
		name  string
		env   string
		args  []string
		check func(t *testing.T, s config.Settings)
	}{
		{"defaults", "", []string{"up"}, func(t *testing.T, s config.Settings) {
			assert.Equal(t, d, s)
		}},
		{"file over defaults", "", []string{"up", "--config", file}, func(t *testing.T, s config.Settings) {
			assert.Equal(t, "from-file", s.Name)
			assert.Equal(t, 8080, s.HTTPPort)
			assert.Equal(t, 20*time.Minute, s.Timeout)
			assert.Equal(t, "0.0.0.0", s.ListenAddress)
			assert.Equal(t, d.NodeImage, s.NodeImage, "unset in the file: default")
		}},
		{"flags over file", "", []string{"up", "--config", file, "--http-port", "9090", "--name", "from-flag", "--no-example", "--timeout", "1m", "--listen-address", "127.0.0.2"}, func(t *testing.T, s config.Settings) {
			assert.Equal(t, "from-flag", s.Name)
			assert.Equal(t, 9090, s.HTTPPort)
			assert.Equal(t, 8443, s.HTTPSPort, "not given as a flag: the file's value")
			assert.False(t, s.Enabled("example"))
			assert.Equal(t, time.Minute, s.Timeout)
			assert.Equal(t, "127.0.0.2", s.ListenAddress)
		}},
		{"global flags before the command", "", []string{"--name", "global", "--config", file, "up"}, func(t *testing.T, s config.Settings) {
			assert.Equal(t, "global", s.Name)
			assert.Equal(t, 8080, s.HTTPPort)
		}},
		{"command flag beats global flag", "", []string{"--name", "global", "up", "--name", "local"}, func(t *testing.T, s config.Settings) {
			assert.Equal(t, "local", s.Name)
		}},
		{"env over file", "from-env", []string{"up", "--config", file}, func(t *testing.T, s config.Settings) {
			assert.Equal(t, "from-env", s.Name)
		}},
		{"flag over env", "from-env", []string{"up", "--name", "from-flag"}, func(t *testing.T, s config.Settings) {
			assert.Equal(t, "from-flag", s.Name)
		}},
		{"mirror flags replace the file's list for their registry only", "", []string{"up", "--config",
			writeConfig(t, "registryMirrors:\n  docker.io: [https://file.example]\n  quay.io: [https://quay.file.example]\n"),
			"--registry-mirror", "docker.io=https://a.example", "--registry-mirror", "docker.io=http://10.0.0.5:5000",
			"--insecure-mirror", "https://quay.file.example", "--preload=false"}, func(t *testing.T, s config.Settings) {
			assert.Equal(t, map[string][]string{"docker.io": {"https://a.example", "http://10.0.0.5:5000"}, "quay.io": {"https://quay.file.example"}}, s.Registries.Mirrors)
			assert.Equal(t, []string{"https://quay.file.example"}, s.Registries.Insecure)
			assert.False(t, s.Preload)
		}},
		{"image and retain flags", "", []string{"up", "--image", cluster.CgroupV1NodeImage, "--retain"}, func(t *testing.T, s config.Settings) {
			assert.Equal(t, cluster.CgroupV1NodeImage, s.NodeImage)
			assert.True(t, s.Retain)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("KINDSTACK_CLUSTER_NAME", tt.env)
			if tt.env == "" {
				require.NoError(t, os.Unsetenv("KINDSTACK_CLUSTER_NAME"))
			}
			inv, err := resolveArgs(t, tt.args...)
			require.NoError(t, err)
			require.NoError(t, inv.configErr)
			tt.check(t, inv.settings)
		})
	}
}

func TestResolveUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"up", "-o", "xml"}, `invalid value "xml" for -o/--output: want text, json or yaml`},
		{[]string{"up", "--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"up", "--http-port", "eighty"}, `invalid value "eighty" for flag -http-port`},
		{[]string{"up", "--timeout", "soon"}, `invalid value "soon" for flag -timeout`},
		{[]string{"up", "extra"}, `up takes no arguments, got "extra"`},
		{[]string{"up", "--registry-mirror", "https://docker.m.daocloud.io"}, `invalid value "https://docker.m.daocloud.io" for --registry-mirror: want REGISTRY=URL`},
		{[]string{"up", "--registry-mirror", "docker.io=docker.m.daocloud.io"}, `invalid value for --registry-mirror: mirror "docker.m.daocloud.io": want a URL`},
		{[]string{"up", "--insecure-mirror", "10.0.0.5:5000"}, `invalid value for --insecure-mirror: mirror "10.0.0.5:5000": want a URL`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			_, err := resolveArgs(t, tt.args...)
			var usage *UsageError
			require.ErrorAs(t, err, &usage)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestBadConfigFileIsKeptForPreflight(t *testing.T) {
	file := writeConfig(t, "httpPort: eighty\n")
	inv, err := resolveArgs(t, "up", "--config", file, "--http-port", "81")
	require.NoError(t, err, "a bad file is a preflight problem, reported with the others, not a usage error")
	require.Error(t, inv.configErr)
	assert.Contains(t, inv.configErr.Error(), `line 3: field "httpPort": want an integer, got the string "eighty"`)
	assert.Equal(t, 81, inv.settings.HTTPPort)
}

func TestImagesFileArgTakesFlagsAfterTheFile(t *testing.T) {
	var got invocation
	var file string
	onUsage := func(_ *ucli.Context, err error, _ bool) error { return &UsageError{Err: err} }
	a := testApp()
	app := &ucli.App{
		Name: "kindstack", Flags: commonFlags(), OnUsageError: onUsage, ExitErrHandler: func(*ucli.Context, error) {},
		Writer: &bytes.Buffer{}, ErrWriter: &bytes.Buffer{},
		Commands: []*ucli.Command{{Name: "save", ArgsUsage: "FILE", Flags: append(commonFlags(), a.upFlags()...), OnUsageError: onUsage,
			Action: func(c *ucli.Context) error {
				cc, f, err := fileArg(c)
				if err != nil {
					return err
				}
				file = f
				got, err = a.resolve(cc)
				return err
			}}},
	}
	err := app.RunContext(context.Background(), []string{"kindstack", "save", "b.tar", "-o", "json", "--ingress", "traefik", "-q", "--registry-mirror", "docker.io=http://m:5000"})
	require.NoError(t, err)
	assert.Equal(t, "b.tar", file)
	assert.Equal(t, "json", got.format, "-o after FILE")
	assert.True(t, got.quiet, "-q after FILE")
	assert.Equal(t, map[string]string{"ingress": "traefik"}, got.settings.Choices)
	assert.Equal(t, map[string][]string{"docker.io": {"http://m:5000"}}, got.settings.Registries.Mirrors)

	err = app.RunContext(context.Background(), []string{"kindstack", "save", "b.tar", "c.tar"})
	var usage *UsageError
	require.ErrorAs(t, err, &usage)
	assert.Contains(t, err.Error(), `images save takes one argument, the bundle FILE`)
}
