package checker

import "slices"

// A key's projection is the history as seen by one key alone: every op that
// touches the key, cut down to its part on that key. It is a cheap, sound
// pre-check: a linearization of the whole history, restricted to one key's
// parts, orders them as real time allows and gives each part the reply it
// saw, so a projection that is not linearizable proves the history is not.
// The converse does not hold (an MGET may see two keys from different
// moments), so a history whose projections all pass is still checked
// whole.
//
// A projection is much smaller than a component of many keys, and
// porcupine's search of a violating history is exhaustive: one key's ops
// are refuted in a fraction of the time, and the picture of the failure
// shows only them.
//
// A RENAME carries a value from one key to another, so neither key's
// history is whole on its own: a key that a RENAME may have touched has no
// projection (the whole-history check still covers it), and a RENAME
// refused for an absent source, a read, is left out of the others.
//
// Where a reply cannot be split among keys the projection says less, never
// more: a DEL of several keys that deleted some of them becomes a DEL of
// this key that took effect in its interval with any count (Op.anyCount;
// made an unknown outcome instead, 130 such DELs in one key's ops made
// porcupine's search run out of time); an EXISTS or DBSIZE that saw some
// keys present is dropped (it is a read, and dropping a read removes
// constraints only). A reply of the
// wrong shape is kept: it fails in every state, as it does in the whole
// history.

// projectKeys returns the projection of ops onto each key of keys, in the
// order of keys, and for each projected op the index in ops of the op it
// is a part of. Ops refused with a definite error carry no constraint and
// are left out.
func projectKeys(ops []Op, keys []string) (parts [][]Op, origin [][]int) {
	at := make(map[string]int, len(keys))
	for i, k := range keys {
		at[k] = i
	}
	for i := range ops {
		if op := &ops[i]; commands[op.Input.Cmd] == cmdRename && !DefiniteError(op) {
			for _, k := range op.Input.Keys {
				delete(at, k)
			}
		}
	}
	parts, origin = make([][]Op, len(keys)), make([][]int, len(keys))
	var seen []int // keys of the current op already projected, by index
	for i := range ops {
		op := &ops[i]
		if !op.Unknown && op.Output.Kind == OutErr || commands[op.Input.Cmd] == cmdRename {
			continue
		}
		if commands[op.Input.Cmd].global() {
			p, ok := projectGlobal(op)
			if !ok {
				continue
			}
			for j := range parts {
				parts[j], origin[j] = append(parts[j], p), append(origin[j], i)
			}
			continue
		}
		seen = seen[:0]
		for _, k := range op.Input.Keys {
			j, ok := at[k]
			if !ok || slices.Contains(seen, j) {
				continue
			}
			seen = append(seen, j)
			p, ok := projectOp(op, k)
			if !ok {
				continue
			}
			parts[j], origin[j] = append(parts[j], p), append(origin[j], i)
		}
	}
	return parts, origin
}

// projectGlobal is a command on every key as one key sees it: FLUSHALL
// deletes it; DBSIZE 0 says it is absent, any other count says nothing
// about it.
func projectGlobal(op *Op) (Op, bool) {
	if commands[op.Input.Cmd] == cmdDBSize {
		if op.Unknown || (op.Output.Kind == OutInt && op.Output.Int != 0) {
			return Op{}, false
		}
	}
	return *op, true
}

// projectOp is op's part on key k, which op names; false when that part
// constrains nothing.
func projectOp(op *Op, k string) (Op, bool) {
	in := &op.Input
	switch commands[in.Cmd] {
	case cmdMGet:
		p := *op
		p.Input = Input{Cmd: in.Cmd}
		wholeReply := op.Unknown || op.Output.Kind != OutArray || len(op.Output.Strs) != len(in.Keys)
		if !wholeReply {
			p.Output = Output{Kind: OutArray}
		}
		for i, key := range in.Keys {
			if key == k {
				p.Input.Keys = append(p.Input.Keys, k)
				if !wholeReply {
					p.Output.Strs = append(p.Output.Strs, op.Output.Strs[i])
				}
			}
		}
		return p, true

	case cmdMSet, cmdMSetNX:
		// MSETNX answered 1: every key was absent and is written, this
		// one too; 0: none was written, which constrains nothing here. A
		// reply of the wrong shape is kept. Unknown: written if it ran
		// and every key was absent; where this key was absent and it did
		// not take effect, it is linearized last, as any unknown write
		// may be.
		if commands[in.Cmd] == cmdMSetNX && !op.Unknown && op.Output.isInt(0) {
			return Op{}, false
		}
		p := *op
		p.Input = Input{Cmd: in.Cmd}
		for i, key := range in.Keys {
			if key == k {
				p.Input.Keys = append(p.Input.Keys, k)
				p.Input.Values = append(p.Input.Values, in.Values[i])
			}
		}
		return p, true

	case cmdExists:
		p := *op
		p.Input = Input{Cmd: in.Cmd}
		for _, key := range in.Keys {
			if key == k {
				p.Input.Keys = append(p.Input.Keys, k)
			}
		}
		switch {
		case op.Unknown:
			return Op{}, false
		case op.Output.Kind != OutInt:
			// a reply of the wrong shape: kept, it fails everywhere
		case op.Output.Int == 0:
		case op.Output.Int == int64(len(in.Keys)):
			p.Output.Int = int64(len(p.Input.Keys)) // every key was present
		default:
			return Op{}, false
		}
		return p, true

	case cmdDel:
		p := *op
		p.Input = Input{Cmd: in.Cmd, Keys: []string{k}}
		switch distinct := len(distinctKeys(in.Keys)); {
		case op.Unknown, op.Output.Kind != OutInt, op.Output.Int == 0:
		case op.Output.Int == int64(distinct):
			p.Output.Int = 1 // every key existed and was deleted
		default:
			// Kind and Int keep prepare's rule 3 conservative: this DEL
			// may have seen the key present.
			p.anyCount, p.Output = true, Output{Kind: OutInt, Int: -1}
		}
		return p, true

	case cmdExec:
		// The block's commands on k, in order, with their replies: each
		// names one key, and its reply is about that key alone.
		p := *op
		p.Input = Input{Cmd: in.Cmd, Keys: []string{k}}
		items := !op.Unknown && op.Output.Kind == OutArray && len(op.Output.Items) == len(in.Sub)
		if items {
			p.Output = Output{Kind: OutArray, Items: []Output{}}
		}
		for i, sub := range in.Sub {
			if sub.Keys[0] == k {
				p.Input.Sub = append(p.Input.Sub, sub)
				if items {
					p.Output.Items = append(p.Output.Items, op.Output.Items[i])
				}
			}
		}
		return p, true
	}
	return *op, true // a single-key command
}

func distinctKeys(keys []string) []string {
	d := slices.Clone(keys)
	slices.Sort(d)
	return slices.Compact(d)
}
