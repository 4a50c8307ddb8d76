package data

import (
	"strings"
	"testing"

	"castkv/actors"

	"castkv/actors/command"
	"castkv/actors/roletest"
	"castkv/actors/wire"
)

// txnOp is a Txn command of the kind kind as an API server sends it.
func txnOp(counter uint64, kind command.Kind, t *wire.Txn, keys []string, values ...string) *wire.Commit {
	c := &wire.Command{Kind: uint32(kind), Name: kind.String(), Txn: t}
	for _, k := range keys {
		c.Keys = append(c.Keys, []byte(k))
	}
	for _, v := range values {
		c.Values = append(c.Values, []byte(v))
	}
	return &wire.Commit{Shard: 0, ConfigVersion: 1, Op: &wire.OpID{Incarnation: 1, Counter: counter}, Ts: t.StartTs, Command: c}
}

// refusal sends m and returns the one CommitReply, which must come without
// an entry being sequenced.
func refusal(t *testing.T, env *roletest.Env, s *Server, m *wire.Commit) *wire.CommitReply {
	t.Helper()
	s.Handle(env, "api1", m)
	env.FireDue(s)
	sent := env.Take()
	if ps := prepares(sent)["data2"]; len(ps) != 0 {
		t.Fatalf("op %d: sequenced an entry: %v", m.Op.Counter, ps)
	}
	cr := commitReplies(sent)
	if len(cr) != 1 {
		t.Fatalf("op %d: want one reply, got %v", m.Op.Counter, cr)
	}
	return cr[0]
}

// Rules txn-lock and txn-conflict: a prewrite locks its keys; a read at or
// above the lock's start timestamp is refused LOCKED (the canary
// read-through-lock reads the old value), one below it reads the old value;
// a 1PC write of the key is refused LOCKED; another transaction's prewrite
// is refused LOCKED, and one older than the key's version WRITE_CONFLICT.
// The commit makes the value visible at the commit timestamp.
func TestPrewriteLocksAndCommitPublishes(t *testing.T) {
	for _, canary := range []string{"", CanaryReadThroughLock} {
		t.Run("canary="+canary, func(t *testing.T) {
			env, s := readyPrimary(t, canary)
			commitEntry(t, env, s, op(1, "SET", "k", "old"))
			before := nextTS()
			start := nextTS()
			txn := &wire.Txn{StartTs: start, Primary: []byte("k"), ExpiresTs: start + 1000, Secondaries: [][]byte{[]byte("o")}}
			e := commitEntry(t, env, s, txnOp(2, command.TxnPrewrite, txn, []string{"k"}, "new"))
			if e.Kind != wire.Entry_TXN || len(e.Writes) != 1 || !e.Writes[0].LockOnly || string(e.Writes[0].Lock.Value) != "new" {
				t.Fatalf("want a TXN entry locking k with its value, got %v", e)
			}
			if rr := readAt(t, env, s, 1, before, "GET", "k"); rr.Status != wire.Status_OK || string(rr.Reply.Bulk) != "old" {
				t.Fatalf("a read below the lock's start: want old, got %v", rr)
			}
			rr := readAt(t, env, s, 2, nextTS(), "GET", "k")
			switch {
			case canary == "" && (rr.Status != wire.Status_LOCKED || rr.Lock.StartTs != start || string(rr.Lock.Key) != "k" || rr.Lock.Value != nil):
				t.Fatalf("a read above the lock's start: want LOCKED naming it (no value), got %v", rr)
			case canary != "" && rr.Status != wire.Status_OK:
				t.Fatalf("canary %s: want the old value read through the lock, got %v", canary, rr)
			}
			if cr := refusal(t, env, s, op(3, "SET", "k", "1pc")); cr.Status != wire.Status_LOCKED {
				t.Fatalf("a 1PC write of a locked key: want LOCKED, got %v", cr)
			}
			other := &wire.Txn{StartTs: nextTS(), Primary: []byte("z"), ExpiresTs: testTS + 1000}
			if cr := refusal(t, env, s, txnOp(4, command.TxnPrewrite, other, []string{"k"}, "x")); cr.Status != wire.Status_LOCKED {
				t.Fatalf("another transaction's prewrite: want LOCKED, got %v", cr)
			}
			stale := &wire.Txn{StartTs: before - 5, Primary: []byte("q"), ExpiresTs: testTS + 1000}
			commitEntry(t, env, s, op(5, "SET", "q", "v"))
			if cr := refusal(t, env, s, txnOp(6, command.TxnPrewrite, stale, []string{"q"}, "x")); cr.Status != wire.Status_WRITE_CONFLICT {
				t.Fatalf("a prewrite below the key's version: want WRITE_CONFLICT, got %v", cr)
			}
			commit := nextTS()
			txn.CommitTs = commit
			e = commitEntry(t, env, s, txnOp(7, command.TxnCommit, txn, []string{"k"}))
			if e.CommitTs != commit || len(e.Txns) != 1 || e.Txns[0].CommitTs != commit || !e.Writes[0].Unlock {
				t.Fatalf("want k committed at %d with the transaction's record, got %v", commit, e)
			}
			if rr := readAt(t, env, s, 3, nextTS(), "GET", "k"); rr.Status != wire.Status_OK || string(rr.Reply.Bulk) != "new" {
				t.Fatalf("after the commit: want new, got %v", rr)
			}
			if locks, recs := s.replica(0).txnCounts(); locks != 0 || recs != 1 {
				t.Fatalf("want no lock and one record, got %d locks, %d records", locks, recs)
			}
			e = commitEntry(t, env, s, txnOp(8, command.TxnForget, txn, []string{"k"}))
			if locks, recs := s.replica(0).txnCounts(); locks != 0 || recs != 0 {
				t.Fatalf("after forget: want nothing, got %d locks, %d records", locks, recs)
			}
		})
	}
}

// Rule txn-rollback: a checker whose timestamp is past an expired primary
// lock rolls the transaction back with a record, so the coordinator's late
// commit answers ROLLEDBACK and a late prewrite of the primary key is
// refused. With the canary unprotected-rollback there is no record and
// the late prewrite locks the key again.
func TestExpiredPrimaryIsRolledBackForGood(t *testing.T) {
	for _, canary := range []string{"", CanaryUnprotectedRollback} {
		t.Run("canary="+canary, func(t *testing.T) {
			env, s := readyPrimary(t, canary)
			start := nextTS()
			txn := &wire.Txn{StartTs: start, Primary: []byte("p"), ExpiresTs: start + 10}
			commitEntry(t, env, s, txnOp(1, command.TxnPrewrite, txn, []string{"p"}, "v"))
			alive := &wire.Txn{StartTs: start, Primary: []byte("p"), CallerTs: start + 5}
			if e := commitEntry(t, env, s, txnOp(2, command.TxnCheck, alive, []string{"p"})); len(e.Writes) != 0 {
				t.Fatalf("a check before the lock expired changed something: %v", e)
			} else if f, _ := command.FateOf(e.Result); f != command.FateAlive {
				t.Fatalf("a check before the lock expired: want ALIVE, got %v", e.Result)
			}
			late := &wire.Txn{StartTs: start, Primary: []byte("p"), CallerTs: start + 11}
			e := commitEntry(t, env, s, txnOp(3, command.TxnCheck, late, []string{"p"}))
			if f, _ := command.FateOf(e.Result); f != command.FateRolledBack {
				t.Fatalf("a check after the lock expired: want ROLLEDBACK, got %v", e.Result)
			}
			if canary == "" && len(e.Txns) != 1 {
				t.Fatalf("want the rollback recorded, got %v", e)
			}
			txn.Secondaries = nil
			s.Handle(env, "api1", txnOp(4, command.TxnPrewrite, txn, []string{"p"}, "v"))
			env.FireDue(s)
			sent := env.Take()
			relocked := len(prepares(sent)["data2"]) == 1
			switch {
			case canary == "" && relocked:
				t.Fatal("a late prewrite locked a rolled back primary key again")
			case canary == "" && (len(commitReplies(sent)) != 1 || commitReplies(sent)[0].Status != wire.Status_WRITE_CONFLICT):
				t.Fatalf("a late prewrite: want WRITE_CONFLICT, got %v", sent)
			case canary != "" && !relocked:
				t.Fatalf("canary %s: want the late prewrite to lock again, got %v", canary, sent)
			}
		})
	}
}

// Rule txn-rollback, where the coordinator's commit names the primary key
// and others of its shard: once a checker rolled the transaction back, the
// commit rolls every key back and commits none (castsim seeds 165, 175 and
// 180: the other key of the primary's shard was published alone).
func TestCommitAfterRollbackPublishesNothing(t *testing.T) {
	env, s := readyPrimary(t, "")
	commitEntry(t, env, s, op(1, "SET", "o", "old"))
	start := nextTS()
	txn := &wire.Txn{StartTs: start, Primary: []byte("p"), ExpiresTs: start + 10}
	commitEntry(t, env, s, txnOp(2, command.TxnPrewrite, txn, []string{"p", "o"}, "v1", "v2"))
	check := &wire.Txn{StartTs: start, Primary: []byte("p"), CallerTs: start + 11}
	commitEntry(t, env, s, txnOp(3, command.TxnCheck, check, []string{"p"}))
	txn.CommitTs = nextTS()
	e := commitEntry(t, env, s, txnOp(4, command.TxnCommit, txn, []string{"p", "o"}))
	if f, _ := command.FateOf(e.Result); f != command.FateRolledBack {
		t.Fatalf("want ROLLEDBACK, got %v", e.Result)
	}
	for _, w := range e.Writes {
		if !w.LockOnly {
			t.Fatalf("the commit of a rolled back transaction wrote %q: %v", w.Key, e)
		}
	}
	if rr := readAt(t, env, s, 1, nextTS(), "GET", "o"); rr.Status != wire.Status_OK || string(rr.Reply.Bulk) != "old" {
		t.Fatalf("want o's old value, got %v", rr)
	}
}

// A check answers only once what it read is committed: a COMMITTED read
// from a commit still in flight would let a reader publish a secondary
// key while a failover may still drop the commit (castsim seeds 367, 555,
// 1830, 1880).
func TestCheckWaitsForTheCommitItReports(t *testing.T) {
	env, s := readyPrimary(t, "")
	start := nextTS()
	txn := &wire.Txn{StartTs: start, Primary: []byte("p"), ExpiresTs: start + 10}
	commitEntry(t, env, s, txnOp(1, command.TxnPrewrite, txn, []string{"p"}, "v"))
	txn.CommitTs = nextTS()
	s.Handle(env, "api1", txnOp(2, command.TxnCommit, txn, []string{"p"}))
	check := &wire.Txn{StartTs: start, Primary: []byte("p"), CallerTs: nextTS()}
	s.Handle(env, "api1", txnOp(3, command.TxnCheck, check, []string{"p"}))
	env.FireDue(s)
	sent := env.Take()
	if cr := commitReplies(sent); len(cr) != 0 {
		t.Fatalf("answered before the commit it reports committed: %v", cr)
	}
	ps := prepares(sent)["data2"]
	last := ps[len(ps)-1].Entries
	seq := last[len(last)-1].Seq
	env.Persist(s)
	for _, peer := range []actors.Addr{"data2", "data3"} {
		s.Handle(env, peer, &wire.PrepareAck{Shard: 0, ConfigVersion: 1, Ok: true, MatchSeq: seq})
	}
	cr := commitReplies(env.Take())
	if len(cr) != 2 {
		t.Fatalf("want the commit and the check answered, got %v", cr)
	}
	if f, ts := command.FateOf(cr[1].Reply); f != command.FateCommitted || ts != txn.CommitTs {
		t.Fatalf("want the check to report the commit at %d, got %v", txn.CommitTs, cr[1].Reply)
	}
}

// A commit naming a key twice commits it once (castbench: an MSET of ten
// random keys named one twice, and the second commit of it replaced its
// own version, which the invariant txn-version-order caught).
func TestCommitNamesAKeyTwice(t *testing.T) {
	env, s := readyPrimary(t, "")
	start := nextTS()
	txn := &wire.Txn{StartTs: start, Primary: []byte("p"), ExpiresTs: start + 10}
	commitEntry(t, env, s, txnOp(1, command.TxnPrewrite, txn, []string{"p", "k", "k"}, "v", "k1", "k2"))
	txn.CommitTs = nextTS()
	e := commitEntry(t, env, s, txnOp(2, command.TxnCommit, txn, []string{"p", "k", "k"}))
	if len(e.Writes) != 2 {
		t.Fatalf("want p and k committed once each, got %v", e)
	}
	if rr := readAt(t, env, s, 1, nextTS(), "GET", "k"); string(rr.Reply.GetBulk()) != "k2" {
		t.Fatalf("want k's last value k2, got %v", rr)
	}
}

// TxnLocks (the API's background resolver) names, in key order, the keys
// whose committed locks expired below the read's timestamp: not a live
// lock, not one only sequenced.
func TestTxnLocksNamesExpiredLocks(t *testing.T) {
	env, s := readyPrimary(t, "")
	start := nextTS()
	short := &wire.Txn{StartTs: start, Primary: []byte("p"), ExpiresTs: start + 10}
	commitEntry(t, env, s, txnOp(1, command.TxnPrewrite, short, []string{"p", "b", "a"}, "1", "2", "3"))
	start2 := nextTS()
	long := &wire.Txn{StartTs: start2, Primary: []byte("q"), ExpiresTs: start2 + 1_000_000}
	commitEntry(t, env, s, txnOp(2, command.TxnPrewrite, long, []string{"q"}, "4"))
	names := func(ts uint64) []string {
		t.Helper()
		s.Handle(env, "api1", &wire.Read{Shard: 0, ConfigVersion: 1, Id: ts, Incarnation: 7, Ts: ts,
			Command: &wire.Command{Kind: uint32(command.TxnLocks), Name: "txnlocks"}})
		replies := roletest.Of[*wire.ReadReply](env.Take())
		if len(replies) != 1 {
			t.Fatalf("TxnLocks at %d: %v", ts, replies)
		}
		rr := replies[0]
		if rr.Status != wire.Status_OK || rr.Reply.Kind != wire.Reply_ARRAY {
			t.Fatalf("TxnLocks at %d: %v", ts, rr)
		}
		var out []string
		for _, k := range rr.Reply.Array {
			out = append(out, string(k.Bulk))
		}
		return out
	}
	if got := names(start + 5); len(got) != 0 {
		t.Errorf("before any lock expired: %q", got)
	}
	if got := names(start + 11); strings.Join(got, ",") != "a,b,p" {
		t.Errorf("after the first transaction's locks expired: %q, want a,b,p", got)
	}
}

// A MULTI block commits as one entry: its commands run in order against the
// sequenced state, each seeing the writes before it, and every replica
// applies the writes the primary computed.
func TestMultiBlockIsOneEntry(t *testing.T) {
	env := roletest.New("data1", 1)
	defer env.Close()
	c := config(1, "data1", []string{"data2"})
	s := primaryWithLease(t, env, Config{Meta: []actors.Addr{"meta"}}, c, "data2")
	rep, _ := commitAcked(t, env, s, commitCmd(1, 1, "SET", "n", "5"))
	if rep.Kind != wire.Reply_STATUS {
		t.Fatalf("SET: %v", rep)
	}
	last := s.replica(0).log.last
	argvs := [][][]byte{{[]byte("INCR"), []byte("n")}, {[]byte("SET"), []byte("k"), []byte("v"), []byte("NX")},
		{[]byte("APPEND"), []byte("k"), []byte("w")}, {[]byte("GET"), []byte("k")}, {[]byte("DEL"), []byte("n")}}
	var words []string
	for _, a := range command.ExecArgs(argvs, nil) {
		words = append(words, string(a))
	}
	rep, _ = commitAcked(t, env, s, commitCmd(1, 2, words...))
	if got := s.replica(0).log.last; got != last+1 {
		t.Errorf("the block took %d entries, want 1", got-last)
	}
	if rep.Kind != wire.Reply_ARRAY || len(rep.Array) != 5 || rep.Array[0].Int != 6 || string(rep.Array[3].Bulk) != "vw" || rep.Array[4].Int != 1 {
		t.Fatalf("the block answered %v", rep)
	}
	if v, ok := get(t, env, "k"); v != "vw" || !ok {
		t.Errorf("k = %q, %t after the block", v, ok)
	}
	if _, ok := get(t, env, "n"); ok {
		t.Error("n survived the block's DEL")
	}
}

// An MSETNX's prewrite counts the keys that are live, so its coordinator
// rolls back if any is; an MSET's prewrite answers OK.
func TestPrewriteCountsLiveKeysForMsetnx(t *testing.T) {
	env, s := readyPrimary(t, "")
	commitEntry(t, env, s, op(1, "SET", "a", "1"))
	start := nextTS()
	txn := &wire.Txn{StartTs: start, Primary: []byte("a"), ExpiresTs: start + 1000, CountLive: true}
	if e := commitEntry(t, env, s, txnOp(2, command.TxnPrewrite, txn, []string{"a", "b"}, "x", "y")); e.Result.GetKind() != wire.Reply_INT || e.Result.Int != 1 {
		t.Errorf("MSETNX prewrite of a (live) and b: result %v, want 1", e.Result)
	}
	start = nextTS()
	txn = &wire.Txn{StartTs: start, Primary: []byte("c"), ExpiresTs: start + 1000}
	if e := commitEntry(t, env, s, txnOp(3, command.TxnPrewrite, txn, []string{"c"}, "z")); e.Result.GetKind() != wire.Reply_STATUS {
		t.Errorf("MSET prewrite: result %v, want OK", e.Result)
	}
}

// blockPrewrite is the prewrite of a MULTI block's part, as an API server
// sends it for a block across shards.
func blockPrewrite(t *testing.T, counter uint64, txn *wire.Txn, argvs ...[]string) *wire.Commit {
	t.Helper()
	c := &wire.Command{Kind: uint32(command.TxnPrewrite), Name: "txnprewrite", Txn: txn}
	for _, argv := range argvs {
		var args [][]byte
		for _, a := range argv {
			args = append(args, []byte(a))
		}
		sub, rep := command.Parse(args)
		if rep != nil {
			t.Fatalf("parse %v: %v", argv, rep)
		}
		c.Sub = append(c.Sub, command.ToWire(sub))
		c.Keys = append(c.Keys, sub.Keys...)
	}
	return &wire.Commit{Shard: 0, ConfigVersion: 1, Op: &wire.OpID{Incarnation: 1, Counter: counter}, Ts: txn.StartTs, Command: c}
}

// A block's part on a shard is evaluated at the prewrite, in order, at the
// start timestamp; it locks the keys it writes with their final values
// (expiry included) and the keys it only reads with keep locks, which
// readers pass and writers do not; its answer is [soonest expiry,
// replies]. The commit publishes the written keys at the commit
// timestamp and releases the keep locks without a new version.
func TestBlockPrewriteEvaluatesAndLocks(t *testing.T) {
	env, s := readyPrimary(t, "")
	commitEntry(t, env, s, op(1, "SET", "n", "5"))
	commitEntry(t, env, s, op(2, "SET", "r", "read-me", "PX", "600000"))
	start := nextTS()
	txn := &wire.Txn{StartTs: start, Primary: []byte("n"), ExpiresTs: start + 1<<40}
	e := commitEntry(t, env, s, blockPrewrite(t, 3, txn, []string{"INCR", "n"}, []string{"GET", "r"}, []string{"INCRBY", "n", "10"}))
	res := e.Result
	if res.GetKind() != wire.Reply_ARRAY || len(res.Array) != 2 || res.Array[0].Int == 0 || len(res.Array[1].Array) != 3 ||
		res.Array[1].Array[0].Int != 6 || string(res.Array[1].Array[1].Bulk) != "read-me" || res.Array[1].Array[2].Int != 16 {
		t.Fatalf("want [soonest expiry of r, [6 read-me 16]], got %v", res)
	}
	locks := map[string]*wire.Lock{}
	for _, w := range e.Writes {
		if !w.LockOnly || w.Lock == nil {
			t.Fatalf("a prewrite wrote more than locks: %v", e)
		}
		locks[string(w.Key)] = w.Lock
	}
	if l := locks["n"]; len(locks) != 2 || l == nil || l.Keep || string(l.Value) != "16" || locks["r"] == nil || !locks["r"].Keep {
		t.Fatalf("want n locked with 16 and r with a keep lock, got %v", locks)
	}
	if rr := readAt(t, env, s, 1, nextTS(), "GET", "r"); rr.Status != wire.Status_OK || string(rr.Reply.Bulk) != "read-me" {
		t.Fatalf("a read passes a keep lock: got %v", rr)
	}
	if rr := readAt(t, env, s, 2, nextTS(), "GET", "n"); rr.Status != wire.Status_LOCKED {
		t.Fatalf("a read of a written key: want LOCKED, got %v", rr)
	}
	if cr := refusal(t, env, s, op(4, "SET", "r", "1pc")); cr.Status != wire.Status_LOCKED {
		t.Fatalf("a 1PC write of a key the block read: want LOCKED, got %v", cr)
	}
	again := commitEntry(t, env, s, blockPrewrite(t, 5, txn, []string{"INCR", "n"}, []string{"GET", "r"}, []string{"INCRBY", "n", "10"}))
	if len(again.Writes) != 0 || again.Result.GetKind() != wire.Reply_ARRAY || again.Result.Array[1].Array[2].Int != 16 {
		t.Fatalf("a copy of the prewrite: want the same answer and no new locks, got %v", again)
	}
	commit := nextTS()
	txn.CommitTs = commit
	e = commitEntry(t, env, s, txnOp(6, command.TxnCommit, txn, []string{"n", "r", "n"}))
	for _, w := range e.Writes {
		switch string(w.Key) {
		case "n":
			if !w.Unlock || string(w.Value) != "16" {
				t.Errorf("n's commit: %v", w)
			}
		case "r":
			if w.Unlock || !w.LockOnly || w.Lock != nil || w.Value != nil {
				t.Errorf("r's keep lock must go without a write: %v", w)
			}
		}
	}
	if rr := readAt(t, env, s, 3, nextTS(), "MGET", "n", "r"); rr.Status != wire.Status_OK ||
		string(rr.Reply.Array[0].Bulk) != "16" || string(rr.Reply.Array[1].Bulk) != "read-me" {
		t.Fatalf("after the commit: %v", rr)
	}
	if rr := readAt(t, env, s, 4, nextTS(), "PTTL", "r"); rr.Status != wire.Status_OK || rr.Reply.Int <= 0 {
		t.Fatalf("r keeps its expiry through the keep lock: PTTL %v", rr)
	}
}

// A written key's expiry travels in its lock: SET PX inside a block
// across shards expires as one outside does.
func TestBlockPrewriteCarriesExpiry(t *testing.T) {
	env, s := readyPrimary(t, "")
	start := nextTS()
	txn := &wire.Txn{StartTs: start, Primary: []byte("k"), ExpiresTs: start + 1<<40}
	e := commitEntry(t, env, s, blockPrewrite(t, 1, txn, []string{"SET", "k", "v", "PX", "60000"}))
	if len(e.Writes) != 1 || e.Writes[0].Lock.ExpireMs != wire.TSMillis(start)+60000 {
		t.Fatalf("want k's lock to expire 60 s after the start timestamp, got %v", e.Writes)
	}
	txn.CommitTs = nextTS()
	e = commitEntry(t, env, s, txnOp(2, command.TxnCommit, txn, []string{"k"}))
	if len(e.Writes) != 1 || e.Writes[0].ExpireMs != wire.TSMillis(start)+60000 {
		t.Fatalf("the commit must write the lock's expiry, got %v", e.Writes)
	}
}

// A block's prewrite with what WATCH saw: a watched key whose version
// changed answers [0, nil] and locks nothing; unchanged, the watched key
// is locked with a keep lock beside the block's own.
func TestBlockPrewriteChecksWatchedKeys(t *testing.T) {
	env, s := readyPrimary(t, "")
	e := commitEntry(t, env, s, op(1, "SET", "w", "1"))
	version := e.CommitTs
	for _, changed := range []bool{true, false} {
		start := nextTS()
		txn := &wire.Txn{StartTs: start, Primary: []byte("k"), ExpiresTs: start + 1<<40}
		m := blockPrewrite(t, 2+uint64(boolInt(changed)), txn, []string{"SET", "k", "v"})
		seen := version
		if changed {
			seen = version - 1
		}
		m.Command.Watch = &wire.Watch{Ts: start, Keys: [][]byte{[]byte("w")}, Versions: []uint64{seen}}
		m.Command.Keys = append(m.Command.Keys, []byte("w"))
		e := commitEntry(t, env, s, m)
		if changed {
			if len(e.Writes) != 0 || len(e.Result.Array) != 2 || e.Result.Array[1].Kind != wire.Reply_NIL {
				t.Fatalf("a changed watched key: want [0, nil] and no locks, got %v", e)
			}
			continue
		}
		locks := map[string]bool{}
		for _, w := range e.Writes {
			locks[string(w.Key)] = w.Lock.GetKeep()
		}
		if keep, ok := locks["w"]; len(locks) != 2 || !ok || !keep || locks["k"] {
			t.Fatalf("an unchanged watched key: want k locked with its value and w with a keep lock, got %v", e)
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
