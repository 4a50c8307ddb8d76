package sim

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"castkv/checker"
)

// Bounds on checking one run, so that a sweep of seeds that fail stays
// about as fast as one of seeds that pass. Porcupine's search proves a
// violation only by exhausting the orderings, so it is bounded in wall
// time; a bound hit is "undecided", which fails the run like a violation.
// checker.Check refutes one key's ops first, which takes milliseconds for
// every canary of the sweep, and a clean run's history of 13k ops passes
// in 0.4 s: checkBudget leaves room for a loaded machine.
//
// A run without a canary that has not failed otherwise gets
// cleanCheckBudget: its history is almost surely linearizable, and the
// rare hard one is a history with many uncertain writes on few keys (seed
// 1730 of 1-2000: 83 uncertain ops on one key, decided in 14 s), which the
// short budget would fail as undecided. (workload.go's maxUncertainWrites
// keeps such histories rare.) A canary run is expected to
// fail, and failing histories are what porcupine takes longest on: it
// gets checkBudget, so a 200-seed canary sweep stays within minutes.
const (
	checkBudget      = 10 * time.Second
	cleanCheckBudget = 60 * time.Second
	// classifyBudget bounds the second search, which only tells a lost
	// write (durability) from a stale or wrong reply (linearizability).
	classifyBudget = 2 * time.Second
	pictureBudget  = 2 * time.Second
	// A failing run's report stays small: the first few panics, each
	// line of the trail cut (roles may log a whole message).
	maxPanicsShown    = 3
	maxPanicBytes     = 300
	maxTrailLineBytes = 400
)

func (r *runner) check() *Result {
	w := r.w
	res := &Result{
		Seed: r.opts.Seed, Ops: len(r.history), AckedWrites: r.ackedWrites,
		Faults: w.faults, Trace: fmt.Sprintf("%016x", w.trace.Sum64()),
		SimSeconds: w.now.Seconds(),
	}
	var why []string
	why = append(why, w.oracle.finish(res)...)
	if len(w.panics) > 0 {
		why = append(why, "a role panicked (invariant broken): "+describePanics(w.panics))
	}

	history := r.history
	if r.work.exhausted != "" {
		// The run stopped early: no restart, no final reads, and the ops
		// in flight may yet have taken effect.
		why = append(why, r.work.exhausted)
		history = append(slices.Clip(history), r.pendingOps()...)
	} else {
		// Liveness: every client read every key back within the bound,
		// and nothing failed once the bound had passed.
		res.Live = r.done == len(r.clients)
		if !res.Live {
			why = append(why, fmt.Sprintf("liveness: %d of %d clients could not read every key back within %v after the restart", len(r.clients)-r.done, len(r.clients), 3*liveBound))
		}
		if ok, msg := checker.CheckLiveness(r.history, int64(r.restartedAt), int64(liveBound)); !ok {
			res.Live = false
			why = append(why, "liveness: "+msg)
		}
	}

	// One linearizability check covers consistency and durability: the
	// final reads are part of the history. To tell which failed, check the
	// history without them when the whole fails.
	budget := checkBudget
	if r.opts.Canary == "" && len(why) == 0 {
		budget = cleanCheckBudget
	}
	if r.opts.CheckBudget > 0 {
		budget = r.opts.CheckBudget
	}
	full := checker.Check(history, budget)
	res.Linearizable, res.Durable = full.Linearizable, full.Linearizable
	switch {
	case full.Linearizable:
	case full.TimedOut:
		why = append(why, undecidedViolation(full))
	case r.work.exhausted != "":
		why = append(why, "linearizability: "+full.String())
	default:
		before := checker.Check(r.beforeRestart(), classifyBudget)
		switch {
		case before.Linearizable:
			res.Linearizable = true
			why = append(why, "durability: reads after the restart contradict acknowledged writes: "+full.String())
		case before.TimedOut:
			why = append(why, fmt.Sprintf("linearizability or durability (the history before the restart was undecided within %v): %s", classifyBudget, full))
		default:
			why = append(why, "linearizability: "+full.String())
		}
	}
	if len(w.panics) > 0 {
		res.Linearizable = false
	}
	// The picture is of what failed linearizability; a liveness failure or
	// a broken invariant is told by the trail.
	if !full.Linearizable && r.opts.HTMLPath != "" {
		if err := full.WriteHTMLWithin(r.opts.HTMLPath, pictureBudget); err == nil {
			res.HTML = r.opts.HTMLPath
		} else {
			why = append(why, pictureLine+err.Error())
		}
	}
	res.Violation = strings.Join(why, "\n")
	if res.Violation != "" {
		res.Trail = w.logs.Lines()
		for i, line := range res.Trail {
			res.Trail[i] = truncate(line, maxTrailLineBytes)
		}
	}
	return res
}

// Violation lines that say no more than that the check ran out of time.
const (
	undecidedPrefix = "linearizability undecided: "
	pictureLine     = "picture: "
)

func undecidedViolation(full checker.Result) string {
	return undecidedPrefix + full.String() + "; an undecided check fails the run"
}

// Undecided reports whether the run failed only because porcupine could not
// decide its history in time: a verdict that may differ on a faster or less
// loaded machine.
func (r *Result) Undecided() bool {
	if r.Violation == "" {
		return false
	}
	for _, line := range strings.Split(r.Violation, "\n") {
		if !strings.HasPrefix(line, undecidedPrefix) && !strings.HasPrefix(line, pictureLine) {
			return false
		}
	}
	return true
}

// pendingOps are the requests clients were still waiting on, as unknown
// outcomes.
func (r *runner) pendingOps() []checker.Op {
	var out []checker.Op
	for _, c := range r.clients {
		if c.pending != nil {
			op := c.pending.op
			op.Return, op.Unknown = int64(r.w.now), true
			out = append(out, op)
		}
	}
	return out
}

func (r *runner) beforeRestart() []checker.Op {
	var out []checker.Op
	for _, op := range r.history {
		if op.Call < int64(r.restartedAt) {
			out = append(out, op)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Call < out[j].Call })
	return out
}

func describePanics(panics []string) string {
	var b strings.Builder
	for i, p := range panics {
		if i == maxPanicsShown {
			fmt.Fprintf(&b, "; and %d more", len(panics)-i)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(truncate(p, maxPanicBytes))
	}
	return b.String()
}

// truncate cuts s to at most n bytes, on a rune boundary, saying so.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s…(%d bytes)", s[:cut], len(s))
}
