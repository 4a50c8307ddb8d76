package data

import (
	"fmt"
	"strings"
	"testing"

	"castkv/actors"
	"castkv/actors/roletest"
	"castkv/actors/wire"
	"google.golang.org/protobuf/proto"
)

// The tests here check the persistence rules of the data role, one rule per
// test, in the manner of etcd's raft_paper_test.go: the role writes
// (visible, not durable), asks for durability, and learns it from a
// Persisted message that the test delivers when it chooses
// (roletest.Env.Persist), or by hand with an earlier point.

// set is a Commit of SET key value from api1 as op (1, counter).
func set(counter uint64, key, value string) *wire.Commit {
	return &wire.Commit{Shard: 0, ConfigVersion: 1, Op: &wire.OpID{Incarnation: 1, Counter: counter},
		Command: cmdOf("SET", key, value)}
}

// okAckAtLeast returns the first ok PrepareAck in sent that covers seq,
// nil if none does.
func okAckAtLeast(sent []roletest.Sent, seq uint64) *wire.PrepareAck {
	for _, a := range acks(sent) {
		if a.Ok && a.MatchSeq >= seq {
			return a
		}
	}
	return nil
}

// prepares returns the Prepares in sent, by addressee.
func prepares(sent []roletest.Sent) map[actors.Addr][]*wire.Prepare {
	out := map[actors.Addr][]*wire.Prepare{}
	for _, m := range sent {
		if p, ok := m.Msg.(*wire.Prepare); ok {
			out[m.To] = append(out[m.To], p)
		}
	}
	return out
}

func commitReplies(sent []roletest.Sent) []*wire.CommitReply {
	return roletest.Of[*wire.CommitReply](sent)
}

// threeReplicaPrimary makes data1 the ready primary of v1 with secondaries
// data2 and data3 and returns it with nothing left to send.
func threeReplicaPrimary(t *testing.T, env *roletest.Env) *Server {
	t.Helper()
	s := primaryWithLease(t, env, Config{Meta: []actors.Addr{"meta"}}, config(1, "data1", []string{"data2", "data3"}), "data2", "data3")
	env.Take()
	if env.PersistAsked() {
		t.Fatal("a ready primary with nothing appended still asks for persistence")
	}
	return s
}

// Rule durable-before-ack: a secondary acks no entry of a Prepare before
// the runtime reports it durable, and then acks exactly the durable prefix,
// not the log it has written since.
func TestSecondaryAcksOnlyDurablePrefix(t *testing.T) {
	env := roletest.New("data2", 1)
	defer env.Close()
	s := start(env, Config{Meta: []actors.Addr{"meta"}})
	env.Take()
	c := config(1, "data1", []string{"data2", "data3"})
	first := &wire.Prepare{Config: c, Entries: []*wire.Entry{entry(1, 1, "a", "1"), entry(2, 1, "b", "2"), entry(3, 1, "c", "3")}}
	s.Handle(env, "data1", first)
	point1 := env.Store().Written()
	if !env.PersistAsked() {
		t.Fatal("the secondary wrote entries 1..3 without asking for their persistence")
	}
	// Time passes and the primary resends; the disk has not answered.
	for range 5 {
		env.Advance(tick)
		env.FireDue(s)
	}
	s.Handle(env, "data1", first)
	if a := okAckAtLeast(env.Take(), 1); a != nil {
		t.Fatalf("acked through %d before any entry was reported durable", a.MatchSeq)
	}
	// More entries land before the first write is reported durable.
	s.Handle(env, "data1", &wire.Prepare{Config: c, PrevSeq: 3, PrevVersion: 1, Entries: []*wire.Entry{entry(4, 1, "d", "4"), entry(5, 1, "e", "5")}})
	if a := okAckAtLeast(env.Take(), 1); a != nil {
		t.Fatalf("acked through %d before any entry was reported durable", a.MatchSeq)
	}
	// The runtime reports the first write durable: the ack covers 1..3,
	// not 4..5.
	if err := env.Store().Sync(); err != nil {
		t.Fatal(err)
	}
	s.Handle(env, env.Self(), &wire.Persisted{Point: point1})
	a := acks(env.Take())
	if len(a) != 1 || !a[0].Ok || a[0].MatchSeq != 3 {
		t.Fatalf("after entries 1..3 became durable the acks were %v, want one ok ack of 3", a)
	}
	env.Persist(s)
	a = acks(env.Take())
	if len(a) != 1 || !a[0].Ok || a[0].MatchSeq != 5 {
		t.Fatalf("after entries 1..5 became durable the acks were %v, want one ok ack of 5", a)
	}
}

// Rule durable-before-ack, across a crash: entries written but never
// reported durable are lost with the power, and the restarted secondary
// acks only the log it still has.
func TestCrashBeforePersistedLosesEntries(t *testing.T) {
	env, s := secondaryWithLog(t, 2, 1)
	defer env.Close()
	c := config(1, "data1", []string{"data2", "data3"})
	s.Handle(env, "data1", &wire.Prepare{Config: c, PrevSeq: 2, PrevVersion: 1, CommitSeq: 1,
		Entries: []*wire.Entry{entry(3, 1, "k", "3"), entry(4, 1, "k", "4")}})
	env.FireDue(s)
	if a := okAckAtLeast(env.Take(), 3); a != nil {
		t.Fatalf("acked through %d before entries 3..4 were reported durable", a.MatchSeq)
	}
	if got := lastEntry(t, env); got != 4 {
		t.Fatalf("pebble's log ends at %d before the crash, want 4 (written, not durable)", got)
	}
	env.Crash()
	s = start(env, Config{Meta: []actors.Addr{"meta"}})
	if got := lastEntry(t, env); got != 2 {
		t.Fatalf("after the crash pebble's log ends at %d, want 2: entries 3..4 were never reported durable", got)
	}
	if r := s.replica(0); r.log.last != 2 || r.log.synced != 2 {
		t.Fatalf("after the crash the log ends at %d (durable %d), want 2", r.log.last, r.log.synced)
	}
	hbs := roletest.Of[*wire.Heartbeat](env.Take())
	if len(hbs) == 0 {
		t.Fatal("the restarted secondary sent no heartbeat")
	}
	for _, hb := range hbs {
		if len(hb.Replicas) != 1 || hb.Replicas[0].LastSeq != 2 {
			t.Fatalf("restarted secondary reports %v, want last seq 2", hb.Replicas)
		}
	}
	// The primary's retries: an empty Prepare after entry 4 (which we lost)
	// and one after entry 2.
	s.Handle(env, "data1", &wire.Prepare{Config: c, PrevSeq: 4, PrevVersion: 1, CommitSeq: 1})
	s.Handle(env, "data1", &wire.Prepare{Config: c, PrevSeq: 2, PrevVersion: 1, CommitSeq: 1})
	sent := settle(env, s)
	if a := okAckAtLeast(sent, 3); a != nil {
		t.Fatalf("the restarted secondary acked through %d, entries it lost in the crash", a.MatchSeq)
	}
	if a := acks(sent); len(a) != 2 || a[0].Ok || a[0].MatchSeq > 2 || !a[1].Ok || a[1].MatchSeq != 2 {
		t.Fatalf("restarted secondary answered %v, want a refusal at most at 2 and an ok ack of 2", a)
	}
	// Resent, the entries land again and are acked once durable.
	s.Handle(env, "data1", &wire.Prepare{Config: c, PrevSeq: 2, PrevVersion: 1, CommitSeq: 1,
		Entries: []*wire.Entry{entry(3, 1, "k", "3"), entry(4, 1, "k", "4")}})
	if a := okAckAtLeast(settle(env, s), 4); a == nil {
		t.Fatal("the resent entries 3..4 were not acked once durable")
	}
}

// Rule commit-all with parallel persistence: the primary sends a new
// entry's Prepares before its own copy is durable, and replies to the
// Commit only once its own Persisted and every secondary's ack arrived, in
// either order.
func TestPrimaryPreparesBeforeOwnPersistAndRepliesAfterAll(t *testing.T) {
	for _, acksFirst := range []bool{true, false} {
		name := "own persist first"
		if acksFirst {
			name = "acks first"
		}
		t.Run(name, func(t *testing.T) {
			env := roletest.New("data1", 1)
			defer env.Close()
			s := threeReplicaPrimary(t, env)
			r := s.replica(0)
			s.Handle(env, "api1", set(1, "k", "v"))
			seq := r.log.last
			if sent := env.Take(); len(sent) != 0 {
				t.Fatalf("sent %d messages before the flush, want none", len(sent))
			}
			env.FireDue(s) // the flush
			if !env.PersistAsked() || r.log.synced >= seq {
				t.Fatalf("after the flush: persistence asked %v, durable %d; want entry %d asked, not durable", env.PersistAsked(), r.log.synced, seq)
			}
			sent := env.Take()
			ps := prepares(sent)
			for _, peer := range []actors.Addr{"data2", "data3"} {
				if len(ps[peer]) != 1 || len(ps[peer][0].Entries) != 1 || ps[peer][0].Entries[0].Seq != seq {
					t.Fatalf("before its own Persisted the primary sent %s %v, want one Prepare of entry %d", peer, ps[peer], seq)
				}
			}
			if cr := commitReplies(sent); len(cr) != 0 {
				t.Fatalf("replied %v before anything was durable", cr)
			}
			ack := func(peer actors.Addr) {
				s.Handle(env, peer, &wire.PrepareAck{Shard: 0, ConfigVersion: 1, Ok: true, MatchSeq: seq})
			}
			var steps []func()
			if acksFirst {
				steps = []func(){func() { ack("data2") }, func() { ack("data3") }, func() { env.Persist(s) }}
			} else {
				steps = []func(){func() { env.Persist(s) }, func() { ack("data2") }, func() { ack("data3") }}
			}
			for i, step := range steps {
				step()
				cr := commitReplies(env.Take())
				if i < len(steps)-1 {
					if len(cr) != 0 {
						t.Fatalf("replied %v after step %d of 3 (%s); want no reply until all three", cr, i+1, name)
					}
					continue
				}
				if len(cr) != 1 || cr[0].Status != wire.Status_OK || cr[0].Op.Counter != 1 {
					t.Fatalf("once every copy was durable the replies were %v, want one OK", cr)
				}
			}
		})
	}
}

// Group commit: Commits handled before the flush tick share one write, one
// persistence request (answered by one Persist) and one Prepare per peer.
func TestGroupCommitSharesWriteAndPrepare(t *testing.T) {
	env := roletest.New("data1", 1)
	defer env.Close()
	s := threeReplicaPrimary(t, env)
	r := s.replica(0)
	const n = 5
	first := r.log.last + 1
	written := env.Store().Written()
	for i := uint64(1); i <= n; i++ {
		s.Handle(env, "api1", set(i, fmt.Sprintf("k%d", i), "v"))
	}
	if sent := env.Take(); len(sent) != 0 || env.PersistAsked() || env.Store().Written() != written {
		t.Fatalf("before the flush tick the primary sent %d messages, wrote %d times, asked persistence %v; want nothing",
			len(sent), env.Store().Written()-written, env.PersistAsked())
	}
	env.FireDue(s)
	if got := env.Store().Written() - written; got != 1 {
		t.Fatalf("%d commits took %d writes, want 1", n, got)
	}
	ps := prepares(env.Take())
	for _, peer := range []actors.Addr{"data2", "data3"} {
		if len(ps[peer]) != 1 {
			t.Fatalf("%d commits sent %s %d Prepares, want 1", n, peer, len(ps[peer]))
		}
		p := ps[peer][0]
		if p.PrevSeq != first-1 || len(p.Entries) != n || p.Entries[0].Seq != first || p.Entries[n-1].Seq != first+n-1 {
			t.Fatalf("Prepare to %s: prev %d with %d entries, want prev %d with entries %d..%d", peer, p.PrevSeq, len(p.Entries), first-1, first, first+n-1)
		}
	}
	env.Persist(s)
	if env.PersistAsked() || r.log.synced != first+n-1 {
		t.Fatalf("after one Persist the log is durable through %d (asked again: %v), want %d", r.log.synced, env.PersistAsked(), first+n-1)
	}
	for _, peer := range []actors.Addr{"data2", "data3"} {
		s.Handle(env, peer, &wire.PrepareAck{Shard: 0, ConfigVersion: 1, Ok: true, MatchSeq: first + n - 1})
	}
	sent := env.Take()
	cr := commitReplies(sent)
	if len(cr) != n {
		t.Fatalf("got %d commit replies, want %d", len(cr), n)
	}
	if b := roletest.Of[*wire.Replies](sent); len(sent) != 1 || len(b) != 1 {
		t.Fatalf("the %d replies to api1 went out in %d messages, want one Replies", n, len(sent))
	}
	for i, c := range cr {
		if c.Status != wire.Status_OK || c.Op.Counter != uint64(i+1) {
			t.Fatalf("reply %d is %v, want OK for op %d", i, c, i+1)
		}
	}
	if env.PersistAsked() {
		t.Fatal("committing asked for persistence again; the group's one Persist should cover it")
	}
}

// Rule durable-before-ack against stale points: a Persisted naming a point
// from before a conflicting Prepare truncated the log makes durable only
// what survived the truncation, never the entries that replaced it.
func TestStalePersistedAfterTruncation(t *testing.T) {
	for _, from := range []uint64{2, 3} {
		t.Run(fmt.Sprintf("truncate from %d", from), func(t *testing.T) {
			env, s := secondaryWithLog(t, 1, 1)
			defer env.Close()
			r := s.replica(0)
			// Entries 2..4 of v1 are written, not yet durable.
			c1 := config(1, "data1", []string{"data2", "data3"})
			s.Handle(env, "data1", &wire.Prepare{Config: c1, PrevSeq: 1, PrevVersion: 1, CommitSeq: 1,
				Entries: []*wire.Entry{entry(2, 1, "k", "2"), entry(3, 1, "k", "3"), entry(4, 1, "k", "4")}})
			stale := env.Store().Written()
			env.Take()
			// The new primary data3 (v2) replaces entries from..4 with its own.
			c2 := config(2, "data3", []string{"data2"})
			p := &wire.Prepare{Config: c2, PrevSeq: from - 1, PrevVersion: 1, CommitSeq: 1}
			for seq := from; seq <= 4; seq++ {
				p.Entries = append(p.Entries, entry(seq, 2, "k", fmt.Sprintf("v2-%d", seq)))
			}
			s.Handle(env, "data3", p)
			if env.Store().Written() == stale {
				t.Fatal("the truncation and new entries were not written")
			}
			if a := okAckAtLeast(env.Take(), from); a != nil {
				t.Fatalf("acked through %d before the new entries were reported durable", a.MatchSeq)
			}
			// The runtime answers the request made before the truncation.
			s.Handle(env, env.Self(), &wire.Persisted{Point: stale})
			if r.log.synced != from-1 || r.log.syncedVersion != 1 {
				t.Fatalf("a Persisted from before the truncation made the log durable through %d (version %d), want %d (version 1)",
					r.log.synced, r.log.syncedVersion, from-1)
			}
			if a := okAckAtLeast(env.Take(), from); a != nil {
				t.Fatalf("a Persisted from before the truncation got entries %d.. acked through %d", from, a.MatchSeq)
			}
			env.Persist(s)
			a := okAckAtLeast(env.Take(), 4)
			if a == nil || a.ConfigVersion != 2 || r.log.synced != 4 || r.log.syncedVersion != 2 {
				t.Fatalf("after the new entries became durable: ack %v, durable %d (version %d); want an ok ack of 4 in v2",
					a, r.log.synced, r.log.syncedVersion)
			}
		})
	}
}

// Rule commit-all counts the primary too: with a slow disk, every
// secondary's ack does not commit an entry the primary has not durably,
// however long it waits; nothing reads it, no Prepare announces it
// committed, and the Commit gets no reply until the primary's Persisted.
func TestCommitWaitsForPrimaryDurability(t *testing.T) {
	env := roletest.New("data1", 1)
	defer env.Close()
	s := threeReplicaPrimary(t, env)
	r := s.replica(0)
	s.Handle(env, "api1", set(1, "k", "new"))
	env.FireDue(s)
	seq := r.log.last
	env.Take()
	for _, peer := range []actors.Addr{"data2", "data3"} {
		s.Handle(env, peer, &wire.PrepareAck{Shard: 0, ConfigVersion: 1, Ok: true, MatchSeq: seq})
	}
	// Half a second of a slow disk: timers fire, nothing is persisted.
	for range 50 {
		env.Advance(tick)
		env.FireDue(s)
	}
	// A read below the entry's commit_ts is served at once, without it;
	// one at or above it waits for it to commit (rule read-ts).
	s.Handle(env, "api2", &wire.Read{Shard: 0, ConfigVersion: 1, Id: 1, Incarnation: 2, Ts: r.primary.lastCommitTS - 1, Command: cmdOf("GET", "k")})
	s.Handle(env, "api2", &wire.Read{Shard: 0, ConfigVersion: 1, Id: 3, Incarnation: 2, Ts: nextTS(), Command: cmdOf("GET", "k")})
	sent := env.Take()
	if cr := commitReplies(sent); len(cr) != 0 {
		t.Fatalf("replied %v with every secondary's ack but not the primary's own durability", cr)
	}
	if r.commitSeq >= seq {
		t.Fatalf("commit point %d covers entry %d, which is not durable on the primary", r.commitSeq, seq)
	}
	for peer, ps := range prepares(sent) {
		for _, p := range ps {
			if p.CommitSeq >= seq {
				t.Fatalf("told %s the commit point is %d before entry %d was durable on the primary", peer, p.CommitSeq, seq)
			}
		}
	}
	rr := roletest.Of[*wire.ReadReply](sent)
	if len(rr) != 1 || rr[0].Id != 1 || rr[0].Status != wire.Status_OK || rr[0].Reply.GetKind() != wire.Reply_NIL {
		t.Fatalf("GET k before the commit answered %v, want OK nil to read 1 only", rr)
	}
	if !env.PersistAsked() {
		t.Fatal("the primary never asked to persist the entry it waits for")
	}
	env.Persist(s)
	sent = env.Take()
	cr := commitReplies(sent)
	if len(cr) != 1 || cr[0].Status != wire.Status_OK {
		t.Fatalf("once the primary's copy was durable the replies were %v, want one OK", cr)
	}
	if rr := roletest.Of[*wire.ReadReply](sent); len(rr) != 1 || rr[0].Id != 3 || string(rr[0].Reply.GetBulk()) != "new" {
		t.Fatalf("the read that waited for the commit answered %v, want \"new\"", rr)
	}
	s.Handle(env, "api2", &wire.Read{Shard: 0, ConfigVersion: 1, Id: 2, Incarnation: 2, Ts: nextTS(), Command: cmdOf("GET", "k")})
	if rr := roletest.Of[*wire.ReadReply](env.Take()); len(rr) != 1 || string(rr[0].Reply.GetBulk()) != "new" {
		t.Fatalf("GET k after the commit answered %v, want \"new\"", rr)
	}
}

// The in-memory log (log.go): once committed entries pass
// MaxLogMemoryBytes, memory lets the old ones go, and a lagging peer's
// catch-up reads them back from pebble, identical to what the primary
// appended and sent when they were new.
func TestCatchUpReadsReleasedEntriesFromPebble(t *testing.T) {
	env := roletest.New("data1", 1)
	defer env.Close()
	const maxMem, n = 1 << 10, 60
	cfg := Config{Meta: []actors.Addr{"meta"}, MaxLogMemoryBytes: maxMem, MaxPrepareBytes: 700}
	// data3 is a learner that is not counted, so the log commits without it.
	s := primaryWithLease(t, env, cfg, config(1, "data1", []string{"data2"}, "data3"), "data2")
	env.Take()
	r := s.replica(0)
	if r.log.memFirst() != 1 {
		t.Fatalf("the barrier left memory before the test began (memory from %d)", r.log.memFirst())
	}
	appended := map[uint64]*wire.Entry{1: proto.Clone(r.log.entry(1)).(*wire.Entry)}
	for i := uint64(1); i <= n; i++ {
		s.Handle(env, "api1", set(i, fmt.Sprintf("k%d", i), strings.Repeat(string(rune('a'+i%26)), 100)))
		env.FireDue(s)
		for _, p := range prepares(env.Take())["data2"] {
			for _, e := range p.Entries {
				appended[e.Seq] = proto.Clone(e).(*wire.Entry)
			}
		}
		env.Persist(s)
		s.Handle(env, "data2", &wire.PrepareAck{Shard: 0, ConfigVersion: 1, Ok: true, MatchSeq: r.log.last})
		if cr := commitReplies(env.Take()); len(cr) != 1 || cr[0].Status != wire.Status_OK {
			t.Fatalf("commit %d answered %v, want OK", i, cr)
		}
	}
	last := r.log.last
	if len(appended) != int(last) {
		t.Fatalf("saw %d entries sent to data2, the log has %d", len(appended), last)
	}
	if r.log.memFirst() <= last/2 || r.log.memBytes > maxMem {
		t.Fatalf("memory holds entries %d..%d in %d bytes; want the old ones released within %d bytes",
			r.log.memFirst(), last, r.log.memBytes, maxMem)
	}
	// data3 lost everything and asks from the start.
	s.Handle(env, "data3", &wire.PrepareAck{Shard: 0, ConfigVersion: 1, Ok: false, MatchSeq: 0})
	match := uint64(0)
	for round := 0; match < last; round++ {
		if round > int(last) {
			t.Fatalf("catch-up stalled at %d of %d", match, last)
		}
		ps := prepares(env.Take())["data3"]
		if len(ps) != 1 || len(ps[0].Entries) == 0 {
			t.Fatalf("after data3 matched %d the primary sent it %v, want one Prepare with entries", match, ps)
		}
		p := ps[0]
		if p.PrevSeq != match || p.PrevVersion != r.log.versionAt(match) {
			t.Fatalf("Prepare after %d has prev (%d, %d)", match, p.PrevSeq, p.PrevVersion)
		}
		for _, e := range p.Entries {
			if e.Seq != match+1 {
				t.Fatalf("catch-up sent entry %d after %d", e.Seq, match)
			}
			if !proto.Equal(e, appended[e.Seq]) {
				t.Fatalf("catch-up entry %d is %v, the primary appended %v", e.Seq, e, appended[e.Seq])
			}
			match = e.Seq
		}
		s.Handle(env, "data3", &wire.PrepareAck{Shard: 0, ConfigVersion: 1, Ok: true, MatchSeq: match})
	}
	if ps := prepares(env.Take())["data3"]; len(ps) != 0 {
		t.Fatalf("sent the caught-up learner %v", ps)
	}
}

// Rules log-matching and durable-before-ack, when a primary steps down
// between appending an entry and the flush tick that writes it: what it
// acks to the new primary must be what pebble holds, and a restart must
// bring back that log, not the deposed primary's unflushed entry.
func TestStepDownBeforeFlushKeepsLogConsistent(t *testing.T) {
	env := roletest.New("data1", 1)
	defer env.Close()
	s := primaryWithLease(t, env, Config{Meta: []actors.Addr{"meta"}}, config(1, "data1", []string{"data2"}), "data2")
	r := s.replica(0)
	s.Handle(env, "api1", set(1, "k", "old")) // entry 2 of v1, appended, not yet flushed
	// Before the flush tick, data2 becomes primary of v2 and sends its
	// own entry 2.
	c2 := config(2, "data2", []string{"data1"})
	s.Handle(env, "data2", &wire.Prepare{Config: c2, PrevSeq: 1, PrevVersion: 1, CommitSeq: 1,
		Entries: []*wire.Entry{entry(2, 2, "k", "new")}})
	sent := settle(env, s)
	a := okAckAtLeast(sent, 2)
	if a == nil || a.ConfigVersion != 2 {
		t.Fatalf("data1 did not ack the new primary's entry 2: %v", acks(sent))
	}
	if e := r.log.entry(2); e == nil || e.Version != 2 {
		t.Fatalf("data1's log holds %v at 2 in memory, want the v2 entry", e)
	}
	if e, err := env.Store().Entry(0, 2); err != nil || e == nil || e.Version != 2 {
		t.Fatalf("data1 acked entry 2 of v2, but pebble holds %v (%v) at 2", e, err)
	}
	env.Crash()
	s = start(env, Config{Meta: []actors.Addr{"meta"}})
	if r := s.replica(0); r.log.last != 2 || r.log.lastVersion != 2 {
		t.Fatalf("after a restart the log ends at %d (version %d), want 2 (version 2), the entry it acked", r.log.last, r.log.lastVersion)
	}
}
