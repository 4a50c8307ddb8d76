package store

import (
	"testing"

	"castkv/actors/wire"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestCrashKeepsExactlySyncedWrites crashes a crashable in-memory FS the way
// the simulator does and checks which writes the reopened store still has.
func TestCrashKeepsExactlySyncedWrites(t *testing.T) {
	fs := vfs.NewCrashableMem()
	s := New(openDB(t, fs), nil)

	// crash reopens the store from what a crash now would leave on disk.
	crash := func() *Store {
		t.Helper()
		return New(openDB(t, fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0})), nil)
	}
	write := func(name string, sync bool) {
		t.Helper()
		b := s.NewBatch()
		b.PutMeta(name, []byte(name))
		b.PutVersion(1, []byte(name), 10, []byte(name), 0)
		b.AppendEntry(1, &wire.Entry{Seq: uint64(len(name)), Writes: []*wire.Write{{Key: []byte(name)}}})
		commit(t, b, sync)
	}
	has := func(s *Store, name string) bool {
		t.Helper()
		m, err := s.Meta(name)
		if err != nil {
			t.Fatal(err)
		}
		_, ok, err := s.Get(1, []byte(name), 10)
		if err != nil {
			t.Fatal(err)
		}
		e, err := s.Entry(1, uint64(len(name)))
		if err != nil {
			t.Fatal(err)
		}
		if (m != nil) != ok || ok != (e != nil) {
			t.Fatalf("%s: half a batch survived: meta %t, version %t, entry %t", name, m != nil, ok, e != nil)
		}
		return ok
	}
	expect := func(s *Store, when string, want map[string]bool) {
		t.Helper()
		for _, name := range []string{"a", "bb", "ccc", "dddd"} {
			if got := has(s, name); got != want[name] {
				t.Errorf("%s: %s survived %t, want %t", when, name, got, want[name])
			}
		}
	}

	write("a", true)
	write("bb", false)
	expect(s, "before any crash", map[string]bool{"a": true, "bb": true})
	expect(crash(), "crash after Commit(true), Commit(false)", map[string]bool{"a": true})

	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	write("ccc", false)
	expect(crash(), "crash after Sync, Commit(false)", map[string]bool{"a": true, "bb": true})

	// An empty batch committed with sync is a Sync.
	commit(t, s.NewBatch(), true)
	write("dddd", false)
	expect(crash(), "crash after empty Commit(true)", map[string]bool{"a": true, "bb": true, "ccc": true})

	write("dddd", true)
	expect(crash(), "crash after all synced", map[string]bool{"a": true, "bb": true, "ccc": true, "dddd": true})
}
