package sim

import (
	"slices"
	"time"

	"castkv/actors"
)

// chaos injects faults during the fault phase. Every choice comes from the
// world's PRNG, its intensities from the run's FaultKnobs. At most
// MaxConcurrent episodes are active at once, each healing itself after a
// bounded time; heal() ends them all.
type chaos struct {
	w      *world
	r      *runner
	k      FaultKnobs
	faults FaultSet
	end    time.Duration // end of the fault phase
	active int
}

// kinds of scheduled (as opposed to per-message or protocol-timed) faults.
var episodicFaults = []string{FaultPartition, FaultClog, FaultCrash, FaultPause, FaultAPICrash, FaultLongPause, FaultSlowDisk}

// schedule plans the next episode at a random time before end.
func (c *chaos) schedule() {
	w := c.w
	total := 0
	for _, f := range episodicFaults {
		if c.faults[f] {
			total += c.k.Weights[f]
		}
	}
	if total == 0 {
		return
	}
	next := w.now + c.k.GapMin + time.Duration(w.rng.Int64N(int64(c.k.GapSpan)+1))
	if next >= c.end {
		return
	}
	w.at(next, func() {
		if c.active < c.k.MaxConcurrent {
			c.inject(c.pickKind(total))
		}
		c.schedule()
	})
}

// pickKind draws an enabled episodic kind by weight.
func (c *chaos) pickKind(total int) string {
	n := c.w.rng.IntN(total)
	for _, f := range episodicFaults {
		if !c.faults[f] {
			continue
		}
		if n -= c.k.Weights[f]; n < 0 {
			return f
		}
	}
	panic("sim: fault weights do not add up")
}

// episode runs a fault now and heals it after a random duration (never
// beyond end, when everything heals anyway).
func (c *chaos) episode(maxLen time.Duration, heal func()) {
	w := c.w
	c.active++
	d := 300*time.Millisecond + time.Duration(w.rng.Int64N(int64(maxLen)))
	at := min(w.now+d, c.end)
	w.at(at, func() {
		c.active--
		heal()
	})
}

// restartAt brings m back at t (not past the end of the fault phase, when
// heal restarts everything), unless something else restarted it first.
func (c *chaos) restartAt(m *machine, t time.Duration) {
	w := c.w
	w.at(min(t, c.end), func() {
		if !m.up {
			m.start()
			w.logf("fault: restart %s", m.addr)
		}
	})
}

func (c *chaos) inject(kind string) {
	w, r := c.w, c.r
	w.faults[kind]++
	switch kind {
	case FaultCrash:
		// Each victim comes back at its own time: a restarted secondary
		// may be promoted while the old primary is still down.
		c.active++
		victims := c.crashVictims()
		last := w.now
		for _, m := range victims {
			if m == r.primary() {
				c.r.timed.primaryDown()
			}
			r.crash(m)
			w.logf("fault: crash %s", m.addr)
			back := min(w.now+300*time.Millisecond+time.Duration(w.rng.Int64N(int64(c.k.CrashDownMax))), c.end)
			last = max(last, back)
			c.restartAt(m, back)
		}
		w.at(last, func() { c.active-- })
	case FaultPause:
		m := c.pick(r.servers())
		if p := r.primary(); p != nil && w.rng.IntN(2) == 0 {
			m = p
		}
		c.pause(m, 200*time.Millisecond+time.Duration(w.rng.Int64N(int64(c.k.PauseMax))))
	case FaultLongPause:
		// A stop-the-world pause longer than a lease, mostly on the
		// primary: once it resumes, its lease ran out long ago on its
		// own clock, and another node may be primary.
		m := c.pick(r.servers())
		if p := r.primary(); p != nil && w.rng.IntN(4) > 0 {
			m = p
		}
		lease := r.knobs.Meta.LeaseTimeout
		d := time.Duration(float64(lease)*c.k.LongPauseLeases) + time.Duration(w.rng.Int64N(int64(lease)))
		if w.rng.Float64() < c.k.StallP {
			c.stall(m, d)
		} else {
			c.pause(m, d)
		}
	case FaultAPICrash:
		c.apiCrashLoop(c.pick(r.apis), 1+w.rng.IntN(c.k.APICrashLoop))
	case FaultSlowDisk:
		m := w.byAddr[actors.Addr(c.k.SlowDiskNode)]
		m.disk.syncLatency = c.k.SlowDiskLatency
		w.logf("fault: slow disk on %s (fsync %v)", m.addr, c.k.SlowDiskLatency)
		c.episode(10*time.Second, func() {
			if !c.k.SlowDiskAlways {
				m.disk.syncLatency = 0
			}
		})
	case FaultPartition:
		links := c.partition()
		for _, l := range links {
			w.net.blocked[l] = true
		}
		c.episode(6*time.Second, func() {
			for _, l := range links {
				delete(w.net.blocked, l)
			}
		})
	case FaultClog:
		// Swizzle-clog: clog nodes one by one, then free them in reverse.
		nodes := c.subset(r.servers())
		step := 100*time.Millisecond + time.Duration(w.rng.Int64N(int64(400*time.Millisecond)))
		n := len(nodes)
		for i, m := range nodes {
			start := w.now + time.Duration(i)*step
			until := w.now + time.Duration(2*n-i)*step
			addr := m.addr
			w.at(start, func() { w.net.clogged[addr] = until })
		}
		w.logf("fault: swizzle-clog %d nodes", len(nodes))
	}
}

// pause stops m for d: its clock keeps running, deliveries wait.
func (c *chaos) pause(m *machine, d time.Duration) {
	w := c.w
	if m.up && m.pausedUntil < w.now+d {
		m.pausedUntil = w.now + d
		w.logf("fault: pause %s for %v", m.addr, d)
	}
}

// stall freezes m for d in the middle of its next handler of a read (on
// the primary) or of anything: the handler decided, then the world
// stopped before its replies left. A reply that was right when decided
// must still be right when it arrives d later.
func (c *chaos) stall(m *machine, d time.Duration) {
	w := c.w
	if !m.up {
		return
	}
	m.disk.stallNext, m.disk.stallOn = d, ""
	if m.kind == "data" && w.rng.IntN(2) == 0 {
		m.disk.stallOn = "castkv.wire.Read"
	}
	w.logf("fault: %s will stall for %v in its next handler of %q", m.addr, d, m.disk.stallOn)
}

// apiCrashLoop crashes an API server n times, each time soon after it came
// back: requests in flight die with it, and its next incarnation starts
// its request ids over while replies to the last one may still arrive.
func (c *chaos) apiCrashLoop(m *machine, n int) {
	w, r := c.w, c.r
	c.active++
	t := w.now
	for i := 0; i < n; i++ {
		down := t
		up := down + time.Duration(1+w.rng.Int64N(int64(c.k.APIDownMax)))
		if up >= c.end {
			break
		}
		again := i > 0
		w.at(down, func() {
			if !m.up {
				return
			}
			if again {
				w.faults[CountAPICrashLoop]++
			}
			r.crash(m)
			w.logf("fault: crash %s (api crash loop)", m.addr)
		})
		c.restartAt(m, up)
		t = up + time.Duration(1+w.rng.Int64N(int64(c.k.APIUpMax)))
	}
	w.at(min(t, c.end), func() { c.active-- })
}

// crashVictims: one server, sometimes two data servers, sometimes every data
// server at once (a rack losing power).
func (c *chaos) crashVictims() []*machine {
	w, r := c.w, c.r
	switch p := w.rng.Float64(); {
	case p < c.k.CrashAllP:
		w.faults[CountCrashAllData]++
		return r.data
	case p < c.k.CrashAllP+c.k.CrashTwoP:
		w.faults[CountCrashTwoData]++
		i := w.rng.IntN(len(r.data))
		j := (i + 1 + w.rng.IntN(len(r.data)-1)) % len(r.data)
		return []*machine{r.data[i], r.data[j]}
	default:
		return []*machine{c.pick(r.servers())}
	}
}

// partition returns the links one partition blocks.
func (c *chaos) partition() []link {
	w, r := c.w, c.r
	var links []link
	block := func(a, b *machine, both bool) {
		links = append(links, link{a.addr, b.addr})
		if both {
			links = append(links, link{b.addr, a.addr})
		}
	}
	servers := r.servers()
	switch w.rng.IntN(5) {
	case 0: // isolate one server from every other server
		v := c.pick(servers)
		for _, m := range servers {
			if m != v {
				block(v, m, true)
			}
		}
		w.logf("fault: isolate %s", v.addr)
	case 1, 4: // a data server cut from meta and the other data servers, but not from the APIs
		v := c.pick(r.data)
		if p := r.primary(); p != nil && w.rng.IntN(2) == 0 {
			v = p
		}
		for _, m := range append(slices.Clone(r.metas), r.data...) {
			if m != v {
				block(v, m, true)
			}
		}
		w.logf("fault: cut %s from meta and data", v.addr)
	case 2: // a random bipartition
		side := map[actors.Addr]bool{}
		for _, m := range servers {
			side[m.addr] = w.rng.IntN(2) == 0
		}
		for _, a := range servers {
			for _, b := range servers {
				if side[a.addr] && !side[b.addr] {
					block(a, b, true)
				}
			}
		}
		w.logf("fault: bipartition")
	default: // one-way: a node hears nobody, or nobody hears it
		v := c.pick(servers)
		out := w.rng.IntN(2) == 0
		for _, m := range servers {
			if m == v {
				continue
			}
			if out {
				block(v, m, false)
			} else {
				block(m, v, false)
			}
		}
		w.logf("fault: one-way partition at %s (outbound=%v)", v.addr, out)
	}
	return links
}

func (c *chaos) pick(ms []*machine) *machine { return ms[c.w.rng.IntN(len(ms))] }

func (c *chaos) subset(ms []*machine) []*machine {
	var out []*machine
	for _, m := range ms {
		if c.w.rng.IntN(2) == 0 {
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		out = append(out, c.pick(ms))
	}
	return out
}
