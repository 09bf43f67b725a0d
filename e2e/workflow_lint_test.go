package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// actionlintModule is installed from the Go module proxy into a temp dir (go.mod is not touched).
const actionlintModule = "github.com/rhysd/actionlint/cmd/actionlint@v1.7.12"

// offline matches go's errors when the module proxy cannot be reached.
var offline = regexp.MustCompile(`dial tcp|no such host|connection refused|i/o timeout|network is unreachable|TLS handshake timeout|GOPROXY=off|GOFLAGS=-mod=vendor|proxyconnect`)

// TestWorkflowsAreActionlintClean runs actionlint on .github/workflows: a workflow that cannot run
// on this machine is at least syntactically and semantically checked (expressions, action inputs,
// shell scripts when shellcheck is installed).
func TestWorkflowsAreActionlintClean(t *testing.T) {
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	files, err := filepath.Glob(filepath.Join(root, ".github", "workflows", "*.yml"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "workflow files in .github/workflows")

	bin := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	install := exec.CommandContext(ctx, "go", "install", actionlintModule)
	install.Dir = bin // outside the module: go.mod and go.sum stay as they are
	install.Env = append(os.Environ(), "GOBIN="+bin, "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local")
	if out, err := install.CombinedOutput(); err != nil {
		if offline.Match(out) && os.Getenv("CI") != "true" {
			t.Skipf("SKIPPED: cannot install actionlint (no network for the Go module proxy?): %v\n%s", err, out)
		}
		require.NoError(t, err, "go install %s\n%s", actionlintModule, out)
	}

	cmd := exec.CommandContext(ctx, filepath.Join(bin, "actionlint"), append([]string{"-no-color"}, files...)...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "actionlint found problems:\n%s", strings.TrimSpace(string(out)))
}
