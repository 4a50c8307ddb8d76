package checker

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// Result is the verdict of Check.
type Result struct {
	// Linearizable is true only when every component was proven
	// linearizable within the timeout.
	Linearizable bool
	// TimedOut is porcupine's "unknown": no violation was found, but some
	// component was not decided in time. Callers count it as a failure.
	TimedOut bool
	// Components is the number of key-connected components checked.
	Components int
	// Ops is the number of ops checked; Dropped the number left out, as
	// carrying no constraint (see the package doc).
	Ops, Dropped int
	// Failed holds the sorted keys of each component that is not
	// linearizable or, when none is, of each that timed out, in key order.
	// When ByKey is set, the violation was found on keys taken alone (see
	// project.go): each entry is one key whose ops contradict each other.
	Failed [][]string
	ByKey  bool

	failed  []unit // behind Failed
	all     []unit // every component
	timeout time.Duration
}

// A unit is one porcupine search: a component, or one key's projection.
type unit struct {
	keys      []string // sorted
	ops       []porcupine.Operation
	projected bool // a key's projection out of a component of several
}

// projectionShare is the part of Check's timeout the search of each key
// alone may use before the components of several keys are searched whole.
const projectionShare = 4 // a quarter

// Check decides whether ops, a history of castkv client commands, is
// linearizable, within timeout (<= 0: as long as it takes).
//
// It searches small things first, since porcupine decides a violation only
// by exhausting every ordering. First each key alone: a component of one
// key (or of global commands only), or one key's projection out of a component of several (project.go),
// where a violation shows in a fraction of the time; then, if none fails,
// each component of several keys whole, and each single-key one not yet
// decided. Both phases go smallest first on GOMAXPROCS workers, the first
// within a quarter of the timeout, the second within what is left. Every
// unit of a phase is searched even after a violation, so the verdict and
// Failed do not depend on scheduling unless the timeout is hit. A unit that
// runs out of time is undecided, never passed.
//
// Check panics on an op it cannot interpret (an unknown command, a wrong
// number of keys or values, a missing output kind): that is a bug in the
// code that recorded the history.
func Check(ops []Op, timeout time.Duration) Result {
	start := time.Now()
	comps, dropped := compile(ops)
	res := Result{
		Components: len(comps),
		Ops:        len(ops) - dropped,
		Dropped:    dropped,
		timeout:    timeout,
	}
	var keyed []unit  // phase 1: every key alone
	var wide []string // keys of components of several keys
	for _, c := range comps {
		u := unit{keys: slices.Clone(c[0].Input.(*call).names.keys), ops: c}
		slices.Sort(u.keys)
		res.all = append(res.all, u)
		if len(u.keys) <= 1 { // one key, or none: global commands alone
			keyed = append(keyed, u)
		} else {
			wide = append(wide, u.keys...)
		}
	}
	slices.Sort(wide)
	parts, origin := projectKeys(ops, wide)
	for i, p := range parts {
		keyComps, _ := compile(p)
		if len(keyComps) != 1 {
			continue // every op on the key was dropped
		}
		for _, o := range keyComps[0] {
			c := o.Input.(*call)
			c.onKey = wide[i]
			c.index = origin[i][c.index]
			if c.boundBy >= 0 {
				c.boundBy = origin[i][c.boundBy]
			}
		}
		keyed = append(keyed, unit{keys: []string{wide[i]}, ops: keyComps[0], projected: true})
	}
	deadline := func(share int) time.Time {
		if timeout <= 0 {
			return time.Time{}
		}
		return start.Add(timeout / time.Duration(share))
	}

	verdicts := search(keyed, deadline(projectionShare))
	var whole []unit // phase 2
	for i, u := range keyed {
		switch {
		case verdicts[i] == porcupine.Illegal:
			res.failed = append(res.failed, u)
			res.ByKey = res.ByKey || u.projected
		case verdicts[i] == porcupine.Unknown && !u.projected:
			whole = append(whole, u)
		}
	}
	if len(res.failed) == 0 {
		for _, u := range res.all {
			if len(u.keys) > 1 {
				whole = append(whole, u)
			}
		}
		verdicts = search(whole, deadline(1))
		var unknown []unit
		for i, u := range whole {
			switch verdicts[i] {
			case porcupine.Illegal:
				res.failed = append(res.failed, u)
			case porcupine.Unknown:
				unknown = append(unknown, u)
			}
		}
		if len(res.failed) == 0 && len(unknown) > 0 {
			res.TimedOut = true
			res.failed = unknown
		}
		res.Linearizable = len(res.failed) == 0
	}
	slices.SortStableFunc(res.failed, func(a, b unit) int { return slices.Compare(a.keys, b.keys) })
	for _, u := range res.failed {
		res.Failed = append(res.Failed, u.keys)
	}
	return res
}

// search runs porcupine on every unit, smallest first, until deadline (zero:
// none), and returns each unit's verdict.
func search(units []unit, deadline time.Time) []porcupine.CheckResult {
	order := make([]int, len(units))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return len(units[a].ops) - len(units[b].ops) })

	verdicts := make([]porcupine.CheckResult, len(units))
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(units)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				var left time.Duration // zero: porcupine waits as long as it takes
				if !deadline.IsZero() {
					if left = time.Until(deadline); left <= 0 {
						verdicts[i] = porcupine.Unknown
						continue
					}
				}
				verdicts[i] = porcupine.CheckOperationsTimeout(model, units[i].ops, left)
			}
		}()
	}
	for _, i := range order {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return verdicts
}

// String summarizes the verdict in one line, naming the keys of up to
// maxDescribedComponents failed components.
func (r Result) String() string {
	verdict := "linearizable"
	switch {
	case r.TimedOut:
		verdict = fmt.Sprintf("undecided within %s on keys %s", r.timeout, describeKeySets(r.Failed))
	case r.ByKey:
		var keys []string
		for _, k := range r.Failed {
			keys = append(keys, k...)
		}
		verdict = "NOT linearizable: the ops on " + describeKeyList(keys) + " contradict each other"
	case !r.Linearizable:
		verdict = "NOT linearizable on keys " + describeKeySets(r.Failed)
	}
	return fmt.Sprintf("%s: %d ops in %d components (%d dropped)", verdict, r.Ops, r.Components, r.Dropped)
}

const (
	maxDescribedComponents = 4
	maxDescribedKeys       = 8
)

func describeKeySets(sets [][]string) string {
	var b strings.Builder
	for i, keys := range sets {
		if i == maxDescribedComponents {
			fmt.Fprintf(&b, " and %d more", len(sets)-i)
			break
		}
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString("{")
		for j, k := range keys {
			if j == maxDescribedKeys {
				fmt.Fprintf(&b, " …(%d keys)", len(keys))
				break
			}
			if j > 0 {
				b.WriteString(" ")
			}
			b.WriteString(describeKey(k))
		}
		b.WriteString("}")
	}
	return b.String()
}

// describeKeyList names keys each taken alone: "k1 alone", "each of k1,
// k2 alone".
func describeKeyList(keys []string) string {
	if len(keys) == 1 {
		return describeKey(keys[0]) + " alone"
	}
	var b strings.Builder
	b.WriteString("each of ")
	for i, k := range keys {
		if i == maxDescribedKeys {
			fmt.Fprintf(&b, " and %d more", len(keys)-i)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(describeKey(k))
	}
	b.WriteString(" alone")
	return b.String()
}

// compile prepares ops (see prepare), splits the kept ones into components
// of keys touched together, and interns keys and values. Components are
// numbered by their first op, so the split is deterministic.
func compile(ops []Op) (comps [][]porcupine.Operation, droppedOps int) {
	p := prepare(ops)
	kept := p.keep
	droppedOps = len(ops) - len(kept)

	// Union-find over keys; a global command puts everything in one set.
	keyID := map[string]int{}
	var parent []int
	find := func(x int) int {
		for parent[x] != x {
			parent[x] = parent[parent[x]]
			x = parent[x]
		}
		return x
	}
	global := false
	for _, i := range kept {
		in := &ops[i].Input
		if commands[in.Cmd].global() {
			global = true
			continue
		}
		first := -1
		for _, k := range in.Keys {
			id, ok := keyID[k]
			if !ok {
				id = len(parent)
				keyID[k] = id
				parent = append(parent, id)
			}
			if first < 0 {
				first = id
			} else if a, b := find(first), find(id); a != b {
				parent[b] = a
			}
		}
	}

	values := &[]string{""} // id 0 is absent
	valueID := map[string]int32{}
	intern := func(v string) int32 {
		if n, ok := smallInt(v); ok {
			return intID(n)
		}
		id, ok := valueID[v]
		if !ok {
			id = int32(len(*values))
			valueID[v] = id
			*values = append(*values, v)
		}
		return id
	}

	type component struct {
		names *names
		keyIx map[string]int32
	}
	compOfRoot := map[int]int{}
	var comp []component
	for _, i := range kept {
		op := &ops[i]
		ci := 0
		if !global {
			root := find(keyID[op.Input.Keys[0]])
			var ok bool
			if ci, ok = compOfRoot[root]; !ok {
				ci = len(comp)
				compOfRoot[root] = ci
			}
		}
		if ci == len(comp) {
			comp = append(comp, component{names: &names{values: values}, keyIx: map[string]int32{}})
			comps = append(comps, nil)
		}
		cc := &comp[ci]

		keyIndex := func(k string) int32 {
			ix, ok := cc.keyIx[k]
			if !ok {
				ix = int32(len(cc.names.keys))
				cc.keyIx[k] = ix
				cc.names.keys = append(cc.names.keys, k)
			}
			return ix
		}
		newCall := func(in *Input) *call {
			nc := &call{
				op:       *op,
				index:    i,
				comp:     ci,
				names:    cc.names,
				cmd:      commands[in.Cmd],
				keys:     make([]int32, len(in.Keys)),
				vals:     make([]int32, len(in.Values)),
				nx:       in.NX,
				xx:       in.XX,
				get:      in.Get,
				incr:     in.Incr,
				px:       in.PX,
				unknown:  op.Unknown,
				anyCount: op.anyCount,
			}
			for j, k := range in.Keys {
				nc.keys[j] = keyIndex(k)
				nc.width = max(nc.width, int(nc.keys[j])+1)
			}
			for j, v := range in.Values {
				nc.vals[j] = intern(v)
			}
			return nc
		}
		in := newCall(&op.Input)
		for j := range op.Input.Sub {
			sub := newCall(&op.Input.Sub[j])
			in.subs = append(in.subs, sub)
		}

		var toReply func(o *Output) reply
		toReply = func(o *Output) reply {
			out := reply{kind: o.Kind, n: o.Int}
			switch o.Kind {
			case OutBulk:
				out.val = intern(o.Str)
			case OutArray:
				out.vals = make([]int32, len(o.Strs))
				for j, s := range o.Strs {
					if s != nil {
						out.vals[j] = intern(*s)
					}
				}
				for j := range o.Items {
					out.items = append(out.items, toReply(&o.Items[j]))
				}
			}
			return out
		}
		out := &reply{kind: op.Output.Kind, n: op.Output.Int}
		if !op.Unknown {
			*out = toReply(&op.Output)
		}

		in.boundBy, in.ret = p.boundBy[i], p.ret[i]
		for _, sub := range in.subs {
			sub.boundBy, sub.ret = in.boundBy, in.ret
		}
		comps[ci] = append(comps[ci], porcupine.Operation{
			ClientId: op.Client,
			Input:    in,
			Call:     op.Call,
			Output:   out,
			Return:   in.ret,
			Metadata: in,
		})
	}
	return comps, droppedOps
}
