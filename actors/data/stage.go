package data

import (
	"time"

	"castkv/actors/wire"
)

// stageCache holds values an API server sent ahead of their Commit. It is
// bounded by count and bytes (oldest evicted first) and entries expire after
// ttl; a missing value only costs a resend with the value inline.
type stageCache struct {
	maxValues, maxBytes int
	ttl                 time.Duration

	byOp  map[opKey]*stagedOp
	order []opKey // insertion order, for eviction and expiry
	bytes int
	count int
}

type opKey struct{ incarnation, counter uint64 }

type stagedOp struct {
	values  [][]byte
	expires time.Time
	bytes   int
}

func keyOf(op *wire.OpID) opKey {
	if op == nil {
		return opKey{}
	}
	return opKey{op.Incarnation, op.Counter}
}

func newStageCache(maxValues, maxBytes int, ttl time.Duration) *stageCache {
	return &stageCache{maxValues: maxValues, maxBytes: maxBytes, ttl: ttl, byOp: map[opKey]*stagedOp{}}
}

// put holds op's values; false when they are too large to hold (the
// primary then needs them inline, and says so).
func (c *stageCache) put(now time.Time, op *wire.OpID, values [][]byte) bool {
	k := keyOf(op)
	if _, dup := c.byOp[k]; dup {
		return true
	}
	so := &stagedOp{values: values, expires: now.Add(c.ttl)}
	for _, v := range values {
		so.bytes += len(v)
	}
	if so.bytes > c.maxBytes || len(values) > c.maxValues {
		return false
	}
	for len(c.order) > 0 && (c.bytes+so.bytes > c.maxBytes || c.count+len(values) > c.maxValues) {
		c.evictOldest()
	}
	c.byOp[k] = so
	c.order = append(c.order, k)
	c.bytes += so.bytes
	c.count += len(values)
	return true
}

// find returns the staged value of op whose digest is d.
func (c *stageCache) find(op *wire.OpID, d uint64) ([]byte, bool) {
	so := c.byOp[keyOf(op)]
	if so == nil {
		return nil, false
	}
	for _, v := range so.values {
		if wire.Digest(v) == d {
			return v, true
		}
	}
	return nil, false
}

// drop forgets op's values once its entry holds them: a large value is not
// kept twice in memory for the rest of its TTL. A later need (a Prepare
// resent after a truncation, a retry at another primary) asks for the
// value inline, as for an expired one.
func (c *stageCache) drop(op *wire.OpID) {
	k := keyOf(op)
	if so := c.byOp[k]; so != nil {
		c.bytes -= so.bytes
		c.count -= len(so.values)
		delete(c.byOp, k) // its key stays in order; evictOldest skips it
	}
}

func (c *stageCache) expire(now time.Time) {
	for len(c.order) > 0 {
		so := c.byOp[c.order[0]]
		if so != nil && now.Before(so.expires) {
			return
		}
		c.evictOldest()
	}
}

func (c *stageCache) evictOldest() {
	k := c.order[0]
	c.order = c.order[1:]
	if so := c.byOp[k]; so != nil {
		c.bytes -= so.bytes
		c.count -= len(so.values)
		delete(c.byOp, k)
	}
}
