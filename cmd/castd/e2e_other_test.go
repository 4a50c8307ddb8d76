//go:build !linux

package main

import "os/exec"

// setDeathSignal has no portable equivalent off Linux; the tests' cleanup
// stops every daemon they started.
func setDeathSignal(*exec.Cmd) {}
