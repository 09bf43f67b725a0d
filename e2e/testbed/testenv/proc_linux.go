package testenv

import (
	"os"
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill the component when the test binary dies without calling
// Stop (a panic or go test's timeout), in its own process group.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}

// terminate asks a component to shut down cleanly.
func terminate(p *os.Process) { _ = p.Signal(syscall.SIGTERM) }
