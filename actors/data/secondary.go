package data

import (
	"castkv/actors"
	"castkv/actors/wire"
)

// prepare handles log entries from a primary (secondary and learner side).
func (s *Server) prepare(env actors.Env, from actors.Addr, p *wire.Prepare) {
	c := p.Config
	if c == nil {
		return
	}
	r := s.replica(c.Shard)
	if r != nil && c.Version < r.config.Version {
		// Rule stale-config: the sender is a deposed primary.
		env.Send(from, &wire.PrepareAck{Shard: c.Shard, ConfigVersion: c.Version, Config: r.config})
		return
	}
	if r == nil || c.Version > r.config.Version {
		s.acceptConfig(env, c)
		r = s.replica(c.Shard)
	}
	if string(from) != c.Primary || r.primary != nil {
		return
	}
	r.prepare(env, p)
}

func (r *replica) prepare(env actors.Env, p *wire.Prepare) {
	// Rule log-matching: the entry before the batch must be ours too.
	if p.PrevSeq > r.lastSeq || r.versionAt(p.PrevSeq) != p.PrevVersion {
		env.Log().Debug("prepare does not match our log; asking for entries after our commit point",
			"shard", r.shard, "prev_seq", p.PrevSeq, "prev_version", p.PrevVersion, "last_seq", r.lastSeq, "commit_seq", r.commitSeq)
		r.sendAck(env, false, r.commitSeq, 0)
		return
	}
	matched := p.PrevSeq
	needValues := uint64(0)
	b := r.s.st.NewBatch()
	wrote := false
	for _, e := range p.Entries {
		if e.Seq <= r.commitSeq {
			// Committed entries are the same in every replica's log: no
			// need to read ours back to compare.
			matched = e.Seq
			continue
		}
		if e.Seq <= r.lastSeq {
			if r.versionAt(e.Seq) == e.Version {
				matched = e.Seq // a duplicate: same primary, same version, same entry
				continue
			}
			// A conflicting suffix from a deposed primary: never
			// committed, since the new primary lacks it.
			if e.Seq <= r.commitSeq {
				panic("data: log conflict at a committed entry; the commit rule was broken")
			}
			b.TruncateLog(r.shard, e.Seq)
			r.dedup.truncate(e.Seq)
			prevVersion := r.versionAt(e.Seq - 1)
			r.lastSeq, r.lastVersion = e.Seq-1, prevVersion
			if r.syncedSeq > r.lastSeq {
				r.syncedSeq, r.syncedVersion = r.lastSeq, r.lastVersion
			}
		}
		if !r.fillStaged(e) {
			needValues = e.Seq
			break
		}
		b.AppendEntry(r.shard, e)
		r.lastSeq, r.lastVersion = e.Seq, e.Version
		r.dedup.record(e)
		matched = e.Seq
		wrote = true
	}
	if wrote {
		r.s.must(b.Commit(false), "append prepared entries")
	}
	r.matchedSeq = max(r.matchedSeq, matched)
	r.advanceCommit(env, min(p.CommitSeq, r.matchedSeq))
	switch {
	case needValues != 0:
		r.sendAck(env, false, min(r.matchedSeq, r.syncedSeq), needValues)
	case wrote && r.s.cfg.Canary != CanaryAckBeforePersist:
		r.s.scheduleSync(env) // acked once synced: rule persist-before-prepare
	case wrote:
		// Canary: ack what is not yet durable, and sync lazily.
		r.sendAck(env, true, r.matchedSeq, 0)
	default:
		r.ack(env)
	}
}

// fillStaged puts staged values back into e; false if one is missing.
func (r *replica) fillStaged(e *wire.Entry) bool {
	for _, w := range e.Writes {
		if w.Staged && len(w.Value) == 0 {
			v, ok := r.s.staged.find(e.Op, w.Digest)
			if !ok {
				return false
			}
			w.Value = v
		}
	}
	return true
}

// ack tells the primary how far our log matches its and is durable.
func (r *replica) ack(env actors.Env) {
	if r.primary != nil || r.config.Primary == "" {
		return
	}
	r.sendAck(env, true, min(r.matchedSeq, r.syncedSeq), 0)
}

func (r *replica) sendAck(env actors.Env, ok bool, match, needValues uint64) {
	env.Send(actors.Addr(r.config.Primary), &wire.PrepareAck{
		Shard: r.shard, ConfigVersion: r.config.Version, Ok: ok,
		MatchSeq: match, NeedValuesSeq: needValues,
	})
}
