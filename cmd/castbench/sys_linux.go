package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
)

// setDeathSignal kills a server castbench started if castbench dies first,
// so no castd or redis-server outlives an interrupted run.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// fsType names the file system path is on: an fsync on tmpfs costs
// nothing, so the report says where the data directories are.
func fsType(path string) string {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return "unknown"
	}
	switch st.Type {
	case 0xef53:
		return "ext4"
	case 0x01021994:
		return "tmpfs"
	case 0x58465342:
		return "xfs"
	case 0x9123683e:
		return "btrfs"
	case 0x794c7630:
		return "overlayfs"
	case 0x2fc12fc1:
		return "zfs"
	}
	return fmt.Sprintf("fs type %#x", st.Type)
}

// diskBytes is the space a file takes on disk, which for a preallocated
// file exceeds its size.
func diskBytes(fi os.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512
	}
	return fi.Size()
}

// loadAverage is the 1-minute load average: other work on the machine
// takes CPU from the servers and the client, and the report says how much.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "?"
}
