package store

import (
	"encoding/binary"
	"fmt"
)

// The store's format: what records a data directory's writer kept. A
// directory written before an index existed lacks it, and code reading it
// would miss what only the index finds (SCAN and KEYS, every key written
// before the scan index came). Upgrade builds what is missing, once, when
// a process opens the directory.
//
//	'm' "format" -> u64, the format the directory's records follow
//
// Format 1: the scan index ('S', scan.go). A directory without the record
// is format 0; one that has no data at all takes the current format as is.
const (
	formatMeta    = "format"
	CurrentFormat = 1
)

// Format reads the directory's format (0: none recorded).
func (s *Store) Format() (uint64, error) {
	v, ok, err := s.getUint64(metaKey(formatMeta))
	if err != nil || !ok {
		return 0, err
	}
	return v, nil
}

// Upgrade brings a directory's records to CurrentFormat, before any role
// uses it, and returns how many scan index entries it added. It rebuilds
// the scan index from the data of every shard, one batch per shard, and
// records the format once it is done: interrupted, it starts again at the
// next open, and adding an entry that is there already changes nothing.
func (s *Store) Upgrade() (added int, err error) {
	format, err := s.Format()
	if err != nil || format >= CurrentFormat {
		return 0, err
	}
	it, err := s.iter([]byte{tagData}, []byte{tagData + 1})
	if err != nil {
		return 0, fmt.Errorf("store: upgrade: %w", err)
	}
	b := s.NewBatch()
	var last []byte // the escaped key and shard of the last version seen
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if len(k) < shardPrefixLen+2+tsLen {
			b.Close()
			return added, closeIter(it, fmt.Errorf("store: upgrade: %w: key %x", ErrCorrupt, k))
		}
		user := k[:len(k)-tsLen]
		if last != nil && string(user) == string(last) {
			continue // an older version: the newest decides
		}
		last = append(last[:0], user...)
		_, _, tombstone, err := decodeVersion(it.Value())
		if err != nil {
			b.Close()
			return added, closeIter(it, fmt.Errorf("store: upgrade: key %x: %w", k, err))
		}
		if tombstone {
			continue
		}
		key, ok := unescape(user[shardPrefixLen:])
		if !ok {
			b.Close()
			return added, closeIter(it, fmt.Errorf("store: upgrade: %w: key %x", ErrCorrupt, k))
		}
		b.set(scanKey(binary.BigEndian.Uint32(k[1:shardPrefixLen]), key), nil)
		if added++; added%upgradeBatchKeys == 0 {
			if err := s.WriteSync(b); err != nil {
				return added, closeIter(it, fmt.Errorf("store: upgrade: write the scan index: %w", err))
			}
			b = s.NewBatch()
		}
	}
	if err := closeIter(it, it.Error()); err != nil {
		b.Close()
		return added, fmt.Errorf("store: upgrade: %w", err)
	}
	b.set(metaKey(formatMeta), binary.BigEndian.AppendUint64(nil, CurrentFormat))
	if err := s.WriteSync(b); err != nil {
		return added, fmt.Errorf("store: upgrade: write the scan index: %w", err)
	}
	return added, nil
}

// upgradeBatchKeys bounds one batch of Upgrade's index entries.
const upgradeBatchKeys = 10_000
