package store

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"castkv/actors/wire"
)

// The scan index: every key with a version, in the order SCAN visits the
// keyspace, which is the same on every shard and survives splits and
// moves:
//
//	'S' shard slot(u16) position(u64) escaped-key -> empty
//
// position is wire.ScanPosition: 50 bits of a hash of the key. A SCAN
// cursor is a slot and a position (wire.ScanCursor), a place in that order that means
// the same whichever shard holds the slot, so a scan goes on across a
// split or a failover: the keys after the cursor are the same keys. Keys
// that share a position are returned together (ScanFrom never stops
// between them), so a cursor never falls between two keys.
//
// ApplyBatch keeps it with the data: a Put of a key that had no version
// adds its entry, a Delete of one that had removes it; a FLUSH, a split and
// DeleteShard treat it as they treat the data, and snapshots carry it.
const tagScan byte = 'S'

func scanKey(shard uint32, key []byte) []byte {
	k := binary.BigEndian.AppendUint16(shardKey(tagScan, shard), wire.Slot(key))
	k = binary.BigEndian.AppendUint64(k, wire.ScanPosition(key))
	return appendEscaped(k, key)
}

// scanSlotKey is the start of slot's entries in the shard's index.
func scanSlotKey(shard, slot uint32) []byte {
	return binary.BigEndian.AppendUint16(shardKey(tagScan, shard), uint16(slot))
}

// ScanFrom visits, in scan order, the keys of the shard's index from
// cursor up to the slot end (exclusive, at most wire.Slots), stopping once
// it has visited limit keys, or visit said it is full, and the next key is
// at another position. It returns the cursor after the last key visited,
// or the cursor of end when it reached it: 0 for the end of the keyspace
// (wire.ScanCursor(wire.Slots, 0) wraps to 0), as SCAN's last reply says.
func (s *Store) ScanFrom(shard uint32, cursor uint64, end uint32, limit int, visit func(key []byte) (full bool, err error)) (next uint64, err error) {
	slot, pos := wire.SplitCursor(cursor)
	if slot >= end {
		return wire.ScanCursor(end, 0), nil
	}
	lower := binary.BigEndian.AppendUint64(scanSlotKey(shard, slot), pos)
	upper := scanSlotKey(shard, end)
	if end >= wire.Slots {
		upper = prefixEnd(shardKey(tagScan, shard))
	}
	it, err := s.iter(lower, upper)
	if err != nil {
		return 0, fmt.Errorf("store: shard %d: scan from %d: %w", shard, cursor, err)
	}
	defer func() { err = closeIter(it, err) }()
	n := 0
	var last []byte // slot and position of the last key visited
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if len(k) < shardPrefixLen+2+8+2 {
			return 0, fmt.Errorf("store: shard %d: scan: %w: key %x", shard, ErrCorrupt, k)
		}
		place := k[shardPrefixLen : shardPrefixLen+10]
		if n >= limit && !bytes.Equal(place, last) {
			return placeCursor(place), nil
		}
		key, ok := unescape(k[shardPrefixLen+10:])
		if !ok {
			return 0, fmt.Errorf("store: shard %d: scan: %w: key %x", shard, ErrCorrupt, k)
		}
		full, err := visit(key)
		if err != nil {
			return 0, err
		}
		if n++; full {
			n = max(n, limit)
		}
		last = append(last[:0], place...)
	}
	return wire.ScanCursor(end, 0), wrap(it.Error(), "store: shard %d: scan from %d", shard, cursor)
}

// placeCursor is the cursor of an index entry's slot and position bytes.
func placeCursor(place []byte) uint64 {
	return wire.ScanCursor(uint32(binary.BigEndian.Uint16(place)), binary.BigEndian.Uint64(place[2:]))
}

// splitScanIndex moves the child's slots of the parent's scan index, one
// contiguous range of it, to the child (or drops them, DropChild).
func (b *Batch) splitScanIndex(sp Split) error {
	lower, upper := scanSlotKey(sp.Parent, sp.ChildTakes.Start), scanSlotKey(sp.Parent, sp.ChildTakes.End)
	if sp.ChildTakes.End >= wire.Slots {
		upper = prefixEnd(shardKey(tagScan, sp.Parent))
	}
	it, err := b.s.iter(lower, upper)
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if !sp.DropChild {
			b.set(append(shardKey(tagScan, sp.Child), k[shardPrefixLen:]...), nil)
		}
		b.delete(bytes.Clone(k))
	}
	return closeIter(it, it.Error())
}

// checkScanIndex checks that the shard's scan index holds exactly its keys
// with a version, keys of them (CheckShape).
func (s *Store) checkScanIndex(shard uint32, keys uint64) error {
	var n uint64
	_, err := s.ScanFrom(shard, 0, wire.Slots, int(^uint(0)>>1), func(key []byte) (bool, error) {
		n++
		v, err := s.GetVersion(shard, key, ^uint64(0))
		if err == nil && !v.Found {
			err = fmt.Errorf("store: shard %d: the scan index holds %q, which has no version", shard, key)
		}
		return false, err
	})
	if err == nil && n != keys {
		err = fmt.Errorf("store: shard %d: the scan index holds %d keys, but %d keys have a version", shard, n, keys)
	}
	return err
}
