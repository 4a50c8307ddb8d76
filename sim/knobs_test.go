package sim

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"castkv/checker"
)

// Every drawn knob stays within its bounds and the relations the protocol
// needs, over many seeds, and the draw reaches both ends of the ranges the
// issue asks for.
func TestKnobsStayWithinBounds(t *testing.T) {
	const seeds = 3000
	var (
		clients     = map[int]bool{}
		keysMin     = maxKeys
		keysMax     = 0
		emptyRuns   int
		largeRuns   int
		largestSize int
	)
	for seed := uint64(1); seed <= seeds; seed++ {
		k := drawKnobs(Options{Seed: seed})
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("seed %d: "+format+"\n%s", append(append([]any{seed}, args...), k)...)
		}
		wl, d, m, a := k.Workload, k.Data, k.Meta, k.API
		switch {
		case k.Duration < minDuration || k.Duration > maxDuration:
			fail("duration %v", k.Duration)
		case wl.Clients < 1 || wl.Clients > maxDrawnClients:
			fail("clients %d", wl.Clients)
		case wl.Keys < minKeys || wl.Keys > maxKeys || wl.KeyGroup < 1 || wl.KeyGroup > wl.Keys:
			fail("keys %d in groups of %d", wl.Keys, wl.KeyGroup)
		case wl.Clients > maxClientsPerGroup*((wl.Keys+wl.KeyGroup-1)/wl.KeyGroup):
			fail("%d clients on %d keys in groups of %d", wl.Clients, wl.Keys, wl.KeyGroup)
		case wl.Global && wl.Clients > maxGlobalClients:
			fail("global commands with %d clients", wl.Clients)
		case wl.LargeMaxBytes > maxValueBytes || wl.LargeBudgetBytes > maxLargeBudgetBytes:
			fail("large values up to %d bytes, %d in all", wl.LargeMaxBytes, wl.LargeBudgetBytes)
		// A primary renews its lease by heartbeating and must outlast a
		// few lost heartbeats; the failure detector must not suspect a
		// server between two heartbeats.
		case d.HeartbeatEvery*8 > m.LeaseTimeout:
			fail("heartbeat %v is not well below the lease %v", d.HeartbeatEvery, m.LeaseTimeout)
		case d.HeartbeatEvery*4 > m.FailTimeout:
			fail("heartbeat %v is not well below the fail timeout %v", d.HeartbeatEvery, m.FailTimeout)
		case m.CheckEvery*3 > m.FailTimeout:
			fail("meta checks every %v, fail timeout %v", m.CheckEvery, m.FailTimeout)
		case m.LeaseTimeout > maxLease:
			fail("lease %v", m.LeaseTimeout)
		case d.RemoveAfter < 5*d.RetryEvery:
			fail("remove after %v, resend every %v", d.RemoveAfter, d.RetryEvery)
		case a.RequestTimeout < 4*a.AttemptTimeout || a.RequestTimeout > maxRequestTimeout || a.RequestTimeout >= clientTimeout:
			fail("request timeout %v, attempt %v, client timeout %v", a.RequestTimeout, a.AttemptTimeout, clientTimeout)
		case a.InlineValueBytes < 1 || d.MaxStagedValues < 1 || d.MaxStagedBytes < 1 || d.MaxPrepareBytes < 1 || d.MaxUncommitted < 1:
			fail("a zero limit means the role's default, never drawn")
		case k.Faults.MaxConcurrent < 1 || k.Faults.LongPauseLeases <= 1:
			fail("fault intensities")
		}
		clients[wl.Clients] = true
		keysMin, keysMax = min(keysMin, wl.Keys), max(keysMax, wl.Keys)
		if wl.EmptyP > 0 {
			emptyRuns++
		}
		if wl.LargeP > 0 {
			largeRuns++
			largestSize = max(largestSize, wl.LargeMaxBytes)
		}
	}
	if !clients[1] || !clients[maxDrawnClients] || keysMin != minKeys || keysMax != maxKeys {
		t.Errorf("%d seeds drew %d client counts (1: %t, 40: %t), keys %d-%d", seeds, len(clients), clients[1], clients[maxDrawnClients], keysMin, keysMax)
	}
	if emptyRuns < seeds/3 || largeRuns < seeds/5 || largestSize < 5<<20 {
		t.Errorf("%d seeds: %d with empty values, %d with large values, the largest up to %d bytes", seeds, emptyRuns, largeRuns, largestSize)
	}
}

// The seed alone draws the knobs; an override replaces its knob and
// leaves the rest as drawn.
func TestKnobsOverride(t *testing.T) {
	k := drawKnobs(Options{Seed: 42})
	if again := drawKnobs(Options{Seed: 42}); !reflect.DeepEqual(k, again) {
		t.Fatalf("seed 42 drew different knobs twice:\n%s\n%s", k, again)
	}
	if other := drawKnobs(Options{Seed: 43}); reflect.DeepEqual(k, other) {
		t.Fatal("seeds 42 and 43 drew the same knobs")
	}
	faults := FaultSet{FaultCrash: true}
	o := drawKnobs(Options{Seed: 42, Clients: 3, Duration: 7 * time.Second, Faults: faults})
	if o.Workload.Clients != 3 || o.Duration != 7*time.Second || !reflect.DeepEqual(o.Faults.Enabled, faults) {
		t.Fatalf("overrides not applied: clients %d, duration %v, faults %v", o.Workload.Clients, o.Duration, o.Faults.Enabled)
	}
	o.Workload.Clients, o.Duration, o.Faults.Enabled = k.Workload.Clients, k.Duration, k.Faults.Enabled
	o.Workload.ThinkMax, o.Workload.Global = k.Workload.ThinkMax, k.Workload.Global
	if !reflect.DeepEqual(k, o) {
		t.Fatalf("an override changed other knobs:\n%s\n%s", k, o)
	}
	for _, want := range []string{"clients=", "lease=", "inline<=", "heartbeat=", "slow disk", "late="} {
		if !strings.Contains(k.String(), want) {
			t.Errorf("the knobs' text lacks %q:\n%s", want, k)
		}
	}
}

// Values: every non-empty value but the small integers INCR counts from is
// unique, travels at its drawn size, and comes back to the history in its
// short form only if every byte is right.
func TestWorkloadValues(t *testing.T) {
	for seed := uint64(1); seed <= 200; seed++ {
		seen := map[string]bool{}
		r := newRunner(Options{Seed: seed})
		wl := r.workload
		for _, c := range r.clients {
			for i := 0; i < 50; i++ {
				v := wl.value(c)
				if _, err := strconv.Atoi(v); v == "" || err == nil && wl.k.IntP > 0 {
					continue
				}
				if seen[v] {
					t.Fatalf("seed %d: value %q written twice", seed, v)
				}
				seen[v] = true
				full := expandValue(v)
				if got := compactValue(full); got != v {
					t.Fatalf("seed %d: %q expands to %d bytes that read back as %q", seed, v, len(full), got)
				}
			}
		}
		if wl.largeLeft < 0 {
			t.Fatalf("seed %d: large values overspent their budget by %d bytes", seed, -wl.largeLeft)
		}
	}
	v := paddedValue("c3-9", 1000)
	full := expandValue(v)
	if len(full) != 1000 || !strings.HasPrefix(full, "c3-9.c3-9.") {
		t.Fatalf("%q expands to %d bytes starting %.20q", v, len(full), full)
	}
	for _, bad := range []string{
		full[:999],                    // cut short: a length no client wrote
		full[:500] + "x" + full[501:], // one byte changed
		expandValue("c3-8~1000")[:500] + full[500:], // two values spliced
	} {
		if got := compactValue(bad); got == v {
			t.Errorf("a damaged value (%d bytes) read back as %q", len(bad), got)
		}
	}
}

// A group of keys that has had maxUncertainWrites writes of unknown outcome
// gets no command that sees whether a key exists, and still gets writes;
// other groups are untouched.
func TestUncertainWritesTurnAGroupPlain(t *testing.T) {
	sensitive := func(in checker.Input) bool {
		switch in.Cmd {
		case "exists", "del", "setnx", "setxx", "dbsize", "flushall":
			return true
		}
		return in.NX || in.XX
	}
	r := newRunner(Options{Seed: 7, Clients: 4})
	wl := r.workload
	if len(wl.keys) < 2*wl.k.KeyGroup {
		t.Skipf("seed 7 drew %d keys in groups of %d: one group only", len(wl.keys), wl.k.KeyGroup)
	}
	hot := wl.keys[0]
	for range maxUncertainWrites {
		wl.uncertainWrite(checker.Input{Cmd: "setnx", Keys: []string{hot}, Values: []string{"v"}})
	}
	var hotSensitive, hotWrites, otherSensitive int
	for range 5000 {
		in := wl.next(r.clients[0])
		onHot := false
		for _, k := range in.Keys {
			onHot = onHot || wl.group(k) == 0
		}
		switch {
		case onHot && sensitive(in):
			hotSensitive++
		case onHot && isWrite(in.Cmd):
			hotWrites++
		case !onHot && sensitive(in):
			otherSensitive++
		}
	}
	if hotSensitive != 0 || hotWrites == 0 || otherSensitive == 0 {
		t.Fatalf("after %d unknown writes on %s's group: %d existence-sensitive commands and %d writes on it, %d sensitive elsewhere",
			maxUncertainWrites, hot, hotSensitive, hotWrites, otherSensitive)
	}
}
