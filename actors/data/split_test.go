package data

import (
	"fmt"
	"math"
	"testing"
	"time"

	"castkv/actors"
	"castkv/actors/command"
	"castkv/actors/roletest"
	"castkv/actors/wire"
)

// splitPair is primary data1 and secondary data2 of shard 0 (every slot),
// real servers talking to each other, holding keys k00..k19.
type splitPair struct {
	t    *testing.T
	c    cluster
	keys []string
	ops  uint64
}

func newSplitPair(t *testing.T, cfg Config) *splitPair {
	t.Helper()
	penv, senv := roletest.New("data1", 1), roletest.New("data2", 2)
	t.Cleanup(func() { penv.Close(); senv.Close() })
	c := config(1, "data1", []string{"data2"})
	sp := &splitPair{t: t}
	sec := start(senv, cfg)
	sec.Handle(senv, "meta", &wire.ConfigUpdate{Configs: []*wire.Config{c}})
	settle(senv, sec)
	p := start(penv, cfg)
	sp.c = cluster{{penv, p}, {senv, sec}}
	p.Handle(penv, "meta", &wire.ConfigUpdate{Configs: []*wire.Config{c}})
	sp.c.exchange(t)
	for i := range 20 {
		k := fmt.Sprintf("k%02d", i)
		sp.keys = append(sp.keys, k)
		if st := sp.commit(0, "SET", k, "v-"+k); st != wire.Status_OK {
			t.Fatalf("SET %s: %v", k, st)
		}
	}
	return sp
}

func (sp *splitPair) primary() node { return sp.c[0] }

// grant gives the primary a lease on shard at its current version.
func (sp *splitPair) grant(shard uint32) {
	p := sp.primary()
	r := p.s.replica(shard)
	p.s.Handle(p.env, "meta", &wire.HeartbeatReply{Id: p.s.heartbeatID, Incarnation: p.s.incarnation,
		Leases: []*wire.LeaseGrant{{Shard: shard, ConfigVersion: r.config.Version, HeartbeatId: p.s.heartbeatID, LeaseNanos: int64(2 * time.Second), Ts: nextTS()}}})
}

// commit sends a write to shard's primary and returns the status of its
// reply once the servers have talked it through.
func (sp *splitPair) commit(shard uint32, args ...string) wire.Status {
	sp.t.Helper()
	sp.grant(shard)
	sp.c.exchange(sp.t)
	sp.ops++
	p := sp.primary()
	m := &wire.Commit{Shard: shard, ConfigVersion: p.s.replica(shard).config.Version,
		Op: &wire.OpID{Incarnation: 1, Counter: sp.ops}, Command: cmdOf(args...)}
	p.s.Handle(p.env, "api1", m)
	for _, cr := range roletest.Of[*wire.CommitReply](sp.c.exchange(sp.t)) {
		if cr.Op.GetCounter() == sp.ops {
			return cr.Status
		}
	}
	sp.t.Fatalf("%v to shard %d got no reply", args, shard)
	return 0
}

// split gives both servers the configs meta makes for a split of shard 0
// at slot, and lets them talk it through.
func (sp *splitPair) split(slot uint32) (parent, child *wire.Config) {
	child = &wire.Config{Shard: 1, Version: 1, Primary: "data1", Secondaries: []string{"data2"},
		SlotStart: slot, SlotEnd: command.Slots, RangeEpoch: 1, SplitBorn: true}
	parent = &wire.Config{Shard: 0, Version: 2, Primary: "data1", Secondaries: []string{"data2"},
		SlotStart: 0, SlotEnd: slot, RangeEpoch: 1, SplitChild: child}
	for _, n := range sp.c {
		n.s.Handle(n.env, "meta", &wire.ConfigUpdate{Configs: []*wire.Config{parent, child}})
	}
	sp.grant(0)
	sp.c.exchange(sp.t)
	// The secondary learns that the split committed from the primary's
	// next message (a retry carries the commit point); then it starts the
	// new shard, whose first barrier it acks.
	sp.c.advance(sp.t, 300*time.Millisecond)
	sp.grant(1)
	sp.c.exchange(sp.t)
	return parent, child
}

// A split at slot 8192: the parent's barrier carries it, both replicas
// move the upper half's keys to the new shard (nothing else), the new
// shard serves them from its first barrier on, and the parent refuses
// them from its split barrier on (rule split-fence) while it still serves
// its own half.
func TestSplitMovesKeysAndFencesTheParent(t *testing.T) {
	sp := newSplitPair(t, Config{Meta: []actors.Addr{"meta"}})
	const slot = 8192
	sp.split(slot)
	var low, high string
	for _, n := range sp.c {
		for _, k := range sp.keys {
			owner, other := uint32(0), uint32(1)
			if command.Slot([]byte(k)) >= slot {
				owner, other = 1, 0
				high = k
			} else {
				low = k
			}
			if gv, err := n.s.st.GetVersion(owner, []byte(k), math.MaxUint64); err != nil || !gv.Found || string(gv.Value) != "v-"+k {
				t.Errorf("%s: %s in shard %d: %q, %v, %v", n.env.Self(), k, owner, gv.Value, gv.Found, err)
			}
			if gv, _ := n.s.st.GetVersion(other, []byte(k), math.MaxUint64); gv.Found {
				t.Errorf("%s: %s is in shard %d too", n.env.Self(), k, other)
			}
		}
		for _, shard := range []uint32{0, 1} {
			if err := n.s.st.CheckShape(shard); err != nil {
				t.Errorf("%s: %v", n.env.Self(), err)
			}
		}
		if n.s.replica(1) == nil || n.s.replica(1).uninitialized() {
			t.Errorf("%s holds no initialized replica of the new shard", n.env.Self())
		}
	}
	if low == "" || high == "" {
		t.Fatalf("the keys fall on one side of slot %d", slot)
	}
	if st := sp.commit(0, "SET", high, "late"); st != wire.Status_STALE_CONFIG {
		t.Errorf("SET %s (slot %d) at the parent after the split: %v, want STALE_CONFIG", high, command.Slot([]byte(high)), st)
	}
	if st := sp.commit(0, "SET", low, "still"); st != wire.Status_OK {
		t.Errorf("SET %s (slot %d) at the parent after the split: %v, want OK", low, command.Slot([]byte(low)), st)
	}
	if st := sp.commit(1, "SET", high, "moved"); st != wire.Status_OK {
		t.Errorf("SET %s at the new shard: %v, want OK", high, st)
	}
}

// A replica of a split-born shard that holds none of it refuses the new
// shard's log (no_state) and reports nothing to meta, so meta neither
// counts its log position nor promotes it.
func TestUninitializedChildRefusesTheLog(t *testing.T) {
	env := roletest.New("data3", 3)
	defer env.Close()
	s := start(env, Config{Meta: []actors.Addr{"meta"}})
	child := &wire.Config{Shard: 1, Version: 1, Primary: "data1", Secondaries: []string{"data3"},
		SlotStart: 8192, SlotEnd: command.Slots, RangeEpoch: 1, SplitBorn: true}
	s.Handle(env, "meta", &wire.ConfigUpdate{Configs: []*wire.Config{child}})
	settle(env, s)
	s.Handle(env, "data1", &wire.Prepare{Config: child, Entries: []*wire.Entry{{Seq: 1, Version: 1, Kind: wire.Entry_BARRIER}}})
	sent := settle(env, s)
	var refused bool
	for _, a := range acks(sent) {
		refused = refused || a.NoState && !a.Ok
		if a.Ok {
			t.Errorf("acked the new shard's entry with none of its state: %v", a)
		}
	}
	if !refused {
		t.Errorf("no no_state refusal among %v", sent)
	}
	s.sendHeartbeat(env)
	hbs := roletest.Of[*wire.Heartbeat](settle(env, s))
	if len(hbs) == 0 {
		t.Fatal("no heartbeat sent: nothing to check")
	}
	for _, hb := range hbs {
		if len(hb.Replicas) != 0 {
			t.Errorf("heartbeat reports %v for a shard it holds none of", hb.Replicas)
		}
	}
}

// The canary split-without-fence is the defect the fence check above
// catches: with it, the parent takes a write of a slot it gave away, which
// the new shard, serving that slot, never sees.
func TestSplitWithoutFenceCanaryTakesAMovedKey(t *testing.T) {
	sp := newSplitPair(t, Config{Meta: []actors.Addr{"meta"}, Canary: CanarySplitWithoutFence})
	const slot = 8192
	sp.split(slot)
	for _, k := range sp.keys {
		if command.Slot([]byte(k)) >= slot {
			if st := sp.commit(0, "SET", k, "lost"); st != wire.Status_OK {
				t.Fatalf("with the canary, SET %s at the parent: %v; the canary no longer breaks the fence", k, st)
			}
			return
		}
	}
	t.Fatal("no key above the split")
}
