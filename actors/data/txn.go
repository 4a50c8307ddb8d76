package data

import (
	"bytes"
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

	"castkv/actors/command"
	"castkv/actors/store"
	"castkv/actors/wire"
)

// Transactions across shards (Percolator, as TiKV runs it; the API server
// coordinates, api/txn.go). Each step is a command of its own kind that the
// primary sequences like any write, so it is replicated, persisted and
// exactly-once, and evaluated against the sequenced state:
//
//   - TxnPrewrite puts a lock on each of its keys, holding the key's new
//     value (or its deletion), the transaction's start timestamp s and its
//     primary key. It is refused LOCKED when a key holds another
//     transaction's lock, and WRITE_CONFLICT when a key has a version, a
//     deletion or a FLUSH above s (rule txn-conflict), or when the primary
//     key already has a record of the transaction (rule txn-rollback: a
//     late prewrite of a rolled back transaction must not lock again).
//
//   - TxnCommit at commit timestamp C turns each of its keys' locks of s
//     into a version at C (or removes them, with rollback). At the primary
//     key it also writes the transaction's record: committing the primary
//     key is the transaction's atomic point. A primary key that holds
//     neither the lock nor a record was rolled back by a checker; the
//     commit then writes the rollback record and answers ROLLEDBACK.
//
//   - TxnCheck reports the fate of transaction s from its primary key: the
//     record if there is one; ALIVE while its lock has not expired; an
//     expired lock (or, when asked, a missing one) is rolled back with a
//     record (protected rollback), so nothing can commit it later.
//
//   - TxnForget drops a record once the coordinator resolved every lock of
//     the transaction.
//
// Rule txn-lock: a read at t of a key whose committed lock started at or
// below t is refused LOCKED (the API resolves the lock and reads again); a
// lock whose removal is sequenced makes the read wait for that entry. A 1PC
// write of a locked key, or a FLUSH while any key is locked, is refused
// likewise. A lock started above t is ignored: the transaction commits
// above t.
//
// Why C needs no max-read-timestamp bump: C is fetched after every
// prewrite committed. A read at t of a key served before its prewrite
// committed had t issued before then, so t < C; one served after it, with
// t ≥ s, met the lock.

// maxLocks bounds the locks a shard holds or has sequenced, and
// maxLockBytes the values its committed locks hold in memory; a prewrite
// beyond either is refused BUSY (locks a dead coordinator left stay until a
// reader or writer of their keys resolves them).
const (
	maxLocks     = 100000
	maxLockBytes = 256 << 20
)

// txnID names a transaction: its primary key and start timestamp.
type txnID struct {
	primary string
	start   uint64
}

// pendingLock is a key's lock as its newest uncommitted entry leaves it
// (nil: none).
type pendingLock struct {
	seq  uint64
	lock *wire.Lock
}

// pendingTxn is a transaction record as its newest uncommitted entry leaves
// it (nil: forgotten).
type pendingTxn struct {
	seq uint64
	rec *wire.TxnRecord
}

// loadTxns reads the locks, transaction records and gc points of the
// applied state.
func (r *replica) loadTxns() {
	r.locks, r.txns, r.lockBytes = map[string]*wire.Lock{}, map[txnID]*wire.TxnRecord{}, 0
	r.s.must(r.s.st.Locks(r.shard, func(key, blob []byte) error {
		l := &wire.Lock{}
		if err := proto.Unmarshal(blob, l); err != nil {
			return err
		}
		r.locks[string(key)] = l
		r.lockBytes += len(l.Value)
		return nil
	}), "load locks")
	r.s.must(r.s.st.Txns(r.shard, func(primary []byte, start uint64, blob []byte) error {
		t := &wire.TxnRecord{}
		if err := proto.Unmarshal(blob, t); err != nil {
			return err
		}
		r.txns[txnID{string(primary), start}] = t
		return nil
	}), "load transaction records")
	var err error
	r.gc, err = r.s.st.GC(r.shard)
	r.s.must(err, "load the gc points")
}

// seqLock is key's lock in the sequenced state.
func (r *replica) seqLock(key []byte) *wire.Lock {
	if p, ok := r.primary.lockOverlay[string(key)]; ok {
		return p.lock
	}
	return r.locks[string(key)]
}

// seqTxn is the record of transaction id in the sequenced state.
func (r *replica) seqTxn(id txnID) *wire.TxnRecord {
	if p, ok := r.primary.txnOverlay[id]; ok {
		return p.rec
	}
	return r.txns[id]
}

// lockedIn returns the first of keys locked in the sequenced state.
func (r *replica) lockedIn(keys [][]byte) *wire.Lock {
	for _, k := range keys {
		if l := r.seqLock(k); l != nil && !(l.Keep && r.s.cfg.Canary == CanaryKeepLockWritable) {
			return lockInfo(l, k)
		}
	}
	return nil
}

// anyLock reports whether any key is locked in the sequenced state.
func (r *replica) anyLock() bool {
	if len(r.locks) > 0 {
		return true
	}
	// order-independent: any
	for _, p := range r.primary.lockOverlay {
		if p.lock != nil {
			return true
		}
	}
	return false
}

// lockInfo is l as a LOCKED reply names it: without its value.
func lockInfo(l *wire.Lock, key []byte) *wire.Lock {
	return &wire.Lock{Primary: l.Primary, StartTs: l.StartTs, ExpiresTs: l.ExpiresTs, Keep: l.Keep, Key: key}
}

// sequenceTxn adds a TXN entry's effects on locks and records to the
// overlays (its value writes go to the value overlay like any write's).
func (ps *primaryState) sequenceTxn(e *wire.Entry) {
	for _, w := range e.Writes {
		switch {
		case w.LockOnly:
			ps.lockOverlay[string(w.Key)] = pendingLock{e.Seq, w.Lock}
		case w.Unlock:
			ps.lockOverlay[string(w.Key)] = pendingLock{e.Seq, nil}
		}
	}
	for _, t := range e.Txns {
		rec := t
		if t.Forget {
			rec = nil
		}
		ps.txnOverlay[txnID{string(t.Primary), t.StartTs}] = pendingTxn{e.Seq, rec}
	}
	if g := e.Gc; g != nil {
		ps.gc = ps.gc.Raise(g.SafePoint, g.GcBelow)
	}
}

// pruneTxn drops the overlay entries of entries through seq, committed.
func (ps *primaryState) pruneTxn(to uint64) {
	// order-independent: deletes every committed one
	for k, p := range ps.lockOverlay {
		if p.seq <= to {
			delete(ps.lockOverlay, k)
		}
	}
	// order-independent: deletes every committed one
	for k, p := range ps.txnOverlay {
		if p.seq <= to {
			delete(ps.txnOverlay, k)
		}
	}
}

// conflicts reports rule txn-conflict for key and start timestamp s: the
// sequenced state holds a version or a deletion of key above s, or a FLUSH
// above s hid it. A transaction that started at s cannot commit below
// what it would overwrite.
func (r *replica) conflicts(key []byte, s uint64) bool {
	ps := r.primary
	if r.flushed >= s || ps.lastFlushTS >= s {
		return true
	}
	if ov, ok := ps.overlay[string(key)]; ok {
		return ov.ts > s
	}
	if prev := r.replaces(key, nil, nil); prev.Live || prev.TS != 0 {
		return prev.TS > s
	}
	return ps.deleteTS > s // unknownTS until the first grant: a conflict
}

// evalTxn evaluates a Txn command into entry e (rule sequenced-eval). A
// status other than OK refuses it: nothing is sequenced, and lock names the
// lock met (LOCKED). A reply with OK answers without an entry: only when
// the answer promises nothing (a record to forget that is not there).
func (r *replica) evalTxn(cmd *command.Command, e *wire.Entry) (st wire.Status, reply *wire.Reply, lock *wire.Lock) {
	ps := r.primary
	t := cmd.Txn
	e.Kind = wire.Entry_TXN
	e.CommitTs = ps.lastCommitTS // no value writes: its timestamp orders nothing
	switch cmd.Kind {
	case command.TxnPrewrite:
		if t.StartTs < ps.gc.SafePoint {
			return wire.Status_WRITE_CONFLICT, nil, nil // rule gc-safe-point: it starts again above
		}
		if len(r.locks)+len(ps.lockOverlay)+len(cmd.Keys) > maxLocks || r.lockBytes >= maxLockBytes {
			return wire.Status_BUSY, nil, nil
		}
		if len(cmd.Sub) > 0 || cmd.Watch != nil {
			return r.prewriteBlock(cmd, e)
		}
		var live int64
		mine := map[string]*wire.Write{}
		for i, k := range cmd.Keys {
			if w, ok := mine[string(k)]; ok { // the key again: the last write wins
				if !t.Delete {
					w.Lock.Value = cmd.Values[i]
				}
				continue
			}
			if l := r.seqLock(k); l != nil {
				if l.StartTs == t.StartTs && bytes.Equal(l.Primary, t.Primary) {
					if r.liveAt(k, t.StartTs) {
						live++ // counted as the first copy counted it
					}
					continue // prewritten already (a retry of a refused copy)
				}
				return wire.Status_LOCKED, nil, lockInfo(l, k)
			}
			if r.conflicts(k, t.StartTs) {
				return wire.Status_WRITE_CONFLICT, nil, nil
			}
			primary := bytes.Equal(k, t.Primary)
			if primary && r.seqTxn(txnID{string(k), t.StartTs}) != nil {
				return wire.Status_WRITE_CONFLICT, nil, nil // rule txn-rollback
			}
			l := &wire.Lock{Primary: t.Primary, StartTs: t.StartTs, ExpiresTs: t.ExpiresTs, Delete: t.Delete}
			if !t.Delete {
				l.Value = cmd.Values[i]
			}
			if primary {
				l.Secondaries = t.Secondaries
			}
			if r.liveAt(k, t.StartTs) {
				live++
			}
			w := &wire.Write{Key: k, LockOnly: true, Lock: l}
			mine[string(k)] = w
			e.Writes = append(e.Writes, w)
		}
		e.Result = command.OK()
		if t.Delete || t.CountLive {
			e.Result = command.Int(live)
		}
		return wire.Status_OK, nil, nil

	case command.TxnCommit:
		// The primary key decides first: a command that holds it commits
		// only while its lock is in place (or the record says committed),
		// and otherwise rolls back every key it names. Committing the
		// other keys of a rolled back transaction would publish part of it.
		rollback, commitTS := t.Rollback, t.CommitTs
		if slices.ContainsFunc(cmd.Keys, func(k []byte) bool { return bytes.Equal(k, t.Primary) }) {
			pl := r.seqLock(t.Primary)
			if pl == nil || pl.StartTs != t.StartTs || !bytes.Equal(pl.Primary, t.Primary) {
				switch rec := r.seqTxn(txnID{string(t.Primary), t.StartTs}); {
				case rec != nil && rec.CommitTs != 0:
					e.Result = command.FateReply(command.FateCommitted, rec.CommitTs)
					rollback, commitTS = false, rec.CommitTs
				case rec != nil:
					e.Result = command.FateReply(command.FateRolledBack, 0)
					rollback = true
				case t.StartTs < ps.gc.Below && !t.Rollback:
					// Rule gc-safe-point: a record below the gc point may
					// have been collected; whether it committed is unknown.
					// (A coordinator rolling back its own prewrites knows
					// it did not commit: that goes on to a rollback.)
					return wire.Status_OK, command.Error(fmt.Sprintf(
						"UNCERTAIN the transaction started at %d, below the shard's garbage-collection point %d, and its record is gone", t.StartTs, ps.gc.Below)), nil
				default:
					// A checker rolled it back (its lock gone, no record:
					// it never got one) or the prewrite never came: record
					// the rollback so that a late prewrite cannot lock it
					// again.
					r.recordRollback(e, t, nil)
					rollback = true
				}
			}
		}
		var earlier map[string]overlayValue
		done := map[string]bool{}
		for _, k := range cmd.Keys {
			l := r.seqLock(k)
			if l == nil || l.StartTs != t.StartTs || !bytes.Equal(l.Primary, t.Primary) || done[string(k)] {
				continue // resolved already, or named twice (castbench's MSET of random keys)
			}
			done[string(k)] = true
			if rollback || l.Keep {
				// A keep lock (a key a block only read) commits as it
				// rolls back: the lock goes, the value stays.
				e.Writes = append(e.Writes, &wire.Write{Key: k, LockOnly: true, Removed: lockInfo(l, nil)})
			} else {
				prev := r.replaces(k, earlier, nil)
				e.Writes = append(e.Writes, &wire.Write{Key: k, Value: l.Value, Delete: l.Delete, ExpireMs: l.ExpireMs, Unlock: true,
					PrevTs: prev.TS, WasLive: prev.Live, PrevBytes: prev.Bytes, Removed: lockInfo(l, nil)})
				if earlier == nil {
					earlier = map[string]overlayValue{}
				}
				earlier[string(k)] = overlayValue{seq: e.Seq, ts: commitTS, value: l.Value, expireMs: l.ExpireMs, deleted: l.Delete}
			}
			if bytes.Equal(k, t.Primary) {
				rec := &wire.TxnRecord{Primary: t.Primary, StartTs: t.StartTs, Secondaries: l.Secondaries}
				if !rollback {
					rec.CommitTs = commitTS
				} else if r.s.cfg.Canary == CanaryUnprotectedRollback {
					continue
				}
				e.Txns = append(e.Txns, rec)
			}
		}
		if e.Result == nil {
			e.Result = command.OK()
			if !rollback {
				e.Result = command.FateReply(command.FateCommitted, commitTS)
			}
		}
		if !rollback && len(e.Writes) > 0 {
			e.CommitTs = commitTS
			ps.lastCommitTS = max(ps.lastCommitTS, commitTS) // 1PC writes after it commit above it
		}
		return wire.Status_OK, nil, nil

	case command.TxnCheck:
		// Every answer goes out with an entry of its own, once that entry
		// commits: a fate read from the sequenced state may rest on an
		// entry a failover truncates (castsim seeds 367, 555, 1830, 1880: a
		// reader rolled a secondary forward on a primary commit that was
		// then lost, and the primary key was later rolled back).
		id := txnID{string(t.Primary), t.StartTs}
		if l := r.seqLock(t.Primary); l != nil && l.StartTs == t.StartTs && bytes.Equal(l.Primary, t.Primary) {
			if t.CallerTs <= l.ExpiresTs {
				e.Result = command.FateReply(command.FateAlive, 0)
				return wire.Status_OK, nil, nil
			}
			e.Writes = append(e.Writes, &wire.Write{Key: t.Primary, LockOnly: true, Removed: lockInfo(l, nil)})
			r.recordRollback(e, t, l.Secondaries)
			return wire.Status_OK, nil, nil
		}
		switch rec := r.seqTxn(id); {
		case rec != nil && rec.CommitTs != 0:
			e.Result = command.FateReply(command.FateCommitted, rec.CommitTs) // sent once this entry commits
		case rec != nil:
			e.Result = command.FateReply(command.FateRolledBack, 0)
		case t.StartTs < ps.gc.Below:
			// Rule gc-safe-point: no lock of it is left anywhere, so the
			// lock the checker met is gone; it reads again. (Its record
			// may have said committed: no "rolled back" answer.)
			return wire.Status_OK, command.Error(fmt.Sprintf(
				"TRYAGAIN the transaction started at %d, below the shard's garbage-collection point %d: its locks are resolved", t.StartTs, ps.gc.Below)), nil
		case !t.RollbackIfAbsent:
			e.Result = command.FateReply(command.FateAlive, 0)
		default:
			r.recordRollback(e, t, nil)
		}
		return wire.Status_OK, nil, nil

	case command.TxnForget:
		if r.seqTxn(txnID{string(t.Primary), t.StartTs}) == nil {
			return wire.Status_OK, command.OK(), nil
		}
		e.Txns = append(e.Txns, &wire.TxnRecord{Primary: t.Primary, StartTs: t.StartTs, Forget: true})
		e.Result = command.OK()
		return wire.Status_OK, nil, nil
	}
	return wire.Status_OK, command.Error("ERR " + cmd.Name + " is not a transaction step"), nil
}

// prewriteBlock is the prewrite of a MULTI block's part on this shard
// (actors/api/txn.go): it evaluates the part's commands in order at the
// transaction's start timestamp, as one step, and locks every key they
// name: with what the block leaves in it, or a keep lock for a key it only
// read. The checks are a prewrite's (rule txn-lock): a key locked by
// another transaction, or written above the start timestamp, refuses it,
// so the state read is the newest, and the locks keep it so until the
// commit timestamp, where the block takes effect.
//
// With what WATCH saw of the shard's watched keys, it first checks that
// each still has that version (command.Eval's Multi), and answers
// [0, nil], locking nothing, if one changed. The watched keys are locked
// with the block's (keep locks), so none changes before the commit.
//
// The result is [soonest, replies]: the replies of the part's commands,
// and the earliest expiry (unix ms of TSO time; 0: none) of a key live at
// the start timestamp. The coordinator starts again if that falls before
// the commit timestamp: a key the block saw live would be gone where the
// block takes effect.
func (r *replica) prewriteBlock(cmd *command.Command, e *wire.Entry) (wire.Status, *wire.Reply, *wire.Lock) {
	t := cmd.Txn
	var keys [][]byte // each once, in order
	for _, k := range cmd.Keys {
		if !slices.ContainsFunc(keys, func(x []byte) bool { return bytes.Equal(x, k) }) {
			keys = append(keys, k)
		}
	}
	again := false // a copy of this prewrite was sequenced already
	for _, k := range keys {
		if l := r.seqLock(k); l != nil {
			if l.StartTs == t.StartTs && bytes.Equal(l.Primary, t.Primary) {
				again = true
				continue
			}
			return wire.Status_LOCKED, nil, lockInfo(l, k)
		}
		if r.conflicts(k, t.StartTs) {
			return wire.Status_WRITE_CONFLICT, nil, nil
		}
		if bytes.Equal(k, t.Primary) && r.seqTxn(txnID{string(k), t.StartTs}) != nil {
			return wire.Status_WRITE_CONFLICT, nil, nil // rule txn-rollback
		}
	}
	state := sequencedState{r: r}
	block := &command.Command{Kind: command.Multi, Name: "exec", Sub: cmd.Sub, Keys: cmd.Keys, Watch: cmd.Watch}
	rep, writes, err := command.Eval(block, state, t.StartTs)
	r.s.must(err, "evaluate a block's prewrite")
	switch rep.GetKind() {
	case wire.Reply_ERROR:
		return wire.Status_OK, rep, nil // refused whole (too many bytes): nothing locked
	case wire.Reply_NIL:
		// A watched key changed since WATCH read it: nothing is locked,
		// and the coordinator rolls the other parts back.
		e.Result = command.Array(command.Int(0), rep)
		return wire.Status_OK, nil, nil
	}
	var soonest int64
	for _, k := range keys {
		v, err := state.Get(k)
		r.s.must(err, "read a block's key")
		if v.Found && v.ExpireMs != 0 && !wire.Expired(v.ExpireMs, t.StartTs) && (soonest == 0 || v.ExpireMs < soonest) {
			soonest = v.ExpireMs
		}
	}
	e.Result = command.Array(command.Int(soonest), rep)
	if again {
		// Its locks are in place: the state they guard is the one it was
		// evaluated on, so the replies are the first copy's.
		return wire.Status_OK, nil, nil
	}
	for _, k := range keys {
		l := &wire.Lock{Primary: t.Primary, StartTs: t.StartTs, ExpiresTs: t.ExpiresTs, Keep: true}
		if i := slices.IndexFunc(writes, func(w command.Write) bool { return bytes.Equal(w.Key, k) }); i >= 0 {
			l.Keep, l.Value, l.Delete, l.ExpireMs = false, writes[i].Value, writes[i].Delete, writes[i].ExpireMs
		}
		if bytes.Equal(k, t.Primary) {
			l.Secondaries = t.Secondaries
		}
		e.Writes = append(e.Writes, &wire.Write{Key: k, LockOnly: true, Lock: l})
	}
	return wire.Status_OK, nil, nil
}

// recordRollback makes e roll transaction t back at its primary key: the
// record keeps any later prewrite of it out (rule txn-rollback).
func (r *replica) recordRollback(e *wire.Entry, t *wire.Txn, secondaries [][]byte) {
	e.Result = command.FateReply(command.FateRolledBack, 0)
	if r.s.cfg.Canary == CanaryUnprotectedRollback {
		return
	}
	e.Txns = append(e.Txns, &wire.TxnRecord{Primary: t.Primary, StartTs: t.StartTs, Secondaries: secondaries})
}

// readLocks applies rule txn-lock to a read at ts of keys: the lock it must
// be refused for, or the seq of a sequenced entry removing a lock it met,
// which it waits for.
func (r *replica) readLocks(keys [][]byte, ts uint64) (locked *wire.Lock, wait uint64) {
	if r.s.cfg.Canary == CanaryReadThroughLock {
		return nil, 0
	}
	for _, k := range keys {
		l := r.locks[string(k)]
		if l == nil || l.StartTs > ts || ReadPasses(l, ts) {
			continue
		}
		if p, ok := r.primary.lockOverlay[string(k)]; ok && (p.lock == nil || p.lock.StartTs > ts) {
			wait = max(wait, p.seq) // being resolved: wait for it
			continue
		}
		return lockInfo(l, k), 0
	}
	return nil, wait
}

// ReadPasses reports whether a read at ts may pass lock l: a keep lock (a
// key a MULTI block across shards only read) changes no value. One past its
// TTL does not pass: it is resolved like any, since its coordinator may be
// gone and the lock would hold the gc point back.
func ReadPasses(l *wire.Lock, ts uint64) bool { return l.Keep && ts <= l.ExpiresTs }

// applyTxn applies a committed TXN entry's lock and record changes, to the
// store batch and the in-memory tables (its value writes are applied like
// any write's).
func (r *replica) applyTxn(b interface {
	PutLock(uint32, []byte, []byte)
	DeleteLock(uint32, []byte)
	PutTxn(uint32, []byte, uint64, []byte)
	DeleteTxn(uint32, []byte, uint64)
	SetGC(uint32, store.GCPoints)
}, e *wire.Entry) {
	if e.Gc != nil {
		r.applyGC(b, e)
	}
	for _, w := range e.Writes {
		switch {
		case w.LockOnly && w.Lock != nil:
			blob, err := proto.MarshalOptions{Deterministic: true}.Marshal(w.Lock)
			r.s.must(err, "encode a lock")
			b.PutLock(r.shard, w.Key, blob)
			if old := r.locks[string(w.Key)]; old != nil {
				r.lockBytes -= len(old.Value)
			}
			r.locks[string(w.Key)] = w.Lock
			r.lockBytes += len(w.Lock.Value)
		case w.LockOnly || w.Unlock:
			b.DeleteLock(r.shard, w.Key)
			if old := r.locks[string(w.Key)]; old != nil {
				r.lockBytes -= len(old.Value)
			}
			delete(r.locks, string(w.Key))
		}
		if w.Unlock && w.PrevTs >= e.CommitTs {
			// Invariant txn-version-order, checked on apply at every
			// replica: a transaction commits above the version it replaces.
			panic(fmt.Sprintf("data: shard %d: entry %d commits %q at ts %d, not above the version it replaces at %d",
				r.shard, e.Seq, w.Key, e.CommitTs, w.PrevTs))
		}
	}
	for _, t := range e.Txns {
		id := txnID{string(t.Primary), t.StartTs}
		if t.Forget {
			b.DeleteTxn(r.shard, t.Primary, t.StartTs)
			delete(r.txns, id)
			continue
		}
		blob, err := proto.MarshalOptions{Deterministic: true}.Marshal(t)
		r.s.must(err, "encode a transaction record")
		b.PutTxn(r.shard, t.Primary, t.StartTs, blob)
		r.txns[id] = t
	}
}

// Locked is key's committed lock at shard on this server (nil: none), for
// observers (the simulator's oracles).
func (s *Server) Locked(shard uint32, key []byte) *wire.Lock {
	r := s.replica(shard)
	if r == nil {
		return nil
	}
	return r.locks[string(key)]
}

// txnCounts is how many locks and transaction records the replica holds.
func (r *replica) txnCounts() (locks, records int) { return len(r.locks), len(r.txns) }

// maxExpiredLocks bounds the keys one TxnLocks answer names: the API's
// resolver reads each, and asks again on its next round.
const maxExpiredLocks = 64

// expiredLocks answers TxnLocks: the keys, in key order, of the committed
// state's locks whose transactions' TTLs ran out at or below ts (TSO
// time), at most maxExpiredLocks of them. Reading such a key resolves its
// lock through its primary key (rule txn-rollback: an expired transaction
// not yet committed is rolled back), so a lock left by a coordinator that
// died is resolved even if no client reads its key again.
func (r *replica) expiredLocks(ts uint64) *wire.Reply {
	var keys []string
	// order-independent: the keys are sorted below
	for k, l := range r.locks {
		if l.ExpiresTs < ts {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys) // map order is random; the answer must not be
	if len(keys) > maxExpiredLocks {
		keys = keys[:maxExpiredLocks]
	}
	out := make([]*wire.Reply, len(keys))
	for i, k := range keys {
		out[i] = command.Bulk([]byte(k))
	}
	return command.Array(out...)
}

// liveAt reports whether key is live in the sequenced state at ts, the
// start of a transaction that locks it (DEL and MSETNX count live keys
// there): it has a value that had not expired by then.
func (r *replica) liveAt(key []byte, ts uint64) bool {
	p := r.replaces(key, nil, nil)
	return p.Live && !wire.Expired(p.ExpireMs, ts)
}
