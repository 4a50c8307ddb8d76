package checker

import (
	"cmp"
	"fmt"
	"slices"
)

// refStore is the test's sequential reference: castkv's commands on a plain
// Go map, written from the Redis documentation independently of the model
// (which works on interned ids and copy-on-write slices).
type refStore map[string]string

func (s refStore) apply(in Input) Output {
	switch in.Cmd {
	case "get":
		return s.lookup(in.Keys[0])
	case "set":
		k := in.Keys[0]
		old := s.lookup(k)
		_, exists := s[k]
		if (in.NX && exists) || (in.XX && !exists) {
			if in.Get {
				return old
			}
			return Output{Kind: OutNil}
		}
		s[k] = in.Values[0]
		if in.Get {
			return old
		}
		return Output{Kind: OutOK}
	case "setnx", "setxx":
		k := in.Keys[0]
		_, exists := s[k]
		if exists != (in.Cmd == "setxx") {
			return Output{Kind: OutInt, Int: 0}
		}
		s[k] = in.Values[0]
		return Output{Kind: OutInt, Int: 1}
	case "getset":
		old := s.lookup(in.Keys[0])
		s[in.Keys[0]] = in.Values[0]
		return old
	case "mget":
		out := Output{Kind: OutArray}
		for _, k := range in.Keys {
			if v, ok := s[k]; ok {
				out.Strs = append(out.Strs, &v)
			} else {
				out.Strs = append(out.Strs, nil)
			}
		}
		return out
	case "mset":
		for i, k := range in.Keys {
			s[k] = in.Values[i]
		}
		return Output{Kind: OutOK}
	case "exists":
		n := 0
		for _, k := range in.Keys {
			if _, ok := s[k]; ok {
				n++
			}
		}
		return Output{Kind: OutInt, Int: int64(n)}
	case "del":
		n := 0
		for _, k := range in.Keys {
			if _, ok := s[k]; ok {
				delete(s, k)
				n++
			}
		}
		return Output{Kind: OutInt, Int: int64(n)}
	case "dbsize":
		return Output{Kind: OutInt, Int: int64(len(s))}
	case "flushall", "flushdb":
		clear(s)
		return Output{Kind: OutOK}
	}
	panic("reference: no command " + in.Cmd)
}

func (s refStore) lookup(k string) Output {
	if v, ok := s[k]; ok {
		return Output{Kind: OutBulk, Str: v}
	}
	return Output{Kind: OutNil}
}

// picker chooses an int in [0, n); rapid's draws in properties, a seeded
// PRNG in benchmarks.
type picker func(n int) int

// genInput draws one command over keys k0..k(nkeys-1). value supplies the
// written values. Global commands (dbsize, flush*) only when globals.
func genInput(pick picker, nkeys int, globals bool, value func() string) Input {
	key := func() string { return fmt.Sprintf("k%d", pick(nkeys)) }
	keys := func() []string {
		ks := make([]string, 1+pick(3))
		for i := range ks {
			ks[i] = key() // repeats allowed: EXISTS and DEL must count them right
		}
		return ks
	}
	weights := []struct {
		cmd string
		w   int
	}{
		{"get", 4}, {"set", 5}, {"setnx", 1}, {"setxx", 1}, {"getset", 1},
		{"mget", 2}, {"mset", 2}, {"exists", 1}, {"del", 2},
	}
	if globals {
		weights = append(weights, []struct {
			cmd string
			w   int
		}{{"dbsize", 1}, {"flushall", 1}, {"flushdb", 1}}...)
	}
	total := 0
	for _, w := range weights {
		total += w.w
	}
	r := pick(total)
	var name string
	for _, w := range weights {
		if r < w.w {
			name = w.cmd
			break
		}
		r -= w.w
	}
	in := Input{Cmd: name}
	switch name {
	case "get":
		in.Keys = []string{key()}
	case "set":
		in.Keys, in.Values = []string{key()}, []string{value()}
		switch pick(3) {
		case 1:
			in.NX = true
		case 2:
			in.XX = true
		}
		in.Get = pick(3) == 0
	case "setnx", "setxx", "getset":
		in.Keys, in.Values = []string{key()}, []string{value()}
	case "mget", "exists", "del":
		in.Keys = keys()
	case "mset":
		in.Keys = keys()
		for range in.Keys {
			in.Values = append(in.Values, value())
		}
	}
	return in
}

// genConcurrent simulates clients against the reference: each op takes
// effect at a random point inside its interval, so the history is
// linearizable by construction. With probability unknownPct/100 an op's
// outcome is unknown (it takes effect at its point or never, its output is
// garbage, its client is retired), and with errPct/100 it is refused
// (a definite error, no effect). A final read of every key closes it.
func genConcurrent(pick picker, clients, n, nkeys int, globals bool, unknownPct, errPct int) []Op {
	seq := 0
	value := func() string { seq++; return fmt.Sprintf("v%d", seq) }
	type timed struct {
		op     Op
		at     int64 // linearization point
		effect bool
	}
	free := make([]int64, clients) // when each client's previous op returned
	id := make([]int, clients)     // current porcupine id of each client
	for c := range id {
		id[c] = c
	}
	nextID := clients
	all := make([]timed, 0, n)
	for range n {
		c := pick(clients)
		call := free[c] + 1 + int64(pick(20))
		at := call + int64(pick(40))
		ret := at + int64(pick(40))
		free[c] = ret
		t := timed{op: Op{Client: id[c], Call: call, Return: ret, Input: genInput(pick, nkeys, globals, value)}, at: at, effect: true}
		switch r := pick(100); {
		case r < unknownPct:
			t.op.Unknown = true
			t.effect = pick(2) == 0
			id[c] = nextID // retired
			nextID++
		case r < unknownPct+errPct:
			t.op.Output = Output{Kind: OutErr, Err: "TRYAGAIN shard moving"}
			t.effect = false
		}
		all = append(all, t)
	}
	order := make([]int, len(all))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(all[a].at, all[b].at) })
	ref := refStore{}
	for _, i := range order {
		t := &all[i]
		if !t.effect {
			continue
		}
		out := ref.apply(t.op.Input)
		if !t.op.Unknown {
			t.op.Output = out
		}
	}
	ops := make([]Op, len(all))
	for i, t := range all {
		ops[i] = t.op
		if t.op.Unknown && pick(2) == 0 {
			ops[i].Output = Output{Kind: OutErr, Err: "UNCERTAIN timeout"}
		}
	}
	// Final reads, as the simulator does after healing: a fresh client reads
	// every key once after everything else returned.
	end := slices.Max(free)
	for k := range nkeys {
		in := Input{Cmd: "get", Keys: []string{fmt.Sprintf("k%d", k)}}
		end++
		ops = append(ops, Op{Client: nextID, Call: end, Return: end, Input: in, Output: ref.apply(in)})
	}
	return ops
}
