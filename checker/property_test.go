package checker

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

func rapidPicker(t *rapid.T) picker {
	return func(n int) int { return rapid.IntRange(0, n-1).Draw(t, "pick") }
}

// smallValues makes equal values common, so the model's handling of
// rewriting a value and of the empty string gets exercised.
var smallValues = []string{"", "a", "b", "c"}

// genSequential draws a history of non-overlapping ops over 4 keys with
// outputs from the reference; its only linearization is call order.
func genSequential(t *rapid.T) []Op {
	pick := rapidPicker(t)
	value := func() string { return smallValues[pick(len(smallValues))] }
	n := rapid.IntRange(1, 40).Draw(t, "ops")
	ref := refStore{}
	ops := make([]Op, n)
	for i := range ops {
		in := workload{keys: 4, globals: true}.input(pick, value)
		ops[i] = Op{Client: i % 3, Call: int64(10 * i), Return: int64(10*i + 5), Input: in, Output: ref.apply(in)}
	}
	return ops
}

func describeHistory(ops []Op) string {
	s := ""
	for i, op := range ops {
		s += fmt.Sprintf("\n  #%d c%d [%d,%d] %s", i, op.Client, op.Call, op.Return, op)
	}
	return s
}

func TestSequentialHistoriesAreLinearizable(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ops := genSequential(t)
		if res := Check(ops, 0); !res.Linearizable {
			t.Fatalf("%s%s", res, describeHistory(ops))
		}
	})
}

// mutate returns a different reply of the same command: one that the
// sequential reference did not give.
func mutate(pick picker, out Output) Output {
	other := func(v string) string {
		others := slices.DeleteFunc(slices.Clone(smallValues), func(w string) bool { return w == v })
		return others[pick(len(others))]
	}
	switch out.Kind {
	case OutOK:
		return Output{Kind: OutNil}
	case OutNil:
		if pick(2) == 0 {
			return Output{Kind: OutOK}
		}
		return Output{Kind: OutBulk, Str: smallValues[pick(len(smallValues))]}
	case OutInt:
		if pick(2) == 0 && out.Int > 0 {
			return Output{Kind: OutInt, Int: out.Int - 1}
		}
		return Output{Kind: OutInt, Int: out.Int + 1}
	case OutBulk:
		if pick(2) == 0 {
			return Output{Kind: OutNil}
		}
		return Output{Kind: OutBulk, Str: other(out.Str)}
	case OutArray:
		if out.Items != nil { // exec: one of its replies changed
			items := slices.Clone(out.Items)
			j := pick(len(items))
			items[j] = mutate(pick, items[j])
			return Output{Kind: OutArray, Items: items}
		}
		strs := append([]*string(nil), out.Strs...)
		j := pick(len(strs))
		switch {
		case strs[j] == nil:
			v := smallValues[pick(len(smallValues))]
			strs[j] = &v
		case pick(2) == 0:
			strs[j] = nil
		default:
			v := other(*strs[j])
			strs[j] = &v
		}
		return Output{Kind: OutArray, Strs: strs}
	case OutErr: // INCRBY refused a value that is not an integer, RENAME an absent key
		return Output{Kind: OutInt, Int: int64(pick(3))}
	}
	panic("mutate: unexpected kind " + out.Kind.String())
}

// TestSequentialCanary proves Check can fail: one changed reply in a
// sequential history has no linearization, since the order is forced and the
// model is deterministic.
func TestSequentialCanary(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ops := genSequential(t)
		i := rapid.IntRange(0, len(ops)-1).Draw(t, "victim")
		was := ops[i].Output
		ops[i].Output = mutate(rapidPicker(t), was)
		if res := Check(ops, 0); res.Linearizable || res.TimedOut {
			t.Fatalf("op #%d changed from %s: %s%s", i, was, res, describeHistory(ops))
		}
	})
}

// TestSequentialWithUncertainty: unknown outcomes that take effect at any
// later point or never, and refused ops that never take effect, are all
// explained.
func TestSequentialWithUncertainty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		pick := rapidPicker(t)
		value := func() string { return smallValues[pick(len(smallValues))] }
		n := rapid.IntRange(1, 30).Draw(t, "ops")
		ref := refStore{}
		var pending []Input // unknown writes not yet applied; some never are
		ops := make([]Op, 0, n)
		for i := range n {
			for j := 0; j < len(pending); j++ {
				if pick(4) == 0 {
					ref.apply(pending[j])
					pending = append(pending[:j], pending[j+1:]...)
					j--
				}
			}
			in := workload{keys: 3, globals: true}.input(pick, value)
			op := Op{Client: i, Call: int64(10 * i), Return: int64(10*i + 5), Input: in}
			switch pick(8) {
			case 0:
				op.Unknown = true
				op.Output = Output{Kind: OutErr, Err: "UNCERTAIN"}
				pending = append(pending, in)
			case 1:
				op.Output = Output{Kind: OutErr, Err: "TRYAGAIN"}
			default:
				op.Output = ref.apply(in)
			}
			ops = append(ops, op)
		}
		if res := Check(ops, 0); !res.Linearizable {
			t.Fatalf("%s%s", res, describeHistory(ops))
		}
	})
}

func TestConcurrentHistoriesAreLinearizable(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ops := drawWorkload(t).concurrent(rapidPicker(t))
		if res := Check(ops, 0); !res.Linearizable {
			t.Fatalf("%s%s", res, describeHistory(ops))
		}
	})
}

// TestConcurrentCanary: a read of a value nobody wrote is a violation under
// any interleaving.
func TestConcurrentCanary(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		pick := rapidPicker(t)
		ops := drawWorkload(t).concurrent(pick)
		var reads []int
		for i, op := range ops {
			if !op.Unknown && (op.Output.Kind == OutBulk || op.Output.Kind == OutNil || op.Output.Kind == OutArray) {
				reads = append(reads, i)
			}
		}
		if len(reads) == 0 {
			t.Skip("no read in the history")
		}
		i := reads[pick(len(reads))]
		phantom := "never-written"
		switch out := &ops[i].Output; out.Kind {
		case OutArray:
			if out.Items != nil { // exec
				items := slices.Clone(out.Items)
				items[pick(len(items))] = Output{Kind: OutBulk, Str: phantom}
				out.Items = items
				break
			}
			strs := append([]*string(nil), out.Strs...)
			strs[pick(len(strs))] = &phantom
			out.Strs = strs
		default:
			*out = Output{Kind: OutBulk, Str: phantom}
		}
		if res := Check(ops, 0); res.Linearizable || res.TimedOut {
			t.Fatalf("op #%d reads %q: %s%s", i, phantom, res, describeHistory(ops))
		}
	})
}

// TestLargeHistory checks histories of the size the simulator produces.
func TestLargeHistory(t *testing.T) {
	for _, name := range slices.Sorted(maps.Keys(largeWorkloads)) {
		w := largeWorkloads[name]
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			res := Check(w.concurrent(func(n int) int { return rng.IntN(n) }), 0)
			if !res.Linearizable {
				t.Fatal(res)
			}
			want := 1 // all keys joined, by a global command or a multi-key one
			if w.group > 0 && !w.globals {
				want = w.keys / w.group
			}
			if res.Components != want {
				t.Errorf("%d components, want %d", res.Components, want)
			}
			t.Log(res)
		})
	}
}

// largeWorkloads are as long as a simulator run. Multi-key commands over
// a wide keyspace would join it all into one component with many keys; an
// unknown write that never took effect is then tried at every point until
// a read of its key rules it out, which may be far away, and the search
// grows heavy-tailed (tens of seconds for some seeds at 200 keys). Hence
// groups, and the simulator's few keys.
var largeWorkloads = map[string]workload{
	// Multi-key commands within groups of 4 keys, as {hash tags} would.
	"grouped": {clients: 8, ops: 4000, keys: 200, group: 4, unknownPct: 1, errPct: 2},
	// dbsize and flush join everything.
	"global": {clients: 8, ops: 4000, keys: 40, globals: true, unknownPct: 1, errPct: 2},
	// The simulator's shape: few keys, many unknown outcomes.
	"few-keys": {clients: 5, ops: 5000, keys: 7, globals: true, unknownPct: 10, errPct: 5},
}

func BenchmarkCheck(b *testing.B) {
	for _, name := range slices.Sorted(maps.Keys(largeWorkloads)) {
		b.Run(name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			ops := largeWorkloads[name].concurrent(func(n int) int { return rng.IntN(n) })
			for b.Loop() {
				if res := Check(ops, 0); !res.Linearizable {
					b.Fatal(res)
				}
			}
		})
	}
}

// drawWorkload draws a small concurrent workload for properties: few keys
// and many clients, so ops often overlap on a key.
func drawWorkload(t *rapid.T) workload {
	return workload{
		clients:    rapid.IntRange(1, 6).Draw(t, "clients"),
		ops:        rapid.IntRange(1, 60).Draw(t, "ops"),
		keys:       rapid.IntRange(1, 5).Draw(t, "keys"),
		globals:    rapid.Bool().Draw(t, "globals"),
		unknownPct: 5,
		errPct:     5,
	}
}
