package data

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"castkv/actors"
	"castkv/actors/store"
	"castkv/actors/wire"
)

// Garbage collection of transaction records (rule gc-safe-point).
//
// A transaction's record stays at its primary key's shard until its
// coordinator forgets it (TxnForget). A coordinator that dies first, or a
// checker that rolls back a transaction whose coordinator is gone, leaves a
// record nobody will forget. Two cluster-wide points, which meta hands each
// primary with its lease grants, let the shards drop them:
//
//   - the safe point P: a shard refuses (WRITE_CONFLICT) every prewrite
//     whose start timestamp is below it, so no lock starting below P is
//     made from then on. Meta keeps it a lifetime (TxnLifetime) behind
//     the TSO, so only a coordinator slower than that sees it.
//
//   - the gc point G: no lock of any shard starts below it, now or later.
//     Each primary reports its lock floor, the smaller of its oldest lock's
//     start and its applied P; a lock made after the report was made under
//     a P at least as high (P only rises along the log), so the floor
//     bounds it too. Meta's G is the smallest floor over every shard of
//     the map, once each has reported one.
//
// A record below G belongs to a transaction none of whose locks remain
// anywhere, and no late prewrite of it can lock (it is below P too). So a
// commit that finds neither the lock nor a record below G answers
// UNCERTAIN instead of rolling back (a coordinator slower than the
// lifetime), and a check answers TRYAGAIN: the lock its reader met is gone.
//
// P trails the TSO, and a new meta leader's timestamps start at the end of
// the window its predecessor reserved (up to 3 s ahead, tso.go): keep
// TxnLifetime well above that, or a meta failover makes the prewrites in
// flight start again.
//
// The primary puts the points in the log (a TXN entry with gc set), so
// every replica raises them and drops the same records at the same point,
// and a new primary starts from them. Each apply checks invariant
// gc-below-locks: the shard holds no lock below the G it applies.
//
// Reads below P are served: keys keep one version, so no read depends on
// history that collection removes (a read below a newer version is retried
// at a new timestamp, rule read-ts).

// offerGC sequences an entry raising the shard's gc points to those of a
// lease grant, at most once per GCEvery, when the primary serves.
func (r *replica) offerGC(env actors.Env, g *wire.LeaseGrant) {
	ps := r.primary
	now := env.Now()
	want := ps.gc.Raise(g.SafePoint, g.GcBelow)
	switch {
	case want == ps.gc,
		!ps.ready(r), !r.leaseValid(now), r.installing != nil,
		!ps.lastGC.IsZero() && now.Sub(ps.lastGC) < r.s.cfg.GCEvery,
		r.log.last-r.commitSeq >= uint64(r.s.cfg.MaxUncommitted):
		return
	}
	ps.lastGC = now
	e := &wire.Entry{Seq: r.log.last + 1, Version: r.config.Version, Kind: wire.Entry_TXN, CommitTs: ps.lastCommitTS,
		Gc: &wire.TxnGC{SafePoint: want.SafePoint, GcBelow: want.Below}}
	ps.sequence(e)
	r.appendEntry(env, e)
	r.s.scheduleFlush(env)
}

// lockFloor is what the primary reports as its shard's lock floor: no lock
// of the shard, now or later, starts below it. Every floor stays true for
// good, so it is worked out (a walk over every lock) at most once per
// GCEvery and reported as it was in between.
func (r *replica) lockFloor(now time.Time) uint64 {
	if !r.floorAt.IsZero() && now.Sub(r.floorAt) < r.s.cfg.GCEvery {
		return r.floor
	}
	r.floorAt = now
	floor := r.gc.SafePoint
	// order-independent: a minimum
	for _, l := range r.locks {
		floor = min(floor, l.StartTs)
	}
	if r.primary != nil {
		// order-independent: a minimum
		for _, p := range r.primary.lockOverlay {
			if p.lock != nil {
				floor = min(floor, p.lock.StartTs)
			}
		}
	}
	r.floor = floor
	return floor
}

// applyGC raises the applied gc points to those of entry e and drops the
// transaction records below the gc point, into batch b.
func (r *replica) applyGC(b interface {
	SetGC(uint32, store.GCPoints)
	DeleteTxn(uint32, []byte, uint64)
}, e *wire.Entry) {
	next := r.gc.Raise(e.Gc.SafePoint, e.Gc.GcBelow)
	// Invariant gc-below-locks, at every replica: meta's gc point is at or
	// below every shard's lock floor, so no lock here starts below it.
	var low *wire.Lock
	var lowKey string
	// order-independent: the lowest start, ties broken by key
	for k, l := range r.locks {
		if l.StartTs < next.Below && (low == nil || l.StartTs < low.StartTs || l.StartTs == low.StartTs && k < lowKey) {
			low, lowKey = l, k
		}
	}
	if low != nil {
		panic(fmt.Sprintf("data: shard %d: entry %d collects transaction records below %d, but key %q holds a lock of the transaction started at %d (invariant gc-below-locks)",
			r.shard, e.Seq, next.Below, lowKey, low.StartTs))
	}
	var drop []txnID
	// order-independent: sorted below
	for id := range r.txns {
		if id.start < next.Below {
			drop = append(drop, id)
		}
	}
	slices.SortFunc(drop, func(a, b txnID) int { return cmp.Or(cmp.Compare(a.primary, b.primary), cmp.Compare(a.start, b.start)) })
	for _, id := range drop {
		b.DeleteTxn(r.shard, []byte(id.primary), id.start)
		delete(r.txns, id)
	}
	r.txnsCollected += uint64(len(drop))
	b.SetGC(r.shard, next)
	r.gc = next
}

// gcState is what a primary keeps of garbage collection: the sequenced gc
// points and when it last sequenced an entry raising them.
type gcState struct {
	gc     store.GCPoints
	lastGC time.Time
}
