package checker

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/anishathalye/porcupine"
)

// cmd is a command as the model knows it.
type cmd uint8

const (
	cmdGet cmd = iota
	cmdSet
	cmdSetNX
	cmdSetXX
	cmdGetSet
	cmdMGet
	cmdMSet
	cmdExists
	cmdDel
	cmdDBSize
	cmdFlush // flushall and flushdb: castkv has one database
	cmdIncrBy
	cmdPExpire
	cmdMSetNX
	cmdRename
	cmdExec
)

var commands = map[string]cmd{
	"get":      cmdGet,
	"set":      cmdSet,
	"setnx":    cmdSetNX,
	"setxx":    cmdSetXX,
	"getset":   cmdGetSet,
	"mget":     cmdMGet,
	"mset":     cmdMSet,
	"exists":   cmdExists,
	"del":      cmdDel,
	"dbsize":   cmdDBSize,
	"flushall": cmdFlush,
	"flushdb":  cmdFlush,
	"incrby":   cmdIncrBy,
	"pexpire":  cmdPExpire,
	"msetnx":   cmdMSetNX,
	"rename":   cmdRename,
	"exec":     cmdExec,
}

// global reports whether a command touches every key.
func (c cmd) global() bool { return c == cmdDBSize || c == cmdFlush }

// readOnly reports whether a command never changes the store.
func (c cmd) readOnly() bool {
	return c == cmdGet || c == cmdMGet || c == cmdExists || c == cmdDBSize
}

// absent is the value id of a key that does not exist.
const absent int32 = 0

// Integers are values too, but INCRBY makes values no op of the history
// wrote, so they cannot all be interned before the search. A value that is
// a canonical decimal integer (as Redis's string2ll reads one: no sign but
// '-', no leading zero) within ±2^30 gets an id of its own, negative, that
// encodes it: SET k "5" and an INCRBY that makes 5 write the same id, and
// the model adds to ids directly. Other values are interned, positive.
const intRange = 1 << 30

func intID(n int64) int32 { return int32(-1 - (n + intRange)) }

// intOfID reports the integer an id encodes, if it encodes one.
func intOfID(id int32) (int64, bool) {
	if id >= 0 {
		return 0, false
	}
	return -int64(id) - 1 - intRange, true
}

// smallInt reports whether v is a canonical integer the ids can encode.
func smallInt(v string) (int64, bool) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || strconv.FormatInt(n, 10) != v || n < -intRange || n >= intRange {
		return 0, false
	}
	return n, true
}

// canonicalInt reports whether v is an integer Redis's INCR accepts.
func canonicalInt(v string) bool {
	n, err := strconv.ParseInt(v, 10, 64)
	return err == nil && strconv.FormatInt(n, 10) == v
}

// value is the text of a value id, for descriptions.
func (n *names) value(id int32) string {
	if i, ok := intOfID(id); ok {
		return strconv.FormatInt(i, 10)
	}
	return (*n.values)[id]
}

// names turns a component's key indices and the history's value ids back
// into text for descriptions. It is read-only once Check has compiled the
// history.
type names struct {
	keys   []string  // by key index within the component
	values *[]string // by value id, shared by the whole history; [absent] unused
}

// call is the porcupine input: an Op compiled for its component. Keys are
// indices into the component's key table, values are ids (never absent).
type call struct {
	op      Op     // as recorded, or its part on onKey; for descriptions
	onKey   string // the key of a projection (project.go) this is part of
	index   int    // position in the history given to Check
	comp    int    // component, for partitioning
	names   *names
	cmd     cmd
	keys    []int32
	vals    []int32
	width   int // 1 + the largest key index, so a written state is long enough
	nx, xx  bool
	get     bool
	incr    int64 // incrby's step
	px      int64 // set's PX, pexpire's time: milliseconds
	unknown bool
	// anyCount: a DEL whose count is not checked, though it surely took
	// effect in its interval (see Op.anyCount).
	anyCount bool
	boundBy  int   // see prepared.boundBy
	ret      int64 // the return time checked with
	// subs is an exec's block, compiled as calls of the exec's component
	// (with its op, unknown and ret).
	subs []*call
}

// reply is the porcupine output: the recorded Output with values interned.
// A bulk value is a non-zero id and nil is absent, so "value or nil" is one
// comparison.
type reply struct {
	kind OutputKind
	n    int64
	val  int32
	vals []int32
	// items are an exec's replies, one per command of its block.
	items []reply
}

// isValue reports whether the reply is the bulk-or-nil reply for value id v.
func (r *reply) isValue(v int32) bool {
	return (r.kind == OutBulk || r.kind == OutNil) && r.val == v
}

func (r *reply) isInt(n int64) bool { return r.kind == OutInt && r.n == n }

// state is the store within one component, keys numbered densely. Values
// sit in chunks of chunkLen keys: a write copies the chunk pointers and one
// chunk, not every key, and states that share a chunk compare it by pointer.
// A nil chunk, or one past the end, holds absent keys only, so the initial
// state is empty. A state is never modified once a step has returned it.
// hash and size are kept by put, so Hash and DBSIZE cost O(1): porcupine
// hashes every state it reaches.
type state struct {
	names  *names // nil until the first write; only for descriptions
	chunks []*chunk
	hash   uint64 // XOR of entryHash over present keys and ttlHash over ttls
	size   int64  // present keys
	// ttls are the present keys with a time to live, by key: shared
	// between states, replaced (never changed) by setTTL and clearTTL.
	ttls []keyTTL
}

const chunkLen = 16

type chunk [chunkLen]int32

func (s *state) value(k int32) int32 {
	if i := int(k / chunkLen); i < len(s.chunks) && s.chunks[i] != nil {
		return s.chunks[i][k%chunkLen]
	}
	return absent
}

// copyFor returns a copy of s that the call may put into.
func (s *state) copyFor(c *call) *state {
	n := &state{
		names:  c.names,
		chunks: make([]*chunk, max(len(s.chunks), (c.width+chunkLen-1)/chunkLen)),
		hash:   s.hash,
		size:   s.size,
		ttls:   s.ttls,
	}
	copy(n.chunks, s.chunks)
	return n
}

// put sets key k to value id v (absent deletes), with no expiry, in a state
// fresh from copyFor. It copies the key's chunk, which may be shared, on
// every change; a call puts at most a few keys.
func (s *state) put(k, v int32) {
	s.clearTTL(k)
	old := s.value(k)
	if old == v {
		return
	}
	if old != absent {
		s.hash ^= entryHash(k, old)
		s.size--
	}
	if v != absent {
		s.hash ^= entryHash(k, v)
		s.size++
	}
	i := k / chunkLen
	ch := new(chunk)
	if s.chunks[i] != nil {
		*ch = *s.chunks[i]
	}
	ch[k%chunkLen] = v
	s.chunks[i] = ch
}

// entryHash is splitmix64's finalizer over the key and value ids.
func entryHash(k, v int32) uint64 {
	x := uint64(uint32(k))<<32 | uint64(uint32(v))
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// step is the sequential specification: whether the call could have
// replied r in state s, and the state after it. An unknown call accepts any
// reply and always takes its effect here; not taking effect is covered by
// linearizing it last, which its infinite return time allows.
func step(s *state, c *call, r *reply) (bool, *state) {
	switch c.cmd {
	case cmdGet:
		return c.unknown || r.isValue(s.value(c.keys[0])), s

	case cmdSet, cmdSetNX, cmdSetXX:
		k, v := c.keys[0], c.vals[0]
		old := s.value(k)
		nx := c.nx || c.cmd == cmdSetNX
		xx := c.xx || c.cmd == cmdSetXX
		write := !(nx && old != absent) && !(xx && old == absent)
		if !c.unknown {
			var ok bool
			switch {
			case c.cmd != cmdSet:
				ok = r.isInt(boolInt(write))
			case c.get:
				ok = r.isValue(old)
			case write:
				ok = r.kind == OutOK
			default:
				ok = r.kind == OutNil
			}
			if !ok {
				return false, s
			}
		}
		_, hadTTL := s.ttl(k)
		if !write || old == v && !hadTTL && c.px == 0 {
			return true, s
		}
		n := s.copyFor(c)
		n.put(k, v)
		if c.px > 0 {
			lo, hi := ttlWindow(c.px, c.op.Call, c.ret)
			n.setTTL(keyTTL{k, lo, hi})
		}
		return true, n

	case cmdGetSet:
		k, v := c.keys[0], c.vals[0]
		old := s.value(k)
		if !c.unknown && !r.isValue(old) {
			return false, s
		}
		if _, hadTTL := s.ttl(k); old == v && !hadTTL {
			return true, s
		}
		n := s.copyFor(c)
		n.put(k, v)
		return true, n

	case cmdMGet:
		if c.unknown {
			return true, s
		}
		if r.kind != OutArray || len(r.vals) != len(c.keys) {
			return false, s
		}
		for i, k := range c.keys {
			if r.vals[i] != s.value(k) {
				return false, s
			}
		}
		return true, s

	case cmdMSet:
		if !c.unknown && r.kind != OutOK {
			return false, s
		}
		n := s.copyFor(c)
		for i, k := range c.keys {
			n.put(k, c.vals[i]) // a key named twice keeps its last value
		}
		return true, n

	case cmdMSetNX:
		// All or nothing: every key is written if none exists, as one
		// step even when the keys span shards.
		none := true
		for _, k := range c.keys {
			none = none && s.value(k) == absent
		}
		if !c.unknown && !r.isInt(boolInt(none)) {
			return false, s
		}
		if !none {
			return true, s
		}
		n := s.copyFor(c)
		for i, k := range c.keys {
			n.put(k, c.vals[i])
		}
		return true, n

	case cmdRename:
		// The destination takes the source's value and expiry; the
		// source goes. An absent source is refused (NoSuchKeyError).
		src, dst := c.keys[0], c.keys[1]
		v := s.value(src)
		if v == absent {
			return c.unknown || r.kind == OutErr, s
		}
		if !c.unknown && r.kind != OutOK {
			return false, s
		}
		t, hadTTL := s.ttl(src)
		n := s.copyFor(c)
		n.put(src, absent)
		n.put(dst, v)
		if hadTTL {
			t.k = dst
			n.setTTL(t)
		}
		return true, n

	case cmdExists:
		if c.unknown {
			return true, s
		}
		var count int64
		for _, k := range c.keys {
			if s.value(k) != absent {
				count++ // a key named twice counts twice, as in Redis
			}
		}
		return r.isInt(count), s

	case cmdDel:
		var n *state
		var count int64
		for _, k := range c.keys {
			if s.value(k) == absent {
				continue
			}
			if n == nil {
				n = s.copyFor(c)
			}
			if n.value(k) != absent { // a key named twice is deleted once
				n.put(k, absent)
				count++
			}
		}
		if !c.unknown && !c.anyCount && !r.isInt(count) {
			return false, s
		}
		if n == nil {
			return true, s
		}
		return true, n

	case cmdDBSize:
		return c.unknown || r.isInt(s.size), s

	case cmdIncrBy:
		// An absent key counts as 0; a value that is not an integer
		// refuses the step with an error and changes nothing.
		k := c.keys[0]
		old := s.value(k)
		cur, isInt := intOfID(old)
		switch {
		case old == absent:
			cur, isInt = 0, true
		case !isInt && canonicalInt(c.names.value(old)):
			panic(fmt.Sprintf("checker: incrby of %s, an integer beyond the model's ±2^30", c.names.value(old)))
		}
		if !isInt {
			return c.unknown || r.kind == OutErr, s
		}
		n := cur + c.incr
		if n < -intRange || n >= intRange {
			panic(fmt.Sprintf("checker: incrby makes %d, beyond the model's ±2^30", n))
		}
		if !c.unknown && !r.isInt(n) {
			return false, s
		}
		next := s.copyFor(c)
		t, hadTTL := s.ttl(k)
		next.put(k, intID(n))
		if hadTTL {
			next.setTTL(t) // INCR keeps the key's expiry
		}
		return true, next

	case cmdPExpire:
		k := c.keys[0]
		if s.value(k) == absent {
			return c.unknown || r.isInt(0), s
		}
		if !c.unknown && !r.isInt(1) {
			return false, s
		}
		n := s.copyFor(c)
		lo, hi := ttlWindow(c.px, c.op.Call, c.ret)
		n.setTTL(keyTTL{k, lo, hi})
		return true, n

	case cmdExec:
		// The block runs as one step: each command in order, on what the
		// one before left, each with its own reply.
		if !c.unknown && (r.kind != OutArray || len(r.items) != len(c.subs)) {
			return false, s
		}
		cur := s
		for i, sub := range c.subs {
			var sr *reply
			if !c.unknown {
				sr = &r.items[i]
			}
			ok, n := step(cur, sub, sr)
			if !ok {
				return false, s
			}
			cur = n
		}
		return true, cur

	case cmdFlush:
		if !c.unknown && r.kind != OutOK {
			return false, s
		}
		if s.size == 0 {
			return true, s
		}
		return true, &state{names: c.names}
	}
	panic(fmt.Sprintf("checker: step: command %d has no model", c.cmd))
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// equalStates compares contents; a missing chunk equals one of absent keys.
func equalStates(a, b *state) bool {
	if a.hash != b.hash || a.size != b.size || !slices.Equal(a.ttls, b.ttls) {
		return false
	}
	for i := range max(len(a.chunks), len(b.chunks)) {
		var x, y *chunk
		if i < len(a.chunks) {
			x = a.chunks[i]
		}
		if i < len(b.chunks) {
			y = b.chunks[i]
		}
		switch {
		case x == y:
		case x == nil:
			if *y != (chunk{}) {
				return false
			}
		case y == nil:
			if *x != (chunk{}) {
				return false
			}
		case *x != *y:
			return false
		}
	}
	return true
}

// describeState prints the present keys in key order: {a: "1", b: "2"}.
func describeState(s *state) string {
	if s.names == nil {
		return "{}"
	}
	type kv struct{ k, v string }
	var present []kv
	for i, ch := range s.chunks {
		if ch == nil {
			continue
		}
		for j, v := range ch {
			if v != absent {
				present = append(present, kv{s.names.keys[i*chunkLen+j], s.names.value(v)})
			}
		}
	}
	slices.SortFunc(present, func(a, b kv) int { return strings.Compare(a.k, b.k) })
	parts := make([]string, len(present))
	for i, p := range present {
		parts[i] = describeKey(p.k) + ": " + describeValue(p.v)
	}
	for _, t := range s.ttls {
		parts = append(parts, fmt.Sprintf("%s expires within %s .. %s", describeKey(s.names.keys[t.k]), describeTime(t.lo), describeTime(t.hi)))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// partitionByComponent groups operations by the component Check assigned
// them, in order of first appearance.
func partitionByComponent(history []porcupine.Operation) [][]porcupine.Operation {
	index := map[int]int{}
	var parts [][]porcupine.Operation
	for _, op := range history {
		c := op.Input.(*call).comp
		i, ok := index[c]
		if !ok {
			i = len(parts)
			index[c] = i
			parts = append(parts, nil)
		}
		parts[i] = append(parts[i], op)
	}
	return parts
}

// model is castkv's sequential specification for porcupine. Its Init and
// Step are per component.
var model = porcupine.Model{
	Partition: partitionByComponent,
	Init:      func() interface{} { return &states{all: []*state{{}}} },
	Step: func(s, in, out interface{}) (bool, interface{}) {
		return stepAll(s.(*states), in.(*call), out.(*reply))
	},
	Equal: func(a, b interface{}) bool { return equalStateSets(a.(*states), b.(*states)) },
	Hash:  func(s interface{}) uint64 { return s.(*states).hash },
	DescribeOperation: func(in, _ interface{}) string {
		return in.(*call).op.String()
	},
	DescribeState: func(s interface{}) string { return describeStates(s.(*states)) },
	DescribeOperationMetadata: func(meta interface{}) string {
		c := meta.(*call)
		part := ""
		if c.onKey != "" {
			part = "part on " + describeKey(c.onKey) + " of "
		}
		return fmt.Sprintf("%sop #%d, client %d, %s .. %s", part, c.index, c.op.Client,
			describeTime(c.op.Call), describeReturn(c))
	},
}

func describeReturn(c *call) string {
	if c.boundBy >= 0 {
		return fmt.Sprintf("%s (unknown outcome; op #%d read its value)", describeTime(c.ret), c.boundBy)
	}
	if c.unknown {
		return "never (unknown outcome)"
	}
	return describeTime(c.op.Return)
}
