package api

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"castkv/actors"
	"castkv/actors/command"
	"castkv/actors/roletest"
	"castkv/actors/wire"
)

func start(t *testing.T, cfg Config) (*roletest.Env, *API) {
	t.Helper()
	env := roletest.New("api1", 1)
	cfg.Meta = []actors.Addr{"meta"}
	a := New(cfg)
	a.Start(env)
	a.Handle(env, "meta", &wire.ConfigUpdate{Session: 42, Configs: []*wire.Config{{Shard: 0, Version: 1, Primary: "data1", Secondaries: []string{"data2"}}}})
	take(env, a)
	return env, a
}

func args(s ...string) [][]byte {
	var out [][]byte
	for _, a := range s {
		out = append(out, []byte(a))
	}
	return out
}

// Hole 5: request ids restart with every API process, so a late read reply
// meant for an earlier process must not answer a new read with the same id.
func TestReadReplyOfAnotherProcessIsIgnored(t *testing.T) {
	env, a := start(t, Config{})
	defer env.Close()
	a.Handle(env, "client1", &wire.ClientRequest{Id: 1, Args: args("GET", "k")})
	reads := roletest.Of[*wire.Read](take(env, a))
	if len(reads) != 1 {
		t.Fatalf("want one Read, got %v", reads)
	}
	stale := &wire.ReadReply{Shard: 0, Id: reads[0].Id, Incarnation: reads[0].Incarnation + 1,
		Reply: &wire.Reply{Kind: wire.Reply_BULK, Bulk: []byte("another key's value")}}
	a.Handle(env, "data1", stale)
	if got := roletest.Of[*wire.ClientReply](take(env, a)); len(got) != 0 {
		t.Fatalf("a reply for another process's read %d answered the client: %v", reads[0].Id, got)
	}
	a.Handle(env, "data1", &wire.ReadReply{Shard: 0, Id: reads[0].Id, Incarnation: reads[0].Incarnation, Reply: &wire.Reply{Kind: wire.Reply_NIL}})
	if got := roletest.Of[*wire.ClientReply](take(env, a)); len(got) != 1 || got[0].Reply.Kind != wire.Reply_NIL {
		t.Fatalf("the matching reply did not answer the client: %v", got)
	}
}

// Hole 8: a command larger than any frame can carry gets -ERR at once.
func TestOversizedCommandRefusedAtOnce(t *testing.T) {
	env, a := start(t, Config{})
	defer env.Close()
	v := strings.Repeat("x", 40<<20)
	a.Handle(env, "client1", &wire.ClientRequest{Id: 1, Args: args("MSET", "a", v, "b", v)})
	sent := take(env, a)
	got := roletest.Of[*wire.ClientReply](sent)
	if len(sent) != 1 || len(got) != 1 || got[0].Reply.Kind != wire.Reply_ERROR || !strings.HasPrefix(got[0].Reply.Str, "ERR MSET command of") {
		t.Fatalf("an 80 MiB MSET: sent %d messages, replies %v; want one -ERR and nothing else", len(sent), got)
	}
}

// Writes carry the session meta issued, and a forgotten session makes the
// write's outcome unknown and the API ask for a new session.
func TestSessionExpiredAsksForANewSession(t *testing.T) {
	env, a := start(t, Config{})
	defer env.Close()
	a.Handle(env, "client1", &wire.ClientRequest{Id: 1, Args: args("SET", "k", "v")})
	commits := roletest.Of[*wire.Commit](take(env, a))
	if len(commits) != 1 || commits[0].Op.Incarnation != 42 {
		t.Fatalf("want one Commit in session 42, got %v", commits)
	}
	env.Advance(time.Second)
	a.Handle(env, "data1", &wire.CommitReply{Shard: 0, Op: commits[0].Op, Status: wire.Status_SESSION_EXPIRED})
	sent := take(env, a)
	replies := roletest.Of[*wire.ClientReply](sent)
	if len(replies) != 1 || !strings.HasPrefix(replies[0].Reply.Str, "UNCERTAIN") {
		t.Fatalf("want -UNCERTAIN, got %v", replies)
	}
	if asks := roletest.Of[*wire.GetConfig](sent); len(asks) != 1 || !asks[0].NewSession {
		t.Fatalf("want a request for a new session, got %v", asks)
	}
}

// Large values get attempts long enough to cross: the API does not resend
// a 30 MiB Stage to every replica every AttemptTimeout.
func TestLargeValueIsNotResentEveryAttempt(t *testing.T) {
	env, a := start(t, Config{})
	defer env.Close()
	a.Handle(env, "client1", &wire.ClientRequest{Id: 1, Args: args("SET", "k", strings.Repeat("x", 30<<20))})
	stages := len(roletest.Of[*wire.Stage](take(env, a)))
	env.Step(a, 2*time.Second, 10*time.Millisecond)
	if again := len(roletest.Of[*wire.Stage](take(env, a))); again != 0 {
		t.Fatalf("the 30 MiB value was staged %d times, then %d more within 2 s", stages, again)
	}
	// Nor did its first attempt time out while the value is still on its
	// way (30 MiB at 8 MiB/s): the backoff after a silent attempt alone
	// would hide that here.
	for _, r := range a.reqs {
		if r.refusals > 0 {
			t.Fatalf("the attempt gave up after %d tries (last: %s) within 2 s, before the value could arrive", r.refusals, r.lastRefusal)
		}
	}
}

// A shard that keeps refusing (no lease, a failover under way) does not get
// a large value resent every backoff: retries back off, and never come
// sooner than the value takes to cross.
func TestRefusedLargeValueBacksOff(t *testing.T) {
	env, a := start(t, Config{InlineValueBytes: 4 << 20, RetryBackoff: 5 * time.Millisecond})
	defer env.Close()
	a.Handle(env, "client1", &wire.ClientRequest{Id: 1, Args: args("SET", "k", strings.Repeat("x", 1<<20))})
	commits := 0
	for i := 0; i < 300; i++ { // 3 s
		for _, c := range roletest.Of[*wire.Commit](take(env, a)) {
			commits++
			a.Handle(env, "data1", &wire.CommitReply{Shard: 0, Op: c.Op, Status: wire.Status_NOT_READY})
		}
		env.Step(a, 10*time.Millisecond, 10*time.Millisecond)
	}
	// 1 MiB crosses in 125 ms at 8 MiB/s: at most 24 attempts in 3 s.
	if commits == 0 || commits > 25 {
		t.Fatalf("a 1 MiB SET refused for 3 s was sent %d times", commits)
	}
	t.Logf("a 1 MiB SET refused for 3 s was sent %d times", commits)
}

// A shard that answers nothing gets a staged value's attempts further and
// further apart, as one that refuses does, not one per attempt timeout.
func TestSilentShardStagedValueBacksOff(t *testing.T) {
	env, a := start(t, Config{AttemptTimeout: 100 * time.Millisecond, RetryBackoff: 50 * time.Millisecond,
		RequestTimeout: 10 * time.Second, InlineValueBytes: 1 << 10})
	defer env.Close()
	a.Handle(env, "client1", &wire.ClientRequest{Id: 1, Args: args("SET", "k", strings.Repeat("x", 64<<10))})
	stages := 0
	for i := 0; i < 300; i++ { // 3 s of silence
		stages += len(roletest.Of[*wire.Stage](take(env, a)))
		env.Step(a, 10*time.Millisecond, 10*time.Millisecond)
	}
	// Two replicas; attempt (100 ms) plus backoff 50, 100, 200, then 400
	// ms: about 7 rounds in 3 s; retrying at each timeout would be 30.
	if stages == 0 || stages > 2*10 {
		t.Fatalf("a staged SET to a silent shard was staged %d times in 3 s, want at most 20", stages)
	}
}

// take fires the timers due (the SEND tick among them) and returns what
// the API sent.
// take fires the due timers and returns what a sent, after answering its
// GetTS requests as a meta leader would (nextTS, increasing), until it asks
// for no more.
func take(env *roletest.Env, a *API) []roletest.Sent {
	var out []roletest.Sent
	for {
		env.FireDue(a)
		asked := false
		for _, s := range env.Take() {
			if g, ok := s.Msg.(*wire.GetTS); ok {
				a.Handle(env, s.To, &wire.TSReply{Id: g.Id, Incarnation: g.Incarnation, First: nextTS, Count: g.Count})
				nextTS += uint64(g.Count)
				asked = true
				continue
			}
			out = append(out, s)
		}
		if !asked {
			return out
		}
	}
}

var nextTS uint64 = 1 << 40

// Batching: the Commits and Reads of requests that arrive before the SEND
// tick go to their data server in one Requests, in arrival order; one
// request alone goes as it is.
func TestRequestsArrivingTogetherShareOneMessage(t *testing.T) {
	env, a := start(t, Config{})
	defer env.Close()
	a.Handle(env, "client1", &wire.ClientRequest{Id: 1, Args: args("SET", "k1", "v")})
	a.Handle(env, "client1", &wire.ClientRequest{Id: 2, Args: args("GET", "k2")})
	a.Handle(env, "client2", &wire.ClientRequest{Id: 1, Args: args("SET", "k3", "v")})
	for _, s := range env.Take() {
		g, ok := s.Msg.(*wire.GetTS)
		if !ok {
			t.Fatalf("sent %v before the SEND tick, want only a GetTS", s)
		}
		a.Handle(env, s.To, &wire.TSReply{Id: g.Id, Incarnation: g.Incarnation, First: nextTS, Count: g.Count})
		nextTS += uint64(g.Count)
	}
	sent := take(env, a)
	if len(sent) != 1 || sent[0].To != "data1" {
		t.Fatalf("three requests for data1 went out as %d messages, want one", len(sent))
	}
	b, ok := sent[0].Msg.(*wire.Requests)
	if !ok || len(b.Commits) != 2 || len(b.Reads) != 1 ||
		string(b.Commits[0].Command.Keys[0]) != "k1" || string(b.Commits[1].Command.Keys[0]) != "k3" {
		t.Fatalf("want Requests with the commits of k1 then k3 and one read, got %v", sent[0].Msg)
	}
	a.Handle(env, "client1", &wire.ClientRequest{Id: 3, Args: args("GET", "k1")})
	sent = take(env, a)
	if len(sent) != 1 {
		t.Fatalf("a lone read went out as %d messages, want one", len(sent))
	}
	if _, ok := sent[0].Msg.(*wire.Read); !ok {
		t.Fatalf("a lone read went out as %T, want a bare Read", sent[0].Msg)
	}
}

// A write whose Commit went out and was never answered is settled before
// its deadline: the API asks the primary to abort the op, and answers
// -TRYAGAIN when the primary records that it never ran, or the op's real
// result when it did; -UNCERTAIN only when no answer comes at all.
func TestUnansweredWriteIsSettledByAbort(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer *wire.Reply // the primary's answer to the abort; nil: none
		want   string
	}{
		{"never ran", command.Aborted(), "TRYAGAIN"},
		{"ran", command.OK(), "OK"},
		{"no answer", nil, "UNCERTAIN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, a := start(t, Config{RequestTimeout: 8 * time.Second, AttemptTimeout: time.Second})
			defer env.Close()
			a.Handle(env, "client1", &wire.ClientRequest{Id: 1, Args: args("SET", "k", "v")})
			var aborts []*wire.Commit
			var replies []*wire.ClientReply
			for i := 0; i < 100 && len(replies) == 0; i++ {
				env.Advance(100 * time.Millisecond)
				env.FireDue(a)
				sent := take(env, a)
				replies = roletest.Of[*wire.ClientReply](sent)
				for _, c := range roletest.Of[*wire.Commit](sent) {
					if c.Abort {
						aborts = append(aborts, c)
						if tc.answer != nil {
							a.Handle(env, "data1", &wire.CommitReply{Shard: 0, Op: c.Op, Status: wire.Status_OK, Reply: tc.answer})
							replies = roletest.Of[*wire.ClientReply](take(env, a))
						}
					}
				}
			}
			if len(aborts) == 0 {
				t.Fatal("the API never asked the primary to settle the unanswered write")
			}
			if len(replies) != 1 || !strings.HasPrefix(replies[0].Reply.Str, tc.want) {
				t.Fatalf("the client got %v, want %s", replies, tc.want)
			}
		})
	}
}

// startSharded starts an API server that knows a map of two shards: slots
// 0-8191 on data1, 8192-16383 on data2.
func startSharded(t *testing.T) (*roletest.Env, *API) {
	t.Helper()
	env := roletest.New("api1", 1)
	a := New(Config{Meta: []actors.Addr{"meta"}})
	a.Start(env)
	a.Handle(env, "meta", &wire.ConfigUpdate{Session: 42, Configs: []*wire.Config{
		{Shard: 0, Version: 1, Primary: "data1", SlotStart: 0, SlotEnd: 8192},
		{Shard: 1, Version: 1, Primary: "data2", SlotStart: 8192, SlotEnd: 16384},
	}})
	take(env, a)
	return env, a
}

// Routing: each key goes to the primary of the shard holding its slot; a
// multi-key command whose keys share a {hash tag} goes to one shard.
func TestCommandsRouteBySlot(t *testing.T) {
	env, a := startSharded(t)
	defer env.Close()
	// foo is slot 12182 (shard 1), bar 5061 (shard 0).
	a.Handle(env, "client1", &wire.ClientRequest{Id: 1, Args: args("GET", "foo")})
	a.Handle(env, "client1", &wire.ClientRequest{Id: 2, Args: args("SET", "bar", "v")})
	a.Handle(env, "client1", &wire.ClientRequest{Id: 3, Args: args("MSET", "{foo}a", "1", "{foo}b", "2")})
	sent := take(env, a)
	for _, s := range sent {
		b, ok := s.Msg.(*wire.Requests)
		if !ok {
			continue
		}
		for _, c := range b.Commits {
			if want := map[string]uint32{"bar": 0, "{foo}a": 1}[string(c.Command.Keys[0])]; c.Shard != want || s.To != []actors.Addr{"data1", "data2"}[want] {
				t.Fatalf("commit of %q went to %s as shard %d", c.Command.Keys[0], s.To, c.Shard)
			}
		}
	}
	reads := roletest.Of[*wire.Read](sent)
	commits := roletest.Of[*wire.Commit](sent)
	if len(reads) != 1 || reads[0].Shard != 1 || len(commits) != 2 {
		t.Fatalf("want GET foo to shard 1 and two commits, got reads %v commits %v (sent %v)", reads, commits, sent)
	}
}

// A read across shards goes to each shard as a read of its own keys, all at
// one timestamp; the answer puts the parts back in the command's order,
// and takes no part of an attempt at another timestamp, nor a part that
// arrives while the read waits to retry.
func TestReadAcrossShardsIsOneSnapshot(t *testing.T) {
	env, a := startSharded(t)
	defer env.Close()
	a.Handle(env, "client1", &wire.ClientRequest{Id: 1, Args: args("MGET", "foo", "bar", "{foo}x")})
	reads := roletest.Of[*wire.Read](take(env, a))
	if len(reads) != 2 || reads[0].Ts == 0 || reads[0].Ts != reads[1].Ts {
		t.Fatalf("want two Reads at one timestamp, got %v", reads)
	}
	byShard := map[uint32]*wire.Read{reads[0].Shard: reads[0], reads[1].Shard: reads[1]}
	r0, r1 := byShard[0], byShard[1]
	if r0 == nil || r1 == nil || len(r0.Command.Keys) != 1 || len(r1.Command.Keys) != 2 {
		t.Fatalf("want bar to shard 0 and foo, {foo}x to shard 1, got %v", reads)
	}
	bulk := func(s string) *wire.Reply { return &wire.Reply{Kind: wire.Reply_BULK, Bulk: []byte(s)} }
	part := func(from actors.Addr, shard uint32, ts uint64, st wire.Status, values ...string) {
		rep := &wire.Reply{Kind: wire.Reply_ARRAY}
		for _, v := range values {
			rep.Array = append(rep.Array, bulk(v))
		}
		a.Handle(env, from, &wire.ReadReply{Shard: shard, Id: r0.Id, Incarnation: r0.Incarnation, Ts: ts, Status: st, Reply: rep})
	}
	noAnswer := func(when string) {
		t.Helper()
		if got := roletest.Of[*wire.ClientReply](take(env, a)); len(got) != 0 {
			t.Fatalf("%s: answered %v", when, got)
		}
	}
	// Shard 0 says the timestamp is too old: the whole read goes again at
	// a new one, and shard 1's answer at the old one is not taken.
	part("data1", 0, r0.Ts, wire.Status_TS_TOO_OLD)
	again := roletest.Of[*wire.Read](take(env, a))
	if len(again) != 2 || again[0].Ts <= r0.Ts || again[0].Ts != again[1].Ts {
		t.Fatalf("after TS_TOO_OLD want two Reads at one newer timestamp, got %v", again)
	}
	ts := again[0].Ts
	part("data2", 1, r1.Ts, wire.Status_OK, "old foo", "old x")
	part("data1", 0, ts, wire.Status_OK, "bar")
	noAnswer("with a part of the old timestamp")
	// Shard 1 refuses; while the read waits to retry, a late answer of
	// that attempt is not taken for the whole.
	part("data2", 1, ts, wire.Status_NOT_READY)
	part("data1", 0, ts, wire.Status_OK, "bar")
	noAnswer("with one part while the read waited to retry")
	env.Advance(time.Second)
	retry := roletest.Of[*wire.Read](take(env, a))
	if len(retry) != 2 || retry[0].Ts != ts {
		t.Fatalf("want the read retried at the same timestamp, got %v", retry)
	}
	part("data1", 0, ts, wire.Status_OK, "bar")
	part("data2", 1, ts, wire.Status_OK, "foo", "x")
	got := roletest.Of[*wire.ClientReply](take(env, a))
	if len(got) != 1 || len(got[0].Reply.Array) != 3 || string(got[0].Reply.Array[0].Bulk) != "foo" ||
		string(got[0].Reply.Array[1].Bulk) != "bar" || string(got[0].Reply.Array[2].Bulk) != "x" {
		t.Fatalf("want [foo bar x], got %v", got)
	}
}

// DBSIZE asks every shard and adds their counts; FLUSHALL over several
// shards is refused.
func TestDBSizeAddsEveryShard(t *testing.T) {
	env, a := startSharded(t)
	defer env.Close()
	a.Handle(env, "client1", &wire.ClientRequest{Id: 1, Args: args("DBSIZE")})
	for i, count := range []int64{3, 4} {
		reads := roletest.Of[*wire.Read](take(env, a))
		if len(reads) != 1 || reads[0].Shard != uint32(i) {
			t.Fatalf("step %d: want one Read of shard %d, got %v", i, i, reads)
		}
		a.Handle(env, actors.Addr([]string{"data1", "data2"}[i]), &wire.ReadReply{Shard: uint32(i), Id: reads[0].Id, Incarnation: reads[0].Incarnation,
			Reply: &wire.Reply{Kind: wire.Reply_INT, Int: count}})
	}
	got := roletest.Of[*wire.ClientReply](take(env, a))
	if len(got) != 1 || got[0].Reply.Int != 7 {
		t.Fatalf("want DBSIZE 7, got %v", got)
	}
	a.Handle(env, "client1", &wire.ClientRequest{Id: 2, Args: args("FLUSHALL")})
	got = roletest.Of[*wire.ClientReply](take(env, a))
	if len(got) != 1 || !strings.HasPrefix(got[0].Reply.Str, "ERR FLUSHALL is not supported on a cluster of 2 shards") {
		t.Fatalf("want FLUSHALL refused, got %v", got)
	}
}

// A refusal carrying a config no newer than ours (a replica meta removed
// still answers with the version it was removed from) sends the API to
// meta; retrying its own stale map would retry forever (castsim seed 28).
func TestStaleRefusalAsksMeta(t *testing.T) {
	env, a := startSharded(t)
	defer env.Close()
	a.Handle(env, "client1", &wire.ClientRequest{Id: 1, Args: args("GET", "bar")})
	reads := roletest.Of[*wire.Read](take(env, a))
	if len(reads) != 1 {
		t.Fatalf("want one Read, got %v", reads)
	}
	env.Advance(100 * time.Millisecond) // past the backoff between asks, before the periodic refresh
	a.Handle(env, "data1", &wire.ReadReply{Shard: 0, Id: reads[0].Id, Incarnation: reads[0].Incarnation, Status: wire.Status_NOT_PRIMARY,
		Config: &wire.Config{Shard: 0, Version: 1, Primary: "data1", SlotStart: 0, SlotEnd: 8192}})
	if asks := roletest.Of[*wire.GetConfig](take(env, a)); len(asks) != 1 {
		t.Fatalf("a refusal with our own config did not send us to meta: %v", asks)
	}
}

// Rule tso at the API: a command's timestamp is fetched after it arrived,
// never one the API server already held. The canary cached-tso gives a
// write the newest timestamp it holds.
func TestTimestampFetchedAfterTheCommandArrived(t *testing.T) {
	for _, canary := range []string{"", CanaryCachedTSO} {
		t.Run("canary="+canary, func(t *testing.T) {
			env, a := start(t, Config{Canary: canary})
			defer env.Close()
			a.Handle(env, "client1", &wire.ClientRequest{Id: 1, Args: args("GET", "k")})
			held := roletest.Of[*wire.Read](take(env, a))[0].Ts
			a.Handle(env, "client1", &wire.ClientRequest{Id: 2, Args: args("SET", "k", "v")})
			commits := roletest.Of[*wire.Commit](take(env, a))
			if len(commits) != 1 {
				t.Fatalf("want one Commit, got %v", commits)
			}
			if fresh := commits[0].Ts > held; fresh != (canary == "") {
				t.Fatalf("canary %q: the SET's timestamp %d, the one held before it arrived %d", canary, commits[0].Ts, held)
			}
		})
	}
}

// CLUSTER INFO and CLUSTER SHARDS describe the map the API server holds,
// answered at once, without asking any data server; a shard without a
// primary makes the cluster's state "fail".
func TestClusterViewFromTheMap(t *testing.T) {
	env, a := startSharded(t)
	defer env.Close()
	a.Handle(env, "meta", &wire.ConfigUpdate{Configs: []*wire.Config{
		{Shard: 1, Version: 3, Primary: "data2", Secondaries: []string{"data3"}, Learners: []string{"data4"}, SlotStart: 8192, SlotEnd: 16384},
	}})
	a.Handle(env, "client1", &wire.ClientRequest{Id: 1, Args: args("CLUSTER", "INFO")})
	a.Handle(env, "client1", &wire.ClientRequest{Id: 2, Args: args("cluster", "shards")})
	a.Handle(env, "client1", &wire.ClientRequest{Id: 3, Args: args("CLUSTER", "NODES")})
	sent := env.Take()
	got := roletest.Of[*wire.ClientReply](sent)
	if len(sent) != 3 || len(got) != 3 {
		t.Fatalf("want three replies and nothing else sent, got %v", sent)
	}
	info := string(got[0].Reply.Bulk)
	for _, want := range []string{"cluster_state:ok\r\n", "cluster_slots_assigned:16384\r\n", "cluster_slots_ok:16384\r\n",
		"cluster_known_nodes:4\r\n", "cluster_size:2\r\n", "cluster_current_epoch:3\r\n"} {
		if !strings.Contains(info, want) {
			t.Errorf("CLUSTER INFO lacks %q:\n%s", want, info)
		}
	}
	shards := got[1].Reply.Array
	if len(shards) != 2 {
		t.Fatalf("CLUSTER SHARDS: want two shards, got %v", got[1].Reply)
	}
	s1 := shards[1].Array
	if string(s1[0].Bulk) != "slots" || s1[1].Array[0].Int != 8192 || s1[1].Array[1].Int != 16383 || len(s1[3].Array) != 3 {
		t.Fatalf("shard 1: want slots 8192-16383 and three nodes, got %v", shards[1])
	}
	learner := s1[3].Array[2].Array
	if string(learner[1].Bulk) != "data4" || string(learner[5].Bulk) != "replica" || string(learner[7].Bulk) != "loading" {
		t.Errorf("the learner's node: %v", learner)
	}
	if got[2].Reply.Kind != wire.Reply_ERROR || !strings.Contains(got[2].Reply.Str, "unknown subcommand 'NODES'") {
		t.Errorf("CLUSTER NODES: %v", got[2].Reply)
	}
	a.Handle(env, "meta", &wire.ConfigUpdate{Configs: []*wire.Config{{Shard: 0, Version: 2, SlotStart: 0, SlotEnd: 8192}}})
	a.Handle(env, "client1", &wire.ClientRequest{Id: 4, Args: args("CLUSTER", "INFO")})
	if info := string(roletest.Of[*wire.ClientReply](env.Take())[0].Reply.Bulk); !strings.Contains(info, "cluster_state:fail\r\n") ||
		!strings.Contains(info, "cluster_slots_fail:8192\r\n") {
		t.Errorf("with shard 0 primaryless, CLUSTER INFO:\n%s", info)
	}
}

// A GetTS left unanswered goes to the next meta member, and a redirect
// sends it to the leader named; a timeout after a redirect retries the
// member the redirect named before passing over it. (Passing over it at
// once sent a GetTS around a group with a dead member for good: castd's
// e2e kill of the meta leader held a GET for its whole deadline.)
func TestGetTSFindsTheLeaderPastADeadMember(t *testing.T) {
	env := roletest.New("api1", 1)
	defer env.Close()
	a := New(Config{Meta: []actors.Addr{"meta1", "meta2", "meta3"}})
	a.Start(env)
	a.Handle(env, "meta1", &wire.ConfigUpdate{Session: 42, Configs: []*wire.Config{{Shard: 0, Version: 1, Primary: "data1"}}})
	env.Take()
	a.Handle(env, "client1", &wire.ClientRequest{Id: 1, Args: args("GET", "k")})
	// ask fires due timers until a GetTS goes out and returns its target.
	ask := func(step string) (actors.Addr, *wire.GetTS) {
		t.Helper()
		for range 100 {
			env.FireDue(a)
			for _, s := range env.Take() {
				if g, ok := s.Msg.(*wire.GetTS); ok {
					return s.To, g
				}
			}
			env.Advance(100 * time.Millisecond)
		}
		t.Fatalf("%s: no GetTS sent", step)
		return "", nil
	}
	to, g := ask("first")
	if to != "meta1" {
		t.Fatalf("first GetTS to %s, want meta1", to)
	}
	// meta1 is dead; meta2 redirects to meta3, whose answer is lost; meta1
	// again (dead), then meta2, whose redirect must reach meta3 again.
	for round, want := range []actors.Addr{"meta2", "meta1", "meta2"} {
		if to, g = ask(fmt.Sprintf("round %d", round)); to != want {
			t.Fatalf("round %d: GetTS to %s, want %s", round, to, want)
		}
		if to == "meta2" {
			a.Handle(env, "meta2", &wire.MetaRedirect{Id: g.Id, Leader: "meta3"})
			sent := roletest.Of[*wire.GetTS](env.Take())
			if len(sent) != 1 {
				t.Fatalf("round %d: meta2's redirect to meta3 resent nothing", round)
			}
		}
	}
	a.Handle(env, "meta3", &wire.TSReply{Id: g.Id, Incarnation: g.Incarnation, First: 1 << 40, Count: g.Count})
	if reads := roletest.Of[*wire.Read](take(env, a)); len(reads) != 1 {
		t.Fatalf("once meta3 answered, want the GET's Read sent, got %v", reads)
	}
}

// Ask ids restart with the process, so a TSReply is matched by the
// incarnation it echoes too: a late reply to the previous process would
// hand out timestamps issued before the new requests began (castsim seed
// 681, caught by the read-ts oracle).
func TestTSReplyOfAnotherProcessIsIgnored(t *testing.T) {
	env, a := start(t, Config{})
	defer env.Close()
	a.Handle(env, "client1", &wire.ClientRequest{Id: 1, Args: args("GET", "k")})
	env.FireDue(a)
	gets := roletest.Of[*wire.GetTS](env.Take())
	if len(gets) != 1 || gets[0].Incarnation != a.incarnation {
		t.Fatalf("want one GetTS naming this process, got %v", gets)
	}
	g := gets[0]
	a.Handle(env, "meta", &wire.TSReply{Id: g.Id, Incarnation: g.Incarnation + 1, First: 5, Count: g.Count})
	if reads := roletest.Of[*wire.Read](take(env, a)); len(reads) != 0 {
		t.Fatalf("a reply to another process's GetTS %d gave the GET a timestamp: %v", g.Id, reads)
	}
	a.Handle(env, "meta", &wire.TSReply{Id: g.Id, Incarnation: g.Incarnation, First: nextTS, Count: g.Count})
	if reads := roletest.Of[*wire.Read](take(env, a)); len(reads) != 1 || reads[0].Ts != nextTS {
		t.Fatalf("the matching reply did not send the GET: %v", reads)
	}
}

// Requests that end UNCERTAIN or time out are logged for the operator, at
// most one line a second, the next line counting those held back.
func TestUncertainOutcomesAreLoggedWithARateLimit(t *testing.T) {
	env, a := start(t, Config{RequestTimeout: 2 * time.Second, AttemptTimeout: time.Second})
	defer env.Close()
	var log bytes.Buffer
	env.LogTo(&log)
	for id := uint64(1); id <= 3; id++ { // three writes nobody answers
		a.Handle(env, "client1", &wire.ClientRequest{Id: id, Args: args("SET", fmt.Sprint("k", id), "v")})
	}
	var replies []*wire.ClientReply
	for i := 0; i < 100 && len(replies) < 3; i++ {
		env.Advance(100 * time.Millisecond)
		env.FireDue(a)
		replies = append(replies, roletest.Of[*wire.ClientReply](take(env, a))...)
	}
	if len(replies) != 3 || !strings.HasPrefix(replies[0].Reply.Str, "UNCERTAIN") {
		t.Fatalf("want three UNCERTAIN replies, got %v", replies)
	}
	if n := strings.Count(log.String(), "request ended UNCERTAIN"); n != 1 {
		t.Fatalf("want one line for three outcomes within a second, got %d:\n%s", n, log.String())
	}
	env.Advance(2 * time.Second)
	a.Handle(env, "client1", &wire.ClientRequest{Id: 4, Args: args("SET", "k4", "v")})
	for i := 0; i < 100 && !strings.Contains(log.String(), "held_back_since_last=2"); i++ {
		env.Advance(100 * time.Millisecond)
		env.FireDue(a)
		take(env, a)
	}
	if !strings.Contains(log.String(), "held_back_since_last=2") {
		t.Errorf("the next line does not count the two held back:\n%s", log.String())
	}
}
