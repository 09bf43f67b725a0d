package cluster

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	kindexec "sigs.k8s.io/kind/pkg/exec"
)

func TestCommandOutputQuotesTheTailAndNamesTheEngineInUse(t *testing.T) {
	t.Parallel()
	var lines []string
	for i := range 20 {
		lines = append(lines, fmt.Sprintf("kubeadm line %d", i))
	}
	// Inner is always set by kind (its RunErrorForError loops forever on a RunError without one).
	runErr := &kindexec.RunError{Command: []string{"kubeadm", "init"}, Output: []byte(strings.Join(lines, "\n") + "\n"), Inner: errors.New("exit status 1")}

	got := commandOutput(runErr, false, Runtime{Name: "podman", Binary: "podman"})
	assert.Contains(t, got, "kubeadm line 19", "the last line is quoted")
	assert.Contains(t, got, "kubeadm line 5")
	assert.NotContains(t, got, "kubeadm line 4", "only the last 15 lines")
	assert.Contains(t, got, "(podman exec into it)", "the hint names the engine the node runs on")

	assert.Contains(t, commandOutput(runErr, false, Runtime{Name: "docker", Binary: "docker"}), "(docker exec into it)")
	assert.Contains(t, commandOutput(runErr, true, Runtime{Name: "docker", Binary: "docker"}), "the failed node is kept (--retain)")
	assert.Empty(t, commandOutput(errors.New("no output"), false, Runtime{}), "nothing to quote without a command's output")
}
