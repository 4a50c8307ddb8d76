package data

import (
	"fmt"

	"castkv/actors"
	"castkv/actors/store"
	"castkv/actors/wire"
)

// prepare handles log entries from a primary (secondary and learner side).
func (s *Server) prepare(env actors.Env, from actors.Addr, p *wire.Prepare) {
	r := s.fromPrimary(env, from, p.Config)
	if r == nil {
		return
	}
	if r.uninitialized() {
		// Nothing of this split-born shard is here yet: log entries alone
		// cannot bring it (its first entries follow the parent's state).
		env.Send(from, &wire.PrepareAck{Shard: r.shard, ConfigVersion: r.config.Version, PrevSeq: p.PrevSeq, NoState: true})
		return
	}
	if in := r.installing; in != nil {
		if p.Config.Version == in.version {
			return // a Prepare sent before the snapshot began; the install goes on
		}
		// A newer primary (or a restarted one, which always comes back in
		// a new version) knows nothing of our install: drop it, and let
		// the Prepare find an empty log.
		env.Log().Info("a newer primary's Prepare ends an unfinished snapshot install", "shard", r.shard, "version", p.Config.Version)
		r.abandonInstall()
	}
	r.prepare(env, p)
}

// fromPrimary finds the replica a message from a primary of config c is
// for: rule stale-config refuses an older version (the sender is a deposed
// primary), a newer one is accepted first; nil when we are not to follow
// from.
func (s *Server) fromPrimary(env actors.Env, from actors.Addr, c *wire.Config) *replica {
	if c == nil {
		return nil
	}
	r := s.replica(c.Shard)
	if r != nil && c.Version < r.config.Version {
		env.Send(from, &wire.PrepareAck{Shard: c.Shard, ConfigVersion: c.Version, Config: r.config})
		return nil
	}
	if r == nil || c.Version > r.config.Version {
		s.acceptConfig(env, c)
		r = s.replica(c.Shard)
	}
	if string(from) != c.Primary || r.primary != nil || r.isPrimaryIn(r.config) {
		return nil
	}
	return r
}

func (r *replica) prepare(env actors.Env, p *wire.Prepare) {
	// Invariant: only a primary holds appends not yet written (setConfig
	// flushes them when it steps down).
	if r.unflushed != nil {
		panic(fmt.Sprintf("data: shard %d: a Prepare reached a replica with unwritten appends of its own", r.shard))
	}
	prevSeq, prevVersion, batch := p.PrevSeq, p.PrevVersion, p.Entries
	if prevSeq < r.log.start {
		// Our log starts later: the entries up to its start are committed
		// and applied here, so they match any primary's; check from there.
		for len(batch) > 0 && batch[0].Seq <= r.log.start {
			batch = batch[1:]
		}
		prevSeq, prevVersion = r.log.start, r.log.startVersion
	}
	// Rule log-matching: the entry before the batch must be ours too.
	if prevSeq > r.log.last || r.log.versionAt(prevSeq) != prevVersion {
		env.Log().Debug("prepare does not match our log; asking for entries after our commit point",
			"shard", r.shard, "prev_seq", prevSeq, "prev_version", prevVersion, "last_seq", r.log.last, "commit_seq", r.commitSeq)
		r.sendNack(env, r.commitSeq, p.PrevSeq)
		return
	}
	matched := prevSeq
	needValues := uint64(0)
	b := r.s.st.NewBatch()
	// dirty: b holds a truncation or an append. It is written whatever
	// happens next, so what we changed in memory is what pebble holds: a
	// truncation must never be dropped while later appends land, or a
	// crash would bring back a stale tail behind them.
	dirty, truncated := false, false
	for _, e := range batch {
		if e.Seq <= r.log.last {
			ours := r.log.versionAt(e.Seq)
			if ours == e.Version {
				matched = e.Seq // a duplicate: same primary, same version, same entry
				continue
			}
			// Invariant: the committed prefix is the same in every log. A
			// conflict there means the commit rule was broken.
			if e.Seq <= r.commitSeq {
				panic(fmt.Sprintf("data: shard %d: log conflict at committed entry %d (ours from version %d, primary's from %d); the commit rule was broken",
					r.shard, e.Seq, ours, e.Version))
			}
			// A conflicting suffix from a deposed primary: never
			// committed, since the new primary lacks it.
			r.truncate(b, e.Seq)
			truncated = true
			dirty = true // the truncation reaches pebble with this batch, whatever follows
		}
		if !r.fillStaged(e) {
			needValues = e.Seq
			break
		}
		r.log.append(b, e)
		r.dedup.record(e)
		if e.Op != nil {
			r.s.staged.drop(e.Op) // the entry holds its values now
		}
		matched = e.Seq
		dirty = true
	}
	if dirty {
		// Rule durable-before-ack: acked once the runtime reports it
		// durable (persisted). The canary acks at once and persists lazily.
		r.log.write(b, r.s.cfg.Canary != CanaryAckBeforeDurable)
	} else {
		b.Close()
	}
	if truncated {
		r.assertLogEnd()
	}
	r.matchedSeq = max(r.matchedSeq, matched)
	r.primaryCommitSeq = max(r.primaryCommitSeq, p.CommitSeq)
	r.primaryCompactSeq = max(r.primaryCompactSeq, p.CompactSeq)
	r.followCommit(env)
	switch {
	case needValues != 0:
		r.sendAck(env, false, min(r.matchedSeq, r.log.synced), needValues)
	case dirty && r.s.cfg.Canary == CanaryAckBeforeDurable:
		r.sendAck(env, true, r.matchedSeq, 0)
	case dirty:
		// acked in persisted
	default:
		r.ack(env)
	}
}

// truncate drops the log from seq on, in b and in memory.
func (r *replica) truncate(b *store.Batch, seq uint64) {
	r.log.truncate(b, seq, r.s.cfg.Canary == CanaryUnsyncedTruncate)
	r.dedup.truncate(seq)
	r.matchedSeq = min(r.matchedSeq, r.log.last)
}

// assertLogEnd checks, after a truncation, that pebble's log ends where
// ours does: a stale tail left behind would come back at the next restart.
func (r *replica) assertLogEnd() {
	last, err := r.s.st.LastEntry(r.shard)
	r.s.must(err, "read the log's last entry")
	// A log truncated to empty ends at its start (a snapshot's applied
	// point, or the last compaction's): pebble then holds no entry at all
	// (castsim seed 239 of 1-400 with the rebalance fault: a learner that
	// installed a snapshot truncated its whole tail, and this check took
	// the empty log for a lost one and stopped the node).
	end, _, err := r.s.st.LogStart(r.shard)
	r.s.must(err, "read the log's start")
	if last != nil {
		end = max(end, last.Seq)
	}
	if end != r.log.last {
		panic(fmt.Sprintf("data: shard %d: after a truncation pebble's log ends at %d, ours at %d", r.shard, end, r.log.last))
	}
}

// fillStaged puts staged values back into e; false if one is missing. A
// value the primary omitted is looked up; any other value, empty or not, is
// the value itself.
func (r *replica) fillStaged(e *wire.Entry) bool {
	for _, w := range e.Writes {
		if w.ValueOmitted {
			v, ok := r.s.staged.find(e.Op, w.Digest)
			if !ok {
				return false
			}
			w.Value = v
			w.ValueOmitted = false
		}
	}
	return true
}

// ack tells the primary how far our log matches its and is durable.
func (r *replica) ack(env actors.Env) {
	if r.primary != nil || r.config.Primary == "" || r.isPrimaryIn(r.config) {
		return
	}
	r.sendAck(env, true, min(r.matchedSeq, r.log.synced), 0)
}

// sendNack refuses a Prepare after prevSeq whose log-matching check failed:
// entries after match (our commit point) are asked for.
func (r *replica) sendNack(env actors.Env, match, prevSeq uint64) {
	env.Send(actors.Addr(r.config.Primary), &wire.PrepareAck{
		Shard: r.shard, ConfigVersion: r.config.Version, MatchSeq: match, PrevSeq: prevSeq,
	})
}

func (r *replica) sendAck(env actors.Env, ok bool, match, needValues uint64) {
	// Invariant acked ≤ durable (durable-before-ack); the canary breaks it
	// on purpose and is left to the simulator's checks.
	if ok && match > r.log.synced && r.s.cfg.Canary != CanaryAckBeforeDurable {
		panic(fmt.Sprintf("data: shard %d: acking %d beyond the durable log %d", r.shard, match, r.log.synced))
	}
	env.Send(actors.Addr(r.config.Primary), &wire.PrepareAck{
		Shard: r.shard, ConfigVersion: r.config.Version, Ok: ok,
		MatchSeq: match, NeedValuesSeq: needValues,
	})
}
