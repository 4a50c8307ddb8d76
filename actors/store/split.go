package store

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"castkv/actors/wire"
)

// Shard splits (TiKV's region split, done by every replica where the split
// sits in the parent's log): the records of the slots the child takes move
// from the parent's keys to the child's, in one batch with the rest of the
// split, so a crash leaves either both shards as they were or both split.
//
//	's' shard -> u32 slot start | u32 slot end: the slots the applied state
//	             holds, once a split wrote it (part of the applied state,
//	             so a snapshot carries it)
//
// A shard with no range record holds what its first config named: it was
// bootstrapped, not split off. A split-born shard without one holds nothing
// yet: its replica has not applied the split (see Config.split_born).
const tagRange byte = 's'

// SlotRange is the slots [Start, End).
type SlotRange struct{ Start, End uint32 }

func (r SlotRange) holds(slot uint32) bool { return slot >= r.Start && slot < r.End }

// Range returns the slot range the shard's applied state holds, and false
// when no split wrote one (see tagRange).
func (s *Store) Range(shard uint32) (SlotRange, bool, error) {
	v, err := s.get(shardKey(tagRange, shard))
	switch {
	case err != nil:
		return SlotRange{}, false, wrap(err, "store: shard %d: slot range", shard)
	case v == nil:
		return SlotRange{}, false, nil
	case len(v) != 8:
		return SlotRange{}, false, fmt.Errorf("store: shard %d: slot range: %w: %d bytes", shard, ErrCorrupt, len(v))
	}
	return SlotRange{binary.BigEndian.Uint32(v), binary.BigEndian.Uint32(v[4:])}, true, nil
}

func (b *Batch) putRange(shard uint32, r SlotRange) {
	b.set(shardKey(tagRange, shard), binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, r.Start), r.End))
}

// Split is one split of a parent shard's applied state.
type Split struct {
	Parent, Child           uint32
	ParentKeeps, ChildTakes SlotRange
	// ChildDedup is the exactly-once table the child starts with, encoded
	// by the data role (PutDedup).
	ChildDedup []byte
	// DropChild: this store keeps no replica of the child (its config does
	// not name this server, or a snapshot brought it already): the child's
	// records leave the parent and go nowhere.
	DropChild bool
}

// Split moves into b, from the parent's applied state as written (the
// caller writes everything the log orders before the split first), the
// data versions, locks and transaction records (by primary key) of the
// child's slots to the child; copies the flush marker and the gc points;
// writes both shards' live counts and range records and the child's
// exactly-once table (unless DropChild). The child's log and applied seq
// start empty. It reads every record of the
// parent once, and the batch holds the child's half: the split threshold
// bounds both. It returns the child's live counts.
func (b *Batch) Split(sp Split) (LiveCounts, error) {
	var moved LiveCounts
	fail := func(err error) (LiveCounts, error) {
		err = fmt.Errorf("store: split shard %d at slot %d into shard %d: %w", sp.Parent, sp.ChildTakes.Start, sp.Child, err)
		b.fail(err)
		return LiveCounts{}, err
	}
	var lastKey []byte // the escaped key of the last data version moved
	for _, tag := range [...]byte{tagData, tagLock, tagTxn} {
		prefix := shardKey(tag, sp.Parent)
		it, err := b.s.iter(prefix, prefixEnd(prefix))
		if err != nil {
			return fail(err)
		}
		for ok := it.First(); ok; ok = it.Next() {
			k := it.Key()
			escaped := k[shardPrefixLen:]
			if tag != tagLock {
				escaped = escaped[:len(escaped)-tsLen] // data: ^ts; txn: start ts
			}
			key, ok := unescape(escaped)
			if !ok {
				return fail(closeIter(it, fmt.Errorf("%w: record %x has a badly escaped key", ErrCorrupt, k)))
			}
			if !sp.ChildTakes.holds(uint32(wire.Slot(key))) {
				continue
			}
			v, err := it.ValueAndErr()
			if err != nil {
				return fail(closeIter(it, err))
			}
			if tag == tagData && !bytes.Equal(escaped, lastKey) {
				// The newest version of a key comes first: it says whether
				// the key is live.
				lastKey = append(lastKey[:0], escaped...)
				value, _, tombstone, err := decodeVersion(v)
				if err != nil {
					return fail(closeIter(it, err))
				}
				if !tombstone {
					moved.Keys++
					moved.Bytes += uint64(len(key) + len(value))
				}
			}
			if !sp.DropChild {
				b.set(append(shardKey(tag, sp.Child), k[shardPrefixLen:]...), v)
			}
			b.delete(bytes.Clone(k))
		}
		if err := closeIter(it, it.Error()); err != nil {
			return fail(err)
		}
	}
	if err := b.splitScanIndex(sp); err != nil {
		return fail(err)
	}
	keys, err := b.s.LiveKeys(sp.Parent)
	if err != nil {
		return fail(err)
	}
	size, err := b.s.LiveBytes(sp.Parent)
	if err != nil {
		return fail(err)
	}
	if moved.Keys > keys || moved.Bytes > size {
		return fail(fmt.Errorf("the child takes %d keys of %d bytes, but the parent counts %d keys of %d bytes", moved.Keys, moved.Bytes, keys, size))
	}
	b.setUint64(shardKey(tagLiveKeys, sp.Parent), keys-moved.Keys)
	b.setUint64(shardKey(tagLiveBytes, sp.Parent), size-moved.Bytes)
	b.putRange(sp.Parent, sp.ParentKeeps)
	if sp.DropChild {
		return moved, nil
	}
	flushed, found, err := b.s.getUint64(shardKey(tagFlush, sp.Parent))
	if err != nil {
		return fail(err)
	}
	if found {
		b.setUint64(shardKey(tagFlush, sp.Child), flushed)
	}
	gc, err := b.s.GC(sp.Parent)
	if err != nil {
		return fail(err)
	}
	if gc != (GCPoints{}) {
		b.SetGC(sp.Child, gc) // the child's locks all came from the parent
	}
	b.setUint64(shardKey(tagLiveKeys, sp.Child), moved.Keys)
	b.setUint64(shardKey(tagLiveBytes, sp.Child), moved.Bytes)
	b.putRange(sp.Child, sp.ChildTakes)
	b.PutDedup(sp.Child, sp.ChildDedup)
	return moved, nil
}
