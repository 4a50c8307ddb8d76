package data

import (
	"testing"

	"castkv/actors/roletest"
	"castkv/actors/wire"
	"pgregory.net/rapid"
)

// TestLogVersionsMatchTheStore drives a replicaLog through appends (with
// config versions that never decrease), truncations of a suffix,
// compactions of a prefix, drops of all (a removed replica) and reopenings, and checks after
// each step that versionAt, which never reads pebble, names the version of
// every entry as pebble holds it.
func TestLogVersionsMatchTheStore(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		env := roletest.New("d1", 1)
		st := env.Store()
		open := func() *replicaLog {
			l, err := newReplicaLog(st, 0, 1<<10)
			if err != nil {
				rt.Fatalf("open the log: %v", err)
			}
			return l
		}
		l := open()
		version := uint64(1)
		for step := range rapid.IntRange(1, 60).Draw(rt, "steps") {
			b := st.NewBatch()
			switch op := rapid.IntRange(0, 9).Draw(rt, "op"); {
			case op < 6: // append a few entries
				for range rapid.IntRange(1, 4).Draw(rt, "n") {
					if rapid.IntRange(0, 3).Draw(rt, "new version") == 0 {
						version++
					}
					l.append(b, &wire.Entry{Seq: l.last + 1, Version: version, Writes: []*wire.Write{{Key: []byte("k"), Value: make([]byte, 100)}}})
				}
			case op == 6 && l.last > l.start: // truncate a suffix
				seq := rapid.Uint64Range(l.start+1, l.last).Draw(rt, "truncate from")
				l.truncate(b, seq, false)
			case op == 7 && l.last > l.start: // compact an applied prefix
				seq := rapid.Uint64Range(l.start+1, l.last).Draw(rt, "compact through")
				applied := st.NewBatch()
				applied.SetApplied(0, seq)
				l.write(applied, false)
				l.compact(b, seq)
			case op == 8: // a removed replica drops everything
				b.DeleteShard(0)
				l.reset(0, 0)
			}
			l.write(b, true)
			if rapid.Bool().Draw(rt, "reopen") {
				l = open()
			}
			for seq := l.start + 1; seq <= l.last; seq++ {
				stored, err := st.EntryVersion(0, seq)
				if err != nil {
					rt.Fatalf("step %d: %v", step, err)
				}
				e, err := st.Entry(0, seq)
				if err != nil || e == nil {
					rt.Fatalf("step %d: entry %d: %v, %v", step, seq, e, err)
				}
				if got := l.versionAt(seq); got != stored || got != e.Version {
					rt.Fatalf("step %d: log (%d, %d]: versionAt(%d) = %d, the store says %d (EntryVersion %d)",
						step, l.start, l.last, seq, got, e.Version, stored)
				}
			}
			if got, want := l.versionAt(l.start), l.startVersion; got != want {
				rt.Fatalf("step %d: versionAt(start %d) = %d, want %d", step, l.start, got, want)
			}
		}
	})
}
