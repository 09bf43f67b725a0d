package testenv

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// EnvBuild, when "1", lets New build missing binaries (BuildCommand) instead of skipping. A cold
// build takes 10-20 minutes: raise go test's -timeout accordingly.
const EnvBuild = "KINDSTACK_TESTBED_BUILD"

// startTimeout bounds the control plane's start-up in New.
const startTimeout = 3 * time.Minute

// New starts a control plane for a test and stops it when the test ends. When binaries are
// missing it skips the test, loudly, naming the command that builds them — unless CI=true, where
// a missing prerequisite fails the test — or builds them first when KINDSTACK_TESTBED_BUILD=1.
// If the test fails, the tail of every component's log is printed.
func New(t testing.TB) *ControlPlane {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	root, err := RepoRoot(wd)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	bins, err := FindBinaries(ctx, root)
	if err != nil && os.Getenv(EnvBuild) == "1" {
		t.Logf("testenv: %v; building them now (%s=1)", err, EnvBuild)
		build := exec.Command("bash", "e2e/testbed/controlplane.sh", "prepare")
		build.Dir = root
		out, buildErr := build.CombinedOutput()
		if buildErr != nil {
			t.Fatalf("testenv: %s failed: %v\n%s", BuildCommand, buildErr, tailString(string(out), 40))
		}
		bins, err = FindBinaries(ctx, root)
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("testenv: integration tier cannot run under CI: %v", err)
		}
		t.Skipf("SKIPPING INTEGRATION TEST — %v (or set %s=1 to build from the test)", err, EnvBuild)
	}
	cp, err := Start(ctx, bins, Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Logf("testenv: control plane up: apiserver ready in %s, controllers ready in %s (dir %s)",
		cp.Timings.APIServerReady.Round(time.Millisecond), cp.Timings.Ready.Round(time.Millisecond), cp.Dir)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("testenv: control plane logs:\n%s", cp.LogTail(10))
		}
		stopStart := time.Now()
		cp.Stop()
		t.Logf("testenv: control plane stopped in %s", time.Since(stopStart).Round(time.Millisecond))
	})
	return cp
}

func tailString(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
