package command

import (
	"fmt"
	"math"

	"castkv/actors/wire"
)

// Expiry, with Redis 7.2's replies and errors (expire.c, t_string.c): SET's
// EX, PX, EXAT, PXAT and KEEPTTL, SETEX, PSETEX, GETEX, EXPIRE, PEXPIRE,
// EXPIREAT and PEXPIREAT (with NX, XX, GT and LT), PERSIST, TTL, PTTL,
// EXPIRETIME and PEXPIRETIME.
//
// Time is the timestamp a command is evaluated at (Eval's ts): a write's
// commit timestamp at the shard's primary, a read's timestamp from the TSO.
// The expiry instant is fixed when the write is ordered, as unix
// milliseconds of TSO time, and travels in the write to every replica;
// whether a key has expired is decided by a timestamp's place in the
// order, so every replica and every read agrees. No replica deletes a key
// on its own clock: the shard's primary reclaims expired keys by ordinary
// writes in its log (actors/data).

// invalidExpire is Redis's addReplyErrorExpireTime.
func invalidExpire(name string) *wire.Reply {
	return Error("ERR invalid expire time in '" + name + "' command")
}

// parseTTLArg reads the time argument of an expiry option: EX or PX
// (relative), EXAT or PXAT (absolute), in seconds when seconds is set, as
// Redis 7.2's getExpireMillisecondsOrReply does before it adds the time.
// SET, SETEX and GETEX refuse a time that is not positive.
func parseTTLArg(arg []byte, name string, kind TTLKind, seconds bool) (TTL, *wire.Reply) {
	n, ok := parseInt(arg)
	switch {
	case !ok:
		return TTL{}, Error(notInteger)
	case n <= 0, seconds && n > math.MaxInt64/1000:
		return TTL{}, invalidExpire(name)
	}
	if seconds {
		n *= 1000
	}
	return TTL{Kind: kind, Ms: n}, nil
}

// parseExpire reads EXPIRE, PEXPIRE, EXPIREAT and PEXPIREAT: the options
// first, then the time, which may be negative (the key is then deleted),
// as Redis's expireGenericCommand does.
func parseExpire(c *Command, args [][]byte) *wire.Reply {
	for _, opt := range args[3:] {
		switch {
		case equalFold(opt, "nx"):
			c.NX = true
		case equalFold(opt, "xx"):
			c.XX = true
		case equalFold(opt, "gt"):
			c.GT = true
		case equalFold(opt, "lt"):
			c.LT = true
		default:
			return Error("ERR Unsupported option " + string(cString(opt)))
		}
	}
	if c.NX && (c.XX || c.GT || c.LT) {
		return Error("ERR NX and XX, GT or LT options at the same time are not compatible")
	}
	if c.GT && c.LT {
		return Error("ERR GT and LT options at the same time are not compatible")
	}
	n, ok := parseInt(args[2])
	if !ok {
		return Error(notInteger)
	}
	if c.Name == "expire" || c.Name == "expireat" {
		if n > math.MaxInt64/1000 || n < math.MinInt64/1000 {
			return invalidExpire(c.Name)
		}
		n *= 1000
	}
	c.TTL = TTL{Kind: TTLIn, Ms: n}
	if c.Name == "expireat" || c.Name == "pexpireat" {
		c.TTL.Kind = TTLAt
	}
	return nil
}

// validTTL reports whether a command received from another server has an
// expiry Parse could have given it.
func validTTL(c *Command) bool {
	t := c.TTL
	if c.Kind != Expire && (c.GT || c.LT) || c.GT && c.LT || c.Kind == Expire && c.NX && (c.XX || c.GT || c.LT) {
		return false
	}
	switch c.Kind {
	case Set:
		return t.Kind == TTLNone && t.Ms == 0 || t.Kind == TTLKeep && t.Ms == 0 || (t.Kind == TTLIn || t.Kind == TTLAt) && t.Ms > 0
	case GetEx:
		return (t.Kind == TTLNone || t.Kind == TTLPersist) && t.Ms == 0 || (t.Kind == TTLIn || t.Kind == TTLAt) && t.Ms > 0
	case Expire:
		return t.Kind == TTLIn || t.Kind == TTLAt
	}
	return t == TTL{}
}

// expireAt is when c's TTL, counted from ts, ends (unix ms), or Redis's
// error for a time that overflows.
func expireAt(c *Command, ts uint64) (int64, *wire.Reply) {
	now := wire.TSMillis(ts)
	switch c.TTL.Kind {
	case TTLIn:
		if c.TTL.Ms > math.MaxInt64-now {
			return 0, invalidExpire(c.Name)
		}
		return now + c.TTL.Ms, nil
	case TTLAt:
		return c.TTL.Ms, nil
	}
	return 0, nil
}

// expiry is the expiry a SET (or SETEX, PSETEX) gives its key: none, its
// TTL from ts, or the old value's with KEEPTTL.
func expiry(c *Command, ts uint64, old Value) (int64, *wire.Reply) {
	if c.TTL.Kind == TTLKeep {
		return old.ExpireMs, nil
	}
	return expireAt(c, ts)
}

// setExpiring is the write setting key to value expiring at expire: a
// deletion when that is already past at ts (Redis deletes a key given an
// expiry in the past, SET EXAT included).
func setExpiring(key, value []byte, expire int64, ts uint64) Write {
	if wire.Expired(expire, ts) {
		return Write{Key: key, Delete: true}
	}
	return Write{Key: key, Value: value, ExpireMs: expire}
}

// evalTTL evaluates EXPIRE and its kin, PERSIST, GETEX and TTL and its
// kin on the key's value at ts, v.
func evalTTL(c *Command, v Value, ts uint64) (*wire.Reply, []Write, error) {
	key := c.Keys[0]
	now := wire.TSMillis(ts)
	switch c.Kind {
	case Expire:
		when, bad := expireAt(c, ts)
		if bad != nil {
			return bad, nil, nil
		}
		cur := v.ExpireMs // 0: none, an infinite TTL to GT and LT
		switch {
		case !v.Found,
			c.NX && cur != 0,
			c.XX && cur == 0,
			c.GT && (cur == 0 || when <= cur),
			c.LT && cur != 0 && when >= cur:
			return Int(0), nil, nil
		case when <= now:
			return Int(1), []Write{{Key: key, Delete: true}}, nil
		}
		return Int(1), []Write{{Key: key, Value: v.Bytes, ExpireMs: when}}, nil

	case Persist:
		if !v.Found || v.ExpireMs == 0 {
			return Int(0), nil, nil
		}
		return Int(1), []Write{{Key: key, Value: v.Bytes}}, nil

	case GetEx:
		if !v.Found {
			return Nil(), nil, nil
		}
		switch c.TTL.Kind {
		case TTLNone:
			return Bulk(v.Bytes), nil, nil
		case TTLPersist:
			if v.ExpireMs == 0 {
				return Bulk(v.Bytes), nil, nil
			}
			return Bulk(v.Bytes), []Write{{Key: key, Value: v.Bytes}}, nil
		}
		when, bad := expireAt(c, ts)
		if bad != nil {
			return bad, nil, nil
		}
		return Bulk(v.Bytes), []Write{setExpiring(key, v.Bytes, when, ts)}, nil

	case TTLOf:
		// Redis's ttlGenericCommand: -2 absent, -1 no expiry, else the
		// time left (or the instant), rounded to the nearest second for
		// TTL and EXPIRETIME.
		switch {
		case !v.Found:
			return Int(-2), nil, nil
		case v.ExpireMs == 0:
			return Int(-1), nil, nil
		}
		ms := v.ExpireMs
		if c.Name == "ttl" || c.Name == "pttl" {
			ms = max(ms-now, 0)
		}
		if c.Name == "ttl" || c.Name == "expiretime" {
			return Int((ms + 500) / 1000), nil, nil
		}
		return Int(ms), nil, nil
	}
	return nil, nil, fmt.Errorf("command: eval %q: not an expiry command: %v", c.Name, c.Kind)
}
