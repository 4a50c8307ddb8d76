package sim

import (
	"strings"
	"testing"
	"time"

	"castkv/checker"
)

// baseline pins opts to a plain cluster (baselineKnobs): a scenario
// tests one thing, not the knobs a seed draws.
func baseline(opts Options) Options {
	k := baselineKnobs(opts)
	opts.knobs = &k
	return opts
}

// isolatePrimary cuts the current primary off from meta and the other data
// servers (the API servers still reach it) from `at` for `d`.
func isolatePrimary(r *runner, at, d time.Duration) {
	w := r.w
	w.at(at, func() {
		p := r.primary()
		var links []link
		for _, m := range append(r.data, r.metas...) {
			if m != p {
				links = append(links, link{p.addr, m.addr}, link{m.addr, p.addr})
			}
		}
		for _, l := range links {
			w.net.blocked[l] = true
		}
		w.logf("scenario: isolate primary %s", p.addr)
		w.at(at+d, func() {
			for _, l := range links {
				delete(w.net.blocked, l)
			}
			w.logf("scenario: heal")
		})
	})
}

// Under a partition that isolates the primary no client sees a stale read
// or loses an acknowledged write, and once it heals writes succeed again.
func TestIsolatedPrimary(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		r := newRunner(baseline(Options{Seed: seed, Duration: 20 * time.Second, Clients: 5, Faults: FaultSet{}}))
		isolatePrimary(r, 3*time.Second, 8*time.Second)
		r.run()
		res := r.check()
		if !res.OK() {
			t.Fatalf("seed %d: %s\n%s", seed, res.Violation, strings.Join(res.Trail, "\n"))
		}
		healed := int64(11 * time.Second)
		var writesAfter, readsDuring int
		for _, op := range r.history {
			if op.Call > healed && op.Call < int64(r.restartedAt) && isWrite(op.Input.Cmd) && !op.Unknown && op.Output.Kind != checker.OutErr {
				writesAfter++
			}
			if op.Call > int64(3*time.Second) && op.Call < healed && !isWrite(op.Input.Cmd) && !op.Unknown && op.Output.Kind != checker.OutErr {
				readsDuring++
			}
		}
		if writesAfter == 0 {
			t.Fatalf("seed %d: no write succeeded after the partition healed", seed)
		}
		t.Logf("seed %d: %d ops, %d reads served during the partition, %d writes acknowledged after it", seed, res.Ops, readsDuring, writesAfter)
	}
}

// The same scenario catches a primary that serves without a lease. It
// takes a stale API and a new primary that already wrote, about one seed
// in ten; the first 60 seeds hold five.
func TestIsolatedPrimaryCatchesIgnoreLease(t *testing.T) {
	const seeds = 60
	for seed := uint64(1); seed <= seeds; seed++ {
		r := newRunner(baseline(Options{Seed: seed, Duration: 20 * time.Second, Clients: 5, Faults: FaultSet{}, Canary: "ignore-lease"}))
		isolatePrimary(r, 3*time.Second, 8*time.Second)
		r.run()
		if res := r.check(); !res.OK() {
			t.Logf("caught by seed %d: %.200s", seed, res.Violation)
			return
		}
	}
	t.Fatalf("ignore-lease was not caught in seeds 1-%d", seeds)
}
