package net

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"castkv/actors/command"
	"castkv/actors/wire"
)

// MULTI, EXEC and DISCARD, as Redis answers them. EXEC runs the queued
// commands as one atomic step:
//
//   - writes only, SET (without NX, XX or GET) and MSET: one MSET, which
//     the cluster applies atomically across shards too (a transaction);
//     each queued command's reply is OK.
//   - reads only, GET, MGET and EXISTS: one MGET, which reads every key at
//     one timestamp, across shards too, and answers each command from it.
//   - any other block of the data commands (INCR then GET, SETNX and
//     APPEND, ...): one command.Multi, run in order by the shard's primary
//     as one step of its log, each command seeing the writes before it. Its
//     keys must share a shard (a {hash tag}, or a cluster of one shard, as
//     castd dev is by default); EXEC answers CROSSSLOT otherwise, as Redis
//     Cluster does.
//
// A command the cluster does not run (PING, DBSIZE, FLUSHALL, CLUSTER,
// ...), or one with a wrong arity or syntax, is refused when it is queued,
// before anything runs: the error says why, and EXEC then answers
// EXECABORT, as Redis does for a command refused while queueing (Redis
// would fail a syntax error alone at EXEC). A queued command never runs
// outside its transaction. A command that fails as it runs (INCR of a
// value that is not an integer) has its error in its place in EXEC's
// array and the others run, as in Redis.
//
// WATCH reads its keys' versions (the timestamp of the write that made
// each value, 0 for an absent key) from the cluster, and the connection
// keeps them. EXEC after WATCH always runs as one command.Multi carrying
// them: the shard's primary runs it only if every watched key still has
// the version WATCH saw, in the same step as the block, and otherwise
// answers nil and writes nothing, as Redis does when a watched key was
// touched. The watched keys must share the block's shard (CROSSSLOT
// otherwise, as in Redis Cluster). A key that expired since counts as
// changed, as in Redis 7; a key that was absent, created and deleted again
// does not (its state is what WATCH saw). EXEC, DISCARD, UNWATCH and RESET
// forget what was watched.
//
// The queued commands' argument bytes stay reserved in the client memory
// budget until EXEC or DISCARD (or the connection's end); a block is
// bounded by MaxPipeline commands and by MaxPipelineBytes and
// command.MaxValueBytes bytes (one log entry must fit a message).

// respMulti is a connection's MULTI block while it is queued.
type respMulti struct {
	cmds []*command.Command
	// slots is the block in order: nil for the next of cmds, or the reply
	// of a command the port answers itself (PING, ECHO, TIME), which EXEC
	// puts in its place among the cluster's.
	slots  []*wire.Reply
	held   int64 // budget bytes the queued commands' arguments hold
	failed bool  // a command was refused while queueing: EXEC aborts
	reads  bool  // every command so far is GET, MGET or EXISTS
	sets   bool  // every command so far is a plain SET or MSET
}

// The texts of Redis 7's multi.c, and castkv's own.
const (
	respExecAbort      = "EXECABORT Transaction discarded because of previous errors."
	respMultiNested    = "ERR MULTI calls can not be nested"
	respExecNoMulti    = "ERR EXEC without MULTI"
	respDiscardNoMulti = "ERR DISCARD without MULTI"
	respWatchInMulti   = "ERR WATCH inside MULTI is not allowed"
)

// multiCommand reports whether name is one of the transaction commands
// dispatch hands to transaction.
func multiCommand(name string) bool {
	switch name {
	case "multi", "exec", "discard", "watch", "unwatch":
		return true
	}
	return false
}

// transaction answers MULTI, EXEC, DISCARD, WATCH and UNWATCH.
func (c *respConn) transaction(name string, args [][]byte, reserved int64) {
	cl := c.cl
	m := cl.multi
	if len(args) != 1 && name != "watch" || name == "watch" && len(args) < 2 {
		if m != nil {
			m.failed = true // as Redis flags a command refused while queueing
		}
		c.queueLocal(respArity(name), reserved, false)
		return
	}
	switch name {
	case "multi":
		if m != nil {
			c.queueLocal(command.Error(respMultiNested), reserved, false)
			return
		}
		cl.multi = &respMulti{reads: true, sets: true}
		c.queueLocal(command.OK(), reserved, false)
	case "discard":
		if m == nil {
			c.queueLocal(command.Error(respDiscardNoMulti), reserved, false)
			return
		}
		c.endMulti()
		c.unwatch()
		c.queueLocal(command.OK(), reserved, false)
	case "watch":
		if m != nil {
			// Redis answers it at once and the block goes on.
			c.queueLocal(command.Error(respWatchInMulti), reserved, false)
			return
		}
		if n, size := c.watchKeys+len(args)-1, c.watchBytes+respArgBytes(args[1:]); n > respMaxWatchKeys || size > respMaxWatchBytes {
			c.queueLocal(command.Error(fmt.Sprintf("ERR too many watched keys: a connection watches at most %d keys of %d bytes in all "+
				"until EXEC, DISCARD or UNWATCH; this WATCH would make %d keys of %d bytes, and was not applied", respMaxWatchKeys, respMaxWatchBytes, n, size)), reserved, false)
			return
		}
		c.watch(args, reserved)
	case "unwatch":
		c.unwatch()
		c.queueLocal(command.OK(), reserved, false)
	case "exec":
		c.exec(reserved)
	}
}

// queueInMulti queues one command of a MULTI block, or refuses it (and
// with it the block).
func (c *respConn) queueInMulti(name string, args [][]byte, reserved int64) {
	m := c.cl.multi
	refuse := func(reply *wire.Reply) {
		m.failed = true
		c.queueLocal(reply, reserved, false)
	}
	if name == "ping" || name == "echo" || name == "time" {
		reply, _ := c.s.local(c.cl, name, args)
		if reply.Kind == wire.Reply_ERROR {
			refuse(reply)
			return
		}
		m.slots = append(m.slots, reply)
		c.queueLocal(command.Status("QUEUED"), reserved, false)
		return
	}
	cmd, errReply := command.Parse(args)
	if errReply != nil && respKnownCommand(name) && strings.HasPrefix(errReply.Str, "ERR unknown command") {
		errReply = command.Error("ERR castkv cannot run " + strings.ToUpper(name) + " inside MULTI; the transaction will be discarded")
	}
	if errReply != nil {
		refuse(errReply)
		return
	}
	if cmd.Kind == command.Multi || cmd.AllKeys() || cmd.Kind == command.ClusterInfo || cmd.Kind == command.ClusterShards || cmd.Kind == command.Scan {
		refuse(command.Error("ERR castkv cannot run " + strings.ToUpper(name) + " inside MULTI; the transaction will be discarded"))
		return
	}
	if len(m.cmds) >= c.s.cfg.MaxPipeline || m.held+reserved > min(int64(c.s.cfg.MaxPipelineBytes), command.MaxValueBytes) {
		refuse(command.Error("ERR MULTI block too large: at most " + strconv.Itoa(c.s.cfg.MaxPipeline) + " commands and " +
			strconv.FormatInt(min(int64(c.s.cfg.MaxPipelineBytes), command.MaxValueBytes), 10) + " bytes; the transaction will be discarded"))
		return
	}
	m.reads = m.reads && (cmd.Kind == command.Get || cmd.Kind == command.MGet || cmd.Kind == command.Exists)
	m.sets = m.sets && (cmd.Kind == command.Set && !cmd.NX && !cmd.XX && !cmd.Get && cmd.TTL == (command.TTL{}) || cmd.Kind == command.MSet)
	m.cmds = append(m.cmds, cmd)
	m.slots = append(m.slots, nil)
	m.held += reserved // stays reserved until EXEC or DISCARD
	c.queueLocal(command.Status("QUEUED"), 0, false)
}

// endMulti drops the block, giving back what its commands held.
func (c *respConn) endMulti() {
	if m := c.cl.multi; m != nil {
		c.cl.multi = nil
		c.unreserve(m.held)
	}
}

// What one connection may watch until EXEC, DISCARD or UNWATCH forgets
// it: the keys and their versions stay in the port's memory, outside the
// client memory budget, so they are bounded on their own (Redis does not
// bound them).
const (
	respMaxWatchKeys  = 10_000
	respMaxWatchBytes = 1 << 20
)

// respArgBytes is the length of args together.
func respArgBytes(args [][]byte) int {
	n := 0
	for _, a := range args {
		n += len(a)
	}
	return n
}

// watch sends WATCH's read of its keys' versions; its reply, once it
// comes, is what the connection watches, and the client's is OK.
func (c *respConn) watch(args [][]byte, reserved int64) {
	keys := args[1:]
	c.watchKeys += len(keys)
	c.watchBytes += respArgBytes(keys)
	c.forwardAs(args, reserved, func(r *wire.Reply) *wire.Reply {
		if r.Kind != wire.Reply_ARRAY || len(r.Array) != len(keys)+1 {
			return command.Error("ERR castkv: WATCH's read came back malformed; nothing is watched")
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.watched == nil {
			c.watched = &wire.Watch{Ts: uint64(r.Array[0].Int)}
		}
		for i, k := range keys {
			c.watched.Keys = append(c.watched.Keys, bytes.Clone(k))
			c.watched.Versions = append(c.watched.Versions, uint64(r.Array[i+1].Int))
		}
		return command.OK()
	})
}

// unwatch forgets what WATCH saw.
func (c *respConn) unwatch() {
	c.mu.Lock()
	c.watched = nil
	c.mu.Unlock()
	c.watchKeys, c.watchBytes = 0, 0
}

// takeWatched waits for the WATCH reads at the Gateway and returns what
// they saw, forgetting it: EXEC uses it once.
func (c *respConn) takeWatched() *wire.Watch {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.watching > 0 && !c.dead {
		c.readerWaiting = true
		c.readerCond.Wait()
	}
	c.readerWaiting = false
	w := c.watched
	c.watched = nil
	c.watchKeys, c.watchBytes = 0, 0
	return w
}

// exec runs the queued block as one command and answers with one reply per
// queued command, or with the error that ended the block.
func (c *respConn) exec(reserved int64) {
	m := c.cl.multi
	if m == nil {
		c.queueLocal(command.Error(respExecNoMulti), reserved, false)
		return
	}
	watched := c.takeWatched()
	switch {
	case m.failed:
		c.endMulti()
		c.queueLocal(command.Error(respExecAbort), reserved, false)
		return
	case len(m.cmds) == 0 && watched == nil:
		c.endMulti()
		c.queueLocal(command.Array(m.slots...), reserved, false) // PINGs, or nothing
		return
	}
	c.cl.multi = nil
	held := reserved + m.held // the merged command's arguments are the queued ones
	forward := func(args [][]byte, shape func(*wire.Reply) *wire.Reply) {
		c.forwardAs(args, held, func(r *wire.Reply) *wire.Reply {
			if r.Kind == wire.Reply_NIL {
				return respNullArray() // a watched key changed: execCommand's shared.nullarray
			}
			if shape != nil {
				r = shape(r)
			}
			return m.splice(r)
		})
	}
	switch {
	case watched != nil:
		argvs := make([][][]byte, len(m.cmds))
		for i, cmd := range m.cmds {
			argvs[i] = cmd.Args
		}
		forward(command.ExecArgs(argvs, watched), nil) // nil when a watched key changed
	case m.sets:
		forward(mergeWrites(m.cmds), func(r *wire.Reply) *wire.Reply {
			out := make([]*wire.Reply, len(m.cmds))
			for i := range out {
				out[i] = command.OK()
			}
			return command.Array(out...)
		})
	case m.reads:
		forward(mergeReads(m.cmds), func(r *wire.Reply) *wire.Reply { return splitReads(m.cmds, r) })
	default:
		argvs := make([][][]byte, len(m.cmds))
		for i, cmd := range m.cmds {
			argvs[i] = cmd.Args
		}
		forward(command.ExecArgs(argvs, nil), nil) // the cluster answers the array
	}
}

// splice puts the replies of the commands the port answered itself (PING
// inside MULTI) among the cluster's, in the block's order. A reply that is
// not one per command (nil: a watched key changed; an error) is EXEC's
// whole reply.
func (m *respMulti) splice(r *wire.Reply) *wire.Reply {
	if r.Kind != wire.Reply_ARRAY || len(r.Array) != len(m.cmds) || len(m.slots) == len(m.cmds) {
		return r
	}
	out := make([]*wire.Reply, 0, len(m.slots))
	next := 0
	for _, s := range m.slots {
		if s == nil {
			s = r.Array[next]
			next++
		}
		out = append(out, s)
	}
	return command.Array(out...)
}

// forwardAs forwards args and answers with shape applied to a reply that
// is not an error (an error is the EXEC's whole reply).
func (c *respConn) forwardAs(args [][]byte, reserved int64, shape func(*wire.Reply) *wire.Reply) {
	c.forwardShaped(command.Name(args), args, reserved, c.cl.lastCmd, shape)
}

// mergeWrites is one MSET of every key a write block sets, each with the
// last value the block gives it, in the order the keys first appear.
func mergeWrites(cmds []*command.Command) [][]byte {
	index := map[string]int{} // key → its pair in args
	args := [][]byte{[]byte("MSET")}
	for _, cmd := range cmds {
		for i, k := range cmd.Keys {
			if at, ok := index[string(k)]; ok {
				args[at+1] = cmd.Values[i]
				continue
			}
			index[string(k)] = len(args)
			args = append(args, k, cmd.Values[i])
		}
	}
	return args
}

// mergeReads is one MGET of every key a read block reads, in order.
func mergeReads(cmds []*command.Command) [][]byte {
	args := [][]byte{[]byte("MGET")}
	for _, cmd := range cmds {
		args = append(args, cmd.Keys...)
	}
	return args
}

// splitReads answers each command of a read block from the MGET of
// mergeReads: GET its value, MGET its values, EXISTS how many of its keys
// (repeats counted, as Redis counts them) have one.
func splitReads(cmds []*command.Command, r *wire.Reply) *wire.Reply {
	total := 0
	for _, cmd := range cmds {
		total += len(cmd.Keys)
	}
	if r.Kind != wire.Reply_ARRAY || len(r.Array) != total {
		return command.Error("ERR castkv: a MULTI block's read came back with " + strconv.Itoa(len(r.Array)) + " values for " + strconv.Itoa(total) + " keys")
	}
	vals := r.Array
	out := make([]*wire.Reply, 0, len(cmds))
	for _, cmd := range cmds {
		mine := vals[:len(cmd.Keys)]
		vals = vals[len(cmd.Keys):]
		switch cmd.Kind {
		case command.Get:
			out = append(out, mine[0])
		case command.MGet:
			out = append(out, command.Array(mine...))
		case command.Exists:
			n := int64(0)
			for _, v := range mine {
				if v.Kind != wire.Reply_NIL {
					n++
				}
			}
			out = append(out, command.Int(n))
		}
	}
	return command.Array(out...)
}
