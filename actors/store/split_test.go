package store

import (
	"bytes"
	"fmt"
	"testing"

	"castkv/actors/wire"
)

// TestSplitMovesTheChildsSlots splits a shard holding the tricky keys, a
// deleted key, locks and transaction records at a slot, and checks that
// every record of the child's slots moved (and none of the others), that
// both shards keep one version per key with exact live counts, that the
// flush marker, gc points and exactly-once table reach the child, and that each side
// records its range.
func TestSplitMovesTheChildsSlots(t *testing.T) {
	s := openMem(t)
	const parent, child = 3, 9
	keys := append([][]byte{[]byte("zz"), []byte("b")}, trickyKeys...)
	a := s.NewApplyBatch(parent)
	a.Flush(5)
	for i, k := range keys {
		a.Put(k, 10+uint64(i), []byte(fmt.Sprintf("v%d", i)), 0, Prev{})
	}
	a.Put([]byte("gone"), 40, []byte("x"), 0, Prev{})
	a.SetApplied(7)
	commit(t, a.Batch(), false)
	a = s.NewApplyBatch(parent)
	a.Delete([]byte("gone"), Prev{TS: 40, Live: true, Bytes: 1})
	a.PutLock(parent, []byte("a-locked"), []byte("lock a"))
	a.PutLock(parent, []byte{0x00, 0x00}, []byte("lock 0"))
	a.PutTxn(parent, []byte("b-primary"), 77, []byte("txn b"))
	a.PutTxn(parent, []byte{0x00}, 78, []byte("txn 0"))
	a.SetGC(parent, GCPoints{SafePoint: 70, Below: 60})
	commit(t, a.Batch(), false)

	// Slots: a-locked 5920, b-primary 9689, "\x00\x00" and "\x00" 0.
	split := SlotRange{Start: 5000, End: wire.Slots}
	b := s.NewBatch()
	moved, err := b.Split(Split{Parent: parent, Child: child, ParentKeeps: SlotRange{0, 5000}, ChildTakes: split,
		ChildDedup: []byte("dedup")})
	if err != nil {
		t.Fatal(err)
	}
	commit(t, b, false)

	var wantChild LiveCounts
	for i, k := range keys {
		value := []byte(fmt.Sprintf("v%d", i))
		owner, other := uint32(parent), uint32(child)
		if split.holds(uint32(wire.Slot(k))) {
			owner, other = child, parent
			wantChild.Keys++
			wantChild.Bytes += uint64(len(k) + len(value))
		}
		if gv, err := s.GetVersion(owner, k, 100); err != nil || !gv.Found || !bytes.Equal(gv.Value, value) {
			t.Errorf("key %q in shard %d: %q, %v, %v; want %q", k, owner, gv.Value, gv.Found, err, value)
		}
		if gv, err := s.GetVersion(other, k, 100); err != nil || gv.Found {
			t.Errorf("key %q also in shard %d (%v, %v)", k, other, gv.Found, err)
		}
	}
	if moved != wantChild {
		t.Errorf("Split says it moved %+v; want %+v", moved, wantChild)
	}
	for _, sh := range []uint32{parent, child} {
		if err := s.CheckShape(sh); err != nil {
			t.Errorf("after the split: %v", err)
		}
		if f, err := s.Flushed(sh); f != 5 || err != nil {
			t.Errorf("shard %d: flush marker %d, %v; want 5", sh, f, err)
		}
		if p, err := s.GC(sh); p != (GCPoints{SafePoint: 70, Below: 60}) || err != nil {
			t.Errorf("shard %d: gc points %+v, %v; want safe point 70, gc point 60", sh, p, err)
		}
	}
	locks := map[uint32][]string{}
	txns := map[uint32][]string{}
	for _, sh := range []uint32{parent, child} {
		if err := s.Locks(sh, func(k, _ []byte) error { locks[sh] = append(locks[sh], string(k)); return nil }); err != nil {
			t.Fatal(err)
		}
		if err := s.Txns(sh, func(p []byte, ts uint64, _ []byte) error {
			txns[sh] = append(txns[sh], fmt.Sprintf("%s@%d", p, ts))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if fmt.Sprint(locks[parent], locks[child]) != "[\x00\x00] [a-locked]" {
		t.Errorf("locks: parent %q, child %q; want [\"\\x00\\x00\"] and [a-locked]", locks[parent], locks[child])
	}
	if fmt.Sprint(txns[parent], txns[child]) != "[\x00@78] [b-primary@77]" {
		t.Errorf("transaction records: parent %q, child %q", txns[parent], txns[child])
	}
	if d, err := s.Dedup(child); string(d) != "dedup" || err != nil {
		t.Errorf("child's exactly-once table %q, %v", d, err)
	}
	if r, ok, err := s.Range(parent); r != (SlotRange{0, 5000}) || !ok || err != nil {
		t.Errorf("parent's range %v, %v, %v", r, ok, err)
	}
	if r, ok, err := s.Range(child); r != split || !ok || err != nil {
		t.Errorf("child's range %v, %v, %v", r, ok, err)
	}
	if applied, err := s.Applied(child); applied != 0 || err != nil {
		t.Errorf("child's applied seq %d, %v; want 0 (its log starts empty)", applied, err)
	}
}
