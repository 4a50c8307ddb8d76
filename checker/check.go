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
	// linearizable or, when none is, of each that timed out.
	Failed [][]string

	failed     []int // components behind Failed
	components [][]porcupine.Operation
	timeout    time.Duration
}

// Check decides whether ops, a history of castkv client commands, is
// linearizable. Each component gets porcupine's search on its own, largest
// first on GOMAXPROCS workers, all within one timeout (timeout <= 0: none).
// Every component is checked even after a violation, so the verdict and
// Failed do not depend on scheduling unless the timeout is hit.
//
// Check panics on an op it cannot interpret (an unknown command, a wrong
// number of keys or values, a missing output kind): that is a bug in the
// code that recorded the history.
func Check(ops []Op, timeout time.Duration) Result {
	comps, dropped := compile(ops)
	res := Result{
		Components: len(comps),
		Ops:        len(ops) - dropped,
		Dropped:    dropped,
		components: comps,
		timeout:    timeout,
	}

	order := make([]int, len(comps))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return len(comps[b]) - len(comps[a]) })

	verdicts := make([]porcupine.CheckResult, len(comps))
	deadline := time.Now().Add(timeout)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(comps)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				var left time.Duration // zero: porcupine waits as long as it takes
				if timeout > 0 {
					if left = time.Until(deadline); left <= 0 {
						verdicts[i] = porcupine.Unknown
						continue
					}
				}
				verdicts[i] = porcupine.CheckOperationsTimeout(model, comps[i], left)
			}
		}()
	}
	for _, i := range order {
		jobs <- i
	}
	close(jobs)
	wg.Wait()

	var unknown []int
	for i, v := range verdicts {
		switch v {
		case porcupine.Illegal:
			res.failed = append(res.failed, i)
		case porcupine.Unknown:
			unknown = append(unknown, i)
		}
	}
	switch {
	case len(res.failed) > 0:
	case len(unknown) > 0:
		res.TimedOut = true
		res.failed = unknown
	default:
		res.Linearizable = true
	}
	for _, i := range res.failed {
		keys := slices.Clone(comps[i][0].Input.(*call).names.keys)
		slices.Sort(keys)
		res.Failed = append(res.Failed, keys)
	}
	return res
}

// String summarizes the verdict in one line, naming the keys of up to
// maxDescribedComponents failed components.
func (r Result) String() string {
	verdict := "linearizable"
	switch {
	case r.TimedOut:
		verdict = fmt.Sprintf("undecided within %s on keys %s", r.timeout, describeKeySets(r.Failed))
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

// WriteHTML writes porcupine's visualization of the failed components, or of
// the whole history when it is linearizable, to path. It reruns porcupine in
// verbose mode on those components (within the timeout given to Check),
// since collecting partial linearizations slows the search and is only
// needed for the picture.
func (r Result) WriteHTML(path string) error {
	var history []porcupine.Operation
	if len(r.failed) > 0 {
		for _, i := range r.failed {
			history = append(history, r.components[i]...)
		}
	} else {
		for _, c := range r.components {
			history = append(history, c...)
		}
	}
	timeout := r.timeout
	if timeout < 0 {
		timeout = 0
	}
	_, info := porcupine.CheckOperationsVerbose(model, history, timeout)
	if err := porcupine.VisualizePath(model, info, path); err != nil {
		return fmt.Errorf("checker: writing visualization of %d ops to %s: %w", len(history), path, err)
	}
	return nil
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
		c := commands[op.Input.Cmd]
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

		in := &call{
			op:      *op,
			index:   i,
			comp:    ci,
			names:   cc.names,
			cmd:     c,
			keys:    make([]int32, len(op.Input.Keys)),
			vals:    make([]int32, len(op.Input.Values)),
			nx:      op.Input.NX,
			xx:      op.Input.XX,
			get:     op.Input.Get,
			unknown: op.Unknown,
		}
		for j, k := range op.Input.Keys {
			ix, ok := cc.keyIx[k]
			if !ok {
				ix = int32(len(cc.names.keys))
				cc.keyIx[k] = ix
				cc.names.keys = append(cc.names.keys, k)
			}
			in.keys[j] = ix
			in.width = max(in.width, int(ix)+1)
		}
		for j, v := range op.Input.Values {
			in.vals[j] = intern(v)
		}

		out := &reply{kind: op.Output.Kind, n: op.Output.Int}
		if !op.Unknown {
			switch op.Output.Kind {
			case OutBulk:
				out.val = intern(op.Output.Str)
			case OutArray:
				out.vals = make([]int32, len(op.Output.Strs))
				for j, s := range op.Output.Strs {
					if s != nil {
						out.vals[j] = intern(*s)
					}
				}
			}
		}

		in.boundBy, in.ret = p.boundBy[i], p.ret[i]
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
