package data

import (
	"time"

	"castkv/actors"
	"castkv/actors/wire"
)

// Reclaiming expired keys (rule expiry).
//
// Expiry needs no deleting: a key's expiry instant is fixed when its write
// is ordered (command.Eval), and every read and every write judges it at
// its own timestamp, so replicas agree whether a key has expired at any
// place in the order without a clock of their own. What remains is the
// space: an expired key keeps its version, and counts in DBSIZE (as in
// Redis, whose DBSIZE counts keys not yet reclaimed), until it is deleted.
//
// The shard's primary deletes them the way it makes every change, by an
// entry in its log. On a lease grant, at most once per ExpireEvery, it walks
// up to ExpireScanKeys keys of its applied state from where its last walk
// stopped (wrapping around at the end), and sequences one entry deleting
// those that had expired at the grant's timestamp. That timestamp was
// issued by the TSO, so every read to come has a later one and finds those
// keys expired already; the deletion changes no read (a read below its
// commit timestamp that meets the deletion is retried higher, rule
// read-ts). Keys with a sequenced write or a lock are left to those. A
// pass over the whole shard that met no key with an expiry rests for
// expireIdle before the next, so a shard without TTLs costs next to
// nothing (an idle castd dev burnt half a CPU walking 10,000 keys a second).
type expiryState struct {
	lastExpire   time.Time
	expireCursor []byte // the key the last walk stopped after; nil: the start
	passExpiring int    // keys with an expiry the current pass met
	idleUntil    time.Time
}

// expireIdle is how long a pass that met no key with an expiry rests.
const expireIdle = 5 * time.Second

// reclaimExpired sequences an entry deleting expired keys, as above.
func (r *replica) reclaimExpired(env actors.Env, g *wire.LeaseGrant) {
	ps := r.primary
	now := env.Now()
	switch {
	case g.Ts == 0, ps.flushSeq != 0,
		!ps.ready(r), !r.leaseValid(now), r.installing != nil,
		!ps.lastExpire.IsZero() && now.Sub(ps.lastExpire) < r.s.cfg.ExpireEvery,
		now.Before(ps.idleUntil),
		r.log.last-r.commitSeq >= uint64(r.s.cfg.MaxUncommitted):
		return
	}
	ps.lastExpire = now
	at := r.evalTS(env, g.Ts)
	expired, expiring, next, err := r.s.st.ExpiredKeys(r.shard, ps.expireCursor, r.s.cfg.ExpireScanKeys, at, r.flushed)
	r.s.must(err, "look for expired keys")
	ps.expireCursor = next
	if ps.passExpiring += expiring; next == nil {
		if ps.passExpiring == 0 {
			ps.idleUntil = now.Add(expireIdle)
		}
		ps.passExpiring = 0
	}
	var writes []*wire.Write
	for _, k := range expired {
		if _, ok := ps.overlay[string(k.Key)]; ok || r.seqLock(k.Key) != nil || r.outOfRange([][]byte{k.Key}) {
			continue
		}
		writes = append(writes, &wire.Write{Key: k.Key, Delete: true, Digest: wire.Digest(nil),
			PrevTs: k.TS, WasLive: true, PrevBytes: k.Bytes})
	}
	if len(writes) == 0 {
		return
	}
	e := &wire.Entry{Seq: r.log.last + 1, Version: r.config.Version, Writes: writes,
		CommitTs: ps.commitTS(g.Ts, r.flushed, false, r.s.cfg.Canary)}
	r.expiredReclaimed += uint64(len(writes))
	ps.sequence(e)
	r.appendEntry(env, e)
	r.s.scheduleFlush(env)
}

// evalTS is the timestamp a read served at ts, or a walk for expired keys
// at ts, judges expiry at: ts itself, whose place in the order fixes what
// has expired. The canary expire-on-local-clock takes this replica's clock
// instead, as a replica that expired keys on its own would (the expiry
// instants themselves are still fixed from commit timestamps).
func (r *replica) evalTS(env actors.Env, ts uint64) uint64 {
	if r.s.cfg.Canary != CanaryExpireOnLocalClock {
		return ts
	}
	return uint64(max(env.Now().UnixMilli(), 1)) << wire.TSLogicalBits
}
