package sim

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"castkv/actors"
	"castkv/actors/command"
	"castkv/actors/wire"
	"castkv/checker"
)

// client is a simulated Redis client: one request at a time, each with a
// timeout, recorded as a porcupine operation in virtual time. It is a role
// like any other, but it lives here: it reads the world's clock to record
// the history.
type client struct {
	r   *runner
	idx int
	env actors.Env

	porcID   int // retired after an unknown outcome
	nextReq  uint64
	pending  *pendingOp
	written  int
	final    []string // keys still to read back in the final phase
	finished bool
}

type pendingOp struct {
	id    uint64
	api   actors.Addr
	op    checker.Op
	timer actors.TimerID
}

// clientTimeout is beyond the API's own request deadline.
const clientTimeout = 12 * time.Second

// finalThinkMax bounds a client's pause between its final reads.
const finalThinkMax = 20 * time.Millisecond

// unknownBackoff is how long a client waits after an unknown outcome.
const unknownBackoff = time.Second

func (c *client) Start(env actors.Env) {
	c.env = env
	c.think()
}

func (c *client) think() {
	c.thinkAtLeast(0)
}

// thinkAtLeast waits least plus up to the run's think time, then issues
// the next request.
func (c *client) thinkAtLeast(least time.Duration) {
	most := c.r.thinkMax
	if c.r.finalPhase {
		// Reading every key back is a check, not load: a client with a
		// long think time and many keys must still finish in the bound.
		most, least = min(most, finalThinkMax), 0
	}
	d := least + time.Duration(c.r.w.rng.Int64N(int64(most)+1))
	c.env.After(d, &wire.Tick{Kind: wire.Tick_THINK})
}

func (c *client) Handle(env actors.Env, from actors.Addr, m actors.Msg) {
	switch x := m.(type) {
	case *wire.Tick:
		switch {
		case x.Kind == wire.Tick_THINK:
			c.issue()
		case x.Kind == wire.Tick_EXPIRE && c.pending != nil && x.Id == c.pending.id:
			c.complete(checker.Output{}, true)
		}
	case *wire.ClientReply:
		if c.pending != nil && x.Id == c.pending.id {
			env.Cancel(c.pending.timer)
			out, unknown := toOutput(x.Reply)
			if c.pending.op.Input.Cmd == "exec" {
				out, unknown = execOutput(x.Reply)
			}
			c.complete(out, unknown)
		}
	}
}

// issue sends the next command: the workload while the run goes on, then
// a read of every key once the cluster was healed and restarted.
func (c *client) issue() {
	r := c.r
	if c.finished {
		return
	}
	var in checker.Input
	switch {
	case r.finalPhase && c.final == nil && !c.finished:
		c.final = append([]string(nil), r.keys...)
		fallthrough
	case r.finalPhase:
		in = checker.Input{Cmd: "get", Keys: []string{c.final[0]}}
	default:
		in = r.workload.next(c)
	}
	// A crashed API server refuses the connection: nothing is sent, so
	// nothing is recorded; the client tries again after thinking.
	m := r.apis[r.w.rng.IntN(len(r.apis))]
	if !m.up {
		c.think()
		return
	}
	api := m.addr
	c.nextReq++
	c.pending = &pendingOp{id: c.nextReq, api: api, op: checker.Op{Client: c.porcID, Call: int64(r.w.now), Input: in}}
	c.pending.timer = c.env.After(clientTimeout, &wire.Tick{Kind: wire.Tick_EXPIRE, Id: c.nextReq})
	c.env.Send(api, &wire.ClientRequest{Id: c.nextReq, Args: toArgs(in, c.r.wireKey)})
	if (in.Cmd == "mget" || in.Cmd == "exists") && r.shardsOf(in.Keys) > 1 {
		r.w.faults[CountSplitRead]++
	}
}

func (c *client) complete(out checker.Output, unknown bool) {
	r := c.r
	p := c.pending
	c.pending = nil
	op := p.op
	op.Return = int64(r.w.now)
	op.Output = out
	op.Unknown = unknown
	r.history = append(r.history, op)
	if unknown {
		c.porcID = r.newPorcID()
		if isWrite(op.Input.Cmd) {
			r.workload.uncertainWrite(op.Input)
		}
	} else if out.Kind != checker.OutErr && isWrite(op.Input.Cmd) {
		r.ackedWrites++
		if op.Input.Cmd == "incrby" {
			r.w.faults[CountIncr]++
		}
		if op.Input.PX > 0 && (op.Input.Cmd != "pexpire" || out.Int == 1) {
			r.w.faults[CountTTLSet]++
		}
		switch {
		case op.Input.Cmd == "msetnx" && out.Int == 1:
			r.w.faults[CountMSetNX]++
		case op.Input.Cmd == "rename":
			r.w.faults[CountRename]++
		case op.Input.Cmd == "exec":
			r.w.faults[CountExec]++
		}
	}
	if c.final != nil && !unknown && out.Kind != checker.OutErr {
		c.final = c.final[1:]
		if len(c.final) == 0 {
			c.finished = true
			r.clientDone(c)
			return
		}
	}
	if unknown {
		// A client backs off after a timeout or a reset connection, as
		// real clients do. Without it, an outage or an API crash loop
		// turns every client into a stream of unknown outcomes, each
		// pending to the end of the history: 60 of 377 ops in one run,
		// more than porcupine can decide.
		c.thinkAtLeast(unknownBackoff)
		return
	}
	c.think()
}

func isWrite(cmd string) bool {
	switch cmd {
	case "get", "mget", "exists", "dbsize":
		return false
	}
	return true
}

// toArgs renders an input as the RESP arguments a client would send, each
// history key as wireKey names it.
func toArgs(in checker.Input, wireKey func(string) string) [][]byte {
	args := [][]byte{[]byte(strings.ToUpper(in.Cmd))}
	key := func(i int) []byte { return []byte(wireKey(in.Keys[i])) }
	switch in.Cmd {
	case "exec":
		block := make([][][]byte, len(in.Sub))
		for i, sub := range in.Sub {
			block[i] = toArgs(sub, wireKey)
		}
		return command.ExecArgs(block, nil) // as the RESP port sends MULTI ... EXEC
	case "mset", "msetnx":
		for i := range in.Keys {
			args = append(args, key(i), []byte(expandValue(in.Values[i])))
		}
	case "set":
		args = append(args, key(0), []byte(expandValue(in.Values[0])))
		if in.NX {
			args = append(args, []byte("NX"))
		}
		if in.XX {
			args = append(args, []byte("XX"))
		}
		if in.Get {
			args = append(args, []byte("GET"))
		}
		if in.PX > 0 {
			args = append(args, []byte("PX"), strconv.AppendInt(nil, in.PX, 10))
		}
	case "pexpire":
		args = append(args, key(0), strconv.AppendInt(nil, in.PX, 10))
	case "setnx", "setxx", "getset":
		args = append(args, key(0), []byte(expandValue(in.Values[0])))
	case "incrby":
		switch {
		case in.Incr == 1:
			args = [][]byte{[]byte("INCR"), key(0)}
		case in.Incr == -1:
			args = [][]byte{[]byte("DECR"), key(0)}
		case in.Incr < 0:
			args = [][]byte{[]byte("DECRBY"), key(0), strconv.AppendInt(nil, -in.Incr, 10)}
		case in.Incr%2 == 0:
			args = [][]byte{[]byte("DECRBY"), key(0), strconv.AppendInt(nil, -in.Incr, 10)}
		default:
			args = append(args, key(0), strconv.AppendInt(nil, in.Incr, 10))
		}
	default:
		for i := range in.Keys {
			args = append(args, key(i))
		}
	}
	return args
}

// toOutput turns a reply into a history output, values in their short
// form (compactValue). Errors that say the
// request was refused before it could take effect (TRYAGAIN, CLUSTERDOWN)
// are definite; any other error is an unknown outcome.
func toOutput(rep *wire.Reply) (checker.Output, bool) {
	switch rep.GetKind() {
	case wire.Reply_STATUS:
		return checker.Output{Kind: checker.OutOK}, false
	case wire.Reply_NIL:
		return checker.Output{Kind: checker.OutNil}, false
	case wire.Reply_INT:
		return checker.Output{Kind: checker.OutInt, Int: rep.Int}, false
	case wire.Reply_BULK:
		return checker.Output{Kind: checker.OutBulk, Str: compactValue(string(rep.Bulk))}, false
	case wire.Reply_ARRAY:
		out := checker.Output{Kind: checker.OutArray}
		for _, e := range rep.Array {
			if e.Kind == wire.Reply_NIL {
				out.Strs = append(out.Strs, nil)
			} else {
				s := compactValue(string(e.Bulk))
				out.Strs = append(out.Strs, &s)
			}
		}
		return out, false
	case wire.Reply_ERROR:
		// An INCR of a value that is not an integer, or a RENAME of an
		// absent key, was evaluated where the shard orders its writes: a
		// definite answer the model checks.
		if strings.HasPrefix(rep.Str, "TRYAGAIN") || strings.HasPrefix(rep.Str, "CLUSTERDOWN") ||
			rep.Str == checker.NotIntegerError || rep.Str == checker.NoSuchKeyError {
			return checker.Output{Kind: checker.OutErr, Err: rep.Str}, false
		}
		return checker.Output{Kind: checker.OutErr, Err: rep.Str}, true
	}
	panic(fmt.Sprintf("sim: unexpected reply kind %v", rep.GetKind()))
}

// execOutput turns an EXEC's reply into a history output: its commands'
// replies as Items. An error in place of one, but an INCR's refusal of a
// value that is not an integer (which Redis gives there too), makes the
// outcome unknown: castkv runs a block whole or not at all.
func execOutput(rep *wire.Reply) (checker.Output, bool) {
	if rep.GetKind() != wire.Reply_ARRAY {
		return toOutput(rep)
	}
	out := checker.Output{Kind: checker.OutArray, Items: []checker.Output{}}
	for _, e := range rep.Array {
		item, _ := toOutput(e)
		if item.Kind == checker.OutArray || item.Kind == checker.OutErr && item.Err != checker.NotIntegerError {
			return checker.Output{Kind: checker.OutErr, Err: "unexpected reply in EXEC's array: " + item.String()}, true
		}
		out.Items = append(out.Items, item)
	}
	return out, false
}
