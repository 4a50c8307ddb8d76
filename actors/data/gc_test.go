package data

import (
	"strings"
	"testing"
	"time"

	"castkv/actors"
	"castkv/actors/command"
	"castkv/actors/roletest"
	"castkv/actors/store"
	"castkv/actors/wire"
)

// gcGrant answers the server's newest heartbeat with a lease carrying gc
// points, and returns the entries the primary sent data2 in answer.
func gcGrant(env *roletest.Env, s *Server, safe, below uint64) []*wire.Entry {
	s.Handle(env, "meta", &wire.HeartbeatReply{Id: s.heartbeatID, Incarnation: s.incarnation,
		Leases: []*wire.LeaseGrant{{Shard: 0, ConfigVersion: 1, HeartbeatId: s.heartbeatID, LeaseNanos: int64(2 * time.Second),
			Ts: nextTS(), SafePoint: safe, GcBelow: below}}})
	env.FireDue(s)
	var out []*wire.Entry
	for _, p := range prepares(env.Take())["data2"] {
		out = append(out, p.Entries...)
	}
	return out
}

// ackAll has both peers ack through seq, once the primary's log is durable.
func ackAll(env *roletest.Env, s *Server, seq uint64) {
	env.Persist(s)
	for _, peer := range []actors.Addr{"data2", "data3"} {
		s.Handle(env, peer, &wire.PrepareAck{Shard: 0, ConfigVersion: 1, Ok: true, MatchSeq: seq})
	}
	env.Take()
}

// Rule gc-safe-point at a primary: the gc points of a lease grant go into
// the log as one entry, which drops the records below the gc point (and
// keeps those above), at most once per GCEvery. From then on a prewrite
// below the safe point is refused WRITE_CONFLICT, and a commit that finds
// neither lock nor record below the gc point answers UNCERTAIN rather than
// rolled back (one above it still finds its record), and a check TRYAGAIN. The shard reports its lock floor: its oldest lock's start,
// or its safe point when that is lower.
func TestGCPointsDropRecordsBelowThem(t *testing.T) {
	env, s := readyPrimary(t, "")
	check := func(counter, start uint64, primary string) {
		txn := &wire.Txn{StartTs: start, Primary: []byte(primary), CallerTs: nextTS(), RollbackIfAbsent: true}
		commitEntry(t, env, s, txnOp(counter, command.TxnCheck, txn, []string{primary}))
	}
	old := nextTS()
	check(1, old, "p-old") // a rollback record nobody will forget
	below := nextTS()
	young := nextTS()
	check(2, young, "p-young")
	lockTS := nextTS()
	commitEntry(t, env, s, txnOp(3, command.TxnPrewrite,
		&wire.Txn{StartTs: lockTS, Primary: []byte("k"), ExpiresTs: lockTS + 1000}, []string{"k"}, "v"))
	if got := s.Inspect()[0].TxnRecords; got != 2 {
		t.Fatalf("want the two rollback records before gc, got %d", got)
	}

	safe := nextTS()
	es := gcGrant(env, s, safe, below)
	if len(es) != 1 || es[0].Kind != wire.Entry_TXN || es[0].Gc.GetSafePoint() != safe || es[0].Gc.GetGcBelow() != below || es[0].Op != nil {
		t.Fatalf("want one TXN entry without an op raising the gc points to (%d, %d), got %v", safe, below, es)
	}
	// Sequenced, not yet committed: the safe point holds already.
	early := &wire.Txn{StartTs: safe - 2, Primary: []byte("q"), ExpiresTs: safe + 1000}
	if cr := refusal(t, env, s, txnOp(7, command.TxnPrewrite, early, []string{"q"}, "x")); cr.Status != wire.Status_WRITE_CONFLICT {
		t.Fatalf("a prewrite below a sequenced safe point: want WRITE_CONFLICT, got %v", cr)
	}
	ackAll(env, s, es[0].Seq)
	v := s.Inspect()[0]
	if v.CommitSeq != es[0].Seq || v.TxnRecords != 1 || v.TxnsCollected != 1 {
		t.Fatalf("after the gc entry committed: commit %d (want %d), %d records (want 1), %d collected (want 1)",
			v.CommitSeq, es[0].Seq, v.TxnRecords, v.TxnsCollected)
	}
	if p, err := s.st.GC(0); err != nil || p != (store.GCPoints{SafePoint: safe, Below: below}) {
		t.Fatalf("the store's gc points are %v (%v), want (%d, %d)", p, err, safe, below)
	}
	if es := gcGrant(env, s, safe+1, below); len(es) != 0 {
		t.Fatalf("a second gc entry within GCEvery: %v", es)
	}

	stale := &wire.Txn{StartTs: safe - 1, Primary: []byte("q"), ExpiresTs: safe + 1000}
	if cr := refusal(t, env, s, txnOp(4, command.TxnPrewrite, stale, []string{"q"}, "x")); cr.Status != wire.Status_WRITE_CONFLICT {
		t.Fatalf("a prewrite below the safe point: want WRITE_CONFLICT, got %v", cr)
	}
	commit := &wire.Txn{StartTs: old, Primary: []byte("p-old"), CommitTs: nextTS()}
	if cr := refusal(t, env, s, txnOp(5, command.TxnCommit, commit, []string{"p-old"})); cr.Status != wire.Status_OK || !strings.HasPrefix(cr.Reply.GetStr(), "UNCERTAIN") {
		t.Fatalf("a commit below the gc point finding no record: want UNCERTAIN, got %v", cr)
	}
	gone := &wire.Txn{StartTs: old, Primary: []byte("p-old"), CallerTs: nextTS(), RollbackIfAbsent: true}
	if cr := refusal(t, env, s, txnOp(8, command.TxnCheck, gone, []string{"p-old"})); cr.Status != wire.Status_OK || !strings.HasPrefix(cr.Reply.GetStr(), "TRYAGAIN") {
		t.Fatalf("a check below the gc point finding no record: want TRYAGAIN (read again), got %v", cr)
	}
	commit = &wire.Txn{StartTs: young, Primary: []byte("p-young"), CommitTs: nextTS()}
	if e := commitEntry(t, env, s, txnOp(6, command.TxnCommit, commit, []string{"p-young"})); e.Result == nil {
		t.Fatalf("a commit above the gc point: want an answer, got %v", e)
	} else if fate, _ := command.FateOf(e.Result); fate != command.FateRolledBack {
		t.Fatalf("a commit above the gc point finding its rollback record: want rolled back, got %v", e.Result)
	}

	env.Advance(s.cfg.GCEvery) // the floor is worked out once per GCEvery
	s.sendHeartbeat(env)
	hbs := roletest.Of[*wire.Heartbeat](env.Take())
	if len(hbs) != 1 || len(hbs[0].Replicas) != 1 || hbs[0].Replicas[0].Load.GetLockFloor() != lockTS {
		t.Fatalf("want a heartbeat reporting the lock floor %d (the lock, below the safe point %d), got %v", lockTS, safe, hbs)
	}
}

// Invariant gc-below-locks: a gc point above a lock the shard still holds
// (meta's gc-ignores-locks canary hands out such points) stops the replica
// that applies it.
func TestGCBelowALockIsRefused(t *testing.T) {
	env, s := readyPrimary(t, "")
	lockTS := nextTS()
	commitEntry(t, env, s, txnOp(1, command.TxnPrewrite,
		&wire.Txn{StartTs: lockTS, Primary: []byte("k"), ExpiresTs: lockTS + 1000}, []string{"k"}, "v"))
	safe := nextTS()
	es := gcGrant(env, s, safe, safe)
	if len(es) != 1 {
		t.Fatalf("want one gc entry, got %v", es)
	}
	defer func() {
		if p := recover(); p == nil || !strings.Contains(p.(string), "gc-below-locks") {
			t.Fatalf("applying a gc point above a held lock: want the gc-below-locks panic, got %v", p)
		}
	}()
	ackAll(env, s, es[0].Seq)
}
