package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// cpuCap is a cgroup whose processes share a CPU quota: `castbench scale`
// puts each data server in one, so that a data server on this machine has
// the CPU of a smaller machine of its own.
type cpuCap struct {
	dir string // the cgroup's directory
}

// capPeriodMicros is the scheduler period of a cap: short, so that a
// capped server is held back for a few milliseconds at a time rather than
// the default 100 ms (which would show as latency, not as less capacity);
// longer for caps below 0.1 CPU, whose quota would otherwise fall below
// the kernel's least, 1 ms.
const (
	capPeriodMicros   = 10000
	capMinQuotaMicros = 1000
)

// newCPUCap makes the cgroup name with a quota of cpus (0.25: a quarter
// of one CPU). It needs root and a writable cpu controller, v1 or v2.
func newCPUCap(name string, cpus float64) (*cpuCap, error) {
	if cpus < 0.001 {
		return nil, fmt.Errorf("a cap of %.4f CPU is below castbench's least, 0.001", cpus)
	}
	period := max(capPeriodMicros, int(capMinQuotaMicros/cpus))
	quota := int(cpus * float64(period))
	if ctrl, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers"); err == nil && strings.Contains(string(ctrl), "cpu") {
		dir := filepath.Join("/sys/fs/cgroup", name)
		// The controller must be on for the children of the root.
		_ = os.WriteFile("/sys/fs/cgroup/cgroup.subtree_control", []byte("+cpu"), 0)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return nil, capErr(err)
		}
		c := &cpuCap{dir: dir}
		if err := os.WriteFile(filepath.Join(dir, "cpu.max"), []byte(fmt.Sprintf("%d %d", quota, period)), 0); err != nil {
			c.remove()
			return nil, capErr(err)
		}
		return c, nil
	}
	root := "/sys/fs/cgroup/cpu"
	if _, err := os.Stat(filepath.Join(root, "cpu.cfs_quota_us")); err != nil {
		return nil, capErr(errors.New("no cgroup cpu controller at /sys/fs/cgroup (v2) or /sys/fs/cgroup/cpu (v1)"))
	}
	dir := filepath.Join(root, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, capErr(err)
	}
	c := &cpuCap{dir: dir}
	for _, w := range []struct {
		file  string
		value int
	}{{"cpu.cfs_period_us", period}, {"cpu.cfs_quota_us", quota}} {
		if err := os.WriteFile(filepath.Join(dir, w.file), []byte(strconv.Itoa(w.value)), 0); err != nil {
			c.remove()
			return nil, capErr(err)
		}
	}
	return c, nil
}

func capErr(err error) error {
	return fmt.Errorf("cap a data server's CPU with a cgroup (needs root and a writable cpu controller; --data-cpu 0 runs without caps, which on one machine measures the machine, not the cluster): %w", err)
}

// add moves process pid, every thread of it, into the cgroup; the threads
// it starts later are born there.
func (c *cpuCap) add(pid int) error {
	return os.WriteFile(filepath.Join(c.dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0)
}

// periods is how many scheduler periods the cgroup's processes ran in so
// far and in how many of them they used up their quota and waited
// (cpu.stat's nr_periods and nr_throttled, in v1 and v2 alike).
func (c *cpuCap) periods() (ran, throttled int64, err error) {
	b, err := os.ReadFile(filepath.Join(c.dir, "cpu.stat"))
	if err != nil {
		return 0, 0, err
	}
	found := 0
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		v, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "nr_periods":
			ran, found = v, found+1
		case "nr_throttled":
			throttled, found = v, found+1
		}
	}
	if found != 2 {
		return 0, 0, fmt.Errorf("no nr_periods and nr_throttled in %s/cpu.stat", c.dir)
	}
	return ran, throttled, nil
}

// remove deletes the cgroup; its processes must have exited.
func (c *cpuCap) remove() error { return os.Remove(c.dir) }
