package store

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"castkv/actors/wire"
	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"pgregory.net/rapid"
)

// record is one pebble record of a shard, its key relative to the shard:
// the tag, then the key's bytes after the shard id.
type record struct{ key, value string }

// appliedRecords lists every record of the shard but its config and log
// entries, in key order, the install marker only with marker. It scans the
// whole DB rather than trusting the store's list of applied state types, so
// a type the snapshot forgets shows up.
func appliedRecords(t testingT, s *Store, shard uint32, marker bool) []record {
	t.Helper()
	var out []record
	for _, r := range allRecords(t, s) {
		k := r.key
		if len(k) < shardPrefixLen || k[0] == tagMeta || k[0] == tagConfig || k[0] == tagLog ||
			(k[0] == tagInstalling && !marker) || string(k[1:shardPrefixLen]) != string(shardKey(0, shard)[1:]) {
			continue
		}
		out = append(out, record{k[:1] + k[shardPrefixLen:], r.value})
	}
	slices.SortFunc(out, func(a, b record) int { return strings.Compare(a.key, b.key) })
	return out
}

// allRecords lists every record in the DB, keys whole, in key order.
func allRecords(t testingT, s *Store) []record {
	t.Helper()
	it, err := s.iter(nil, nil)
	if err != nil {
		t.Fatalf("iterate: %v", err)
	}
	var out []record
	for ok := it.First(); ok; ok = it.Next() {
		out = append(out, record{string(it.Key()), string(it.Value())})
	}
	if err := closeIter(it, it.Error()); err != nil {
		t.Fatalf("iterate: %v", err)
	}
	return out
}

// otherShards lists every record of the DB that is not shard's.
func otherShards(t testingT, s *Store, shard uint32) []record {
	t.Helper()
	var out []record
	for _, r := range allRecords(t, s) {
		if r.key[0] == tagMeta || len(r.key) < shardPrefixLen || r.key[1:shardPrefixLen] != string(shardKey(0, shard)[1:]) {
			out = append(out, r)
		}
	}
	return out
}

// shardLog lists the shard's config and log records.
func shardLog(t testingT, s *Store, shard uint32) []record {
	t.Helper()
	var out []record
	for _, r := range allRecords(t, s) {
		if (r.key[0] == tagConfig || r.key[0] == tagLog) && r.key[1:shardPrefixLen] == string(shardKey(0, shard)[1:]) {
			out = append(out, r)
		}
	}
	return out
}

func diffRecords(t testingT, what string, got, want []record) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	var b strings.Builder
	for i := range max(len(got), len(want)) {
		var g, w record
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			fmt.Fprintf(&b, "\n  #%d got %x=%.40x, want %x=%.40x", i, g.key, g.value, w.key, w.value)
		}
	}
	t.Fatalf("%s: %d records, want %d:%s", what, len(got), len(want), b.String())
}

// chunkRecords decodes a chunk of the shard's snapshot.
func chunkRecords(t testingT, shard uint32, chunk []byte) []record {
	t.Helper()
	var out []record
	if err := walkChunk(shard, chunk, func(k, v []byte) { out = append(out, record{string(k), string(v)}) }); err != nil {
		t.Fatalf("chunk: %v", err)
	}
	return out
}

// shardHistory writes a random applied state of shard through ApplyBatch:
// data, flushes, locks, exactly-once tables, log entries applied and not,
// log truncations. It returns the config version of each entry by seq.
func shardHistory(t *rapid.T, s *Store, shard uint32, ts *uint64) map[uint64]uint64 {
	versions := map[uint64]uint64{}
	keyGen := rapid.IntRange(0, len(trickyKeys)-1)
	// Mostly tiny values, some past a one-byte uvarint length.
	valueGen := rapid.OneOf(rapid.SliceOfN(rapid.Byte(), 0, 4), rapid.SliceOfN(rapid.Byte(), 120, 300))
	b := s.NewBatch()
	b.PutConfig(&wire.Config{Shard: shard, Version: 1})
	commit(t, b, false)
	var seq, version uint64 = 0, 1
	for range rapid.IntRange(0, 6).Draw(t, "entries") {
		seq++
		version += rapid.Uint64Range(0, 1).Draw(t, "version step")
		versions[seq] = version
		*ts++
		ap := newApplier(t, s, shard)
		for range rapid.IntRange(0, 5).Draw(t, "writes") {
			key := trickyKeys[keyGen.Draw(t, "key")]
			switch rapid.IntRange(0, 7).Draw(t, "kind") {
			case 0:
				ap.del(key)
			case 1:
				ap.flush(*ts)
				*ts++
			default:
				ap.put(key, *ts, valueGen.Draw(t, "value"))
			}
		}
		ap.a.SetApplied(seq)
		b := ap.a.Batch()
		b.AppendEntry(shard, &wire.Entry{Seq: seq, Version: version, CommitTs: *ts})
		if rapid.Bool().Draw(t, "dedup") {
			b.PutDedup(shard, valueGen.Draw(t, "dedup blob"))
		}
		switch key := trickyKeys[keyGen.Draw(t, "lock key")]; rapid.IntRange(0, 2).Draw(t, "lock") {
		case 0:
			b.PutLock(shard, key, valueGen.Draw(t, "lock"))
		case 1:
			b.DeleteLock(shard, key)
		}
		commit(t, b, false)
		if rapid.IntRange(0, 3).Draw(t, "truncate") == 0 {
			start, _, err := s.LogStart(shard)
			if err != nil {
				t.Fatal(err)
			}
			b := s.NewBatch()
			b.TruncateLogPrefix(shard, rapid.Uint64Range(start, seq).Draw(t, "truncate through"))
			commit(t, b, false)
		}
	}
	// Entries not yet applied.
	b = s.NewBatch()
	for range rapid.IntRange(0, 2).Draw(t, "unapplied") {
		seq++
		versions[seq] = version
		b.AppendEntry(shard, &wire.Entry{Seq: seq, Version: version})
	}
	commit(t, b, false)
	return versions
}

// readState is what a role reads of the shard's applied state.
type readState struct {
	applied, flushed, liveKeys uint64
	count                      int
	values                     []string // each of trickyKeys, "absent" when absent
	dedup, locks               []string
}

func readShard(t testingT, s *Store, shard uint32) readState {
	t.Helper()
	var st readState
	var err error
	fail := func(err error) {
		if err != nil {
			t.Fatalf("shard %d: %v", shard, err)
		}
	}
	st.applied, err = s.Applied(shard)
	fail(err)
	st.flushed, err = s.Flushed(shard)
	fail(err)
	st.liveKeys, err = s.LiveKeys(shard)
	fail(err)
	st.count, err = s.Count(shard, math.MaxUint64)
	fail(err)
	d, err := s.Dedup(shard)
	fail(err)
	st.dedup = []string{fmt.Sprintf("%t %x", d != nil, d)}
	for _, k := range trickyKeys {
		v, ok, err := s.Get(shard, k, math.MaxUint64)
		fail(err)
		l, err := s.Lock(shard, k)
		fail(err)
		st.values = append(st.values, fmt.Sprintf("%t %x", ok, v))
		st.locks = append(st.locks, fmt.Sprintf("%t %x", l != nil, l))
	}
	return st
}

// TestSnapshotRoundTrip writes random applied states on shards 0, 1 and 2,
// snapshots shard 1, writes more, streams the snapshot in chunks of random
// sizes (down to 1 byte) with lost chunks sent again, and installs it in
// random batches on a store with states of its own: the installed shard
// holds exactly the records of the snapshot, and nothing else changes.
func TestSnapshotRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		const shard = 1
		src, dst := openMem(t), openMem(t)
		var ts uint64
		var versions map[uint64]uint64
		for _, s := range []uint32{0, 1, 2} {
			if v := shardHistory(t, src, s, &ts); s == shard {
				versions = v
			}
		}
		for _, s := range []uint32{0, 1, 2} {
			shardHistory(t, dst, s, &ts)
		}

		// The snapshot's log start is its position, not the sender's.
		want := slices.DeleteFunc(appliedRecords(t, src, shard, true), func(r record) bool { return r.key[0] == tagLogStart })
		wantRead := readShard(t, src, shard)
		if a := wantRead.applied; a > 0 {
			want = append(want, record{string(tagLogStart), string(encodeLogStart(a, versions[a]))})
		}
		r := src.NewSnapshotReader(shard)
		defer func() { _ = r.Close() }()

		// Writes after the snapshot was taken are not in it.
		ts++
		ap := newApplier(t, src, shard)
		ap.put([]byte("after"), ts, []byte("after"))
		ap.del(trickyKeys[rapid.IntRange(0, len(trickyKeys)-1).Draw(t, "deleted after")])
		ap.a.SetApplied(wantRead.applied + 1)
		b := ap.a.Batch()
		b.AppendEntry(shard, &wire.Entry{Seq: wantRead.applied + 1, Version: 9})
		b.PutDedup(shard, []byte("after"))
		b.PutLock(shard, []byte("after"), []byte("after"))
		commit(t, b, false)
		b = src.NewBatch()
		b.TruncateLogPrefix(shard, wantRead.applied+1)
		commit(t, b, false)

		others, dstLog := otherShards(t, dst, shard), shardLog(t, dst, shard)
		b = dst.NewBatch()
		dst.BeginSnapshot(b, shard)
		committed := false // a batch of the install
		sizeGen := rapid.OneOf(rapid.Just(1), rapid.IntRange(1, 64), rapid.IntRange(1, 2048))
		for done := false; !done; {
			maxBytes := sizeGen.Draw(t, "max bytes")
			cursor := r.Cursor()
			var chunk []byte
			var err error
			if chunk, done, err = r.Next(maxBytes); err != nil {
				t.Fatal(err)
			}
			if n := len(chunkRecords(t, shard, chunk)); len(chunk) > maxBytes && n > 1 {
				t.Fatalf("chunk of %d bytes and %d records, max %d bytes", len(chunk), n, maxBytes)
			}
			if !done && rapid.IntRange(0, 9).Draw(t, "lost") == 0 {
				r.Seek(cursor) // the receiver never got it: send it again
				continue
			}
			if err := b.ApplySnapshotChunk(shard, chunk); err != nil {
				t.Fatal(err)
			}
			if rapid.IntRange(0, 3).Draw(t, "commit") == 0 {
				if installing, err := dst.SnapshotInstalling(shard); err != nil || installing != committed {
					t.Fatalf("installing %t %v before a batch; a batch of the install committed: %t", installing, err, committed)
				}
				commit(t, b, false)
				committed = true
				b = dst.NewBatch()
			}
		}
		if chunk, done, err := r.Next(1 << 20); err != nil || !done || len(chunkRecords(t, shard, chunk)) != 0 {
			t.Fatalf("Next after done: %d bytes, done %t, %v", len(chunk), done, err)
		}
		if installing, err := dst.SnapshotInstalling(shard); err != nil || installing != committed {
			t.Fatalf("installing %t %v before FinishSnapshot; a batch of the install committed: %t", installing, err, committed)
		}
		b.FinishSnapshot(shard)
		commit(t, b, false)

		diffRecords(t, "installed shard", appliedRecords(t, dst, shard, true), want)
		diffRecords(t, "other shards", otherShards(t, dst, shard), others)
		diffRecords(t, "config and log", shardLog(t, dst, shard), dstLog)
		if got := readShard(t, dst, shard); !equalReads(got, wantRead) {
			t.Fatalf("reads after install:\n got %+v\nwant %+v", got, wantRead)
		}
		if seq, v, err := dst.LogStart(shard); err != nil || seq != wantRead.applied || v != versions[seq] {
			t.Fatalf("log start after install: (%d, %d) %v, want (%d, %d)", seq, v, err, wantRead.applied, versions[seq])
		}
		if n, err := dst.Count(shard, math.MaxUint64); err != nil || uint64(n) != wantRead.liveKeys {
			t.Fatalf("count %d %v, live keys %d", n, err, wantRead.liveKeys)
		}
	})
}

func equalReads(a, b readState) bool {
	return a.applied == b.applied && a.flushed == b.flushed && a.liveKeys == b.liveKeys && a.count == b.count &&
		slices.Equal(a.values, b.values) && slices.Equal(a.dedup, b.dedup) && slices.Equal(a.locks, b.locks)
}

// stream reads every chunk of a snapshot of shard, at most maxBytes each.
func stream(t testingT, s *Store, shard uint32, maxBytes int) [][]byte {
	t.Helper()
	r := s.NewSnapshotReader(shard)
	defer func() { _ = r.Close() }()
	var chunks [][]byte
	for done := false; !done; {
		chunk, d, err := r.Next(maxBytes)
		if err != nil {
			t.Fatalf("snapshot of shard %d: %v", shard, err)
		}
		chunks, done = append(chunks, chunk), d
	}
	return chunks
}

// install installs chunks in one batch.
func install(t testingT, s *Store, shard uint32, chunks [][]byte, sync bool) {
	t.Helper()
	b := s.NewBatch()
	s.BeginSnapshot(b, shard)
	for i, c := range chunks {
		if err := b.ApplySnapshotChunk(shard, c); err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
	}
	b.FinishSnapshot(shard)
	commit(t, b, sync)
}

// applyState writes one entry's worth of state to shard: puts of key=value
// pairs, the applied seq and its log entry at version 1.
func applyState(t testingT, s *Store, shard uint32, seq, ts uint64, kv ...string) {
	t.Helper()
	ap := newApplier(t, s, shard)
	for i := 0; i < len(kv); i += 2 {
		ap.put([]byte(kv[i]), ts, []byte(kv[i+1]))
	}
	ap.a.SetApplied(seq)
	b := ap.a.Batch()
	b.AppendEntry(shard, &wire.Entry{Seq: seq, Version: 1})
	commit(t, b, false)
}

func TestSnapshotSeesTheStateWhenTaken(t *testing.T) {
	src := openMem(t)
	applyState(t, src, 1, 1, 1, "a", "1", "b", "2")
	r := src.NewSnapshotReader(1)
	defer func() { _ = r.Close() }()
	applyState(t, src, 1, 2, 2, "a", "changed", "c", "3")

	var chunks [][]byte
	for done := false; !done; {
		chunk, d, err := r.Next(1)
		if err != nil {
			t.Fatal(err)
		}
		chunks, done = append(chunks, chunk), d
	}
	dst := openMem(t)
	install(t, dst, 1, chunks, false)
	got := readShard(t, dst, 1)
	if got.applied != 1 || got.liveKeys != 2 {
		t.Fatalf("applied %d, live keys %d; want 1, 2", got.applied, got.liveKeys)
	}
	for k, want := range map[string]string{"a": "1", "b": "2", "c": ""} {
		if v, ok, err := dst.Get(1, []byte(k), math.MaxUint64); err != nil || string(v) != want || ok != (want != "") {
			t.Errorf("get %q: %q %t %v, want %q", k, v, ok, err, want)
		}
	}
}

// TestSnapshotSeek: a sender that lost chunks seeks back to a cursor and
// gets the same chunks again; Seek(nil) starts over.
func TestSnapshotSeek(t *testing.T) {
	s := openMem(t)
	applyState(t, s, 1, 1, 1, "a", "1", "b", "2", "c", "3")
	r := s.NewSnapshotReader(1)
	defer func() { _ = r.Close() }()
	var chunks [][]byte
	var cursors [][]byte
	for done := false; !done; {
		cursors = append(cursors, r.Cursor())
		chunk, d, err := r.Next(1)
		if err != nil {
			t.Fatal(err)
		}
		chunks, done = append(chunks, chunk), d
	}
	// 3 scan index entries, applied, live bytes, 3 data records, live
	// key count, log start
	if len(chunks) != 10 {
		t.Fatalf("%d chunks of one record, want 10", len(chunks))
	}
	for _, i := range []int{3, 0, 6, 1} {
		r.Seek(cursors[i])
		chunk, done, err := r.Next(1)
		if err != nil || !bytes.Equal(chunk, chunks[i]) || done != (i == len(chunks)-1) {
			t.Errorf("after Seek(%x): chunk %x done %t %v, want chunk %d %x", cursors[i], chunk, done, err, i, chunks[i])
		}
	}
	r.Seek(nil)
	if chunk, _, _ := r.Next(1 << 20); len(chunkRecords(t, 1, chunk)) != len(chunks) {
		t.Errorf("after Seek(nil): %d records, want all %d", len(chunkRecords(t, 1, chunk)), len(chunks))
	}
}

func TestSnapshotOfEmptyShard(t *testing.T) {
	src, dst := openMem(t), openMem(t)
	applyState(t, src, 2, 1, 1, "other", "shard")
	chunks := stream(t, src, 1, 1<<20)
	if len(chunks) != 1 || len(chunkRecords(t, 1, chunks[0])) != 0 {
		t.Fatalf("snapshot of an empty shard: %d chunks", len(chunks))
	}
	applyState(t, dst, 1, 1, 1, "k", "v")
	install(t, dst, 1, chunks, false)
	if recs := appliedRecords(t, dst, 1, true); len(recs) != 0 {
		t.Fatalf("installing an empty snapshot left %d records: %q", len(recs), recs)
	}
}

// TestSnapshotBigValue: a 10 MiB value crosses in a chunk of its own, the
// others staying within the limit.
func TestSnapshotBigValue(t *testing.T) {
	src, dst := openMem(t), openMem(t)
	big := bytes.Repeat([]byte("0123456789abcdef"), 10<<20/16)
	big[12345] = 'X'
	a := src.NewApplyBatch(1)
	a.Put([]byte("a"), 1, []byte("small"), 0, Prev{})
	a.Put([]byte("big"), 1, big, 0, Prev{})
	a.Put([]byte("c"), 1, []byte("small"), 0, Prev{})
	a.SetApplied(1)
	b := a.Batch()
	b.AppendEntry(1, &wire.Entry{Seq: 1, Version: 1})
	commit(t, b, false)

	const maxBytes = 1 << 20
	chunks := stream(t, src, 1, maxBytes)
	alone := 0
	for i, c := range chunks {
		recs := chunkRecords(t, 1, c)
		if len(c) > maxBytes {
			if len(recs) != 1 || !strings.Contains(recs[0].key, "big") {
				t.Fatalf("chunk %d: %d bytes and %d records", i, len(c), len(recs))
			}
			alone++
		}
	}
	if alone != 1 || len(chunks) < 3 {
		t.Fatalf("%d chunks, %d over the limit; want the big value alone between the others", len(chunks), alone)
	}
	install(t, dst, 1, chunks, false)
	if v, ok, err := dst.Get(1, []byte("big"), 1); err != nil || !ok || !bytes.Equal(v, big) {
		t.Fatalf("big value after install: %d bytes, %t %v", len(v), ok, err)
	}
	if n, err := dst.LiveKeys(1); err != nil || n != 3 {
		t.Fatalf("live keys %d %v, want 3", n, err)
	}
}

// TestSnapshotInstallCrash: a crash mid-install leaves the marker, the old
// state gone; the install starts over and finishes; an install not yet
// durable leaves the old state whole.
func TestSnapshotInstallCrash(t *testing.T) {
	src := openMem(t)
	applyState(t, src, 1, 5, 5, "new1", "v", "new2", "v")
	chunks := stream(t, src, 1, 1)

	fs := vfs.NewCrashableMem()
	dst := New(openDB(t, fs), nil)
	applyState(t, dst, 1, 3, 3, "old", "v")
	applyState(t, dst, 2, 3, 3, "other", "v")
	commit(t, dst.NewBatch(), true)
	crash := func() *Store {
		t.Helper()
		return New(openDB(t, fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0})), nil)
	}
	check := func(s *Store, when string, installing bool, applied uint64, keys ...string) {
		t.Helper()
		if got, err := s.SnapshotInstalling(1); err != nil || got != installing {
			t.Errorf("%s: installing %t %v, want %t", when, got, err, installing)
		}
		if a, _ := s.Applied(1); a != applied {
			t.Errorf("%s: applied %d, want %d", when, a, applied)
		}
		for _, k := range []string{"old", "new1", "new2"} {
			if _, ok, _ := s.Get(1, []byte(k), math.MaxUint64); ok != slices.Contains(keys, k) {
				t.Errorf("%s: key %q present %t", when, k, ok)
			}
		}
		if _, ok, _ := s.Get(2, []byte("other"), math.MaxUint64); !ok {
			t.Errorf("%s: shard 2 lost its key", when)
		}
	}

	b := dst.NewBatch()
	dst.BeginSnapshot(b, 1)
	if err := b.ApplySnapshotChunk(1, chunks[0]); err != nil {
		t.Fatal(err)
	}
	commit(t, b, false)
	check(crash(), "crash before the first batch is durable", false, 3, "old")

	commit(t, dst.NewBatch(), true)
	b = dst.NewBatch()
	for _, c := range chunks[1:5] {
		if err := b.ApplySnapshotChunk(1, c); err != nil {
			t.Fatal(err)
		}
	}
	commit(t, b, true)
	restarted := crash()
	check(restarted, "crash mid-install", true, 5, "new1") // the second scan entry, applied seq and live bytes, then the first key

	install(t, restarted, 1, chunks, true)
	check(restarted, "install again", false, 5, "new1", "new2")
	want := append(appliedRecords(t, src, 1, true), record{string(tagLogStart), string(encodeLogStart(5, 1))})
	diffRecords(t, "installed again", appliedRecords(t, restarted, 1, true), want)
}

func TestSnapshotShardMismatch(t *testing.T) {
	src, dst := openMem(t), openMem(t)
	applyState(t, src, 1, 1, 1, "k", "v")
	chunk := stream(t, src, 1, 1<<20)[0]
	b := dst.NewBatch()
	err := b.ApplySnapshotChunk(2, chunk)
	if err == nil || errors.Is(err, ErrCorrupt) || !b.Empty() {
		t.Fatalf("chunk of shard 1 on shard 2: %v, batch empty %t; want a shard error and no write", err, b.Empty())
	}
	t.Logf("e.g. %v", err)
	b.Close()
}

// corruptChunks are chunks of shard 1 that must be rejected: every byte of
// good flipped, every truncation, and well-checksummed chunks whose records
// the store never writes.
func corruptChunks(good []byte) map[string][]byte {
	out := map[string][]byte{"extra byte": append(bytes.Clone(good), 0)}
	for i := range good {
		for _, mask := range []byte{0x01, 0x80, 0xFF} {
			c := bytes.Clone(good)
			c[i] ^= mask
			out[fmt.Sprintf("byte %d ^ %02x", i, mask)] = c
		}
	}
	for n := range len(good) {
		out[fmt.Sprintf("first %d bytes", n)] = good[:n:n]
	}
	data := func(key string, ts uint64) string { return string(dataKey(1, []byte(key), ts)[shardPrefixLen:]) }
	u64 := "\x00\x00\x00\x00\x00\x00\x00\x07"
	for name, recs := range map[string][]string{
		"config":              {"c", "x"},
		"log entry":           {"l\x00\x00\x00\x00\x00\x00\x00\x01", "x"},
		"install marker":      {"i", ""},
		"empty key":           {"", "x"},
		"out of order":        {"f", u64, "a", u64},
		"twice":               {"a", u64, "a", u64},
		"short u64":           {"a", u64[1:]},
		"long key of a u64":   {"a\x00", u64},
		"short log start":     {"p", u64},
		"unescaped data key":  {"d" + "k\x00x\x00\x01" + u64, "\x01v"},
		"unterminated data":   {"d" + "k" + u64, "\x01v"},
		"data at ts 0":        {"d" + data("k", 0), "\x01v"},
		"data of no kind":     {"d" + data("k", 1), ""},
		"data of a bad kind":  {"d" + data("k", 1), "\x03v"},
		"tombstone and value": {"d" + data("k", 1), "\x02v"},
		"unescaped lock key":  {"k" + "k\x00", "l"},
		"two terminators":     {"d" + "a\x00\x01" + data("b", 1), "\x01v"},
	} {
		chunk := []byte{chunkFormat, 0, 0, 0, 1}
		for i := 0; i < len(recs); i += 2 {
			chunk = appendRecord(chunk, []byte(recs[i]), []byte(recs[i+1]))
		}
		out[name] = sealChunk(chunk)
	}
	out["format 2"] = sealChunk([]byte{2, 0, 0, 0, 1})
	out["key overruns"] = sealChunk([]byte{chunkFormat, 0, 0, 0, 1, 5, 'a'})
	out["value overruns"] = sealChunk(appendRecord([]byte{chunkFormat, 0, 0, 0, 1}, []byte("a"), nil)[:7:7])
	out["length overflows"] = sealChunk(append([]byte{chunkFormat, 0, 0, 0, 1}, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01))
	return out
}

func TestSnapshotCorruptChunk(t *testing.T) {
	src := openMem(t)
	applyState(t, src, 1, 1, 1, "k\x00", "v", "l", "w")
	b := src.NewBatch()
	b.PutLock(1, []byte("k"), []byte("lock"))
	b.PutDedup(1, []byte("dedup"))
	commit(t, b, false)
	good := stream(t, src, 1, 1<<20)[0]

	dst := openMem(t)
	applyState(t, dst, 1, 1, 1, "old", "v")
	before := allRecords(t, dst)
	for name, chunk := range corruptChunks(good) {
		b := dst.NewBatch()
		b.PutMeta("before", []byte("x"))
		err := b.ApplySnapshotChunk(1, chunk)
		if !errors.Is(err, ErrCorrupt) || b.Len() != 1 {
			t.Errorf("%s: %v, %d writes in the batch; want ErrCorrupt and none written", name, err, b.Len()-1)
		}
		b.Close()
	}
	diffRecords(t, "after corrupt chunks", allRecords(t, dst), before)

	// The chunks that corruptChunks builds by hand are checked for their
	// records, not their framing: the same framing of good records passes.
	b = dst.NewBatch()
	ok := appendRecord([]byte{chunkFormat, 0, 0, 0, 1}, []byte("d"+string(dataKey(1, []byte("k\x00"), 1)[shardPrefixLen:])), []byte("\x01v"))
	ok = appendRecord(appendRecord(ok, []byte("k"+"k\x00\x01"), nil), []byte("p"), encodeLogStart(1, 1))
	if err := b.ApplySnapshotChunk(1, sealChunk(ok)); err != nil {
		t.Fatalf("hand-built good chunk: %v", err)
	}
	b.Close()
	b = dst.NewBatch()
	if err := b.ApplySnapshotChunk(1, good); err != nil || b.Len() != len(chunkRecords(t, 1, good)) {
		t.Fatalf("good chunk: %v, %d writes", err, b.Len())
	}
	b.Close()
}

// FuzzApplySnapshotChunk: any input is applied whole or rejected, without
// a panic and without a write.
func FuzzApplySnapshotChunk(f *testing.F) {
	src := New(openDB(f, vfs.NewMem()), nil)
	applyState(f, src, 1, 1, 1, "k\x00", "v", "l", "w")
	good := stream(f, src, 1, 1<<20)[0]
	f.Add(good)
	for _, c := range corruptChunks(good) {
		f.Add(c)
	}
	dst := New(openDB(f, vfs.NewMem()), nil)
	f.Fuzz(func(t *testing.T, chunk []byte) {
		b := dst.NewBatch()
		defer b.Close()
		err := b.ApplySnapshotChunk(1, chunk)
		if err != nil && !b.Empty() {
			t.Fatalf("%v, yet %d writes", err, b.Len())
		}
		if err == nil && b.Len() != len(chunkRecords(t, 1, chunk)) {
			t.Fatalf("%d writes of %d records", b.Len(), len(chunkRecords(t, 1, chunk)))
		}
	})
}

func TestSnapshotTagsAscending(t *testing.T) {
	if !slices.IsSorted(snapshotTags[:]) {
		t.Fatalf("snapshotTags %q are not in key order", snapshotTags[:])
	}
}

// A role that stops while it streams a snapshot leaves its reader open;
// pebble refuses to close with it (castbench scale: castd data exited 1 on
// SIGTERM, "leaked snapshots"). CloseReaders releases what is left, and a
// reader its role closed is not closed twice.
func TestCloseReadersReleasesWhatARoleLeftOpen(t *testing.T) {
	db, err := pebble.Open("db", Options(vfs.NewMem(), SimMemTableBytes, nil))
	if err != nil {
		t.Fatal(err)
	}
	s := New(db, nil)
	closed := s.NewSnapshotReader(0)
	if err := closed.Close(); err != nil {
		t.Fatal(err)
	}
	s.NewSnapshotReader(0)
	s.NewSnapshotReader(1)
	if n, err := s.CloseReaders(); n != 2 || err != nil {
		t.Fatalf("CloseReaders = %d, %v; want the 2 readers left open", n, err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("pebble Close after CloseReaders: %v", err)
	}

	// Without it, pebble's Close fails: the check above can fail.
	db2, err := pebble.Open("db", Options(vfs.NewMem(), SimMemTableBytes, nil))
	if err != nil {
		t.Fatal(err)
	}
	New(db2, nil).NewSnapshotReader(0)
	if err := db2.Close(); err == nil || !strings.Contains(err.Error(), "leaked snapshots") {
		t.Fatalf("pebble Close with a reader open = %v; want a leaked-snapshots error", err)
	}
}
