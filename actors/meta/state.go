package meta

import (
	"slices"

	"castkv/actors"
	"castkv/actors/wire"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// The replicated state machine: what every member applies from the raft
// log, in the same order, and what a snapshot carries. Everything else in
// Meta (liveness, grants, suspicion) is the leader's own and starts afresh
// with each leadership.

// resetState empties the state machine before a snapshot is loaded.
func (m *Meta) resetState() {
	m.shards = nil
	m.sessionLimit = 1
	m.tsLimit = 0
	m.registry = nil
	m.members = map[uint64]actors.Addr{}
	m.confState = &raftpb.ConfState{}
	m.applied, m.snapIndex, m.memSnapIndex = 0, 0, 0
}

// restore replaces the state machine with a snapshot's.
func (m *Meta) restore(snap *raftpb.Snapshot) {
	st := &wire.MetaState{}
	m.must(proto.Unmarshal(snap.GetData(), st), "decode the meta snapshot")
	m.shards = nil
	for _, c := range st.Configs {
		m.shards = append(m.shards, &shard{config: c})
	}
	m.sessionLimit = st.SessionLimit
	m.tsLimit = st.TsLimit
	m.registry = nil
	for _, d := range st.DataServers {
		m.registry = append(m.registry, proto.Clone(d).(*wire.DataServer))
	}
	m.members = map[uint64]actors.Addr{}
	for _, mm := range st.Members {
		m.members[mm.Id] = actors.Addr(mm.Addr)
		m.addrs[mm.Id] = actors.Addr(mm.Addr)
	}
	m.confState = proto.Clone(snap.GetMetadata().GetConfState()).(*raftpb.ConfState)
	m.applied = snap.GetMetadata().GetIndex()
	m.snapIndex, m.memSnapIndex = m.applied, m.applied
	if m.rn != nil && m.wasLeader {
		m.resetLeaderShards(m.now)
	}
}

// snapshotState is the state machine as a snapshot carries it.
func (m *Meta) snapshotState() *wire.MetaState {
	st := &wire.MetaState{SessionLimit: m.sessionLimit, TsLimit: m.tsLimit, DataServers: m.registry}
	for _, s := range m.shards {
		st.Configs = append(st.Configs, s.config)
	}
	for _, mm := range m.memberList() {
		st.Members = append(st.Members, &wire.MetaMember{Id: mm.id, Addr: string(mm.addr)})
	}
	return st
}

// applyEntry applies one committed raft entry.
func (m *Meta) applyEntry(env actors.Env, e *raftpb.Entry) {
	switch e.GetType() {
	case raftpb.EntryNormal:
		if len(e.GetData()) > 0 {
			cmd := &wire.MetaCommand{}
			m.must(proto.Unmarshal(e.GetData(), cmd), "decode a meta command")
			m.applyCommand(env, cmd, e.GetTerm())
		}
	case raftpb.EntryConfChange:
		m.applyConfChange(env, e)
	case raftpb.EntryConfChangeV2:
		panic("meta: the group never proposes ConfChangeV2")
	}
	m.applied = e.GetIndex()
}

func (m *Meta) applyCommand(env actors.Env, cmd *wire.MetaCommand, term uint64) {
	switch c := cmd.Config; {
	case c != nil && cmd.SplitChild != nil:
		m.applySplit(env, c, cmd.SplitChild)
	case c != nil:
		m.applyConfig(env, c)
	}
	if d := cmd.DataServer; d != nil {
		m.applyDataServer(env, d)
	}
	if cmd.ReserveTs > 0 {
		m.applyReserveTS(env, cmd.ReserveTs, term)
	}
	if n := cmd.ReserveSessions; n > 0 {
		from := m.sessionLimit
		m.sessionLimit += n
		if m.wasLeader && term == m.rn.BasicStatus().GetTerm() {
			// Our own reservation: ids [from, from+n) are ours to issue.
			m.sessNext, m.sessEnd = from, from+n
			m.sessReserving = false
			m.answerSessions(env)
		}
	}
}

// applyConfig installs a shard's next config if it is the next version
// (compare-and-swap), or its first.
func (m *Meta) applyConfig(env actors.Env, next *wire.Config) {
	s := m.shard(next.Shard)
	if s == nil {
		if int(next.Shard) != len(m.shards) {
			return
		}
		m.shards = append(m.shards, &shard{config: next})
		env.Log().Info("config created", "shard", next.Shard, "config", describe(next))
		return
	}
	old := s.config
	if next.Version != old.Version+1 {
		return // a stale or duplicate proposal: the CAS fails
	}
	s.config = next
	s.handover = nil // done, or overtaken by another change
	if s.proposed != nil && s.proposed.Version <= next.Version {
		s.proposed = nil
	}
	if !m.wasLeader {
		return
	}
	// Only the leader speaks for the group: it logs why and tells every
	// member, old and new, now that the change is durable on a quorum.
	s.suspect = false
	s.leaseConfirmed = m.now
	// lastGrant stays: a lease granted under the old version may still be
	// running, and the next promotion must wait it out too.
	env.Log().Info("config change", "shard", next.Shard, "why", s.proposedWhy, "from", describe(old), "to", describe(next))
	notify := members(old)
	for _, a := range members(next) {
		if !slices.Contains(notify, a) {
			notify = append(notify, a)
		}
	}
	for _, a := range notify {
		env.Send(actors.Addr(a), &wire.ConfigUpdate{Configs: []*wire.Config{next}})
	}
}
