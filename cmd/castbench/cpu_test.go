package main

import (
	"os"
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
