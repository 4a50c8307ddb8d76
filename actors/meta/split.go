package meta

import (
	"fmt"

	"castkv/actors"
	"castkv/actors/cluster"
	"castkv/actors/wire"
	"google.golang.org/protobuf/proto"
)

// Shard splits (actors/data/split.go has the data side). Meta decides one:
// the parent's next version keeps the slots below the split point and
// carries the child's first config (split_child), the child takes the rest
// on the parent's replicas (split_born), and both get a range epoch above
// every other, so routers give the child its slots whatever order they
// learn the two configs in. One raft entry installs both, or neither.
//
// A split is asked for by an operator (castd admin split) or by the
// balancer when a shard's primary reports more live bytes than SplitBytes
// or more operations a second than SplitOpsPerSecond. One split runs at a
// time: the next waits until every split-born shard's primary has reported
// serving it.

// defaultMaxShards bounds the shards automatic splits make unless
// configured.
const defaultMaxShards = 1024

// splitRefusal says why shard may not split at slot now, "" when it may.
func (m *Meta) splitRefusal(s *shard, slot uint32) string {
	c := s.config
	start, end := cluster.SlotRange(c)
	switch {
	case end-start < 2:
		return fmt.Sprintf("shard %d holds one slot; it cannot split", c.Shard)
	case slot <= start || slot >= end:
		return fmt.Sprintf("slot %d is not inside shard %d's slots %d-%d (the split point is the child's first slot)", slot, c.Shard, start, end-1)
	case c.Primary == "" || s.proposed != nil || s.handover != nil || s.suspect:
		return fmt.Sprintf("shard %d is changing (a failover, a move or another change is under way); try again", c.Shard)
	}
	if pending := m.splitPending(); pending != "" {
		return pending
	}
	return ""
}

// splitPending names a split not yet done: a split-born shard whose primary
// has not reported serving it.
func (m *Meta) splitPending() string {
	for _, o := range m.shards {
		if o.config.SplitBorn && !m.serving(o) {
			return fmt.Sprintf("shard %d, split off shard %s, has not started yet; one split at a time", o.config.Shard, splitParent(m, o.config.Shard))
		}
	}
	return ""
}

// serving: s's primary reported acting as primary of s in its current
// version or an earlier one.
func (m *Meta) serving(s *shard) bool {
	srv := m.servers[actors.Addr(s.config.Primary)]
	if srv == nil {
		return false
	}
	st := srv.status[s.config.Shard]
	return st != nil && st.ActingPrimary
}

func splitParent(m *Meta, child uint32) string {
	for _, s := range m.shards {
		if c := s.config.SplitChild; c != nil && c.Shard == child {
			return fmt.Sprint(s.config.Shard)
		}
	}
	return "?"
}

// splitConfigs are the parent's next config and the child's first for a
// split of s at slot.
func (m *Meta) splitConfigs(s *shard, slot uint32) (parent, child *wire.Config) {
	var epoch uint64
	for _, o := range m.shards {
		epoch = max(epoch, o.config.RangeEpoch)
	}
	epoch++
	c := s.config
	_, end := cluster.SlotRange(c)
	child = &wire.Config{Shard: uint32(len(m.shards)), Version: 1, Primary: c.Primary,
		Secondaries: append([]string(nil), c.Secondaries...), Learners: append([]string(nil), c.Learners...),
		SlotStart: slot, SlotEnd: end, RangeEpoch: epoch, SplitBorn: true}
	parent = proto.Clone(c).(*wire.Config)
	parent.Version++
	parent.SlotStart, parent.SlotEnd = cluster.SlotRange(c)
	parent.SlotEnd = slot
	parent.RangeEpoch = epoch
	parent.SplitChild = child
	return parent, child
}

// proposeSplit proposes the split of s at slot (0: the middle of its
// range); it returns why not, or "".
func (m *Meta) proposeSplit(env actors.Env, s *shard, slot uint32, why string) string {
	if slot == 0 {
		start, end := cluster.SlotRange(s.config)
		slot = start + (end-start)/2
	}
	if no := m.splitRefusal(s, slot); no != "" {
		return no
	}
	parent, child := m.splitConfigs(s, slot)
	if err := m.rn.Propose(marshal(&wire.MetaCommand{Config: parent, SplitChild: child})); err != nil {
		return "the leader refused the change: " + err.Error()
	}
	s.proposed, s.proposedAt, s.proposedWhy = parent, m.now, why
	return ""
}

// splitRequest answers castd admin split: once the split's configs are
// installed, or at once with why not.
func (m *Meta) splitRequest(env actors.Env, from actors.Addr, x *wire.DataServers) {
	s := m.shard(x.Split.Shard)
	switch {
	case s == nil:
		m.answerServers(env, from, x.Id, fmt.Sprintf("there is no shard %d", x.Split.Shard))
		return
	case len(m.serverWaits) >= maxServerWaits:
		m.answerServers(env, from, x.Id, "too many changes under way; try again")
		return
	}
	if no := m.proposeSplit(env, s, x.Split.Slot, "split asked for by an operator"); no != "" {
		m.answerServers(env, from, x.Id, no)
		return
	}
	m.serverWaits = append(m.serverWaits, serverWait{from: from, id: x.Id, split: true, shard: s.config.Shard})
}

// applySplit installs a split's two configs if the parent's CAS holds and
// the child's id is the next one.
func (m *Meta) applySplit(env actors.Env, parent, child *wire.Config) {
	s := m.shard(parent.Shard)
	if s == nil || parent.Version != s.config.Version+1 || int(child.Shard) != len(m.shards) {
		return // a stale or duplicate proposal
	}
	m.shards = append(m.shards, &shard{config: child, leaseConfirmed: m.now})
	m.applyConfig(env, parent)
	if !m.wasLeader {
		return
	}
	env.Log().Info("config created", "shard", child.Shard, "config", describe(child), "split_from", parent.Shard)
	for _, a := range members(child) {
		env.Send(actors.Addr(a), &wire.ConfigUpdate{Configs: []*wire.Config{child}})
	}
	kept := m.serverWaits[:0]
	for _, w := range m.serverWaits {
		if w.split && w.shard == parent.Shard {
			m.answerServers(env, w.from, w.id, "")
			continue
		}
		kept = append(kept, w)
	}
	m.serverWaits = kept
}

// splitByLoad splits the first shard whose primary reports more than the
// configured live bytes or operations a second, at the middle of its
// range; it reports whether it proposed one.
func (m *Meta) splitByLoad(env actors.Env) bool {
	maxShards := m.cfg.MaxShards
	if maxShards == 0 {
		maxShards = defaultMaxShards
	}
	if m.cfg.SplitBytes == 0 && m.cfg.SplitOpsPerSecond == 0 || len(m.shards) >= maxShards {
		return false
	}
	for _, s := range m.shards {
		srv := m.servers[actors.Addr(s.config.Primary)]
		if srv == nil {
			continue
		}
		st := srv.status[s.config.Shard]
		if st == nil || st.Load == nil || !st.ActingPrimary {
			continue
		}
		l := st.Load
		why := ""
		switch {
		case m.cfg.SplitBytes > 0 && l.LiveBytes > m.cfg.SplitBytes:
			why = fmt.Sprintf("its %d live bytes passed the split threshold of %d", l.LiveBytes, m.cfg.SplitBytes)
		case m.cfg.SplitOpsPerSecond > 0 && l.OpsPerSec > m.cfg.SplitOpsPerSecond:
			why = fmt.Sprintf("its %.0f operations a second passed the split threshold of %.0f", l.OpsPerSec, m.cfg.SplitOpsPerSecond)
		default:
			continue
		}
		if no := m.proposeSplit(env, s, 0, "split: "+why); no == "" {
			env.Log().Info("splitting a shard", "shard", s.config.Shard, "why", why)
			return true
		}
	}
	return false
}
