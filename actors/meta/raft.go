package meta

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"time"

	"castkv/actors"
	"castkv/actors/cluster"
	"castkv/actors/store"
	"castkv/actors/wire"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// The meta group runs go.etcd.io/raft's RawNode, itself a pure state
// machine, inside this actor. What raft leaves to its host is here:
//
//   - Storage. Every Ready's entries, hard state and snapshot are written
//     and synced to pebble (store's 'r' records) before its messages go out
//     and before anything is applied; a raft.MemoryStorage mirrors them.
//   - Elections without raft's own randomness. Raft draws each election
//     timeout from crypto/rand, which would make simulator runs
//     unrepeatable, so only the leader is ever ticked (heartbeats); a
//     follower campaigns (RawNode.Campaign) when it has heard nothing from a
//     leader for ElectionTimeout plus a random extra from env.Rand().
//   - Leader stickiness (raft's CheckQuorum, done here because raft bases
//     it on ticks we do not give followers): a member that heard from a
//     leader within ElectionTimeout, or that restarted within it, or that
//     leads, ignores vote and pre-vote requests.
//   - Leadership confirmation. Each tick the leader asks raft for a
//     ReadIndex carrying the time it asked; when raft reports a quorum
//     acknowledged it, the leader knows that at that time a quorum followed
//     it, and so no other leader can be elected within ElectionTimeout
//     (stickiness) of it. The leader grants leases and answers requests only
//     within confirmWindow of its newest confirmation, which is well inside
//     that span on any clocks within the drift bound: every grant of an old
//     leader precedes the election of the next, which then waits out a
//     lease before promoting anyone.

// raftID is a member's raft node id: a hash of its address, so that a
// member joining later needs no id handed to it. Never 0 (raft's None).
func raftID(a actors.Addr) uint64 {
	h := fnv.New64a()
	h.Write([]byte(a))
	if id := h.Sum64(); id != 0 {
		return id
	}
	return 1
}

// maxReads bounds the leadership confirmations in flight.
const maxReads = 8

// compactEvery is how many applied entries the log keeps beyond its
// snapshot before a new snapshot replaces them; compactKeep of them stay for
// followers a little behind.
const (
	compactEvery = 256
	compactKeep  = 64
)

// startRaft loads (or on first boot creates) this member's raft state and
// the state machine it implies.
func (m *Meta) startRaft(env actors.Env) {
	m.id = raftID(env.Self())
	m.addrs = map[uint64]actors.Addr{m.id: env.Self()}
	m.ms = raft.NewMemoryStorage()
	rs, err := m.st.RaftState()
	if err != nil {
		panic(fmt.Sprintf("meta: load raft state: %v", err))
	}
	if rs.HardState == nil && rs.Snapshot == nil && len(rs.Entries) == 0 && !m.cfg.Join {
		rs = m.bootstrap(env)
	}
	m.resetState()
	if rs.Snapshot != nil {
		snap := &raftpb.Snapshot{}
		m.must(proto.Unmarshal(rs.Snapshot, snap), "decode raft snapshot")
		m.must(m.ms.ApplySnapshot(snap), "load raft snapshot")
		m.restore(snap)
	}
	if rs.HardState != nil {
		hs := &raftpb.HardState{}
		m.must(proto.Unmarshal(rs.HardState, hs), "decode raft hard state")
		m.must(m.ms.SetHardState(hs), "load raft hard state")
	}
	var ents []*raftpb.Entry
	for _, b := range rs.Entries {
		e := &raftpb.Entry{}
		m.must(proto.Unmarshal(b, e), "decode raft entry")
		ents = append(ents, e)
	}
	m.must(m.ms.Append(ents), "load raft log")
	rn, err := raft.NewRawNode(&raft.Config{
		ID:                        m.id,
		ElectionTick:              10, // unused: followers are never ticked
		HeartbeatTick:             1,
		Storage:                   raftStorage{m.ms, m},
		Applied:                   m.applied,
		MaxSizePerMsg:             1 << 20,
		MaxCommittedSizePerReady:  4 << 20,
		MaxUncommittedEntriesSize: 16 << 20,
		MaxInflightMsgs:           64,
		PreVote:                   true,
		StepDownOnRemoval:         true, // a removed leader hands over at once
		ReadOnlyOption:            raft.ReadOnlySafe,
		Logger:                    raftLogger{env.Log()},
	})
	if err != nil {
		panic(fmt.Sprintf("meta: start raft: %v", err))
	}
	m.rn = rn
	m.heardLeaderAt, m.lastCampaign = m.start, m.start
	m.electionAfter = m.drawElection(env)
}

// bootstrap creates the group's first state, identical on every initial
// member: a snapshot at index 1, term 1, whose voters are cfg.Peers and
// whose state holds shard 0's first config. A meta server of a release
// before the group kept its config and session high-water mark as plain
// records: those are carried over, so an upgrade never takes a config
// version back.
func (m *Meta) bootstrap(env actors.Env) *store.RaftState {
	peers := m.cfg.Peers
	if len(peers) == 0 {
		peers = []actors.Addr{env.Self()}
	}
	state := &wire.MetaState{SessionLimit: 1}
	legacy, err := m.st.Config(0)
	m.must(err, "read a config kept before the meta group")
	hwm, err := m.st.Meta(legacySessionKey)
	m.must(err, "read a session high-water mark kept before the meta group")
	if len(hwm) == 8 {
		state.SessionLimit = binary.BigEndian.Uint64(hwm)
	}
	if legacy != nil && len(peers) > 1 {
		// The other initial members would bootstrap without it: their
		// first states would differ, which raft cannot tell.
		panic("meta: this data directory holds a config from before the meta group; start this member alone (no --meta-peers), then add the others with castd admin meta-add")
	}
	if legacy != nil {
		state.Configs = append(state.Configs, legacy)
		env.Log().Info("meta: carrying over the config kept before the meta group", "config", describe(legacy), "session_limit", state.SessionLimit)
	} else if len(m.cfg.DataServers) > 0 {
		servers := make([]string, len(m.cfg.DataServers))
		for i, d := range m.cfg.DataServers {
			servers[i] = string(d)
		}
		state.Configs = cluster.Place(servers, m.cfg.Shards, m.cfg.Replicas)
	}
	cs := &raftpb.ConfState{}
	for _, p := range peers {
		id := raftID(p)
		cs.Voters = append(cs.Voters, id)
		state.Members = append(state.Members, &wire.MetaMember{Id: id, Addr: string(p)})
	}
	data := marshal(state)
	snap := &raftpb.Snapshot{Data: data, Metadata: &raftpb.SnapshotMetadata{ConfState: cs, Index: new(uint64(1)), Term: new(uint64(1))}}
	hs := &raftpb.HardState{Term: new(uint64(1)), Commit: new(uint64(1))}
	rs := &store.RaftState{Snapshot: marshal(snap), HardState: marshal(hs)}
	b := m.st.NewBatch()
	b.PutRaftSnapshot(1, rs.Snapshot)
	b.PutRaftHardState(rs.HardState)
	m.must(m.st.WriteSync(b), "persist the group's first state")
	env.Log().Info("bootstrapped meta group", "members", peers, "shards", len(state.Configs), "shard0", describe(firstConfig(state)))
	return rs
}

func firstConfig(s *wire.MetaState) *wire.Config {
	if len(s.Configs) > 0 {
		return s.Configs[0]
	}
	return nil
}

func marshal(x proto.Message) []byte {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(x)
	if err != nil {
		panic(fmt.Sprintf("meta: encode %T: %v", x, err))
	}
	return b
}

func (m *Meta) must(err error, what string) {
	if err != nil {
		panic(fmt.Sprintf("meta: %s: %v", what, err))
	}
}

// drawElection is how long a follower waits without hearing from a leader
// before it campaigns: ElectionTimeout plus up to as much again, from the
// node's seeded randomness.
func (m *Meta) drawElection(env actors.Env) time.Duration {
	e := m.cfg.ElectionTimeout
	return e + time.Duration(env.Rand().Int64N(int64(e)))
}

// confirmWindow is how long after its newest confirmation a leader may
// still act as leader. A confirmation at t means a quorum heard from it
// after t, and each of them refuses votes for ElectionTimeout on its own
// clock; half of that, on ours, is inside that span for any drift below a
// third.
func (m *Meta) confirmWindow() time.Duration { return m.cfg.ElectionTimeout / 2 }

// leading reports whether this member leads the group and a quorum
// confirmed it recently enough to act on it.
func (m *Meta) leading(now time.Time) bool {
	if m.rn == nil || m.rn.BasicStatus().RaftState != raft.StateLeader {
		return false
	}
	if m.cfg.Canary == CanaryGrantUnconfirmed {
		return true
	}
	return !m.confirmedAt.IsZero() && now.Sub(m.confirmedAt) < m.confirmWindow()
}

// leaderAddr is the member this one believes leads, "" if none.
func (m *Meta) leaderAddr() actors.Addr {
	if m.rn == nil {
		return ""
	}
	return m.addrs[m.rn.BasicStatus().Lead]
}

// sticky: this member refuses votes (see the package comment on raft).
func (m *Meta) sticky(now time.Time) bool {
	st := m.rn.BasicStatus()
	if st.RaftState == raft.StateLeader {
		return true
	}
	if now.Sub(m.start) < m.cfg.ElectionTimeout {
		return true
	}
	return st.Lead != raft.None && now.Sub(m.heardLeaderAt) < m.cfg.ElectionTimeout
}

// tick is one raft tick: heartbeats and a leadership confirmation at the
// leader, an election at a follower whose leader went quiet.
func (m *Meta) tick(env actors.Env) {
	now := env.Now()
	st := m.rn.BasicStatus()
	if st.RaftState == raft.StateLeader {
		m.rn.Tick()
		// A confirmation every tick, up to maxReads in flight (raft holds
		// them until the leader commits in its term, and a lost one never
		// returns: it is forgotten after an election timeout), so that on a
		// slow network the newest confirmation is about a round trip old.
		m.reads = slices.DeleteFunc(m.reads, func(at time.Time) bool { return now.Sub(at) >= m.cfg.ElectionTimeout })
		if len(m.reads) < maxReads {
			m.reads = append(m.reads, now)
			m.rn.ReadIndex(binary.BigEndian.AppendUint64(nil, uint64(now.UnixNano())))
		}
		return
	}
	since := m.heardLeaderAt
	if m.lastCampaign.After(since) {
		since = m.lastCampaign
	}
	if now.Sub(since) >= m.electionAfter && slices.Contains(m.confState.GetVoters(), m.id) {
		m.lastCampaign = now
		m.electionAfter = m.drawElection(env)
		if err := m.rn.Campaign(); err != nil {
			env.Log().Debug("meta: campaign refused", "err", err)
		}
	}
}

// stepRaft hands a peer's raft message to raft.
func (m *Meta) stepRaft(env actors.Env, from actors.Addr, x *wire.RaftMessage) {
	msg := &raftpb.Message{}
	if err := proto.Unmarshal(x.Msg, msg); err != nil {
		env.Log().Warn("meta: dropping an undecodable raft message", "from", from, "err", err)
		return
	}
	if msg.GetTo() != m.id || msg.GetFrom() != raftID(from) {
		env.Log().Warn("meta: dropping a raft message not meant for this member", "from", from, "to_id", msg.GetTo())
		return
	}
	if _, member := m.members[msg.GetFrom()]; member || len(m.members) == 0 {
		// A joining member learns its leader's address here, before the
		// snapshot that names the group reaches it; anyone else's address
		// comes from the log, so a stranger cannot grow this map.
		m.addrs[msg.GetFrom()] = from
	}
	now := env.Now()
	switch msg.GetType() {
	case raftpb.MsgVote, raftpb.MsgPreVote:
		if m.sticky(now) {
			return
		}
	}
	if err := m.rn.Step(msg); err != nil {
		env.Log().Debug("meta: raft refused a message", "from", from, "type", msg.GetType().String(), "err", err)
		return
	}
	switch msg.GetType() {
	case raftpb.MsgApp, raftpb.MsgHeartbeat, raftpb.MsgSnap:
		if m.rn.BasicStatus().Lead == msg.GetFrom() {
			m.heardLeaderAt = now
		}
	}
}

// ready persists, sends and applies whatever raft has ready, in that order.
func (m *Meta) ready(env actors.Env) {
	for m.rn.HasReady() {
		rd := m.rn.Ready()
		m.persistReady(rd)
		for _, msg := range rd.Messages {
			m.sendRaft(env, msg)
		}
		if !raft.IsEmptySnap(rd.Snapshot) {
			m.restore(rd.Snapshot)
			env.Log().Info("meta: installed a snapshot from the leader", "index", rd.Snapshot.GetMetadata().GetIndex())
		}
		for _, e := range rd.CommittedEntries {
			m.applyEntry(env, e)
		}
		for _, rs := range rd.ReadStates {
			if len(rs.RequestCtx) == 8 {
				at := time.Unix(0, int64(binary.BigEndian.Uint64(rs.RequestCtx)))
				if at.After(m.confirmedAt) {
					m.confirmedAt = at
				}
				m.reads = slices.DeleteFunc(m.reads, func(r time.Time) bool { return r.Equal(at) })
			}
		}
		if rd.SoftState != nil {
			m.softState(env, rd.SoftState)
		}
		m.rn.Advance(rd)
		m.maybeCompact(env)
	}
}

func (m *Meta) persistReady(rd raft.Ready) {
	b := m.st.NewBatch()
	if !raft.IsEmptySnap(rd.Snapshot) {
		b.InstallRaftSnapshot(marshal(rd.Snapshot))
	}
	if len(rd.Entries) > 0 {
		ents := make([][]byte, len(rd.Entries))
		for i, e := range rd.Entries {
			ents[i] = marshal(e)
		}
		b.PutRaftEntries(rd.Entries[0].GetIndex(), ents)
	}
	if !raft.IsEmptyHardState(rd.HardState) {
		b.PutRaftHardState(marshal(rd.HardState))
	}
	if !b.Empty() {
		m.must(m.st.WriteSync(b), "persist raft state")
	}
	if !raft.IsEmptySnap(rd.Snapshot) {
		m.must(m.ms.ApplySnapshot(rd.Snapshot), "install raft snapshot")
	}
	if !raft.IsEmptyHardState(rd.HardState) {
		m.must(m.ms.SetHardState(rd.HardState), "keep raft hard state")
	}
	m.must(m.ms.Append(rd.Entries), "keep raft entries")
}

func (m *Meta) sendRaft(env actors.Env, msg *raftpb.Message) {
	to, ok := m.addrs[msg.GetTo()]
	if !ok {
		env.Log().Debug("meta: no address for raft member", "id", msg.GetTo())
		return
	}
	env.Send(to, &wire.RaftMessage{Msg: marshal(msg)})
	if msg.GetType() == raftpb.MsgSnap {
		// Delivery is not confirmed; if the snapshot was lost the follower
		// refuses the next append and the leader sends it again.
		m.rn.ReportSnapshot(msg.GetTo(), raft.SnapshotFinish)
	}
}

// softState follows leadership changes.
func (m *Meta) softState(env actors.Env, ss *raft.SoftState) {
	now := env.Now()
	isLeader := ss.RaftState == raft.StateLeader
	if isLeader && !m.wasLeader {
		m.becomeLeader(env, now)
	} else if !isLeader && m.wasLeader {
		env.Log().Info("meta: no longer the leader", "leader", m.addrs[ss.Lead])
		m.dropLeaderState()
	}
	m.wasLeader = isLeader
}

// raftStorage is the storage raft reads: the in-memory mirror, except that
// a snapshot raft asks for (to send a follower too far behind, or a member
// that just joined) is taken at that moment, so it holds every membership
// change applied so far; a stale one would name a group without the member
// it is for, which raft refuses.
type raftStorage struct {
	*raft.MemoryStorage
	m *Meta
}

func (s raftStorage) Snapshot() (*raftpb.Snapshot, error) {
	s.m.snapshotNow()
	return s.MemoryStorage.Snapshot()
}

// snapshotNow makes the in-memory snapshot current with what was applied.
func (m *Meta) snapshotNow() {
	if m.applied <= m.memSnapIndex {
		return
	}
	_, err := m.ms.CreateSnapshot(m.applied, m.confState, marshal(m.snapshotState()))
	m.must(err, "snapshot the meta state")
	m.memSnapIndex = m.applied
}

// maybeCompact replaces the applied log with a snapshot of the state machine
// once it grew compactEvery entries past the last snapshot.
func (m *Meta) maybeCompact(env actors.Env) {
	if m.applied < m.snapIndex+compactEvery {
		return
	}
	m.snapshotNow()
	snap, err := m.ms.Snapshot()
	m.must(err, "read the meta snapshot")
	keep := m.applied - compactKeep
	b := m.st.NewBatch()
	b.PutRaftSnapshot(keep, marshal(snap))
	m.must(m.st.WriteSync(b), "persist the meta snapshot")
	m.must(m.ms.Compact(keep), "compact the raft log")
	m.snapIndex = m.applied
	env.Log().Debug("meta: compacted the raft log", "snapshot", m.applied, "kept_from", keep+1)
}

// membership answers castd admin: list the members, add one started with
// --join, or remove one. The reply to a change comes once it committed.
func (m *Meta) membership(env actors.Env, from actors.Addr, x *wire.MetaMembers) {
	if !m.leading(env.Now()) {
		env.Send(from, &wire.MetaRedirect{Id: x.Id, Leader: string(m.leaderAddr())})
		return
	}
	cc := &raftpb.ConfChange{}
	switch {
	case x.Add == "" && x.Remove == "":
		m.answerMembers(env, from, x.Id, "") // a listing
		return
	case x.Add != "" && x.Remove == "":
		id := raftID(actors.Addr(x.Add))
		if a, ok := m.members[id]; ok {
			m.answerMembers(env, from, x.Id, fmt.Sprintf("%s is already a member (as %s)", x.Add, a))
			return
		}
		cc.Type, cc.NodeId, cc.Context = raftpb.ConfChangeAddNode.Enum(), new(id), []byte(x.Add)
	case x.Remove != "" && x.Add == "":
		id := raftID(actors.Addr(x.Remove))
		if _, ok := m.members[id]; !ok {
			m.answerMembers(env, from, x.Id, x.Remove+" is not a member")
			return
		}
		if len(m.members) == 1 {
			m.answerMembers(env, from, x.Id, "refusing to remove the last member")
			return
		}
		cc.Type, cc.NodeId, cc.Context = raftpb.ConfChangeRemoveNode.Enum(), new(id), []byte(x.Remove)
	default:
		m.answerMembers(env, from, x.Id, "name one member to add or one to remove, not both")
		return
	}
	if m.memberChange != nil {
		m.answerMembers(env, from, x.Id, "another membership change is under way; try again")
		return
	}
	if err := m.rn.ProposeConfChange(cc); err != nil {
		m.answerMembers(env, from, x.Id, "the leader refused the change: "+err.Error())
		return
	}
	m.memberChange = &pendingMembers{from: from, id: x.Id, node: cc.GetNodeId()}
}

type pendingMembers struct {
	from actors.Addr
	id   uint64
	node uint64
}

func (m *Meta) answerMembers(env actors.Env, to actors.Addr, id uint64, errText string) {
	r := &wire.MetaMembersReply{Id: id, Error: errText, Leader: string(m.addrs[m.id])}
	for _, mm := range m.memberList() {
		r.Members = append(r.Members, string(mm.addr))
	}
	env.Send(to, r)
}

type member struct {
	id   uint64
	addr actors.Addr
}

// memberList is the group in address order.
func (m *Meta) memberList() []member {
	var out []member
	// order-independent: sorted below
	for id, a := range m.members {
		out = append(out, member{id, a})
	}
	slices.SortFunc(out, func(a, b member) int {
		if a.addr < b.addr {
			return -1
		}
		if a.addr > b.addr {
			return 1
		}
		return 0
	})
	return out
}

// applyConfChange applies a committed membership change.
func (m *Meta) applyConfChange(env actors.Env, e *raftpb.Entry) {
	cc := &raftpb.ConfChange{}
	m.must(proto.Unmarshal(e.GetData(), cc), "decode a membership change")
	m.confState = m.rn.ApplyConfChange(cc)
	addr := actors.Addr(cc.GetContext())
	switch cc.GetType() {
	case raftpb.ConfChangeAddNode, raftpb.ConfChangeAddLearnerNode:
		m.members[cc.GetNodeId()] = addr
		m.addrs[cc.GetNodeId()] = addr
		env.Log().Info("meta group: member added", "member", addr)
	case raftpb.ConfChangeRemoveNode:
		delete(m.members, cc.GetNodeId())
		env.Log().Info("meta group: member removed", "member", addr)
		if cc.GetNodeId() == m.id {
			env.Log().Warn("meta: this member was removed from the group; it no longer votes or serves (stop it and delete its data directory)")
		}
	}
	if p := m.memberChange; p != nil && p.node == cc.GetNodeId() {
		m.memberChange = nil
		m.answerMembers(env, p.from, p.id, "")
	}
}

// raftLogger sends raft's own log lines to the node's logger, one level
// down: raft narrates every election at info.
type raftLogger struct{ l *slog.Logger }

func (r raftLogger) Debug(v ...any)              {}
func (r raftLogger) Debugf(string, ...any)       {}
func (r raftLogger) Info(v ...any)               { r.l.Debug("raft: " + fmt.Sprint(v...)) }
func (r raftLogger) Infof(f string, v ...any)    { r.l.Debug("raft: " + fmt.Sprintf(f, v...)) }
func (r raftLogger) Warning(v ...any)            { r.l.Info("raft: " + fmt.Sprint(v...)) }
func (r raftLogger) Warningf(f string, v ...any) { r.l.Info("raft: " + fmt.Sprintf(f, v...)) }
func (r raftLogger) Error(v ...any)              { r.l.Warn("raft: " + fmt.Sprint(v...)) }
func (r raftLogger) Errorf(f string, v ...any)   { r.l.Warn("raft: " + fmt.Sprintf(f, v...)) }
func (r raftLogger) Fatal(v ...any)              { panic("raft: " + fmt.Sprint(v...)) }
func (r raftLogger) Fatalf(f string, v ...any)   { panic("raft: " + fmt.Sprintf(f, v...)) }
func (r raftLogger) Panic(v ...any)              { panic("raft: " + fmt.Sprint(v...)) }
func (r raftLogger) Panicf(f string, v ...any)   { panic("raft: " + fmt.Sprintf(f, v...)) }
