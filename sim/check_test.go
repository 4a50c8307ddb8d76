package sim

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"castkv/checker"
)

// A run that exceeds its work budget stops there and fails, the same way
// every time, whichever of bytes or events runs out.
func TestWorkBudgetStopsRun(t *testing.T) {
	for name, limit := range map[string]budget{
		"bytes":  {floorBytes: 64 << 10, bytesPerClient: 1, floorEvents: 1 << 40, eventsPerReq: 1},
		"events": {floorBytes: 1 << 40, bytesPerClient: 1, floorEvents: 5000, eventsPerReq: 1},
	} {
		t.Run(name, func(t *testing.T) {
			run := func() *Result {
				faults, _ := ParseFaults("all")
				r := newRunner(Options{Seed: 3, Duration: 20 * time.Second, Faults: faults})
				r.work.limit = limit
				r.run()
				r.release()
				return r.check()
			}
			a, b := run(), run()
			if a.OK() || !strings.HasPrefix(a.Violation, "work budget: ") {
				t.Fatalf("got ok=%t, violation %q; want a work budget failure", a.OK(), a.Violation)
			}
			if a.SimSeconds >= 20 {
				t.Errorf("the run went on to %.1f s of virtual time after its budget ran out", a.SimSeconds)
			}
			if a.Violation != b.Violation || a.Trace != b.Trace {
				t.Errorf("same seed, different outcomes:\n%s (trace %s)\n%s (trace %s)", a.Violation, a.Trace, b.Violation, b.Trace)
			}
		})
	}
}

// Runs leave nothing running behind them: a sweep runs thousands in one
// process.
func TestRunReleasesStores(t *testing.T) {
	before := runtime.NumGoroutine()
	for seed := uint64(1); seed <= 3; seed++ {
		if _, err := Run(Options{Seed: seed, Duration: 2 * time.Second}); err != nil {
			t.Fatal(err)
		}
	}
	if after := runtime.NumGoroutine(); after > before+5 {
		t.Errorf("%d goroutines before three runs, %d after", before, after)
	}
}

// A failing run's report stays small however much went wrong: a few panics,
// trail lines cut.
func TestFailureReportBounded(t *testing.T) {
	r := newRunner(Options{Seed: 1, Duration: time.Second, Clients: 1, Faults: FaultSet{}})
	r.run()
	r.release()
	for range 10 {
		r.w.panics = append(r.w.panics, "data1: "+strings.Repeat("x", 10_000))
	}
	r.w.logf("%s", strings.Repeat("y", 10_000))
	res := r.check()
	if res.OK() {
		t.Fatal("a run with panics passed")
	}
	if n := len(res.Violation); n > maxPanicsShown*(maxPanicBytes+20)+200 {
		t.Errorf("violation of %d bytes for 10 panics: %.300s", n, res.Violation)
	}
	if !strings.Contains(res.Violation, "and 7 more") {
		t.Errorf("violation does not say how many panics it left out: %.300s", res.Violation)
	}
	for _, line := range res.Trail {
		if len(line) > maxTrailLineBytes+20 {
			t.Errorf("trail line of %d bytes: %.100s", len(line), line)
		}
	}
}

// A caught canary's picture is of the failing part only, and small.
func TestCanaryPictureSmall(t *testing.T) {
	html := filepath.Join(t.TempDir(), "seed.html")
	// Seed 2's history is not linearizable with the canary (seed 1's is
	// caught by an oracle alone, with no picture to draw).
	res, err := Run(Options{Seed: 2, Canary: "read-secondary", HTMLPath: html})
	if err != nil {
		t.Fatal(err)
	}
	if res.OK() || res.HTML != html {
		t.Fatalf("read-secondary on seed 2: ok=%t html=%q: %s", res.OK(), res.HTML, res.Violation)
	}
	fi, err := os.Stat(html)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > 500<<10 {
		t.Errorf("picture of %d KB for a history of %d ops", fi.Size()>>10, res.Ops)
	}
}

// Undecided tells a run that failed only for want of time from one that
// failed a check.
func TestUndecided(t *testing.T) {
	ops := []checker.Op{
		{Client: 0, Call: 0, Return: 10, Input: checker.Input{Cmd: "set", Keys: []string{"x"}, Values: []string{"1"}}, Output: checker.Output{Kind: checker.OutOK}},
		{Client: 1, Call: 20, Return: 30, Input: checker.Input{Cmd: "get", Keys: []string{"x"}}, Output: checker.Output{Kind: checker.OutBulk, Str: "1"}},
	}
	undecided := undecidedViolation(checker.Check(ops, time.Nanosecond))
	for violation, want := range map[string]bool{
		undecided:                              true,
		undecided + "\n" + pictureLine + "big": true,
		"":                                     false,
		"linearizability: NOT linearizable":    false,
		undecided + "\nliveness: op #3 failed": false,
	} {
		if got := (&Result{Violation: violation}).Undecided(); got != want {
			t.Errorf("%q: undecided %t, want %t", violation, got, want)
		}
	}
}
