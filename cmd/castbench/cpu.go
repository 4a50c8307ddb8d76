package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// CPU per command is the server process's user+system CPU time over a row
// (from /proc/PID/stat) divided by the commands it answered, warmup
// included, as fsyncs are. Unlike ops/s it hardly moves with other work on
// the machine, so it is the figure to compare across runs: it is what a
// command costs, where ops/s is what the machine had to spare.

// clockTicksPerSecond is Linux's USER_HZ, the unit of /proc/PID/stat's
// times; 100 on every architecture Go supports.
const clockTicksPerSecond = 100

// processCPUSeconds returns pid's user plus system CPU time so far.
func processCPUSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseProcStatCPU(string(b))
}

// parseProcStatCPU reads utime and stime (fields 14 and 15) of a
// /proc/PID/stat line. The command name (field 2) is in parentheses and may
// hold spaces, so fields are counted from its closing parenthesis.
func parseProcStatCPU(stat string) (float64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("no command name in /proc stat line %q", stat)
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state), so utime (14) is f[11] and stime (15) f[12].
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc stat line %q", stat)
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bad utime/stime %q %q in /proc stat line", f[11], f[12])
	}
	return float64(utime+stime) / clockTicksPerSecond, nil
}

// machineBusySeconds is the CPU time every CPU of the machine has spent
// busy so far (/proc/stat's first line, all but idle and iowait): a row
// whose ops/s stopped growing while this neared the CPU count ran out of
// machine, not of castkv.
func machineBusySeconds() (float64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return 0, fmt.Errorf("no cpu line at the top of /proc/stat: %q", line)
	}
	var busy uint64
	for i, s := range f[1:] {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bad /proc/stat field %q", s)
		}
		if i != 3 && i != 4 && i < 8 { // idle, iowait; guest time is in user already
			busy += v
		}
	}
	return float64(busy) / clockTicksPerSecond, nil
}
