package cluster

import (
	"fmt"
	"testing"

	"castkv/actors/command"
	"castkv/actors/wire"
)

func TestRangesCoverEverySlotOnce(t *testing.T) {
	for _, n := range []int{1, 2, 3, 7, 16, 1000, command.Slots} {
		rs := Ranges(n)
		next := uint32(0)
		for i, r := range rs {
			if r[0] != next || r[1] <= r[0] {
				t.Fatalf("%d shards: range %d is %v, want it to start at %d and hold a slot", n, i, r, next)
			}
			if size := r[1] - r[0]; size < command.Slots/uint32(n) || size > command.Slots/uint32(n)+1 {
				t.Fatalf("%d shards: range %d holds %d slots", n, i, size)
			}
			next = r[1]
		}
		if next != command.Slots {
			t.Fatalf("%d shards: ranges end at %d, want %d", n, next, command.Slots)
		}
	}
}

// Placement: distinct servers per shard, and every server within one of
// the others in replicas and in primaries.
func TestPlaceSpreadsReplicasAndPrimaries(t *testing.T) {
	type shape struct{ servers, shards, replicas int }
	var shapes []shape
	for servers := 1; servers <= 12; servers++ {
		for shards := 1; shards <= 40; shards++ {
			shapes = append(shapes, shape{servers, shards, 3}, shape{servers, shards, 1})
		}
	}
	for _, tc := range shapes {
		var servers []string
		for i := range tc.servers {
			servers = append(servers, fmt.Sprintf("d%d", i))
		}
		replicas, primaries := map[string]int{}, map[string]int{}
		for _, c := range Place(servers, tc.shards, tc.replicas) {
			seen := map[string]bool{}
			primaries[c.Primary]++
			for _, m := range append([]string{c.Primary}, c.Secondaries...) {
				if seen[m] {
					t.Fatalf("%+v: shard %d has %s twice: %v", tc, c.Shard, m, c)
				}
				seen[m] = true
				replicas[m]++
			}
			if want := min(tc.replicas, tc.servers); len(seen) != want {
				t.Fatalf("%+v: shard %d has %d replicas, want %d", tc, c.Shard, len(seen), want)
			}
		}
		for name, counts := range map[string]map[string]int{"replicas": replicas, "primaries": primaries} {
			lo, hi := tc.shards*tc.replicas, 0
			for _, s := range servers {
				lo, hi = min(lo, counts[s]), max(hi, counts[s])
			}
			if hi-lo > 1 {
				t.Fatalf("%+v: %s per server range from %d to %d: %v", tc, name, lo, hi, counts)
			}
		}
	}
}

func TestMapRoutesBySlot(t *testing.T) {
	var m Map
	if c, cross := m.Route([][]byte{[]byte("a")}); c != nil || cross {
		t.Fatalf("an empty map routed: %v %v", c, cross)
	}
	for _, c := range Place([]string{"d1", "d2", "d3"}, 4, 3) {
		m.Adopt(c)
	}
	if !m.Covered() {
		t.Fatal("four shards placed over every slot, but the map is not covered")
	}
	// {user1000}.following and {user1000}.followers share slot 3443 in
	// Redis Cluster's documentation; foo is 12182 and bar 5061.
	for key, want := range map[string]uint32{"{user1000}.following": 0, "foo": 2, "bar": 1} {
		c, cross := m.Route([][]byte{[]byte(key)})
		if c == nil || cross || c.Shard != want {
			t.Fatalf("%s (slot %d) went to %v, want shard %d", key, command.Slot([]byte(key)), c, want)
		}
	}
	if c, cross := m.Route([][]byte{[]byte("{user1000}.following"), []byte("{user1000}.followers")}); c == nil || cross {
		t.Fatalf("keys with one hash tag did not route together: %v %v", c, cross)
	}
	if c, cross := m.Route([][]byte{[]byte("foo"), []byte("bar")}); c != nil || !cross {
		t.Fatalf("foo and bar are on shards 2 and 1, but Route said %v %v", c, cross)
	}
	// A newer version replaces, an older one does not.
	newer := &wire.Config{Shard: 2, Version: 5, Primary: "d9", SlotStart: 8192, SlotEnd: 12288}
	if !m.Adopt(newer) || m.Adopt(&wire.Config{Shard: 2, Version: 4, SlotStart: 8192, SlotEnd: 12288}) {
		t.Fatal("Adopt took an older version or refused a newer one")
	}
	if c := m.Shard(command.Slot([]byte("foo"))); c != newer {
		t.Fatalf("foo routes to %v, want the newest config of shard 2", c)
	}
}

// A config written before slots existed holds them all.
func TestLegacyConfigHoldsEverySlot(t *testing.T) {
	var m Map
	m.Adopt(&wire.Config{Shard: 0, Version: 7, Primary: "d1"})
	if !m.Covered() {
		t.Fatal("a config without slots should cover every slot")
	}
}

// TestMapFollowsASplit: after a split, the child's slots go to the child
// whatever order the configs arrive in, and an older config of the parent
// (the whole range, at a lower range epoch) takes none of them back; the
// slots the parent gave up stay routed to it until the child is known.
func TestMapFollowsASplit(t *testing.T) {
	parentOld := &wire.Config{Shard: 0, Version: 3, SlotStart: 0, SlotEnd: 100}
	parentNew := &wire.Config{Shard: 0, Version: 4, SlotStart: 0, SlotEnd: 60, RangeEpoch: 1}
	child := &wire.Config{Shard: 1, Version: 1, SlotStart: 60, SlotEnd: 100, RangeEpoch: 1, SplitBorn: true}
	owner := func(m *Map, slot uint16) int {
		if c := m.Shard(slot); c != nil {
			return int(c.Shard)
		}
		return -1
	}
	for _, order := range [][]*wire.Config{
		{parentOld, parentNew, child},
		{parentOld, child, parentNew},
		{child, parentOld, parentNew},
		{child, parentNew, parentOld},
	} {
		var m Map
		for _, c := range order {
			m.Adopt(c)
		}
		if got := owner(&m, 10); got != 0 {
			t.Errorf("order %v: slot 10 routed to shard %d, want 0", versions(order), got)
		}
		if got := owner(&m, 70); got != 1 {
			t.Errorf("order %v: slot 70 routed to shard %d, want 1", versions(order), got)
		}
	}
	var m Map
	m.Adopt(parentOld)
	m.Adopt(parentNew)
	if got := owner(&m, 70); got != 0 {
		t.Errorf("before the child is known, slot 70 routed to %d; want the parent (0), which refuses it", got)
	}
	for _, k := range []string{"x", "y", "{a}1", "{b}2"} {
		if got, want := Holds(parentNew, [][]byte{[]byte(k)}), command.Slot([]byte(k)) < 60; got != want {
			t.Errorf("Holds(slots [0, 60), %q at slot %d) = %v", k, command.Slot([]byte(k)), got)
		}
	}
}

func versions(cs []*wire.Config) []string {
	var out []string
	for _, c := range cs {
		out = append(out, fmt.Sprintf("%d@v%d", c.Shard, c.Version))
	}
	return out
}
