package store

import (
	"math"
	"testing"

	"castkv/actors/wire"
	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"
)

// logModel is one shard's log, sorted by seq.
type logModel []*wire.Entry

func (m logModel) last() uint64 {
	if len(m) == 0 {
		return 0
	}
	return m[len(m)-1].Seq
}

func (m logModel) put(e *wire.Entry) logModel {
	for i, old := range m {
		switch {
		case old.Seq == e.Seq:
			m[i] = e
			return m
		case old.Seq > e.Seq:
			return append(m[:i], append([]*wire.Entry{e}, m[i:]...)...)
		}
	}
	return append(m, e)
}

func (m logModel) truncate(from uint64) logModel {
	for i, e := range m {
		if e.Seq >= from {
			return m[:i:i]
		}
	}
	return m
}

// entries is Entries on the model: raft's limitSize over encoded sizes.
func (m logModel) entries(from, to uint64, maxBytes int) []*wire.Entry {
	var out []*wire.Entry
	total := 0
	for _, e := range m {
		if e.Seq < from || e.Seq > to {
			continue
		}
		if total += proto.Size(e); len(out) > 0 && total > maxBytes {
			break
		}
		out = append(out, e)
	}
	return out
}

func entryGen(seq uint64) *rapid.Generator[*wire.Entry] {
	return rapid.Custom(func(t *rapid.T) *wire.Entry {
		e := &wire.Entry{
			Seq:      seq,
			Version:  rapid.Uint64Range(0, 4).Draw(t, "version"),
			Kind:     wire.Entry_Kind(rapid.IntRange(0, 2).Draw(t, "kind")),
			CommitTs: rapid.Uint64().Draw(t, "commit ts"),
		}
		if rapid.Bool().Draw(t, "has op") {
			e.Op = &wire.OpID{Incarnation: rapid.Uint64().Draw(t, "incarnation"), Counter: seq}
		}
		for range rapid.IntRange(0, 3).Draw(t, "writes") {
			e.Writes = append(e.Writes, &wire.Write{
				Key:    rapid.SliceOfN(rapid.Byte(), 0, 8).Draw(t, "key"),
				Value:  rapid.SliceOfN(rapid.Byte(), 0, 40).Draw(t, "value"),
				Delete: rapid.Bool().Draw(t, "delete"),
			})
		}
		return e
	})
}

func sameEntries(a, b []*wire.Entry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !proto.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func seqs(es []*wire.Entry) []uint64 {
	out := make([]uint64, len(es))
	for i, e := range es {
		out[i] = e.Seq
	}
	return out
}

// TestLogMatchesModel appends, overwrites and truncates the logs of a few
// shards in random batches and compares Entry, LastEntry and Entries with a
// slice per shard.
func TestLogMatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := openMem(t)
		shards := []uint32{0, 1, math.MaxUint32}
		models := make([]logModel, len(shards))
		seqGen := func(t *rapid.T, shard int, label string) uint64 {
			last := models[shard].last()
			if rapid.IntRange(0, 19).Draw(t, label+" extreme") == 0 {
				return rapid.SampledFrom([]uint64{0, math.MaxUint64}).Draw(t, label)
			}
			return rapid.Uint64Range(0, last+3).Draw(t, label)
		}

		t.Repeat(map[string]func(*rapid.T){
			"write": func(t *rapid.T) {
				b := s.NewBatch()
				next := append([]logModel(nil), models...)
				for range rapid.IntRange(1, 5).Draw(t, "ops") {
					shard := rapid.IntRange(0, len(shards)-1).Draw(t, "shard")
					if rapid.IntRange(0, 4).Draw(t, "truncate") == 0 {
						from := seqGen(t, shard, "truncate from")
						b.TruncateLog(shards[shard], from)
						next[shard] = next[shard].truncate(from)
						continue
					}
					seq := next[shard].last() + 1
					if rapid.IntRange(0, 3).Draw(t, "overwrite") == 0 {
						seq = seqGen(t, shard, "seq")
					}
					e := entryGen(seq).Draw(t, "entry")
					b.AppendEntry(shards[shard], e)
					next[shard] = next[shard].put(e)
				}
				commit(t, b, rapid.Bool().Draw(t, "sync"))
				models = next
			},
			"entry": func(t *rapid.T) {
				shard := rapid.IntRange(0, len(shards)-1).Draw(t, "shard")
				seq := seqGen(t, shard, "seq")
				got, err := s.Entry(shards[shard], seq)
				if err != nil {
					t.Fatalf("entry: %v", err)
				}
				want := models[shard].entries(seq, seq, math.MaxInt)
				if (got == nil) != (len(want) == 0) || (got != nil && !proto.Equal(got, want[0])) {
					t.Fatalf("shard %d entry %d: got %v, want %v", shards[shard], seq, got, want)
				}
			},
			"last": func(t *rapid.T) {
				shard := rapid.IntRange(0, len(shards)-1).Draw(t, "shard")
				got, err := s.LastEntry(shards[shard])
				if err != nil {
					t.Fatalf("last entry: %v", err)
				}
				m := models[shard]
				if (got == nil) != (len(m) == 0) || (got != nil && !proto.Equal(got, m[len(m)-1])) {
					t.Fatalf("shard %d: last entry %v, want seq %d", shards[shard], got, m.last())
				}
			},
			"entries": func(t *rapid.T) {
				shard := rapid.IntRange(0, len(shards)-1).Draw(t, "shard")
				from := seqGen(t, shard, "from")
				to := seqGen(t, shard, "to")
				maxBytes := rapid.IntRange(0, 400).Draw(t, "maxBytes")
				if all := models[shard].entries(from, to, math.MaxInt); len(all) > 0 && rapid.Bool().Draw(t, "exact") {
					// Right at the limit: the size of the first k entries.
					maxBytes = 0
					for _, e := range all[:rapid.IntRange(1, len(all)).Draw(t, "k")] {
						maxBytes += proto.Size(e)
					}
				}
				got, err := s.Entries(shards[shard], from, to, maxBytes)
				if err != nil {
					t.Fatalf("entries: %v", err)
				}
				if want := models[shard].entries(from, to, maxBytes); !sameEntries(got, want) {
					t.Fatalf("shard %d entries [%d, %d] max %d bytes: got seqs %v, want %v",
						shards[shard], from, to, maxBytes, seqs(got), seqs(want))
				}
			},
		})
	})
}
