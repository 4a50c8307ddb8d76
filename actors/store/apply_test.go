package store

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
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
// data record (the garbage ApplyBatch must collect) or the live key count
// is off: Store.CheckShape, whose canary this is.
func checkOneVersionPerKey(t testingT, s *Store, shard uint32) error {
	t.Helper()
	return s.CheckShape(shard)
}

func liveKeys(t testingT, s *Store, shard uint32) uint64 {
	t.Helper()
	n, err := s.LiveKeys(shard)
	if err != nil {
		t.Fatalf("live keys: %v", err)
	}
	return n
}

// applyModel is one shard's applied state: each of trickyKeys' version
// timestamp (absent: no version) and live value.
type applyModel struct {
	ts   map[int]uint64
	live map[int][]byte
}

func (m *applyModel) clone() *applyModel {
	return &applyModel{ts: maps.Clone(m.ts), live: maps.Clone(m.live)}
}

// TestApplyMatchesModel applies random batches, each write naming what it
// replaces as the primary would (from the model), and compares Get,
// GetVersion, LiveKeys, Count and the data records with the model.
func TestApplyMatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := openMem(t)
		shards := []uint32{0, math.MaxUint32}
		models := make([]*applyModel, len(shards))
		for i := range models {
			models[i] = &applyModel{ts: map[int]uint64{}, live: map[int][]byte{}}
		}
		now := uint64(1) // the newest timestamp written so far
		// Mostly a few keys, so one batch often writes a key twice.
		keyGen := rapid.Custom(func(t *rapid.T) int {
			if rapid.IntRange(0, 3).Draw(t, "few") > 0 {
				return rapid.IntRange(0, 3).Draw(t, "key")
			}
			return rapid.IntRange(0, len(trickyKeys)-1).Draw(t, "key")
		})
		valueGen := rapid.SliceOfN(rapid.Byte(), 0, 4)

		t.Repeat(map[string]func(*rapid.T){
			"apply": func(t *rapid.T) {
				i := rapid.IntRange(0, len(shards)-1).Draw(t, "shard")
				a := s.NewApplyBatch(shards[i])
				m := models[i].clone()
				for range rapid.IntRange(1, 8).Draw(t, "writes") {
					// Writes of one log entry share its commit ts.
					now += rapid.Uint64Range(0, 1).Draw(t, "ts step")
					key := keyGen.Draw(t, "key")
					_, wasLive := m.live[key]
					switch rapid.IntRange(0, 9).Draw(t, "kind") {
					case 0, 1, 2:
						a.Delete(trickyKeys[key], Prev{TS: m.ts[key], Live: wasLive, Bytes: uint64(len(m.live[key]))})
						delete(m.live, key)
						delete(m.ts, key)
					case 3:
						// A flush is an entry of its own.
						now++
						a.Flush(now)
						now++
						clear(m.live)
						clear(m.ts)
					default:
						v := valueGen.Draw(t, "value")
						a.Put(trickyKeys[key], now, v, 0, Prev{TS: m.ts[key], Live: wasLive, Bytes: uint64(len(m.live[key]))})
						m.live[key], m.ts[key] = v, now
					}
				}
				applied := rapid.Uint64().Draw(t, "applied seq")
				a.SetApplied(applied)
				if rapid.IntRange(0, 9).Draw(t, "abort") == 0 {
					a.Batch().Close()
					return
				}
				commit(t, a.Batch(), rapid.Bool().Draw(t, "sync"))
				models[i] = m
				if got, err := s.Applied(shards[i]); err != nil || got != applied {
					t.Fatalf("shard %d: applied %d %v, want %d", shards[i], got, err, applied)
				}
			},
			"get": func(t *rapid.T) {
				i := rapid.IntRange(0, len(shards)-1).Draw(t, "shard")
				key := keyGen.Draw(t, "key")
				want, wantOK := models[i].live[key]
				gv, err := s.GetVersion(shards[i], trickyKeys[key], math.MaxUint64)
				got, ts, ok := gv.Value, gv.TS, gv.Found
				if err != nil {
					t.Fatalf("get: %v", err)
				}
				if ok != wantOK || !bytes.Equal(got, want) || (ok && got == nil) || ts != models[i].ts[key] {
					t.Fatalf("shard %d key %q: got %q %t at %d, want %q %t at %d", shards[i], trickyKeys[key], got, ok, ts, want, wantOK, models[i].ts[key])
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
					if err := checkOneVersionPerKey(t, s, shard); err != nil {
						t.Fatal(err)
					}
					var size uint64
					for k, v := range m.live {
						size += uint64(len(trickyKeys[k]) + len(v))
					}
					if got, err := s.LiveBytes(shard); err != nil || got != size {
						t.Fatalf("shard %d: live bytes %d %v, want %d", shard, got, err, size)
					}
					if err := s.CheckShape(shard); err != nil {
						t.Fatal(err)
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
			var prevTS uint64 // the key's version before this put, if any
			if ts > keys {
				prevTS = ts - keys
			}
			a.Put(fmt.Appendf(nil, "key%d", ts%keys), ts, fmt.Appendf(nil, "v%d", ts), 0, Prev{TS: prevTS, Live: prevTS != 0, Bytes: uint64(len(fmt.Sprint("v", prevTS)))})
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

func TestApplyErrors(t *testing.T) {
	s := openMem(t)
	a := s.NewApplyBatch(1)
	a.Put([]byte("k"), 5, []byte("v"), 0, Prev{})
	commit(t, a.Batch(), false)

	a = s.NewApplyBatch(1)
	a.Put([]byte("other"), 6, []byte("v"), 0, Prev{})
	a.Put([]byte("x"), 0, nil, 0, Prev{})
	if err := a.Batch().Commit(false); err == nil || !strings.Contains(err.Error(), "ts 0 is reserved") {
		t.Errorf("put at ts 0: commit error %v", err)
	}
	if _, ok, _ := s.Get(1, []byte("other"), math.MaxUint64); ok || liveKeys(t, s, 1) != 1 {
		t.Error("a failed batch wrote some of its records")
	}

	b := s.NewBatch()
	b.setUint64(shardKey(tagLiveKeys, 1), 0) // the count lost key k
	commit(t, b, false)
	a = s.NewApplyBatch(1)
	a.Delete([]byte("k"), Prev{TS: 5, Live: true, Bytes: 1})
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
	a.Put([]byte("k"), 7, nil, 0, Prev{TS: 5, Live: true, Bytes: 1})
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
				bt.PutVersion(1, fmt.Appendf(nil, "key%d", (ts+uint64(i))%keys), ts+uint64(i), value, 0)
			}
			commit(b, bt, false)
		}},
		{"ApplyBatch", func(s *Store, n int, ts uint64) {
			a := s.NewApplyBatch(1)
			for i := range n {
				cur := ts + uint64(i)
				a.Put(fmt.Appendf(nil, "key%d", cur%keys), cur, value, 0, Prev{TS: max(cur, keys+1) - keys, Live: true, Bytes: uint64(len(value))})
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

// applier drives an ApplyBatch the way the data role does: each write names
// the version it replaces and whether the key was live, found in the
// committed state or in the batch's own earlier writes.
type applier struct {
	t       testingT
	s       *Store
	a       *ApplyBatch
	shard   uint32
	written map[string]Prev // key -> its version in this batch
	flushed bool            // a Flush in this batch removed every other version
}

func newApplier(t testingT, s *Store, shard uint32) *applier {
	return &applier{t: t, s: s, a: s.NewApplyBatch(shard), shard: shard, written: map[string]Prev{}}
}

func (p *applier) prior(key []byte) Prev {
	if w, ok := p.written[string(key)]; ok {
		return w
	}
	if p.flushed {
		return Prev{}
	}
	gv, err := p.s.GetVersion(p.shard, key, math.MaxUint64)
	v, ts, ok := gv.Value, gv.TS, gv.Found
	if err != nil {
		p.t.Fatalf("get version of %q: %v", key, err)
	}
	return Prev{TS: ts, Live: ok, Bytes: uint64(len(v))}
}

func (p *applier) put(key []byte, ts uint64, value []byte) {
	p.a.Put(key, ts, value, 0, p.prior(key))
	p.written[string(key)] = Prev{TS: ts, Live: true, Bytes: uint64(len(value))}
}

func (p *applier) del(key []byte) {
	p.a.Delete(key, p.prior(key))
	p.written[string(key)] = Prev{}
}

func (p *applier) flush(ts uint64) {
	p.a.Flush(ts)
	clear(p.written)
	p.flushed = true
}
