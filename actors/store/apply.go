package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cespare/xxhash/v2"
	"github.com/cockroachdb/pebble/v2"
)

// tagLiveKeys and tagLiveBytes name the per-shard counts of live keys,
// and of their keys' and values' bytes, in the applied state:
//
//	'n' shard -> live key count, u64
//	'b' shard -> live bytes, u64
//
// Only ApplyBatch writes them; an absent record reads as 0.
const (
	tagLiveKeys  byte = 'n'
	tagLiveBytes byte = 'b'
)

// Prev is what a write replaces in the applied state, as the primary found
// it when it ordered the write: the key's version (TS 0: none), whether the
// key was live, and the length of its live value. Live counts a key that
// has a version, expired or not: a write deleting an expired key (the
// primary's reclaiming) counts it out. ExpireMs is the version's expiry,
// for the primary's own use (ApplyBatch ignores it).
type Prev struct {
	TS       uint64
	Live     bool
	Bytes    uint64
	ExpireMs int64
}

// ApplyBatch applies committed writes of one shard to its versioned data and
// collects garbage as it goes: until transactions need old versions (reads
// run synchronously at the newest state), the applied state keeps at most
// one version per key and no tombstones. It also keeps the shard's live key
// count, so DBSIZE needs no scan (LiveKeys), and its live bytes (LiveBytes),
// the size meta's placement and castd admin status see.
//
// It reads nothing: each write names the version it replaces, whether the
// key was live and its value's length, as the primary found them when it ordered the write
// (the sequenced state before the entry, which is every replica's applied
// state before it). Every replica applying the same log therefore makes the
// same deletions and counts the same keys, without a seek per write.
type ApplyBatch struct {
	b     *Batch
	shard uint32

	reset      bool  // Flush set the live counts to 0
	delta      int64 // live keys added minus removed, after reset if any
	deltaBytes int64 // live bytes added minus removed, after reset if any
	sealed     bool  // Batch was called: the counts are written
	// known: the counts before this batch, given by a caller that keeps
	// them (Known), so Batch reads nothing; live: the counts after it.
	known, live *LiveCounts

	// keepOldVersions is a canary for tests: Put leaves the version it
	// replaces in place, so the one-version-per-key checks must fail.
	keepOldVersions bool
}

// NewApplyBatch starts a batch that applies committed writes to shard.
func (s *Store) NewApplyBatch(shard uint32) *ApplyBatch {
	return &ApplyBatch{b: s.NewBatch(), shard: shard}
}

// LiveCounts are a shard's live keys and their keys' and values' bytes in
// the applied state.
type LiveCounts struct{ Keys, Bytes uint64 }

// Known gives the shard's live counts before this batch, as the caller
// keeps them, so Batch adds to them without reading the stored ones. A
// point read is cheap, but not beside a huge record: pebble reads and
// checksums the whole block that holds it.
func (a *ApplyBatch) Known(c LiveCounts) { a.known = &c }

// Live returns the shard's live counts once this batch is committed; only
// after Batch, and only when the counts before it were read or Known.
func (a *ApplyBatch) Live() (LiveCounts, bool) {
	if a.live == nil {
		return LiveCounts{}, false
	}
	return *a.live, true
}

func (a *ApplyBatch) use() {
	if a.sealed {
		panic(fmt.Sprintf("store: shard %d: ApplyBatch written after Batch()", a.shard))
	}
}

// Put writes key's value at ts, expiring at expireMs (0: never), and
// deletes the version it replaces, prev.
func (a *ApplyBatch) Put(key []byte, ts uint64, value []byte, expireMs int64, prev Prev) {
	a.use()
	if ts == 0 {
		a.b.fail(fmt.Errorf("store: shard %d: apply put %q at ts 0: ts 0 is reserved", a.shard, key))
		return
	}
	if prev.TS != 0 && prev.TS != ts && !a.keepOldVersions {
		a.b.delete(dataKey(a.shard, key, prev.TS))
	}
	a.b.PutVersion(a.shard, key, ts, value, expireMs)
	if !prev.Live {
		a.delta++
		a.b.set(scanKey(a.shard, key), nil)
	}
	a.deltaBytes += int64(len(key)+len(value)) - liveBytes(key, prev)
}

// Delete deletes key's version prev. It writes no tombstone: no read needs
// to know the key was there.
func (a *ApplyBatch) Delete(key []byte, prev Prev) {
	a.use()
	if prev.TS != 0 {
		a.b.delete(dataKey(a.shard, key, prev.TS))
	}
	if prev.Live {
		a.delta--
		a.b.delete(scanKey(a.shard, key))
	}
	a.deltaBytes -= liveBytes(key, prev)
}

// liveBytes is what key's replaced version counted in the live bytes.
func liveBytes(key []byte, prev Prev) int64 {
	if !prev.Live {
		return 0
	}
	return int64(len(key)) + int64(prev.Bytes)
}

// Flush deletes all the shard's data (FLUSHALL/FLUSHDB at ts) with one range
// deletion and sets the flush marker to ts, as Batch.SetFlush does, so reads
// below ts keep seeing an empty shard.
func (a *ApplyBatch) Flush(ts uint64) {
	a.use()
	p := shardKey(tagData, a.shard)
	a.b.deleteRange(p, prefixEnd(p))
	p = shardKey(tagScan, a.shard)
	a.b.deleteRange(p, prefixEnd(p))
	a.b.SetFlush(a.shard, ts)
	a.reset, a.delta, a.deltaBytes = true, 0, 0
}

// PutLock, DeleteLock, PutTxn and DeleteTxn write transaction records
// with the applied state (Batch's methods of the same names).
func (a *ApplyBatch) PutLock(shard uint32, key, lock []byte) { a.use(); a.b.PutLock(shard, key, lock) }
func (a *ApplyBatch) DeleteLock(shard uint32, key []byte)    { a.use(); a.b.DeleteLock(shard, key) }
func (a *ApplyBatch) PutTxn(shard uint32, primary []byte, startTS uint64, rec []byte) {
	a.use()
	a.b.PutTxn(shard, primary, startTS, rec)
}
func (a *ApplyBatch) DeleteTxn(shard uint32, primary []byte, startTS uint64) {
	a.use()
	a.b.DeleteTxn(shard, primary, startTS)
}

// SetGC records the shard's garbage-collection points with the applied
// state.
func (a *ApplyBatch) SetGC(shard uint32, p GCPoints) { a.use(); a.b.SetGC(shard, p) }

// SetApplied records that the shard's log is applied through seq.
func (a *ApplyBatch) SetApplied(seq uint64) {
	a.use()
	a.b.SetApplied(a.shard, seq)
}

// Batch writes the shard's live counts and returns the batch for the
// caller to commit (or close). The ApplyBatch takes no writes after it; the
// Batch takes any other writes the caller has.
func (a *ApplyBatch) Batch() *Batch {
	if a.sealed {
		return a.b
	}
	a.sealed = true
	var known *uint64
	if a.known != nil {
		known = &a.known.Keys
	}
	keys, okKeys := a.addCount(tagLiveKeys, "live key count", a.delta, known)
	if a.known != nil {
		known = &a.known.Bytes
	}
	bytes, okBytes := a.addCount(tagLiveBytes, "live bytes", a.deltaBytes, known)
	if okKeys && okBytes {
		a.live = &LiveCounts{keys, bytes}
	}
	return a.b
}

// addCount adds delta to the shard's count under tag (sets it, after a
// Flush) and returns the new count, if it knows it: the count before was
// known, read, or reset. A count below zero means a write named the wrong
// replaced version.
func (a *ApplyBatch) addCount(tag byte, what string, delta int64, known *uint64) (uint64, bool) {
	var base uint64
	switch {
	case a.reset:
	case known != nil:
		base = *known
	case delta == 0:
		return 0, false // nothing to write; the count is not needed
	default:
		var err error
		if base, _, err = readUint64(a.b.s.db, shardKey(tag, a.shard)); err != nil {
			a.b.fail(fmt.Errorf("store: shard %d: %s: %w", a.shard, what, err))
			return 0, false
		}
	}
	n := int64(base) + delta
	if n < 0 {
		a.b.fail(fmt.Errorf("store: shard %d: %s %d%+d: %w: the count does not match the data",
			a.shard, what, base, delta, ErrCorrupt))
		return 0, false
	}
	if a.reset || delta != 0 {
		a.b.setUint64(shardKey(tag, a.shard), uint64(n))
	}
	return uint64(n), true
}

// LiveKeys returns how many keys of the shard are live in the applied state,
// as kept by ApplyBatch: Count(shard, MaxUint64) without the scan.
func (s *Store) LiveKeys(shard uint32) (uint64, error) {
	n, _, err := s.getUint64(shardKey(tagLiveKeys, shard))
	return n, wrap(err, "store: shard %d: live key count", shard)
}

// LiveBytes returns the bytes of the shard's live keys and their values in
// the applied state, as kept by ApplyBatch.
func (s *Store) LiveBytes(shard uint32) (uint64, error) {
	n, _, err := s.getUint64(shardKey(tagLiveBytes, shard))
	return n, wrap(err, "store: shard %d: live bytes", shard)
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

// DataDigest hashes the shard's applied data: every data record (key,
// timestamp, value), the live key count and the live bytes. Replicas at the same applied
// seq must agree on it (the simulator checks), whatever their logs hold.
func (s *Store) DataDigest(shard uint32) (digest uint64, err error) {
	h := xxhash.New()
	lower := shardKey(tagData, shard)
	it, err := s.iter(lower, prefixEnd(lower))
	if err != nil {
		return 0, fmt.Errorf("store: shard %d: data digest: %w", shard, err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		var n [8]byte
		k, v := it.Key(), it.Value()
		binary.BigEndian.PutUint64(n[:], uint64(len(k)))
		_, _ = h.Write(n[:])
		_, _ = h.Write(k)
		binary.BigEndian.PutUint64(n[:], uint64(len(v)))
		_, _ = h.Write(n[:])
		_, _ = h.Write(v)
	}
	if err := closeIter(it, it.Error()); err != nil {
		return 0, fmt.Errorf("store: shard %d: data digest: %w", shard, err)
	}
	live, err := s.LiveKeys(shard)
	if err != nil {
		return 0, err
	}
	liveBytes, err := s.LiveBytes(shard)
	if err != nil {
		return 0, err
	}
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], live)
	_, _ = h.Write(n[:])
	binary.BigEndian.PutUint64(n[:], liveBytes)
	_, _ = h.Write(n[:])
	return h.Sum64(), nil
}

// CheckShape checks the shape ApplyBatch keeps a shard's applied data in:
// at most one version per key, no tombstones, and a live key count equal to
// the number of keys. A write that named the wrong version it replaces (a
// primary that misread its committed state) leaves two versions or a wrong
// count, which no client read need ever show. It scans the whole shard: for
// tests and the simulator's end-of-run checks.
func (s *Store) CheckShape(shard uint32) error {
	lower := shardKey(tagData, shard)
	it, err := s.iter(lower, prefixEnd(lower))
	if err != nil {
		return fmt.Errorf("store: shard %d: check shape: %w", shard, err)
	}
	var prev []byte
	var keys, size uint64
	var bad error
	for ok := it.First(); ok && bad == nil; ok = it.Next() {
		k := it.Key()
		user := k[shardPrefixLen : len(k)-tsLen]
		switch v, _, tombstone, err := decodeVersion(it.Value()); {
		case err != nil:
			bad = err
		case tombstone:
			bad = fmt.Errorf("escaped key %x has a tombstone at ts %d", user, dataKeyTS(k))
		case prev != nil && bytes.Equal(prev, user):
			bad = fmt.Errorf("escaped key %x has more than one version (one at ts %d)", user, dataKeyTS(k))
		default:
			key, ok := unescape(user)
			if !ok {
				bad = fmt.Errorf("%w: data key %x", ErrCorrupt, k)
			}
			keys++
			size += uint64(len(key) + len(v))
		}
		prev = append(prev[:0], user...)
	}
	if err := closeIter(it, it.Error()); err != nil {
		return fmt.Errorf("store: shard %d: check shape: %w", shard, err)
	}
	if bad != nil {
		return fmt.Errorf("store: shard %d: %w", shard, bad)
	}
	live, err := s.LiveKeys(shard)
	if err != nil {
		return err
	}
	if live != keys {
		return fmt.Errorf("store: shard %d: live key count %d, but %d keys have a version", shard, live, keys)
	}
	if err := s.checkScanIndex(shard, keys); err != nil {
		return err
	}
	liveBytes, err := s.LiveBytes(shard)
	if err != nil {
		return err
	}
	if liveBytes != size {
		return fmt.Errorf("store: shard %d: live bytes %d, but its %d keys and values hold %d", shard, liveBytes, keys, size)
	}
	return nil
}
