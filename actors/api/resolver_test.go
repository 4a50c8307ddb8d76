package api

import (
	"testing"
	"time"

	"castkv/actors"
	"castkv/actors/command"
	"castkv/actors/roletest"
	"castkv/actors/wire"
)

// The background lock resolver: every ResolveEvery it asks each shard in
// turn, at one fresh timestamp, for the keys whose locks expired, then
// reads each. A read that meets such a lock resolves it through its
// primary key, rolling back a transaction that expired, and reads again.
// The next round begins ResolveEvery after this one ends.
func TestResolverReadsKeysWithExpiredLocks(t *testing.T) {
	env, a := startSharded(t)
	defer env.Close()
	if got := roletest.Of[*wire.Read](take(env, a)); len(got) != 0 {
		t.Fatalf("reads before the first round: %v", got)
	}
	env.Advance(a.cfg.ResolveEvery)
	scan := func(shard uint32, keys ...string) uint64 {
		t.Helper()
		reads := roletest.Of[*wire.Read](take(env, a))
		if len(reads) != 1 || command.Kind(reads[0].Command.Kind) != command.TxnLocks || reads[0].Shard != shard {
			t.Fatalf("want one TxnLocks read of shard %d, got %v", shard, reads)
		}
		out := make([]*wire.Reply, len(keys))
		for i, k := range keys {
			out[i] = command.Bulk([]byte(k))
		}
		a.Handle(env, []actors.Addr{"data1", "data2"}[shard], &wire.ReadReply{Shard: shard, Id: reads[0].Id, Incarnation: reads[0].Incarnation,
			Ts: reads[0].Ts, Status: wire.Status_OK, Reply: command.Array(out...)})
		return reads[0].Ts
	}
	scanTS := scan(0, "bar")
	if ts := scan(1, "foo"); ts != scanTS {
		t.Fatalf("shard 1 was asked at %d, shard 0 at %d: want one timestamp", ts, scanTS)
	}
	gets := map[string]*wire.Read{}
	for _, r := range roletest.Of[*wire.Read](take(env, a)) {
		if command.Kind(r.Command.Kind) == command.Get && r.Ts > scanTS {
			gets[string(r.Command.Keys[0])] = r
		}
	}
	if len(gets) != 2 || gets["bar"].GetShard() != 0 || gets["foo"].GetShard() != 1 {
		t.Fatalf("want a GET of bar at shard 0 and of foo at shard 1 after the scan's timestamp, got %v", gets)
	}
	a.Handle(env, "data1", &wire.ReadReply{Shard: 0, Id: gets["bar"].Id, Incarnation: gets["bar"].Incarnation, Ts: gets["bar"].Ts,
		Status: wire.Status_OK, Reply: command.Nil()})
	// foo is locked by a transaction with primary key bar, expired at the scan.
	lock := &wire.Lock{Primary: []byte("bar"), StartTs: scanTS - 10, ExpiresTs: scanTS - 1, Key: []byte("foo")}
	a.Handle(env, "data2", &wire.ReadReply{Shard: 1, Id: gets["foo"].Id, Incarnation: gets["foo"].Incarnation, Ts: gets["foo"].Ts,
		Status: wire.Status_LOCKED, Lock: lock})
	checks := commitsOf(take(env, a))
	if len(checks) != 1 || command.Kind(checks[0].Command.Kind) != command.TxnCheck || checks[0].Shard != 0 || !checks[0].Command.Txn.RollbackIfAbsent {
		t.Fatalf("want a TxnCheck at bar's shard that rolls the expired transaction back, got %v", checks)
	}
	replyTo(a, env, "data1", checks[0], wire.Status_OK, command.FateReply(command.FateRolledBack, 0), nil)
	rollbacks := commitsOf(take(env, a))
	if len(rollbacks) != 1 || command.Kind(rollbacks[0].Command.Kind) != command.TxnCommit || !rollbacks[0].Command.Txn.Rollback ||
		string(rollbacks[0].Command.Keys[0]) != "foo" {
		t.Fatalf("want foo's lock rolled back, got %v", rollbacks)
	}
	replyTo(a, env, "data2", rollbacks[0], wire.Status_OK, command.OK(), nil)
	again := roletest.Of[*wire.Read](take(env, a))
	if len(again) != 1 || string(again[0].Command.Keys[0]) != "foo" {
		t.Fatalf("want foo read again once its lock is resolved, got %v", again)
	}
	a.Handle(env, "data2", &wire.ReadReply{Shard: 1, Id: again[0].Id, Incarnation: again[0].Incarnation, Ts: again[0].Ts,
		Status: wire.Status_OK, Reply: command.Nil()})
	// The round is over; the next begins ResolveEvery later.
	env.Advance(a.cfg.ResolveEvery - time.Millisecond)
	if reads := roletest.Of[*wire.Read](take(env, a)); len(reads) != 0 {
		t.Fatalf("a read before the next round is due: %v", reads)
	}
	env.Advance(time.Millisecond)
	scan(0)
	scan(1)
	if sent := take(env, a); len(sent) != 0 {
		t.Fatalf("after a round that found nothing: %v", sent)
	}
}
