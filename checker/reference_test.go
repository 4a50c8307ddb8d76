package checker

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
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
	case "msetnx":
		for _, k := range in.Keys {
			if _, ok := s[k]; ok {
				return Output{Kind: OutInt, Int: 0}
			}
		}
		for i, k := range in.Keys {
			s[k] = in.Values[i]
		}
		return Output{Kind: OutInt, Int: 1}
	case "rename":
		v, ok := s[in.Keys[0]]
		if !ok {
			return Output{Kind: OutErr, Err: NoSuchKeyError}
		}
		delete(s, in.Keys[0])
		s[in.Keys[1]] = v
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
	case "incrby":
		// An absent key counts as 0; anything but a decimal integer
		// without '+' or leading zeros is refused (Redis's string2ll).
		k := in.Keys[0]
		n := int64(0)
		if v, ok := s[k]; ok {
			var err error
			if n, err = strconv.ParseInt(v, 10, 64); err != nil || strconv.FormatInt(n, 10) != v {
				return Output{Kind: OutErr, Err: NotIntegerError}
			}
		}
		n += in.Incr
		s[k] = strconv.FormatInt(n, 10)
		return Output{Kind: OutInt, Int: n}
	case "exec":
		out := Output{Kind: OutArray, Items: []Output{}}
		for _, sub := range in.Sub {
			out.Items = append(out.Items, s.apply(sub))
		}
		return out
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

// workload describes generated histories.
type workload struct {
	clients, ops int
	keys         int  // k0..k(keys-1)
	group        int  // keys per group: a multi-key op stays in one, like a {hash tag}; 0: none
	globals      bool // dbsize, flushall, flushdb too (they join all keys in one component)
	unknownPct   int  // ops with an unknown outcome
	errPct       int  // ops refused with a definite error
}

// input draws one command. value supplies the written values.
func (w workload) input(pick picker, value func() string) Input {
	first := pick(w.keys)
	key := func() string {
		k := pick(w.keys)
		if w.group > 0 {
			g := first / w.group * w.group
			k = g + pick(min(w.group, w.keys-g))
		}
		return fmt.Sprintf("k%d", k)
	}
	keys := func() []string {
		ks := make([]string, 1+pick(3))
		for i := range ks {
			ks[i] = key() // repeats allowed: EXISTS and DEL must count them right
		}
		return ks
	}
	type weighted struct {
		cmd string
		w   int
	}
	weights := []weighted{
		{"get", 4}, {"set", 5}, {"setnx", 1}, {"setxx", 1}, {"getset", 1},
		{"mget", 2}, {"mset", 2}, {"exists", 1}, {"del", 2}, {"incrby", 2},
		{"msetnx", 1}, {"rename", 1}, {"exec", 1},
	}
	if w.globals {
		weights = append(weights, weighted{"dbsize", 1}, weighted{"flushall", 1}, weighted{"flushdb", 1})
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
	case "incrby":
		in.Keys, in.Incr = []string{key()}, int64(pick(7)-3)
	case "mset", "msetnx":
		in.Keys = keys()
		for range in.Keys {
			in.Values = append(in.Values, value())
		}
	case "exec":
		subs := []string{"get", "set", "incrby", "del", "getset"}
		for range 2 + pick(3) {
			sub := Input{Cmd: subs[pick(len(subs))], Keys: []string{key()}}
			switch sub.Cmd {
			case "set", "getset":
				sub.Values = []string{value()}
			case "incrby":
				sub.Incr = int64(pick(7) - 3)
			}
			in.Sub = append(in.Sub, sub)
			if !slices.Contains(in.Keys, sub.Keys[0]) {
				in.Keys = append(in.Keys, sub.Keys[0])
			}
		}
	case "rename":
		in.Keys = []string{key(), key()}
		if in.Keys[0] == in.Keys[1] {
			in = Input{Cmd: "get", Keys: in.Keys[:1]}
		}
	}
	return in
}

// concurrent simulates clients against the reference: each op takes effect
// at a random point inside its interval, so the history is linearizable by
// construction. An op with an unknown outcome takes effect at its point or
// never, gets a garbage output, and retires its client; a refused op has no
// effect. Every written value is unique, as in the simulator, and a final
// read of every key, after everything else returned, closes the history.
func (w workload) concurrent(pick picker) []Op {
	seq := 0
	value := func() string {
		seq++
		if pick(4) == 0 {
			return strconv.Itoa(pick(10)) // an integer INCRBY can count from; written by many
		}
		return fmt.Sprintf("v%d", seq)
	}
	type timed struct {
		op     Op
		at     int64 // linearization point
		effect bool
	}
	free := make([]int64, w.clients) // when each client's previous op returned
	id := make([]int, w.clients)     // current porcupine id of each client
	for c := range id {
		id[c] = c
	}
	nextID := w.clients
	all := make([]timed, 0, w.ops)
	for range w.ops {
		c := pick(w.clients)
		call := free[c] + 1 + int64(pick(20))
		at := call + int64(pick(40))
		ret := at + int64(pick(40))
		free[c] = ret
		t := timed{op: Op{Client: id[c], Call: call, Return: ret, Input: w.input(pick, value)}, at: at, effect: true}
		switch r := pick(100); {
		case r < w.unknownPct:
			t.op.Unknown = true
			t.effect = pick(2) == 0
			id[c] = nextID // retired
			nextID++
		case r < w.unknownPct+w.errPct:
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
	end := slices.Max(free)
	for k := range w.keys {
		in := Input{Cmd: "get", Keys: []string{fmt.Sprintf("k%d", k)}}
		end++
		ops = append(ops, Op{Client: nextID, Call: end, Return: end, Input: in, Output: ref.apply(in)})
	}
	return ops
}
