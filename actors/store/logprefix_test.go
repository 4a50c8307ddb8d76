package store

import (
	"bytes"
	"testing"

	"castkv/actors/wire"
)

func TestTruncateLogPrefix(t *testing.T) {
	s := openMem(t)
	b := s.NewBatch()
	for seq := uint64(1); seq <= 10; seq++ {
		for _, shard := range []uint32{1, 2} {
			b.AppendEntry(shard, &wire.Entry{Seq: seq, Version: 100 + seq/3})
		}
	}
	b.SetApplied(1, 7)
	b.SetApplied(2, 10)
	commit(t, b, false)
	if seq, v, err := s.LogStart(1); err != nil || seq != 0 || v != 0 {
		t.Fatalf("log start before any truncation: (%d, %d) %v", seq, v, err)
	}
	truncate := func(through uint64) error {
		t.Helper()
		b := s.NewBatch()
		b.TruncateLogPrefix(1, through)
		if err := b.err; err != nil {
			b.Close()
			return err
		}
		if n := b.Len(); n > 2 {
			t.Errorf("truncate through %d: %d writes, want a range deletion and the log start", through, n)
		}
		return b.Commit(false)
	}
	expect := func(start, startVersion, first uint64) {
		t.Helper()
		if seq, v, err := s.LogStart(1); err != nil || seq != start || v != startVersion {
			t.Fatalf("log start (%d, %d) %v, want (%d, %d)", seq, v, err, start, startVersion)
		}
		es, err := s.Entries(1, 0, 100, 1<<20)
		if err != nil || len(es) == 0 || es[0].Seq != first || es[len(es)-1].Seq != 10 {
			t.Fatalf("entries %v %v, want %d..10", es, err, first)
		}
		if es, _ := s.Entries(2, 0, 100, 1<<20); len(es) != 10 {
			t.Fatalf("shard 2 has %d entries, want 10", len(es))
		}
	}

	if err := truncate(5); err != nil {
		t.Fatal(err)
	}
	expect(5, 101, 6)
	if err := truncate(5); err != nil { // again: nothing moves
		t.Fatal(err)
	}
	expect(5, 101, 6)
	for _, through := range []uint64{4, 8} { // back; past applied
		if err := truncate(through); err == nil {
			t.Fatalf("truncate through %d succeeded", through)
		} else {
			t.Logf("e.g. %v", err)
		}
	}
	expect(5, 101, 6)

	// A log truncated to empty has no last entry, and its end is the log
	// start.
	a := s.NewApplyBatch(1)
	a.SetApplied(10)
	commit(t, a.Batch(), false)
	b = s.NewBatch()
	b.TruncateLogPrefix(1, 10)
	commit(t, b, false)
	if e, err := s.LastEntry(1); e != nil || err != nil {
		t.Fatalf("last entry of a log truncated to empty: %v %v", e, err)
	}
	if seq, v, err := s.LogStart(1); err != nil || seq != 10 || v != 103 {
		t.Fatalf("log start (%d, %d) %v, want (10, 103)", seq, v, err)
	}

	// Entries at or below the start (left by a snapshot install) go with a
	// truncation to the start; one with no entry there fails.
	b = s.NewBatch()
	b.AppendEntry(1, &wire.Entry{Seq: 9, Version: 1})
	b.AppendEntry(1, &wire.Entry{Seq: 10, Version: 1})
	commit(t, b, false)
	if err := truncate(10); err != nil {
		t.Fatal(err)
	}
	if e, _ := s.LastEntry(1); e != nil {
		t.Fatalf("entry %d left at or below the log start", e.Seq)
	}
	b = s.NewBatch()
	b.SetApplied(1, 12)
	b.AppendEntry(1, &wire.Entry{Seq: 12, Version: 104})
	commit(t, b, false)
	if err := truncate(11); err == nil {
		t.Fatal("truncate through a missing entry succeeded")
	}
}

func TestDedupRecord(t *testing.T) {
	s := openMem(t)
	if d, err := s.Dedup(1); d != nil || err != nil {
		t.Fatalf("absent table: %q %v", d, err)
	}
	b := s.NewBatch()
	b.PutDedup(1, []byte("table one"))
	b.PutDedup(2, nil)
	commit(t, b, false)
	if d, err := s.Dedup(1); err != nil || !bytes.Equal(d, []byte("table one")) {
		t.Fatalf("table: %q %v", d, err)
	}
	if d, err := s.Dedup(2); err != nil || d == nil || len(d) != 0 {
		t.Fatalf("empty table: %q %v, want present and empty", d, err)
	}
	if d, _ := s.Dedup(3); d != nil {
		t.Fatalf("shard 3: %q", d)
	}
}
