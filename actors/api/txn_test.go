package api

import (
	"time"

	"strings"
	"testing"

	"castkv/actors"
	"castkv/actors/command"
	"castkv/actors/roletest"
	"castkv/actors/wire"
)

// commitsOf are the Commits sent, whether alone or in a Requests.
func commitsOf(sent []roletest.Sent) []*wire.Commit { return roletest.Of[*wire.Commit](sent) }

func replyTo(a *API, env *roletest.Env, from actors.Addr, c *wire.Commit, st wire.Status, rep *wire.Reply, lock *wire.Lock) {
	a.Handle(env, from, &wire.CommitReply{Shard: c.Shard, Op: c.Op, Status: st, Reply: rep, Lock: lock})
}

// An MSET across shards is a transaction: both shards prewrite at one
// start timestamp, the primary key's shard commits at a later timestamp
// and the client hears OK then, not before; the other shard commits
// after, and the record is forgotten once it has.
func TestMsetAcrossShardsIsATransaction(t *testing.T) {
	env, a := startSharded(t)
	defer env.Close()
	// foo is slot 12182 (shard 1, data2), bar 5061 (shard 0, data1).
	a.Handle(env, "client1", &wire.ClientRequest{Id: 4, Args: args("MSET", "foo", "1", "bar", "2")})
	pre := commitsOf(take(env, a))
	if len(pre) != 2 {
		t.Fatalf("want two prewrites, got %v", pre)
	}
	start := pre[0].Command.Txn.GetStartTs()
	for _, c := range pre {
		if command.Kind(c.Command.Kind) != command.TxnPrewrite || c.Command.Txn.StartTs != start || string(c.Command.Txn.Primary) != "foo" {
			t.Fatalf("want prewrites at one start ts with primary foo, got %v", c)
		}
	}
	replyTo(a, env, "data2", pre[0], wire.Status_OK, command.OK(), nil)
	if sent := commitsOf(take(env, a)); len(sent) != 0 {
		t.Fatalf("committed before every prewrite was answered: %v", sent)
	}
	replyTo(a, env, "data1", pre[1], wire.Status_OK, command.OK(), nil)
	sent := take(env, a)
	cp := commitsOf(sent)
	if len(cp) != 1 || cp[0].Shard != 1 || command.Kind(cp[0].Command.Kind) != command.TxnCommit || cp[0].Command.Txn.CommitTs <= start {
		t.Fatalf("want the primary's shard committed above the start ts, got %v", sent)
	}
	if len(roletest.Of[*wire.ClientReply](sent)) != 0 {
		t.Fatal("the client was answered before the primary key committed")
	}
	replyTo(a, env, "data2", cp[0], wire.Status_OK, command.FateReply(command.FateCommitted, cp[0].Command.Txn.CommitTs), nil)
	sent = take(env, a)
	got := roletest.Of[*wire.ClientReply](sent)
	sec := commitsOf(sent)
	if len(got) != 1 || got[0].Reply.Str != "OK" || len(sec) != 1 || sec[0].Shard != 0 || sec[0].Command.Txn.CommitTs != cp[0].Command.Txn.CommitTs {
		t.Fatalf("want OK to the client and shard 0 committed at the same ts, got %v", sent)
	}
	replyTo(a, env, "data1", sec[0], wire.Status_OK, command.OK(), nil)
	forget := commitsOf(take(env, a))
	if len(forget) != 1 || command.Kind(forget[0].Command.Kind) != command.TxnForget || forget[0].Shard != 1 {
		t.Fatalf("want the record forgotten at shard 1, got %v", forget)
	}
}

// A prewrite that meets another transaction's lock rolls back what was
// prewritten (the primary key's with a record), resolves the lock through
// its primary key, and starts again at a new start timestamp.
func TestLockedPrewriteRollsBackAndResolves(t *testing.T) {
	env, a := startSharded(t)
	defer env.Close()
	a.Handle(env, "client1", &wire.ClientRequest{Id: 1, Args: args("DEL", "foo", "bar")})
	pre := commitsOf(take(env, a))
	start := pre[0].Command.Txn.StartTs
	other := &wire.Lock{Primary: []byte("x"), StartTs: start - 5, ExpiresTs: start - 1, Key: []byte("bar")}
	replyTo(a, env, "data2", pre[0], wire.Status_OK, command.Int(1), nil)
	replyTo(a, env, "data1", pre[1], wire.Status_LOCKED, nil, other)
	sent := commitsOf(take(env, a))
	var rollbacks, checks int
	for _, c := range sent {
		switch {
		case command.Kind(c.Command.Kind) == command.TxnCommit && c.Command.Txn.Rollback && c.Command.Txn.StartTs == start:
			rollbacks++
		case command.Kind(c.Command.Kind) == command.TxnCheck:
			checks++
			if string(c.Command.Keys[0]) != "x" || !c.Command.Txn.RollbackIfAbsent {
				t.Fatalf("want the expired lock checked at its primary key x, rolling back if absent: %v", c)
			}
			replyTo(a, env, "data2", c, wire.Status_OK, command.FateReply(command.FateRolledBack, 0), nil)
		}
	}
	if rollbacks != 2 || checks != 1 {
		t.Fatalf("want both parts rolled back and one check, got %v", sent)
	}
	sent = commitsOf(take(env, a))
	if len(sent) != 1 || !sent[0].Command.Txn.Rollback || string(sent[0].Command.Keys[0]) != "bar" || sent[0].Command.Txn.StartTs != start-5 {
		t.Fatalf("want bar's lock rolled back, got %v", sent)
	}
	replyTo(a, env, "data1", sent[0], wire.Status_OK, command.OK(), nil)
	again := commitsOf(take(env, a))
	if len(again) != 2 || command.Kind(again[0].Command.Kind) != command.TxnPrewrite || again[0].Command.Txn.StartTs <= start {
		t.Fatalf("want the transaction again at a new start ts, got %v", again)
	}
}

// A read refused LOCKED by a live transaction waits and reads again at a
// new timestamp; it does not roll the transaction back.
func TestReadMeetsLiveLock(t *testing.T) {
	env, a := startSharded(t)
	defer env.Close()
	a.Handle(env, "client1", &wire.ClientRequest{Id: 1, Args: args("GET", "foo")})
	reads := roletest.Of[*wire.Read](take(env, a))
	ts := reads[0].Ts
	lock := &wire.Lock{Primary: []byte("bar"), StartTs: ts - 1, ExpiresTs: ts + 1000, Key: []byte("foo")}
	a.Handle(env, "data2", &wire.ReadReply{Shard: 1, Id: reads[0].Id, Incarnation: reads[0].Incarnation, Ts: ts, Status: wire.Status_LOCKED, Lock: lock})
	checks := commitsOf(take(env, a))
	if len(checks) != 1 || checks[0].Command.Txn.RollbackIfAbsent || checks[0].Shard != 0 {
		t.Fatalf("want one check at bar's shard that does not roll back, got %v", checks)
	}
	replyTo(a, env, "data1", checks[0], wire.Status_OK, command.FateReply(command.FateAlive, 0), nil)
	env.Advance(a.cfg.RetryBackoff * 8)
	again := roletest.Of[*wire.Read](take(env, a))
	if len(again) != 1 || again[0].Ts <= ts {
		t.Fatalf("want the GET again at a new timestamp, got %v", again)
	}
	if strings.Contains(again[0].String(), "txn") {
		t.Fatal("the read carries a transaction")
	}
}

// A one-shard MSET whose Commit went out before a split spread its keys
// over two shards is settled at the shard it went to before it may run as
// a transaction: run anew with ids of its own, it would run twice if that
// shard had applied it (castsim seed 1 of the split fault: a DEL counted 0
// after deleting). If the shard ran it, the client gets its result; if the
// shard records that it never ran, it goes on as a transaction.
func TestSplitSettlesAOneShardWriteFirst(t *testing.T) {
	for _, tc := range []struct {
		name    string
		settled *wire.Reply
		txn     bool
	}{
		{"ran", command.OK(), false},
		{"never ran", command.Aborted(), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, a := start(t, Config{RequestTimeout: 8 * time.Second, AttemptTimeout: time.Second})
			defer env.Close()
			// foo is slot 12182, bar 5061: one shard now, two after the split.
			a.Handle(env, "client1", &wire.ClientRequest{Id: 1, Args: args("MSET", "foo", "1", "bar", "2")})
			first := commitsOf(take(env, a))
			if len(first) != 1 || first[0].Abort || first[0].Op == nil {
				t.Fatalf("want one Commit of the MSET to shard 0, got %v", first)
			}
			parent := &wire.Config{Shard: 0, Version: 2, Primary: "data1", Secondaries: []string{"data2"}, SlotStart: 0, SlotEnd: 8192, RangeEpoch: 1}
			child := &wire.Config{Shard: 1, Version: 1, Primary: "data1", Secondaries: []string{"data2"}, SlotStart: 8192, SlotEnd: 16384, RangeEpoch: 1, SplitBorn: true}
			a.Handle(env, "data1", &wire.CommitReply{Shard: 0, Op: first[0].Op, Status: wire.Status_STALE_CONFIG, Config: parent})
			a.Handle(env, "meta", &wire.ConfigUpdate{Configs: []*wire.Config{parent, child}})
			var abort *wire.Commit
			var sent []roletest.Sent
			for i := 0; i < 50 && abort == nil; i++ {
				env.Advance(50 * time.Millisecond)
				env.FireDue(a)
				sent = take(env, a)
				for _, c := range commitsOf(sent) {
					if c.Abort {
						abort = c
					} else if command.Kind(c.Command.GetKind()) == command.TxnPrewrite {
						t.Fatalf("prewrote before the shard the Commit went to settled it: %v", c)
					}
				}
			}
			if abort == nil || abort.Shard != 0 || abort.Op.GetCounter() != first[0].Op.GetCounter() {
				t.Fatalf("want the op settled at shard 0 (abort of op %v), got %v", first[0].Op, abort)
			}
			replyTo(a, env, "data1", abort, wire.Status_OK, tc.settled, nil)
			sent = take(env, a)
			for i := 0; i < 50 && len(commitsOf(sent)) == 0 && len(roletest.Of[*wire.ClientReply](sent)) == 0; i++ {
				env.Advance(50 * time.Millisecond)
				env.FireDue(a)
				sent = append(sent, take(env, a)...)
			}
			replies, commits := roletest.Of[*wire.ClientReply](sent), commitsOf(sent)
			if !tc.txn {
				if len(replies) != 1 || replies[0].Reply.Str != "OK" || len(commits) != 0 {
					t.Fatalf("the shard ran it: want its result to the client and nothing more sent, got %v", sent)
				}
				return
			}
			if len(replies) != 0 || len(commits) != 2 || command.Kind(commits[0].Command.Kind) != command.TxnPrewrite {
				t.Fatalf("it never ran: want it prewritten on both shards, got %v", sent)
			}
		})
	}
}

// MSETNX across shards is a transaction whose prewrites count the live
// keys: if any shard holds one, everything prewritten is rolled back (the
// primary key's with a record) and the client hears 0; if none, it
// commits as MSET does and the client hears 1.
func TestMsetnxAcrossShards(t *testing.T) {
	for _, tc := range []struct {
		name    string
		liveBar int64 // shard 0's count of live keys
		want    int64
	}{
		{"a key exists", 1, 0},
		{"none exists", 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, a := startSharded(t)
			defer env.Close()
			a.Handle(env, "client1", &wire.ClientRequest{Id: 1, Args: args("MSETNX", "foo", "1", "bar", "2")})
			pre := commitsOf(take(env, a))
			if len(pre) != 2 || !pre[0].Command.Txn.CountLive || pre[0].Command.Txn.Delete || len(pre[0].Command.Values) != 1 {
				t.Fatalf("want two prewrites that count live keys and carry values, got %v", pre)
			}
			replyTo(a, env, "data2", pre[0], wire.Status_OK, command.Int(0), nil)
			replyTo(a, env, "data1", pre[1], wire.Status_OK, command.Int(tc.liveBar), nil)
			sent := take(env, a)
			got := roletest.Of[*wire.ClientReply](sent)
			next := commitsOf(sent)
			if tc.want == 0 {
				if len(got) != 1 || got[0].Reply.Int != 0 {
					t.Fatalf("want :0 to the client at once, got %v", sent)
				}
				if len(next) != 2 || !next[0].Command.Txn.Rollback || !next[1].Command.Txn.Rollback {
					t.Fatalf("want both shards rolled back, got %v", next)
				}
				return
			}
			if len(got) != 0 || len(next) != 1 || next[0].Command.Txn.Rollback || next[0].Command.Txn.CommitTs == 0 {
				t.Fatalf("want the primary key's shard committed before any reply, got %v", sent)
			}
			replyTo(a, env, "data2", next[0], wire.Status_OK, command.FateReply(command.FateCommitted, next[0].Command.Txn.CommitTs), nil)
			got = roletest.Of[*wire.ClientReply](take(env, a))
			if len(got) != 1 || got[0].Reply.Int != 1 {
				t.Fatalf("want :1 once the primary key committed, got %v", got)
			}
		})
	}
}

// execArgs is EXEC of a MULTI block, as the RESP port sends it.
func execArgs(argvs ...[]string) [][]byte {
	var block [][][]byte
	for _, a := range argvs {
		block = append(block, args(a...))
	}
	return command.ExecArgs(block, nil)
}

// A MULTI block across shards is a transaction: each shard prewrites its
// commands (in the block's order), the client hears the replies stitched
// back into the block's order once the primary key's shard commits, and a
// key the block saw live that expires before the commit timestamp starts
// it again.
func TestBlockAcrossShardsIsATransaction(t *testing.T) {
	for _, expires := range []bool{false, true} {
		t.Run(map[bool]string{false: "commits", true: "a key expires first"}[expires], func(t *testing.T) {
			env, a := startSharded(t)
			defer env.Close()
			// foo: shard 1 (data2); bar: shard 0 (data1).
			a.Handle(env, "client1", &wire.ClientRequest{Id: 7, Args: execArgs(
				[]string{"INCR", "foo"}, []string{"GET", "bar"}, []string{"SET", "foo", "x"}, []string{"DEL", "bar"})})
			pre := commitsOf(take(env, a))
			if len(pre) != 2 {
				t.Fatalf("want two prewrites, got %v", pre)
			}
			byShard := map[uint32]*wire.Commit{}
			for _, c := range pre {
				byShard[c.Shard] = c
				if command.Kind(c.Command.Kind) != command.TxnPrewrite || string(c.Command.Txn.Primary) != "foo" {
					t.Fatalf("want block prewrites with primary foo, got %v", c)
				}
			}
			if s := byShard[1].Command.Sub; len(s) != 2 || s[0].Name != "incr" || s[1].Name != "set" {
				t.Fatalf("shard 1's part: want INCR foo, SET foo, got %v", byShard[1].Command)
			}
			if s := byShard[0].Command.Sub; len(s) != 2 || s[0].Name != "get" || s[1].Name != "del" {
				t.Fatalf("shard 0's part: want GET bar, DEL bar, got %v", byShard[0].Command)
			}
			soonest := int64(0)
			if expires {
				soonest = wire.TSMillis(nextTS) // gone at the commit timestamp
			}
			replyTo(a, env, "data2", byShard[1], wire.Status_OK, command.Array(command.Int(0), command.Array(command.Int(1), command.OK())), nil)
			replyTo(a, env, "data1", byShard[0], wire.Status_OK, command.Array(command.Int(soonest), command.Array(command.Bulk([]byte("b")), command.Int(1))), nil)
			env.Advance(a.cfg.RetryBackoff * 8)
			sent := take(env, a)
			cp := commitsOf(sent)
			if expires {
				var rollbacks, prewrites int
				for _, c := range cp {
					switch {
					case command.Kind(c.Command.Kind) == command.TxnCommit && c.Command.Txn.Rollback:
						rollbacks++
					case command.Kind(c.Command.Kind) == command.TxnPrewrite && c.Command.Txn.StartTs > pre[0].Command.Txn.StartTs:
						prewrites++
					case command.Kind(c.Command.Kind) == command.TxnCommit:
						t.Fatalf("committed a block whose read key expired before the commit: %v", c)
					}
				}
				env.Advance(a.cfg.RetryBackoff * 8)
				for _, c := range commitsOf(take(env, a)) {
					if command.Kind(c.Command.Kind) == command.TxnPrewrite && c.Command.Txn.StartTs > pre[0].Command.Txn.StartTs {
						prewrites++
					}
				}
				if rollbacks != 2 || prewrites != 2 {
					t.Fatalf("want both parts rolled back and prewritten again, got %v", cp)
				}
				return
			}
			if len(cp) != 1 || cp[0].Shard != 1 || command.Kind(cp[0].Command.Kind) != command.TxnCommit {
				t.Fatalf("want the primary's shard committed, got %v", sent)
			}
			replyTo(a, env, "data2", cp[0], wire.Status_OK, command.FateReply(command.FateCommitted, cp[0].Command.Txn.CommitTs), nil)
			got := roletest.Of[*wire.ClientReply](take(env, a))
			if len(got) != 1 {
				t.Fatalf("want the client answered, got %v", got)
			}
			r := got[0].Reply
			if r.Kind != wire.Reply_ARRAY || len(r.Array) != 4 || r.Array[0].Int != 1 || string(r.Array[1].Bulk) != "b" ||
				r.Array[2].Str != "OK" || r.Array[3].Int != 1 {
				t.Fatalf("want [1 b OK 1] in the block's order, got %v", r)
			}
		})
	}
}

// A command inside a block whose own keys span shards is refused CROSSSLOT
// before anything runs.
func TestBlockCommandAcrossShardsIsRefused(t *testing.T) {
	env, a := startSharded(t)
	defer env.Close()
	a.Handle(env, "client1", &wire.ClientRequest{Id: 1, Args: execArgs([]string{"GET", "foo"}, []string{"MSET", "foo", "1", "bar", "2"})})
	sent := take(env, a)
	got := roletest.Of[*wire.ClientReply](sent)
	if len(got) != 1 || !strings.HasPrefix(got[0].Reply.Str, "CROSSSLOT MSET") || len(commitsOf(sent)) != 0 {
		t.Fatalf("want CROSSSLOT for MSET and nothing sent, got %v", sent)
	}
}

// A block with WATCH across shards: each shard's prewrite carries what
// WATCH saw of its own keys (and locks them); a shard answering that one
// changed makes EXEC nil, and every part is rolled back.
func TestWatchedBlockAcrossShards(t *testing.T) {
	env, a := startSharded(t)
	defer env.Close()
	watch := &wire.Watch{Ts: 5, Keys: [][]byte{[]byte("bar"), []byte("foo")}, Versions: []uint64{3, 4}}
	var block [][][]byte
	block = append(block, args("SET", "foo", "1"))
	a.Handle(env, "client1", &wire.ClientRequest{Id: 3, Args: command.ExecArgs(block, watch)})
	pre := commitsOf(take(env, a))
	if len(pre) != 2 {
		t.Fatalf("want two prewrites, got %v", pre)
	}
	for _, c := range pre {
		w := c.Command.Watch
		switch c.Shard {
		case 1: // foo: the SET and foo's version
			if len(c.Command.Sub) != 1 || w == nil || len(w.Keys) != 1 || string(w.Keys[0]) != "foo" || w.Versions[0] != 4 {
				t.Fatalf("shard 1's prewrite: want SET foo watching foo at 4, got %v", c.Command)
			}
		case 0: // bar: only bar's version
			if len(c.Command.Sub) != 0 || w == nil || len(w.Keys) != 1 || string(w.Keys[0]) != "bar" || w.Versions[0] != 3 {
				t.Fatalf("shard 0's prewrite: want no command, watching bar at 3, got %v", c.Command)
			}
		}
	}
	for _, c := range pre {
		rep := command.Array(command.Int(0), command.Array(command.OK()))
		if c.Shard == 0 {
			rep = command.Array(command.Int(0), command.Nil()) // bar changed
		}
		replyTo(a, env, map[uint32]actors.Addr{0: "data1", 1: "data2"}[c.Shard], c, wire.Status_OK, rep, nil)
	}
	sent := take(env, a)
	got := roletest.Of[*wire.ClientReply](sent)
	rollbacks := 0
	for _, c := range commitsOf(sent) {
		if command.Kind(c.Command.Kind) != command.TxnCommit || !c.Command.Txn.Rollback {
			t.Fatalf("want only rollbacks, got %v", c)
		}
		rollbacks++
	}
	if len(got) != 1 || got[0].Reply.Kind != wire.Reply_NIL || rollbacks != 2 {
		t.Fatalf("want EXEC nil and both parts rolled back, got %v", sent)
	}
}
