package store

import (
	"encoding/binary"
	"fmt"
)

// Transaction records (castkv/actors/data, txn.go). Locks are
//
//	'k' shard escaped-key            -> lock record (opaque bytes)
//
// and a transaction's fate is kept at its primary key's shard as
//
//	't' shard escaped-primary start_ts -> transaction record (opaque bytes)
//
// with start_ts a plain u64, so one primary key's records are contiguous.
// Both are part of the applied state: snapshots carry them, as they carry
// the shard's garbage-collection points (data's rule gc-safe-point):
//
//	'g' shard -> safe_point u64, gc_below u64
//
// an absent record reading as both 0.
const (
	tagTxn byte = 't'
	tagGC  byte = 'g'
)

// GCPoints are a shard's garbage-collection points: no prewrite below
// SafePoint is accepted, and no lock anywhere starts below Below.
type GCPoints struct {
	SafePoint, Below uint64
}

const gcPointsLen = 16

// Raise returns p with each point raised to the one given, if higher: the
// points only rise.
func (p GCPoints) Raise(safePoint, below uint64) GCPoints {
	return GCPoints{SafePoint: max(p.SafePoint, safePoint), Below: max(p.Below, below)}
}

// SetGC records the shard's garbage-collection points.
func (b *Batch) SetGC(shard uint32, p GCPoints) {
	v := binary.BigEndian.AppendUint64(nil, p.SafePoint)
	b.set(shardKey(tagGC, shard), binary.BigEndian.AppendUint64(v, p.Below))
}

// GC reads the shard's garbage-collection points (zero when never set).
func (s *Store) GC(shard uint32) (GCPoints, error) {
	v, err := s.get(shardKey(tagGC, shard))
	switch {
	case err != nil:
		return GCPoints{}, fmt.Errorf("store: shard %d: gc points: %w", shard, err)
	case v == nil:
		return GCPoints{}, nil
	case len(v) != gcPointsLen:
		return GCPoints{}, fmt.Errorf("%w: shard %d: gc points of %d bytes, want %d", ErrCorrupt, shard, len(v), gcPointsLen)
	}
	return GCPoints{binary.BigEndian.Uint64(v), binary.BigEndian.Uint64(v[8:])}, nil
}

func txnKey(shard uint32, primary []byte, startTS uint64) []byte {
	return binary.BigEndian.AppendUint64(keyedPrefix(tagTxn, shard, primary), startTS)
}

// PutTxn writes the record of the transaction (primary, startTS).
func (b *Batch) PutTxn(shard uint32, primary []byte, startTS uint64, rec []byte) {
	b.set(txnKey(shard, primary, startTS), rec)
}

// DeleteTxn removes the record of the transaction (primary, startTS).
func (b *Batch) DeleteTxn(shard uint32, primary []byte, startTS uint64) {
	b.delete(txnKey(shard, primary, startTS))
}

// Locks calls visit with every lock record of the shard, in key order.
func (s *Store) Locks(shard uint32, visit func(key, lock []byte) error) error {
	return s.walkKeyed(shard, tagLock, "locks", func(k, v []byte) error {
		key, ok := unescape(k)
		if !ok {
			return fmt.Errorf("%w: a lock of a badly escaped key", ErrCorrupt)
		}
		return visit(key, v)
	})
}

// Txns calls visit with every transaction record of the shard, in key
// order.
func (s *Store) Txns(shard uint32, visit func(primary []byte, startTS uint64, rec []byte) error) error {
	return s.walkKeyed(shard, tagTxn, "transaction records", func(k, v []byte) error {
		if len(k) < tsLen {
			return fmt.Errorf("%w: a transaction record key of %d bytes", ErrCorrupt, len(k))
		}
		primary, ok := unescape(k[:len(k)-tsLen])
		if !ok {
			return fmt.Errorf("%w: a transaction record of a badly escaped key", ErrCorrupt)
		}
		return visit(primary, binary.BigEndian.Uint64(k[len(k)-tsLen:]), v)
	})
}

// walkKeyed calls visit with each record of tag in shard: its key after
// the tag and shard, and its value, both copied.
func (s *Store) walkKeyed(shard uint32, tag byte, what string, visit func(k, v []byte) error) error {
	lower := shardKey(tag, shard)
	it, err := s.iter(lower, prefixEnd(lower))
	if err != nil {
		return fmt.Errorf("store: shard %d: %s: %w", shard, what, err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		k := append([]byte(nil), it.Key()[shardPrefixLen:]...)
		if err := visit(k, append([]byte(nil), it.Value()...)); err != nil {
			return closeIter(it, fmt.Errorf("store: shard %d: %s: %w", shard, what, err))
		}
	}
	return wrap(closeIter(it, it.Error()), "store: shard %d: %s", shard, what)
}

// unescape reverses appendEscaped: e must be exactly one escaped key.
func unescape(e []byte) ([]byte, bool) {
	out := make([]byte, 0, len(e))
	for i := 0; i < len(e); i++ {
		if e[i] != 0x00 {
			out = append(out, e[i])
			continue
		}
		if i+1 >= len(e) {
			return nil, false
		}
		switch e[i+1] {
		case 0xFF:
			out = append(out, 0x00)
			i++
		case 0x01:
			return out, i+2 == len(e)
		default:
			return nil, false
		}
	}
	return nil, false
}
