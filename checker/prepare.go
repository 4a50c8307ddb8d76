package checker

import (
	"fmt"
	"math"
)

// An unknown outcome is what makes porcupine slow: the op stays pending to
// the end of the history, and each point where the search tries it and fails
// costs a search of everything up to the read that contradicts it. prepare
// removes what carries no constraint and bounds what it soundly can; every
// rule keeps a history linearizable exactly when the original was.
//
//  1. A definite error was refused before taking effect: a no-op, which can
//     be linearized anywhere. Dropped.
//  2. An unknown read has no effect and accepts any output. Dropped.
//  3. An unknown write none of whose values any definite reply contains, and
//     after whose call no op on its keys observes existence (exists, definite
//     del, setnx, setxx, set NX|XX) and no dbsize returns, is dropped. In any
//     linearization that places it, the first later op on each of its keys
//     cannot read its value, since no reply holds it, and does not look at
//     existence, so it overwrites the key blindly (set, mset, getset or del
//     of unknown outcome, flush): removing the write changes no reply.
//     Placing it last, as its infinite return allows, shows the converse.
//  4. An unknown write whose value a definite reply contains, when no other
//     op in the history writes that value, took effect before that reply's
//     return: its return is bounded by the earliest such reply.
type prepared struct {
	keep    []int   // ops to check, by index into the history, in order
	ret     []int64 // return time each op is checked with
	boundBy []int   // rule 4: the op whose reply bounded this op's return, else -1
}

func prepare(ops []Op) prepared {
	p := prepared{ret: make([]int64, len(ops)), boundBy: make([]int, len(ops))}
	var candidates []int // unknown writes
	for i := range ops {
		op := &ops[i]
		p.boundBy[i] = -1
		p.ret[i] = op.Return
		if op.Unknown {
			p.ret[i] = math.MaxInt64
		}
		if !op.Unknown && op.Output.Kind == OutErr {
			continue // rule 1; may be malformed: the server refused it
		}
		if err := op.validate(); err != nil {
			panic(fmt.Sprintf("checker: op #%d (client %d, %s): %v", i, op.Client, op.Input, err))
		}
		c := commands[op.Input.Cmd]
		if op.Unknown && c.readOnly() {
			continue // rule 2
		}
		if op.Unknown && len(op.Input.Values) > 0 {
			candidates = append(candidates, i)
		}
		p.keep = append(p.keep, i)
	}
	if len(candidates) == 0 {
		return p
	}

	const many = -1
	writer := map[string]int{} // value -> the one op writing it, or many
	for i := range ops {
		for _, v := range ops[i].Input.Values {
			if w, ok := writer[v]; ok && w != i {
				writer[v] = many
			} else {
				writer[v] = i
			}
		}
	}
	reader := map[string]int{}      // value -> the kept definite op returning it earliest
	sensitive := map[string][]int{} // key -> kept ops whose reply or effect depends on existence
	var dbsizes []int               // kept definite dbsize ops
	read := func(i int, v string) {
		if r, ok := reader[v]; !ok || ops[i].Return < ops[r].Return {
			reader[v] = i
		}
	}
	for _, i := range p.keep {
		op := &ops[i]
		in := &op.Input
		c := commands[in.Cmd]
		if !op.Unknown {
			switch op.Output.Kind {
			case OutBulk:
				read(i, op.Output.Str)
			case OutArray:
				for _, s := range op.Output.Strs {
					if s != nil {
						read(i, *s)
					}
				}
			}
		}
		conditional := c == cmdSetNX || c == cmdSetXX || in.NX || in.XX
		if conditional || (!op.Unknown && (c == cmdExists || c == cmdDel)) {
			for _, k := range in.Keys {
				sensitive[k] = append(sensitive[k], i)
			}
		}
		if c == cmdDBSize {
			dbsizes = append(dbsizes, i)
		}
	}

	// Rule 4 first, so rule 3 sees the bounded returns: both rules keep the
	// history equivalent, so either order is sound.
	unseen := candidates[:0:0]
	for _, w := range candidates {
		op := &ops[w]
		bound, boundBy, seen := int64(math.MaxInt64), -1, false
		for _, v := range op.Input.Values {
			r, ok := reader[v]
			if !ok {
				continue
			}
			seen = true
			if writer[v] == w && ops[r].Return < bound {
				bound, boundBy = ops[r].Return, r
			}
		}
		if !seen {
			unseen = append(unseen, w)
		}
		// A reader returning before the write was even invoked is a
		// violation porcupine will report; leave the write unbounded.
		if boundBy >= 0 && bound >= op.Call {
			p.ret[w], p.boundBy[w] = bound, boundBy
		}
	}
	drop := map[int]bool{}
	for _, w := range unseen {
		if !observable(ops, p.ret, w, dbsizes, sensitive) {
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

// observable reports whether an op other than w that depends on existence
// could be linearized after w's call (rule 3).
func observable(ops []Op, ret []int64, w int, dbsizes []int, sensitive map[string][]int) bool {
	call := ops[w].Call
	for _, j := range dbsizes {
		if ret[j] >= call {
			return true
		}
	}
	for _, k := range ops[w].Input.Keys {
		for _, j := range sensitive[k] {
			if j != w && ret[j] >= call {
				return true
			}
		}
	}
	return false
}
