package command

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"

	"castkv/actors/wire"
)

// The string commands of one key beyond GET and SET, with Redis 7's
// replies and errors (t_string.c): INCR, DECR, INCRBY, DECRBY, INCRBYFLOAT,
// APPEND, STRLEN, GETDEL, GETRANGE (and its old name SUBSTR), SETRANGE and
// TYPE. Each is evaluated where writes are ordered (the shard's primary),
// against the sequenced value, so a read-modify-write like INCR is one step
// of the shard's log: every replica applies the value it produced.

const (
	notInteger   = "ERR value is not an integer or out of range"
	notFloat     = "ERR value is not a valid float"
	incrOverflow = "ERR increment or decrement would overflow"
	decrOverflow = "ERR decrement would overflow"
	incrNaN      = "ERR increment would produce NaN or Infinity"
	offsetRange  = "ERR offset is out of range"
	tooLong      = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
)

// MaxValueBytes is the largest value APPEND and SETRANGE may make: the
// largest a client may send by default (the RESP port's MaxValueBytes).
// A value the cluster makes travels inside its log entry, which must fit
// one message between servers.
const MaxValueBytes = 64 << 20

// parseStringArgs reads the arguments of the string commands after the
// key; c.Keys is set.
func parseStringArgs(c *Command, args [][]byte) *wire.Reply {
	switch c.Name {
	case "incr":
		c.Ints = []int64{1}
	case "decr":
		c.Ints = []int64{-1}
	case "incrby", "decrby":
		n, ok := parseInt(args[2])
		switch {
		case !ok:
			return Error(notInteger)
		case c.Name == "decrby" && n == math.MinInt64:
			return Error(decrOverflow)
		case c.Name == "decrby":
			n = -n
		}
		c.Ints = []int64{n}
	case "incrbyfloat":
		if _, ok := parseLongDouble(args[2]); !ok {
			return Error(notFloat)
		}
		c.Incr = args[2]
	case "append":
		c.Values = args[2:3:3]
	case "getrange", "substr":
		start, ok1 := parseInt(args[2])
		end, ok2 := parseInt(args[3])
		if !ok1 || !ok2 {
			return Error(notInteger)
		}
		c.Ints = []int64{start, end}
	case "setrange":
		off, ok := parseInt(args[2])
		switch {
		case !ok:
			return Error(notInteger)
		case off < 0:
			return Error(offsetRange)
		}
		c.Ints = []int64{off}
		c.Values = args[3:4:4]
	}
	return nil
}

// evalString evaluates the string commands on the key's value now, v. A
// command that changes the value keeps the key's expiry, as in Redis.
func evalString(c *Command, v Value) (*wire.Reply, []Write, error) {
	key := c.Keys[0]
	old, found := v.Bytes, v.Found
	set := func(b []byte) []Write { return []Write{{Key: key, Value: b, ExpireMs: v.ExpireMs}} }
	switch c.Kind {
	case IncrBy:
		cur := int64(0)
		if found {
			var ok bool
			if cur, ok = parseInt(old); !ok {
				return Error(notInteger), nil, nil
			}
		}
		step := c.Ints[0]
		if step < 0 && cur < 0 && step < math.MinInt64-cur || step > 0 && cur > 0 && step > math.MaxInt64-cur {
			return Error(incrOverflow), nil, nil
		}
		n := cur + step
		return Int(n), set(strconv.AppendInt(nil, n, 10)), nil

	case IncrByFloat:
		cur := new(big.Float).SetPrec(longDoublePrec)
		if found {
			var ok bool
			if cur, ok = parseLongDouble(old); !ok {
				return Error(notFloat), nil, nil
			}
		}
		incr, ok := parseLongDouble(c.Incr)
		if !ok {
			return Error(notFloat), nil, nil
		}
		if cur.IsInf() || incr.IsInf() {
			return Error(incrNaN), nil, nil // Inf, or Inf - Inf: NaN
		}
		sum := new(big.Float).SetPrec(longDoublePrec).Add(cur, incr)
		if exceedsLongDouble(sum) {
			return Error(incrNaN), nil, nil
		}
		v := formatLongDouble(sum)
		return Bulk(v), set(v), nil

	case Append:
		n := len(old) + len(c.Values[0])
		if n > MaxValueBytes {
			return Error(tooLong), nil, nil
		}
		v := make([]byte, 0, n)
		v = append(append(v, old...), c.Values[0]...)
		return Int(int64(n)), set(v), nil

	case StrLen:
		return Int(int64(len(old))), nil, nil

	case GetDel:
		if !found {
			return Nil(), nil, nil
		}
		return Bulk(old), []Write{{Key: key, Delete: true}}, nil

	case GetRange:
		return Bulk(getRange(old, c.Ints[0], c.Ints[1])), nil, nil

	case SetRange:
		off, value := c.Ints[0], c.Values[0]
		if len(value) == 0 {
			return Int(int64(len(old))), nil, nil // nothing to write, not even a new empty key
		}
		if off > MaxValueBytes-int64(len(value)) {
			return Error(tooLong), nil, nil
		}
		end := int(off) + len(value)
		v := make([]byte, max(len(old), end))
		copy(v, old)
		copy(v[off:], value)
		return Int(int64(len(v))), set(v), nil

	case Type:
		if !found {
			return Status("none"), nil, nil
		}
		return Status("string"), nil, nil
	}
	return nil, nil, fmt.Errorf("command: eval %q: not a string command: %v", c.Name, c.Kind)
}

// getRange is Redis 7's getrangeCommand: negative indexes count from the
// end, both ends are inclusive and clamped to the string.
func getRange(s []byte, start, end int64) []byte {
	n := int64(len(s))
	if start < 0 && end < 0 && start > end {
		return []byte{}
	}
	if start < 0 {
		start += n
	}
	if end < 0 {
		end += n
	}
	start, end = max(start, 0), max(end, 0)
	if end >= n {
		end = n - 1
	}
	if start > end || n == 0 {
		return []byte{}
	}
	return s[start : end+1]
}

// parseInt is Redis's string2ll: an optional '-', then digits with no
// leading zero (but "0" itself), nothing else, within int64.
func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	if len(b) == 1 && b[0] == '0' {
		return 0, true
	}
	neg := b[0] == '-'
	digits := b
	if neg {
		digits = b[1:]
	}
	if len(digits) == 0 || digits[0] < '1' || digits[0] > '9' {
		return 0, false
	}
	var v uint64
	for _, d := range digits {
		if d < '0' || d > '9' {
			return 0, false
		}
		if v > (math.MaxUint64-uint64(d-'0'))/10 {
			return 0, false
		}
		v = v*10 + uint64(d-'0')
	}
	switch {
	case neg && v <= 1<<63:
		return int64(-v), true // -(1<<63) wraps to itself, MinInt64
	case !neg && v <= math.MaxInt64:
		return int64(v), true
	}
	return 0, false
}

// Redis computes INCRBYFLOAT in C's long double, which on the x86-64
// machines it is built for has a 64-bit mantissa and exponents to ±16383.
// A big.Float of that precision, rounding to nearest even as the FPU does,
// gives the same sums, so `INCRBYFLOAT k -1.1` on "1" is "-0.1" here too
// (float64 would give -0.10000000000000009).
const (
	longDoublePrec   = 64
	longDoubleMaxExp = 16384
)

// parseLongDouble is Redis's string2ld (strtold with the whole string
// consumed, no leading space, no NaN, no overflow): a decimal or hex
// float with optional sign and exponent, or inf/infinity.
func parseLongDouble(b []byte) (*big.Float, bool) {
	s := string(b)
	if len(s) == 0 || len(s) >= 5*1024 || strings.ContainsAny(s, "_ \t\n\v\f\r") {
		return nil, false
	}
	f := new(big.Float).SetPrec(longDoublePrec).SetMode(big.ToNearestEven)
	unsigned := strings.TrimLeft(s, "+-")
	if len(s)-len(unsigned) > 1 {
		return nil, false
	}
	switch strings.ToLower(unsigned) {
	case "inf", "infinity":
		return f.SetInf(s[0] == '-'), true
	case "nan":
		return nil, false
	}
	if _, ok := f.SetString(s); !ok || exceedsLongDouble(f) {
		return nil, false
	}
	return f, true
}

func exceedsLongDouble(f *big.Float) bool {
	return f.IsInf() || f.MantExp(nil) > longDoubleMaxExp
}

// formatLongDouble is Redis's ld2string in human mode: "%.17Lf", then the
// trailing zeros and a bare '.' dropped, and "-0" written "0".
func formatLongDouble(f *big.Float) []byte {
	s := f.Text('f', 17)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(s, "0")
		s = strings.TrimSuffix(s, ".")
	}
	if s == "-0" {
		s = "0"
	}
	return []byte(s)
}
