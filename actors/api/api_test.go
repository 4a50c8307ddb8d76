package api

import (
	"strings"
	"testing"
	"time"

	"castkv/actors/roletest"
	"castkv/actors/wire"
)

func start(t *testing.T, cfg Config) (*roletest.Env, *API) {
	t.Helper()
	env := roletest.New("api1", 1)
	cfg.Meta = "meta"
	a := New(cfg)
	a.Start(env)
	a.Handle(env, "meta", &wire.ConfigUpdate{Session: 42, Configs: []*wire.Config{{Shard: 0, Version: 1, Primary: "data1", Secondaries: []string{"data2"}}}})
	env.Take()
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
	reads := roletest.Of[*wire.Read](env.Take())
	if len(reads) != 1 {
		t.Fatalf("want one Read, got %v", reads)
	}
	stale := &wire.ReadReply{Shard: 0, Id: reads[0].Id, Incarnation: reads[0].Incarnation + 1,
		Reply: &wire.Reply{Kind: wire.Reply_BULK, Bulk: []byte("another key's value")}}
	a.Handle(env, "data1", stale)
	if got := roletest.Of[*wire.ClientReply](env.Take()); len(got) != 0 {
		t.Fatalf("a reply for another process's read %d answered the client: %v", reads[0].Id, got)
	}
	a.Handle(env, "data1", &wire.ReadReply{Shard: 0, Id: reads[0].Id, Incarnation: reads[0].Incarnation, Reply: &wire.Reply{Kind: wire.Reply_NIL}})
	if got := roletest.Of[*wire.ClientReply](env.Take()); len(got) != 1 || got[0].Reply.Kind != wire.Reply_NIL {
		t.Fatalf("the matching reply did not answer the client: %v", got)
	}
}

// Hole 8: a command larger than any frame can carry gets -ERR at once.
func TestOversizedCommandRefusedAtOnce(t *testing.T) {
	env, a := start(t, Config{})
	defer env.Close()
	v := strings.Repeat("x", 40<<20)
	a.Handle(env, "client1", &wire.ClientRequest{Id: 1, Args: args("MSET", "a", v, "b", v)})
	sent := env.Take()
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
	commits := roletest.Of[*wire.Commit](env.Take())
	if len(commits) != 1 || commits[0].Op.Incarnation != 42 {
		t.Fatalf("want one Commit in session 42, got %v", commits)
	}
	env.Advance(time.Second)
	a.Handle(env, "data1", &wire.CommitReply{Shard: 0, Op: commits[0].Op, Status: wire.Status_SESSION_EXPIRED})
	sent := env.Take()
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
	stages := len(roletest.Of[*wire.Stage](env.Take()))
	env.Step(a, 2*time.Second, 10*time.Millisecond)
	if again := len(roletest.Of[*wire.Stage](env.Take())); again != 0 {
		t.Fatalf("the 30 MiB value was staged %d times, then %d more within 2 s", stages, again)
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
		for _, c := range roletest.Of[*wire.Commit](env.Take()) {
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
