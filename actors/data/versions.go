package data

// versionCache remembers, for keys a primary recently wrote or read, the
// version the committed state holds: its timestamp and whether it is live.
// A write names the version it replaces (wire.Write prev_ts, was_live), so
// without the cache every write of a key not in the overlay seeks pebble:
// 17% of castd dev's CPU under SET and 35% under MSET on a 100,000-key
// workload (castbench --profile), the largest single cost on the write
// path; with it, 2%.
//
// It is filled only from what the primary itself applies, in log order
// (replica.apply), and from its own reads of the committed state; a FLUSH
// empties it. It lives in primaryState: a replica that becomes primary
// starts with an empty one, and a config change while it stays primary
// keeps it (same log, same committed state).
//
// Its memory is bounded: two generations, each of at most maxBytes/2
// (a key's bytes plus versionCacheEntryBytes). When the current one is
// full it becomes the previous one and the older is dropped, so recently
// used keys stay, in a deterministic order and without a list per entry.
type versionCache struct {
	maxBytes  int
	cur, prev map[string]committedVersion
	curBytes  int
}

// versionCacheEntryBytes approximates a map entry's cost beside its key
// bytes: the string header, the value and the map's own overhead.
const versionCacheEntryBytes = 64

func newVersionCache(maxBytes int) *versionCache {
	return &versionCache{maxBytes: maxBytes, cur: map[string]committedVersion{}}
}

func (c *versionCache) get(key []byte) (committedVersion, bool) {
	if v, ok := c.cur[string(key)]; ok {
		return v, true
	}
	if v, ok := c.prev[string(key)]; ok {
		c.put(key, v) // keep it through the next rotation
		return v, true
	}
	return committedVersion{}, false
}

func (c *versionCache) put(key []byte, v committedVersion) {
	if c.maxBytes <= 0 {
		return
	}
	if old, ok := c.cur[string(key)]; ok {
		if old != v {
			c.cur[string(key)] = v
		}
		return
	}
	cost := len(key) + versionCacheEntryBytes
	if cost > c.maxBytes/8 {
		return // a huge key would rotate out everything else
	}
	if c.curBytes+cost > c.maxBytes/2 {
		c.prev, c.cur, c.curBytes = c.cur, map[string]committedVersion{}, 0
	}
	delete(c.prev, string(key)) // one generation holds a key at most
	c.cur[string(key)] = v
	c.curBytes += cost
}

// clear forgets every version: the committed state was flushed.
func (c *versionCache) clear() {
	c.cur, c.prev, c.curBytes = map[string]committedVersion{}, nil, 0
}
