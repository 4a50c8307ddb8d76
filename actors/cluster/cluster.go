// Package cluster is the cluster map as every role reads it: which shard
// holds which hash slots, and where a new cluster's shards are placed.
// Meta decides the map (one wire.Config per shard, each holding a range of
// slots); an API server routes every key through it.
package cluster

import (
	"fmt"
	"slices"

	"castkv/actors/command"
	"castkv/actors/wire"
)

// SlotRange is the slots [start, end) that c's shard holds. A config written
// before slots existed names none and holds them all: shard 0 was the only
// shard then.
func SlotRange(c *wire.Config) (start, end uint32) {
	if c.SlotStart == 0 && c.SlotEnd == 0 {
		return 0, command.Slots
	}
	return c.SlotStart, c.SlotEnd
}

// Ranges splits the slots into n contiguous ranges as even as they can be,
// the first ones one slot larger when n does not divide them.
func Ranges(n int) [][2]uint32 {
	if n < 1 || n > command.Slots {
		panic(fmt.Sprintf("cluster: %d shards; want 1 to %d", n, command.Slots))
	}
	out := make([][2]uint32, n)
	start := uint32(0)
	for i := range n {
		size := uint32(command.Slots / n)
		if i < command.Slots%n {
			size++
		}
		out[i] = [2]uint32{start, start + size}
		start += size
	}
	return out
}

// Place builds a new cluster's first configs (version 1): shards shards
// over the slots, each with replicas members on distinct data servers
// (fewer when there are fewer servers). Each shard takes the servers that
// hold the fewest replicas so far, and makes primary the one of them that
// leads the fewest shards, so the servers end within one of each other in
// replicas and in primaries (the test checks the second for many shapes).
func Place(servers []string, shards, replicas int) []*wire.Config {
	replicas = min(replicas, len(servers))
	held := make([]int, len(servers))  // replicas per server
	leads := make([]int, len(servers)) // primaries per server
	var out []*wire.Config
	for i, r := range Ranges(shards) {
		order := make([]int, len(servers))
		for j := range order {
			order[j] = (i + j) % len(servers) // ties rotate with the shard
		}
		slices.SortStableFunc(order, func(a, b int) int { return held[a] - held[b] })
		members := order[:replicas]
		slices.SortStableFunc(members, func(a, b int) int { return leads[a] - leads[b] })
		c := &wire.Config{Shard: uint32(i), Version: 1, SlotStart: r[0], SlotEnd: r[1]}
		for j, m := range members {
			held[m]++
			if j == 0 {
				leads[m]++
				c.Primary = servers[m]
			} else {
				c.Secondaries = append(c.Secondaries, servers[m])
			}
		}
		out = append(out, c)
	}
	balancePrimaries(out, servers, leads)
	return out
}

// balancePrimaries moves leads along chains of shards until no server leads
// two more shards than another it can reach: a server that leads a shard
// hands it to a member of that shard, which may hand one of its own on,
// and so on to a server that leads two fewer than the first. Each chain
// lowers the sum of squared leads, so it ends.
func balancePrimaries(configs []*wire.Config, servers []string, leads []int) {
	index := map[string]int{}
	for i, s := range servers {
		index[s] = i
	}
	for {
		from := 0
		for i := range leads {
			if leads[i] > leads[from] {
				from = i
			}
		}
		// Breadth first from the busiest server: via[q] is the shard whose
		// lead q would take over, on the shortest chain to q.
		via := make([]int, len(servers))
		for i := range via {
			via[i] = -1
		}
		queue, to := []int{from}, -1
		seen := map[int]bool{from: true}
		for len(queue) > 0 && to < 0 {
			p := queue[0]
			queue = queue[1:]
			for ci, c := range configs {
				if index[c.Primary] != p {
					continue
				}
				for _, sec := range c.Secondaries {
					q := index[sec]
					if seen[q] {
						continue
					}
					seen[q], via[q] = true, ci
					if leads[q]+2 <= leads[from] {
						to = q
						break
					}
					queue = append(queue, q)
				}
				if to >= 0 {
					break
				}
			}
		}
		if to < 0 {
			return
		}
		leads[from]--
		leads[to]++
		for q := to; q != from; {
			c := configs[via[q]]
			p := index[c.Primary]
			k := slices.Index(c.Secondaries, servers[q])
			c.Secondaries[k], c.Primary = c.Primary, servers[q]
			q = p
		}
	}
}

// Map routes slots to shards: the newest config of each shard it was given.
// The zero Map knows no shard.
//
// A slot belongs to the claim of the highest range epoch (Config.range_epoch)
// among the configs given, as in Redis Cluster: a split gives its parent's
// next config and its child's first the same epoch, above all before, so an
// older config of the parent, still naming the whole range, never takes the
// child's slots back. A slot a shard gave up stays routed to it until the
// new owner's config arrives; the old owner refuses it meanwhile.
type Map struct {
	configs   []*wire.Config        // by shard id; nil where unknown
	bySlot    [command.Slots]int32  // shard id + 1; 0: no shard known
	slotEpoch [command.Slots]uint64 // the range epoch of bySlot's claim
}

// Adopt takes c if it is newer than the config held for its shard, and
// reports whether it did.
func (m *Map) Adopt(c *wire.Config) bool {
	if c == nil {
		return false
	}
	for int(c.Shard) >= len(m.configs) {
		m.configs = append(m.configs, nil)
	}
	old := m.configs[c.Shard]
	if old != nil && c.Version <= old.Version {
		return false
	}
	m.configs[c.Shard] = c
	start, end := SlotRange(c)
	for s := start; s < end; s++ {
		if m.bySlot[s] == 0 || c.RangeEpoch >= m.slotEpoch[s] {
			m.bySlot[s], m.slotEpoch[s] = int32(c.Shard)+1, c.RangeEpoch
		}
	}
	return true
}

// Holds reports whether c's range holds every key's slot.
func Holds(c *wire.Config, keys [][]byte) bool {
	start, end := SlotRange(c)
	for _, k := range keys {
		if s := uint32(command.Slot(k)); s < start || s >= end {
			return false
		}
	}
	return true
}

// Shard is the config of the shard that holds slot, nil when none is known.
func (m *Map) Shard(slot uint16) *wire.Config {
	id := m.bySlot[slot]
	if id == 0 {
		return nil
	}
	return m.configs[id-1]
}

// Config is shard's config, nil when unknown.
func (m *Map) Config(shard uint32) *wire.Config {
	if int(shard) >= len(m.configs) {
		return nil
	}
	return m.configs[shard]
}

// Configs are the known configs in shard order.
func (m *Map) Configs() []*wire.Config {
	out := make([]*wire.Config, 0, len(m.configs))
	for _, c := range m.configs {
		if c != nil {
			out = append(out, c)
		}
	}
	return out
}

// Covered reports whether every slot has a known shard.
func (m *Map) Covered() bool {
	return !slices.Contains(m.bySlot[:], 0)
}

// Route finds the one shard that holds every key. It returns nil, false
// when some key's shard is unknown, and nil, true when the keys span
// several shards.
func (m *Map) Route(keys [][]byte) (c *wire.Config, cross bool) {
	for _, k := range keys {
		kc := m.Shard(command.Slot(k))
		switch {
		case kc == nil:
			return nil, false
		case c == nil:
			c = kc
		case kc.Shard != c.Shard:
			return nil, true
		}
	}
	return c, false
}
