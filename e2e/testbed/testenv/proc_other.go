//go:build !linux

package testenv

import (
	"os"
	"os/exec"
)

// dieWithParent: other systems have no parent-death signal; Stop (run by t.Cleanup) stops the
// components, and a test binary killed outright leaves them to the OS.
func dieWithParent(*exec.Cmd) {}

// terminate stops a component; not every system has SIGTERM, so it is killed.
func terminate(p *os.Process) { _ = p.Kill() }
