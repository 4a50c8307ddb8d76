package checker

import (
	"cmp"
	"math"
	"slices"
	"strings"
)

// Expiry in the model: a key with a time to live expires at an instant
// the model knows only within a window, so a call near it may find the
// key either way, and the model follows both (states).

// keyTTL is a key's expiry as the model knows it: the key expires at some
// instant within [lo, hi] of the history's (virtual) time. Its write fixed
// the instant in the TSO's time, which keeps pace with real time only
// within bounds (ttlWindow), so the model allows the whole window.
type keyTTL struct {
	k      int32
	lo, hi int64
}

// The window of a TTL of d set by a call in [call, ret]: the TSO's
// milliseconds run at the meta leader's clock rate, within ±ttlDrift of
// real time; they jump ahead when a new meta leader issues from the end of
// its predecessor's reservation (up to 3 s, actors/meta/tso.go), which
// makes a key expire early, and they lag while a leader whose clock ran
// past its reservation waits for the next one, which makes it expire
// late. ttlEarly and ttlLate bound those, for a history of a few meta
// failovers: generous, so a correct cluster passes, and still minutes
// narrower than a replica's own clock can be from the TSO's (the canary
// expire-on-local-clock).
const (
	ttlEarly = int64(12 * 1e9)
	ttlLate  = int64(6 * 1e9)
	ttlDrift = 0.02
)

// ttlWindow is the expiry window of a TTL of ms milliseconds set by a
// call in [call, ret] (ret may be MaxInt64: unknown).
func ttlWindow(ms, call, ret int64) (lo, hi int64) {
	d := float64(ms) * 1e6
	lo = call + int64(d*(1-ttlDrift)) - ttlEarly
	hi = math.MaxInt64
	if late := int64(d*(1+ttlDrift)) + ttlLate; ret < math.MaxInt64-late {
		hi = ret + late
	}
	return lo, hi
}

func (s *state) ttl(k int32) (keyTTL, bool) {
	i, ok := slices.BinarySearchFunc(s.ttls, k, func(t keyTTL, k int32) int { return cmp.Compare(t.k, k) })
	if !ok {
		return keyTTL{}, false
	}
	return s.ttls[i], true
}

// setTTL gives present key t.k its expiry window, in a state fresh from
// copyFor.
func (s *state) setTTL(t keyTTL) {
	s.clearTTL(t.k)
	i, _ := slices.BinarySearchFunc(s.ttls, t.k, func(t keyTTL, k int32) int { return cmp.Compare(t.k, k) })
	s.ttls = slices.Insert(slices.Clone(s.ttls), i, t)
	s.hash ^= ttlHash(t)
}

// clearTTL drops k's expiry, in a state fresh from copyFor.
func (s *state) clearTTL(k int32) {
	i, ok := slices.BinarySearchFunc(s.ttls, k, func(t keyTTL, k int32) int { return cmp.Compare(t.k, k) })
	if !ok {
		return
	}
	s.hash ^= ttlHash(s.ttls[i])
	s.ttls = slices.Delete(slices.Clone(s.ttls), i, i+1)
}

func ttlHash(t keyTTL) uint64 {
	return entryHash(t.k, int32(t.lo)) ^ entryHash(t.k^0x5bd1e995, int32(t.lo>>32)) ^
		entryHash(t.k^0x1b873593, int32(t.hi)) ^ entryHash(t.k^0x7feb352d, int32(t.hi>>32))
}

// states is what porcupine steps: every state the store may be in. Expiry
// makes the model nondeterministic: a call whose interval overlaps a key's
// expiry window may find the key live or gone, and both are followed
// (porcupine's power-set construction for nondeterministic models, kept
// here so the common case, one state and no expiry, costs one step).
type states struct {
	all  []*state
	hash uint64 // XOR of the members' hashes; members are distinct
}

// expiries returns the states c may find s in: for each of c's keys whose
// expiry window c's interval [call, ret] overlaps, the key still live or
// gone; a window c's call is past, gone.
func expiries(s *state, c *call) []*state {
	if len(s.ttls) == 0 {
		return []*state{s}
	}
	out := []*state{s}
	for i, k := range c.keys {
		t, ok := s.ttl(k)
		if !ok || slices.Contains(c.keys[:i], k) || c.ret < t.lo {
			continue
		}
		gone := func(st *state) *state {
			n := st.copyFor(c)
			n.put(k, absent)
			return n
		}
		if c.op.Call >= t.hi {
			for j, st := range out {
				out[j] = gone(st)
			}
			continue
		}
		for _, st := range out[:len(out):len(out)] {
			out = append(out, gone(st))
		}
	}
	return out
}

// stepAll steps every state of ss that c may find, keeping the distinct
// states that could have replied r.
func stepAll(ss *states, c *call, r *reply) (bool, *states) {
	if len(ss.all) == 1 && len(ss.all[0].ttls) == 0 {
		ok, n := step(ss.all[0], c, r)
		if !ok {
			return false, ss
		}
		if n == ss.all[0] {
			return true, ss
		}
		return true, &states{all: []*state{n}, hash: n.hash}
	}
	out := &states{}
	for _, s := range ss.all {
		for _, e := range expiries(s, c) {
			ok, n := step(e, c, r)
			if !ok || slices.ContainsFunc(out.all, func(o *state) bool { return equalStates(o, n) }) {
				continue
			}
			out.all = append(out.all, n)
			out.hash ^= n.hash
		}
	}
	return len(out.all) > 0, out
}

func equalStateSets(a, b *states) bool {
	if a.hash != b.hash || len(a.all) != len(b.all) {
		return false
	}
	for _, s := range a.all {
		if !slices.ContainsFunc(b.all, func(o *state) bool { return equalStates(o, s) }) {
			return false
		}
	}
	return true
}

func describeStates(ss *states) string {
	if len(ss.all) == 1 {
		return describeState(ss.all[0])
	}
	parts := make([]string, len(ss.all))
	for i, s := range ss.all {
		parts[i] = describeState(s)
	}
	return "one of " + strings.Join(parts, " or ")
}
