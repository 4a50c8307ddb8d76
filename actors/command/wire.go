package command

import (
	"strconv"
	"strings"

	"castkv/actors/wire"
)

// ToWire is c as a data server receives it: parsed once, by the API server.
func ToWire(c *Command) *wire.Command {
	w := &wire.Command{Kind: uint32(c.Kind), Name: c.Name, Keys: c.Keys, Values: c.Values, Nx: c.NX, Xx: c.XX, Get: c.Get, Txn: c.Txn,
		Ints: c.Ints, Incr: c.Incr, Ttl: uint32(c.TTL.Kind), TtlMs: c.TTL.Ms, Gt: c.GT, Lt: c.LT, Watch: c.Watch}
	for _, s := range c.Sub {
		w.Sub = append(w.Sub, ToWire(s))
	}
	return w
}

// FromWire is a command a data server received, checked as Parse checks
// argv: the shape of each kind (keys, values, options) must be one Parse
// can produce. A malformed one, from a bug or a stray peer, gets an error
// reply and does nothing. The command's slices alias w's; Args is nil.
func FromWire(w *wire.Command) (*Command, *wire.Reply) {
	if w == nil {
		return nil, Error("ERR malformed command: none")
	}
	if Kind(w.Kind) == Multi {
		return multiFromWire(w)
	}
	if Kind(w.Kind) == TxnPrewrite && (len(w.Sub) > 0 || w.Watch != nil) {
		return blockPrewriteFromWire(w)
	}
	if len(w.Sub) > 0 || w.Watch != nil {
		return nil, Error("ERR malformed command: " + Kind(w.Kind).String() + " with commands of a block, or what WATCH saw")
	}
	c := &Command{Kind: Kind(w.Kind), Name: w.Name, Keys: w.Keys, Values: w.Values, NX: w.Nx, XX: w.Xx, Get: w.Get, Txn: w.Txn,
		Ints: w.Ints, Incr: w.Incr, TTL: TTL{TTLKind(w.Ttl), w.TtlMs}, GT: w.Gt, LT: w.Lt}
	keys, values := len(c.Keys), len(c.Values)
	ok := true
	switch c.Kind {
	case Get:
		ok = keys == 1 && values == 0
	case Set, SetNX, SetXX, GetSet:
		ok = keys == 1 && values == 1
	case MGet, Exists, Del, Watch:
		ok = keys >= 1 && values == 0
	case MSet, MSetNX:
		ok = keys >= 1 && values == keys
	case DBSize, FlushAll, TxnLocks:
		ok = keys == 0 && values == 0
	case TxnPrewrite:
		ok = keys >= 1 && (values == keys) != (c.Txn != nil && c.Txn.Delete) && (values == 0 || values == keys)
	case TxnCommit:
		ok = keys >= 1 && values == 0 && c.Txn != nil && (c.Txn.CommitTs > c.Txn.StartTs || c.Txn.Rollback)
	case TxnCheck, TxnForget:
		ok = keys == 1 && values == 0
	case IncrBy:
		ok = keys == 1 && values == 0 && len(c.Ints) == 1
	case IncrByFloat:
		ok = keys == 1 && values == 0 && len(c.Incr) > 0
	case Append:
		ok = keys == 1 && values == 1
	case StrLen, GetDel, Type:
		ok = keys == 1 && values == 0
	case GetRange:
		ok = keys == 1 && values == 0 && len(c.Ints) == 2
	case SetRange:
		ok = keys == 1 && values == 1 && len(c.Ints) == 1 && c.Ints[0] >= 0
	case Expire:
		ok = keys == 1 && values == 0 && (c.TTL.Kind == TTLIn || c.TTL.Kind == TTLAt)
	case Persist, TTLOf:
		ok = keys == 1 && values == 0
	case GetEx:
		ok = keys == 1 && values == 0 && c.TTL.Kind != TTLKeep
	case Scan:
		ok = keys == 0 && values <= 1 && len(c.Ints) == scanInts && c.Ints[scanCount] >= 1 &&
			c.Ints[scanType] >= scanAnyType && c.Ints[scanType] <= scanNoType
	case KeysMatching:
		ok = keys == 0 && values == 1
	case Rename, Copy:
		ok = keys == 2 && values == 0
	default:
		ok = false
	}
	if len(c.Ints) > 0 && c.Kind != IncrBy && c.Kind != GetRange && c.Kind != SetRange && c.Kind != Scan || len(c.Incr) > 0 && c.Kind != IncrByFloat {
		ok = false
	}
	if c.Kind != Set && c.Kind != Expire && (c.NX || c.XX) && !(c.Kind == Copy && !c.NX) || c.Kind != Set && c.Get || c.NX && c.XX {
		ok = false
	}
	if !validTTL(c) {
		ok = false
	}
	if isTxn := c.Kind >= TxnPrewrite && c.Kind <= TxnForget; isTxn != (c.Txn != nil) || isTxn && (c.Txn.StartTs == 0 || len(c.Txn.Primary) == 0) {
		ok = false
	}
	if !ok {
		return nil, Error("ERR malformed command: " + c.Kind.String() + " with " + strconv.Itoa(keys) + " keys and " + strconv.Itoa(values) + " values")
	}
	return c, nil
}

// multiFromWire checks a MULTI block: one or more commands, each as
// FromWire checks it, none a block, a transaction step or a command over
// every key, and the block's keys exactly theirs.
func multiFromWire(w *wire.Command) (*Command, *wire.Reply) {
	bad := func(why string) (*Command, *wire.Reply) { return nil, Error("ERR malformed command: Multi " + why) }
	if len(w.Sub) == 0 && w.Watch == nil || len(w.Values) > 0 || w.Txn != nil || w.Nx || w.Xx || w.Get || len(w.Ints) > 0 || len(w.Incr) > 0 ||
		w.Ttl != 0 || w.TtlMs != 0 || w.Gt || w.Lt {
		return bad("with no commands, or with arguments of its own")
	}
	if wa := w.Watch; wa != nil && (len(wa.Keys) == 0 || len(wa.Keys) != len(wa.Versions)) {
		return bad("with a malformed WATCH")
	}
	c := &Command{Kind: Multi, Name: w.Name, Watch: w.Watch}
	if reply := c.blockFromWire(w, bad); reply != nil {
		return nil, reply
	}
	return c, nil
}

// blockPrewriteFromWire checks the prewrite of a MULTI block's part on one
// shard (a block across shards, actors/api/txn.go): its commands as a
// block's and what WATCH saw of the shard's watched keys (either may be
// missing), its keys theirs, no values of its own.
func blockPrewriteFromWire(w *wire.Command) (*Command, *wire.Reply) {
	bad := func(why string) (*Command, *wire.Reply) {
		return nil, Error("ERR malformed command: TxnPrewrite of a block " + why)
	}
	t := w.Txn
	if t == nil || t.StartTs == 0 || len(t.Primary) == 0 || t.Delete || t.CountLive || t.CommitTs != 0 || t.Rollback ||
		len(w.Values) > 0 || w.Nx || w.Xx || w.Get || len(w.Ints) > 0 || len(w.Incr) > 0 || w.Ttl != 0 || w.TtlMs != 0 || w.Gt || w.Lt {
		return bad("with arguments of its own")
	}
	if wa := w.Watch; wa != nil && (len(wa.Keys) == 0 || len(wa.Keys) != len(wa.Versions)) {
		return bad("with a malformed WATCH")
	}
	c := &Command{Kind: TxnPrewrite, Name: w.Name, Txn: t, Watch: w.Watch}
	if reply := c.blockFromWire(w, bad); reply != nil {
		return nil, reply
	}
	return c, nil
}

// blockFromWire reads w's commands into c.Sub, each as FromWire checks
// it, none a block, a transaction step or a command over every key, and
// checks that w's keys are theirs (then WATCH's), in order.
func (c *Command) blockFromWire(w *wire.Command, bad func(string) (*Command, *wire.Reply)) *wire.Reply {
	for _, ws := range w.Sub {
		if Kind(ws.Kind) == Multi {
			_, r := bad("inside a block")
			return r
		}
		s, reply := FromWire(ws)
		if reply != nil {
			return reply
		}
		if s.Txn != nil || s.AllKeys() || s.Kind == ClusterInfo || s.Kind == ClusterShards || s.Kind == Watch || s.Kind == Scan {
			_, r := bad("with a " + s.Kind.String())
			return r
		}
		c.Sub = append(c.Sub, s)
		c.Keys = append(c.Keys, s.Keys...)
	}
	if w.Watch != nil {
		c.Keys = append(c.Keys, w.Watch.Keys...)
	}
	same := len(c.Keys) == len(w.Keys)
	for i := 0; same && i < len(c.Keys); i++ {
		same = string(c.Keys[i]) == string(w.Keys[i])
	}
	if !same {
		_, r := bad("whose keys are not its commands'")
		return r
	}
	c.Keys = w.Keys
	return nil
}

// ExecArgs is the argument vector the RESP port sends for a MULTI block
// of cmds (each an argument vector): EXEC, then each command's argument
// count and arguments. What WATCH saw, if anything, comes first, as a
// command of its own: WATCH, its timestamp, then each key and its
// version. ParseExec reads it back.
func ExecArgs(cmds [][][]byte, watch *wire.Watch) [][]byte {
	args := [][]byte{[]byte("EXEC")}
	if watch != nil {
		w := [][]byte{[]byte("WATCH"), strconv.AppendUint(nil, watch.Ts, 10)}
		for i, k := range watch.Keys {
			w = append(w, k, strconv.AppendUint(nil, watch.Versions[i], 10))
		}
		cmds = append([][][]byte{w}, cmds...)
	}
	for _, c := range cmds {
		args = append(args, strconv.AppendInt(nil, int64(len(c)), 10))
		args = append(args, c...)
	}
	return args
}

// parseExec reads ExecArgs's vector into a Multi, each command parsed as
// Parse parses it; args[0] is EXEC.
func parseExec(args [][]byte) (*Command, *wire.Reply) {
	c := &Command{Kind: Multi, Name: "exec", Args: args}
	for rest := args[1:]; len(rest) > 0; {
		n, err := strconv.Atoi(string(rest[0]))
		if err != nil || n < 1 || n > len(rest)-1 {
			return nil, Error("ERR malformed EXEC: a command's argument count is missing or wrong")
		}
		if Name(rest[1:2]) == "watch" {
			if c.Watch != nil || len(c.Sub) > 0 {
				return nil, Error("ERR malformed EXEC: WATCH is not first")
			}
			if c.Watch = parseWatched(rest[2 : 1+n]); c.Watch == nil {
				return nil, Error("ERR malformed EXEC: what WATCH saw is malformed")
			}
			rest = rest[1+n:]
			continue
		}
		s, reply := Parse(rest[1 : 1+n])
		if reply != nil {
			return nil, reply
		}
		if s.Kind == Multi || s.AllKeys() || s.Kind == ClusterInfo || s.Kind == ClusterShards || s.Kind == Scan || s.Kind == Watch {
			return nil, Error("ERR " + strings.ToUpper(s.Name) + " cannot run inside MULTI")
		}
		c.Sub = append(c.Sub, s)
		c.Keys = append(c.Keys, s.Keys...)
		rest = rest[1+n:]
	}
	if len(c.Sub) == 0 && c.Watch == nil {
		return nil, Error("ERR malformed EXEC: no commands")
	}
	if c.Watch != nil {
		c.Keys = append(c.Keys, c.Watch.Keys...)
	}
	return c, nil
}

// parseWatched reads ExecArgs's WATCH arguments after the name: the
// timestamp, then key and version pairs; nil if malformed.
func parseWatched(args [][]byte) *wire.Watch {
	if len(args) < 3 || len(args)%2 != 1 {
		return nil
	}
	ts, err := strconv.ParseUint(string(args[0]), 10, 64)
	if err != nil {
		return nil
	}
	w := &wire.Watch{Ts: ts}
	for i := 1; i < len(args); i += 2 {
		v, err := strconv.ParseUint(string(args[i+1]), 10, 64)
		if err != nil {
			return nil
		}
		w.Keys = append(w.Keys, args[i])
		w.Versions = append(w.Versions, v)
	}
	return w
}
