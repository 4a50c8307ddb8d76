package checker

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/anishathalye/porcupine"
)

// MaxPictureOps bounds the ops one picture draws: porcupine's page takes
// about 270 bytes an op, so a picture stays under about 1.5 MB.
const MaxPictureOps = 5000

// WriteHTML writes porcupine's visualization to path, within the timeout
// given to Check; see WriteHTMLWithin.
func (r Result) WriteHTML(path string) error { return r.WriteHTMLWithin(path, r.timeout) }

// WriteHTMLWithin writes porcupine's visualization to path within timeout
// (<= 0: as long as it takes). For a failed history it draws only the
// smallest failed unit (a key's projection, or a component), cut after the
// return that makes it fail (see shortestFailingPrefix); for a linearizable
// one, the whole history. It refuses, with an error, to draw more than
// MaxPictureOps ops.
//
// It reruns porcupine in verbose mode, since collecting partial
// linearizations slows the search and is only needed for the picture; a
// search cut short still draws the linearizations found so far.
func (r Result) WriteHTMLWithin(path string, timeout time.Duration) error {
	start := time.Now()
	var history []porcupine.Operation
	if len(r.failed) > 0 {
		smallest := slices.MinFunc(r.failed, func(a, b unit) int { return len(a.ops) - len(b.ops) })
		history = smallest.ops
		if !r.TimedOut {
			history = shortestFailingPrefix(history, deadlineAfter(timeout/2))
		}
	} else {
		for _, u := range r.all {
			history = append(history, u.ops...)
		}
	}
	if len(history) > MaxPictureOps {
		return fmt.Errorf("checker: not drawing %d ops to %s: more than %d", len(history), path, MaxPictureOps)
	}
	left := time.Duration(0)
	if timeout > 0 {
		if left = timeout - time.Since(start); left <= 0 {
			left = time.Nanosecond // draw what a search of no time finds
		}
	}
	_, info := porcupine.CheckOperationsVerbose(model, history, left)
	if err := porcupine.VisualizePath(model, info, path); err != nil {
		return fmt.Errorf("checker: writing visualization of %d ops to %s: %w", len(history), path, err)
	}
	return nil
}

func deadlineAfter(d time.Duration) time.Time {
	if d <= 0 {
		return time.Time{}
	}
	return time.Now().Add(d)
}

// shortestFailingPrefix returns the shortest prefix of ops, a history that
// is not linearizable, that porcupine shows not linearizable before
// deadline (zero: none); ops itself if none is shown.
//
// The prefix up to time t holds the ops called before t; one still
// pending at t becomes an unknown outcome (a read is dropped). That is
// sound: in a linearization of the whole history, nothing called after t
// comes before an op that returned by t, so restricted to the prefix it
// linearizes the prefix. Hence a prefix that is not linearizable proves
// the same of every longer one, and bisection over return times finds the
// shortest in a few searches, each smaller than the whole.
func shortestFailingPrefix(ops []porcupine.Operation, deadline time.Time) []porcupine.Operation {
	var returns []int64
	for _, o := range ops {
		if o.Return != math.MaxInt64 {
			returns = append(returns, o.Return)
		}
	}
	slices.Sort(returns)
	returns = slices.Compact(returns)
	best := ops
	lo, hi := 0, len(returns) // the answer's index lies in [lo, hi]
	for lo < hi {
		left := time.Duration(0)
		if !deadline.IsZero() {
			if left = time.Until(deadline); left <= 0 {
				break
			}
		}
		mid := (lo + hi) / 2
		p := prefixAt(ops, returns[mid])
		if porcupine.CheckOperationsTimeout(model, p, left) == porcupine.Illegal {
			best, hi = p, mid
		} else {
			lo = mid + 1
		}
	}
	return best
}

// prefixAt is the prefix of ops up to and including the returns at time t.
func prefixAt(ops []porcupine.Operation, t int64) []porcupine.Operation {
	var p []porcupine.Operation
	for _, o := range ops {
		if o.Call > t {
			continue
		}
		if o.Return > t {
			c := *o.Input.(*call)
			if c.cmd.readOnly() {
				continue
			}
			c.unknown, c.anyCount, c.boundBy, c.ret = true, false, -1, math.MaxInt64
			c.op.Unknown = true // described as the search saw it
			c.subs = slices.Clone(c.subs)
			for i, sub := range c.subs {
				u := *sub
				u.unknown, u.boundBy, u.ret, u.op = true, -1, math.MaxInt64, c.op
				c.subs[i] = &u
			}
			o.Input, o.Metadata, o.Return = &c, &c, math.MaxInt64
		}
		p = append(p, o)
	}
	return p
}
