package sim

import (
	"testing"
	"time"

	"castkv/checker"
)

// meanWriteLatency is the mean time acknowledged writes invoked in
// [from, to) took.
func meanWriteLatency(r *runner, from, to time.Duration) time.Duration {
	var sum time.Duration
	n := 0
	for _, op := range r.history {
		if op.Call >= int64(from) && op.Call < int64(to) && isWrite(op.Input.Cmd) && !op.Unknown && op.Output.Kind != checker.OutErr {
			sum += time.Duration(op.Return - op.Call)
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / time.Duration(n)
}

// A slow disk on the primary slows every write: the primary acknowledges
// only after its fsync, and stays busy while it syncs.
func TestSlowDiskSlowsThePrimary(t *testing.T) {
	const fsync = 100 * time.Millisecond
	run := func(latency time.Duration) *runner {
		r := newRunner(baseline(Options{Seed: 5, Duration: 5 * time.Second, Faults: FaultSet{}}))
		r.w.at(time.Second, func() { r.primary().disk.syncLatency = latency })
		r.run()
		if res := r.check(); !res.OK() {
			t.Fatalf("fsync %v: %s", latency, res.Violation)
		}
		return r
	}
	fast, slow := run(0), run(fsync)
	from, to := 1500*time.Millisecond, 4500*time.Millisecond
	fastMean, slowMean := meanWriteLatency(fast, from, to), meanWriteLatency(slow, from, to)
	t.Logf("mean write latency: %v with a fast disk, %v with a %v fsync on the primary (%d slow syncs)",
		fastMean, slowMean, fsync, slow.w.faults[CountSlowSyncs])
	// Not the full fsync each: a write that arrives while a sync runs
	// rides on it (group commit), so some wait only its remainder.
	if slow.w.faults[CountSlowSyncs] == 0 || slowMean < fsync/2 || fastMean > fsync/4 {
		t.Fatal("a slow fsync on the primary did not slow writes down")
	}
}

// Messages to a server that crashed reach its next incarnation when they
// wait in their sender's queue (late delivery), and are lost otherwise.
func TestLateDeliveryReachesTheNextIncarnation(t *testing.T) {
	run := func(lateP float64) int {
		r := newRunner(baseline(Options{Seed: 3, Duration: 5 * time.Second, Faults: FaultSet{}}))
		r.w.net.lateP, r.w.net.lateHold, r.w.net.lateReconnect = lateP, 5*time.Second, 500*time.Millisecond
		// A crash loop: replies to requests in flight at each crash, and
		// everything sent to the server while it is down, wait.
		api := r.apis[0]
		for at := time.Second; at < 4*time.Second; at += 150 * time.Millisecond {
			r.w.at(at, func() { r.crash(api) })
			r.w.at(at+60*time.Millisecond, api.start)
		}
		r.run()
		if res := r.check(); !res.OK() {
			t.Fatalf("late=%v: %s", lateP, res.Violation)
		}
		return r.w.faults[FaultLate]
	}
	if n := run(0); n != 0 {
		t.Fatalf("%d messages reached a later incarnation with late delivery off", n)
	}
	n := run(1)
	t.Logf("%d messages reached api1's next incarnation", n)
	if n == 0 {
		t.Fatal("no message reached the next incarnation of a server that crashed under load")
	}
}

// Across a few seeds with every fault on, every new fault and every timed
// trigger fires, and a run replays to the same trace.
func TestEveryFaultFires(t *testing.T) {
	counts := map[string]int{}
	var traces []string
	for seed := uint64(1); seed <= 12; seed++ {
		runs := 1
		if seed%6 == 5 {
			runs = 2 // seeds 5 and 11 run twice, for the trace
		}
		for range runs {
			r := newRunner(Options{Seed: seed, Duration: 15 * time.Second, Faults: allFaults()})
			r.run()
			for k, n := range r.w.faults {
				counts[k] += n
			}
			if seed%6 == 5 {
				traces = append(traces, fmtTrace(r))
			}
		}
	}
	t.Logf("faults over 12 seeds: %v", counts)
	for _, k := range []string{FaultLate, FaultAPICrash, CountAPICrashLoop, FaultSlowDisk, CountSlowSyncs,
		FaultLongPause, CountStall, FaultTimed, CountTimedPromote, CountTimedConfig, CountTimedLease, CountTimedReply, CountTimedUnsynced, CountCrashUnsynced, CountMetaFailover, CountMetaPromotion,
		CountCrashTwoData} {
		if counts[k] == 0 {
			t.Errorf("%s never fired", k)
		}
	}
	if traces[0] != traces[1] || traces[2] != traces[3] {
		t.Errorf("same seed, different traces with every fault on: %v", traces)
	}
}

func allFaults() FaultSet {
	f, _ := ParseFaults("all")
	return f
}

func fmtTrace(r *runner) string {
	return string(r.w.trace.Sum(nil))
}
