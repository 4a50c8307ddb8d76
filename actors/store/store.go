package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"castkv/actors/wire"
	"github.com/cockroachdb/pebble/v2"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// ErrCorrupt marks a stored record that does not decode or contradicts its
// key. Callers should stop the node rather than serve from such a store.
var ErrCorrupt = errors.New("corrupt record")

// Store reads and writes castkv's records in one pebble DB. Writes go through
// a Batch; reads see everything written so far, durable or not.
//
// Durability is an effect a role asks for, as in etcd raft's Ready/Advance:
// Write applies a batch at once and returns its point (1, 2, ... per Store);
// Persist asks the runtime to make everything up to a point durable, and the
// runtime answers later with a wire.Persisted message naming the point its
// sync covered. One sync covers every write before it, so requests made
// while a sync runs share the next one (group commit).
type Store struct {
	db      *pebble.DB
	written uint64 // the point of the newest Write
	persist func(point uint64)
	// flushLarge: Write flushes a large batch at once (FlushLargeBatches);
	// flushWrites more writes ask again, since a flush asked for while one
	// runs is not queued.
	flushLarge  bool
	flushWrites int
	// onSync, if set, learns of each sync a caller asks for (OnSync).
	onSync func()
	// readers are the snapshot readers open, so that a role that stops
	// with a snapshot in flight does not leave pebble holding it (pebble's
	// Close fails on an open snapshot).
	readers map[*SnapshotReader]struct{}
}

// New returns a Store over db. The caller opened db and closes it. persist
// is the runtime's durability request (see Persist); nil for a Store that
// is only read, or written with WriteSync.
func New(db *pebble.DB, persist func(point uint64)) *Store {
	return &Store{db: db, persist: persist}
}

// DB returns the pebble DB the store reads and writes.
func (s *Store) DB() *pebble.DB {
	return s.db
}

// Write applies b atomically, not yet durable, and returns its point. It
// closes b, also on error.
func (s *Store) Write(b *Batch) (point uint64, err error) {
	large := s.flushLarge && b.b != nil && b.b.Len() >= largeBatchBytes
	if err := b.commit(); err != nil {
		return 0, err
	}
	if large {
		// Pebble keeps a batch this large in memory as a memtable of its
		// own until a flush; one is not due until later writes fill the
		// current memtable, so a 60 MB value stayed in memory three times
		// (log entry, applied state, per replica) after it was deleted.
		// Flush now, in the background, and again at the next few writes:
		// pebble does not queue a flush asked for while one runs.
		s.flushWrites = flushAfterLargeWrites
	}
	if s.flushWrites > 0 {
		s.flushWrites--
		_, _ = s.db.AsyncFlush()
	}
	s.written++
	return s.written, nil
}

// FlushLargeBatches makes Write flush a batch of largeBatchBytes or more at
// once, in the background. Production runtimes ask for it; the simulator
// does not, since a background flush makes what a crash keeps depend on
// pebble's timing.
func (s *Store) FlushLargeBatches() { s.flushLarge = true }

// largeBatchBytes: a written batch this large is flushed at once (Write),
// and at the flushAfterLargeWrites writes after it.
const (
	largeBatchBytes       = 8 << 20
	flushAfterLargeWrites = 4
)

// WriteSync applies b and makes it, and every write before it, durable
// before it returns. It blocks the caller for a sync: keep it for rare
// records that must be durable before a role acts on them (configs).
func (s *Store) WriteSync(b *Batch) error {
	if err := b.commit(); err != nil {
		return err
	}
	return s.Sync()
}

// Written is the point of the newest Write (0 before the first).
func (s *Store) Written() uint64 {
	return s.written
}

// Persist asks the runtime to make every write up to point durable. The
// answer comes later, as a wire.Persisted message with a point at or after
// this one; a crash before it may lose any write after the last answer.
func (s *Store) Persist(point uint64) {
	if s.persist == nil {
		panic("store: Persist on a store opened without a persist request")
	}
	s.persist(point)
}

// SyncWritten makes every write so far durable and returns the point it
// covers. Only the goroutine that writes may call it; a runtime that syncs
// on another goroutine calls Sync and reports the highest point it was
// asked for, which every write up to it precedes.
func (s *Store) SyncWritten() (uint64, error) {
	point := s.written
	return point, s.Sync()
}

// OnSync has f called at each Sync, on the caller's goroutine: the
// simulator charges each sync a role asks for to the handler that asked,
// on a slow disk. (Counting pebble's WAL fsyncs instead also counted the
// ones its background flushes made at times no run repeats: castsim seed 4
// ran differently on each replay.)
func (s *Store) OnSync(f func()) { s.onSync = f }

// Sync makes every write committed before it durable. It is safe to call
// from any goroutine (pebble's WAL sync).
func (s *Store) Sync() error {
	if s.onSync != nil {
		s.onSync()
	}
	if err := s.db.LogData(nil, pebble.Sync); err != nil {
		return fmt.Errorf("store: sync: %w", err)
	}
	return nil
}

// get returns a copy of key's value, nil when absent. A present empty value
// is a non-nil empty slice.
func (s *Store) get(key []byte) ([]byte, error) {
	v, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := append(make([]byte, 0, len(v)), v...)
	return out, closer.Close()
}

func (s *Store) getUint64(key []byte) (uint64, bool, error) {
	v, err := s.get(key)
	if err != nil || v == nil {
		return 0, false, err
	}
	if len(v) != 8 {
		return 0, false, fmt.Errorf("%w: %d bytes, want 8", ErrCorrupt, len(v))
	}
	return binary.BigEndian.Uint64(v), true, nil
}

// iter opens an iterator over [lower, upper).
func (s *Store) iter(lower, upper []byte) (*pebble.Iterator, error) {
	return s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
}

// closeIter closes it and returns the first of err and its errors.
func closeIter(it *pebble.Iterator, err error) error {
	return errors.Join(err, it.Close())
}

// Config returns the newest config the shard accepted, nil when there is none.
func (s *Store) Config(shard uint32) (*wire.Config, error) {
	v, err := s.get(shardKey(tagConfig, shard))
	if err != nil || v == nil {
		return nil, wrap(err, "store: shard %d: config", shard)
	}
	c := &wire.Config{}
	if err := proto.Unmarshal(v, c); err != nil {
		return nil, fmt.Errorf("store: shard %d: config: %w: %v", shard, ErrCorrupt, err)
	}
	if c.Shard != shard {
		return nil, fmt.Errorf("store: shard %d: config: %w: it names shard %d", shard, ErrCorrupt, c.Shard)
	}
	return c, nil
}

// Configs returns the config of every shard this store holds one for, in
// shard order.
func (s *Store) Configs() ([]*wire.Config, error) {
	it, err := s.iter([]byte{tagConfig}, []byte{tagConfig + 1})
	if err != nil {
		return nil, wrap(err, "store: configs")
	}
	var out []*wire.Config
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if len(k) != shardPrefixLen {
			return nil, errors.Join(fmt.Errorf("store: configs: %w: key %x", ErrCorrupt, k), it.Close())
		}
		c := &wire.Config{}
		if err := proto.Unmarshal(it.Value(), c); err != nil || c.Shard != binary.BigEndian.Uint32(k[1:]) {
			return nil, errors.Join(fmt.Errorf("store: configs: %w: the record under %x", ErrCorrupt, k), it.Close())
		}
		out = append(out, c)
	}
	return out, wrap(it.Close(), "store: configs")
}

// Entry returns the shard's log entry seq, nil when there is none. It
// decodes from pebble's buffer, without get's copy: decoding copies every
// field anyway, and an entry may carry a value of tens of MB (a 60 MB SET
// read back cost each replica an extra 60 MB of garbage).
func (s *Store) Entry(shard uint32, seq uint64) (e *wire.Entry, err error) {
	v, closer, err := s.db.Get(logKey(shard, seq))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, wrap(err, "store: shard %d: log entry %d", shard, seq)
	}
	defer func() { err = errors.Join(err, wrap(closer.Close(), "store: shard %d: log entry %d", shard, seq)) }()
	return decodeEntry(shard, seq, v)
}

// EntryVersion returns the config version of the shard's log entry at seq
// without decoding the rest of it: its writes may hold megabytes.
func (s *Store) EntryVersion(shard uint32, seq uint64) (version uint64, err error) {
	v, closer, err := s.db.Get(logKey(shard, seq))
	if err != nil {
		return 0, wrap(err, "store: shard %d: version of log entry %d", shard, seq)
	}
	defer func() { err = errors.Join(err, wrap(closer.Close(), "store: shard %d: log entry %d", shard, seq)) }()
	var gotSeq uint64
	for len(v) > 0 && (gotSeq == 0 || version == 0) {
		num, typ, n := protowire.ConsumeTag(v)
		if n < 0 {
			break
		}
		v = v[n:]
		if typ == protowire.VarintType && (num == entrySeqField || num == entryVersionField) {
			x, n := protowire.ConsumeVarint(v)
			if n < 0 {
				break
			}
			if num == entrySeqField {
				gotSeq = x
			} else {
				version = x
			}
			v = v[n:]
			continue
		}
		if n = protowire.ConsumeFieldValue(num, typ, v); n < 0 {
			break
		}
		v = v[n:]
	}
	if gotSeq != seq {
		return 0, fmt.Errorf("store: shard %d: log entry %d: %w: it says seq %d", shard, seq, ErrCorrupt, gotSeq)
	}
	return version, nil
}

// The field numbers of wire.Entry that EntryVersion reads.
const (
	entrySeqField     = 1
	entryVersionField = 2
)

func decodeEntry(shard uint32, seq uint64, v []byte) (*wire.Entry, error) {
	e := &wire.Entry{}
	if err := proto.Unmarshal(v, e); err != nil {
		return nil, fmt.Errorf("store: shard %d: log entry %d: %w: %v", shard, seq, ErrCorrupt, err)
	}
	if e.Seq != seq {
		return nil, fmt.Errorf("store: shard %d: log entry %d: %w: it says seq %d", shard, seq, ErrCorrupt, e.Seq)
	}
	return e, nil
}

func logKeySeq(k []byte) uint64 {
	return binary.BigEndian.Uint64(k[shardPrefixLen:])
}

// LastEntry returns the shard's log entry with the highest seq, nil when the
// log is empty.
func (s *Store) LastEntry(shard uint32) (e *wire.Entry, err error) {
	prefix := shardKey(tagLog, shard)
	it, err := s.iter(prefix, prefixEnd(prefix))
	if err != nil {
		return nil, fmt.Errorf("store: shard %d: last log entry: %w", shard, err)
	}
	defer func() { err = closeIter(it, err) }()
	if !it.Last() {
		return nil, wrap(it.Error(), "store: shard %d: last log entry", shard)
	}
	if len(it.Key()) != shardPrefixLen+seqLen {
		return nil, fmt.Errorf("store: shard %d: last log entry: %w: key %x", shard, ErrCorrupt, it.Key())
	}
	return decodeEntry(shard, logKeySeq(it.Key()), it.Value())
}

// Entries returns the shard's log entries with seq in [from, to], in seq
// order. Their encoded size stays within maxBytes, except that the first
// entry is returned whatever its size (as raft's limitSize does), so a
// caller always makes progress.
func (s *Store) Entries(shard uint32, from, to uint64, maxBytes int) (out []*wire.Entry, err error) {
	if from > to {
		return nil, nil
	}
	it, err := s.iter(logKey(shard, from), logUpper(shard, to))
	if err != nil {
		return nil, fmt.Errorf("store: shard %d: log entries [%d, %d]: %w", shard, from, to, err)
	}
	defer func() { err = closeIter(it, err) }()
	total := 0
	for ok := it.First(); ok; ok = it.Next() {
		k, v := it.Key(), it.Value()
		if len(k) != shardPrefixLen+seqLen {
			return nil, fmt.Errorf("store: shard %d: log entries: %w: key %x", shard, ErrCorrupt, k)
		}
		if total += len(v); len(out) > 0 && total > maxBytes {
			break
		}
		e, err := decodeEntry(shard, logKeySeq(k), v)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, wrap(it.Error(), "store: shard %d: log entries [%d, %d]", shard, from, to)
}

// Applied returns the shard's applied seq, 0 when none was recorded.
func (s *Store) Applied(shard uint32) (uint64, error) {
	seq, _, err := s.getUint64(shardKey(tagApplied, shard))
	return seq, wrap(err, "store: shard %d: applied seq", shard)
}

// Flushed returns the shard's flush marker: every version with a timestamp
// at or below it is gone. 0 when the shard was never flushed.
func (s *Store) Flushed(shard uint32) (uint64, error) {
	ts, _, err := s.getUint64(shardKey(tagFlush, shard))
	return ts, wrap(err, "store: shard %d: flush marker", shard)
}

// decodeVersion splits a data record's value into the user value, its
// expiry (0: none) and whether it is a tombstone.
func decodeVersion(v []byte) (value []byte, expireMs int64, tombstone bool, err error) {
	switch {
	case len(v) >= 1 && v[0] == kindValue:
		return v[1:], 0, false, nil
	case len(v) == 1 && v[0] == kindTombstone:
		return nil, 0, true, nil
	case len(v) >= 9 && v[0] == kindExpiring:
		if ms := int64(binary.BigEndian.Uint64(v[1:9])); ms > 0 {
			return v[9:], ms, false, nil
		}
	}
	return nil, 0, false, fmt.Errorf("%w: data record value %x", ErrCorrupt, v)
}

// Version is a key's version as a read finds it.
type Version struct {
	Value []byte
	// TS is the version's timestamp: the one a write replacing it names
	// (ApplyBatch.Put's prev). 0 when absent.
	TS uint64
	// ExpireMs is when the key expires, in unix milliseconds of TSO time
	// (0: never). The store keeps an expired version until a write
	// deletes it; whoever reads decides, at its timestamp, that it is gone.
	ExpireMs int64
	Found    bool
}

// Get returns key's value at readTS: its newest version at or below readTS,
// absent when that is a tombstone, at or below the flush marker, or missing.
// Its expiry is the caller's to judge (GetVersion).
func (s *Store) Get(shard uint32, key []byte, readTS uint64) (value []byte, ok bool, err error) {
	v, err := s.GetVersion(shard, key, readTS)
	return v.Value, v.Found, err
}

// GetVersion is Get that returns the whole version.
func (s *Store) GetVersion(shard uint32, key []byte, readTS uint64) (Version, error) {
	flushed, err := s.Flushed(shard)
	if err != nil {
		return Version{}, err
	}
	return s.GetVersionFlushed(shard, key, readTS, flushed)
}

// GetVersionFlushed is GetVersion with the shard's flush marker given by a
// caller that keeps it (the data role, which alone changes it).
func (s *Store) GetVersionFlushed(shard uint32, key []byte, readTS, flushed uint64) (_ Version, err error) {
	if readTS <= flushed {
		return Version{}, nil
	}
	prefix := keyedPrefix(tagData, shard, key)
	it, err := s.iter(appendTS(bytes.Clone(prefix), readTS), prefixEnd(prefix))
	if err != nil {
		return Version{}, fmt.Errorf("store: shard %d: get %q at %d: %w", shard, key, readTS, err)
	}
	defer func() { err = closeIter(it, err) }()
	if !it.First() {
		return Version{}, wrap(it.Error(), "store: shard %d: get %q at %d", shard, key, readTS)
	}
	k := it.Key()
	if len(k) != len(prefix)+tsLen {
		return Version{}, fmt.Errorf("store: shard %d: get %q: %w: key %x", shard, key, ErrCorrupt, k)
	}
	v, expireMs, tombstone, err := decodeVersion(it.Value())
	if err != nil {
		return Version{}, fmt.Errorf("store: shard %d: get %q: %w", shard, key, err)
	}
	if tombstone || dataKeyTS(k) <= flushed {
		return Version{}, nil
	}
	return Version{Value: append(make([]byte, 0, len(v)), v...), TS: dataKeyTS(k), ExpireMs: expireMs, Found: true}, nil
}

// Count returns how many keys of the shard are live at readTS, expired
// ones not counted. It
// visits every key of the shard once, skipping their older versions.
func (s *Store) Count(shard uint32, readTS uint64) (n int, err error) {
	flushed, err := s.Flushed(shard)
	if err != nil || readTS <= flushed {
		return 0, err
	}
	lower := shardKey(tagData, shard)
	it, err := s.iter(lower, prefixEnd(lower))
	if err != nil {
		return 0, fmt.Errorf("store: shard %d: count at %d: %w", shard, readTS, err)
	}
	defer func() { err = closeIter(it, err) }()
	var prefix, seek []byte
	ok := it.First()
	for ok {
		// it is at the first remaining version of some key: find that
		// key's newest version at or below readTS.
		k := it.Key()
		if len(k) < shardPrefixLen+2+tsLen {
			return 0, fmt.Errorf("store: shard %d: count: %w: key %x", shard, ErrCorrupt, k)
		}
		prefix = append(prefix[:0], k[:len(k)-tsLen]...)
		seek = appendTS(append(seek[:0], prefix...), readTS)
		if ok = it.SeekGE(seek); !ok || !bytes.HasPrefix(it.Key(), prefix) {
			continue // no version at or below readTS; it is at the next key
		}
		_, expireMs, tombstone, err := decodeVersion(it.Value())
		if err != nil {
			return 0, fmt.Errorf("store: shard %d: count: key %x: %w", shard, prefix, err)
		}
		if !tombstone && dataKeyTS(it.Key()) > flushed && !wire.Expired(expireMs, readTS) {
			n++
		}
		// Skip this key's older versions: usually there are none.
		if ok = it.Next(); ok && bytes.HasPrefix(it.Key(), prefix) {
			ok = it.SeekGE(prefixEnd(prefix))
		}
	}
	return n, wrap(it.Error(), "store: shard %d: count at %d", shard, readTS)
}

// Lock returns the lock record of key, nil when there is none.
func (s *Store) Lock(shard uint32, key []byte) ([]byte, error) {
	v, err := s.get(keyedPrefix(tagLock, shard, key))
	return v, wrap(err, "store: shard %d: lock %q", shard, key)
}

// Meta returns the meta record name, nil when there is none (a present
// empty record is a non-nil empty slice).
func (s *Store) Meta(name string) ([]byte, error) {
	v, err := s.get(metaKey(name))
	return v, wrap(err, "store: meta %q", name)
}

// wrap prefixes a non-nil err with what failed; nil stays nil.
func wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}
