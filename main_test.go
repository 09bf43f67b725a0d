package main

import (
	"bytes"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kindstack/kindstack/internal/cli"
)

// buildBinary builds kindstack the way users get it, into a temp dir.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "kindstack")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOTOOLCHAIN=local")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

type result struct {
	code           int
	stdout, stderr string
}

func run(t *testing.T, bin string, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		code = exitErr.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return result{code, stdout.String(), stderr.String()}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the test that builds the binary")
	}
	bin := buildBinary(t)
	home := t.TempDir()
	emptyPath := t.TempDir() // no docker, podman, nerdctl or finch here
	kubeconfig := filepath.Join(home, "kubeconfig")
	env := []string{"HOME=" + home, "PATH=" + emptyPath, "KUBECONFIG=" + kubeconfig, "NO_COLOR=1"}

	t.Run("usage errors exit 2", func(t *testing.T) {
		for _, args := range [][]string{{"--bogus"}, {"up", "--bogus"}, {"frobnicate"}, {"up", "--http-port", "eighty"}, {"status", "-o", "xml"}, {"completion", "tcsh"}} {
			r := run(t, bin, env, args...)
			assert.Equal(t, 2, r.code, "%v: %s", args, r.stderr)
			assert.Contains(t, r.stderr, "Run 'kindstack --help' for usage.", args)
		}
	})

	t.Run("bash completes commands through the binary", func(t *testing.T) {
		script := run(t, bin, env, "completion", "bash")
		require.Equal(t, 0, script.code, script.stderr)
		bash, err := exec.LookPath("bash")
		if err != nil {
			t.Skip("SKIPPED: no bash on PATH to run the completion script in")
		}
		// What bash does on `kindstack re<TAB>`: the script asks the binary for the words.
		cmd := exec.Command(bash, "-c", script.stdout+`
COMP_WORDS=(kindstack re); COMP_CWORD=1; _kindstack_complete; echo "${COMPREPLY[@]}"`)
		cmd.Env = append([]string{"PATH=" + filepath.Dir(bin) + ":/usr/bin:/bin"}, env[:1]...)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		assert.Equal(t, "recreate render registry", strings.TrimSpace(string(out)))
	})

	t.Run("version exits 0", func(t *testing.T) {
		r := run(t, bin, env, "version")
		assert.Equal(t, 0, r.code, r.stderr)
		assert.Contains(t, r.stdout, "kindstack ")
		assert.Contains(t, r.stdout, "kind v0.33.0")
	})

	noRuntime := []struct {
		name string
		env  []string
		want string
	}{
		{"no runtime on PATH", nil, "kindstack: preflight: no container runtime found: install Docker (or Podman, nerdctl), or set KIND_EXPERIMENTAL_PROVIDER\n"},
		{"KIND_EXPERIMENTAL_PROVIDER names a missing runtime", []string{"KIND_EXPERIMENTAL_PROVIDER=podman"},
			"kindstack: preflight: KIND_EXPERIMENTAL_PROVIDER=podman but \"podman\" is not installed or does not run (podman -v failed)\n"},
	}
	for _, tt := range noRuntime {
		t.Run("up exits 1 and changes nothing: "+tt.name, func(t *testing.T) {
			r := run(t, bin, append(append([]string{}, env...), tt.env...), "up", "--http-port", freePort(t), "--https-port", freePort(t))
			assert.Equal(t, 1, r.code, r.stderr)
			assert.True(t, strings.HasSuffix(r.stderr, tt.want), r.stderr)
			assert.Equal(t, 1, strings.Count(r.stderr, "kindstack:"), "one error sentence: %s", r.stderr)
			assert.Contains(t, r.stderr, "✗ Preflight")
			assert.Empty(t, r.stdout)
			assert.NoFileExists(t, kubeconfig)
			entries, err := os.ReadDir(home)
			require.NoError(t, err)
			assert.Empty(t, entries, "up must not write anything when preflight fails")
		})
	}

	// A docker whose engine answers and has no clusters: preflight gets as far as the worker count.
	fakeDocker := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(fakeDocker, "docker"), []byte(`#!/bin/sh
case "$1" in
  -v) echo "Docker version 28.0.0, build fake" ;;
  version) echo "28.0.0" ;;
esac
exit 0
`), 0o755))
	withDocker := []string{"HOME=" + home, "PATH=" + fakeDocker, "KUBECONFIG=" + kubeconfig, "NO_COLOR=1"}
	workers := []struct {
		name, count string
		want        *regexp.Regexp
	}{
		{"negative", "-1", regexp.MustCompile(`kindstack: preflight: --workers is -1; the number of worker nodes cannot be negative \(0 runs everything on the control-plane node\)\n$`)},
		{"more than the memory holds", "100000", regexp.MustCompile(`kindstack: preflight: --workers 100000 needs about [0-9.]+ [GT]iB of memory \(1.0 GiB for the control plane and 512 MiB for each worker\), but this machine has [0-9.]+ [KMGT]?i?B available; use --workers [0-9]+ or fewer, or free memory\n$`)},
	}
	for _, tt := range workers {
		t.Run("up --workers exits 1 and changes nothing: "+tt.name, func(t *testing.T) {
			r := run(t, bin, withDocker, "up", "--workers", tt.count, "--http-port", freePort(t), "--https-port", freePort(t))
			assert.Equal(t, 1, r.code, r.stderr)
			assert.Regexp(t, tt.want, r.stderr)
			assert.Equal(t, 1, strings.Count(r.stderr, "kindstack:"), "one error sentence: %s", r.stderr)
			assert.Empty(t, r.stdout)
			assert.NoFileExists(t, kubeconfig)
			entries, err := os.ReadDir(home)
			require.NoError(t, err)
			assert.Empty(t, entries, "up must not write anything when preflight fails")
		})
	}

	t.Run("status -o json on stdout, exit 1 without runtime", func(t *testing.T) {
		r := run(t, bin, env, "status", "-o", "json")
		assert.Equal(t, 1, r.code)
		assert.Contains(t, r.stdout, `"ready": false`)
		assert.Contains(t, r.stdout, `"problem": "no container runtime found`)
	})
}

func TestExitCode(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	assert.Equal(t, 0, exitCode(&buf, nil))
	assert.Equal(t, 2, exitCode(&buf, &cli.UsageError{Err: errors.New("unknown command \"x\"")}))
	assert.Equal(t, 1, exitCode(&buf, errors.New("preflight: port 80 is busy")))
	assert.Equal(t, "kindstack: unknown command \"x\"\nRun 'kindstack --help' for usage.\nkindstack: preflight: port 80 is busy\n", buf.String())
}
