package sim

import (
	"time"

	"castkv/actors"
)

// chaos injects faults during the fault phase. Every choice comes from the
// world's PRNG. At most maxConcurrent faults are active at once, each
// healing itself after a bounded time; heal() ends them all.
type chaos struct {
	w      *world
	r      *runner
	faults FaultSet
	active int
}

const maxConcurrentFaults = 2

// kinds of scheduled (as opposed to per-message) faults.
var episodicFaults = []string{FaultPartition, FaultClog, FaultCrash, FaultPause}

func (c *chaos) enabledEpisodes() []string {
	var out []string
	for _, f := range episodicFaults {
		if c.faults[f] {
			out = append(out, f)
		}
	}
	return out
}

// schedule plans the next fault at a random time before end.
func (c *chaos) schedule(end time.Duration) {
	kinds := c.enabledEpisodes()
	if len(kinds) == 0 {
		return
	}
	w := c.w
	next := w.now + 500*time.Millisecond + time.Duration(w.rng.Int64N(int64(2500*time.Millisecond)))
	if next >= end {
		return
	}
	w.at(next, func() {
		if c.active < maxConcurrentFaults {
			c.inject(kinds[w.rng.IntN(len(kinds))], end)
		}
		c.schedule(end)
	})
}

// episode runs a fault now and heals it after a random duration (never
// beyond end, when everything heals anyway).
func (c *chaos) episode(end time.Duration, maxLen time.Duration, heal func()) {
	w := c.w
	c.active++
	d := 300*time.Millisecond + time.Duration(w.rng.Int64N(int64(maxLen)))
	at := min(w.now+d, end)
	w.at(at, func() {
		c.active--
		heal()
	})
}

func (c *chaos) inject(kind string, end time.Duration) {
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
			m := m
			r.crash(m)
			w.logf("fault: crash %s", m.addr)
			back := min(w.now+300*time.Millisecond+time.Duration(w.rng.Int64N(int64(5*time.Second))), end)
			last = max(last, back)
			w.at(back, func() {
				if !m.up {
					m.start()
					w.logf("fault: restart %s", m.addr)
				}
			})
		}
		w.at(last, func() { c.active-- })
	case FaultPause:
		m := c.pick(r.servers())
		if p := r.primary(); p != nil && w.rng.IntN(2) == 0 {
			m = p
		}
		d := 200*time.Millisecond + time.Duration(w.rng.Int64N(int64(3*time.Second)))
		if m.up && m.pausedUntil < w.now+d {
			m.pausedUntil = w.now + d
			w.logf("fault: pause %s for %v", m.addr, d)
		}
	case FaultPartition:
		links := c.partition()
		for _, l := range links {
			w.net.blocked[l] = true
		}
		c.episode(end, 6*time.Second, func() {
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

// crashVictims: one server, sometimes two data servers, sometimes every data
// server at once (a rack losing power).
func (c *chaos) crashVictims() []*machine {
	w, r := c.w, c.r
	switch p := w.rng.Float64(); {
	case p < 0.15:
		return r.data
	case p < 0.35:
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
		for _, m := range append([]*machine{r.meta}, r.data...) {
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
