package data

// Reproductions of holes a review of compaction and snapshots found (the
// session of issue 7), one per test; each failed before its fix.

import (
	"testing"
	"time"

	"castkv/actors"
	"castkv/actors/roletest"
	"castkv/actors/wire"
)

// snapshotChunks builds the chunks of a snapshot of a replica (data9) that
// applied entries 1..n of version 1, with small chunks so there are several.
func snapshotChunks(t *testing.T, n uint64, c *wire.Config, id uint64) []*wire.SnapshotChunk {
	t.Helper()
	env, _ := secondaryWithLog(t, n, n)
	defer env.Close()
	rd := env.Store().NewSnapshotReader(0)
	defer rd.Close()
	seq, ver, err := rd.Position()
	if err != nil || seq != n {
		t.Fatalf("position %d %d %v", seq, ver, err)
	}
	var out []*wire.SnapshotChunk
	for i := uint64(0); ; i++ {
		data, done, err := rd.Next(64)
		if err != nil {
			t.Fatal(err)
		}
		m := &wire.SnapshotChunk{Config: c, Id: id, Index: i, Data: data, Done: done, AppliedSeq: seq, AppliedVersion: ver}
		out = append(out, m)
		if done {
			return out
		}
	}
}

func learnerOf(t *testing.T, c *wire.Config) (*roletest.Env, *Server) {
	env := roletest.New("data3", 3)
	s := start(env, Config{Meta: []actors.Addr{"meta"}})
	s.Handle(env, "meta", &wire.ConfigUpdate{Configs: []*wire.Config{c}})
	settle(env, s)
	return env, s
}

// Finding: recoverReplica drops a partial install with BeginSnapshot, which
// sets the install marker again; nothing clears it unless a later install
// finishes. A replica that then catches up from the log (a primary whose log
// was never compacted) acks entries durably, and its next restart deletes
// them all.
func TestHoleInstallMarkerSurvivesRecovery(t *testing.T) {
	c1 := config(1, "data1", []string{"data2"}, "data3")
	env, s := learnerOf(t, c1)
	defer env.Close()
	chunks := snapshotChunks(t, 5, c1, 77)
	if len(chunks) < 2 {
		t.Fatalf("want several chunks, got %d", len(chunks))
	}
	s.Handle(env, "data1", chunks[0]) // begin install
	settle(env, s)
	if err := env.Store().Sync(); err != nil { // any later sync (a config's WriteSync, a Persist)
		t.Fatal(err)
	}
	env.Crash()
	s = start(env, Config{Meta: []actors.Addr{"meta"}})
	if err := env.Store().Sync(); err != nil {
		t.Fatal(err)
	}
	inst, _ := env.Store().SnapshotInstalling(0)
	t.Logf("after recovery: install marker set = %v, installing in memory = %v", inst, s.replica(0).installing != nil)

	// A new primary (data2) whose log starts at 0 sends entries 1..3; the
	// learner acks them durably.
	c2 := config(2, "data2", []string{"data1"}, "data3")
	p := &wire.Prepare{Config: c2, CommitSeq: 3}
	for i := uint64(1); i <= 3; i++ {
		p.Entries = append(p.Entries, entry(i, 2, "k", "v"))
	}
	s.Handle(env, "data2", p)
	sent := settle(env, s)
	if a := okAckAtLeast(sent, 3); a == nil {
		t.Fatalf("learner did not ack 1..3: %v", sent)
	}
	t.Logf("learner acked 3 durably; applied %d", s.replica(0).appliedSeq)
	env.Crash()
	start(env, Config{Meta: []actors.Addr{"meta"}})
	last := lastEntry(t, env)
	applied, _ := env.Store().Applied(0)
	if last < 3 && applied < 3 {
		t.Errorf("after a restart the replica holds log through %d, applied %d, though it acked 3 durably", last, applied)
	}
}

// Finding: a resend of the last chunk of an installed snapshot is ignored
// without re-sending the PrepareAck; if that ack was lost the primary (which
// sends no Prepares while p.snap != nil) resends the chunk forever.
func TestHoleInstalledSnapshotResendUnanswered(t *testing.T) {
	c1 := config(1, "data1", []string{"data2"}, "data3")
	env, s := learnerOf(t, c1)
	defer env.Close()
	chunks := snapshotChunks(t, 5, c1, 77)
	for _, m := range chunks {
		s.Handle(env, "data1", m)
	}
	sent := settle(env, s)
	if a := okAckAtLeast(sent, 5); a == nil {
		t.Fatalf("no ack after install: %v", sent)
	}
	// That PrepareAck is lost. The primary resends the last chunk.
	for range 3 {
		s.Handle(env, "data1", chunks[len(chunks)-1])
		if sent := settle(env, s); len(sent) == 0 {
			t.Errorf("resend of the installed snapshot's last chunk got no answer at all")
		}
	}
}

// Finding: chunk 0 of an old snapshot (duplicated / late in the network)
// reaching a learner after it restarted (installed = 0 in memory) or after a
// later install starts a new install: the learner wipes what it holds and
// then ignores every Prepare (installing != nil), silently.
func TestHoleStaleChunkZeroWipesLearner(t *testing.T) {
	c1 := config(1, "data1", []string{"data2"}, "data3")
	env, s := learnerOf(t, c1)
	defer env.Close()
	chunks := snapshotChunks(t, 5, c1, 77)
	for _, m := range chunks {
		s.Handle(env, "data1", m)
	}
	settle(env, s)
	// The learner goes on from the log: entries 6..8.
	p := &wire.Prepare{Config: c1, PrevSeq: 5, PrevVersion: 1, CommitSeq: 8}
	for i := uint64(6); i <= 8; i++ {
		p.Entries = append(p.Entries, entry(i, 1, "k", "v"))
	}
	s.Handle(env, "data1", p)
	if a := okAckAtLeast(settle(env, s), 8); a == nil {
		t.Fatal("no ack of 8")
	}
	env.Crash()
	s = start(env, Config{Meta: []actors.Addr{"meta"}})
	settle(env, s)
	t.Logf("restarted learner: applied %d, log last %d", s.replica(0).appliedSeq, s.replica(0).log.last)
	// A duplicate of chunk 0 of snapshot 77 arrives late.
	s.Handle(env, "data1", chunks[0])
	settle(env, s)
	r := s.replica(0)
	t.Logf("after a stale chunk 0: applied %d, log last %d, installing %v", r.appliedSeq, r.log.last, r.installing != nil)
	// The primary goes on with Prepares; the learner answers none.
	p9 := &wire.Prepare{Config: c1, PrevSeq: 8, PrevVersion: 1, CommitSeq: 8, Entries: []*wire.Entry{entry(9, 1, "k", "v")}}
	s.Handle(env, "data1", p9)
	if sent := settle(env, s); len(acks(sent)) == 0 && r.appliedSeq == 0 {
		t.Errorf("a stale chunk 0 wiped a learner at applied 8, and it now answers no Prepare")
	}
}

// Finding: replicas' exactly-once tables diverge (a truncated entry leaves
// its session's lastSeq; the table saved at compaction is "as of now" and the
// log after it is replayed over it), and record() re-creates a session at or
// below evictedThrough. Secondary B: entries 1..1025 (sessions 1..1024, then
// session 1 again), a deposed primary's entry 1026 of session 2 (truncated),
// the new primary's 1026.. (barrier, sessions 3..1024, new session 1025,
// which evicts session 1 on B but session 2 on the new primary). B compacts
// at 1024 and restarts: session 1 comes back with only op 11, so its op 10
// (executed at seq 1) is a new op again.
func TestHoleDedupResurrectsEvictedSession(t *testing.T) {
	e := func(seq, inc, counter uint64) *wire.Entry {
		return &wire.Entry{Seq: seq, Op: &wire.OpID{Incarnation: inc, Counter: counter}, Result: &wire.Reply{Kind: wire.Reply_STATUS, Str: "OK"}}
	}
	var log []*wire.Entry
	for inc := uint64(1); inc <= maxSessions; inc++ {
		log = append(log, e(inc, inc, 10))
	}
	to := uint64(len(log))
	log = append(log, e(to+1, 1, 11))
	live := newDedup()
	for _, x := range log {
		live.record(x)
	}
	live.record(e(to+2, 2, 11)) // deposed primary's entry
	live.truncate(to + 2)       // replaced by the new primary's log
	log = append(log, &wire.Entry{Seq: to + 2, Kind: wire.Entry_BARRIER})
	for inc := uint64(3); inc <= maxSessions; inc++ {
		log = append(log, e(uint64(len(log))+1, inc, 11))
	}
	log = append(log, e(uint64(len(log))+1, maxSessions+1, 10))
	for _, x := range log[to+1:] {
		live.record(x)
	}
	_, found, exp := live.lookup(&wire.OpID{Incarnation: 1, Counter: 10})
	t.Logf("B live: op (1,10) found=%v expired=%v (2 = session expired)", found, exp)
	// the new primary's table, from its log alone
	primary := newDedup()
	for _, x := range log {
		primary.record(x)
	}
	_, pf, pe := primary.lookup(&wire.OpID{Incarnation: 1, Counter: 10})
	t.Logf("new primary: op (1,10) found=%v expired=%v", pf, pe)

	rebuilt := dedupFrom(live.table(to))
	for _, x := range log[to:] {
		rebuilt.record(x)
	}
	_, found2, exp2 := rebuilt.lookup(&wire.OpID{Incarnation: 1, Counter: 10})
	t.Logf("B after compaction at %d and restart: op (1,10) found=%v expired=%v", to, found2, exp2)
	if !found2 && exp2 == notExpired {
		t.Errorf("op (1,10), executed at seq 1, is a new op again on B after its restart")
	}
}

// Finding: a stale or duplicated nack whose prev_seq equals the log start
// marks the probe refused, and a learner the primary already counts
// (promoting) is sent a snapshot: its install deletes the log it acked.
func TestHoleStaleNackSnapshotsCountedLearner(t *testing.T) {
	env := roletest.New("data1", 1)
	defer env.Close()
	c := config(1, "data1", []string{"data2"}, "data3")
	s := primaryWithLease(t, env, Config{Meta: []actors.Addr{"meta"}, CompactEvery: 2, MaxLogEntries: 1000}, c, "data2", "data3")
	r := s.replica(0)
	for i := uint64(1); i <= 6; i++ {
		s.Handle(env, "api", set(i, "k", "v"))
	}
	settle(env, s)
	for _, p := range []string{"data2", "data3"} {
		s.Handle(env, actorsAddr(p), &wire.PrepareAck{Shard: 0, ConfigVersion: 1, Ok: true, MatchSeq: r.log.last})
	}
	settle(env, s)
	// one more round so the compaction hint (peers' match) is seen after apply
	s.Handle(env, "api", set(7, "k", "v"))
	settle(env, s)
	for _, p := range []string{"data2", "data3"} {
		s.Handle(env, actorsAddr(p), &wire.PrepareAck{Shard: 0, ConfigVersion: 1, Ok: true, MatchSeq: r.log.last})
	}
	settle(env, s)
	t.Logf("commit %d applied %d log start %d last %d", r.commitSeq, r.appliedSeq, r.log.start, r.log.last)
	if r.log.start == 0 {
		t.Fatal("no compaction happened: the test does not reach its case")
	}
	env.Take()
	env.Step(s, 1500*1e6, tick) // past RemoveAfter: the learner is proposed for promotion
	grantLease(env, s, 1)
	var p3 *peer
	for _, p := range r.primary.peers {
		if p.addr == "data3" {
			p3 = p
		}
	}
	t.Logf("data3 promoting (counted) = %v, match %d", p3.promoting, p3.match)
	env.Take()
	// A nack data3 sent long ago (it lacked entry X = today's log start), delivered twice.
	stale := &wire.PrepareAck{Shard: 0, ConfigVersion: 1, Ok: false, MatchSeq: 0, PrevSeq: r.log.start}
	s.Handle(env, "data3", stale)
	s.Handle(env, "data3", stale)
	chunks := 0
	for _, m := range env.Take() {
		if _, ok := m.Msg.(*wire.SnapshotChunk); ok && m.To == "data3" {
			chunks++
		}
	}
	if chunks > 0 && p3.promoting {
		t.Errorf("a snapshot went to data3 while the primary counts it for commit (match %d)", p3.match)
	}
}

func actorsAddr(s string) actors.Addr { return actors.Addr(s) }

// A learner in the middle of an install whose primary went away (restarted,
// hence a new version, or replaced) would wait for chunks that never come
// and ignore every Prepare. A Prepare of a newer version ends the install
// and gets an answer.
func TestHoleInstallOrphanedByNewPrimary(t *testing.T) {
	c1 := config(1, "data1", []string{"data2"}, "data3")
	env, s := learnerOf(t, c1)
	defer env.Close()
	chunks := snapshotChunks(t, 5, c1, 77)
	if len(chunks) < 2 {
		t.Fatalf("want a snapshot of several chunks, got %d", len(chunks))
	}
	s.Handle(env, "data1", chunks[0])
	settle(env, s)
	if s.replica(0).installing == nil {
		t.Fatal("chunk 0 began no install")
	}
	// data1 restarted: meta moved the shard to version 2, same members.
	c2 := config(2, "data1", []string{"data2"}, "data3")
	s.Handle(env, "data1", &wire.Prepare{Config: c2, PrevSeq: 9, PrevVersion: 2, CommitSeq: 9})
	sent := settle(env, s)
	if len(acks(sent)) == 0 {
		t.Fatalf("the learner answered no Prepare of the new primary while installing: %v", sent)
	}
	if r := s.replica(0); r.installing != nil {
		t.Fatal("the orphaned install goes on")
	}
	if ok, err := env.Store().SnapshotInstalling(0); err != nil || ok {
		t.Fatalf("install marker left behind: %t %v", ok, err)
	}
}

// Seed 1506 of the 2000-seed sweep: a stale nack lowered a learner's next
// entry below the primary's log start, so it got a snapshot although its
// match already covered every committed entry; the primary then asked meta
// to promote it while the install, which drops what the learner holds,
// was not yet durable, and meta counted a replica that held nothing. A
// learner with a snapshot on its way is not promoted.
func TestHoleLearnerPromotedDuringSnapshot(t *testing.T) {
	env := roletest.New("data1", 1)
	defer env.Close()
	c := config(1, "data1", []string{"data2"}, "data3")
	s := primaryWithLease(t, env, Config{Meta: []actors.Addr{"meta"}}, c, "data2", "data3")
	r := s.replica(0)
	p := r.peer("data3")
	if p == nil || !p.learner || p.match < r.commitSeq {
		t.Fatalf("data3 should be a caught-up learner: %+v, commit %d", p, r.commitSeq)
	}
	p.snap = &snapshotOut{id: 1, seq: r.commitSeq} // on its way, as after the stale nack
	env.Take()
	for range 3 {
		env.Step(s, 2*time.Second, tick)
		grantLease(env, s, c.Version)
	}
	if got := roletest.Of[*wire.PromoteLearner](env.Take()); len(got) != 0 || p.promoting {
		t.Fatalf("the primary asked to promote data3 while a snapshot was on its way to it: %v", got)
	}
	p.snap = nil // installed and durable
	env.Step(s, 2*time.Second, tick)
	if got := roletest.Of[*wire.PromoteLearner](env.Take()); len(got) == 0 {
		t.Fatalf("once the snapshot is installed, the caught-up learner should be promoted; sent %v", got)
	}
}
