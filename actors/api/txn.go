package api

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"castkv/actors"
	"castkv/actors/command"
	"castkv/actors/wire"
)

// Writes across shards: an MSET, MSETNX, DEL or MULTI block whose keys are
// held by several shards runs as a transaction (Percolator,
// actors/data/txn.go), with this API server as its coordinator:
//
//  1. prewrite: at its timestamp s (the start timestamp), each shard locks
//     its keys with their new values (TxnPrewrite), one request per shard,
//     in parallel. The first key is the primary key; its lock names the
//     others. A MULTI block's prewrite carries the shard's commands of the
//     block instead of values: the shard runs them at s and locks their
//     keys with what they leave (a key only read with a keep lock), and
//     answers their replies, which the client gets in the block's order.
//  2. commit: with every lock in place, a new timestamp C is fetched and the
//     primary key's shard commits its keys at C (TxnCommit). That step is
//     the transaction's atomic point: the client is answered once it
//     succeeds.
//  3. the other shards commit their keys at C, and once all have, the
//     primary key's shard forgets the transaction's record (TxnForget).
//
// A prewrite refused LOCKED or WRITE_CONFLICT, or a commit that finds the
// transaction rolled back, rolls back what was prewritten and starts again
// at a new timestamp until the request's deadline. A reply the client gets
// once the commit may have happened is UNCERTAIN, never TRYAGAIN.
//
// A command (any read or write) refused LOCKED resolves the lock through
// its primary key (TxnCheck): a committed transaction's lock is rolled
// forward, a rolled back one's removed, and one still alive waited for (a
// backoff, then the command again at a new timestamp). Rolling back a
// transaction whose lock expired (TxnLockTTL) is the primary key shard's
// decision, recorded there, so a coordinator that died between prewrite
// and commit leaves nothing that any reader sees half of.
//
// Each step is a request of its own (sub-request): it has an op id, retries,
// settles on timeout and is answered through done instead of a client.

// txnState is the coordinator's state of a client's write across shards.
type txnState struct {
	phase   txnPhase
	start   uint64
	commit  uint64
	primary []byte
	parts   []*txnPart // the primary key's first
	pending int        // sub-requests of the phase not answered
	// failed is the first refusal of the prewrite phase (OK: none); lock
	// the lock it met; uncertain: a prewrite or commit ended with no known
	// outcome.
	failed wire.Status
	lock   *wire.Lock
	errRep *wire.Reply
	live   int64 // DEL: keys that existed
	// A MULTI block across shards: the part each of its commands runs in,
	// each part's replies (in its commands' order), and the earliest
	// expiry of a key the block saw live (0: none).
	block   []int
	replies []*wire.Reply
	soonest int64
	changed bool // a watched key changed since WATCH: EXEC answers nil
}

type txnPhase uint8

const (
	txnPrewriting txnPhase = iota + 1
	txnAwaitingCommitTS
	txnCommitting // the primary's commit is on its way: the outcome may be commit
)

type txnPart struct {
	shard uint32
	keys  []int // positions in the command's keys
}

// subDone is how a sub-request's end reaches its owner: st OK with the
// result (an error reply when it timed out), or the refusal (LOCKED with
// the lock met, WRITE_CONFLICT).
type subDone func(env actors.Env, st wire.Status, rep *wire.Reply, lock *wire.Lock)

// crossShardWrite reports whether r is an MSET, MSETNX, DEL or MULTI
// block (with or without WATCH) whose keys span several shards.
func (a *API) crossShardWrite(r *request) bool {
	switch {
	case r.done != nil:
		return false
	case r.cmd.Kind == command.MSet, r.cmd.Kind == command.MSetNX, r.cmd.Kind == command.Del:
	case r.cmd.Kind == command.Multi:
	default:
		return false
	}
	_, cross := a.shards.Route(r.cmd.Keys)
	return cross
}

// tryTxn moves r's transaction on: it starts one (at r.ts) or commits one
// whose commit timestamp arrived.
func (a *API) tryTxn(env actors.Env, r *request) {
	if a.session == 0 {
		r.lastRefusal = "no exactly-once session from meta yet"
		a.askConfig(env)
		a.retryLater(env, r)
		return
	}
	if r.ts == 0 {
		a.awaitTS(env, r)
		return
	}
	t := r.txn
	if t != nil && t.phase == txnAwaitingCommitTS {
		if wire.Expired(t.soonest, r.ts) {
			// A key the block saw live expired before the commit
			// timestamp, where the block would take effect.
			a.rollback(env, r, t)
			r.txn, r.ts = nil, 0
			r.lastRefusal = "a key the MULTI block read expired before it could commit"
			a.retryLater(env, r)
			return
		}
		a.commitPrimary(env, r, t)
		return
	}
	if t != nil {
		return // a phase in progress: its sub-requests move it on
	}
	byShard, ok := a.shardParts(env, r)
	if !ok {
		return
	}
	var parts []*txnPart
	for _, p := range byShard {
		parts = append(parts, &txnPart{shard: p.config.Shard, keys: p.keys})
	}
	var block []int
	if r.cmd.Kind == command.Multi {
		var refusal *wire.Reply
		if block, refusal = blockParts(r.cmd, parts); refusal != nil {
			a.finish(env, r, refusal)
			return
		}
	}
	if a.cfg.Canary == CanaryMsetPerShard {
		a.perShard(env, r, parts, block)
		return
	}
	t = &txnState{phase: txnPrewriting, start: r.ts, primary: r.cmd.Keys[0], parts: parts, failed: wire.Status_OK,
		block: block, replies: make([]*wire.Reply, len(parts))}
	r.txn = t
	var secondaries [][]byte
	for _, k := range r.cmd.Keys[1:] {
		if !slices.ContainsFunc(secondaries, func(s []byte) bool { return string(s) == string(k) }) && string(k) != string(t.primary) {
			secondaries = append(secondaries, k)
		}
	}
	expires := t.start + uint64(a.cfg.TxnLockTTL.Milliseconds())<<tsLogicalBits
	t.pending = len(parts)
	for i, p := range parts {
		cmd := &command.Command{Kind: command.TxnPrewrite, Name: "txnprewrite",
			Txn: &wire.Txn{StartTs: t.start, Primary: t.primary, ExpiresTs: expires, Delete: r.cmd.Kind == command.Del,
				CountLive: r.cmd.Kind == command.MSetNX}}
		if i == 0 {
			cmd.Txn.Secondaries = secondaries
		}
		if block != nil {
			cmd.Sub, cmd.Keys = blockOf(r.cmd, block, i)
			cmd.Watch = watchOf(r.cmd, p)
			cmd.Keys = append(cmd.Keys, cmd.Watch.GetKeys()...)
		} else {
			for _, k := range p.keys {
				cmd.Keys = append(cmd.Keys, r.cmd.Keys[k])
				if r.cmd.Kind != command.Del {
					cmd.Values = append(cmd.Values, r.cmd.Values[k])
				}
			}
		}
		a.sub(env, r, cmd, t.start, a.cfg.RequestTimeout/4, func(env actors.Env, st wire.Status, rep *wire.Reply, lock *wire.Lock) {
			if block != nil && st == wire.Status_OK && rep.GetKind() != wire.Reply_ERROR {
				rep = t.blockPrewritten(i, len(cmd.Sub), rep)
			}
			a.prewritten(env, r, t, st, rep, lock)
		})
	}
}

// tsLogicalBits: a timestamp is physical milliseconds << 18 | logical
// (actors/meta/tso.go).
const tsLogicalBits = 18

// prewritten takes one shard's answer to its prewrite.
func (a *API) prewritten(env actors.Env, r *request, t *txnState, st wire.Status, rep *wire.Reply, lock *wire.Lock) {
	t.pending--
	switch {
	case st != wire.Status_OK:
		if t.failed == wire.Status_OK {
			t.failed, t.lock = st, lock
		}
	case rep.GetKind() == wire.Reply_ERROR:
		if t.errRep == nil {
			t.errRep = rep
		}
	case rep.GetKind() == wire.Reply_INT:
		t.live += rep.Int
	}
	if t.pending > 0 {
		return
	}
	if !a.holds(r) || r.txn != t {
		a.rollback(env, r, t) // its request ended: it never commits
		return
	}
	if t.failed == wire.Status_OK && t.errRep == nil && t.changed {
		// EXEC after WATCH: a watched key changed, and nothing is applied.
		a.rollback(env, r, t)
		r.txn = nil
		a.finish(env, r, command.Nil())
		return
	}
	if t.failed == wire.Status_OK && t.errRep == nil && r.cmd.Kind == command.MSetNX && t.live > 0 {
		// MSETNX: a key existed at the start timestamp, and the locks kept
		// any later write out until now: nothing is set.
		a.rollback(env, r, t)
		r.txn = nil
		a.finish(env, r, command.Int(0))
		return
	}
	if t.failed == wire.Status_OK && t.errRep == nil {
		t.phase = txnAwaitingCommitTS
		r.ts = 0
		a.awaitTS(env, r)
		return
	}
	a.rollback(env, r, t)
	r.txn, r.ts = nil, 0
	r.lastRefusal = "a prewrite was refused: " + t.failed.String()
	switch {
	case t.errRep != nil && strings.HasPrefix(t.errRep.Str, "TRYAGAIN"):
		// A prewrite timed out (a shard in a failover or a move, a split
		// refusing it): what it may have locked is rolled back, and the
		// primary key's record keeps it from ever committing. Start again
		// at a new timestamp while the request's deadline allows.
		r.lastRefusal = t.errRep.Str
		a.retryLater(env, r)
	case t.errRep != nil:
		r.lastRefusal = t.errRep.Str
		a.finish(env, r, command.Error("TRYAGAIN the write across shards was not applied: "+strings.TrimPrefix(t.errRep.Str, "TRYAGAIN ")))
	case t.failed == wire.Status_LOCKED && t.lock != nil:
		a.resolve(env, r, t.lock, t.start)
	default:
		a.retryLater(env, r) // WRITE_CONFLICT, BUSY: again at a new timestamp
	}
}

// commitPrimary commits the primary key's shard at r.ts, the commit
// timestamp.
func (a *API) commitPrimary(env actors.Env, r *request, t *txnState) {
	t.phase, t.commit = txnCommitting, r.ts
	r.commitSent = true // from here the outcome may be commit
	a.sub(env, r, a.txnCommand(r, t, t.parts[0], false), t.commit, a.cfg.RequestTimeout/4,
		func(env actors.Env, st wire.Status, rep *wire.Reply, _ *wire.Lock) {
			fate, _ := command.FateOf(rep)
			switch {
			case st == wire.Status_OK && fate == command.FateCommitted:
				if a.holds(r) && r.txn == t {
					res := command.OK()
					switch r.cmd.Kind {
					case command.Del:
						res = command.Int(t.live)
					case command.MSetNX:
						res = command.Int(1)
					case command.Multi:
						res = stitch(t.block, t.replies)
					}
					a.finish(env, r, res)
				}
				a.commitSecondaries(env, r, t)
			case st == wire.Status_OK && fate == command.FateRolledBack, strings.HasPrefix(rep.GetStr(), "TRYAGAIN"):
				// Rolled back by a checker (its lock expired), or the commit
				// never ran (settled): start again.
				a.rollback(env, r, t)
				if a.holds(r) && r.txn == t {
					r.txn, r.ts = nil, 0
					r.lastRefusal = "the transaction was rolled back before it committed"
					a.retryLater(env, r)
				}
			default:
				// No known outcome: its locks stay for readers to resolve.
				if a.holds(r) && r.txn == t {
					a.finish(env, r, command.Error("UNCERTAIN the write across shards may or may not have been applied: "+rep.GetStr()))
				}
			}
		})
}

// txnCommand is the TxnCommit (or rollback) of part's keys.
func (a *API) txnCommand(r *request, t *txnState, p *txnPart, rollback bool) *command.Command {
	cmd := &command.Command{Kind: command.TxnCommit, Name: "txncommit",
		Txn: &wire.Txn{StartTs: t.start, Primary: t.primary, CommitTs: t.commit, Rollback: rollback}}
	for _, k := range p.keys {
		cmd.Keys = append(cmd.Keys, r.cmd.Keys[k])
	}
	return cmd
}

// commitSecondaries commits the other shards' keys at the commit
// timestamp, then has the primary key's shard forget the transaction.
func (a *API) commitSecondaries(env actors.Env, r *request, t *txnState) {
	left, failed := len(t.parts)-1, false
	if left == 0 {
		a.forget(env, t)
		return
	}
	for _, p := range t.parts[1:] {
		a.sub(env, nil, a.txnCommand(r, t, p, false), t.commit, a.cfg.RequestTimeout,
			func(env actors.Env, st wire.Status, rep *wire.Reply, _ *wire.Lock) {
				left--
				failed = failed || st != wire.Status_OK || rep.GetKind() == wire.Reply_ERROR
				if left == 0 && !failed {
					// Every lock is resolved: nothing needs the record. (If
					// one failed, the record stays for its readers.)
					a.forget(env, t)
				}
			})
	}
}

// rollback rolls back the transaction's locks, the primary key's with a
// record (rule txn-rollback), in the background; once every shard has, the
// record is forgotten: this coordinator never commits the transaction now,
// so no late step of its own needs it, and a reader that meets a lock of it
// left behind still finds the primary key unlocked and rolls it back.
func (a *API) rollback(env actors.Env, r *request, t *txnState) {
	left, failed := len(t.parts), false
	for _, p := range t.parts {
		a.sub(env, nil, a.txnCommand(r, t, p, true), t.start, a.cfg.RequestTimeout,
			func(env actors.Env, st wire.Status, rep *wire.Reply, _ *wire.Lock) {
				left--
				failed = failed || st != wire.Status_OK || rep.GetKind() == wire.Reply_ERROR
				if fate, _ := command.FateOf(rep); fate == command.FateCommitted {
					failed = true // not ours to roll back after all: keep the record
				}
				if left == 0 && !failed {
					a.forget(env, t)
				}
			})
	}
}

// forget has the primary key's shard drop the transaction's record.
func (a *API) forget(env actors.Env, t *txnState) {
	cmd := &command.Command{Kind: command.TxnForget, Name: "txnforget", Keys: [][]byte{t.primary},
		Txn: &wire.Txn{StartTs: t.start, Primary: t.primary}}
	a.sub(env, nil, cmd, t.start, a.cfg.RequestTimeout, func(actors.Env, wire.Status, *wire.Reply, *wire.Lock) {})
}

// resolve resolves lock, which blocked r, through its primary key, then
// runs r again at a new timestamp: at once if the lock was resolved, after
// a backoff if its transaction is still alive. callerTS is a timestamp
// fetched after r began: the lock expired if it is above the lock's
// expiry.
func (a *API) resolve(env actors.Env, r *request, lock *wire.Lock, callerTS uint64) {
	if r.resolving {
		return // a late reply to an earlier attempt: one resolution at a time
	}
	r.resolving = true
	r.resolves++
	resume := func(env actors.Env, resolved bool) {
		r.resolving = false
		if !a.holds(r) {
			return
		}
		r.ts = 0
		if resolved {
			a.try(env, r)
		} else {
			a.retryLater(env, r)
		}
	}
	check := &command.Command{Kind: command.TxnCheck, Name: "txncheck", Keys: [][]byte{lock.Primary},
		Txn: &wire.Txn{StartTs: lock.StartTs, Primary: lock.Primary, CallerTs: callerTS, RollbackIfAbsent: callerTS > lock.ExpiresTs}}
	a.sub(env, nil, check, callerTS, a.cfg.RequestTimeout/4, func(env actors.Env, st wire.Status, rep *wire.Reply, _ *wire.Lock) {
		fate, commitTS := command.FateOf(rep)
		if st != wire.Status_OK || (fate != command.FateCommitted && fate != command.FateRolledBack) {
			resume(env, false)
			return
		}
		if string(lock.Key) == string(lock.Primary) && fate == command.FateRolledBack {
			resume(env, true) // the check removed it
			return
		}
		cmd := &command.Command{Kind: command.TxnCommit, Name: "txncommit", Keys: [][]byte{lock.Key},
			Txn: &wire.Txn{StartTs: lock.StartTs, Primary: lock.Primary, CommitTs: commitTS, Rollback: fate == command.FateRolledBack}}
		ts := commitTS
		if ts == 0 {
			ts = lock.StartTs
		}
		a.sub(env, nil, cmd, ts, a.cfg.RequestTimeout/4, func(env actors.Env, st wire.Status, rep *wire.Reply, _ *wire.Lock) {
			resume(env, st == wire.Status_OK && rep.GetKind() != wire.Reply_ERROR)
		})
	})
}

// sub starts a sub-request: cmd to its keys' shard at ts, answered through
// done. origin is the client request it works for (nil: none, or a lock
// resolution, whose timestamps may predate the blocked command).
func (a *API) sub(env actors.Env, origin *request, cmd *command.Command, ts uint64, timeout time.Duration, done subDone) {
	a.nextReq++
	s := &request{id: a.nextReq, cmd: cmd, write: cmd.IsWrite(), inline: true, ts: ts, timeout: timeout, done: done, origin: origin}
	a.reqs[s.id] = s
	s.deadline = env.After(a.firstDeadline(s), &wire.Tick{Kind: timerDeadline, Id: s.id})
	a.try(env, s)
}

// blockParts is the part each command of a MULTI block runs in: the one
// holding its keys. r's keys are its commands' keys in order (Command.Sub).
// A command whose own keys span shards (an MSET inside the block) is
// refused CROSSSLOT.
func blockParts(c *command.Command, parts []*txnPart) ([]int, *wire.Reply) {
	partOf := make([]int, len(c.Keys))
	for i, p := range parts {
		for _, k := range p.keys {
			partOf[k] = i
		}
	}
	block := make([]int, len(c.Sub))
	at := 0
	for i, s := range c.Sub {
		if len(s.Keys) == 0 {
			continue // part 0's
		}
		block[i] = partOf[at]
		for range s.Keys {
			if partOf[at] != block[i] {
				return nil, command.Error(fmt.Sprintf("CROSSSLOT %s's keys inside the MULTI block are held by different shards; "+
					"castkv runs each command of a block within one shard, so give its keys a common {hash tag}", strings.ToUpper(s.Name)))
			}
			at++
		}
	}
	return block, nil
}

// blockOf is the commands of part and their keys, in the block's order.
func blockOf(c *command.Command, block []int, part int) (sub []*command.Command, keys [][]byte) {
	for i, s := range c.Sub {
		if block[i] == part {
			sub = append(sub, s)
			keys = append(keys, s.Keys...)
		}
	}
	return sub, keys
}

// watchOf is what WATCH saw of part's keys (nil: none of them is
// watched). A block's keys are its commands' keys, then the watched ones.
func watchOf(c *command.Command, part *txnPart) *wire.Watch {
	if c.Watch == nil {
		return nil
	}
	first := len(c.Keys) - len(c.Watch.Keys) // where the watched keys begin
	var w *wire.Watch
	for _, k := range part.keys {
		if k < first {
			continue
		}
		if w == nil {
			w = &wire.Watch{Ts: c.Watch.Ts}
		}
		w.Keys = append(w.Keys, c.Watch.Keys[k-first])
		w.Versions = append(w.Versions, c.Watch.Versions[k-first])
	}
	return w
}

// blockPrewritten takes a part's prewrite answer, [soonest, replies]
// (data's prewriteBlock), and returns what prewritten counts: OK, or an
// error when the answer is malformed.
func (t *txnState) blockPrewritten(part, commands int, rep *wire.Reply) *wire.Reply {
	if rep.GetKind() == wire.Reply_ARRAY && len(rep.Array) == 2 && rep.Array[1].GetKind() == wire.Reply_NIL {
		t.changed = true // a watched key of this shard changed
		return command.OK()
	}
	if rep.GetKind() != wire.Reply_ARRAY || len(rep.Array) != 2 || rep.Array[0].GetKind() != wire.Reply_INT ||
		rep.Array[1].GetKind() != wire.Reply_ARRAY || len(rep.Array[1].Array) != commands {
		return command.Error("ERR a shard answered a MULTI block's prewrite malformed")
	}
	if e := rep.Array[0].Int; e != 0 && (t.soonest == 0 || e < t.soonest) {
		t.soonest = e
	}
	t.replies[part] = rep.Array[1]
	return command.OK()
}

// stitch is EXEC's reply: each command's reply from its part, in the
// block's order.
func stitch(block []int, replies []*wire.Reply) *wire.Reply {
	next := make([]int, len(replies))
	out := make([]*wire.Reply, len(block))
	for i, p := range block {
		out[i] = replies[p].Array[next[p]]
		next[p]++
	}
	return command.Array(out...)
}

// perShard is canary mset-per-shard: each shard runs its part of the
// command (an MSET's keys, a MULTI block's commands) on its own, with no
// transaction, so a reader can see half.
func (a *API) perShard(env actors.Env, r *request, parts []*txnPart, block []int) {
	r.txn = &txnState{phase: txnCommitting}
	r.commitSent = true
	left, n := len(parts), int64(0)
	var failed *wire.Reply
	replies := make([]*wire.Reply, len(parts))
	for i, p := range parts {
		cmd := &command.Command{Kind: r.cmd.Kind, Name: r.cmd.Name}
		if block != nil {
			cmd.Sub, cmd.Keys = blockOf(r.cmd, block, i)
		}
		for _, k := range p.keys {
			if block != nil {
				break
			}
			cmd.Keys = append(cmd.Keys, r.cmd.Keys[k])
			if r.cmd.Kind != command.Del {
				cmd.Values = append(cmd.Values, r.cmd.Values[k])
			}
		}
		a.sub(env, r, cmd, r.ts, a.cfg.RequestTimeout/2, func(env actors.Env, st wire.Status, rep *wire.Reply, _ *wire.Lock) {
			left--
			if rep.GetKind() == wire.Reply_ERROR && failed == nil {
				failed = rep
			}
			n += rep.GetInt()
			replies[i] = rep
			if left > 0 || !a.holds(r) {
				return
			}
			switch {
			case failed != nil:
				a.finish(env, r, failed)
			case block != nil:
				a.finish(env, r, stitch(block, replies))
			case r.cmd.Kind == command.Del:
				a.finish(env, r, command.Int(n))
			case r.cmd.Kind == command.MSetNX: // the canary's: each shard on its own
				a.finish(env, r, command.Int(min(n, 1)))
			default:
				a.finish(env, r, command.OK())
			}
		})
	}
}

// holds reports whether r is still held (not answered).
func (a *API) holds(r *request) bool { return a.reqs[r.id] == r }
