package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// tagLiveKeys names the per-shard count of live keys in the applied state:
//
//	'n' shard -> live key count, u64
//
// Only ApplyBatch writes it; an absent record reads as 0.
const tagLiveKeys byte = 'n'

// ApplyBatch applies committed writes of one shard to its versioned data and
// collects garbage as it goes: until transactions need old versions (reads
// run synchronously at the newest state), the applied state keeps at most
// one version per key and no tombstones. It also keeps the shard's live key
// count, so DBSIZE needs no scan (LiveKeys).
//
// An ApplyBatch reads the data it replaces through an indexed pebble batch,
// so it sees its own earlier writes. It assumes nothing else writes the
// shard's data or live key count between NewApplyBatch and the commit of its
// Batch, and that timestamps only grow: a write below a version it finds is
// an error, as is ts 0 (see doc.go). Errors are recorded in the Batch, whose
// commit returns the first one.
//
// Data written before by PutVersion and PutTombstone reads as before; the
// first Put or Delete of such a key drops all its versions and tombstones.
// Their keys are not in the live key count unless the caller seeded it.
type ApplyBatch struct {
	b     *Batch
	shard uint32

	flushed      uint64 // the shard's flush marker, once flushedKnown
	flushedKnown bool
	reset        bool  // Flush set the live key count to 0
	delta        int64 // live keys added minus removed, after reset if any
	sealed       bool  // Batch was called: the count is written

	dropTS []uint64 // scratch: versions of the key being replaced

	// keepOldVersions is a canary for tests: Put leaves older versions in
	// place, so the one-version-per-key checks must fail.
	keepOldVersions bool
}

// NewApplyBatch starts a batch that applies committed writes to shard.
func (s *Store) NewApplyBatch(shard uint32) *ApplyBatch {
	return &ApplyBatch{b: s.newIndexedBatch(), shard: shard}
}

// newIndexedBatch is a Batch over an indexed pebble batch, which reads see.
func (s *Store) newIndexedBatch() *Batch {
	return &Batch{s: s, b: s.db.NewIndexedBatch()}
}

func (a *ApplyBatch) use() {
	if a.sealed {
		panic(fmt.Sprintf("store: shard %d: ApplyBatch written after Batch()", a.shard))
	}
}

// Put writes key's value at ts and deletes every older version of key.
func (a *ApplyBatch) Put(key []byte, ts uint64, value []byte) {
	a.use()
	if ts == 0 {
		a.b.fail(fmt.Errorf("store: shard %d: apply put %q at ts 0: ts 0 is reserved", a.shard, key))
		return
	}
	wasLive, ok := a.dropVersions(key, ts, !a.keepOldVersions)
	if !ok {
		return
	}
	v := make([]byte, 0, 1+len(value))
	a.b.set(dataKey(a.shard, key, ts), append(append(v, kindValue), value...))
	// A version at or below the flush marker reads as absent (doc.go).
	a.count(wasLive, ts > a.flushed)
}

// Delete deletes every version of key. It writes no tombstone: no read
// needs to know the key was there.
func (a *ApplyBatch) Delete(key []byte, ts uint64) {
	a.use()
	if ts == 0 {
		a.b.fail(fmt.Errorf("store: shard %d: apply delete %q at ts 0: ts 0 is reserved", a.shard, key))
		return
	}
	if wasLive, ok := a.dropVersions(key, ts, true); ok {
		a.count(wasLive, false)
	}
}

// Flush deletes all the shard's data (FLUSHALL/FLUSHDB at ts) with one range
// deletion and sets the flush marker to ts, as Batch.SetFlush does, so reads
// below ts keep seeing an empty shard.
func (a *ApplyBatch) Flush(ts uint64) {
	a.use()
	p := shardKey(tagData, a.shard)
	a.b.deleteRange(p, prefixEnd(p))
	a.b.SetFlush(a.shard, ts)
	a.flushed, a.flushedKnown = ts, true
	a.reset, a.delta = true, 0
}

// SetApplied records that the shard's log is applied through seq.
func (a *ApplyBatch) SetApplied(seq uint64) {
	a.use()
	a.b.SetApplied(a.shard, seq)
}

// Batch writes the shard's live key count and returns the batch for the
// caller to commit (or close). The ApplyBatch takes no writes after it; the
// Batch takes any other writes the caller has.
func (a *ApplyBatch) Batch() *Batch {
	if a.sealed {
		return a.b
	}
	a.sealed = true
	if !a.reset && a.delta == 0 {
		return a.b
	}
	k := shardKey(tagLiveKeys, a.shard)
	var base uint64
	if !a.reset {
		var err error
		if base, _, err = readUint64(a.b.batch(), k); err != nil {
			a.b.fail(fmt.Errorf("store: shard %d: live key count: %w", a.shard, err))
			return a.b
		}
	}
	n := int64(base) + a.delta
	if n < 0 {
		a.b.fail(fmt.Errorf("store: shard %d: live key count %d%+d: %w: the count does not match the data",
			a.shard, base, a.delta, ErrCorrupt))
		return a.b
	}
	a.b.setUint64(k, uint64(n))
	return a.b
}

// count adds the change of one key's liveness to the live key count.
func (a *ApplyBatch) count(wasLive, isLive bool) {
	switch {
	case isLive && !wasLive:
		a.delta++
	case wasLive && !isLive:
		a.delta--
	}
}

// dropVersions finds the versions of key (normally at most one), reports
// whether the newest of them was live and, with drop, point-deletes them all:
// one range tombstone per write would slow every later read. ok is false
// when an error was recorded.
func (a *ApplyBatch) dropVersions(key []byte, ts uint64, drop bool) (wasLive, ok bool) {
	if !a.loadFlushed() {
		return false, false
	}
	pb := a.b.batch()
	prefix := keyedPrefix(tagData, a.shard, key)
	it, err := pb.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		a.b.fail(fmt.Errorf("store: shard %d: apply %q at %d: %w", a.shard, key, ts, err))
		return false, false
	}
	a.dropTS = a.dropTS[:0]
	for valid := it.First(); valid; valid = it.Next() {
		k := it.Key()
		if len(k) != len(prefix)+tsLen {
			err = fmt.Errorf("%w: key %x", ErrCorrupt, k)
			break
		}
		vts := dataKeyTS(k)
		if vts > ts {
			err = fmt.Errorf("a version at ts %d is newer: writes applied out of timestamp order", vts)
			break
		}
		if len(a.dropTS) == 0 { // the newest version decides liveness
			_, tombstone, derr := decodeVersion(it.Value())
			if derr != nil {
				err = derr
				break
			}
			wasLive = !tombstone && vts > a.flushed
		}
		a.dropTS = append(a.dropTS, vts)
	}
	if err = closeIter(it, errOr(err, it.Error())); err != nil {
		a.b.fail(fmt.Errorf("store: shard %d: apply %q at %d: %w", a.shard, key, ts, err))
		return false, false
	}
	if drop {
		// Deleting after the iterator is closed, so it never sees the
		// batch change under it. A version at ts itself is deleted too:
		// Put's Set after it in the batch wins.
		for _, vts := range a.dropTS {
			a.b.delete(appendTS(bytes.Clone(prefix), vts))
		}
	}
	return wasLive, true
}

// loadFlushed reads the shard's flush marker once per batch; ok is false
// when an error was recorded.
func (a *ApplyBatch) loadFlushed() bool {
	if a.flushedKnown {
		return true
	}
	f, _, err := readUint64(a.b.batch(), shardKey(tagFlush, a.shard))
	if err != nil {
		a.b.fail(fmt.Errorf("store: shard %d: flush marker: %w", a.shard, err))
		return false
	}
	a.flushed, a.flushedKnown = f, true
	return true
}

// LiveKeys returns how many keys of the shard are live in the applied state,
// as kept by ApplyBatch: Count(shard, MaxUint64) without the scan.
func (s *Store) LiveKeys(shard uint32) (uint64, error) {
	n, _, err := s.getUint64(shardKey(tagLiveKeys, shard))
	return n, wrap(err, "store: shard %d: live key count", shard)
}

// readUint64 reads a u64 record through r (the DB or an indexed batch).
func readUint64(r pebble.Reader, key []byte) (uint64, bool, error) {
	v, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	if len(v) != 8 {
		return 0, false, errors.Join(fmt.Errorf("%w: %d bytes, want 8", ErrCorrupt, len(v)), closer.Close())
	}
	n := binary.BigEndian.Uint64(v)
	return n, true, closer.Close()
}

// errOr returns err, or else alt.
func errOr(err, alt error) error {
	if err != nil {
		return err
	}
	return alt
}
