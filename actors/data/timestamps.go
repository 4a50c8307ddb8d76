package data

import (
	"fmt"
	"math"
	"slices"

	"castkv/actors"
	"castkv/actors/command"
	"castkv/actors/wire"
)

// Timestamps (rules commit-ts, read-ts and ts-floor in doc.go). Every
// Commit and Read carries a TSO timestamp the API server fetched after
// the command was invoked. An entry with writes commits at
//
//	max(its timestamp, the largest read timestamp served + 1,
//	    the commit_ts of the entry before it)
//
// so commit timestamps never decrease along the log, and nothing commits
// at or below a timestamp a read was already served at. Each of the three
// is at most one above a timestamp the TSO had issued by then, so a
// timestamp fetched after the write completed is at or above its
// commit_ts: a later read sees it.
//
// A read at ts sees exactly the entries that commit at or below ts. Keys
// keep one version (one-version), so a read whose key has a newer version
// than ts, or that finds a key absent after a deletion newer than ts,
// cannot be answered at ts: it is refused with TS_TOO_OLD and the API
// server retries with a new timestamp. A read that meets a sequenced entry
// of its key committing at or below ts waits for that entry to commit.

// maxDeferredReads bounds the reads a primary holds for sequenced entries
// to commit; beyond it a read is refused BUSY.
const maxDeferredReads = 4096

// unknownTS is a new primary's deleteTS until its first lease grant: it does
// not know when the committed state last lost a key.
const unknownTS = math.MaxUint64

type deferredRead struct {
	from actors.Addr
	m    *wire.Read
}

// commitTS is the commit timestamp of the next entry with writes, sequenced
// for a command fetched at ts (rule commit-ts). A FLUSH at F hides every
// version at or below F, so a write after one commits above it: above
// flushed, the applied state's marker, and any FLUSH sequenced since.
func (ps *primaryState) commitTS(ts, flushed uint64, flush bool, canary string) uint64 {
	c := max(ts, ps.lastCommitTS, ps.floorTS+1)
	if canary != Canary1PCWithoutMaxTS {
		c = max(c, ps.maxReadTS+1)
	}
	if !flush {
		c = max(c, flushed+1, ps.lastFlushTS+1)
	} else {
		ps.lastFlushTS = c
	}
	ps.lastCommitTS = c
	return c
}

// grantTS takes the timestamp a lease grant carries (rule ts-floor): the
// TSO issued it after every read timestamp an earlier primary of the shard
// served under its lease, and after every commit timestamp it assigned.
func (ps *primaryState) grantTS(ts uint64, canary string) {
	if ts == 0 {
		return
	}
	if canary != CanaryNoTSFloor {
		ps.floorTS = max(ps.floorTS, ts)
	}
	if ps.deleteTS == unknownTS {
		ps.deleteTS = ts
	}
}

// mustWait is the seq through which a read at ts of keys must wait for
// commits (0: none): every uncommitted write of its keys, and any FLUSH,
// that commits at or below ts. (Sequencing a FLUSH clears the overlay, so
// while one above ts is pending the writes before it are found in the log.) A key whose newest uncommitted write commits
// at or below ts waits for that entry. One whose newest commits above ts
// but whose older ones may not waits for the last entry of the log that
// commits at or below ts, found by a walk of the uncommitted tail (commit
// timestamps never decrease along the log). Either target is fixed when the
// read arrives: later entries commit above ts (rule commit-ts), so a read
// never waits on a hot key's stream of writes.
func (r *replica) mustWait(keys [][]byte, ts uint64) uint64 {
	ps := r.primary
	var seq uint64
	tail := uint64(0)
	switch {
	case ps.flushSeq != 0 && ps.flushTS <= ts:
		seq = ps.flushSeq
	case ps.flushSeq != 0:
		// A FLUSH above ts is pending: sequencing it cleared the overlay,
		// so the writes before it that commit at or below ts are found in
		// the log.
		tail = r.lastSeqAtOrBelow(ts)
		seq = tail
	}
	for _, k := range keys {
		ov, ok := ps.overlay[string(k)]
		switch {
		case !ok || ov.firstTS > ts:
		case ov.ts <= ts:
			seq = max(seq, ov.seq)
		default:
			if tail == 0 {
				tail = r.lastSeqAtOrBelow(ts)
			}
			seq = max(seq, tail)
		}
	}
	return seq
}

// lastSeqAtOrBelow is the last uncommitted entry that commits at or below ts
// (the commit point if none).
func (r *replica) lastSeqAtOrBelow(ts uint64) uint64 {
	seq := r.commitSeq
	r.log.forEach(r.commitSeq+1, r.log.last, func(e *wire.Entry) {
		if e.CommitTs <= ts {
			seq = e.Seq
		}
	})
	return seq
}

// deferRead holds a read until entry seq commits.
func (ps *primaryState) deferRead(from actors.Addr, m *wire.Read, seq uint64) bool {
	if ps.deferredReads >= maxDeferredReads {
		return false
	}
	if ps.deferred == nil {
		ps.deferred = map[uint64][]deferredRead{}
	}
	ps.deferred[seq] = append(ps.deferred[seq], deferredRead{from, m})
	ps.deferredReads++
	return true
}

// runDeferred serves the reads that waited for entries through to, which
// committed and were applied.
func (r *replica) runDeferred(env actors.Env, to uint64) {
	ps := r.primary
	for _, seq := range sortedKeys(ps.deferred) {
		if seq > to {
			break
		}
		reads := ps.deferred[seq]
		delete(ps.deferred, seq)
		ps.deferredReads -= len(reads)
		for _, d := range reads {
			r.read(env, d.from, d.m)
		}
	}
}

// dropDeferred refuses every held read: this replica no longer serves.
func (r *replica) dropDeferred() {
	ps := r.primary
	for _, seq := range sortedKeys(ps.deferred) {
		for _, d := range ps.deferred[seq] {
			r.s.reply(d.from, &wire.ReadReply{Shard: r.shard, Id: d.m.Id, Incarnation: d.m.Incarnation, Ts: d.m.Ts,
				Status: wire.Status_NOT_PRIMARY, Config: r.config})
		}
	}
	ps.deferred, ps.deferredReads = nil, 0
}

// readAtTS reads the committed state as of ts, noting when it cannot (a
// newer version replaced or deleted what ts would see).
type readAtTS struct {
	r      *replica
	ts     uint64
	tooOld bool
}

func (s *readAtTS) Get(key []byte) (command.Value, error) {
	r := s.r
	v, err := r.s.st.GetVersionFlushed(r.shard, key, math.MaxUint64, r.flushed)
	if err != nil {
		return command.Value{}, err
	}
	switch {
	case r.primary == nil: // canary read-secondary: no timestamps there
	case v.Found && v.TS > s.ts:
		s.tooOld = true
	case !v.Found && r.primary.deleteTS > s.ts:
		s.tooOld = true
	}
	return command.Value{Bytes: v.Value, TS: v.TS, ExpireMs: v.ExpireMs, Found: v.Found}, nil
}

// serveRead evaluates a read at m.Ts, or holds it for the sequenced entries
// it must see (rule read-ts).
func (r *replica) serveRead(env actors.Env, from actors.Addr, m *wire.Read, cmd *command.Command,
	reply func(wire.Status, *wire.Reply), lockedReply func(*wire.Lock)) {
	if m.Ts == 0 {
		reply(wire.Status_OK, command.Error("ERR read without a timestamp"))
		return
	}
	if ps := r.primary; ps != nil {
		locked, lockWait := r.readLocks(cmd.Keys, m.Ts)
		if locked != nil {
			lockedReply(locked)
			return
		}
		ps.maxReadTS = max(ps.maxReadTS, m.Ts)
		seq := r.mustWait(cmd.Keys, m.Ts)
		if r.s.cfg.Canary == CanaryReadThroughPending {
			seq = 0
		}
		if seq = max(seq, lockWait); seq > r.commitSeq {
			if !ps.deferRead(from, m, seq) {
				reply(wire.Status_BUSY, nil)
				return
			}
			r.readsWaited++
			return
		}
	}
	state := &readAtTS{r: r, ts: m.Ts}
	rep, _, err := command.Eval(cmd, state, r.evalTS(env, m.Ts))
	r.s.must(err, "evaluate read")
	if state.tooOld {
		r.readsTooOld++
		reply(wire.Status_TS_TOO_OLD, nil)
		return
	}
	if r.primary != nil {
		r.meter.served(0)
	}
	reply(wire.Status_OK, rep)
}

// checkCommitOrder is invariant commit-ts-order, checked where entries are
// applied on every replica: the entries with writes commit at
// non-decreasing timestamps along the log (a newer primary's writes commit
// above its first grant's timestamp, above everything an older one
// sequenced: rule ts-floor), and a write commits above the flush marker,
// which would hide it at once.
func (r *replica) checkCommitOrder(e *wire.Entry) {
	if e.Kind != wire.Entry_FLUSH && len(e.Writes) == 0 {
		return
	}
	if e.Kind == wire.Entry_TXN {
		// A transaction's commit_ts may be below an earlier entry's: its
		// locks kept every other write of its keys out, so each key's
		// versions still increase (checked in applyTxn).
		if !slices.ContainsFunc(e.Writes, func(w *wire.Write) bool { return w.Unlock }) {
			return
		}
		if e.CommitTs <= r.flushed {
			panic(fmt.Sprintf("data: shard %d: entry %d commits a transaction at ts %d, at or below the flush marker %d",
				r.shard, e.Seq, e.CommitTs, r.flushed))
		}
		r.appliedTS = max(r.appliedTS, e.CommitTs)
		return
	}
	if e.CommitTs < r.appliedTS {
		panic(fmt.Sprintf("data: shard %d: entry %d commits at ts %d, below an earlier entry's %d",
			r.shard, e.Seq, e.CommitTs, r.appliedTS))
	}
	if e.Kind == wire.Entry_WRITE && e.CommitTs <= r.flushed {
		panic(fmt.Sprintf("data: shard %d: entry %d writes at ts %d, at or below the flush marker %d",
			r.shard, e.Seq, e.CommitTs, r.flushed))
	}
	r.appliedTS = e.CommitTs
}
