package main

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Fsyncs are counted, where possible, with Linux perf: `perf stat -p PID`
// on the syscalls:sys_enter_fsync and sys_enter_fdatasync tracepoints
// counts in the kernel, so the server runs at full speed (strace would stop
// it at every syscall). perf starts with its counters off (-D -1) and
// castbench switches them on and off around each row through perf's
// control FIFO, waiting for each acknowledgement, so a row's count covers
// exactly that row. Without perf, or without permission to use
// tracepoints, fsyncs are not counted and the report says why.

// perfEvents are the syscalls counted: Go's File.Sync is fsync; pebble's
// WAL and Redis's AOF use fdatasync.
var perfEvents = []string{"syscalls:sys_enter_fsync", "syscalls:sys_enter_fdatasync"}

// parsePerfStat sums the counts of perf stat's CSV output (-x,): lines
// "count,unit,event,..."; comments and "Events enabled" notes are skipped.
// "<not counted>" is zero: the process did not run while counting was on.
// An event perf cannot count at all ("<not supported>") is an error.
func parsePerfStat(out []byte) (int64, error) {
	var total int64
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ",")
		if len(f) < 3 || !strings.HasPrefix(f[2], "syscalls:") {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if f[0] == "<not counted>" {
			// Counting, but no thread of the process ran while it was on.
			n, err = 0, nil
		}
		if err != nil {
			return 0, fmt.Errorf("perf could not count %s: %q", f[2], f[0])
		}
		total += n
		found++
	}
	if found == 0 {
		return 0, fmt.Errorf("no counts in perf's output %q", out)
	}
	return total, nil
}
