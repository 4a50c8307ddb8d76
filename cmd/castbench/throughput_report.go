package main

import (
	"fmt"
	"strings"
	"time"
)

// The throughput mode's results: JSON (--json) and the table.

// throughputReport is what `castbench` prints with --json.
type throughputReport struct {
	Mode          string              `json:"mode"` // "throughput"
	Conns         int                 `json:"conns"`
	Keyspace      int                 `json:"keyspace"`
	ValueBytes    int                 `json:"value_bytes"`
	WarmupSec     float64             `json:"warmup_seconds"`
	DurationSec   float64             `json:"duration_seconds,omitempty"`
	Requests      int64               `json:"requests,omitempty"`
	Machine       string              `json:"machine"`
	LoadStart     string              `json:"load_start"` // 1-minute load average when castbench started
	LoadEnd       string              `json:"load_end"`   // and when it finished
	Castkv        targetInfo          `json:"castkv"`
	Redis         *targetInfo         `json:"redis,omitempty"`
	RedisNote     string              `json:"redis_note,omitempty"`
	FsyncCounting string              `json:"fsync_counting"` // "perf", or why not
	Rows          []rowReport         `json:"rows"`
	Prefill       *prefillReport      `json:"prefill,omitempty"`
	Profiles      []*profileBreakdown `json:"profiles,omitempty"` // with --profile
}

type targetInfo struct {
	Addr    string  `json:"addr"`
	Started bool    `json:"started"` // castbench started it (else --addr or --redis-addr)
	Binary  string  `json:"binary,omitempty"`
	Version string  `json:"version,omitempty"`
	Config  string  `json:"config,omitempty"`
	DataDir string  `json:"data_dir,omitempty"`
	FS      string  `json:"fs,omitempty"`
	StopSec float64 `json:"stop_seconds,omitempty"` // SIGTERM to exit
}

type prefillReport struct {
	CastkvSec float64 `json:"castkv_seconds"`
	RedisSec  float64 `json:"redis_seconds,omitempty"`
}

type rowReport struct {
	Row      string     `json:"row"`
	Command  string     `json:"command"`
	Pipeline int        `json:"pipeline"`
	Castkv   *serverRow `json:"castkv"`
	Redis    *serverRow `json:"redis,omitempty"`
	Ratio    *float64   `json:"ratio,omitempty"` // castkv ops/s over redis ops/s
}

// serverRow is one row's result on one server.
type serverRow struct {
	OpsPerSec   float64  `json:"ops_per_sec"`
	P50Ms       float64  `json:"p50_ms"`
	P99Ms       float64  `json:"p99_ms"`
	MeanMs      float64  `json:"mean_ms"`
	MaxMs       float64  `json:"max_ms"`
	Ops         int64    `json:"ops"`
	Seconds     float64  `json:"seconds"`
	Errors      int64    `json:"errors"`
	FirstError  string   `json:"first_error,omitempty"`
	Nulls       int64    `json:"nulls"`
	Fsyncs      *int64   `json:"fsyncs,omitempty"`
	FsyncsPerOp *float64 `json:"fsyncs_per_op,omitempty"` // over every command of the row, warmup included
	// CPUMicrosPerOp is the server process's CPU time per command, warmup
	// included (cpu.go).
	CPUMicrosPerOp *float64 `json:"cpu_us_per_op,omitempty"`
	Events         []string `json:"events,omitempty"` // castd's warnings and config changes during the row
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func newServerRow(r rowResult) *serverRow {
	return &serverRow{
		OpsPerSec: r.opsPerSec(), P50Ms: ms(r.hist.quantile(0.50)), P99Ms: ms(r.hist.quantile(0.99)),
		MeanMs: ms(r.hist.mean()), MaxMs: ms(time.Duration(max(r.hist.max, 0))), Ops: r.ops,
		Seconds: r.elapsed.Seconds(), Errors: r.errors, FirstError: r.firstError, Nulls: r.nulls,
	}
}

func formatThroughput(rep throughputReport) string {
	var b strings.Builder
	what := fmt.Sprintf("%v measured", time.Duration(rep.DurationSec*float64(time.Second)))
	if rep.Requests > 0 {
		what = fmt.Sprintf("%d commands measured", rep.Requests)
	}
	fmt.Fprintf(&b, "castbench: %s per row and server after %v warmup; %d connections; keys from %d; %d-byte values; %s\n",
		what, time.Duration(rep.WarmupSec*float64(time.Second)), rep.Conns, rep.Keyspace, rep.ValueBytes, rep.Machine)
	fmt.Fprintf(&b, "load average %s at start, %s at end (other work on the machine shares its CPUs)\n", rep.LoadStart, rep.LoadEnd)
	if rep.Castkv.Started {
		fmt.Fprintf(&b, "castkv: %s (meta, 3 data servers and api in one process), data on %s\n", rep.Castkv.Config, rep.Castkv.FS)
	} else {
		fmt.Fprintf(&b, "castkv: %s (not started by castbench)\n", rep.Castkv.Addr)
	}
	fmt.Fprintln(&b, rep.RedisNote)
	if rep.Redis != nil && rep.Redis.Started {
		fmt.Fprintf(&b, "  %s, data on %s\n", rep.Redis.Config, rep.Redis.FS)
	}
	if rep.FsyncCounting == "perf" {
		fmt.Fprintln(&b, "fsyncs: fsync+fdatasync calls of the server process (perf), per command answered")
	} else {
		fmt.Fprintln(&b, "fsyncs: "+rep.FsyncCounting)
	}
	fmt.Fprintln(&b, "cpu/op: the server process's user+system CPU time per command answered (/proc/PID/stat)")
	b.WriteString("\n")

	fsyncCols := rep.FsyncCounting == "perf"
	header := []string{"row", "castkv ops/s", "p50", "p99", "redis ops/s", "p50", "p99", "castkv/redis", "castkv cpu/op", "redis cpu/op"}
	if fsyncCols {
		header = append(header, "castkv fsync/op", "redis fsync/op")
	}
	var cells [][]string
	var notes []string
	for _, r := range rep.Rows {
		c := []string{r.Row}
		c = append(c, serverCells(r.Castkv)...)
		c = append(c, serverCells(r.Redis)...)
		if r.Ratio != nil {
			c = append(c, fmt.Sprintf("%.2f", *r.Ratio))
		} else {
			c = append(c, "-")
		}
		c = append(c, cpuCell(r.Castkv), cpuCell(r.Redis))
		if fsyncCols {
			c = append(c, fsyncCell(r.Castkv), fsyncCell(r.Redis))
		}
		cells = append(cells, c)
		for _, side := range []struct {
			name string
			s    *serverRow
		}{{"castkv", r.Castkv}, {"redis", r.Redis}} {
			name, s := side.name, side.s
			if s == nil {
				continue
			}
			if s.Errors > 0 {
				notes = append(notes, fmt.Sprintf("%s %s: %d error replies, first: %s", name, r.Row, s.Errors, s.FirstError))
			}
			if s.Nulls > 0 {
				notes = append(notes, fmt.Sprintf("%s %s: %d null replies", name, r.Row, s.Nulls))
			}
			for _, e := range s.Events {
				notes = append(notes, fmt.Sprintf("%s %s: castd logged %s", name, r.Row, e))
			}
		}
	}
	b.WriteString(formatTable(header, cells))
	if len(notes) > 0 {
		b.WriteString("\n")
		for _, n := range notes {
			b.WriteString(n + "\n")
		}
	}
	return b.String()
}

func serverCells(s *serverRow) []string {
	if s == nil {
		return []string{"-", "-", "-"}
	}
	return []string{formatRate(s.OpsPerSec), formatMs(msDuration(s.P50Ms)), formatMs(msDuration(s.P99Ms))}
}

func cpuCell(s *serverRow) string {
	if s == nil || s.CPUMicrosPerOp == nil {
		return "-"
	}
	return fmt.Sprintf("%.0fµs", *s.CPUMicrosPerOp)
}

func fsyncCell(s *serverRow) string {
	if s == nil || s.FsyncsPerOp == nil {
		return "-"
	}
	return fmt.Sprintf("%.3f", *s.FsyncsPerOp)
}

func msDuration(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
