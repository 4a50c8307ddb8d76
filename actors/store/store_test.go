package store

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"testing"

	"castkv/actors/wire"
	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"google.golang.org/protobuf/proto"
)

// testingT is what the helpers need of *testing.T and *rapid.T.
type testingT interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// openDB opens castkv's pebble DB on fs and closes it at the end of the test.
func openDB(t testingT, fs vfs.FS) *pebble.DB {
	t.Helper()
	db, err := pebble.Open("db", Options(fs, SimMemTableBytes, nil))
	if err != nil {
		t.Fatalf("open pebble: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func openMem(t testingT) *Store {
	t.Helper()
	return New(openDB(t, vfs.NewMem()), nil)
}

func commit(t testingT, b *Batch, sync bool) {
	t.Helper()
	if err := b.Commit(sync); err != nil {
		t.Fatalf("commit: %v", err)
	}
}

// trickyKeys are prefixes of each other and hold the escape bytes.
var trickyKeys = [][]byte{
	{}, {0x00}, {0x00, 0x00}, {0x00, 0x01}, {0x00, 0xFF}, {0x01}, {0xFF}, {0xFF, 0xFF},
	[]byte("a"), []byte("a\x00"), []byte("a\x00\x01"), []byte("a\x00\xff"),
	[]byte("a\x00\xff\x00\x01"), []byte("a\x01"), []byte("a\xff"), []byte("ab"), []byte("ab\x00"),
}

func TestTrickyKeysStaySeparate(t *testing.T) {
	s := openMem(t)
	shards := []uint32{0, 1, 256, math.MaxUint32}
	b := s.NewBatch()
	for _, shard := range shards {
		for i, k := range trickyKeys {
			// Two versions each, so a key's older version sits between
			// it and the next key in byte order.
			b.PutVersion(shard, k, 5, []byte(fmt.Sprintf("old %d/%d", shard, i)), 0)
			b.PutVersion(shard, k, 10, []byte(fmt.Sprintf("new %d/%d", shard, i)), 0)
			b.PutLock(shard, k, []byte(fmt.Sprintf("lock %d/%d", shard, i)))
		}
	}
	commit(t, b, false)

	for _, shard := range shards {
		for i, k := range trickyKeys {
			for _, c := range []struct {
				readTS uint64
				want   string
			}{{4, ""}, {5, "old"}, {9, "old"}, {10, "new"}, {math.MaxUint64, "new"}} {
				v, ok, err := s.Get(shard, k, c.readTS)
				if err != nil {
					t.Fatal(err)
				}
				want := fmt.Sprintf("%s %d/%d", c.want, shard, i)
				if c.want == "" {
					if ok {
						t.Errorf("shard %d key %q at %d: got %q, want absent", shard, k, c.readTS, v)
					}
				} else if !ok || string(v) != want {
					t.Errorf("shard %d key %q at %d: got %q %t, want %q", shard, k, c.readTS, v, ok, want)
				}
			}
			lock, err := s.Lock(shard, k)
			if err != nil || string(lock) != fmt.Sprintf("lock %d/%d", shard, i) {
				t.Errorf("shard %d lock %q: got %q %v", shard, k, lock, err)
			}
		}
		n, err := s.Count(shard, 10)
		if err != nil || n != len(trickyKeys) {
			t.Errorf("shard %d: count %d %v, want %d", shard, n, err, len(trickyKeys))
		}
	}

	// Deleting one key leaves its neighbours alone.
	b = s.NewBatch()
	b.PutTombstone(1, []byte("a\x00"), 11)
	b.DeleteLock(1, []byte("a\x00"))
	commit(t, b, false)
	for i, k := range trickyKeys {
		_, ok, _ := s.Get(1, k, 11)
		lock, _ := s.Lock(1, k)
		if gone := string(k) == "a\x00"; ok == gone || (lock == nil) != gone {
			t.Errorf("key %d %q: present %t, lock %q after deleting only \"a\\x00\"", i, k, ok, lock)
		}
	}
	if n, _ := s.Count(1, 11); n != len(trickyKeys)-1 {
		t.Errorf("count after delete: %d, want %d", n, len(trickyKeys)-1)
	}
	if n, _ := s.Count(1, 10); n != len(trickyKeys) {
		t.Errorf("count at 10 after delete at 11: %d, want %d", n, len(trickyKeys))
	}
}

func TestFlushMarker(t *testing.T) {
	s := openMem(t)
	b := s.NewBatch()
	b.PutVersion(3, []byte("x"), 5, []byte("x5"), 0)
	b.PutVersion(3, []byte("y"), 7, []byte("y7"), 0)
	b.PutVersion(4, []byte("x"), 5, []byte("other shard"), 0)
	b.SetFlush(3, 6)
	b.PutVersion(3, []byte("y"), 9, nil, 0) // empty value, present
	commit(t, b, false)

	if f, err := s.Flushed(3); err != nil || f != 6 {
		t.Fatalf("flushed: %d %v", f, err)
	}
	if f, err := s.Flushed(4); err != nil || f != 0 {
		t.Fatalf("flushed of unflushed shard: %d %v", f, err)
	}
	check := func(key string, readTS uint64, want string, wantOK bool) {
		t.Helper()
		v, ok, err := s.Get(3, []byte(key), readTS)
		if err != nil || ok != wantOK || string(v) != want {
			t.Errorf("get %q at %d: %q %t %v, want %q %t", key, readTS, v, ok, err, want, wantOK)
		}
	}
	check("x", 5, "", false) // at/below the marker: gone
	check("x", 100, "", false)
	check("y", 6, "", false)  // a read at the marker sees an empty shard
	check("y", 7, "y7", true) // above the marker: live
	check("y", 8, "y7", true)
	v, ok, _ := s.Get(3, []byte("y"), 9)
	if !ok || v == nil || len(v) != 0 {
		t.Errorf("empty value: got %q %t, want present and empty", v, ok)
	}
	if v, ok, _ := s.Get(4, []byte("x"), 5); !ok || string(v) != "other shard" {
		t.Errorf("flush leaked into shard 4: %q %t", v, ok)
	}
	for readTS, want := range []int{0, 0, 0, 0, 0, 0, 0, 1, 1, 1} {
		if n, err := s.Count(3, uint64(readTS)); err != nil || n != want {
			t.Errorf("count at %d: %d %v, want %d", readTS, n, err, want)
		}
	}
}

func TestReservedTimestamp(t *testing.T) {
	s := openMem(t)
	b := s.NewBatch()
	b.PutVersion(1, []byte("ok"), 1, []byte("v"), 0)
	b.PutTombstone(1, []byte("k"), 0)
	if err := b.Commit(true); err == nil {
		t.Fatal("commit with a version at ts 0 succeeded")
	}
	if _, ok, _ := s.Get(1, []byte("ok"), 1); ok {
		t.Fatal("a failed batch wrote some of its records")
	}
}

func TestConfigMetaApplied(t *testing.T) {
	s := openMem(t)
	if c, err := s.Config(2); c != nil || err != nil {
		t.Fatalf("absent config: %v %v", c, err)
	}
	if m, err := s.Meta("tso"); m != nil || err != nil {
		t.Fatalf("absent meta: %q %v", m, err)
	}
	want := &wire.Config{Shard: 2, Version: 7, Primary: "data1", Secondaries: []string{"data2", "data3"}, Learners: []string{"data4"}}
	b := s.NewBatch()
	b.PutConfig(want)
	b.PutConfig(&wire.Config{Shard: 3, Version: 1})
	b.SetApplied(2, 41)
	b.PutMeta("tso", []byte{1, 2, 3})
	b.PutMeta("", nil)
	b.PutMeta("tso2", []byte("neighbour"))
	if b.Empty() || b.Len() != 6 || b.Bytes() == 0 {
		t.Fatalf("batch: empty %t, len %d, bytes %d", b.Empty(), b.Len(), b.Bytes())
	}
	commit(t, b, true)

	if c, err := s.Config(2); err != nil || !proto.Equal(c, want) {
		t.Fatalf("config: %v %v, want %v", c, err, want)
	}
	if a, err := s.Applied(2); err != nil || a != 41 {
		t.Fatalf("applied: %d %v", a, err)
	}
	if a, err := s.Applied(3); err != nil || a != 0 {
		t.Fatalf("applied of shard 3: %d %v", a, err)
	}
	if m, _ := s.Meta("tso"); !bytes.Equal(m, []byte{1, 2, 3}) {
		t.Fatalf("meta tso: %q", m)
	}
	if m, _ := s.Meta(""); m == nil || len(m) != 0 {
		t.Fatalf("empty meta record: %q, want present and empty", m)
	}
	b = s.NewBatch()
	b.DeleteMeta("tso")
	commit(t, b, false)
	if m, _ := s.Meta("tso"); m != nil {
		t.Fatalf("deleted meta: %q", m)
	}
	if m, _ := s.Meta("tso2"); string(m) != "neighbour" {
		t.Fatalf("meta tso2: %q", m)
	}
}

func TestDeleteShard(t *testing.T) {
	s := openMem(t)
	fill := func(b *Batch, shard uint32) {
		b.PutConfig(&wire.Config{Shard: shard, Version: 1})
		b.AppendEntry(shard, &wire.Entry{Seq: 1})
		b.SetApplied(shard, 1)
		b.PutVersion(shard, []byte("k"), 1, []byte("v"), 0)
		b.PutLock(shard, []byte("k"), []byte("l"))
		b.SetFlush(shard, 0)
	}
	b := s.NewBatch()
	for _, shard := range []uint32{4, 5, 6, math.MaxUint32 - 1, math.MaxUint32} {
		fill(b, shard)
	}
	b.PutMeta("", []byte("meta"))
	commit(t, b, false)

	b = s.NewBatch()
	b.DeleteShard(5)
	b.DeleteShard(math.MaxUint32)
	commit(t, b, false)
	for _, shard := range []uint32{4, 5, 6, math.MaxUint32 - 1, math.MaxUint32} {
		gone := shard == 5 || shard == math.MaxUint32
		c, _ := s.Config(shard)
		e, _ := s.LastEntry(shard)
		_, ok, _ := s.Get(shard, []byte("k"), 1)
		l, _ := s.Lock(shard, []byte("k"))
		if (c == nil) != gone || (e == nil) != gone || ok == gone || (l == nil) != gone {
			t.Errorf("shard %d (deleted %t): config %v, last entry %v, key %t, lock %q", shard, gone, c, e, ok, l)
		}
	}
	if m, _ := s.Meta(""); string(m) != "meta" {
		t.Errorf("meta record after deleting shard MaxUint32: %q", m)
	}
}

func TestCorruptRecords(t *testing.T) {
	s := openMem(t)
	for _, kv := range [][2][]byte{
		{shardKey(tagConfig, 1), []byte{0xFF}},
		{logKey(1, 3), mustMarshal(t, &wire.Entry{Seq: 4})},
		{dataKey(1, []byte("k"), 5), []byte{0x07}},
		{shardKey(tagApplied, 1), []byte{1}},
	} {
		if err := s.DB().Set(kv[0], kv[1], pebble.NoSync); err != nil {
			t.Fatal(err)
		}
	}
	_, err1 := s.Config(1)
	_, err2 := s.Entry(1, 3)
	_, _, err3 := s.Get(1, []byte("k"), 5)
	_, err4 := s.Count(1, 5)
	_, err5 := s.Applied(1)
	for i, err := range []error{err1, err2, err3, err4, err5} {
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("read %d: %v, want ErrCorrupt", i+1, err)
		}
	}
	t.Logf("e.g. %v", err2)
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	v, err := marshal.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestFatalfPanics(t *testing.T) {
	defer func() {
		var fe *FatalError
		if err, _ := recover().(error); !errors.As(err, &fe) || fe.Msg != "disk on fire 3" {
			t.Fatalf("recovered %v, want *FatalError", err)
		}
	}()
	Options(vfs.NewMem(), SimMemTableBytes, discard{}).Logger.Fatalf("disk on fire %d", 3)
}

type discard struct{}

func (discard) Infof(string, ...any)  {}
func (discard) Errorf(string, ...any) {}
func (discard) Fatalf(string, ...any) {}
