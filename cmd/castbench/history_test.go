package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteHistory(t *testing.T) {
	s := startFake(t, 0)
	f := historyFlags{sets: 1003, keys: 10, valueBytes: 20, conns: 3, pipeline: 3}
	res, err := writeHistory(context.Background(), s.addr, f, func(int64) {})
	if err != nil {
		t.Fatal(err)
	}
	if res.errors != 0 {
		t.Errorf("%d errors", res.errors)
	}
	total := 0
	for c := range f.conns {
		// Connection c cycles through keys c, c+3, ...: their counts
		// differ by at most one.
		lo, hi := int(f.sets), 0
		for k := c; k < f.keys; k += f.conns {
			n := s.sets[historyKey(k)]
			lo, hi = min(lo, n), max(hi, n)
			total += n
			if v := s.data[historyKey(k)]; len(v) != 20 {
				t.Errorf("%s = %q, want 20 bytes", historyKey(k), v)
			}
		}
		if hi-lo > 1 {
			t.Errorf("connection %d wrote its keys between %d and %d times each", c, lo, hi)
		}
	}
	if total != 1003 || len(s.data) != 10 {
		t.Errorf("%d SETs over %d keys, want 1003 over 10", total, len(s.data))
	}
}

func TestHistoryKeyLength(t *testing.T) {
	for _, i := range []int{0, 99999999} {
		if k := historyKey(i); len(k) != historyKeyBytes {
			t.Errorf("historyKey(%d) = %q, not %d bytes", i, k, historyKeyBytes)
		}
	}
}

func TestUsage(t *testing.T) {
	dir := t.TempDir()
	for name, size := range map[string]int{"000001.log": 100, "000002.sst": 1000, "MANIFEST-000001": 10, "sub/000003.sst": 5} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	u, err := usage(dir)
	if err != nil {
		t.Fatal(err)
	}
	if u.Bytes != 1115 || u.WALBytes != 100 || u.SSTBytes != 1005 || u.Files != 4 || u.DiskBytes <= 0 {
		t.Errorf("usage = %+v", u)
	}
	if _, err := usage(filepath.Join(dir, "missing")); err == nil {
		t.Error("usage of a missing directory succeeded")
	}
}

func TestFormatHistory(t *testing.T) {
	rep := historyReport{
		Sets: 200000, Keys: 1000, KeyBytes: 13, ValueBytes: 100, Conns: 8, Pipeline: 32, Machine: "m",
		FS: "ext4", WriteSec: 50, SetsPerSec: 4000, LiveBytes: 113000, StopSec: 0.013,
		Dirs: []dirReport{{Name: "data1", AfterWrites: dirUsage{Bytes: 56900000, WALBytes: 11800000, SSTBytes: 45100000, DiskBytes: 340e6},
			AfterRestart: dirUsage{Bytes: 50800000}}},
		WriteEvents: []string{"WARN a", "INFO config change b", "WARN c", "WARN d", "WARN e", "WARN f"},
		Restart:     restartReport{ListeningSec: 2.5, ServingSec: 2.681, Key: "hist:00000000", Events: []string{"WARN r"}},
		Join:        &joinReport{Server: "data3", ServingSec: 2.768, Bytes: 62300000, Events: []string{"INFO config change"}},
	}
	out := formatHistory(rep)
	for _, want := range []string{
		"200,000 SETs over 1,000 keys of 100 bytes (8 connections, pipeline 32) in 50.000s: 4,000 SETs/s, 0 errors",
		"live data: 113 KB (1,000 keys × (13 + 100 bytes))",
		"data1  56.9 MB  11.8 MB  45.1 MB   340 MB     503.5×        50.8 MB     449.6×",
		"restart: process start to GET hist:00000000 = last value",
		"2.681s",
		"join: data3 wiped; start to 2 writes committed with it a secondary",
		"join: castd logged INFO config change",
		"join: data3's directory afterwards: 62.3 MB\n",
		"restart: castd logged WARN r\n",
		"during the writes castd logged 6 events, 1 of them config changes (all in --json); the first 5:\n  WARN a\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("history report lacks %q:\n%s", want, out)
		}
	}
	rep.Join = nil
	rep.JoinSkipped = "--join=false"
	if out := formatHistory(rep); !strings.Contains(out, "join: skipped (--join=false)") {
		t.Errorf("a skipped join is not reported:\n%s", out)
	}
}

func TestFormatThroughput(t *testing.T) {
	one, ratio := int64(7), 0.25
	per, cpu := 0.19, 93.4
	rep := throughputReport{
		Conns: 50, Keyspace: 100000, ValueBytes: 64, WarmupSec: 1, DurationSec: 5, Machine: "m",
		Castkv:        targetInfo{Started: true, Config: "castd dev", FS: "ext4"},
		RedisNote:     "redis-server: not found, castkv only",
		FsyncCounting: "perf",
		Rows: []rowReport{{Row: "set/p1", Castkv: &serverRow{OpsPerSec: 7152.4, P50Ms: 6.52, P99Ms: 14.5, Errors: 3, FirstError: "TRYAGAIN x",
			Fsyncs: &one, FsyncsPerOp: &per, CPUMicrosPerOp: &cpu, Events: []string{"WARN something"}}}},
	}
	out := formatThroughput(rep)
	for _, want := range []string{
		"5s measured per row and server after 1s warmup; 50 connections; keys from 100000; 64-byte values",
		"redis-server: not found, castkv only",
		"row     castkv ops/s     p50     p99  redis ops/s  p50  p99  castkv/redis  castkv cpu/op  redis cpu/op  castkv fsync/op  redis fsync/op",
		"set/p1         7,152  6.52ms  14.5ms            -    -    -             -           93µs             -            0.190               -",
		"castkv set/p1: 3 error replies, first: TRYAGAIN x",
		"castkv set/p1: castd logged WARN something",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("throughput report lacks %q:\n%s", want, out)
		}
	}
	rep.Rows[0].Redis = &serverRow{OpsPerSec: 28609.6, P50Ms: 1.07, P99Ms: 8.16}
	rep.Rows[0].Ratio = &ratio
	rep.FsyncCounting = "not counted: perf not found"
	out = formatThroughput(rep)
	if !strings.Contains(out, "28,610  1.07ms  8.16ms          0.25           93µs             -\n") || !strings.Contains(out, "fsyncs: not counted: perf not found") {
		t.Errorf("with Redis, without fsyncs:\n%s", out)
	}
}
