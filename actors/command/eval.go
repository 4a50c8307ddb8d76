package command

import (
	"fmt"

	"castkv/actors/wire"
)

// Reader reads committed values, one key at a time.
type Reader interface {
	Get(key []byte) (Value, error)
}

// Value is what a Reader found of a key: absent, or its bytes and when it
// expires. A reader reports an expired key as it finds it; Eval judges
// expiry, at the timestamp it evaluates at.
type Value struct {
	Bytes []byte
	// TS is the version's timestamp, which changes with every write of
	// the key (WATCH compares it).
	TS uint64
	// ExpireMs is when the key expires, in unix milliseconds of TSO time
	// (0: never); see wire.Expired.
	ExpireMs int64
	Found    bool
}

// Write is one key's effect: set Key to Value, expiring at ExpireMs (0:
// never), or delete Key.
type Write struct {
	Key, Value []byte
	Delete     bool
	ExpireMs   int64
}

// Eval evaluates c against r with Redis semantics at timestamp ts and
// returns the client's reply and the writes that make the command's
// effect, in order, one per effect: applying them in order to the state r
// read gives the state after the command. Reading is Eval's only use of r.
// An error means r failed; the command then has no effect and no reply. c
// must come from Parse.
//
// ts places the command in the order, and it is the command's clock: a
// key whose expiry is at or below ts's milliseconds is absent, and a
// relative expiry (EX, PX, EXPIRE) counts from them. Every replica and
// every read therefore agrees whether a key has expired at a given place
// in the order (wire.Expired).
//
// DBSIZE and FLUSHALL span every shard, so their caller evaluates them;
// Eval returns an error for them.
func Eval(c *Command, r Reader, ts uint64) (*wire.Reply, []Write, error) {
	if c.AllKeys() {
		return nil, nil, fmt.Errorf("command: eval %s: it spans the whole keyspace; the caller evaluates it", c.Name)
	}
	getv := func(key []byte) (Value, error) {
		v, err := r.Get(key)
		if err != nil {
			return Value{}, fmt.Errorf("command: eval %s: read key %q: %w", c.Name, key, err)
		}
		if !v.Found || wire.Expired(v.ExpireMs, ts) { // absent, or gone at ts
			return Value{}, nil
		}
		return v, nil
	}
	get := func(key []byte) ([]byte, bool, error) {
		v, err := getv(key)
		return v.Bytes, v.Found, err
	}
	switch c.Kind {
	case Get:
		old, found, err := get(c.Keys[0])
		if err != nil {
			return nil, nil, err
		}
		return bulkOrNil(old, found), nil, nil

	case Set:
		// Redis 7's setGenericCommand: with GET the reply is the old value
		// whether or not NX/XX let the write happen.
		key, value := c.Keys[0], c.Values[0]
		var old Value
		if c.NX || c.XX || c.Get || c.TTL.Kind == TTLKeep { // a plain SET does not depend on the key
			var err error
			if old, err = getv(key); err != nil {
				return nil, nil, err
			}
		}
		expire, bad := expiry(c, ts, old)
		if bad != nil {
			return bad, nil, nil
		}
		met := !(c.NX && old.Found) && !(c.XX && !old.Found)
		var writes []Write
		if met {
			writes = []Write{setExpiring(key, value, expire, ts)}
		}
		switch {
		case c.Get:
			return bulkOrNil(old.Bytes, old.Found), writes, nil
		case met:
			return OK(), writes, nil
		default:
			return Nil(), nil, nil
		}

	case SetNX, SetXX:
		key, value := c.Keys[0], c.Values[0]
		_, found, err := get(key)
		if err != nil {
			return nil, nil, err
		}
		if found != (c.Kind == SetXX) {
			return Int(0), nil, nil
		}
		return Int(1), []Write{{Key: key, Value: value}}, nil

	case GetSet:
		key, value := c.Keys[0], c.Values[0]
		old, found, err := get(key)
		if err != nil {
			return nil, nil, err
		}
		return bulkOrNil(old, found), []Write{{Key: key, Value: value}}, nil

	case MGet:
		elems := make([]*wire.Reply, 0, len(c.Keys))
		for _, key := range c.Keys {
			value, found, err := get(key)
			if err != nil {
				return nil, nil, err
			}
			elems = append(elems, bulkOrNil(value, found))
		}
		return Array(elems...), nil, nil

	case MSet:
		// A key named twice is written twice; the later value wins when
		// the writes are applied in order, as in Redis.
		writes := make([]Write, 0, len(c.Keys))
		for i, key := range c.Keys {
			writes = append(writes, Write{Key: key, Value: c.Values[i]})
		}
		return OK(), writes, nil

	case MSetNX:
		// Nothing is written if any key exists; else as MSET.
		for _, key := range c.Keys {
			_, found, err := get(key)
			if err != nil {
				return nil, nil, err
			}
			if found {
				return Int(0), nil, nil
			}
		}
		writes := make([]Write, 0, len(c.Keys))
		for i, key := range c.Keys {
			writes = append(writes, Write{Key: key, Value: c.Values[i]})
		}
		return Int(1), writes, nil

	case Exists:
		// A key named twice counts twice, as in Redis.
		var n int64
		for _, key := range c.Keys {
			_, found, err := get(key)
			if err != nil {
				return nil, nil, err
			}
			if found {
				n++
			}
		}
		return Int(n), nil, nil

	case IncrBy, IncrByFloat, Append, StrLen, GetDel, GetRange, SetRange, Type:
		old, err := getv(c.Keys[0])
		if err != nil {
			return nil, nil, err
		}
		return evalString(c, old)

	case Expire, Persist, GetEx, TTLOf:
		old, err := getv(c.Keys[0])
		if err != nil {
			return nil, nil, err
		}
		return evalTTL(c, old, ts)

	case Multi:
		return evalMulti(c, r, ts)

	case Scan:
		return Error("ERR SCAN cannot run inside MULTI"), nil, nil

	case Rename, Copy:
		return evalRename(c, getv)

	case Watch:
		elems := []*wire.Reply{Int(int64(ts))}
		for _, key := range c.Keys {
			v, err := getv(key)
			if err != nil {
				return nil, nil, err
			}
			elems = append(elems, Int(int64(v.TS)))
		}
		return Array(elems...), nil, nil

	case Del:
		// A key named twice is deleted, and counted, once: Redis deletes
		// in argument order, so the second naming finds it gone.
		var n int64
		var writes []Write
		seen := make(map[string]bool, len(c.Keys))
		for _, key := range c.Keys {
			if seen[string(key)] {
				continue
			}
			seen[string(key)] = true
			_, found, err := get(key)
			if err != nil {
				return nil, nil, err
			}
			if found {
				n++
				writes = append(writes, Write{Key: key, Delete: true})
			}
		}
		return Int(n), writes, nil
	}
	return nil, nil, fmt.Errorf("command: eval %q: unknown kind %v", c.Name, c.Kind)
}

func bulkOrNil(value []byte, found bool) *wire.Reply {
	if !found {
		return Nil()
	}
	return Bulk(value)
}

// evalMulti runs a block's commands in order against r, each reading what
// those before it wrote, and replies with the array of their replies. A
// command that fails (an INCR of a string) has its error in its place and
// the others still run, as in Redis.
//
// The entry keeps one write per key, its last: a block of APPENDs to one
// key makes one value, not every value on the way. The bytes the block's
// commands make along the way are bounded by MaxValueBytes, so that
// neither the primary's memory nor the entry (one message between
// servers) can be made to grow beyond what a client could send: 1,024
// SETRANGEs at a 60 MiB offset are refused, not evaluated.
//
// A block whose client WATCHed keys runs only if each still has the
// version WATCH saw (an expired key counts as absent, as in Redis 7);
// else its reply is nil and it writes nothing, as Redis's EXEC.
func evalMulti(c *Command, r Reader, ts uint64) (*wire.Reply, []Write, error) {
	if w := c.Watch; w != nil {
		for i, key := range w.Keys {
			v, err := r.Get(key)
			if err != nil {
				return nil, nil, fmt.Errorf("command: eval %s: read watched key %q: %w", c.Name, key, err)
			}
			if !v.Found || wire.Expired(v.ExpireMs, ts) {
				v.TS = 0
			}
			if v.TS != w.Versions[i] {
				return Nil(), nil, nil
			}
		}
	}
	ov := &overlay{r: r, m: map[string]Value{}}
	var order []string // keys in the order first written
	made := 0
	replies := make([]*wire.Reply, 0, len(c.Sub))
	for _, s := range c.Sub {
		reply, w, err := Eval(s, ov, ts)
		if err != nil {
			return nil, nil, err
		}
		for _, x := range w {
			if made += len(x.Value); made > MaxValueBytes {
				return Error(fmt.Sprintf("ERR the MULTI block makes more than %d bytes of values; nothing of it was applied", MaxValueBytes)), nil, nil
			}
			if _, ok := ov.m[string(x.Key)]; !ok {
				order = append(order, string(x.Key))
			}
			ov.m[string(x.Key)] = Value{Bytes: x.Value, TS: ts, ExpireMs: x.ExpireMs, Found: !x.Delete}
		}
		replies = append(replies, reply)
	}
	writes := make([]Write, 0, len(order))
	for _, k := range order {
		v := ov.m[k]
		writes = append(writes, Write{Key: []byte(k), Value: v.Bytes, Delete: !v.Found, ExpireMs: v.ExpireMs})
	}
	return Array(replies...), writes, nil
}

// overlay is r with a block's writes so far on top.
type overlay struct {
	r Reader
	m map[string]Value
}

func (o *overlay) Get(key []byte) (Value, error) {
	if v, ok := o.m[string(key)]; ok {
		return v, nil
	}
	return o.r.Get(key)
}
