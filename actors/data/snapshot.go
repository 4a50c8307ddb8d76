package data

import (
	"fmt"
	"time"

	"castkv/actors"
	"castkv/actors/store"
	"castkv/actors/wire"
	"google.golang.org/protobuf/proto"
)

// Log compaction and snapshots (rule compaction, doc.go).
//
// After applying, a replica drops the log entries every replica of its
// config holds durably (the primary's compact_seq) once CompactEvery of
// them piled up; it never keeps more than MaxLogEntries applied ones, even
// for a replica that lags further (that one gets a snapshot). The
// exactly-once table goes into the applied state with each compaction, so
// a restart replays only the log after it.
//
// A peer whose next entry the primary no longer holds gets a snapshot of
// the applied state, one chunk in flight at a time (flow control), each
// below MaxPrepareBytes unless one record is larger. The receiver installs
// it and then acks, as for a Prepare, the applied point it is at once that
// is durable; the primary goes on with the log after it.

// snapshotOut is a snapshot a primary is sending to one peer.
type snapshotOut struct {
	id         uint64
	reader     *store.SnapshotReader
	index      uint64 // of the chunk in flight
	chunk      []byte // in flight, kept to resend
	done       bool   // the chunk in flight is the last
	seq        uint64 // the applied point the snapshot is at
	version    uint64
	sentAt     time.Time
	resendWait time.Duration
}

// snapshotIn is a snapshot a replica is installing.
type snapshotIn struct {
	id      uint64
	next    uint64 // the chunk index expected next
	version uint64 // the config version it began in
}

// maybeCompact drops applied log entries (rule compaction): through what
// every replica holds (hint) once CompactEvery piled up, and never keeping
// more than MaxLogEntries of them.
func (r *replica) maybeCompact() {
	applied := r.appliedSeq
	if applied <= r.log.start {
		return
	}
	to := min(applied, r.compactHint())
	if applied > uint64(r.s.cfg.MaxLogEntries) {
		to = max(to, applied-uint64(r.s.cfg.MaxLogEntries))
	}
	if r.s.cfg.Canary == CanaryTruncateUnapplied {
		to = r.log.synced // may be past what is applied
	}
	if to <= r.log.start || to-r.log.start < uint64(r.s.cfg.CompactEvery) {
		return
	}
	b := r.s.st.NewBatch()
	r.saveDedup(b, to)
	r.log.compact(b, to)
	_, err := r.s.st.Write(b) // durable with the next sync; until then the log still holds it all
	r.s.must(err, fmt.Sprintf("shard %d: compact the log through %d", r.shard, to))
}

// compactHint is how far every replica of the config holds the log: a
// primary knows its peers' durable matches, a secondary what the primary
// said (compact_seq).
func (r *replica) compactHint() uint64 {
	ps := r.primary
	if ps == nil {
		return r.primaryCompactSeq
	}
	hint := r.log.synced
	for _, p := range ps.peers {
		hint = min(hint, p.match)
	}
	return hint
}

// saveDedup stores the exactly-once table as of seq with the applied state.
func (r *replica) saveDedup(b *store.Batch, seq uint64) {
	blob, err := marshal.Marshal(r.dedup.table(seq))
	r.s.must(err, "encode the exactly-once table")
	b.PutDedup(r.shard, blob)
}

var marshal = proto.MarshalOptions{Deterministic: true}

// startSnapshot begins sending p a snapshot of our applied state: its log
// entries are compacted here.
func (r *replica) startSnapshot(env actors.Env, p *peer) {
	r.stopSnapshot(p)
	r.snapshotCount++
	// The table as of the applied point travels in the snapshot.
	b := r.s.st.NewBatch()
	r.saveDedup(b, r.appliedSeq)
	_, err := r.s.st.Write(b)
	r.s.must(err, "store the exactly-once table for a snapshot")
	rd := r.s.st.NewSnapshotReader(r.shard)
	seq, version, err := rd.Position()
	r.s.must(err, "snapshot position")
	p.snap = &snapshotOut{id: r.s.incarnation + r.snapshotCount, reader: rd, seq: seq, version: version}
	env.Log().Info("primary: sending a snapshot", "shard", r.shard, "peer", p.addr, "applied", seq, "log_start", r.log.start, "peer_next", p.next)
	r.nextChunk(env, p)
}

// nextChunk reads and sends the snapshot's next chunk.
func (r *replica) nextChunk(env actors.Env, p *peer) {
	sn := p.snap
	chunk, done, err := sn.reader.Next(r.s.cfg.MaxPrepareBytes)
	r.s.must(err, "read a snapshot chunk")
	if sn.chunk != nil {
		sn.index++
	}
	sn.chunk, sn.done = chunk, done
	sn.resendWait = 0
	r.sendChunk(env, p)
}

func (r *replica) sendChunk(env actors.Env, p *peer) {
	sn := p.snap
	// Every chunk names the applied point, so a receiver can tell a stale
	// one from a snapshot it needs.
	m := &wire.SnapshotChunk{Config: r.config, Id: sn.id, Index: sn.index, Data: sn.chunk, Done: sn.done,
		AppliedSeq: sn.seq, AppliedVersion: sn.version}
	now := env.Now()
	sn.sentAt = now
	p.transferUntil = later(p.transferUntil, now.Add(r.transferTime(len(sn.chunk))))
	p.freshBytes += len(sn.chunk)
	env.Send(p.addr, m)
}

// stopSnapshot ends a snapshot to p, if any.
func (r *replica) stopSnapshot(p *peer) {
	if p.snap == nil {
		return
	}
	r.s.must(p.snap.reader.Close(), "close a snapshot")
	p.snap = nil
}

// snapshotAck moves a snapshot on: the next chunk, or from the start.
func (r *replica) snapshotAck(env actors.Env, from actors.Addr, a *wire.SnapshotAck) {
	p := r.peer(from)
	if p == nil || p.snap == nil || a.ConfigVersion != r.config.Version || a.Id != p.snap.id {
		return
	}
	p.lastAck = env.Now()
	if !a.Ok {
		r.startSnapshot(env, p)
		return
	}
	if a.Index != p.snap.index || p.snap.done {
		return // a duplicate, or the last: the peer acks that with a PrepareAck once durable
	}
	p.lastProgress, p.freshBytes = env.Now(), 0
	r.nextChunk(env, p)
}

// retrySnapshot resends a chunk whose ack did not come, waiting longer each
// time (up to maxResendAfter).
func (r *replica) retrySnapshot(env actors.Env, p *peer) {
	sn := p.snap
	now := env.Now()
	if now.Sub(sn.sentAt) < max(sn.resendWait, r.s.cfg.RetryEvery) || now.Before(p.transferUntil) {
		return
	}
	sn.resendWait = min(max(2*sn.resendWait, r.s.cfg.RetryEvery), maxResendAfter)
	r.sendChunk(env, p)
}

// installChunk is the receiving side: a chunk of a snapshot from our
// primary (secondary or learner).
func (r *replica) installChunk(env actors.Env, from actors.Addr, m *wire.SnapshotChunk) {
	ack := func(ok bool) {
		env.Send(from, &wire.SnapshotAck{Shard: r.shard, ConfigVersion: r.config.Version, Id: m.Id, Index: m.Index, Ok: ok})
	}
	in := r.installing
	switch {
	case m.Id == r.installed:
		// A resend of a snapshot we installed: our ack was lost, or went
		// out in an older config version. Ack again, as far as durable.
		r.ack(env) // to a resend of an installed snapshot
		return
	case r.isSecondaryIn(r.config):
		// Invariant: a replica counted for commit holds every committed
		// entry durably, and an install drops what it holds before the
		// snapshot is whole. A secondary never needs one (the primary
		// compacts only what every replica holds); if asked, it refuses
		// by silence, and the primary asks meta to remove it.
		env.Log().Warn("a secondary was sent a snapshot; ignoring it", "shard", r.shard, "from", from, "id", m.Id)
		return
	case m.Index == 0 && (in == nil || in.id != m.Id) && m.AppliedSeq <= r.commitSeq:
		// A snapshot no newer than what we hold committed (a late chunk
		// of one the primary gave up on, or a resend of one we installed
		// before a restart): installing it would drop our log for
		// nothing, as etcd raft refuses such a snapshot. Say where we are.
		r.ack(env)
		return
	case m.Index == 0 && (in == nil || in.id != m.Id) && m.AppliedSeq >= r.log.start && m.AppliedSeq <= r.matchedSeq &&
		r.log.versionAt(m.AppliedSeq) == m.AppliedVersion:
		// Our log already holds the snapshot's last entry as the primary
		// has it, and so everything before it: installing would drop the
		// entries after it, which we may have acked (seed 137: a learner
		// acked 844, a second snapshot at 843 took it back, and the
		// primary, counting the ack, committed 844 without it). Raft keeps
		// the log in this case too. Say where we are.
		r.ack(env)
		return
	case m.Index == 0 && (in == nil || in.id != m.Id):
		r.beginInstall(env, m.Id)
		in = r.installing
	case in == nil || in.id != m.Id:
		ack(false) // a chunk of a snapshot we did not begin: start over
		return
	case m.Index < in.next:
		if !m.Done {
			ack(true) // a duplicate; its ack was lost
		}
		return
	case m.Index > in.next:
		return // an earlier chunk was lost; the sender resends it
	}
	b := r.s.st.NewBatch()
	if err := b.ApplySnapshotChunk(r.shard, m.Data); err != nil {
		b.Close()
		env.Log().Warn("snapshot chunk refused; asking for the snapshot again", "shard", r.shard, "from", from, "index", m.Index, "err", err)
		r.abandonInstall()
		ack(false)
		return
	}
	in.next++
	if !m.Done {
		_, err := r.s.st.Write(b)
		r.s.must(err, "write a snapshot chunk")
		ack(true)
		return
	}
	r.finishInstall(env, b, m)
}

// abandonInstall drops a partial install: the chunks written so far and
// the install marker, leaving an empty shard that asks for a snapshot
// again (a marker left behind would drop the log the replica takes next
// at its next restart).
func (r *replica) abandonInstall() {
	b := r.s.st.NewBatch()
	r.s.st.BeginSnapshot(b, r.shard)
	b.FinishSnapshot(r.shard)
	b.TruncateLog(r.shard, 0)
	_, err := r.s.st.Write(b)
	r.s.must(err, "drop a partial snapshot install")
	r.installing = nil
	r.live = nil
	r.held = nil
}

// beginInstall drops our applied state and log: what we held is older than
// what the primary can send entries after.
func (r *replica) beginInstall(env actors.Env, id uint64) {
	env.Log().Info("installing a snapshot", "shard", r.shard, "from", r.config.Primary, "applied_before", r.appliedSeq)
	b := r.s.st.NewBatch()
	r.s.st.BeginSnapshot(b, r.shard)
	b.TruncateLog(r.shard, 0)
	_, err := r.s.st.Write(b)
	r.s.must(err, "begin a snapshot install")
	r.log.reset(0, 0)
	r.dedup = newDedup()
	r.flushed = 0
	r.gc = store.GCPoints{}
	r.appliedSeq, r.commitSeq, r.matchedSeq, r.primaryCommitSeq = 0, 0, 0, 0
	r.appliedTS = 0
	r.live = nil // the snapshot's, read when needed (no entry applies before it is whole)
	r.held = nil
	r.installing = &snapshotIn{id: id, version: r.config.Version}
}

// finishInstall writes the last chunk and the end of the install, and
// takes up the state the snapshot is at. The ack goes out once it is
// durable (persisted → ack), as a PrepareAck of the applied point.
func (r *replica) finishInstall(env actors.Env, b *store.Batch, m *wire.SnapshotChunk) {
	b.FinishSnapshot(r.shard)
	b.TruncateLog(r.shard, 0) // whatever a stray Prepare left
	r.log.reset(m.AppliedSeq, m.AppliedVersion)
	// Durable with the next Persisted, which moves the durable end of the
	// log to the snapshot's position and sends the ack (persisted).
	r.log.write(b, true)
	r.dedup = r.loadDedup()
	var err error
	r.flushed, err = r.s.st.Flushed(r.shard)
	r.s.must(err, "read the installed flush marker")
	r.loadTxns()
	r.loadHeld()
	r.appliedSeq, r.commitSeq, r.matchedSeq = m.AppliedSeq, m.AppliedSeq, m.AppliedSeq
	r.primaryCommitSeq = max(r.primaryCommitSeq, m.AppliedSeq)
	r.installing = nil
	r.installed = m.Id
	r.snapshotsInstalled++
	env.Log().Info("installed a snapshot", "shard", r.shard, "applied", m.AppliedSeq)
}

// loadDedup reads the exactly-once table stored in the applied state.
func (r *replica) loadDedup() *dedup {
	blob, err := r.s.st.Dedup(r.shard)
	r.s.must(err, "read the exactly-once table")
	t := &wire.DedupTable{}
	r.s.must(proto.Unmarshal(blob, t), "decode the exactly-once table")
	return dedupFrom(t)
}
