package store

import (
	"fmt"
	"testing"

	"castkv/actors/wire"
)

// A directory written before the scan index existed (format 0) has keys
// SCAN cannot find; Upgrade builds the index from the data of every shard,
// records the format, and does nothing the second time. An empty
// directory takes the current format at once.
func TestUpgradeBuildsTheScanIndex(t *testing.T) {
	s := openMem(t)
	if added, err := s.Upgrade(); err != nil || added != 0 {
		t.Fatalf("upgrade of an empty store: added %d, %v", added, err)
	}
	if f, err := s.Format(); err != nil || f != CurrentFormat {
		t.Fatalf("an empty store's format after Upgrade: %d, %v", f, err)
	}

	s = openMem(t)
	want := map[uint32]int{1: 2500, 2: 300} // more than one of Upgrade's batches
	for shard, n := range want {
		for i := range n {
			a := s.NewApplyBatch(shard)
			a.Put([]byte(fmt.Sprintf("k%d", i)), 10, []byte("v"), 0, Prev{})
			if i%2 == 0 { // a newer version over it: one entry, not two
				a.Put([]byte(fmt.Sprintf("k%d", i)), 11, []byte("w"), int64(i), Prev{TS: 10, Live: true, Bytes: 1})
			}
			commit(t, a.Batch(), false)
		}
		// As a directory of format 0 has it: no index.
		b := s.NewBatch()
		p := shardKey(tagScan, shard)
		b.deleteRange(p, prefixEnd(p))
		commit(t, b, false)
	}
	count := func(shard uint32) int {
		n := 0
		if _, err := s.ScanFrom(shard, 0, wire.Slots, 1<<30, func([]byte) (bool, error) { n++; return false, nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(1); n != 0 {
		t.Fatalf("the old directory's index holds %d keys", n)
	}
	added, err := s.Upgrade()
	if err != nil || added != 2800 {
		t.Fatalf("Upgrade added %d entries (%v), want 2800", added, err)
	}
	for shard, n := range want {
		if got := count(shard); got != n {
			t.Errorf("shard %d: SCAN finds %d keys after Upgrade, want %d", shard, got, n)
		}
		if err := s.CheckShape(shard); err != nil {
			t.Errorf("shard %d: %v", shard, err)
		}
	}
	if added, err := s.Upgrade(); err != nil || added != 0 {
		t.Fatalf("a second Upgrade added %d (%v), want nothing", added, err)
	}
}
