package store

import (
	"slices"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// The raft records round-trip; a new suffix replaces a conflicting one,
// compaction drops a prefix, and an installed snapshot drops the whole log.
func TestRaftLogRecords(t *testing.T) {
	s := New(openDB(t, vfs.NewMem()), nil)
	write := func(f func(b *Batch)) {
		t.Helper()
		b := s.NewBatch()
		f(b)
		if err := s.WriteSync(b); err != nil {
			t.Fatal(err)
		}
	}
	entries := func(first uint64, n int, tag string) [][]byte {
		var out [][]byte
		for i := 0; i < n; i++ {
			out = append(out, []byte(tag+string(rune('0'+int(first)+i))))
		}
		return out
	}
	check := func(first uint64, want [][]byte) {
		t.Helper()
		rs, err := s.RaftState()
		if err != nil {
			t.Fatal(err)
		}
		if len(want) > 0 && rs.FirstIndex != first || !slices.EqualFunc(rs.Entries, want, func(a, b []byte) bool { return string(a) == string(b) }) {
			t.Fatalf("raft log from %d: %q, want from %d: %q", rs.FirstIndex, rs.Entries, first, want)
		}
	}
	write(func(b *Batch) { b.PutRaftEntries(1, entries(1, 5, "a")); b.PutRaftHardState([]byte("hs")) })
	check(1, entries(1, 5, "a"))
	write(func(b *Batch) { b.PutRaftEntries(3, entries(3, 1, "b")) }) // a new leader overwrote 3..5
	check(1, append(entries(1, 2, "a"), entries(3, 1, "b")...))
	write(func(b *Batch) { b.PutRaftSnapshot(2, []byte("snap2")) })
	check(3, entries(3, 1, "b"))
	write(func(b *Batch) { b.InstallRaftSnapshot([]byte("snap9")) })
	check(0, nil)
	rs, err := s.RaftState()
	if err != nil || string(rs.Snapshot) != "snap9" || string(rs.HardState) != "hs" {
		t.Fatalf("state after install: %+v, %v", rs, err)
	}
}
