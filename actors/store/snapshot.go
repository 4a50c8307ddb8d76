package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"

	"github.com/cockroachdb/pebble/v2"
)

// Snapshots of a shard's applied state, for a learner or a lagging replica
// to catch up from before it takes the log tail (etcd raft's MsgSnap). The
// applied state is every record of these types: the applied
// seq, data, the exactly-once table, the flush marker, locks, the live key
// count, the log start and the slot range (split.go); not the config, the log or the install marker.
//
// A sender streams a snapshot with a SnapshotReader, in chunks it sizes
// below the frame limit. A receiver installs it with BeginSnapshot, which
// empties the shard's applied state and marks an install as under way,
// ApplySnapshotChunk for every chunk, in any number of batches, and
// FinishSnapshot, which clears the mark. A replica that restarts with the
// mark set (SnapshotInstalling) was cut off mid-install: its applied state is
// partial, so it treats it as empty and installs again from the start.
//
// The snapshot's log start is its position (SnapshotReader.Position), so
// once installed, LogStart is where the receiver's log must continue. The
// install leaves the log to the caller: TruncateLog(shard, 0) drops all of
// it, as etcd raft does on a snapshot; a replica whose entry at that seq has
// that version may keep the entries after it, dropping the rest with
// TruncateLogPrefix.
//
// # Chunk format
//
//	chunk  = format (1 byte, 1) | shard (u32) | record* | CRC-32C of all before (u32)
//	record = uvarint len(key) | key | uvarint len(value) | value
//	key    = tag | the record key's bytes after tag and shard
//
// Records appear in key order, within a chunk and across chunks. Their keys
// hold no shard id, so a snapshot could be installed under another shard id
// (a shard move) by skipping the shard check of ApplySnapshotChunk.

// The install marker, and the chunk format above.
const (
	tagInstalling byte = 'i' // 'i' shard -> empty: a snapshot install is under way

	chunkFormat    byte = 1
	chunkHeaderLen      = 1 + 4
	chunkCRCLen         = 4
)

// snapshotTags are the record types of a shard's applied state, ascending
// so that a snapshot's records are in key order.
var snapshotTags = [...]byte{tagScan, tagApplied, tagLiveBytes, tagData, tagDedup, tagFlush, tagGC, tagLock, tagLiveKeys, tagLogStart, tagRange, tagTxn}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// SnapshotReader streams one shard's applied state as it was when the
// reader was made, over a pebble snapshot, in chunks (see the format above).
// It remembers a cursor, the key of the last record it returned, so a sender
// needs to keep nothing else, and can move it back with Seek to send again
// what a receiver lost. Its chunks install only together with chunks of the
// same reader: a sender that restarts makes a new reader, and its receiver
// begins the install again.
type SnapshotReader struct {
	st    *Store
	snap  *pebble.Snapshot
	shard uint32
	after []byte // the cursor; nil before the first record

	posKnown       bool
	posSeq, posVer uint64
	scratch        []byte // the key being read
}

// NewSnapshotReader takes a snapshot of the shard's applied state now. Close
// the reader to release it: pebble keeps what the snapshot sees until then.
func (s *Store) NewSnapshotReader(shard uint32) *SnapshotReader {
	r := &SnapshotReader{st: s, snap: s.db.NewSnapshot(), shard: shard}
	if s.readers == nil {
		s.readers = map[*SnapshotReader]struct{}{}
	}
	s.readers[r] = struct{}{}
	return r
}

// CloseReaders closes every snapshot reader still open and returns how many
// it closed: a runtime calls it when its role stops, before the store's DB
// is closed.
func (s *Store) CloseReaders() (int, error) {
	var errs []error
	n := 0
	for r := range s.readers { // order-independent: each is closed, none depends on another
		errs = append(errs, r.Close())
		n++
	}
	return n, errors.Join(errs...)
}

func (r *SnapshotReader) use() {
	if r.snap == nil {
		panic(fmt.Sprintf("store: shard %d: snapshot reader used after Close", r.shard))
	}
}

// Position returns where the snapshot stands in the shard's log: its applied
// seq and the config version of the entry there, (0, 0) when nothing was
// applied (etcd raft's snapshot index and term). The snapshot carries it as
// its log start.
func (r *SnapshotReader) Position() (seq, version uint64, err error) {
	r.use()
	seq, version, err = r.position()
	return seq, version, wrap(err, "store: shard %d: snapshot position", r.shard)
}

func (r *SnapshotReader) position() (seq, version uint64, err error) {
	if !r.posKnown {
		r.posSeq, r.posVer, err = r.readPosition()
		r.posKnown = err == nil
	}
	return r.posSeq, r.posVer, err
}

func (r *SnapshotReader) readPosition() (seq, version uint64, err error) {
	applied, _, err := readUint64(r.snap, shardKey(tagApplied, r.shard))
	if err != nil || applied == 0 {
		return 0, 0, wrap(err, "applied seq")
	}
	startSeq, startVer, err := readLogStart(r.snap, r.shard)
	switch {
	case err != nil:
		return 0, 0, err
	case startSeq == applied:
		return applied, startVer, nil
	case startSeq > applied:
		return 0, 0, fmt.Errorf("%w: the log starts after %d, beyond the applied seq %d", ErrCorrupt, startSeq, applied)
	}
	e, err := readEntry(r.snap, r.shard, applied)
	switch {
	case err != nil:
		return 0, 0, err
	case e == nil:
		return 0, 0, fmt.Errorf("%w: no log entry at the applied seq %d, and the log starts at %d", ErrCorrupt, applied, startSeq)
	}
	return applied, e.Version, nil
}

// Next returns the chunk of records after the cursor, at most maxBytes long
// unless its one record is longer (a record always goes whole), and moves
// the cursor to its last record. done says no record follows it; a Next
// after that returns a chunk of no records.
func (r *SnapshotReader) Next(maxBytes int) (chunk []byte, done bool, err error) {
	r.use()
	chunk = binary.BigEndian.AppendUint32(append(make([]byte, 0, 64), chunkFormat), r.shard)
	var last []byte // the key of the chunk's last record
	n := 0
	// add appends a record to chunk unless the chunk is full.
	add := func(k, v []byte) bool {
		size := uvarintLen(len(k)) + len(k) + uvarintLen(len(v)) + len(v)
		if n > 0 && len(chunk)+size+chunkCRCLen > maxBytes {
			return false
		}
		chunk = appendRecord(slices.Grow(chunk, size+chunkCRCLen), k, v)
		last, n = append(last[:0], k...), n+1
		return true
	}
	for _, tag := range snapshotTags {
		full, err := r.nextOfTag(tag, add)
		if err != nil {
			return nil, false, fmt.Errorf("store: shard %d: snapshot after %x: %w", r.shard, r.after, err)
		}
		if full {
			r.after = last
			return sealChunk(chunk), false, nil
		}
	}
	if n > 0 {
		r.after = last
	}
	return sealChunk(chunk), true, nil
}

// nextOfTag adds the records of type tag after the cursor until add
// reports the chunk full.
func (r *SnapshotReader) nextOfTag(tag byte, add func(k, v []byte) bool) (full bool, err error) {
	if len(r.after) > 0 && r.after[0] > tag {
		return false, nil
	}
	if tag == tagLogStart {
		// The log start a snapshot installs is its position, not the
		// sender's own: the receiver's log continues from there.
		if len(r.after) > 0 && r.after[0] == tag {
			return false, nil
		}
		seq, version, err := r.position()
		if err != nil || seq == 0 {
			return false, wrap(err, "position")
		}
		return !add([]byte{tag}, encodeLogStart(seq, version)), nil
	}
	prefix := shardKey(tag, r.shard)
	lower := prefix
	if len(r.after) > 0 && r.after[0] == tag {
		// The smallest key after the cursor's.
		lower = append(append(bytes.Clone(prefix), r.after[1:]...), 0x00)
	}
	it, err := r.snap.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return false, err
	}
	for ok := it.First(); ok; ok = it.Next() {
		var v []byte
		if v, err = it.ValueAndErr(); err != nil {
			break
		}
		r.scratch = append(append(r.scratch[:0], tag), it.Key()[shardPrefixLen:]...)
		if !add(r.scratch, v) {
			full = true
			break
		}
	}
	return full, closeIter(it, errOr(err, it.Error()))
}

// Cursor returns the key of the last record returned, nil before the
// first: what a sender remembers to Seek back to.
func (r *SnapshotReader) Cursor() []byte {
	return bytes.Clone(r.after)
}

// Seek moves the cursor: the next chunk starts after the record keyed
// after, as returned by Cursor; nil starts over.
func (r *SnapshotReader) Seek(after []byte) {
	r.after = bytes.Clone(after)
}

// Close releases the pebble snapshot. Closing twice does nothing.
func (r *SnapshotReader) Close() error {
	if r.snap == nil {
		return nil
	}
	err := r.snap.Close()
	r.snap = nil
	delete(r.st.readers, r)
	return wrap(err, "store: shard %d: close snapshot", r.shard)
}

func uvarintLen(n int) int {
	size := 1
	for ; n >= 0x80; n >>= 7 {
		size++
	}
	return size
}

func appendRecord(dst, k, v []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(k)))
	dst = binary.AppendUvarint(append(dst, k...), uint64(len(v)))
	return append(dst, v...)
}

func sealChunk(chunk []byte) []byte {
	return binary.BigEndian.AppendUint32(chunk, crc32.Checksum(chunk, castagnoli))
}

// BeginSnapshot starts installing a snapshot of the shard in b: it deletes
// the shard's applied state and marks the install as under way, both
// durable with b. The config and the log stay.
func (s *Store) BeginSnapshot(b *Batch, shard uint32) {
	if b.s != s {
		panic(fmt.Sprintf("store: shard %d: BeginSnapshot with another store's batch", shard))
	}
	for _, tag := range snapshotTags {
		p := shardKey(tag, shard)
		b.deleteRange(p, prefixEnd(p))
	}
	b.set(shardKey(tagInstalling, shard), nil)
}

// ApplySnapshotChunk writes the records of a chunk of the shard's snapshot
// into b, after BeginSnapshot. It checks the whole chunk first: one that
// does not decode returns an error wrapping ErrCorrupt, one of another
// shard an error, and neither writes anything nor fails the batch, so the
// caller may ask for the chunk again. Applying a chunk twice does no harm.
func (b *Batch) ApplySnapshotChunk(shard uint32, chunk []byte) error {
	if err := walkChunk(shard, chunk, nil); err != nil {
		return fmt.Errorf("store: shard %d: snapshot chunk of %d bytes: %w", shard, len(chunk), err)
	}
	return walkChunk(shard, chunk, func(k, v []byte) {
		key := binary.BigEndian.AppendUint32(append(make([]byte, 0, 4+len(k)), k[0]), shard)
		b.set(append(key, k[1:]...), v)
	})
}

// FinishSnapshot ends the shard's install: the applied state is whole.
func (b *Batch) FinishSnapshot(shard uint32) {
	b.delete(shardKey(tagInstalling, shard))
}

// SnapshotInstalling reports whether an install of a snapshot of the shard
// began and did not finish. The shard's applied state is then partial: the
// replica treats it as empty and installs again.
func (s *Store) SnapshotInstalling(shard uint32) (bool, error) {
	v, err := s.get(shardKey(tagInstalling, shard))
	return v != nil, wrap(err, "store: shard %d: snapshot install marker", shard)
}

// walkChunk checks a chunk of the shard's snapshot and calls visit, if not
// nil, with each record's key and value, which alias chunk.
func walkChunk(shard uint32, chunk []byte, visit func(k, v []byte)) error {
	if len(chunk) < chunkHeaderLen+chunkCRCLen {
		return fmt.Errorf("%w: %d bytes, shorter than a chunk of no records", ErrCorrupt, len(chunk))
	}
	body := chunk[:len(chunk)-chunkCRCLen]
	if sum := binary.BigEndian.Uint32(chunk[len(body):]); sum != crc32.Checksum(body, castagnoli) {
		return fmt.Errorf("%w: checksum %08x does not match", ErrCorrupt, sum)
	}
	if body[0] != chunkFormat {
		return fmt.Errorf("%w: format %d, want %d", ErrCorrupt, body[0], chunkFormat)
	}
	if from := binary.BigEndian.Uint32(body[1:]); from != shard {
		return fmt.Errorf("a snapshot of shard %d", from)
	}
	var prev []byte
	for rest := body[chunkHeaderLen:]; len(rest) > 0; {
		var k, v []byte
		var ok bool
		if k, rest, ok = cutField(rest); !ok {
			return fmt.Errorf("%w: a record key overruns the chunk after %x", ErrCorrupt, prev)
		}
		if v, rest, ok = cutField(rest); !ok {
			return fmt.Errorf("%w: the value of %x overruns the chunk", ErrCorrupt, k)
		}
		if prev != nil && bytes.Compare(prev, k) >= 0 {
			return fmt.Errorf("%w: record %x after %x, out of key order", ErrCorrupt, k, prev)
		}
		if err := checkRecord(k, v); err != nil {
			return fmt.Errorf("%w: record %x: %w", ErrCorrupt, k, err)
		}
		if visit != nil {
			visit(k, v)
		}
		prev = k
	}
	return nil
}

// cutField splits a uvarint-prefixed field off b.
func cutField(b []byte) (field, rest []byte, ok bool) {
	n, size := binary.Uvarint(b)
	if size <= 0 || n > uint64(len(b)-size) {
		return nil, nil, false
	}
	end := size + int(n)
	return b[size:end], b[end:], true
}

// checkRecord checks that a snapshot record is one of the applied state,
// shaped as the store writes it.
func checkRecord(k, v []byte) error {
	if len(k) == 0 {
		return fmt.Errorf("empty key")
	}
	tag, rest := k[0], k[1:]
	switch tag {
	case tagApplied, tagFlush, tagLiveKeys, tagLiveBytes, tagLogStart, tagDedup, tagRange, tagGC:
		if len(rest) != 0 {
			return fmt.Errorf("a one-per-shard record with a longer key")
		}
		if tag == tagRange && len(v) != 8 {
			return fmt.Errorf("a slot range of %d bytes", len(v))
		}
		if tag == tagGC && len(v) != gcPointsLen {
			return fmt.Errorf("gc points of %d bytes", len(v))
		}
	case tagLock:
		if !validEscaped(rest) {
			return fmt.Errorf("lock of a badly escaped key")
		}
	case tagTxn:
		if len(rest) < 2+tsLen || !validEscaped(rest[:len(rest)-tsLen]) {
			return fmt.Errorf("transaction record of a badly escaped key")
		}
	case tagScan:
		if len(rest) < 2+8+2 || !validEscaped(rest[10:]) || len(v) != 0 {
			return fmt.Errorf("scan index entry of a badly escaped key, or with a value")
		}
	case tagData:
		if len(rest) < 2+tsLen || !validEscaped(rest[:len(rest)-tsLen]) {
			return fmt.Errorf("data record of a badly escaped key")
		}
		if dataKeyTS(rest) == 0 {
			return fmt.Errorf("data record at the reserved ts 0")
		}
		if _, _, _, err := decodeVersion(v); err != nil {
			return err
		}
	default:
		return fmt.Errorf("no applied state record has tag %q", tag)
	}
	switch tag {
	case tagApplied, tagFlush, tagLiveKeys, tagLiveBytes:
		if len(v) != 8 {
			return fmt.Errorf("%d bytes, want 8", len(v))
		}
	case tagLogStart:
		if len(v) != logStartLen {
			return fmt.Errorf("%d bytes, want %d", len(v), logStartLen)
		}
	}
	return nil
}

// validEscaped reports whether e is a user key as appendEscaped writes it:
// every 0x00 escaped as 0x00 0xFF, and the terminator 0x00 0x01 at the end.
func validEscaped(e []byte) bool {
	for i := 0; i < len(e); i++ {
		if e[i] != 0x00 {
			continue
		}
		switch {
		case i+1 < len(e) && e[i+1] == 0xFF:
			i++
		case i+2 == len(e) && e[i+1] == 0x01:
			return true
		default:
			return false
		}
	}
	return false
}
