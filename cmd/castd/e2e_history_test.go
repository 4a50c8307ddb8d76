package main

// Recording go-redis commands as a checker history, with the simulator's
// rules (sim/client.go): TRYAGAIN and CLUSTERDOWN are definite refusals,
// any other error or a timeout is an unknown outcome, after which the
// client takes a fresh porcupine id.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"castkv/checker"

	"github.com/redis/go-redis/v9"
)

// history is a concurrent recorder of checker ops, timed from start.
type history struct {
	start time.Time

	mu         sync.Mutex
	ops        []checker.Op
	nextClient int
	problems   []string // replies no valid command should get
}

func newHistory() *history { return &history{start: time.Now()} }

func (h *history) now() int64 { return int64(time.Since(h.start)) }

func (h *history) newClientID() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.nextClient++
	return h.nextClient
}

func (h *history) add(op checker.Op, problem string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, op)
	if problem != "" {
		h.problems = append(h.problems, problem)
	}
}

// waitAck waits up to bound for an op called after from, with a command
// that match accepts, to be acknowledged, and returns when it returned.
func (h *history) waitAck(from int64, match func(cmd string) bool, bound time.Duration) (int64, bool) {
	for begin := time.Now(); time.Since(begin) < bound; time.Sleep(killPollEvery) {
		first := int64(-1)
		for _, op := range h.snapshot() {
			if op.Call > from && acked(op) && match(op.Input.Cmd) && (first < 0 || op.Return < first) {
				first = op.Return
			}
		}
		if first >= 0 {
			return first, true
		}
	}
	return 0, false
}

func (h *history) snapshot() []checker.Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]checker.Op(nil), h.ops...)
}

// recorder issues commands for one logical client and records them.
type recorder struct {
	h      *history
	c      *redis.Client
	porcID int
	// timeout bounds each command; beyond the API's own request deadline
	// (8 s), so the cluster's answer normally arrives first.
	timeout time.Duration
}

// do sends in and records it; it returns the op as recorded.
func (r *recorder) do(in checker.Input) checker.Op {
	args := toArgs(in)
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	call := r.h.now()
	res, err := r.c.Do(ctx, args...).Result()
	ret := r.h.now()
	cancel()
	out, unknown, problem := toOutput(in, res, err)
	op := checker.Op{Client: r.porcID, Call: call, Return: ret, Input: in, Output: out, Unknown: unknown}
	if problem != "" {
		problem = fmt.Sprintf("%s at %v: %s", in, time.Duration(call), problem)
	}
	r.h.add(op, problem)
	if isDialError(err) {
		time.Sleep(dialBackoff) // its API server is down: do not spin
	}
	if unknown {
		// Porcupine allows one op at a time per client, and this one may
		// still take effect.
		r.porcID = r.h.newClientID()
	}
	return op
}

// dialBackoff: a client that could not connect waits this long before its
// next command.
const dialBackoff = 50 * time.Millisecond

// isDialError: the client could not connect, so the command was never
// sent and certainly did not run (newClient's clients never retry a
// command, so a dial error is not the end of an attempt that wrote it).
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// toArgs renders in as the arguments go-redis sends.
func toArgs(in checker.Input) []any {
	args := []any{strings.ToUpper(in.Cmd)}
	switch in.Cmd {
	case "mset":
		for i, k := range in.Keys {
			args = append(args, k, in.Values[i])
		}
	case "set":
		args = append(args, in.Keys[0], in.Values[0])
		if in.NX {
			args = append(args, "NX")
		}
		if in.XX {
			args = append(args, "XX")
		}
		if in.Get {
			args = append(args, "GET")
		}
	case "setnx", "setxx", "getset":
		args = append(args, in.Keys[0], in.Values[0])
	default:
		for _, k := range in.Keys {
			args = append(args, k)
		}
	}
	return args
}

// toOutput maps a go-redis result to a history output. With RESP2, Do
// returns a status reply (+OK) and a bulk string both as a string, so the
// command decides: SET without GET and MSET answer +OK. problem is set for
// a reply that no valid command should get (an -ERR, an odd type).
func toOutput(in checker.Input, res any, err error) (out checker.Output, unknown bool, problem string) {
	switch {
	case err == redis.Nil:
		return checker.Output{Kind: checker.OutNil}, false, ""
	case err != nil && isRedisError(err):
		msg := err.Error()
		if strings.HasPrefix(msg, "TRYAGAIN") || strings.HasPrefix(msg, "CLUSTERDOWN") {
			return checker.Output{Kind: checker.OutErr, Err: msg}, false, ""
		}
		if !strings.HasPrefix(msg, "UNCERTAIN") {
			problem = "error reply " + msg
		}
		return checker.Output{Kind: checker.OutErr, Err: msg}, true, problem
	case isDialError(err): // never sent: the API server was down
		return checker.Output{Kind: checker.OutErr, Err: err.Error()}, false, ""
	case err != nil: // timeout, closed connection: the command may have run
		return checker.Output{Kind: checker.OutErr, Err: err.Error()}, true, ""
	}
	switch v := res.(type) {
	case string:
		if (in.Cmd == "set" && !in.Get) || in.Cmd == "mset" {
			if v == "OK" {
				return checker.Output{Kind: checker.OutOK}, false, ""
			}
		}
		// A bulk where +OK belongs is kept as a bulk: Check reports the
		// wrong shape as a violation.
		return checker.Output{Kind: checker.OutBulk, Str: v}, false, ""
	case int64:
		return checker.Output{Kind: checker.OutInt, Int: v}, false, ""
	case []any:
		out := checker.Output{Kind: checker.OutArray, Strs: make([]*string, len(v))}
		for i, e := range v {
			switch e := e.(type) {
			case nil:
			case string:
				out.Strs[i] = &e
			default:
				return checker.Output{Kind: checker.OutErr, Err: "bad reply"}, true, fmt.Sprintf("array element %d is %T %v", i, e, e)
			}
		}
		return out, false, ""
	}
	return checker.Output{Kind: checker.OutErr, Err: "bad reply"}, true, fmt.Sprintf("reply of type %T: %v", res, res)
}

// workload draws commands over two groups of keys: multi-key commands stay
// within a group (as {hash tags} would keep them together), so the history
// splits into two components for the checker. Values are unique: client
// id and counter.
type workload struct {
	groups [][]string
	rng    *rand.Rand
	id     int
	n      int
}

func newWorkload(id int, groups [][]string) *workload {
	return &workload{groups: groups, rng: rand.New(rand.NewPCG(uint64(id), 42)), id: id}
}

func (w *workload) value() string {
	w.n++
	return fmt.Sprintf("c%d-%d", w.id, w.n)
}

func (w *workload) keys(n int) []string {
	g := w.groups[w.rng.IntN(len(w.groups))]
	perm := w.rng.Perm(len(g))
	keys := make([]string, n)
	for i := range n {
		keys[i] = g[perm[i]]
	}
	return keys
}

// pairKeys draws one key from each group of a pair (groups 2i and 2i+1):
// with groups in different shards, an MGET of them is read from each shard
// at one timestamp and must still be one snapshot, and an MSET or DEL of
// them is a transaction across shards. Pairs, not any two
// groups, keep porcupine's components small.
func (w *workload) pairKeys() []string {
	i := 2 * w.rng.IntN(len(w.groups)/2)
	a, b := w.groups[i], w.groups[i+1]
	return []string{a[w.rng.IntN(len(a))], b[w.rng.IntN(len(b))]}
}

func (w *workload) next() checker.Input {
	p := w.rng.IntN(100)
	switch {
	case p < 25:
		return checker.Input{Cmd: "get", Keys: w.keys(1)}
	case p < 40:
		return checker.Input{Cmd: "set", Keys: w.keys(1), Values: []string{w.value()}}
	case p < 44:
		return checker.Input{Cmd: "set", Keys: w.keys(1), Values: []string{w.value()}, NX: true}
	case p < 48:
		return checker.Input{Cmd: "set", Keys: w.keys(1), Values: []string{w.value()}, XX: true}
	case p < 52:
		return checker.Input{Cmd: "set", Keys: w.keys(1), Values: []string{w.value()}, Get: true, XX: w.rng.IntN(2) == 0}
	case p < 58:
		return checker.Input{Cmd: "setnx", Keys: w.keys(1), Values: []string{w.value()}}
	case p < 62:
		return checker.Input{Cmd: "setxx", Keys: w.keys(1), Values: []string{w.value()}}
	case p < 67:
		return checker.Input{Cmd: "getset", Keys: w.keys(1), Values: []string{w.value()}}
	case p < 77:
		keys := w.keys(2 + w.rng.IntN(2))
		if len(w.groups) >= 2 && w.rng.IntN(3) == 0 {
			keys = w.pairKeys() // a transaction across shards
		}
		vals := make([]string, len(keys))
		for i := range vals {
			vals[i] = w.value()
		}
		return checker.Input{Cmd: "mset", Keys: keys, Values: vals}
	case p < 87:
		if len(w.groups) >= 2 && w.rng.IntN(3) == 0 {
			return checker.Input{Cmd: "mget", Keys: w.pairKeys()}
		}
		return checker.Input{Cmd: "mget", Keys: w.keys(2 + w.rng.IntN(2))}
	case p < 93:
		if len(w.groups) >= 2 && w.rng.IntN(3) == 0 {
			return checker.Input{Cmd: "del", Keys: w.pairKeys()}
		}
		return checker.Input{Cmd: "del", Keys: w.keys(1 + w.rng.IntN(2))}
	default:
		keys := w.keys(1 + w.rng.IntN(2))
		return checker.Input{Cmd: "exists", Keys: append(keys, keys[0])} // a key named twice counts twice
	}
}

// opStats counts a history's ops by command and outcome.
func opStats(ops []checker.Op) string {
	type counts struct{ ok, refused, unknown int }
	by := map[string]*counts{}
	var total counts
	for _, op := range ops {
		c := by[op.Input.Cmd]
		if c == nil {
			c = &counts{}
			by[op.Input.Cmd] = c
		}
		switch {
		case op.Unknown:
			c.unknown++
			total.unknown++
		case op.Output.Kind == checker.OutErr:
			c.refused++
			total.refused++
		default:
			c.ok++
			total.ok++
		}
	}
	names := make([]string, 0, len(by))
	for n := range by {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	fmt.Fprintf(&b, "%d ops: %d ok, %d refused (TRYAGAIN/CLUSTERDOWN), %d unknown;", len(ops), total.ok, total.refused, total.unknown)
	for _, n := range names {
		c := by[n]
		fmt.Fprintf(&b, " %s %d/%d/%d", n, c.ok, c.refused, c.unknown)
	}
	return b.String()
}

// errorKinds counts error replies and client errors by their first word.
func errorKinds(ops []checker.Op) string {
	by := map[string]int{}
	for _, op := range ops {
		if op.Output.Kind == checker.OutErr {
			w, _, _ := strings.Cut(op.Output.Err, " ")
			by[w]++
		}
	}
	if len(by) == 0 {
		return "none"
	}
	var parts []string
	for w, n := range by {
		parts = append(parts, fmt.Sprintf("%s×%d", w, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}
