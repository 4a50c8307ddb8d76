package store

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"castkv/actors/wire"
)

// TestScanReturnsEveryKeyPresentThroughout scans a shard a few keys at a
// time while keys are written and deleted between calls, and splits it
// halfway, going on from the same cursor at whichever shard holds its slot:
// every key present for the whole scan is returned (Redis's promise), and
// no key is returned that never existed.
func TestScanReturnsEveryKeyPresentThroughout(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 1))
			s := openMem(t)
			const parent, child = 1, 2
			live := map[string]uint64{} // key -> its version's ts
			ts := uint64(10)
			splitAt := uint32(rng.IntN(wire.Slots))
			split := false
			owner := func(k string) uint32 {
				if split && uint32(wire.Slot([]byte(k))) >= splitAt {
					return child
				}
				return parent
			}
			put := func(k string) {
				a := s.NewApplyBatch(owner(k))
				prev, ok := live[k]
				ts++
				a.Put([]byte(k), ts, []byte("v"), 0, Prev{TS: prev, Live: ok, Bytes: 1})
				commit(t, a.Batch(), false)
				live[k] = ts
			}
			del := func(k string) {
				a := s.NewApplyBatch(owner(k))
				a.Delete([]byte(k), Prev{TS: live[k], Live: true, Bytes: 1})
				commit(t, a.Batch(), false)
				delete(live, k)
			}
			for i := range 300 {
				put(fmt.Sprintf("k%d", i))
			}
			stable := map[string]bool{} // present for the whole scan: never touched
			for k := range live {
				stable[k] = true
			}
			seen := map[string]bool{}
			cursor := uint64(0)
			for calls := 0; ; calls++ {
				if calls > 10000 {
					t.Fatal("the scan did not end")
				}
				slot, _ := wire.SplitCursor(cursor)
				shard, end := uint32(parent), uint32(wire.Slots)
				if split && slot >= splitAt {
					shard = child
				} else if split {
					end = splitAt
				}
				next, err := s.ScanFrom(shard, cursor, end, 1+rng.IntN(7), func(key []byte) (bool, error) {
					seen[string(key)] = true
					return false, nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if next == 0 {
					break // the end of the keyspace
				}
				cursor = next
				// Meanwhile: new keys, deletions, rewrites, and once, a split.
				for range rng.IntN(4) {
					switch k := fmt.Sprintf("k%d", rng.IntN(400)); {
					case live[k] == 0:
						put(k)
					case rng.IntN(2) == 0:
						del(k)
						delete(stable, k)
					default:
						put(k)
					}
				}
				if !split && calls == 20 {
					b := s.NewBatch()
					if _, err := b.Split(Split{Parent: parent, Child: child, ParentKeeps: SlotRange{0, splitAt},
						ChildTakes: SlotRange{splitAt, wire.Slots}}); err != nil {
						t.Fatal(err)
					}
					commit(t, b, false)
					split = true
				}
			}
			for k := range stable {
				if !seen[k] {
					t.Errorf("key %s was present for the whole scan but not returned (split at slot %d)", k, splitAt)
				}
			}
			for k := range seen {
				var n int
				fmt.Sscanf(k, "k%d", &n)
				if n >= 400 {
					t.Errorf("scan returned %q, which never existed", k)
				}
			}
			for _, sh := range []uint32{parent, child} {
				if err := s.CheckShape(sh); err != nil {
					t.Error(err)
				}
			}
		})
	}
}
