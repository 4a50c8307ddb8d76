package meta

// Garbage collection of transaction records (data's gc.go, rule
// gc-safe-point). Meta hands every primary two points with its lease
// grants: the safe point, TxnLifetime of TSO time behind the grant's
// timestamp, below which shards refuse prewrites; and the gc point, below
// which shards drop transaction records: the smallest lock floor any
// shard's primary reported, and no higher than the safe point. A shard that
// has not reported a floor since it was created (or since this member
// first led) holds the gc point at 0.
//
// Every floor a primary reports stays a lower bound of the shard's locks
// for good (a lock made later was made under a safe point at least as
// high), so a leader keeps the highest floor it heard per shard, and a
// floor from a deposed primary is as good as any.

// gcPointsAt are the safe point and the gc point for grants issued at ts.
func (m *Meta) gcPointsAt(ts uint64) (safe, below uint64, ok bool) {
	life := uint64(m.cfg.TxnLifetime.Milliseconds()) << tsLogicalBits
	if ts <= life {
		return 0, 0, true
	}
	safe = ts - life
	if m.cfg.Canary == CanaryGCIgnoresLocks {
		return safe, safe, true
	}
	below = safe
	for _, s := range m.shards {
		below = min(below, s.lockFloor)
	}
	return safe, below, true
}
