package data

import (
	"fmt"
	"math"
	"slices"
	"time"

	"castkv/actors"
	"castkv/actors/command"
	"castkv/actors/store"
	"castkv/actors/wire"
)

// replica is this server's copy of one shard.
type replica struct {
	s      *Server
	shard  uint32
	config *wire.Config // newest accepted, persisted

	log *replicaLog
	// unflushed collects a primary's appends until the flush tick.
	unflushed  *store.Batch
	commitSeq  uint64
	appliedSeq uint64
	// flushed is the applied state's flush marker (store.Flushed), kept
	// here so reads need not look it up.
	flushed uint64
	// appliedTS is the commit_ts of the newest entry with writes applied
	// since start (invariant commit-ts-order).
	appliedTS uint64
	// primaryCommitSeq is the newest commit point a primary told us; ours
	// follows it only as far as our log is durable and matches (commit ≤
	// durable: a learner may be told of commits it does not hold durably yet).
	primaryCommitSeq uint64

	// matchedSeq: our log matches the current config's primary through
	// here. Acks never exceed min(matchedSeq, log.synced).
	matchedSeq uint64
	// primaryCompactSeq: the primary says every replica holds the log
	// through here (rule compaction).
	primaryCompactSeq uint64
	// installing: a snapshot is being installed (nil: none); installed:
	// the id of the last one installed, whose resends are ignored.
	installing         *snapshotIn
	installed          uint64
	snapshotsInstalled int
	splitsApplied      int // split barriers applied (Inspect)
	// versionCacheHits counts writes whose replaced version came from the
	// primary's version cache (ReplicaView.VersionCacheHits).
	versionCacheHits uint64
	// readsWaited, readsTooOld: reads that waited for a sequenced write and
	// reads refused TS_TOO_OLD, in this incarnation (for Inspect).
	readsWaited, readsTooOld uint64
	// snapshotCount numbers the snapshots this primary sent.
	snapshotCount uint64

	dedup *dedup
	// locks and txns: the committed state's transaction locks by key and
	// transaction records (txn.go), loaded with it and kept as entries
	// apply.
	locks     map[string]*wire.Lock
	txns      map[txnID]*wire.TxnRecord
	lockBytes int // the values locks holds
	// gc: the applied state's gc points (gc.go); txnsCollected counts the
	// records they dropped in this incarnation.
	gc            store.GCPoints
	txnsCollected uint64
	// expiredReclaimed counts the expired keys this replica, as primary,
	// sequenced deletions of in this incarnation (expire.go).
	expiredReclaimed uint64
	// floor and floorAt: the lock floor last worked out, and when (gc.go).
	floor   uint64
	floorAt time.Time

	leaseUntil time.Time
	// leaseLogged: the lease was held when last logged (grantLease logs
	// it gained, checkLease it lost), so each change is logged once.
	leaseLogged bool
	// surrendered: the newest config version whose lease this process gave
	// up for a handover; grants for it or older are refused.
	surrendered uint64
	primary     *primaryState // nil unless primary of config
	meter       loadMeter     // what it served as primary (heartbeat's load)
	// live: the applied state's live counts, kept as entries apply; nil
	// when not known (read from the store when needed).
	live *store.LiveCounts
	// held: the slot range the applied state holds, once a split wrote
	// one; nil before (split.go).
	held *store.SlotRange
}

// recoverReplica rebuilds a replica from pebble after boot or on first
// hearing of a shard.
func (s *Server) recoverReplica(env actors.Env, c *wire.Config) *replica {
	r := &replica{s: s, shard: c.Shard, config: c}
	installing, err := s.st.SnapshotInstalling(c.Shard)
	s.must(err, "read the snapshot install marker")
	if installing {
		// Cut off mid-install: the applied state is partial. Drop it and
		// the log; the primary sends the snapshot again.
		b := s.st.NewBatch()
		s.st.BeginSnapshot(b, c.Shard)
		b.FinishSnapshot(c.Shard) // nothing is being installed now
		b.TruncateLog(c.Shard, 0)
		_, err := s.st.Write(b)
		s.must(err, "drop a partial snapshot install")
		env.Log().Info("dropped a snapshot install cut off by the restart", "shard", c.Shard)
	}
	r.log, err = newReplicaLog(s.st, c.Shard, s.cfg.MaxLogMemoryBytes)
	s.must(err, "open the log")
	r.appliedSeq, err = s.st.Applied(c.Shard)
	s.must(err, "load applied seq")
	if r.appliedSeq < r.log.start {
		panic(fmt.Sprintf("data %s: shard %d: the log starts after %d but only %d is applied", s.self, c.Shard, r.log.start, r.appliedSeq))
	}
	r.flushed, err = s.st.Flushed(c.Shard)
	s.must(err, "load the flush marker")
	r.loadTxns()
	r.loadHeld()
	r.commitSeq = r.appliedSeq
	r.matchedSeq = r.commitSeq
	// The exactly-once table as stored with the last compaction, then the
	// log after it.
	r.dedup = r.loadDedup()
	prevVersion := r.log.startVersion
	r.log.forEach(r.log.start+1, r.log.last, func(e *wire.Entry) {
		// Invariant: config versions never decrease along the log. A
		// truncation that was lost would show here as a stale tail.
		if e.Version < prevVersion {
			panic(fmt.Sprintf("data %s: shard %d: recovered log entry %d has config version %d after version %d",
				s.self, c.Shard, e.Seq, e.Version, prevVersion))
		}
		prevVersion = e.Version
		r.dedup.record(e)
	})
	return r
}

func (r *replica) isPrimaryIn(c *wire.Config) bool { return c.Primary == string(r.s.self) }

func (r *replica) isSecondaryIn(c *wire.Config) bool {
	return slices.Contains(c.Secondaries, string(r.s.self))
}

// isMemberOf: c names us as primary, secondary or learner.
func (r *replica) isMemberOf(c *wire.Config) bool {
	self := string(r.s.self)
	return c.Primary == self || slices.Contains(c.Secondaries, self) || slices.Contains(c.Learners, self)
}

// drop deletes our copy of the shard: meta removed us from it (rule
// removed-deletes). Every committed entry is on the replicas that remain
// (commit-all), so nothing is lost; the config stays, so stale messages
// are still refused, and if meta adds us again we catch up as a learner.
func (r *replica) drop(env actors.Env) {
	if r.log.last == 0 && r.appliedSeq == 0 {
		return // nothing held
	}
	env.Log().Info("removed from the shard's config; deleting its data", "shard", r.shard, "version", r.config.Version, "applied", r.appliedSeq, "last", r.log.last)
	b := r.s.st.NewBatch()
	b.DeleteShard(r.shard)
	b.PutConfig(r.config)
	_, err := r.s.st.Write(b)
	r.s.must(err, "delete a removed replica's data")
	r.log.reset(0, 0)
	r.dedup = newDedup()
	r.appliedSeq, r.commitSeq, r.matchedSeq, r.primaryCommitSeq, r.primaryCompactSeq = 0, 0, 0, 0, 0
	r.appliedTS = 0
	r.flushed = 0
	r.gc = store.GCPoints{}
	r.installing = nil
	r.live = nil
	r.held = nil
}

func (r *replica) status(now time.Time) *wire.ReplicaStatus {
	st := &wire.ReplicaStatus{
		Shard: r.shard, ConfigVersion: r.config.Version,
		LastSeq: r.log.synced, LastVersion: r.log.syncedVersion, CommitSeq: r.commitSeq,
		ActingPrimary: r.primary != nil,
		LeaseValid:    r.primary != nil && now.Before(r.leaseUntil),
		Surrendered:   r.primary != nil && r.surrendered >= r.config.Version,
	}
	if r.primary != nil && r.installing == nil {
		st.Load = r.load(now)
	}
	return st
}

// setConfig acts on a newer, already persisted config.
func (r *replica) setConfig(env actors.Env, c *wire.Config) {
	// Entries we appended as primary of the old version are written first:
	// a batch left pending would land after what the next primary sends
	// us, over it (TestStepDownBeforeFlushKeepsLogConsistent).
	r.flush(env)
	wasPrimary := r.primary != nil
	r.config = c
	if !r.isMemberOf(c) {
		if wasPrimary {
			r.stepDown(env)
		}
		r.drop(env)
		return
	}
	if r.uninitialized() {
		// Nothing to serve or follow from until the split (or a snapshot)
		// brings the shard's state; applySplit sets the config again.
		return
	}
	// The committed prefix matches any primary's log; the rest is
	// re-established by the new version's Prepares.
	r.matchedSeq = r.commitSeq
	if r.isPrimaryIn(c) {
		r.becomePrimary(env)
		return
	}
	if wasPrimary {
		r.stepDown(env)
	}
}

func (r *replica) grantLease(env actors.Env, g *wire.LeaseGrant, sentAt time.Time) {
	if r.primary == nil || g.ConfigVersion != r.config.Version || g.ConfigVersion <= r.surrendered {
		return
	}
	r.primary.grantTS(g.Ts, r.s.cfg.Canary)
	// Rule lease: measured from when we sent the heartbeat, on our clock.
	until := sentAt.Add(time.Duration(g.LeaseNanos))
	if until.After(r.leaseUntil) {
		r.leaseUntil = until
	}
	if now := env.Now(); !r.leaseLogged && now.Before(r.leaseUntil) {
		r.leaseLogged = true
		env.Log().Info("primary: holds a lease; serving", "shard", r.shard, "version", r.config.Version, "until", r.leaseUntil.Sub(now))
	}
	r.offerGC(env, g)
	r.reclaimExpired(env, g)
}

// surrender gives up the lease of a version meta moves the primary away
// from (rule handover): nothing more is served in it, no grant for it is
// accepted (one may still be on its way), and meta hears so and promotes
// the successor without waiting the lease out. Entries already sequenced
// still commit: every replica, the successor included, must hold them.
func (r *replica) surrender(env actors.Env, from actors.Addr, x *wire.Surrender) {
	if x.ConfigVersion < r.config.Version {
		return // an older version's: it has no lease to give up
	}
	if x.ConfigVersion > r.surrendered {
		env.Log().Info("primary: surrendering the lease for a handover", "shard", r.shard, "version", x.ConfigVersion, "acting_primary", r.primary != nil)
		r.surrendered = x.ConfigVersion
	}
	r.leaseUntil = time.Time{}
	env.Send(from, &wire.Surrendered{Shard: r.shard, ConfigVersion: x.ConfigVersion})
}

// checkLease logs a lease that ran out or was given up since the last
// check (the heartbeat's): the primary serves nothing until meta grants
// another.
func (r *replica) checkLease(env actors.Env) {
	if now := env.Now(); r.leaseLogged && !now.Before(r.leaseUntil) {
		r.leaseLogged = false
		env.Log().Warn("primary: lease lost; not serving until meta grants another", "shard", r.shard, "version", r.config.Version,
			"acting_primary", r.primary != nil)
	}
}

func (r *replica) leaseValid(now time.Time) bool {
	return r.s.cfg.Canary == CanaryIgnoreLease || now.Before(r.leaseUntil)
}

// appendEntry adds an entry of our own (a primary's) to the log. It is
// written, persisted and sent to the peers at the next flush, so the
// commands that arrive together share one write and one Prepare.
func (r *replica) appendEntry(env actors.Env, e *wire.Entry) {
	if r.unflushed == nil {
		r.unflushed = r.s.st.NewBatch()
		r.s.scheduleFlush(env)
	}
	r.log.append(r.unflushed, e)
	r.dedup.record(e)
}

// flush writes what appendEntry collected, asks for its persistence and,
// in parallel with our own sync, sends it to the peers: commit waits for
// every replica's durable ack, ours included (rule commit-all).
func (r *replica) flush(env actors.Env) {
	if r.unflushed == nil {
		return
	}
	b := r.unflushed
	r.unflushed = nil
	r.log.write(b, true)
	if r.primary != nil {
		r.sendPrepares(env)
	}
}

// persisted runs when the runtime reports writes through point durable.
func (r *replica) persisted(env actors.Env, point uint64) {
	if !r.log.persisted(point) {
		return
	}
	if r.primary != nil {
		r.tryCommit(env)
		return
	}
	r.followCommit(env)
	r.ack(env)
}

// followCommit advances a secondary's or learner's commit point to what the
// primary said, as far as our log is known to match and is durable.
func (r *replica) followCommit(env actors.Env) {
	if r.s.cfg.Canary == CanaryLazyApply {
		return
	}
	r.advanceCommit(env, min(r.primaryCommitSeq, r.matchedSeq, r.log.synced))
}

// advanceCommit applies committed entries to the versioned data.
func (r *replica) advanceCommit(env actors.Env, to uint64) {
	if to <= r.commitSeq {
		return
	}
	// Invariant commit ≤ durable: nothing commits that this replica could
	// lose in a crash.
	if to > r.log.synced && r.s.cfg.Canary != CanaryCommitOnMajority {
		panic(fmt.Sprintf("data: shard %d: commit point %d beyond the durable log %d", r.shard, to, r.log.synced))
	}
	from := r.commitSeq
	r.commitSeq = to
	if r.primary != nil {
		// Before apply, which may compact the entries it answers from.
		r.primary.committed(env, r, from, to)
	}
	r.apply(env)
	if r.primary != nil {
		r.runDeferred(env, to) // after apply: they read the committed state
	}
	if r.appliedSeq-r.log.start >= uint64(r.s.cfg.CompactEvery) {
		r.s.scheduleFlush(env) // which compacts, in a step of its own
	}
}

func (r *replica) apply(env actors.Env) {
	if r.appliedSeq >= r.commitSeq {
		return
	}
	// One version per key, no tombstones: no read needs an older one
	// (reads run inside a handler, at the newest committed state).
	a := r.s.st.NewApplyBatch(r.shard)
	var versions *versionCache // a primary's cache learns what it applies
	if r.primary != nil && r.s.cfg.Canary != CanaryStaleVersionCache {
		versions = r.primary.versions
	}
	r.log.forEach(r.appliedSeq+1, r.commitSeq, func(e *wire.Entry) {
		r.checkCommitOrder(e)
		switch e.Kind {
		case wire.Entry_WRITE, wire.Entry_TXN:
			if e.Kind == wire.Entry_TXN {
				r.applyTxn(a, e)
			}
			for _, w := range e.Writes {
				if w.LockOnly {
					continue // a lock, applied above
				}
				if w.Delete {
					if r.primary != nil {
						r.primary.deleteTS = max(r.primary.deleteTS, e.CommitTs)
					}
					a.Delete(w.Key, store.Prev{TS: w.PrevTs, Live: w.WasLive, Bytes: w.PrevBytes})
				} else {
					a.Put(w.Key, e.CommitTs, w.Value, w.ExpireMs, store.Prev{TS: w.PrevTs, Live: w.WasLive, Bytes: w.PrevBytes})
				}
				if versions != nil {
					v := committedVersion{ts: e.CommitTs, found: true, bytes: uint64(len(w.Value)), expireMs: w.ExpireMs}
					if w.Delete {
						v = committedVersion{} // a deletion leaves no version
					}
					versions.put(w.Key, v)
				}
			}
		case wire.Entry_FLUSH:
			a.Flush(e.CommitTs)
			r.flushed = e.CommitTs
			if r.primary != nil {
				r.primary.versions.clear()
				r.primary.deleteTS = max(r.primary.deleteTS, e.CommitTs)
			}
		case wire.Entry_BARRIER:
			if e.Split != nil {
				// The split reads the applied state as of the entry before
				// it, and writes it with its own applied point.
				r.writeApplied(a, e.Seq-1)
				r.applySplit(env, e)
				a = r.s.st.NewApplyBatch(r.shard)
			}
		}
	})
	// Invariant applied ≤ commit holds by construction: we apply exactly
	// through the commit point.
	r.writeApplied(a, r.commitSeq)
	r.log.applied(r.appliedSeq, r.commitSeq)
	r.appliedSeq = r.commitSeq
	r.log.release(r.appliedSeq)
}

// writeApplied writes a, the effects of the entries through seq, with the
// applied point seq and the live counts.
func (r *replica) writeApplied(a *store.ApplyBatch, seq uint64) {
	a.SetApplied(seq)
	if r.live != nil {
		a.Known(*r.live)
	}
	b := a.Batch()
	// Not persisted on purpose: the log holds every applied entry durably,
	// and recovery re-applies from whatever applied seq survived.
	_, err := r.s.st.Write(b)
	r.s.must(err, "apply committed entries")
	if c, ok := a.Live(); ok {
		r.live = &c
	}
}

// assertServing checks rule lease-read where a reply is about to be served:
// only a primary, with a valid lease, after its barrier committed. The
// canaries that break this rule on purpose are exempt.
func (r *replica) assertServing(env actors.Env) {
	switch r.s.cfg.Canary {
	case CanaryIgnoreLease, CanaryNoBarrier, CanaryReadSecondary:
		return
	}
	if r.primary == nil || r.commitSeq < r.primary.barrierSeq || !env.Now().Before(r.leaseUntil) {
		panic(fmt.Sprintf("data: shard %d: serving without a lease or a committed barrier (commit %d, barrier %d)",
			r.shard, r.commitSeq, r.barrierOrZero()))
	}
}

func (r *replica) barrierOrZero() uint64 {
	if r.primary == nil {
		return 0
	}
	return r.primary.barrierSeq
}

// committedState reads the applied (committed) data.
type committedState struct{ r *replica }

func (c committedState) Get(key []byte) (command.Value, error) {
	v, err := c.r.s.st.GetVersionFlushed(c.r.shard, key, math.MaxUint64, c.r.flushed)
	return command.Value{Bytes: v.Value, TS: v.TS, ExpireMs: v.ExpireMs, Found: v.Found}, err
}

// read serves a read-only command (rule lease-read).
func (r *replica) read(env actors.Env, from actors.Addr, m *wire.Read) {
	reply := func(st wire.Status, rep *wire.Reply) {
		out := &wire.ReadReply{Shard: r.shard, Id: m.Id, Incarnation: m.Incarnation, Ts: m.Ts, Status: st, Reply: rep}
		if st != wire.Status_OK {
			out.Config = r.config
		}
		r.s.reply(from, out)
	}
	if r.s.cfg.Canary != CanaryReadSecondary {
		if r.primary == nil {
			reply(wire.Status_NOT_PRIMARY, nil)
			return
		}
		if !r.primary.ready(r) || !r.leaseValid(env.Now()) {
			reply(wire.Status_NOT_READY, nil)
			return
		}
		r.assertServing(env)
	}
	cmd, bad := command.FromWire(m.Command)
	if bad != nil {
		reply(wire.Status_OK, bad)
		return
	}
	if cmd.Kind == command.DBSize {
		// Counted on the newest committed state, not at m.Ts: DBSIZE is
		// documented as approximate across shards.
		n, err := r.s.st.LiveKeys(r.shard)
		r.s.must(err, "count live keys")
		reply(wire.Status_OK, command.Int(int64(n)))
		return
	}
	if cmd.Kind == command.TxnLocks {
		reply(wire.Status_OK, r.expiredLocks(m.Ts))
		return
	}
	if cmd.Kind == command.Scan || cmd.Kind == command.KeysMatching {
		rep, st := r.scan(cmd, m.Ts)
		reply(st, rep)
		return
	}
	if cmd.IsWrite() {
		reply(wire.Status_OK, command.Error("ERR "+cmd.Name+" is a write; send it as a Commit"))
		return
	}
	if r.outOfRange(cmd.Keys) {
		reply(wire.Status_STALE_CONFIG, nil) // rule split-fence
		return
	}
	r.serveRead(env, from, m, cmd, reply, func(l *wire.Lock) {
		r.s.reply(from, &wire.ReadReply{Shard: r.shard, Id: m.Id, Incarnation: m.Incarnation, Ts: m.Ts,
			Status: wire.Status_LOCKED, Lock: l, Config: r.config})
	})
}
