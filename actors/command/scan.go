package command

import (
	"math"
	"strconv"

	"castkv/actors/wire"
)

// Iteration: SCAN and KEYS, with Redis 7's options, replies and errors
// (db.c scanGenericCommand, util.c stringmatchlen).
//
// A SCAN cursor is a place in one order of the whole keyspace, the same on
// every shard: by hash slot, then by a hash of the key within its slot
// (store.ScanCursor). A call scans the shard that holds the cursor's slot
// from there, and answers the keys it found and the cursor after them; a
// split or a failover between calls changes which shard holds the next
// keys, not which keys come next. So every key present for the whole scan
// is returned at least once, as Redis promises; keys written meanwhile
// may or may not be.

// The options of a Scan, in its Ints: the cursor (a uint64 as int64), the
// COUNT, and the TYPE filter.
const (
	scanCursor = iota
	scanCount
	scanType
	scanInts
)

// The TYPE filters: none, "string" (every castkv key), or another type
// (no castkv key).
const (
	scanAnyType = iota
	scanStrings
	scanNoType
)

// MaxKeysReply bounds the keys KEYS answers with: a larger keyspace must
// be walked with SCAN, which Redis's documentation advises anyway.
const MaxKeysReply = 1_000_000

// parseScan reads SCAN cursor [MATCH pattern] [COUNT count] [TYPE type];
// c.Keys is empty.
func parseScan(c *Command, args [][]byte) *wire.Reply {
	cursor, err := strconv.ParseUint(string(args[1]), 10, 64)
	if err != nil {
		return Error("ERR invalid cursor")
	}
	c.Ints = []int64{scanCursor: int64(cursor), scanCount: 10, scanType: scanAnyType}
	for i := 2; i < len(args); i += 2 {
		if i+1 >= len(args) {
			return Error(syntaxError)
		}
		opt, arg := args[i], args[i+1]
		switch {
		case equalFold(opt, "count"):
			n, ok := parseInt(arg)
			switch {
			case !ok:
				return Error(notInteger)
			case n < 1:
				return Error(syntaxError)
			}
			c.Ints[scanCount] = n
		case equalFold(opt, "match"):
			c.Values = [][]byte{arg}
		case equalFold(opt, "type"):
			c.Ints[scanType] = scanNoType
			if equalFold(arg, "string") {
				c.Ints[scanType] = scanStrings
			}
		default:
			return Error(syntaxError)
		}
	}
	return nil
}

// ScanFrom is where a SCAN starts: its cursor.
func (c *Command) ScanFrom() uint64 { return uint64(c.Ints[scanCursor]) }

// ScanCount is a SCAN's COUNT: about how many keys to look at.
func (c *Command) ScanCount() int { return int(min(c.Ints[scanCount], math.MaxInt32)) }

// ScanWants reports whether a SCAN or KEYS answers with key: it matches
// the pattern and the type.
func (c *Command) ScanWants(key []byte) bool {
	if c.Kind == Scan && c.Ints[scanType] == scanNoType {
		return false
	}
	// Like Redis, a pattern of "*" alone takes every key, even "", which
	// stringmatchlen would not match.
	return len(c.Values) == 0 || string(c.Values[0]) == "*" || Match(c.Values[0], key, false)
}

// ScanReply is SCAN's reply: the next cursor, then the keys.
func ScanReply(next uint64, keys [][]byte) *wire.Reply {
	elems := make([]*wire.Reply, len(keys))
	for i, k := range keys {
		elems[i] = Bulk(k)
	}
	return Array(Bulk(strconv.AppendUint(nil, next, 10)), Array(elems...))
}

// Match is Redis's glob-style stringmatchlen (util.c): *, ?, [set], [^set],
// [a-z] and \ escapes, optionally ignoring ASCII case. Like Redis it stops
// trying longer matches for an earlier * once a later one failed
// everywhere, which keeps patterns with many stars polynomial.
func Match(pattern, str []byte, nocase bool) bool {
	skipLonger := false
	return match(pattern, str, nocase, &skipLonger, 0)
}

func match(p, s []byte, nocase bool, skipLonger *bool, nesting int) bool {
	if nesting > 1000 {
		return false // Redis's guard against abusive patterns
	}
	lower := func(b byte) byte {
		if nocase && 'A' <= b && b <= 'Z' {
			return b + 'a' - 'A'
		}
		return b
	}
	for len(p) > 0 && len(s) > 0 {
		switch p[0] {
		case '*':
			for len(p) > 1 && p[1] == '*' {
				p = p[1:]
			}
			if len(p) == 1 {
				return true
			}
			for len(s) > 0 {
				if match(p[1:], s, nocase, skipLonger, nesting+1) {
					return true
				}
				if *skipLonger {
					return false
				}
				s = s[1:]
			}
			*skipLonger = true
			return false
		case '?':
			p, s = p[1:], s[1:]
		case '[':
			p = p[1:]
			not := len(p) > 0 && p[0] == '^'
			if not {
				p = p[1:]
			}
			match := false
		set:
			for {
				switch {
				case len(p) >= 2 && p[0] == '\\':
					if p[1] == s[0] {
						match = true
					}
					p = p[2:]
				case len(p) > 0 && p[0] == ']':
					p = p[1:]
					break set
				case len(p) == 0:
					break set // an unclosed set ends the pattern
				case len(p) >= 3 && p[1] == '-':
					lo, hi, c := lower(p[0]), lower(p[2]), lower(s[0])
					if lo > hi {
						lo, hi = hi, lo
					}
					if lo <= c && c <= hi {
						match = true
					}
					p = p[3:]
				default:
					if lower(p[0]) == lower(s[0]) {
						match = true
					}
					p = p[1:]
				}
			}
			if match == not {
				return false
			}
			s = s[1:]
		default:
			if p[0] == '\\' && len(p) >= 2 {
				p = p[1:]
			}
			if lower(p[0]) != lower(s[0]) {
				return false
			}
			p, s = p[1:], s[1:]
		}
		if len(s) == 0 {
			for len(p) > 0 && p[0] == '*' {
				p = p[1:]
			}
			break
		}
	}
	return len(p) == 0 && len(s) == 0
}
