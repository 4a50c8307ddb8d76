package data

import (
	"time"

	"castkv/actors"
	"castkv/actors/wire"
)

// ReplicaView is a read-only copy of one replica's protocol state, for
// observers that know more than any node can (the simulator's oracles).
// Nothing in the role reads it.
type ReplicaView struct {
	Shard uint32
	// Config is the newest config the replica accepted; shared with the
	// role, so callers must not modify it.
	Config *wire.Config

	LogStart uint64 // the log holds the entries after it (compaction)
	// Installing: a snapshot is being installed; Member: the config names
	// this server (a removed one deletes its data).
	Installing, Member bool
	// SnapshotsInstalled counts the snapshots this replica installed in
	// this incarnation.
	SnapshotsInstalled int
	// SplitsApplied counts the split barriers this replica applied in this
	// incarnation (split.go).
	SplitsApplied int
	// VersionCacheHits counts the writes, in this incarnation, whose
	// replaced version came from the primary's version cache.
	VersionCacheHits uint64
	// ReadsWaited and ReadsTooOld count, in this incarnation, the reads
	// that waited for a sequenced write below their timestamp and those
	// refused TS_TOO_OLD (rule read-ts).
	ReadsWaited, ReadsTooOld uint64
	// Locks and TxnRecords: the transaction locks and records the applied
	// state holds (txn.go).
	Locks, TxnRecords int
	// TxnsCollected counts the transaction records the gc point dropped,
	// in this incarnation (gc.go).
	TxnsCollected uint64
	// ExpiredReclaimed counts the expired keys it deleted as primary
	// (expire.go) in this incarnation.
	ExpiredReclaimed         uint64
	LastSeq, LastVersion     uint64 // last log entry, maybe unsynced
	SyncedSeq, SyncedVersion uint64 // the log is durable through here (Persisted)
	CommitSeq                uint64
	AppliedSeq               uint64
	MatchedSeq               uint64

	// LeaseUntil is the end of the replica's lease on its own clock (zero
	// when it holds none).
	LeaseUntil time.Time

	// Primary: the replica acts as primary of Config. BarrierSeq and Peers
	// are set only then.
	Primary    bool
	BarrierSeq uint64
	Peers      []PeerView
}

// PeerView is what a primary knows of one secondary or learner.
type PeerView struct {
	Addr      actors.Addr
	Learner   bool
	Promoting bool
	Match     uint64
}

// Counted reports whether the primary waits for this peer before it
// commits (rule commit-all).
func (p PeerView) Counted() bool { return !p.Learner || p.Promoting }

// Inspect returns a view of every replica the server holds, sorted by shard.
func (s *Server) Inspect() []ReplicaView {
	out := make([]ReplicaView, 0, len(s.replicas))
	for _, r := range s.replicas {
		v := ReplicaView{
			Shard: r.shard, Config: r.config,
			LogStart: r.log.start, LastSeq: r.log.last, LastVersion: r.log.lastVersion,
			SyncedSeq: r.log.synced, SyncedVersion: r.log.syncedVersion,
			CommitSeq: r.commitSeq, AppliedSeq: r.appliedSeq, MatchedSeq: r.matchedSeq,
			LeaseUntil: r.leaseUntil,
			Installing: r.installing != nil, Member: r.isMemberOf(r.config),
			SnapshotsInstalled: r.snapshotsInstalled, SplitsApplied: r.splitsApplied, VersionCacheHits: r.versionCacheHits,
			ReadsWaited: r.readsWaited, ReadsTooOld: r.readsTooOld,
			Locks: len(r.locks), TxnRecords: len(r.txns), TxnsCollected: r.txnsCollected,
			ExpiredReclaimed: r.expiredReclaimed,
		}
		if ps := r.primary; ps != nil {
			v.Primary, v.BarrierSeq = true, ps.barrierSeq
			v.Peers = make([]PeerView, len(ps.peers))
			for i, p := range ps.peers {
				v.Peers[i] = PeerView{Addr: p.addr, Learner: p.learner, Promoting: p.promoting, Match: p.match}
			}
		}
		out = append(out, v)
	}
	return out
}

// Uncommitted returns the entries of shard's log after its commit point,
// flushed or not, in seq order; nil when the server holds no replica of
// shard. For observers only (the simulator's read-ts oracle): the entries
// are the log's own, not to be modified.
func (s *Server) Uncommitted(shard uint32) []*wire.Entry {
	r := s.replica(shard)
	if r == nil || r.commitSeq >= r.log.last {
		return nil
	}
	var out []*wire.Entry
	r.log.forEach(r.commitSeq+1, r.log.last, func(e *wire.Entry) { out = append(out, e) })
	return out
}
