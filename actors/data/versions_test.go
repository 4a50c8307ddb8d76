package data

import (
	"testing"

	"castkv/actors"
	"castkv/actors/roletest"
	"castkv/actors/wire"
)

// commitOne runs op through a three-replica primary until it commits and
// returns the entry's one write as the Prepare to data2 carried it.
func commitOne(t *testing.T, env *roletest.Env, s *Server, m *wire.Commit) *wire.Write {
	t.Helper()
	e := commitEntry(t, env, s, m)
	if e.Kind != wire.Entry_WRITE {
		return nil
	}
	if len(e.Writes) != 1 {
		t.Fatalf("op %d: entry has %d writes, want 1", m.Op.Counter, len(e.Writes))
	}
	return e.Writes[0]
}

func op(counter uint64, argv ...string) *wire.Commit {
	return &wire.Commit{Shard: 0, ConfigVersion: 1, Op: &wire.OpID{Incarnation: 1, Counter: counter}, Ts: nextTS(), Command: cmdOf(argv...)}
}

// Rule one-version: every write names the version it replaces in the
// committed state and whether the key was live, so replicas delete the old
// version without reading. The primary's version cache answers this after
// the first write of a key, and must follow commits, deletions and FLUSH;
// with the cache off, the same names come from the store.
func TestWriteNamesTheVersionItReplaces(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cacheMax int
		wantHits bool
	}{
		{"cache", 0, true},
		{"no-cache", -1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := roletest.New("data1", 1)
			defer env.Close()
			s := primaryWithLease(t, env, Config{Meta: []actors.Addr{"meta"}, MaxVersionCacheBytes: tc.cacheMax},
				config(1, "data1", []string{"data2", "data3"}), "data2", "data3")
			env.Take()
			r := s.replica(0)
			steps := []struct {
				argv     []string
				wantPrev func(prevTS uint64) uint64 // of the entry before
				wantLive bool
			}{
				{[]string{"SET", "k", "a"}, func(uint64) uint64 { return 0 }, false},
				{[]string{"SET", "k", "b"}, func(p uint64) uint64 { return p }, true},
				{[]string{"SET", "k", "c"}, func(p uint64) uint64 { return p }, true},
				{[]string{"DEL", "k"}, func(p uint64) uint64 { return p }, true},
				{[]string{"SET", "k", "d"}, func(uint64) uint64 { return 0 }, false},
				{[]string{"FLUSHALL"}, nil, false},
				{[]string{"SET", "k", "e"}, func(uint64) uint64 { return 0 }, false},
				{[]string{"SET", "k", "f"}, func(p uint64) uint64 { return p }, true},
			}
			var prevSeq uint64
			for i, st := range steps {
				w := commitOne(t, env, s, op(uint64(i+1), st.argv...))
				if st.wantPrev != nil {
					if want := st.wantPrev(prevSeq); w.PrevTs != want || w.WasLive != st.wantLive {
						t.Fatalf("step %d %v: prev_ts %d was_live %t, want %d %t", i, st.argv, w.PrevTs, w.WasLive, want, st.wantLive)
					}
				}
				prevSeq = r.primary.lastCommitTS
				if err := env.Store().CheckShape(0); err != nil {
					t.Fatalf("after step %d %v: %v", i, st.argv, err)
				}
			}
			if got := r.versionCacheHits > 0; got != tc.wantHits {
				t.Fatalf("version cache hits %d, want some: %t", r.versionCacheHits, tc.wantHits)
			}
		})
	}
}

// The canary stale-version-cache: a cache that does not learn what the
// primary applies names an old version, and the store's shape check sees
// the version left behind.
func TestStaleVersionCacheCanaryBreaksShape(t *testing.T) {
	env := roletest.New("data1", 1)
	defer env.Close()
	s := primaryWithLease(t, env, Config{Meta: []actors.Addr{"meta"}, Canary: CanaryStaleVersionCache},
		config(1, "data1", []string{"data2", "data3"}), "data2", "data3")
	env.Take()
	for i, v := range []string{"a", "b", "c"} {
		commitOne(t, env, s, op(uint64(i+1), "SET", "k", v))
	}
	if err := env.Store().CheckShape(0); err == nil {
		t.Fatal("canary stale-version-cache: three SETs of one key left a store that passes CheckShape")
	}
}
