package store

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// dataVersions counts the shard's data records per escaped key.
func dataVersions(t testingT, s *Store, shard uint32) map[string]int {
	t.Helper()
	lower := shardKey(tagData, shard)
	it, err := s.iter(lower, prefixEnd(lower))
	if err != nil {
		t.Fatalf("shard %d: iterate data: %v", shard, err)
	}
	out := map[string]int{}
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		out[string(k[shardPrefixLen:len(k)-tsLen])]++
	}
	if err := closeIter(it, it.Error()); err != nil {
		t.Fatalf("shard %d: iterate data: %v", shard, err)
	}
	return out
}

// checkOneVersionPerKey fails when any key of the shard has more than one
// data record: the garbage ApplyBatch must collect.
func checkOneVersionPerKey(t testingT, s *Store, shard uint32) error {
	t.Helper()
	for k, n := range dataVersions(t, s, shard) {
		if n > 1 {
			return fmt.Errorf("shard %d: escaped key %x has %d data records, want 1", shard, k, n)
		}
	}
	return nil
}

func liveKeys(t testingT, s *Store, shard uint32) uint64 {
	t.Helper()
	n, err := s.LiveKeys(shard)
	if err != nil {
		t.Fatalf("live keys: %v", err)
	}
	return n
}

// applyModel is one shard's applied state: the live value of each of
// trickyKeys, and how many data records a key has where that is known (keys
// ApplyBatch touched since the last flush; legacy keys may have many).
type applyModel struct {
	live    map[int][]byte
	records map[int]int
}

// TestApplyMatchesModel writes a random legacy history with PutVersion,
// PutTombstone and SetFlush, then random ApplyBatches on top, and compares
// Get, LiveKeys, Count and the data records with a map of live values.
func TestApplyMatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := openMem(t)
		shards := []uint32{0, math.MaxUint32}
		models := make([]*applyModel, len(shards))
		now := uint64(0) // the newest timestamp written so far
		// Mostly a few keys, so one batch often writes a key twice.
		keyGen := rapid.Custom(func(t *rapid.T) int {
			if rapid.IntRange(0, 3).Draw(t, "few") > 0 {
				return rapid.IntRange(0, 3).Draw(t, "key")
			}
			return rapid.IntRange(0, len(trickyKeys)-1).Draw(t, "key")
		})
		valueGen := rapid.SliceOfN(rapid.Byte(), 0, 4)

		// The legacy history, newest timestamps last as the data role
		// writes them, with its live key count seeded from a scan.
		b := s.NewBatch()
		for i, shard := range shards {
			legacy := newDataModel()
			for range rapid.IntRange(0, 12).Draw(t, "legacy writes") {
				now++
				key := keyGen.Draw(t, "legacy key")
				switch rapid.IntRange(0, 5).Draw(t, "legacy kind") {
				case 0:
					b.PutTombstone(shard, trickyKeys[key], now)
					legacy.put(key, modelVersion{ts: now, tombstone: true})
				case 1:
					b.SetFlush(shard, now)
					legacy.flushed = now
				default:
					v := valueGen.Draw(t, "legacy value")
					b.PutVersion(shard, trickyKeys[key], now, v)
					legacy.put(key, modelVersion{ts: now, value: v})
				}
			}
			models[i] = &applyModel{live: map[int][]byte{}, records: map[int]int{}}
			for key := range trickyKeys {
				if v, ok := legacy.get(key, math.MaxUint64); ok {
					models[i].live[key] = v
				}
			}
			b.setUint64(shardKey(tagLiveKeys, shard), uint64(len(models[i].live)))
		}
		commit(t, b, false)
		now++ // writes above a flush marker, as the data role applies them

		t.Repeat(map[string]func(*rapid.T){
			"apply": func(t *rapid.T) {
				i := rapid.IntRange(0, len(shards)-1).Draw(t, "shard")
				a := s.NewApplyBatch(shards[i])
				var ops []func(*applyModel)
				for range rapid.IntRange(1, 8).Draw(t, "writes") {
					// Writes of one log entry share its commit ts.
					now += rapid.Uint64Range(0, 1).Draw(t, "ts step")
					key := keyGen.Draw(t, "key")
					switch rapid.IntRange(0, 9).Draw(t, "kind") {
					case 0, 1, 2:
						a.Delete(trickyKeys[key], now)
						ops = append(ops, func(m *applyModel) {
							delete(m.live, key)
							m.records[key] = 0
						})
					case 3:
						// A flush is an entry of its own.
						now++
						a.Flush(now)
						now++
						ops = append(ops, func(m *applyModel) {
							clear(m.live)
							for key := range trickyKeys {
								m.records[key] = 0
							}
						})
					default:
						v := valueGen.Draw(t, "value")
						a.Put(trickyKeys[key], now, v)
						ops = append(ops, func(m *applyModel) {
							m.live[key] = v
							m.records[key] = 1
						})
					}
				}
				applied := rapid.Uint64().Draw(t, "applied seq")
				a.SetApplied(applied)
				if rapid.IntRange(0, 9).Draw(t, "abort") == 0 {
					a.Batch().Close()
					return
				}
				commit(t, a.Batch(), rapid.Bool().Draw(t, "sync"))
				for _, op := range ops {
					op(models[i])
				}
				if got, err := s.Applied(shards[i]); err != nil || got != applied {
					t.Fatalf("shard %d: applied %d %v, want %d", shards[i], got, err, applied)
				}
			},
			"get": func(t *rapid.T) {
				i := rapid.IntRange(0, len(shards)-1).Draw(t, "shard")
				key := keyGen.Draw(t, "key")
				want, wantOK := models[i].live[key]
				for _, readTS := range []uint64{now, math.MaxUint64} {
					got, ok, err := s.Get(shards[i], trickyKeys[key], readTS)
					if err != nil {
						t.Fatalf("get: %v", err)
					}
					if ok != wantOK || !bytes.Equal(got, want) || (ok && got == nil) {
						t.Fatalf("shard %d key %q at %d: got %q %t, want %q %t", shards[i], trickyKeys[key], readTS, got, ok, want, wantOK)
					}
				}
			},
			"": func(t *rapid.T) {
				for i, shard := range shards {
					m := models[i]
					n, err := s.Count(shard, math.MaxUint64)
					if err != nil {
						t.Fatalf("count: %v", err)
					}
					if live := liveKeys(t, s, shard); live != uint64(len(m.live)) || n != len(m.live) {
						t.Fatalf("shard %d: live keys %d, count %d, want %d", shard, live, n, len(m.live))
					}
					versions := dataVersions(t, s, shard)
					for key, want := range m.records {
						if got := versions[string(appendEscaped(nil, trickyKeys[key]))]; got != want {
							t.Fatalf("shard %d key %q: %d data records, want %d", shard, trickyKeys[key], got, want)
						}
					}
				}
			},
		})
	})
}

// putMany puts 10,000 versions over 10 keys in batches of 100 and returns
// the number of data records left.
func putMany(t *testing.T, s *Store, canary bool) int {
	const shard, keys, puts, perBatch = 7, 10, 10_000, 100
	for ts := uint64(1); ts <= puts; {
		a := s.NewApplyBatch(shard)
		a.keepOldVersions = canary
		for range perBatch {
			a.Put(fmt.Appendf(nil, "key%d", ts%keys), ts, fmt.Appendf(nil, "v%d", ts))
			ts++
		}
		commit(t, a.Batch(), false)
	}
	if n := liveKeys(t, s, shard); n != keys {
		t.Fatalf("live keys %d, want %d", n, keys)
	}
	for k := range uint64(keys) {
		want := fmt.Sprintf("v%d", puts-keys+1+(k+keys-1)%keys)
		if v, ok, err := s.Get(shard, fmt.Appendf(nil, "key%d", k), math.MaxUint64); err != nil || string(v) != want {
			t.Fatalf("key%d: %q %t %v, want %q", k, v, ok, err, want)
		}
	}
	if err := checkOneVersionPerKey(t, s, shard); err != nil {
		if !canary {
			t.Fatal(err)
		}
	} else if canary {
		t.Fatal("canary: Put kept old versions but checkOneVersionPerKey passed")
	}
	n := 0
	for _, c := range dataVersions(t, s, shard) {
		n += c
	}
	return n
}

func TestApplyKeepsOneVersionPerKey(t *testing.T) {
	if n := putMany(t, openMem(t), false); n != 10 {
		t.Fatalf("%d data records after 10,000 puts over 10 keys, want 10", n)
	}
}

// TestApplyCanaryKeepOldVersions proves the checks above see a Put that
// skips its deletes.
func TestApplyCanaryKeepOldVersions(t *testing.T) {
	if n := putMany(t, openMem(t), true); n != 10_000 {
		t.Fatalf("canary: %d data records, want all 10,000", n)
	}
}

// TestApplyOverLegacyData puts and deletes over keys with several versions,
// tombstones and versions under the flush marker, written by Batch.
func TestApplyOverLegacyData(t *testing.T) {
	s := openMem(t)
	b := s.NewBatch()
	b.PutVersion(1, []byte("live"), 1, []byte("a"))
	b.PutVersion(1, []byte("live"), 6, []byte("b"))
	b.PutVersion(1, []byte("dead"), 2, []byte("a"))
	b.PutTombstone(1, []byte("dead"), 7)
	b.PutVersion(1, []byte("flushed"), 3, []byte("a"))
	b.SetFlush(1, 5)
	b.PutVersion(1, []byte("gone"), 8, []byte("a"))
	b.setUint64(shardKey(tagLiveKeys, 1), 2) // live and gone
	commit(t, b, false)

	a := s.NewApplyBatch(1)
	for _, k := range []string{"live", "dead", "flushed"} {
		a.Put([]byte(k), 10, []byte("new "+k))
	}
	a.Delete([]byte("gone"), 10)
	commit(t, a.Batch(), false)

	for _, k := range []string{"live", "dead", "flushed"} {
		if v, ok, err := s.Get(1, []byte(k), math.MaxUint64); err != nil || string(v) != "new "+k {
			t.Errorf("%s: %q %t %v", k, v, ok, err)
		}
	}
	if _, ok, _ := s.Get(1, []byte("gone"), math.MaxUint64); ok {
		t.Error("gone is live after Delete")
	}
	if n, _ := s.Count(1, math.MaxUint64); n != 3 || liveKeys(t, s, 1) != 3 {
		t.Errorf("count %d, live keys %d, want 3", n, liveKeys(t, s, 1))
	}
	if v := dataVersions(t, s, 1); len(v) != 3 || checkOneVersionPerKey(t, s, 1) != nil {
		t.Errorf("data records %v, want one for each of 3 keys", v)
	}
}

func TestApplyErrors(t *testing.T) {
	s := openMem(t)
	a := s.NewApplyBatch(1)
	a.Put([]byte("k"), 5, []byte("v"))
	commit(t, a.Batch(), false)

	for _, c := range []struct {
		name, want string
		write      func(*ApplyBatch)
	}{
		{"put at ts 0", "ts 0 is reserved", func(a *ApplyBatch) { a.Put([]byte("x"), 0, nil) }},
		{"delete at ts 0", "ts 0 is reserved", func(a *ApplyBatch) { a.Delete([]byte("x"), 0) }},
		{"put below a version", "out of timestamp order", func(a *ApplyBatch) { a.Put([]byte("k"), 4, nil) }},
		{"delete below a version", "out of timestamp order", func(a *ApplyBatch) { a.Delete([]byte("k"), 4) }},
	} {
		a := s.NewApplyBatch(1)
		a.Put([]byte("other"), 6, []byte("v"))
		c.write(a)
		if err := a.Batch().Commit(false); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: commit error %v, want %q", c.name, err, c.want)
		}
	}
	if _, ok, _ := s.Get(1, []byte("other"), math.MaxUint64); ok || liveKeys(t, s, 1) != 1 {
		t.Error("a failed batch wrote some of its records")
	}

	b := s.NewBatch()
	b.setUint64(shardKey(tagLiveKeys, 1), 0) // the count lost key k
	commit(t, b, false)
	a = s.NewApplyBatch(1)
	a.Delete([]byte("k"), 6)
	if err := a.Batch().Commit(false); !errors.Is(err, ErrCorrupt) {
		t.Errorf("a count below zero: commit error %v, want ErrCorrupt", err)
	}

	a = s.NewApplyBatch(1)
	a.Batch().Close()
	defer func() {
		if recover() == nil {
			t.Error("a write after Batch() did not panic")
		}
	}()
	a.Put([]byte("k"), 7, nil)
}

// BenchmarkApplyPut overwrites 1,000 keys in batches of 100, with Batch's
// PutVersion (every version kept) and with ApplyBatch.Put (one kept).
func BenchmarkApplyPut(b *testing.B) {
	const keys, perBatch = 1000, 100
	value := bytes.Repeat([]byte("v"), 32)
	for _, c := range []struct {
		name string
		put  func(s *Store, n int, ts uint64)
	}{
		{"PutVersion", func(s *Store, n int, ts uint64) {
			bt := s.NewBatch()
			for i := range n {
				bt.PutVersion(1, fmt.Appendf(nil, "key%d", (ts+uint64(i))%keys), ts+uint64(i), value)
			}
			commit(b, bt, false)
		}},
		{"ApplyBatch", func(s *Store, n int, ts uint64) {
			a := s.NewApplyBatch(1)
			for i := range n {
				a.Put(fmt.Appendf(nil, "key%d", (ts+uint64(i))%keys), ts+uint64(i), value)
			}
			commit(b, a.Batch(), false)
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			s := openMem(b)
			c.put(s, keys, 1) // every key exists
			ts := uint64(keys + 1)
			b.ResetTimer()
			for left := b.N; left > 0; left -= perBatch {
				n := min(left, perBatch)
				c.put(s, n, ts)
				ts += uint64(n)
			}
		})
	}
}
