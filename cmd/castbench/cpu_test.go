package main

import (
	"os"
	"strings"
	"testing"
)

func TestParseProcStatCPU(t *testing.T) {
	line := "4242 (castd dev (x)) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 12 0 100 2256372 42562 18446744073709551615"
	got, err := parseProcStatCPU(line)
	if err != nil || got != 3.25 {
		t.Fatalf("got %v, %v; want 3.25 s (250+75 ticks)", got, err)
	}
	if _, err := parseProcStatCPU("4242 (castd) S 1"); err == nil {
		t.Fatal("a short line parsed")
	}
	if _, err := processCPUSeconds(os.Getpid()); err != nil {
		t.Fatalf("this process's CPU time: %v", err)
	}
}

func TestPprofTotalParse(t *testing.T) {
	out := "Active filters:\n   focus=x\nShowing nodes accounting for 450ms, 12.23% of 3.68s total\n"
	m := pprofTotalRE.FindStringSubmatch(out)
	if m == nil || seconds(m[1], m[2]) != 0.45 || seconds(m[3], m[4]) != 3.68 {
		t.Fatalf("parsed %q from pprof's summary line, want 450ms of 3.68s", m)
	}
	b := &profileBreakdown{Row: "set/p1", Path: "/tmp/p/set-p1.pprof", TotalSec: 2}
	for range profileCategories {
		b.Categories = append(b.Categories, profileCategoryT{Sec: 0.5})
	}
	if s := formatBreakdowns([]*profileBreakdown{b}); !strings.Contains(s, "25.0%") || !strings.Contains(s, "2.00s") {
		t.Fatalf("breakdown table lacks the share or the total:\n%s", s)
	}
}
