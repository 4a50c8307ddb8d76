package checker

import (
	"fmt"
	"math"
	"slices"
)

// An unknown outcome is what makes porcupine slow: the op stays pending to
// the end of the history, the search tries it as early as it can, and each
// wrong place costs a search of every interleaving up to the reply that
// contradicts it. prepare removes what carries no constraint and bounds what
// it soundly can. Every rule keeps a history linearizable exactly when the
// original was.
//
//  1. A definite error was refused before taking effect: a no-op, which can
//     be linearized anywhere. Dropped; but an INCRBY refused because its
//     key held no integer, or a RENAME because its source was absent, is
//     kept: that refusal is a read the model checks (DefiniteError).
//  2. An unknown read has no effect and accepts any output. Dropped.
//  3. An unknown write W with no time to live whose values no definite
//     reply contains is dropped unless an op that may see W's key present
//     without reading its value could come after W: a definite dbsize,
//     exists or del with a non-zero count, setnx 0, setxx 1, set NX
//     answered nil, set XX answered OK, pexpire answered 1, any incrby (it
//     fails on a value that is not an integer), or a conditional write or
//     pexpire of unknown outcome. Why: take a linearization that places W,
//     and the first later op touching one of W's keys. It cannot read the
//     value (no reply holds it), nor see the key absent (it is not: W set
//     no expiry), nor see it present (ruled out above); so it overwrites the key
//     regardless of what was there (set, mset, flush, or a getset or del of
//     unknown outcome), or there is none. Removing W changes no reply.
//     Conversely W can always be placed last, as its infinite return allows.
//  4. An unknown write whose value a definite reply contains, when no other
//     op in the history writes that value, took effect before that reply's
//     return: its return is bounded by the earliest such reply. In a
//     history with an incrby, no integer has one writer: any incrby may
//     write it.
type prepared struct {
	keep    []int   // ops to check, by index into the history, in order
	ret     []int64 // return time each op is checked with
	boundBy []int   // rule 4: the op whose reply bounded this op's return, else -1
}

func prepare(ops []Op) prepared {
	p := prepared{ret: make([]int64, len(ops)), boundBy: make([]int, len(ops))}
	var unknownWrites []int
	for i := range ops {
		op := &ops[i]
		p.boundBy[i] = -1
		p.ret[i] = op.Return
		if op.Unknown {
			p.ret[i] = math.MaxInt64
		}
		if !op.Unknown && op.Output.Kind == OutErr && !DefiniteError(op) {
			continue // rule 1; it may be malformed: the server refused it
		}
		if err := op.validate(); err != nil {
			panic(fmt.Sprintf("checker: op #%d (client %d, %s): %v", i, op.Client, op.Input, err))
		}
		c := commands[op.Input.Cmd]
		if op.Unknown && c.readOnly() {
			continue // rule 2
		}
		if op.Unknown && len(op.Input.Values) > 0 && op.Input.PX == 0 {
			// A write with a time to live is never dropped by rule 3: its
			// key may be seen absent after it, once it expired.
			unknownWrites = append(unknownWrites, i)
		}
		p.keep = append(p.keep, i)
	}
	if len(unknownWrites) == 0 {
		return p
	}

	const many = -1
	writer := map[string]int{} // value -> the one op writing it, or many
	incrs := false
	for i := range ops {
		incrs = incrs || commands[ops[i].Input.Cmd] == cmdIncrBy ||
			slices.ContainsFunc(ops[i].Input.Sub, func(sub Input) bool { return commands[sub.Cmd] == cmdIncrBy })
		for _, v := range ops[i].Input.written() {
			if w, ok := writer[v]; ok && w != i {
				writer[v] = many
			} else {
				writer[v] = i
			}
		}
	}
	if incrs {
		// An INCRBY may write any integer: no SET is the one writer of one.
		for v := range writer { // order-independent: each entry alone
			if canonicalInt(v) {
				writer[v] = many
			}
		}
	}
	reader := map[string]int{} // value -> the kept definite op returning it earliest
	read := func(i int, v string) {
		if r, ok := reader[v]; !ok || ops[i].Return < ops[r].Return {
			reader[v] = i
		}
	}
	seesPresent := map[string][]int{} // key -> kept ops of rule 3
	var seesAnyPresent []int          // kept definite dbsize ops of rule 3
	for _, i := range p.keep {
		op := &ops[i]
		if !op.Unknown {
			readsOf(&op.Output, func(v string) { read(i, v) })
		}
		if commands[op.Input.Cmd] == cmdDBSize {
			if !op.Output.isInt(0) {
				seesAnyPresent = append(seesAnyPresent, i)
			}
		} else if mayObservePresence(op) {
			for _, k := range op.Input.Keys {
				seesPresent[k] = append(seesPresent[k], i)
			}
		}
	}

	// Rule 4 first, so rule 3 sees the bounded returns; both rules keep the
	// history equivalent, so either order is sound.
	var unread []int
	for _, w := range unknownWrites {
		op := &ops[w]
		bound, boundBy, read := int64(math.MaxInt64), -1, false
		for _, v := range op.Input.Values {
			r, ok := reader[v]
			if !ok {
				continue
			}
			read = true
			if writer[v] == w && ops[r].Return < bound {
				bound, boundBy = ops[r].Return, r
			}
		}
		if !read {
			unread = append(unread, w)
		}
		// A reply before the write was even invoked is a violation
		// porcupine will report; leave the write unbounded.
		if boundBy >= 0 && bound >= op.Call {
			p.ret[w], p.boundBy[w] = bound, boundBy
		}
	}
	drop := map[int]bool{}
	for _, w := range unread {
		if !mayFollow(ops, p.ret, w, seesAnyPresent, seesPresent) {
			drop[w] = true // rule 3
		}
	}
	if len(drop) > 0 {
		kept := p.keep[:0]
		for _, i := range p.keep {
			if !drop[i] {
				kept = append(kept, i)
			}
		}
		p.keep = kept
	}
	return p
}

// mayObservePresence reports whether a keyed op may see one of its keys
// present without reading its value (rule 3). Definite replies that show
// every key absent do not; a reply of an unexpected shape may.
func mayObservePresence(op *Op) bool {
	in, out := &op.Input, &op.Output
	c := commands[in.Cmd]
	if c == cmdIncrBy || c == cmdExec {
		// An incrby fails on a value that is not an integer, whatever its
		// reply. An exec may hold any of the commands below: taking it as
		// seeing its keys present keeps more unknown writes, never fewer.
		return true
	}
	if c == cmdPExpire {
		return op.Unknown || !out.isInt(0) // 1: the key was present
	}
	if c == cmdRename {
		// Its reply says whether the source exists.
		return op.Unknown || op.Output.Kind != OutErr
	}
	conditional := c == cmdSetNX || c == cmdSetXX || c == cmdMSetNX || in.NX || in.XX
	if op.Unknown {
		return conditional // its effect depends on existence
	}
	switch {
	case c == cmdMSetNX:
		return !out.isInt(1)
	case c == cmdSetNX:
		return !out.isInt(1)
	case c == cmdSetXX:
		return !out.isInt(0)
	case c == cmdSet && in.Get:
		return false // reads the value: it shows a present key's value
	case c == cmdSet && in.NX:
		return out.Kind != OutOK
	case c == cmdSet && in.XX:
		return out.Kind != OutNil
	case c == cmdExists, c == cmdDel:
		return !out.isInt(0)
	}
	return false
}

// readsOf calls read with each value a reply holds.
func readsOf(out *Output, read func(string)) {
	switch out.Kind {
	case OutBulk:
		read(out.Str)
	case OutArray:
		for _, s := range out.Strs {
			if s != nil {
				read(*s)
			}
		}
		for i := range out.Items {
			readsOf(&out.Items[i], read)
		}
	}
}

func (out *Output) isInt(n int64) bool { return out.Kind == OutInt && out.Int == n }

// mayFollow reports whether an op of rule 3, other than w, could be
// linearized after w's call.
func mayFollow(ops []Op, ret []int64, w int, seesAnyPresent []int, seesPresent map[string][]int) bool {
	call := ops[w].Call
	for _, j := range seesAnyPresent {
		if ret[j] >= call {
			return true
		}
	}
	for _, k := range ops[w].Input.Keys {
		for _, j := range seesPresent[k] {
			if j != w && ret[j] >= call {
				return true
			}
		}
	}
	return false
}

// NotIntegerError is the reply of an INCRBY whose key holds a value that
// is not an integer: a definite answer about the value (the model checks
// it), where other errors say the command was refused before it ran.
const NotIntegerError = "ERR value is not an integer or out of range"

// NoSuchKeyError is the reply of a RENAME whose source is absent: a
// definite answer the model checks.
const NoSuchKeyError = "ERR no such key"

// DefiniteError reports whether op's error reply is an answer about the
// data, which the model checks, rather than a refusal before it ran: an
// INCRBY refused for its key's value, a RENAME for its absent source.
func DefiniteError(op *Op) bool {
	if op.Unknown || op.Output.Kind != OutErr {
		return false
	}
	switch commands[op.Input.Cmd] {
	case cmdIncrBy:
		return op.Output.Err == NotIntegerError
	case cmdRename:
		return op.Output.Err == NoSuchKeyError
	}
	return false
}
