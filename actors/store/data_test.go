package store

import (
	"bytes"
	"math"
	"testing"

	"pgregory.net/rapid"
)

// The model of one shard's data: for each of trickyKeys its versions, and
// the flush marker.
type dataModel struct {
	versions [][]modelVersion // by index into trickyKeys
	flushed  uint64
}

type modelVersion struct {
	ts        uint64
	value     []byte
	tombstone bool
}

func newDataModel() *dataModel {
	return &dataModel{versions: make([][]modelVersion, len(trickyKeys))}
}

func (m *dataModel) put(key int, v modelVersion) {
	for i := range m.versions[key] {
		if m.versions[key][i].ts == v.ts {
			m.versions[key][i] = v
			return
		}
	}
	m.versions[key] = append(m.versions[key], v)
}

func (m *dataModel) get(key int, readTS uint64) ([]byte, bool) {
	var newest *modelVersion
	for i, v := range m.versions[key] {
		if v.ts <= readTS && (newest == nil || v.ts > newest.ts) {
			newest = &m.versions[key][i]
		}
	}
	if newest == nil || newest.tombstone || newest.ts <= m.flushed {
		return nil, false
	}
	return newest.value, true
}

func (m *dataModel) count(readTS uint64) int {
	n := 0
	for key := range m.versions {
		if _, ok := m.get(key, readTS); ok {
			n++
		}
	}
	return n
}

// TestDataMatchesModel runs random batches of versions, tombstones and flush
// markers on a few shards and compares every Get and Count with the model.
func TestDataMatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := openMem(t)
		shards := []uint32{0, 1, math.MaxUint32}
		models := []*dataModel{newDataModel(), newDataModel(), newDataModel()}
		now := uint64(1) // the newest timestamp written so far

		// Mostly the next timestamp, sometimes an older one or the extremes.
		tsGen := func(t *rapid.T, label string) uint64 {
			switch rapid.IntRange(0, 9).Draw(t, label+" choice") {
			case 0:
				return rapid.Uint64Range(1, now).Draw(t, label)
			case 1:
				return rapid.SampledFrom([]uint64{1, math.MaxUint64 - 1, math.MaxUint64}).Draw(t, label)
			}
			now += rapid.Uint64Range(0, 2).Draw(t, label+" step")
			return now
		}
		readTSGen := rapid.Custom(func(t *rapid.T) uint64 {
			if rapid.IntRange(0, 9).Draw(t, "read choice") == 0 {
				return rapid.SampledFrom([]uint64{0, math.MaxUint64 - 1, math.MaxUint64}).Draw(t, "readTS")
			}
			return rapid.Uint64Range(0, now+2).Draw(t, "readTS")
		})

		t.Repeat(map[string]func(*rapid.T){
			"write": func(t *rapid.T) {
				b := s.NewBatch()
				type op struct {
					shard int
					apply func(*dataModel)
				}
				var ops []op
				for range rapid.IntRange(1, 4).Draw(t, "writes") {
					shard := rapid.IntRange(0, len(shards)-1).Draw(t, "shard")
					key := rapid.IntRange(0, len(trickyKeys)-1).Draw(t, "key")
					switch rapid.IntRange(0, 9).Draw(t, "kind") {
					case 0, 1:
						ts := tsGen(t, "tombstone ts")
						b.PutTombstone(shards[shard], trickyKeys[key], ts)
						ops = append(ops, op{shard, func(m *dataModel) { m.put(key, modelVersion{ts: ts, tombstone: true}) }})
					case 2:
						ts := rapid.Uint64Range(0, now+1).Draw(t, "flush ts")
						b.SetFlush(shards[shard], ts)
						ops = append(ops, op{shard, func(m *dataModel) { m.flushed = ts }})
					default:
						ts := tsGen(t, "version ts")
						value := rapid.SliceOfN(rapid.Byte(), 0, 6).Draw(t, "value")
						b.PutVersion(shards[shard], trickyKeys[key], ts, value, 0)
						ops = append(ops, op{shard, func(m *dataModel) { m.put(key, modelVersion{ts: ts, value: value}) }})
					}
				}
				if rapid.IntRange(0, 9).Draw(t, "abort") == 0 {
					b.Close()
					return
				}
				commit(t, b, rapid.Bool().Draw(t, "sync"))
				for _, o := range ops {
					o.apply(models[o.shard])
				}
			},
			"get": func(t *rapid.T) {
				shard := rapid.IntRange(0, len(shards)-1).Draw(t, "shard")
				key := rapid.IntRange(0, len(trickyKeys)-1).Draw(t, "key")
				readTS := readTSGen.Draw(t, "readTS")
				got, ok, err := s.Get(shards[shard], trickyKeys[key], readTS)
				if err != nil {
					t.Fatalf("get: %v", err)
				}
				want, wantOK := models[shard].get(key, readTS)
				if ok != wantOK || !bytes.Equal(got, want) || (ok && got == nil) {
					t.Fatalf("shard %d key %q at %d: got %q %t, want %q %t", shards[shard], trickyKeys[key], readTS, got, ok, want, wantOK)
				}
			},
			"count": func(t *rapid.T) {
				shard := rapid.IntRange(0, len(shards)-1).Draw(t, "shard")
				readTS := readTSGen.Draw(t, "readTS")
				n, err := s.Count(shards[shard], readTS)
				if err != nil {
					t.Fatalf("count: %v", err)
				}
				if want := models[shard].count(readTS); n != want {
					t.Fatalf("shard %d at %d: count %d, want %d", shards[shard], readTS, n, want)
				}
			},
			"flushed": func(t *rapid.T) {
				shard := rapid.IntRange(0, len(shards)-1).Draw(t, "shard")
				f, err := s.Flushed(shards[shard])
				if err != nil || f != models[shard].flushed {
					t.Fatalf("shard %d: flushed %d %v, want %d", shards[shard], f, err, models[shard].flushed)
				}
			},
		})
	})
}
