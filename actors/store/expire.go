package store

import (
	"bytes"
	"fmt"

	"castkv/actors/wire"
)

// ExpiredKey is a key whose version had expired, as ExpiredKeys found it:
// what a write deleting it names as the version it replaces.
type ExpiredKey struct {
	Key   []byte
	TS    uint64 // the version's timestamp
	Bytes uint64 // its value's length
}

// ExpiredKeys walks the shard's data in key order from just after the key
// after (nil: from the first key), looking at no more than limit keys, and
// returns those whose newest version had expired at ts, how many of the
// keys it looked at have an expiry at all, and the key to go on after
// (nil: the walk reached the end). The data role reclaims expired
// keys this way, a bounded step at a time, as Redis's active expiry cycle
// samples keys: expiry itself needs no walk, since every read judges it at
// its own timestamp.
func (s *Store) ExpiredKeys(shard uint32, after []byte, limit int, ts, flushed uint64) (expired []ExpiredKey, expiring int, next []byte, err error) {
	lower := shardKey(tagData, shard)
	upper := prefixEnd(lower)
	if after != nil {
		lower = prefixEnd(keyedPrefix(tagData, shard, after))
	}
	it, err := s.iter(lower, upper)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("store: shard %d: walk for expired keys: %w", shard, err)
	}
	defer func() { err = closeIter(it, err) }()
	var escaped []byte
	seen := 0
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if len(k) < shardPrefixLen+2+tsLen {
			return nil, 0, nil, fmt.Errorf("store: shard %d: walk for expired keys: %w: key %x", shard, ErrCorrupt, k)
		}
		user := k[shardPrefixLen : len(k)-tsLen]
		if escaped != nil && bytes.Equal(user, escaped) {
			continue // an older version: the newest decides
		}
		if seen == limit {
			return expired, expiring, next, nil
		}
		seen++
		escaped = append(escaped[:0], user...)
		key, ok := unescape(user)
		if !ok {
			return nil, 0, nil, fmt.Errorf("store: shard %d: walk for expired keys: %w: key %x", shard, ErrCorrupt, k)
		}
		next = key
		v, expireMs, tombstone, err := decodeVersion(it.Value())
		if err != nil {
			return nil, 0, nil, fmt.Errorf("store: shard %d: walk for expired keys: key %q: %w", shard, key, err)
		}
		if expireMs != 0 {
			expiring++
		}
		if tombstone || dataKeyTS(k) <= flushed || !wire.Expired(expireMs, ts) {
			continue
		}
		expired = append(expired, ExpiredKey{Key: key, TS: dataKeyTS(k), Bytes: uint64(len(v))})
	}
	return expired, expiring, nil, wrap(it.Error(), "store: shard %d: walk for expired keys", shard)
}
