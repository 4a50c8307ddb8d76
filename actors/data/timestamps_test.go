package data

import (
	"testing"

	"castkv/actors"
	"castkv/actors/roletest"
	"castkv/actors/wire"
)

// commitEntry commits m on a primary whose peers are data2 and data3 and
// returns the entry it sequenced.
func commitEntry(t *testing.T, env *roletest.Env, s *Server, m *wire.Commit) *wire.Entry {
	t.Helper()
	s.Handle(env, "api1", m)
	env.FireDue(s)
	ps := prepares(env.Take())["data2"]
	if len(ps) != 1 || len(ps[0].Entries) != 1 {
		t.Fatalf("op %d: want one Prepare with one entry to data2, got %v", m.Op.Counter, ps)
	}
	e := ps[0].Entries[0]
	env.Persist(s)
	for _, peer := range []actors.Addr{"data2", "data3"} {
		s.Handle(env, peer, &wire.PrepareAck{Shard: 0, ConfigVersion: 1, Ok: true, MatchSeq: e.Seq})
	}
	if cr := commitReplies(env.Take()); len(cr) != 1 || cr[0].Status != wire.Status_OK {
		t.Fatalf("op %d: want one OK commit reply, got %v", m.Op.Counter, cr)
	}
	return e
}

// readyPrimary is data1, ready primary of v1 over data2 and data3, with a
// lease and nothing left to send.
func readyPrimary(t *testing.T, canary string) (*roletest.Env, *Server) {
	t.Helper()
	env := roletest.New("data1", 1)
	t.Cleanup(env.Close)
	s := primaryWithLease(t, env, Config{Meta: []actors.Addr{"meta"}, Canary: canary},
		config(1, "data1", []string{"data2", "data3"}), "data2", "data3")
	env.Take()
	return env, s
}

func setAt(counter, ts uint64, argv ...string) *wire.Commit {
	m := op(counter, argv...)
	m.Ts = ts
	return m
}

// readAt reads at ts and returns the one reply.
func readAt(t *testing.T, env *roletest.Env, s *Server, id, ts uint64, argv ...string) *wire.ReadReply {
	t.Helper()
	s.Handle(env, "api1", &wire.Read{Shard: 0, ConfigVersion: 1, Id: id, Incarnation: 7, Ts: ts, Command: cmdOf(argv...)})
	rr := roletest.Of[*wire.ReadReply](env.Take())
	if len(rr) != 1 {
		t.Fatalf("read %d at %d: want one reply, got %v", id, ts, rr)
	}
	return rr[0]
}

// Rule commit-ts: an entry commits above every read timestamp already
// served and never below the entry before it, whatever timestamp its
// command carries. The canary 1pc-without-max-ts commits at the command's
// timestamp, under a read already served.
func TestCommitTSAboveReadsServed(t *testing.T) {
	for _, canary := range []string{"", Canary1PCWithoutMaxTS} {
		t.Run("canary="+canary, func(t *testing.T) {
			env, s := readyPrimary(t, canary)
			old := nextTS() // fetched by a write still on its way
			read := nextTS() + 100
			testTS = read
			if rr := readAt(t, env, s, 1, read, "GET", "k"); rr.Status != wire.Status_OK {
				t.Fatalf("GET k at %d: %v", read, rr)
			}
			e := commitEntry(t, env, s, setAt(1, old, "SET", "k", "v"))
			switch {
			case canary == "" && e.CommitTs <= read:
				t.Fatalf("SET at ts %d committed at %d, not above the read served at %d", old, e.CommitTs, read)
			case canary != "" && e.CommitTs > read:
				t.Fatalf("canary %s committed at %d, above the read at %d: the test cannot tell it from the rule", canary, e.CommitTs, read)
			}
			e2 := commitEntry(t, env, s, setAt(2, old, "SET", "j", "w"))
			if e2.CommitTs < e.CommitTs {
				t.Fatalf("the next entry committed at %d, below the one before it at %d", e2.CommitTs, e.CommitTs)
			}
		})
	}
}

// Rule read-ts: a read sees exactly what commits at or below its
// timestamp. Keys keep one version, so a read below a key's newest
// version, or below the deletion that removed it, is refused TS_TOO_OLD
// rather than answered with what the timestamp would not see.
func TestReadBelowNewerVersionIsRefused(t *testing.T) {
	env, s := readyPrimary(t, "")
	set := commitEntry(t, env, s, setAt(1, nextTS(), "SET", "k", "v"))
	if rr := readAt(t, env, s, 1, set.CommitTs-1, "GET", "k"); rr.Status != wire.Status_TS_TOO_OLD {
		t.Fatalf("GET k below its version (%d): %v, want TS_TOO_OLD", set.CommitTs, rr)
	}
	if rr := readAt(t, env, s, 2, set.CommitTs, "MGET", "k", "other"); rr.Status != wire.Status_OK || string(rr.Reply.Array[0].Bulk) != "v" {
		t.Fatalf("MGET k other at its version: %v, want v", rr)
	}
	testTS = set.CommitTs
	del := commitEntry(t, env, s, setAt(2, nextTS(), "DEL", "k"))
	if rr := readAt(t, env, s, 3, del.CommitTs-1, "EXISTS", "k"); rr.Status != wire.Status_TS_TOO_OLD {
		t.Fatalf("EXISTS k below its deletion (%d): %v, want TS_TOO_OLD", del.CommitTs, rr)
	}
	if rr := readAt(t, env, s, 4, del.CommitTs, "EXISTS", "k"); rr.Status != wire.Status_OK || rr.Reply.Int != 0 {
		t.Fatalf("EXISTS k at its deletion: %v, want 0", rr)
	}
}

// Rule ts-floor: a new primary does not know the reads an earlier one
// served, so its writes commit above its lease grant's timestamp, and it
// answers a read of an absent key below that timestamp TS_TOO_OLD (it
// does not know when the key was deleted). The canary no-ts-floor ignores
// the grant's timestamp.
func TestNewPrimaryCommitsAboveItsGrant(t *testing.T) {
	for _, canary := range []string{"", CanaryNoTSFloor} {
		t.Run("canary="+canary, func(t *testing.T) {
			old := nextTS()
			env, s := readyPrimary(t, canary)
			grant := testTS
			rr := readAt(t, env, s, 1, old, "GET", "absent")
			if want := wire.Status_TS_TOO_OLD; canary == "" && rr.Status != want {
				t.Fatalf("GET of an absent key at %d, below the grant's %d: %v, want %v", old, grant, rr, want)
			}
			e := commitEntry(t, env, s, setAt(1, old, "SET", "k", "v"))
			if fresh := e.CommitTs > grant; fresh != (canary == "") {
				t.Fatalf("a write fetched at %d committed at %d (grant %d); canary %q", old, e.CommitTs, grant, canary)
			}
		})
	}
}

// Rule read-ts: a read meeting a sequenced write of its key that commits
// at or below its timestamp waits for it and sees it. The canary
// read-through-pending answers at once, without it.
func TestReadWaitsForSequencedWriteBelowIt(t *testing.T) {
	for _, canary := range []string{"", CanaryReadThroughPending} {
		t.Run("canary="+canary, func(t *testing.T) {
			env, s := readyPrimary(t, canary)
			s.Handle(env, "api1", setAt(1, nextTS(), "SET", "k", "v"))
			env.FireDue(s)
			seq := s.replica(0).log.last
			env.Take()
			s.Handle(env, "api1", &wire.Read{Shard: 0, ConfigVersion: 1, Id: 1, Incarnation: 7, Ts: nextTS(), Command: cmdOf("GET", "k")})
			early := roletest.Of[*wire.ReadReply](env.Take())
			env.Persist(s)
			for _, peer := range []actors.Addr{"data2", "data3"} {
				s.Handle(env, peer, &wire.PrepareAck{Shard: 0, ConfigVersion: 1, Ok: true, MatchSeq: seq})
			}
			late := roletest.Of[*wire.ReadReply](env.Take())
			if canary != "" {
				if len(early) != 1 || early[0].Reply.GetKind() != wire.Reply_NIL {
					t.Fatalf("canary %s: want the read answered at once without the write, got %v", canary, early)
				}
				return
			}
			if len(early) != 0 {
				t.Fatalf("answered %v before the write below the read's timestamp committed", early)
			}
			if len(late) != 1 || string(late[0].Reply.GetBulk()) != "v" {
				t.Fatalf("once the write committed the read answered %v, want v", late)
			}
		})
	}
}

// Rule commit-ts after FLUSH: FLUSHALL at F hides every version at or below
// F, so a write sequenced after it commits above F though its timestamp and
// the entries before it allow F itself (seed 311 of castsim: a SET after a
// FLUSHALL at the same timestamp vanished).
func TestWriteAfterFlushCommitsAboveIt(t *testing.T) {
	env, s := readyPrimary(t, "")
	ts := nextTS()
	flush := commitEntry(t, env, s, setAt(1, ts, "FLUSHALL"))
	set := commitEntry(t, env, s, setAt(2, ts, "SET", "k", "v"))
	if set.CommitTs <= flush.CommitTs {
		t.Fatalf("SET after FLUSHALL committed at %d, not above the flush at %d", set.CommitTs, flush.CommitTs)
	}
	if rr := readAt(t, env, s, 1, set.CommitTs, "GET", "k"); string(rr.Reply.GetBulk()) != "v" {
		t.Fatalf("GET k after the SET: %v, want v", rr)
	}
}

// Rule read-ts on a hot key: a read waits only for the writes that commit
// at or below its timestamp, not for the ones sequenced after it (which
// commit above it), so a stream of writes to one key cannot hold a read
// for good.
func TestReadWaitsOnlyForWritesBelowIt(t *testing.T) {
	env, s := readyPrimary(t, "")
	r := s.replica(0)
	s.Handle(env, "api1", setAt(1, nextTS(), "SET", "k", "a"))
	env.FireDue(s)
	first := r.log.last
	read := nextTS()
	s.Handle(env, "api1", &wire.Read{Shard: 0, ConfigVersion: 1, Id: 1, Incarnation: 7, Ts: read, Command: cmdOf("GET", "k")})
	s.Handle(env, "api1", setAt(2, nextTS(), "SET", "k", "b"))
	env.FireDue(s)
	s.Handle(env, "api1", &wire.Read{Shard: 0, ConfigVersion: 1, Id: 2, Incarnation: 7, Ts: read, Command: cmdOf("GET", "k")})
	if rr := roletest.Of[*wire.ReadReply](env.Take()); len(rr) != 0 {
		t.Fatalf("answered %v before the write below the reads' timestamp committed", rr)
	}
	env.Persist(s)
	for _, peer := range []actors.Addr{"data2", "data3"} {
		s.Handle(env, peer, &wire.PrepareAck{Shard: 0, ConfigVersion: 1, Ok: true, MatchSeq: first})
	}
	rr := roletest.Of[*wire.ReadReply](env.Take())
	if len(rr) != 2 || string(rr[0].Reply.GetBulk()) != "a" || string(rr[1].Reply.GetBulk()) != "a" {
		t.Fatalf("once the first write committed, want both reads answered a (the second write commits above them), got %v", rr)
	}
}

// Rule read-ts past a pending FLUSH: sequencing a FLUSH clears the
// overlay, so a read below the FLUSH's timestamp must still find and wait
// for the writes before it that commit below the read (TestIsolatedPrimary
// seed 6: a read was served while such a write was uncommitted).
func TestReadWaitsForWriteBeforePendingFlush(t *testing.T) {
	env, s := readyPrimary(t, "")
	r := s.replica(0)
	ts := nextTS()
	s.Handle(env, "api1", setAt(1, ts, "SET", "k", "v"))
	s.Handle(env, "api1", setAt(2, ts+100, "FLUSHALL"))
	env.FireDue(s)
	set := r.log.last - 1
	s.Handle(env, "api1", &wire.Read{Shard: 0, ConfigVersion: 1, Id: 1, Incarnation: 7, Ts: ts + 50, Command: cmdOf("GET", "k")})
	if rr := roletest.Of[*wire.ReadReply](env.Take()); len(rr) != 0 {
		t.Fatalf("answered %v before the SET below the read committed", rr)
	}
	env.Persist(s)
	for _, peer := range []actors.Addr{"data2", "data3"} {
		s.Handle(env, peer, &wire.PrepareAck{Shard: 0, ConfigVersion: 1, Ok: true, MatchSeq: set})
	}
	if rr := roletest.Of[*wire.ReadReply](env.Take()); len(rr) != 1 || string(rr[0].Reply.GetBulk()) != "v" {
		t.Fatalf("once the SET committed, want the read answered v, got %v", rr)
	}
}
