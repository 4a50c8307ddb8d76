package meta

import (
	"strings"
	"testing"

	"castkv/actors/wire"
)

// An operator's split: one raft entry installs the parent's next version,
// keeping the slots below the split point and naming the child, and the
// child's first, on the same servers, both at a new range epoch. A split
// at a point outside the shard, of a shard that does not exist, or while
// the child of the last one has not started, is refused with why.
func TestSplitInstallsParentAndChildTogether(t *testing.T) {
	env, m := newBalanceMeta(t, 2, "data1", "data2", "data3")
	defer env.Close()
	f := newFleet(t, m, env, "data1", "data2", "data3")
	for range 50 {
		f.step()
	}
	before := m.Config(1)
	for _, bad := range []struct {
		req  *wire.SplitShard
		want string
	}{
		{&wire.SplitShard{Shard: 7}, "no shard 7"},
		{&wire.SplitShard{Shard: 1, Slot: 100}, "not inside shard 1's slots"},
		{&wire.SplitShard{Shard: 1, Slot: 8192}, "not inside shard 1's slots"},
	} {
		m.Handle(env, "admin", &wire.DataServers{Id: 1, Split: bad.req})
		if r := firstReply(t, f); !strings.Contains(r.Error, bad.want) {
			t.Errorf("split %v: %q, want a refusal saying %q", bad.req, r.Error, bad.want)
		}
	}
	m.Handle(env, "admin", &wire.DataServers{Id: 2, Split: &wire.SplitShard{Shard: 1}})
	if r := firstReply(t, f); r.Error != "" {
		t.Fatalf("split shard 1: %s", r.Error)
	}
	parent, child := m.Config(1), m.Config(2)
	if child == nil || parent.Version != before.Version+1 {
		t.Fatalf("after the split: shard 1 %v, shard 2 %v", parent, child)
	}
	mid := uint32(8192 + 4096)
	if parent.SlotStart != 8192 || parent.SlotEnd != mid || child.SlotStart != mid || child.SlotEnd != 16384 {
		t.Errorf("shard 1 holds %d-%d and shard 2 %d-%d; want the halves of 8192-16383 split at %d",
			parent.SlotStart, parent.SlotEnd-1, child.SlotStart, child.SlotEnd-1, mid)
	}
	if !child.SplitBorn || parent.SplitChild.GetShard() != 2 || child.Version != 1 ||
		parent.RangeEpoch == 0 || parent.RangeEpoch != child.RangeEpoch || m.Config(0).RangeEpoch >= child.RangeEpoch {
		t.Errorf("split marks: parent %v, child %v", parent, child)
	}
	if child.Primary != parent.Primary || strings.Join(child.Secondaries, ",") != strings.Join(parent.Secondaries, ",") {
		t.Errorf("the child is not on the parent's servers: parent %v, child %v", parent, child)
	}
	// The child's primary has not reported it yet: the next split waits.
	m.Handle(env, "admin", &wire.DataServers{Id: 3, Split: &wire.SplitShard{Shard: 0}})
	if r := firstReply(t, f); !strings.Contains(r.Error, "one split at a time") {
		t.Errorf("a second split before the first child started: %q, want a refusal", r.Error)
	}
	// Once it does (the fleet reports every shard it is a member of), the
	// next split goes ahead.
	for range 5 {
		f.step()
	}
	m.Handle(env, "admin", &wire.DataServers{Id: 4, Split: &wire.SplitShard{Shard: 0, Slot: 100}})
	if r := firstReply(t, f); r.Error != "" {
		t.Fatalf("split shard 0 at 100 once shard 2 serves: %s", r.Error)
	}
	if c := m.Config(3); c == nil || c.SlotStart != 100 || m.Config(0).SlotEnd != 100 || c.RangeEpoch <= child.RangeEpoch {
		t.Errorf("after splitting shard 0 at 100: shard 0 %v, shard 3 %v", m.Config(0), c)
	}
}
