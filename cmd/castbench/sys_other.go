//go:build !linux

package main

import (
	"os"
	"os/exec"
)

// setDeathSignal has no portable equivalent off Linux; castbench stops
// every server it started when it exits normally or is interrupted.
func setDeathSignal(*exec.Cmd) {}

func fsType(string) string { return "unknown" }

// diskBytes off Linux is the file's size.
func diskBytes(fi os.FileInfo) int64 { return fi.Size() }

func loadAverage() string { return "?" }
