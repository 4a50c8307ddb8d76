package store

import (
	"encoding/binary"
	"errors"
	"fmt"

	"castkv/actors/wire"
	"github.com/cockroachdb/pebble/v2"
)

// Records of log compaction (etcd raft's log truncation and snapshots):
//
//	'p' shard -> log start: u64 seq, u64 config version of the entry at seq
//	'e' shard -> exactly-once table as of the applied seq (opaque bytes)
//
// Both are part of the shard's applied state, so a snapshot carries them.
const (
	tagLogStart byte = 'p'
	tagDedup    byte = 'e'
)

const logStartLen = 2 * 8

// TruncateLogPrefix deletes the shard's log entries with seq <= throughSeq
// in one range deletion and records throughSeq, with the config version of
// its entry, as the log start (LogStart): log-matching at the boundary
// compares against it once the entry is gone.
//
// throughSeq must be applied, and its entry in the log unless it is the log
// start already (then only entries at or below it are deleted, such as those
// a snapshot install left). Moving the log start back is an error, recorded
// in the batch. The applied seq, the log start and the entry are read from
// the written state, or from the batch itself when it is indexed: a plain
// batch does not see its own SetApplied or AppendEntry. throughSeq 0 does
// nothing.
func (b *Batch) TruncateLogPrefix(shard uint32, throughSeq uint64) {
	if throughSeq == 0 {
		return
	}
	fail := func(err error) {
		b.fail(fmt.Errorf("store: shard %d: truncate the log through %d: %w", shard, throughSeq, err))
	}
	var r pebble.Reader = b.s.db
	if pb := b.batch(); pb.Indexed() {
		r = pb
	}
	startSeq, _, err := readLogStart(r, shard)
	if err != nil {
		fail(err)
		return
	}
	prefix := shardKey(tagLog, shard)
	switch {
	case throughSeq < startSeq:
		fail(fmt.Errorf("the log already starts after %d", startSeq))
		return
	case throughSeq == startSeq:
		b.deleteRange(prefix, logUpper(shard, throughSeq))
		return
	}
	applied, _, err := readUint64(r, shardKey(tagApplied, shard))
	if err != nil {
		fail(fmt.Errorf("applied seq: %w", err))
		return
	}
	if throughSeq > applied {
		fail(fmt.Errorf("only %d is applied", applied))
		return
	}
	e, err := readEntry(r, shard, throughSeq)
	switch {
	case err != nil:
		fail(err)
		return
	case e == nil:
		fail(fmt.Errorf("no log entry there"))
		return
	}
	b.deleteRange(prefix, logUpper(shard, throughSeq))
	b.set(shardKey(tagLogStart, shard), encodeLogStart(throughSeq, e.Version))
}

// LogStart returns the shard's log start: the seq through which the log was
// truncated and the config version of the entry there; (0, 0) when it never
// was. The log holds the entries after seq. When the log was truncated to
// empty, LastEntry returns nil though the log does not end at 0: callers
// that take the last entry's (seq, version) as the end of the log (its
// length, log-matching) take LogStart then.
func (s *Store) LogStart(shard uint32) (seq, version uint64, err error) {
	seq, version, err = readLogStart(s.db, shard)
	return seq, version, wrap(err, "store: shard %d: log start", shard)
}

func readLogStart(r pebble.Reader, shard uint32) (seq, version uint64, err error) {
	v, closer, err := r.Get(shardKey(tagLogStart, shard))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("log start: %w", err)
	}
	if len(v) != logStartLen {
		err = fmt.Errorf("log start: %w: %d bytes, want %d", ErrCorrupt, len(v), logStartLen)
	} else {
		seq, version = binary.BigEndian.Uint64(v), binary.BigEndian.Uint64(v[8:])
	}
	return seq, version, errors.Join(err, closer.Close())
}

func encodeLogStart(seq, version uint64) []byte {
	v := make([]byte, 0, logStartLen)
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(v, seq), version)
}

// readEntry reads the shard's log entry seq through r, nil when there is
// none.
func readEntry(r pebble.Reader, shard uint32, seq uint64) (e *wire.Entry, err error) {
	v, closer, err := r.Get(logKey(shard, seq))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("log entry %d: %w", seq, err)
	}
	e, err = decodeEntry(shard, seq, v)
	return e, errors.Join(err, closer.Close())
}

// PutDedup records the shard's exactly-once table, encoded by the data role.
// Write it with the SetApplied it belongs to: a log truncation and a
// snapshot carry it as of the applied seq.
func (b *Batch) PutDedup(shard uint32, blob []byte) {
	b.set(shardKey(tagDedup, shard), blob)
}

// Dedup returns the shard's exactly-once table as PutDedup wrote it, nil
// when there is none (a present empty table is a non-nil empty slice).
func (s *Store) Dedup(shard uint32) ([]byte, error) {
	v, err := s.get(shardKey(tagDedup, shard))
	return v, wrap(err, "store: shard %d: exactly-once table", shard)
}
