package data

import (
	"cmp"
	"math"
	"slices"
	"time"

	"castkv/actors"
	"castkv/actors/command"
	"castkv/actors/store"
	"castkv/actors/wire"
)

// primaryState is what a replica keeps while primary of its config version.
type primaryState struct {
	barrierSeq uint64
	peers      []*peer // secondaries then learners, in config order
	waiters    map[uint64][]actors.Addr
	// overlay is the sequenced state: each key's effect in the newest
	// uncommitted entry (rule sequenced-eval). flushSeq is the newest
	// uncommitted FLUSH (0 = none); keys not in the overlay are absent then.
	overlay  map[string]overlayValue
	flushSeq uint64
	flushTS  uint64 // commit_ts of the FLUSH at flushSeq
	// versions: what the committed state holds for recently used keys.
	versions *versionCache

	// Timestamps (timestamps.go). maxReadTS: the largest read timestamp
	// served; floorTS: the largest lease grant timestamp (rule ts-floor);
	// lastCommitTS: the commit_ts of the newest entry with writes
	// sequenced; lastFlushTS: of the newest FLUSH sequenced; deleteTS: the
	// newest commit_ts at which the committed state lost a key (a deletion
	// or a FLUSH applied), unknownTS until the first grant.
	maxReadTS, floorTS, lastCommitTS, lastFlushTS, deleteTS uint64
	// deferred: reads waiting for the entry at a seq to commit.
	deferred      map[uint64][]deferredRead
	deferredReads int
	// lockOverlay and txnOverlay: the sequenced state's changes to locks
	// and transaction records (txn.go), as overlay is to values.
	lockOverlay map[string]pendingLock
	txnOverlay  map[txnID]pendingTxn
	gcState     // the sequenced gc points (gc.go)
	expiryState // where reclaiming expired keys got to (expire.go)
}

// overlayValue is a key's newest uncommitted write: the entry's seq and
// commit_ts, and firstTS, the commit_ts of the oldest uncommitted write of
// the key (or of an older one that since committed).
type overlayValue struct {
	seq, ts, firstTS uint64
	value            []byte
	expireMs         int64
	deleted          bool
}

type peer struct {
	addr       actors.Addr
	learner    bool
	promoting  bool // counted for commit from the moment we ask meta
	next       uint64
	match      uint64
	sentCommit uint64
	// inlineThrough: entries up to here go with their values inline (the
	// peer lacked a staged copy).
	inlineThrough uint64
	lastProgress  time.Time
	lastAck       time.Time // the last PrepareAck or SnapshotAck of our version, ok or not
	lastAsked     time.Time // last RemoveReplica / PromoteLearner sent
	// lastResend and resendAfter pace resends without progress: the wait
	// doubles (up to maxResendAfter) so a large Prepare still in flight is
	// not sent again and again.
	lastResend  time.Time
	resendAfter time.Duration
	// transferUntil: a large Prepare sent to the peer may take this long to
	// arrive and be synced; nothing is resent before then. freshBytes are
	// the bytes of entries sent for the first time (beyond sentThrough)
	// since the peer last made progress: its silence counts as failure
	// only RemoveAfter plus their transfer time after that progress.
	// Neither resends nor new entries may move that deadline on, or a dead
	// peer never counts as failed (a killed secondary stalled its shard
	// for good when RemoveAfter exceeded maxResendAfter, and for as long
	// as writes kept coming).
	transferUntil time.Time
	freshBytes    int
	sentThrough   uint64
	// snap: a snapshot on its way to the peer (nil: none); no Prepare
	// goes to it meanwhile.
	snap *snapshotOut
	// probedAt: the log start at which the peer was asked whether its log
	// holds our first entry; probeRefused: it answered no, so it gets a
	// snapshot.
	probedAt     uint64
	probeRefused bool
}

const maxResendAfter = 2 * time.Second

// transferTime is how long n bytes take to cross at TransferBytesPerSecond.
func (r *replica) transferTime(n int) time.Duration {
	return time.Duration(float64(n) / float64(r.s.cfg.TransferBytesPerSecond) * float64(time.Second))
}

// becomePrimary starts serving the current config version: rule barrier.
func (r *replica) becomePrimary(env actors.Env) {
	now := env.Now()
	ps := &primaryState{waiters: map[uint64][]actors.Addr{}, overlay: map[string]overlayValue{},
		lockOverlay: map[string]pendingLock{}, txnOverlay: map[txnID]pendingTxn{},
		versions: newVersionCache(r.s.cfg.MaxVersionCacheBytes), deleteTS: unknownTS, gcState: gcState{gc: r.gc}}
	newPeer := func(a string, learner bool) *peer {
		p := &peer{addr: actors.Addr(a), learner: learner, next: r.log.last + 1, lastProgress: now, lastAck: now}
		if old := r.peer(p.addr); old != nil {
			// Still primary, same log: what a peer matched still holds
			// (log-matching), so a config change does not restart its
			// catch-up, nor its removal clock.
			p.match, p.next, p.lastProgress, p.lastAck = old.match, old.next, old.lastProgress, old.lastAck
			p.inlineThrough = old.inlineThrough
			p.snap, old.snap = old.snap, nil // same data, same snapshot
		}
		return p
	}
	for _, a := range r.config.Secondaries {
		ps.peers = append(ps.peers, newPeer(a, false))
	}
	for _, a := range r.config.Learners {
		ps.peers = append(ps.peers, newPeer(a, true))
	}
	if r.primary != nil {
		ps.waiters = r.primary.waiters   // same log, same pending ops
		ps.versions = r.primary.versions // same committed state
		// Same process, same log: the reads it served and the timestamps
		// it assigned still bound what it commits next.
		ps.maxReadTS, ps.floorTS, ps.lastCommitTS = r.primary.maxReadTS, r.primary.floorTS, r.primary.lastCommitTS
		ps.lastFlushTS, ps.deleteTS = r.primary.lastFlushTS, r.primary.deleteTS
		ps.deferred, ps.deferredReads = r.primary.deferred, r.primary.deferredReads
		ps.lastGC = r.primary.lastGC
		ps.expiryState = r.primary.expiryState
		for _, old := range r.primary.peers {
			r.stopSnapshot(old) // a peer no longer in the config
		}
	}
	r.primary = ps
	// Entries after the commit point may come from an earlier primary; they
	// are part of the sequenced state too.
	r.log.forEach(r.commitSeq+1, r.log.last, ps.sequence)
	barrier := &wire.Entry{Seq: r.log.last + 1, Version: r.config.Version, Kind: wire.Entry_BARRIER, CommitTs: ps.lastCommitTS,
		Split: r.splitToPerform()}
	ps.barrierSeq = barrier.Seq
	r.appendEntry(env, barrier)
	env.Log().Info("primary: appended barrier", "shard", r.shard, "version", r.config.Version, "seq", barrier.Seq, "split", barrier.Split != nil)
}

// stepDown hands pending ops back to their API servers, which retry with
// the same op ids at the new primary (exactly-once makes that safe).
func (r *replica) stepDown(env actors.Env) {
	for _, seq := range sortedKeys(r.primary.waiters) {
		for _, to := range r.primary.waiters[seq] {
			rec := r.entryOp(seq)
			r.s.reply(to, &wire.CommitReply{Shard: r.shard, Op: rec, Status: wire.Status_STALE_CONFIG, Config: r.config})
		}
	}
	for _, p := range r.primary.peers {
		r.stopSnapshot(p)
	}
	r.dropDeferred()
	r.primary = nil
	r.leaseUntil = time.Time{}
}

func (r *replica) entryOp(seq uint64) *wire.OpID {
	if e := r.log.entry(seq); e != nil {
		return e.Op
	}
	return nil
}

// ready: the barrier committed, so every entry of earlier primaries that
// could have been acknowledged is committed here too.
func (ps *primaryState) ready(r *replica) bool {
	return r.commitSeq >= ps.barrierSeq || r.s.cfg.Canary == CanaryNoBarrier
}

// sequence adds an entry's effects to the overlay.
func (ps *primaryState) sequence(e *wire.Entry) {
	switch e.Kind {
	case wire.Entry_FLUSH:
		clear(ps.overlay)
		ps.flushSeq, ps.flushTS = e.Seq, e.CommitTs
	case wire.Entry_WRITE, wire.Entry_TXN:
		if e.Kind == wire.Entry_TXN {
			ps.sequenceTxn(e)
		}
		for _, w := range e.Writes {
			if w.LockOnly {
				continue
			}
			first := e.CommitTs
			if old, ok := ps.overlay[string(w.Key)]; ok {
				first = old.firstTS
			}
			ps.overlay[string(w.Key)] = overlayValue{seq: e.Seq, ts: e.CommitTs, firstTS: first, value: w.Value, expireMs: w.ExpireMs, deleted: w.Delete}
		}
	}
}

// replaces is what a write of key replaces in the sequenced state: its
// version's timestamp (0: none, since a deletion leaves no version),
// whether it is live and its value's length. earlier holds this entry's own
// earlier writes, read what evaluating it read of the committed state.
func (r *replica) replaces(key []byte, earlier map[string]overlayValue, read map[string]committedVersion) store.Prev {
	ps := r.primary
	ov, ok := earlier[string(key)]
	if !ok {
		ov, ok = ps.overlay[string(key)]
	}
	switch {
	case ok && ov.deleted:
		return store.Prev{}
	case ok:
		return store.Prev{TS: ov.ts, Live: true, Bytes: uint64(len(ov.value)), ExpireMs: ov.expireMs}
	case ps.flushSeq != 0:
		return store.Prev{} // a pending FLUSH removes every version first
	}
	if v, ok := ps.versions.get(key); ok {
		r.versionCacheHits++
		return v.prev()
	}
	if v, ok := read[string(key)]; ok {
		return v.prev()
	}
	gv, err := r.s.st.GetVersionFlushed(r.shard, key, math.MaxUint64, r.flushed)
	r.s.must(err, "read the version a write replaces")
	v := versionOf(gv)
	ps.versions.put(key, v)
	return v.prev()
}

// sequencedState is what a new command is evaluated against. It remembers
// what it read of the committed state, so the writes' replaces need no
// second read of the same key.
type sequencedState struct {
	r    *replica
	read map[string]committedVersion
}

type committedVersion struct {
	ts       uint64
	found    bool
	bytes    uint64 // the value's length
	expireMs int64
}

func versionOf(v store.Version) committedVersion {
	return committedVersion{v.TS, v.Found, uint64(len(v.Value)), v.ExpireMs}
}

func (v committedVersion) prev() store.Prev {
	return store.Prev{TS: v.ts, Live: v.found, Bytes: v.bytes, ExpireMs: v.expireMs}
}

func (s sequencedState) Get(key []byte) (command.Value, error) {
	ps := s.r.primary
	if ov, ok := ps.overlay[string(key)]; ok {
		return command.Value{Bytes: ov.value, TS: ov.ts, ExpireMs: ov.expireMs, Found: !ov.deleted}, nil
	}
	if ps.flushSeq != 0 {
		return command.Value{}, nil
	}
	v, err := s.r.s.st.GetVersionFlushed(s.r.shard, key, math.MaxUint64, s.r.flushed)
	if err == nil && s.read != nil {
		s.read[string(key)] = versionOf(v)
		ps.versions.put(key, versionOf(v))
	}
	return command.Value{Bytes: v.Value, TS: v.TS, ExpireMs: v.ExpireMs, Found: v.Found}, err
}

// commit orders one write command.
func (r *replica) commit(env actors.Env, from actors.Addr, m *wire.Commit) {
	var locked *wire.Lock
	reply := func(st wire.Status, rep *wire.Reply) {
		out := &wire.CommitReply{Shard: r.shard, Op: m.Op, Status: st, Reply: rep, Lock: locked}
		if st != wire.Status_OK {
			out.Config = r.config
		}
		r.s.reply(from, out)
	}
	ps := r.primary
	switch {
	case m.Op == nil:
		reply(wire.Status_OK, command.Error("ERR commit without an op id"))
		return
	case ps == nil:
		reply(wire.Status_NOT_PRIMARY, nil)
		return
	case !ps.ready(r) || !r.leaseValid(env.Now()):
		reply(wire.Status_NOT_READY, nil)
		return
	}
	// Rule exactly-once.
	rec, found, expired := r.dedup.lookup(m.Op)
	if r.s.cfg.Canary == CanaryNoDedup || m.Abort && r.s.cfg.Canary == CanaryAbortWithoutLookup {
		found, expired = false, notExpired
	}
	switch {
	case found && rec.seq <= r.commitSeq:
		reply(wire.Status_OK, rec.result)
		return
	case found:
		if !slices.Contains(ps.waiters[rec.seq], from) {
			ps.waiters[rec.seq] = append(ps.waiters[rec.seq], from)
		}
		return
	case expired == expiredOp:
		reply(wire.Status_UNKNOWN_OUTCOME, nil)
		return
	case expired == expiredSession:
		reply(wire.Status_SESSION_EXPIRED, nil)
		return
	case r.log.last-r.commitSeq >= uint64(r.s.cfg.MaxUncommitted),
		r.log.unappliedBytes >= r.s.cfg.MaxUncommittedBytes:
		// Back-pressure: the API answers -TRYAGAIN. One entry of any size
		// is admitted when nothing waits, so a large value still goes.
		reply(wire.Status_BUSY, nil)
		return
	}
	if m.Abort {
		// Rule abort: the op was not sequenced here, so it never ran; an
		// entry recording that keeps any copy of it from running later.
		e := &wire.Entry{Seq: r.log.last + 1, Version: r.config.Version, Op: m.Op, Watermark: m.Watermark, Result: command.Aborted(),
			CommitTs: ps.lastCommitTS} // no writes: its timestamp orders nothing
		ps.waiters[e.Seq] = append(ps.waiters[e.Seq], from)
		r.appendEntry(env, e)
		return
	}
	cmd, bad := command.FromWire(m.Command)
	if bad == nil && !cmd.IsWrite() {
		bad = command.Error("ERR " + cmd.Name + " is not a write")
	}
	if bad != nil {
		reply(wire.Status_OK, bad)
		return
	}
	if !cmd.AllKeys() && r.outOfRange(cmd.Keys) {
		reply(wire.Status_STALE_CONFIG, nil) // rule split-fence
		return
	}
	staged, ok := r.unstage(m, cmd)
	if !ok {
		reply(wire.Status_NEED_VALUES, nil)
		return
	}
	e := &wire.Entry{Seq: r.log.last + 1, Version: r.config.Version, Op: m.Op, Watermark: m.Watermark}
	if cmd.Txn != nil {
		st, rep, l := r.evalTxn(cmd, e)
		switch {
		case st != wire.Status_OK:
			locked = l
			reply(st, nil)
			return
		case rep != nil:
			reply(wire.Status_OK, rep) // answered without an entry
			return
		}
		r.sequenceEntry(env, e, from, m)
		return
	}
	// Rule txn-lock: a write of a locked key, or a FLUSH while any is
	// locked, waits for the lock to be resolved.
	if cmd.Kind == command.FlushAll && r.anyLock() {
		reply(wire.Status_BUSY, nil)
		return
	}
	if locked = r.lockedIn(cmd.Keys); locked != nil {
		reply(wire.Status_LOCKED, nil)
		return
	}
	e.CommitTs = ps.commitTS(m.Ts, r.flushed, cmd.Kind == command.FlushAll, r.s.cfg.Canary) // rule commit-ts
	if cmd.Kind == command.FlushAll {
		e.Kind = wire.Entry_FLUSH
		e.Result = command.OK()
	} else {
		seq := sequencedState{r: r, read: map[string]committedVersion{}}
		var state command.Reader = seq
		if r.s.cfg.Canary == CanarySetnxOnCommitted {
			state = committedState{r}
		}
		result, writes, err := command.Eval(cmd, state, e.CommitTs)
		r.s.must(err, "evaluate "+cmd.Name)
		e.Result = result
		var earlier map[string]overlayValue // keys written twice in this entry
		for _, w := range writes {
			d := wire.Digest(w.Value)
			prev := r.replaces(w.Key, earlier, seq.read)
			e.Writes = append(e.Writes, &wire.Write{Key: w.Key, Value: w.Value, Delete: w.Delete, Digest: d, Staged: staged[d],
				PrevTs: prev.TS, WasLive: prev.Live, PrevBytes: prev.Bytes, ExpireMs: w.ExpireMs})
			if len(writes) > 1 {
				if earlier == nil {
					earlier = map[string]overlayValue{}
				}
				earlier[string(w.Key)] = overlayValue{seq: e.Seq, ts: e.CommitTs, value: w.Value, expireMs: w.ExpireMs, deleted: w.Delete}
			}
		}
	}
	r.sequenceEntry(env, e, from, m)
}

// sequenceEntry appends e, evaluated for m, to the log and the sequenced
// state; from hears when it commits.
func (r *replica) sequenceEntry(env actors.Env, e *wire.Entry, from actors.Addr, m *wire.Commit) {
	ps := r.primary
	ps.sequence(e)
	r.meter.served(writeBytes(e))
	ps.waiters[e.Seq] = append(ps.waiters[e.Seq], from)
	r.appendEntry(env, e)
	if m.Staged {
		r.s.staged.drop(m.Op) // the entry holds the values now
	}
}

// unstage puts staged values back into the command, checking digests; cmd
// aliases m's command, whose values were left empty.
func (r *replica) unstage(m *wire.Commit, cmd *command.Command) (staged map[uint64]bool, ok bool) {
	if !m.Staged {
		return nil, true
	}
	if len(m.ValuePositions) != len(m.ValueDigests) {
		return nil, false
	}
	values := slices.Clone(cmd.Values)
	staged = map[uint64]bool{}
	for i, pos := range m.ValuePositions {
		v, found := r.s.staged.find(m.Op, m.ValueDigests[i])
		if !found || int(pos) >= len(values) {
			return nil, false
		}
		values[pos] = v
		staged[m.ValueDigests[i]] = true
	}
	cmd.Values = values
	return staged, true
}

// sendPrepares sends every peer the entries it has not been sent.
func (r *replica) sendPrepares(env actors.Env) {
	for _, p := range r.primary.peers {
		r.sendPrepare(env, p, false)
	}
}

// sendPrepare sends p the next entries of our log, durable here or not:
// the primary persists in parallel with its secondaries, and rule
// commit-all counts its own durable point too. With force, an empty
// Prepare still carries the commit point and the log-matching check.
func (r *replica) sendPrepare(env actors.Env, p *peer, force bool) {
	if p.snap != nil {
		return // the snapshot comes first
	}
	if p.next > r.log.last+1 {
		p.next = r.log.last + 1
	}
	if p.next <= r.log.start {
		// We no longer hold what it asked for. Its log may still hold our
		// log start (a nack reports only its commit point, and a restart
		// loses its commit point): ask once from there before a snapshot,
		// which a replica counted for commit must never need.
		if p.probedAt != r.log.start {
			p.probedAt, p.probeRefused = r.log.start, false
		}
		// Only a learner not yet counted for commit may get a snapshot: an
		// install drops what the peer holds before the snapshot is whole.
		// A counted peer whose log lacks our log start (a wiped disk)
		// makes no progress and is removed, then rejoins as a learner.
		if p.probeRefused && p.learner && !p.promoting {
			r.startSnapshot(env, p)
			return
		}
		p.next = r.log.start + 1 // (again, if the probe or its answer was lost)
	}
	var entries []*wire.Entry
	for _, e := range r.log.entries(p.next, r.log.last, r.s.cfg.MaxPrepareBytes) {
		if e.Seq > p.inlineThrough {
			e = stripStaged(e)
		}
		entries = append(entries, e)
	}
	if len(entries) == 0 && !force {
		return
	}
	prev := p.next - 1
	if len(entries) > 0 {
		// Give a large batch time to cross the network and the peer's disk
		// before it is resent, and before its silence counts against it
		// (rule commit-all's removal timeout is about failed peers, not
		// big values): the latter for entries sent for the first time only.
		now := env.Now()
		p.transferUntil = later(p.transferUntil, now.Add(r.transferTime(entryBytes(entries))))
		first, _ := slices.BinarySearchFunc(entries, p.sentThrough+1, func(e *wire.Entry, seq uint64) int { return cmp.Compare(e.Seq, seq) })
		p.freshBytes += entryBytes(entries[first:])
		p.sentThrough = max(p.sentThrough, entries[len(entries)-1].Seq)
	}
	env.Send(p.addr, &wire.Prepare{
		Config: r.config, PrevSeq: prev, PrevVersion: r.log.versionAt(prev),
		CommitSeq: r.commitSeq, Entries: entries, CompactSeq: r.compactHint(),
	})
	p.sentCommit = r.commitSeq
	if len(entries) > 0 {
		p.next = entries[len(entries)-1].Seq + 1
	}
}

func entryBytes(es []*wire.Entry) int {
	n := 0
	for _, e := range es {
		for _, w := range e.Writes {
			n += len(w.Key) + len(w.Value)
		}
	}
	return n
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// stripStaged returns e without the values the peer already holds staged,
// marked omitted (an empty value is a value, not a missing one). e is the
// log's own copy, which may still be on its way out in an earlier
// message: it is never changed. (A field added to Entry or Write is added
// here; TestStripStagedKeepsEveryField checks.)
func stripStaged(e *wire.Entry) *wire.Entry {
	if !slices.ContainsFunc(e.Writes, func(w *wire.Write) bool { return w.Staged }) {
		return e
	}
	out := &wire.Entry{Seq: e.Seq, Version: e.Version, Kind: e.Kind, Op: e.Op, Result: e.Result,
		Watermark: e.Watermark, CommitTs: e.CommitTs, Writes: make([]*wire.Write, len(e.Writes)), Txns: e.Txns, Split: e.Split, Gc: e.Gc}
	for i, w := range e.Writes {
		if w.Staged {
			w = &wire.Write{Key: w.Key, Delete: w.Delete, Digest: w.Digest, Staged: true, ValueOmitted: true,
				PrevTs: w.PrevTs, WasLive: w.WasLive, PrevBytes: w.PrevBytes, LockOnly: w.LockOnly, Lock: w.Lock, Unlock: w.Unlock, Removed: w.Removed,
				ExpireMs: w.ExpireMs}
		}
		out.Writes[i] = w
	}
	return out
}

func (r *replica) peer(a actors.Addr) *peer {
	if r.primary == nil {
		return nil
	}
	for _, p := range r.primary.peers {
		if p.addr == a {
			return p
		}
	}
	return nil
}

func (r *replica) prepareAck(env actors.Env, from actors.Addr, a *wire.PrepareAck) {
	if a.Config != nil && a.Config.Version > r.config.Version {
		r.s.acceptConfig(env, a.Config)
		return
	}
	p := r.peer(from)
	if p == nil || a.ConfigVersion != r.config.Version {
		return
	}
	p.lastAck = env.Now()
	if p.snap != nil {
		if !a.Ok || a.MatchSeq < p.snap.seq {
			return // about the log it had before the snapshot
		}
		r.stopSnapshot(p) // installed and durable: the log follows
	}
	if a.NoState {
		// A replica of this split-born shard that holds none of it: only
		// a snapshot brings it, and only a learner may take one (a counted
		// one that makes no progress is removed, and returns as a learner).
		if p.learner && !p.promoting && p.snap == nil && r.appliedSeq > 0 {
			r.startSnapshot(env, p)
		}
		return
	}
	if !a.Ok && a.NeedValuesSeq == 0 && a.PrevSeq == r.log.start && p.probedAt == r.log.start {
		p.probeRefused = true // its log does not hold our log start
	}
	if !a.Ok {
		// Log mismatch or missing staged values: resend from where the
		// peer's log is known to match. A peer that lacks one staged value
		// is catching up and lacks the rest too: inline everything we have.
		p.next = a.MatchSeq + 1
		if a.NeedValuesSeq != 0 {
			p.inlineThrough = max(p.inlineThrough, r.log.last)
		}
		r.sendPrepare(env, p, true)
		return
	}
	if a.MatchSeq > p.match {
		p.match = a.MatchSeq
		p.lastProgress, p.freshBytes = env.Now(), 0
		p.resendAfter = 0
		if p.next <= p.match {
			p.next = p.match + 1
		}
		r.tryCommit(env)
		// A catching-up peer gets its next batch as soon as one lands.
		r.sendPrepare(env, p, false)
	}
}

// tryCommit applies rule commit-all: the commit point is the smallest
// prefix every counted replica (and we) have durably.
func (r *replica) tryCommit(env actors.Env) {
	ps := r.primary
	if ps == nil {
		return
	}
	to := r.log.synced
	if r.s.cfg.Canary == CanaryCommitOnMajority {
		acked := []uint64{r.log.synced}
		for _, p := range ps.peers {
			if !p.learner {
				acked = append(acked, p.match)
			}
		}
		slices.Sort(acked)
		to = acked[(len(acked)-1)/2]
	} else {
		for _, p := range ps.peers {
			if !p.learner || p.promoting {
				to = min(to, p.match)
			}
		}
	}
	r.advanceCommit(env, to)
}

// committed answers the ops of entries (from, to] and prunes the overlay.
func (ps *primaryState) committed(env actors.Env, r *replica, from, to uint64) {
	for seq := from + 1; seq <= to; seq++ {
		waiters, ok := ps.waiters[seq]
		if !ok {
			continue
		}
		delete(ps.waiters, seq)
		e := r.log.entry(seq) // in memory: applied entries leave it after this
		for _, w := range waiters {
			r.s.reply(w, &wire.CommitReply{Shard: r.shard, Op: e.Op, Status: wire.Status_OK, Reply: e.Result})
		}
	}
	// order-independent: deletes every committed key
	for k, ov := range ps.overlay {
		if ov.seq <= to {
			delete(ps.overlay, k)
		}
	}
	if ps.flushSeq <= to {
		ps.flushSeq = 0
	}
	ps.pruneTxn(to)
}

// retry resends lagging Prepares (the network may have lost them),
// piggybacks the commit point, and asks meta to remove a replica that made
// no progress for RemoveAfter or to promote a caught-up learner.
func (r *replica) retry(env actors.Env) {
	ps := r.primary
	if ps == nil {
		return
	}
	now := env.Now()
	for _, p := range ps.peers {
		switch {
		case p.snap != nil:
			r.retrySnapshot(env, p)
		case p.match >= r.log.last:
			// Caught up: progress is hearing from it. An idle shard probes
			// each peer every RemoveAfter/4 (a Prepare carrying the commit
			// point, which it acks), so a secondary that died while
			// nothing was written is found and removed too.
			p.lastProgress, p.freshBytes = p.lastAck, 0
			probe := now.Sub(p.lastAck) >= r.s.cfg.RemoveAfter/4 && now.Sub(p.lastResend) >= r.s.cfg.RemoveAfter/4
			if p.sentCommit < r.commitSeq || probe {
				r.sendPrepare(env, p, true)
				p.lastResend = now
			}
		case now.Sub(p.lastProgress) >= r.s.cfg.RetryEvery && now.Sub(p.lastResend) >= p.resendAfter && !now.Before(p.transferUntil):
			// No ack moved us on: the Prepare or its ack was lost, or it is
			// large and still on its way. Resend from what the peer has,
			// waiting twice as long before the next resend.
			p.next = p.match + 1
			r.sendPrepare(env, p, true)
			p.lastResend = now
			p.resendAfter = min(max(2*p.resendAfter, r.s.cfg.RetryEvery), maxResendAfter)
		}
		counted := !p.learner || p.promoting
		if counted && now.Sub(p.lastProgress) > r.s.cfg.RemoveAfter+r.transferTime(p.freshBytes) && now.Sub(p.lastAsked) > r.s.cfg.RemoveAfter {
			p.lastAsked = now
			env.Log().Warn("primary: replica makes no progress; asking meta to remove it", "shard", r.shard, "replica", p.addr, "match", p.match, "last", r.log.last)
			env.Send(r.s.meta.Leader(), &wire.RemoveReplica{Shard: r.shard, ConfigVersion: r.config.Version, Replica: string(p.addr)})
		}
		caughtUp := p.snap == nil && p.match >= r.commitSeq || r.s.cfg.Canary == CanaryLearnerCounts
		if p.learner && caughtUp && ps.ready(r) && now.Sub(p.lastAsked) > r.s.cfg.RemoveAfter {
			// The learner holds everything committed: count it from now
			// on, so nothing commits without it before meta makes it a
			// secondary. Waiting for it to match the end of the log would
			// never happen under a steady write stream; entries in flight
			// now simply wait for its ack too. Not while a snapshot is on
			// its way to it: installing one drops what it holds durably,
			// match included, until the install is durable (seed 1506: a
			// stale nack sent a learner at match 133 a snapshot, and it
			// was promoted while it held nothing synced).
			p.promoting = true
			p.lastAsked = now
			env.Log().Debug("primary: learner caught up; asking meta to promote it", "shard", r.shard, "learner", p.addr, "match", p.match, "commit_seq", r.commitSeq, "version", r.config.Version)
			env.Send(r.s.meta.Leader(), &wire.PromoteLearner{Shard: r.shard, ConfigVersion: r.config.Version, Learner: string(p.addr)})
		}
	}
}

func sortedKeys[V any](m map[uint64]V) []uint64 {
	keys := make([]uint64, 0, len(m))
	// order-independent: sorted below
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
