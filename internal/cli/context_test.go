package cli

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kindstack/kindstack/internal/pipeline"
)

// closedPort is a local port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// Bad input with --context, through the whole app and the real pipeline: one sentence, exit 1
// (not a usage error), before anything changes; the kubeconfig is only read.
func TestContextBadInputIsOneSentenceBeforeAnythingChanges(t *testing.T) {
	home := t.TempDir()
	kubeconfig := filepath.Join(home, "kubeconfig")
	body := `apiVersion: v1
kind: Config
clusters:
- name: team
  cluster: {server: "https://` + closedPort(t) + `", insecure-skip-tls-verify: true}
users:
- name: me
  user: {token: secret}
contexts:
- name: team
  context: {cluster: team, user: me}
- name: other
  context: {cluster: team, user: me}
current-context: other
`
	require.NoError(t, os.WriteFile(kubeconfig, []byte(body), 0o600))
	getenv := func(k string) string {
		if k == "HOME" {
			return home
		}
		return ""
	}
	runWith := func(args ...string) (string, error) {
		var stdout, stderr bytes.Buffer
		app := New(Options{Stdout: &stdout, Stderr: &stderr, Getenv: getenv, Pipeline: pipeline.New("test", getenv)})
		err := app.RunContext(context.Background(), append([]string{"kindstack"}, args...))
		return stderr.String(), err
	}
	missing := `context "nope" is not in the kubeconfig ` + kubeconfig + ` (it has other, team)`
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"up", "--context", "nope", "--kubeconfig", kubeconfig}, "preflight: " + missing},
		{[]string{"status", "--context", "nope", "--kubeconfig", kubeconfig}, missing},
		{[]string{"down", "--context", "nope", "--kubeconfig", kubeconfig}, missing},
		{[]string{"render", "--context", "nope", "--kubeconfig", kubeconfig}, missing},
		{[]string{"--kubeconfig", kubeconfig, "logs", "--context", "nope", "--output-dir", filepath.Join(home, "logs")}, missing},
		{[]string{"up", "--ingress-class", "traefik"},
			"--ingress-class names an IngressClass of the cluster --context names; a kind cluster kindstack creates gets its own ingress controller"},
		{[]string{"up", "--context", "team", "--kubeconfig", kubeconfig, "--image", "kindest/node:v1.33.1"},
			"--image is a setting for the kind cluster kindstack creates, but --context team names a cluster kindstack did not create; drop it"},
		{[]string{"up", "--context", "team", "--kubeconfig", kubeconfig, "--workers", "2"},
			"--workers is a setting for the kind cluster kindstack creates, but --context team names a cluster kindstack did not create; drop it"},
		{[]string{"up", "--context", "team", "--kubeconfig", kubeconfig, "--http-port", "8080", "--bundle", "b.tar", "--name", "x"},
			"--http-port, --bundle, --name are settings for the kind cluster kindstack creates, but --context team names a cluster kindstack did not create; drop them"},
	} {
		stderr, err := runWith(tc.args...)
		require.Error(t, err, "%v", tc.args)
		var usage *UsageError
		assert.False(t, errors.As(err, &usage), "%v: exit 1, not a usage error", tc.args)
		assert.EqualError(t, err, tc.want, "%v\n%s", tc.args, stderr)
		assert.NotContains(t, err.Error(), "\n", "one sentence: %v", tc.args)
	}

	stderr, err := runWith("up", "--context", "team", "--kubeconfig", kubeconfig)
	require.Error(t, err)
	assert.Regexp(t, `^preflight: the API server of context "team" \(https://127\.0\.0\.1:\d+\) does not answer \(waited up to 10s\): .*connection refused$`, err.Error())
	assert.Contains(t, stderr, "✗ Preflight")
	assert.NotContains(t, stderr, "Cluster", "no step after preflight ran")

	assert.NoDirExists(t, filepath.Join(home, "logs"), "logs made nothing")
	after, err := os.ReadFile(kubeconfig)
	require.NoError(t, err)
	assert.Equal(t, body, string(after), "the kubeconfig is never rewritten")
}
