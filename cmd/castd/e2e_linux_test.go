//go:build linux

package main

import (
	"os/exec"
	"syscall"
)

// setDeathSignal kills the daemon if the test binary dies first, so no
// castd outlives an interrupted test run.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
