package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cespare/xxhash/v2"
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
// It reads nothing: each write names the version it replaces and whether
// the key was live, as the primary found them when it ordered the write
// (the sequenced state before the entry, which is every replica's applied
// state before it). Every replica applying the same log therefore makes the
// same deletions and counts the same keys, without a seek per write.
type ApplyBatch struct {
	b     *Batch
	shard uint32

	reset  bool  // Flush set the live key count to 0
	delta  int64 // live keys added minus removed, after reset if any
	sealed bool  // Batch was called: the count is written

	// keepOldVersions is a canary for tests: Put leaves the version it
	// replaces in place, so the one-version-per-key checks must fail.
	keepOldVersions bool
}

// NewApplyBatch starts a batch that applies committed writes to shard.
func (s *Store) NewApplyBatch(shard uint32) *ApplyBatch {
	return &ApplyBatch{b: s.NewBatch(), shard: shard}
}

func (a *ApplyBatch) use() {
	if a.sealed {
		panic(fmt.Sprintf("store: shard %d: ApplyBatch written after Batch()", a.shard))
	}
}

// Put writes key's value at ts and deletes the version it replaces, the one
// at prevTS (0: none); wasLive says whether key was live before.
func (a *ApplyBatch) Put(key []byte, ts uint64, value []byte, prevTS uint64, wasLive bool) {
	a.use()
	if ts == 0 {
		a.b.fail(fmt.Errorf("store: shard %d: apply put %q at ts 0: ts 0 is reserved", a.shard, key))
		return
	}
	if prevTS != 0 && prevTS != ts && !a.keepOldVersions {
		a.b.delete(dataKey(a.shard, key, prevTS))
	}
	v := make([]byte, 0, 1+len(value))
	a.b.set(dataKey(a.shard, key, ts), append(append(v, kindValue), value...))
	if !wasLive {
		a.delta++
	}
}

// Delete deletes key's version at prevTS (0: none); wasLive says whether
// key was live. It writes no tombstone: no read needs to know the key was
// there.
func (a *ApplyBatch) Delete(key []byte, prevTS uint64, wasLive bool) {
	a.use()
	if prevTS != 0 {
		a.b.delete(dataKey(a.shard, key, prevTS))
	}
	if wasLive {
		a.delta--
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
	a.reset, a.delta = true, 0
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
		if base, _, err = readUint64(a.b.s.db, k); err != nil {
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

// DataDigest hashes the shard's applied data: every data record (key,
// timestamp, value) and the live key count. Replicas at the same applied
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
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], live)
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
	var keys uint64
	var bad error
	for ok := it.First(); ok && bad == nil; ok = it.Next() {
		k := it.Key()
		user := k[shardPrefixLen : len(k)-tsLen]
		switch _, tombstone, err := decodeVersion(it.Value()); {
		case err != nil:
			bad = err
		case tombstone:
			bad = fmt.Errorf("escaped key %x has a tombstone at ts %d", user, dataKeyTS(k))
		case prev != nil && bytes.Equal(prev, user):
			bad = fmt.Errorf("escaped key %x has more than one version (one at ts %d)", user, dataKeyTS(k))
		default:
			keys++
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
	return nil
}
