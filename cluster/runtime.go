package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	kindcluster "sigs.k8s.io/kind/pkg/cluster"
)

// Runtime is the container runtime kind drives (through its CLI), e.g. docker.
type Runtime struct {
	Name   string // docker, podman, nerdctl, finch, nerdctl.lima
	Binary string // the executable kind runs for it
	Reason string // how it was chosen, e.g. "KIND_EXPERIMENTAL_PROVIDER=podman"
}

// ProviderOption is kind's option selecting this runtime.
func (r Runtime) ProviderOption() kindcluster.ProviderOption {
	switch r.Name {
	case "podman":
		return kindcluster.ProviderWithPodman()
	case "nerdctl", "finch", "nerdctl.lima":
		return kindcluster.ProviderWithNerdctl(r.Binary)
	default:
		return kindcluster.ProviderWithDocker()
	}
}

// CommandRunner runs a program and returns its combined output. Tests replace it.
type CommandRunner func(ctx context.Context, name string, args ...string) ([]byte, error)

// ExecCommand runs a real program, inheriting the environment (so DOCKER_HOST, CONTAINER_HOST and
// friends apply exactly as they do for kind).
func ExecCommand(ctx context.Context, name string, args ...string) ([]byte, error) {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

// InputRunner is a CommandRunner that gives the program an input (stdin). Tests replace it.
type InputRunner func(ctx context.Context, stdin io.Reader, name string, args ...string) ([]byte, error)

// ExecCommandInput is ExecCommand with stdin as the program's input.
func ExecCommandInput(ctx context.Context, stdin io.Reader, name string, args ...string) ([]byte, error) {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

// ExperimentalProviderEnv is the variable kind's CLI reads to force a runtime.
const ExperimentalProviderEnv = "KIND_EXPERIMENTAL_PROVIDER"

// errNoRuntime is returned by DetectRuntime when nothing usable is installed.
var errNoRuntime = errors.New("no container runtime found: install Docker (or Podman, nerdctl), or set " + ExperimentalProviderEnv)

// DetectRuntime chooses the runtime like kind's CLI does: KIND_EXPERIMENTAL_PROVIDER when it names a
// known runtime, otherwise the first of docker, nerdctl (or finch), podman whose `-v` answers —
// the same probes and order as kind's cluster.DetectNodeProvider, which cannot say which one it picked.
// warn receives kind's message for an unknown KIND_EXPERIMENTAL_PROVIDER value.
func DetectRuntime(ctx context.Context, getenv func(string) string, run CommandRunner, warn func(string)) (Runtime, error) {
	switch p := getenv(ExperimentalProviderEnv); p {
	case "":
	case "docker", "podman", "nerdctl", "finch", "nerdctl.lima":
		rt := Runtime{Name: p, Binary: p, Reason: ExperimentalProviderEnv + "=" + p}
		if !versionAnswers(ctx, run, p, "") {
			return rt, fmt.Errorf("%s=%s but %q is not installed or does not run (%s -v failed)", ExperimentalProviderEnv, p, p, p)
		}
		return rt, nil
	default:
		if warn != nil {
			warn(fmt.Sprintf("ignoring unknown value %q for %s (want docker, podman, nerdctl, finch or nerdctl.lima)", p, ExperimentalProviderEnv))
		}
	}
	probes := []struct{ name, prefix string }{
		{"docker", "Docker version"},
		{"nerdctl", "nerdctl version"},
		{"finch", "finch version"},
		{"podman", "podman version"},
	}
	for _, p := range probes {
		if versionAnswers(ctx, run, p.name, p.prefix) {
			return Runtime{Name: p.name, Binary: p.name, Reason: "detected"}, nil
		}
	}
	return Runtime{}, errNoRuntime
}

func versionAnswers(ctx context.Context, run CommandRunner, bin, prefix string) bool {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := run(ctx, bin, "-v")
	if err != nil {
		return false
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return len(lines) == 1 && (prefix == "" || strings.HasPrefix(lines[0], prefix))
}

// Ping asks the runtime's engine for its version, so an installed client without a reachable
// engine is caught before kind tries to create anything. It returns the engine's version.
func Ping(ctx context.Context, run CommandRunner, rt Runtime) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	// Docker's `version` says "Cannot connect to the Docker daemon at …" when the engine is away;
	// its `info --format` may print only a template error about a nil field instead.
	args := []string{"version", "--format", "{{.Server.Version}}"}
	switch rt.Name {
	case "podman":
		args = []string{"info", "--format", "{{.Version.Version}}"}
	case "nerdctl", "finch", "nerdctl.lima":
		args = []string{"info", "--format", "{{.ServerVersion}}"}
	}
	out, err := run(ctx, rt.Binary, args...)
	if err != nil {
		msg := lastLine(out)
		if msg == "" {
			msg = err.Error()
		}
		return "", fmt.Errorf("%s is installed but its engine does not answer (`%s %s`: %s)", rt.Name, rt.Binary, args[0], msg)
	}
	return strings.TrimSpace(string(out)), nil
}

func lastLine(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// CgroupV2 reports whether the host runs the unified cgroup v2 hierarchy.
func CgroupV2() bool { return CgroupV2At("/sys/fs/cgroup") }

// CgroupV2At reports whether the cgroup hierarchy mounted at root is v2 (it has cgroup.controllers).
func CgroupV2At(root string) bool {
	_, err := os.Stat(filepath.Join(root, "cgroup.controllers"))
	return err == nil
}
