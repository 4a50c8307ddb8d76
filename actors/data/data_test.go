package data

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"castkv/actors"
	"castkv/actors/roletest"
	"castkv/actors/wire"
)

// The tests here drive one data server by hand, one protocol rule or one
// hole of the protocol review (issue 6) per test, with real pebble.

const tick = 10 * time.Millisecond

func config(version uint64, primary string, secondaries []string, learners ...string) *wire.Config {
	return &wire.Config{Shard: 0, Version: version, Primary: primary, Secondaries: secondaries, Learners: learners}
}

func entry(seq, version uint64, key, value string) *wire.Entry {
	return &wire.Entry{Seq: seq, Version: version, CommitTs: seq,
		Op:     &wire.OpID{Incarnation: 7, Counter: seq},
		Writes: []*wire.Write{{Key: []byte(key), Value: []byte(value), Digest: wire.Digest([]byte(value))}},
		Result: &wire.Reply{Kind: wire.Reply_STATUS, Str: "OK"}}
}

// start boots a data server on env and lets its first timers run.
func start(env *roletest.Env, cfg Config) *Server {
	s := New(cfg)
	s.Start(env)
	env.Settle(s)
	return s
}

// settle fires due timers, answers persistence requests and returns what
// was sent.
func settle(env *roletest.Env, s *Server) []roletest.Sent {
	env.Settle(s)
	return env.Take()
}

func acks(sent []roletest.Sent) []*wire.PrepareAck { return roletest.Of[*wire.PrepareAck](sent) }

func lastEntry(t *testing.T, env *roletest.Env) uint64 {
	t.Helper()
	e, err := env.Store().LastEntry(0)
	if err != nil {
		t.Fatal(err)
	}
	if e == nil {
		return 0
	}
	return e.Seq
}

// secondaryWithLog makes data2 a secondary of v1 (primary data1) holding
// entries 1..n of version 1, synced, with commit point commit.
func secondaryWithLog(t *testing.T, n, commit uint64) (*roletest.Env, *Server) {
	t.Helper()
	env := roletest.New("data2", 1)
	s := start(env, Config{Meta: []actors.Addr{"meta"}})
	c1 := config(1, "data1", []string{"data2", "data3"})
	p := &wire.Prepare{Config: c1}
	for i := uint64(1); i <= n; i++ {
		p.Entries = append(p.Entries, entry(i, 1, "k", "v1-"+string(rune('a'+i))))
	}
	s.Handle(env, "data1", p)
	sent := settle(env, s)
	if a := acks(sent); len(a) == 0 || !a[len(a)-1].Ok || a[len(a)-1].MatchSeq != n {
		t.Fatalf("secondary did not ack entries 1..%d: %v", n, sent)
	}
	s.Handle(env, "data1", &wire.Prepare{Config: c1, PrevSeq: n, PrevVersion: 1, CommitSeq: commit})
	settle(env, s)
	if got := s.replica(0).commitSeq; got != commit {
		t.Fatalf("commit point %d, want %d", got, commit)
	}
	return env, s
}

// Hole 2: a conflicting suffix is truncated in memory and in a batch; when
// the next entry's staged value is missing, the batch must still be
// written, or pebble keeps the stale tail behind later appends.
func TestTruncationIsWrittenEvenWhenAValueIsMissing(t *testing.T) {
	env, s := secondaryWithLog(t, 3, 1)
	defer env.Close()
	// data3 is the new primary of v2; its entry 2 has a value data2 never
	// got staged.
	c2 := config(2, "data3", []string{"data2"})
	e2 := entry(2, 2, "k", "v2")
	e2.Writes[0].Staged, e2.Writes[0].ValueOmitted, e2.Writes[0].Value = true, true, nil
	s.Handle(env, "data3", &wire.Prepare{Config: c2, PrevSeq: 1, PrevVersion: 1, CommitSeq: 1, Entries: []*wire.Entry{e2}})
	sent := settle(env, s)
	if a := acks(sent); len(a) != 1 || a[0].Ok || a[0].NeedValuesSeq != 2 {
		t.Fatalf("want one ack asking for the values of entry 2, got %v", sent)
	}
	if got := lastEntry(t, env); got != 1 {
		t.Fatalf("pebble's log ends at %d after truncating from 2: the truncation was not written", got)
	}
	// The primary resends entry 2 inline; it lands, is synced, and the
	// server loses power.
	s.Handle(env, "data3", &wire.Prepare{Config: c2, PrevSeq: 1, PrevVersion: 1, CommitSeq: 1, Entries: []*wire.Entry{entry(2, 2, "k", "v2")}})
	settle(env, s)
	env.Crash()
	s = start(env, Config{Meta: []actors.Addr{"meta"}}) // recovery checks versions never decrease
	if r := s.replica(0); r.log.last != 2 || r.log.lastVersion != 2 {
		t.Fatalf("after restart the log ends at %d (version %d), want 2 (version 2): a stale tail came back", r.log.last, r.log.lastVersion)
	}
}

// Hole 3: an empty value that travels inline is a value, not a missing
// staged copy.
func TestEmptyInlineValueIsNotMissing(t *testing.T) {
	env := roletest.New("data2", 1)
	defer env.Close()
	s := start(env, Config{Meta: []actors.Addr{"meta"}})
	e := entry(1, 1, "a", "")
	e.Writes[0].Staged = true // the primary had it staged, but sends it inline
	e.Writes = append(e.Writes, &wire.Write{Key: []byte("b"), Staged: true, ValueOmitted: true, Digest: wire.Digest([]byte("big"))})
	s.staged.put(env.Now(), e.Op, [][]byte{[]byte("big")})
	s.Handle(env, "data1", &wire.Prepare{Config: config(1, "data1", []string{"data2"}), Entries: []*wire.Entry{e}})
	a := acks(settle(env, s))
	if len(a) != 1 || !a[0].Ok || a[0].MatchSeq != 1 {
		t.Fatalf("want entry 1 acked, got %v", a)
	}
	got, err := env.Store().Entry(0, 1)
	if err != nil || got == nil || string(got.Writes[1].Value) != "big" || len(got.Writes[0].Value) != 0 {
		t.Fatalf("stored entry %v (%v): want a=\"\" and b from the stage", got, err)
	}
}

// Hole 11: a Prepare that contradicts a committed entry is a broken commit
// rule, and the replica must stop loudly rather than skip it.
func TestConflictAtCommittedEntryPanics(t *testing.T) {
	env, s := secondaryWithLog(t, 3, 2)
	defer env.Close()
	defer func() {
		p := recover()
		if p == nil || !strings.Contains(p.(string), "committed entry 2") {
			t.Fatalf("want a panic about committed entry 2, got %v", p)
		}
	}()
	s.Handle(env, "data3", &wire.Prepare{Config: config(2, "data3", []string{"data2"}), PrevSeq: 1, PrevVersion: 1,
		Entries: []*wire.Entry{entry(2, 2, "k", "other")}})
}

// primaryWithLease makes data1 the primary of cfg, with its barrier acked
// by every peer in acked and a lease from meta.
func primaryWithLease(t *testing.T, env *roletest.Env, cfg Config, c *wire.Config, acked ...actors.Addr) *Server {
	t.Helper()
	s := start(env, cfg)
	s.Handle(env, "meta", &wire.ConfigUpdate{Configs: []*wire.Config{c}})
	settle(env, s)
	r := s.replica(0)
	for _, p := range acked {
		s.Handle(env, p, &wire.PrepareAck{Shard: 0, ConfigVersion: c.Version, Ok: true, MatchSeq: r.log.synced})
	}
	grantLease(env, s, c.Version)
	if !r.primary.ready(r) || !r.leaseValid(env.Now()) {
		t.Fatalf("primary not ready: commit %d, barrier %d, lease until %v", r.commitSeq, r.primary.barrierSeq, r.leaseUntil)
	}
	return s
}

// grantLease answers the server's newest heartbeat with a lease.
func grantLease(env *roletest.Env, s *Server, version uint64) {
	s.Handle(env, "meta", &wire.HeartbeatReply{Id: s.heartbeatID, Incarnation: s.incarnation,
		Leases: []*wire.LeaseGrant{{Shard: 0, ConfigVersion: version, HeartbeatId: s.heartbeatID, LeaseNanos: int64(2 * time.Second), Ts: nextTS()}}})
}

// testTS is the newest timestamp nextTS issued: the tests' TSO.
var testTS uint64 = 1000

func nextTS() uint64 {
	testTS++
	return testTS
}

// Hole 1: a primary that restarts must not serve its old version again; it
// reports that it is not acting as primary so meta moves the shard on.
func TestRestartedPrimaryWaitsForMeta(t *testing.T) {
	env := roletest.New("data1", 1)
	defer env.Close()
	c := config(1, "data1", []string{"data2"}, "data3")
	primaryWithLease(t, env, Config{Meta: []actors.Addr{"meta"}}, c, "data2")
	env.Crash()
	s := start(env, Config{Meta: []actors.Addr{"meta"}})
	hbs := roletest.Of[*wire.Heartbeat](env.Take())
	if len(hbs) == 0 || len(hbs[0].Replicas) != 1 || hbs[0].Replicas[0].ActingPrimary || hbs[0].Replicas[0].ConfigVersion != 1 {
		t.Fatalf("restarted primary's heartbeat %v: want version 1, not acting as primary", hbs)
	}
	s.Handle(env, "api1", &wire.Commit{Shard: 0, ConfigVersion: 1, Op: &wire.OpID{Incarnation: 1, Counter: 1}, Command: cmdOf("SET", "k", "v")})
	replies := roletest.Of[*wire.CommitReply](env.Take())
	if len(replies) != 1 || replies[0].Status != wire.Status_NOT_PRIMARY {
		t.Fatalf("restarted primary answered a commit with %v, want NOT_PRIMARY", replies)
	}
	// Meta's new version makes it primary again, through a barrier.
	s.Handle(env, "meta", &wire.ConfigUpdate{Configs: []*wire.Config{config(2, "data1", []string{"data2"}, "data3")}})
	if r := s.replica(0); r.primary == nil || r.primary.barrierSeq == 0 {
		t.Fatal("the new version did not make it primary with a barrier")
	}
}

// Hole 6: heartbeat ids restart with the process, so a grant must name the
// process it answers.
func TestLeaseGrantForAnotherProcessIsIgnored(t *testing.T) {
	env := roletest.New("data1", 1)
	defer env.Close()
	c := config(1, "data1", []string{"data2"})
	s := start(env, Config{Meta: []actors.Addr{"meta"}})
	s.Handle(env, "meta", &wire.ConfigUpdate{Configs: []*wire.Config{c}})
	settle(env, s)
	s.Handle(env, "meta", &wire.HeartbeatReply{Id: s.heartbeatID, Incarnation: s.incarnation + 1,
		Leases: []*wire.LeaseGrant{{Shard: 0, ConfigVersion: 1, HeartbeatId: s.heartbeatID, LeaseNanos: int64(2 * time.Second)}}})
	if r := s.replica(0); !r.leaseUntil.IsZero() {
		t.Fatalf("a grant for another process's heartbeat %d gave a lease until %v", s.heartbeatID, r.leaseUntil)
	}
}

// Hole 4: under a steady write stream a learner always lags by the entries
// in flight; it must still be promoted once it holds everything committed.
func TestLearnerPromotedUnderSteadyWrites(t *testing.T) {
	env := roletest.New("data1", 1)
	defer env.Close()
	c := config(1, "data1", []string{"data2"}, "data3")
	s := primaryWithLease(t, env, Config{Meta: []actors.Addr{"meta"}}, c, "data2")
	r := s.replica(0)
	for i := 1; i <= 300; i++ {
		s.Handle(env, "api1", &wire.Commit{Shard: 0, ConfigVersion: 1, Op: &wire.OpID{Incarnation: 1, Counter: uint64(i)},
			Command: cmdOf("SET", "k", "v")})
		env.Settle(s) // flush and persist
		// Both peers ack everything but the newest entry, which is always
		// in flight; then the secondary acks it too, so it commits.
		s.Handle(env, "data3", &wire.PrepareAck{Shard: 0, ConfigVersion: 1, Ok: true, MatchSeq: r.log.synced - 1})
		s.Handle(env, "data2", &wire.PrepareAck{Shard: 0, ConfigVersion: 1, Ok: true, MatchSeq: r.log.synced - 1})
		env.Step(s, tick, tick)
		s.Handle(env, "data2", &wire.PrepareAck{Shard: 0, ConfigVersion: 1, Ok: true, MatchSeq: r.log.synced})
		grantLease(env, s, 1)
		for _, m := range roletest.Of[*wire.PromoteLearner](env.Take()) {
			if m.Learner == "data3" && m.ConfigVersion == 1 {
				return
			}
		}
	}
	t.Fatalf("data3 was never proposed for promotion in 3 s of steady writes (commit %d, last %d)", r.commitSeq, r.log.last)
}

// Hole 10: a peer receiving a large Prepare is not failed for silence while
// the value can still be on its way.
func TestLargePrepareGetsTimeToArrive(t *testing.T) {
	env := roletest.New("data1", 1)
	defer env.Close()
	c := config(1, "data1", []string{"data2"})
	s := primaryWithLease(t, env, Config{Meta: []actors.Addr{"meta"}}, c, "data2")
	big := strings.Repeat("x", 30<<20)
	s.Handle(env, "api1", &wire.Commit{Shard: 0, ConfigVersion: 1, Op: &wire.OpID{Incarnation: 1, Counter: 1},
		Command: cmdOf("SET", "k", big)})
	env.Settle(s)
	var prepares int
	for i := 0; i < 250; i++ { // 2.5 s: beyond RemoveAfter, within 30 MiB at 8 MiB/s
		env.Step(s, tick, tick)
		grantLease(env, s, 1)
		for _, m := range env.Take() {
			switch x := m.Msg.(type) {
			case *wire.RemoveReplica:
				t.Fatalf("after %v the primary asked to remove %s while a 30 MiB Prepare could still be in flight", time.Duration(i)*tick, x.Replica)
			case *wire.Prepare:
				if len(x.Entries) > 0 {
					prepares++
				}
			}
		}
	}
	if prepares > 1 {
		t.Fatalf("the 30 MiB entry was resent %d times in 2.5 s", prepares-1)
	}
}

// Rule commit-all's removal: a secondary that never answers again is
// removed after RemoveAfter, however long that is and however many writes
// keep coming. Resends and new entries used to extend the transfer
// allowance each time, so with RemoveAfter above the longest resend
// interval (2 s) a killed secondary stalled its shard for good, or for as
// long as writes came (the e2e test that kills a data server for good
// found both).
func TestDeadSecondaryRemovedAfterLongRemoveAfter(t *testing.T) {
	env := roletest.New("data1", 1)
	defer env.Close()
	c := config(1, "data1", []string{"data2"})
	removeAfter := 5 * time.Second
	s := primaryWithLease(t, env, Config{Meta: []actors.Addr{"meta"}, RemoveAfter: removeAfter}, c, "data2")
	s.Handle(env, "api1", &wire.Commit{Shard: 0, ConfigVersion: 1, Op: &wire.OpID{Incarnation: 1, Counter: 1},
		Command: cmdOf("SET", "k", "v")})
	env.Settle(s)
	for i := 0; i < 1500; i++ { // 15 s, a new write every 100 ms
		if i%10 == 0 {
			s.Handle(env, "api1", &wire.Commit{Shard: 0, ConfigVersion: 1, Op: &wire.OpID{Incarnation: 1, Counter: uint64(2 + i)},
				Command: cmdOf("SET", "k", "v")})
		}
		env.Step(s, tick, tick)
		grantLease(env, s, 1)
		for _, m := range env.Take() {
			if x, ok := m.Msg.(*wire.RemoveReplica); ok && x.Replica == "data2" {
				if at := time.Duration(i) * tick; at < removeAfter {
					t.Fatalf("data2 removed after %v, before RemoveAfter %v", at, removeAfter)
				}
				return
			}
		}
	}
	t.Fatalf("a silent secondary was not removed within 15 s (RemoveAfter %v)", removeAfter)
}

// An idle primary probes its peers, so a secondary that dies while nothing
// is written is removed too (and the spare meta then adds restores the
// replication factor); one that answers the probes stays.
func TestIdlePrimaryRemovesDeadSecondary(t *testing.T) {
	for _, alive := range []bool{false, true} {
		env := roletest.New("data1", 1)
		c := config(1, "data1", []string{"data2"})
		removeAfter := 2 * time.Second
		s := primaryWithLease(t, env, Config{Meta: []actors.Addr{"meta"}, RemoveAfter: removeAfter}, c, "data2")
		removed := time.Duration(0)
		for i := 1; i <= 1000 && removed == 0; i++ { // 10 s, no writes
			env.Step(s, tick, tick)
			grantLease(env, s, 1)
			for _, m := range env.Take() {
				switch x := m.Msg.(type) {
				case *wire.RemoveReplica:
					removed = time.Duration(i) * tick
				case *wire.Prepare:
					if alive && m.To == "data2" {
						s.Handle(env, "data2", &wire.PrepareAck{Shard: 0, ConfigVersion: 1, Ok: true, MatchSeq: x.PrevSeq + uint64(len(x.Entries))})
					}
				}
			}
		}
		env.Close()
		switch {
		case alive && removed != 0:
			t.Fatalf("a secondary answering the probes was removed after %v", removed)
		case !alive && removed == 0:
			t.Fatal("an idle primary never removed a silent secondary in 10 s")
		case !alive && removed < removeAfter:
			t.Fatalf("a silent secondary was removed after %v, before RemoveAfter %v", removed, removeAfter)
		}
	}
}

// Rule lease-read, asserted where a read is served: a lease from meta is
// required, and a grant for the wrong process gives none.
func TestReadNeedsLease(t *testing.T) {
	env := roletest.New("data1", 1)
	defer env.Close()
	c := config(1, "data1", []string{"data2"})
	s := primaryWithLease(t, env, Config{Meta: []actors.Addr{"meta"}}, c, "data2")
	env.Advance(3 * time.Second) // the lease ran out
	s.Handle(env, "api1", &wire.Read{Shard: 0, ConfigVersion: 1, Id: 1, Incarnation: 5, Ts: nextTS(), Command: cmdOf("GET", "k")})
	rr := roletest.Of[*wire.ReadReply](env.Take())
	if len(rr) != 1 || rr[0].Status != wire.Status_NOT_READY || rr[0].Incarnation != 5 {
		t.Fatalf("read without a lease answered %v, want NOT_READY echoing incarnation 5", rr)
	}
}

// A config change while we stay primary (here a learner added) keeps what
// each peer matched and when it last made progress. Restarting every
// peer's catch-up and removal clock at each change made a restart cascade:
// each change re-sent the log from the end and reset the clocks that fail
// a silent peer.
func TestConfigChangeKeepsPeerProgress(t *testing.T) {
	env := roletest.New("data1", 1)
	defer env.Close()
	s := primaryWithLease(t, env, Config{Meta: []actors.Addr{"meta"}}, config(1, "data1", []string{"data2"}), "data2")
	r := s.replica(0)
	for i := 1; i <= 5; i++ {
		s.Handle(env, "api1", &wire.Commit{Shard: 0, ConfigVersion: 1, Op: &wire.OpID{Incarnation: 1, Counter: uint64(i)},
			Command: cmdOf("SET", "k", "v")})
		env.Settle(s)
	}
	s.Handle(env, "data2", &wire.PrepareAck{Shard: 0, ConfigVersion: 1, Ok: true, MatchSeq: r.log.synced})
	before := *r.peer("data2")
	if before.match != r.log.synced {
		t.Fatalf("data2 matched %d after acking %d", before.match, r.log.synced)
	}
	env.Advance(300 * time.Millisecond)
	s.Handle(env, "meta", &wire.ConfigUpdate{Configs: []*wire.Config{config(2, "data1", []string{"data2"}, "data3")}})
	after := r.peer("data2")
	if after.match != before.match || after.next < before.next || !after.lastProgress.Equal(before.lastProgress) {
		t.Fatalf("config v2 reset data2's progress: match %d->%d, next %d->%d, last progress %v->%v",
			before.match, after.match, before.next, after.next, before.lastProgress, after.lastProgress)
	}
}

// A data server holds a replica of every shard meta placed on it, and a
// restart recovers every one of them from pebble, each in its own config.
func TestRestartRecoversEveryShard(t *testing.T) {
	env := roletest.New("data2", 1)
	defer env.Close()
	s := start(env, Config{Meta: []actors.Addr{"meta"}})
	s.Handle(env, "meta", &wire.ConfigUpdate{Configs: []*wire.Config{
		{Shard: 0, Version: 3, Primary: "data1", Secondaries: []string{"data2"}, SlotStart: 0, SlotEnd: 5000},
		{Shard: 4, Version: 9, Primary: "data3", Secondaries: []string{"data2"}, SlotStart: 5000, SlotEnd: 16384},
	}})
	settle(env, s)
	env.Crash()
	s = start(env, Config{Meta: []actors.Addr{"meta"}})
	hbs := roletest.Of[*wire.Heartbeat](env.Take())
	if len(hbs) == 0 {
		t.Fatal("no heartbeat after the restart")
	}
	got := map[uint32]uint64{}
	for _, r := range hbs[0].Replicas {
		got[r.Shard] = r.ConfigVersion
	}
	if len(got) != 2 || got[0] != 3 || got[4] != 9 {
		t.Fatalf("after a restart the heartbeat reports shards %v; want shard 0 at version 3 and shard 4 at version 9", got)
	}
}

// Rule handover: a primary asked to surrender stops serving at once,
// answers meta, and refuses the grants for that version still on their
// way; a later version's grant makes it serve again.
func TestSurrenderedPrimaryServesNothingMore(t *testing.T) {
	env := roletest.New("data1", 1)
	defer env.Close()
	c := config(1, "data1", []string{"data2"})
	s := primaryWithLease(t, env, Config{Meta: []actors.Addr{"meta"}}, c, "data2")
	env.Take()
	read := func(id uint64) wire.Status {
		s.Handle(env, "api1", &wire.Read{Shard: 0, ConfigVersion: 1, Id: id, Incarnation: 5, Ts: nextTS(), Command: cmdOf("GET", "k")})
		rr := roletest.Of[*wire.ReadReply](env.Take())
		if len(rr) != 1 {
			t.Fatalf("read %d answered %v", id, rr)
		}
		return rr[0].Status
	}
	if st := read(1); st != wire.Status_OK {
		t.Fatalf("a primary with a lease answered a read with %v", st)
	}
	s.Handle(env, "meta", &wire.Surrender{Shard: 0, ConfigVersion: 1})
	if got := roletest.Of[*wire.Surrendered](env.Take()); len(got) != 1 || got[0].ConfigVersion != 1 {
		t.Fatalf("surrender answered %v, want Surrendered for version 1", got)
	}
	if st := read(2); st != wire.Status_NOT_READY {
		t.Fatalf("a surrendered primary answered a read with %v, want NOT_READY", st)
	}
	grantLease(env, s, 1) // sent before meta stopped granting
	if st := read(3); st != wire.Status_NOT_READY {
		t.Fatalf("a grant for the surrendered version made it serve again (%v)", st)
	}
	// meta aborted the handover and moved the shard on: serve again.
	s.Handle(env, "meta", &wire.ConfigUpdate{Configs: []*wire.Config{config(2, "data1", []string{"data2"})}})
	s.Handle(env, "data2", &wire.PrepareAck{Shard: 0, ConfigVersion: 2, Ok: true, MatchSeq: s.replica(0).log.last})
	settle(env, s)
	s.Handle(env, "data2", &wire.PrepareAck{Shard: 0, ConfigVersion: 2, Ok: true, MatchSeq: s.replica(0).log.last})
	grantLease(env, s, 2)
	env.Take()
	s.Handle(env, "api1", &wire.Read{Shard: 0, ConfigVersion: 2, Id: 4, Incarnation: 5, Ts: nextTS(), Command: cmdOf("GET", "k")})
	if rr := roletest.Of[*wire.ReadReply](env.Take()); len(rr) != 1 || rr[0].Status != wire.Status_OK {
		t.Fatalf("after a new version's grant the read answered %v, want OK", rr)
	}
}

// Rule commit-all (canary learner-counts): a learner is proposed for
// promotion, and counted, only once it holds every committed entry; one
// still behind is never proposed, however long it takes.
func TestLearnerBehindIsNotPromoted(t *testing.T) {
	for _, canary := range []string{"", CanaryLearnerCounts} {
		env := roletest.New("data1", 1)
		c := config(1, "data1", []string{"data2"}, "data3")
		s := primaryWithLease(t, env, Config{Meta: []actors.Addr{"meta"}, Canary: canary}, c, "data2")
		r := s.replica(0)
		proposed := false
		for i := 1; i <= 100 && !proposed; i++ {
			s.Handle(env, "api1", &wire.Commit{Shard: 0, ConfigVersion: 1, Op: &wire.OpID{Incarnation: 1, Counter: uint64(i)},
				Command: cmdOf("SET", "k", "v")})
			env.Settle(s)
			s.Handle(env, "data2", &wire.PrepareAck{Shard: 0, ConfigVersion: 1, Ok: true, MatchSeq: r.log.synced})
			s.Handle(env, "data3", &wire.PrepareAck{Shard: 0, ConfigVersion: 1, Ok: true, MatchSeq: 1}) // stuck far behind
			env.Step(s, 5*tick, tick)
			grantLease(env, s, 1)
			proposed = len(roletest.Of[*wire.PromoteLearner](env.Take())) > 0
		}
		env.Close()
		if want := canary != ""; proposed != want {
			t.Fatalf("canary %q: a learner at match 1 of commit %d proposed for promotion: %v, want %v", canary, r.commitSeq, proposed, want)
		}
	}
}

// A primary tells the operator when it gains a lease and when it loses
// one, once per change.
func TestPrimaryLogsLeaseGainedAndLost(t *testing.T) {
	env := roletest.New("data1", 1)
	defer env.Close()
	var log bytes.Buffer
	env.LogTo(&log)
	c := config(1, "data1", []string{"data2"})
	s := primaryWithLease(t, env, Config{Meta: []actors.Addr{"meta"}}, c, "data2")
	grantLease(env, s, c.Version) // a renewal is no news
	if n := strings.Count(log.String(), "holds a lease"); n != 1 {
		t.Fatalf("want one line on gaining the lease, got %d:\n%s", n, log.String())
	}
	env.Advance(3 * time.Second) // past the 2 s lease, no renewal
	s.Handle(env, env.Self(), &wire.Tick{Kind: wire.Tick_HEARTBEAT})
	s.Handle(env, env.Self(), &wire.Tick{Kind: wire.Tick_HEARTBEAT})
	if n := strings.Count(log.String(), "lease lost"); n != 1 {
		t.Fatalf("want one line on losing the lease, got %d:\n%s", n, log.String())
	}
	grantLease(env, s, c.Version)
	if n := strings.Count(log.String(), "holds a lease"); n != 2 {
		t.Errorf("want a second line on regaining the lease, got %d:\n%s", n, log.String())
	}
}
