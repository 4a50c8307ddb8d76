package data

import (
	"fmt"
	"slices"

	"castkv/actors"
	clustermap "castkv/actors/cluster"
	"castkv/actors/command"
	"castkv/actors/store"
	"castkv/actors/wire"
)

// Shard splits, as TiKV splits a region: in the parent's log, on every
// replica, with no data sent anywhere.
//
// Meta decides a split: the parent's next config names a smaller range and
// carries the child's first config (split_child), which puts the child on
// the parent's replicas. The parent's primary performs it with the barrier
// of that version (Entry.split), unless its log already holds it. From that
// barrier on it sequences and serves no key of the child's slots (rule
// split-fence; a refusal carries the config, whose range no longer holds
// the key, and the API asks meta for the child). Every replica that
// applies the barrier moves the child's records to the child's keys in one
// batch with the parent's applied point (store.Split), and, if the child's
// config names it, starts the child from there: the child's primary, the
// parent's, appends the child's first barrier and serves once every
// replica of the child acks it. Until a replica of the child has applied
// the split it holds nothing of the child and accepts nothing but a
// snapshot (wire.PrepareAck.no_state); a counted one that never will
// (it took the parent from a snapshot past the split) is removed for
// making no progress, and comes back as a learner.

// loadHeld reads the slot range the applied state holds.
func (r *replica) loadHeld() {
	held, ok, err := r.s.st.Range(r.shard)
	r.s.must(err, "read the slot range")
	r.held = nil
	if ok {
		r.held = &held
	}
}

// heldRange is the slots the applied state holds: what the last split left
// it, or every slot for a shard no split has touched (a bootstrapped one
// holds what its first config named, and meta splits only within it).
func (r *replica) heldRange() store.SlotRange {
	if r.held != nil {
		return *r.held
	}
	return store.SlotRange{Start: 0, End: command.Slots}
}

// uninitialized: a split-born shard's replica that holds nothing of it yet.
func (r *replica) uninitialized() bool {
	return r.config.SplitBorn && r.held == nil && r.installing == nil
}

// splitToPerform is the split a new primary's barrier must carry: the
// config's split_child, unless the applied state or the log after it
// already gave the child's slots away.
func (r *replica) splitToPerform() *wire.Config {
	child := r.config.SplitChild
	if child == nil {
		return nil
	}
	held := r.heldRange()
	r.log.forEach(r.appliedSeq+1, r.log.last, func(e *wire.Entry) {
		if e.Split != nil {
			held.End = min(held.End, e.Split.SlotStart)
		}
	})
	start, end := clustermap.SlotRange(child)
	if start >= held.End || end <= held.Start {
		return nil
	}
	return child
}

// outOfRange applies rule split-fence: keys whose slots the config no
// longer holds are refused. The canary sequences them anyway.
func (r *replica) outOfRange(keys [][]byte) bool {
	return r.s.cfg.Canary != CanarySplitWithoutFence && !clustermap.Holds(r.config, keys)
}

// applySplit applies the split barrier e: everything before it is written.
// The parent's records of the child's slots move to the child, which starts
// here if its config names us and we hold nothing newer of it.
func (r *replica) applySplit(env actors.Env, e *wire.Entry) {
	s := r.s
	child := e.Split
	start, end := clustermap.SlotRange(child)
	// A split gives away the upper part of what the parent holds, whose
	// start never moves. Invariant: with a range recorded by an earlier
	// split, the child's ends where it does; a bootstrapped shard records
	// none, and holds what its first config named.
	first, _ := clustermap.SlotRange(r.config)
	if held := r.held; start <= first || held != nil && (held.Start != first || held.End != end) {
		panic(fmt.Sprintf("data: shard %d: the split at %d gives slots [%d, %d) to shard %d, but the shard's slots start at %d and the applied state holds %v",
			r.shard, e.Seq, start, end, child.Shard, first, held))
	}
	cfg := child
	existing := s.replica(child.Shard)
	if existing != nil && existing.config.Version > cfg.Version {
		cfg = existing.config
	}
	keep := r.isMemberOf(cfg) && (existing == nil || existing.uninitialized())
	t := r.dedup.table(e.Seq)
	for _, ses := range t.Sessions {
		// The child's log starts empty: every op recorded here is
		// committed, before its first entry.
		ses.LastSeq = 0
		for _, op := range ses.Ops {
			op.Seq = 0
		}
	}
	blob, err := marshal.Marshal(t)
	s.must(err, "encode the child's exactly-once table")
	b := s.st.NewBatch()
	keeps := store.SlotRange{Start: first, End: start}
	moved, err := b.Split(store.Split{
		Parent: r.shard, Child: child.Shard,
		ParentKeeps: keeps, ChildTakes: store.SlotRange{Start: start, End: end},
		ChildDedup: blob, DropChild: !keep,
	})
	s.must(err, "split the applied state")
	if keep {
		b.PutConfig(cfg)
	}
	b.SetApplied(r.shard, e.Seq)
	_, err = s.st.Write(b)
	s.must(err, "write the split")
	r.held = &keeps
	r.splitsApplied++
	r.live = nil // read again: the child took its part
	r.loadTxns()
	if r.primary != nil {
		r.primary.versions.clear()
	}
	env.Log().Info("split the shard", "shard", r.shard, "seq", e.Seq, "child", child.Shard, "child_slots", fmt.Sprintf("%d-%d", start, end-1),
		"child_keys", moved.Keys, "child_bytes", moved.Bytes, "child_here", keep)
	if !keep {
		return
	}
	if existing != nil {
		s.replicas = slices.DeleteFunc(s.replicas, func(o *replica) bool { return o == existing })
	}
	c := s.recoverReplica(env, cfg)
	s.replicas = append(s.replicas, c)
	slices.SortFunc(s.replicas, func(a, b *replica) int { return int(a.shard) - int(b.shard) })
	c.setConfig(env, cfg)
}
