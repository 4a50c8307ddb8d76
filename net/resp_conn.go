package net

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	gonet "net"
	"strconv"
	"sync"
	"time"

	"castkv/actors/command"
	"castkv/actors/wire"
)

// One client connection is two goroutines around a queue of commands in
// request order:
//
//   - the reader (serve) parses commands with respReader, answers the
//     port's own commands (resp_local.go) at once, and hands the others to
//     the Gateway, which answers them later and in any order;
//   - the writer (writeLoop) waits for the command at the head of the
//     queue to have its reply, then writes every reply that is ready in
//     order, many per write syscall, and flushes when no further reply is
//     ready.
//
// So replies leave in request order, as Redis guarantees, however the
// cluster orders its answers.
//
// Bounds, each a reason for the reader to stop reading (TCP back-pressure
// then stops the client):
//
//   - MaxPipeline commands read and not yet answered on the wire;
//   - MaxPipelineBytes of budgeted bytes on this connection, unless the
//     command being read is its only one (one command may always be as
//     large as MaxCommandBytes);
//   - the shared client memory budget (respBudget), waited for at most
//     CommandTimeout;
//   - commands whose replies, at the size of recent ones, would not fit
//     MaxPipelineBytes wait (respConn.repliesFull);
//   - a command that shares a key with one at the cluster waits for it
//     (respConn.forward): pipelined commands that touch the same key run
//     one after the other, so a GET sees the SET sent before it.

// respPending is one command of a connection, from read until its reply
// is written.
type respPending struct {
	// reply and raw (an already-encoded reply: a protocol error) are set
	// once, with ready, under respConn.mu.
	reply *wire.Reply
	raw   []byte
	ready bool
	// closeAfter closes the connection once this reply is written (QUIT,
	// a protocol error, a refused budget).
	closeAfter bool
	// held is the budget this command holds: its arguments' bytes until
	// it is answered, then its reply's.
	held int64
	// keys are hashes of the keys of a command at the Gateway; all is set
	// for one that covers the whole keyspace (DBSIZE, FLUSHALL).
	keys   []uint64
	keyBuf [1]uint64
	all    bool
	// shape, if set, turns the Gateway's reply into the client's (EXEC).
	shape func(*wire.Reply) *wire.Reply
	// proto is the protocol the reply is written in: the connection's
	// when the command was read (resp3.go).
	proto int
	// watch marks a WATCH's read of versions (resp_multi.go).
	watch bool
	// name and start are the command's metrics label and when it was
	// read (RESPConfig.Metrics); stat is its INFO commandstats entry.
	name  string
	start time.Time
	stat  *respCmdStat
}

// respConn is one client connection.
type respConn struct {
	s      *RESPServer
	conn   gonet.Conn
	remote string
	cl     *respClient // the reader's: only serve and its callees touch it
	rd     respReader
	// ctx ends when the connection does, ending its commands at the
	// Gateway.
	ctx    context.Context
	cancel context.CancelFunc
	// cmdCtx is the deadline context of the commands dispatched since
	// cmdCtxAt (see commandContext); the reader's.
	cmdCtx    context.Context
	cmdCancel context.CancelFunc
	cmdCtxAt  time.Time

	mu sync.Mutex
	// readerCond wakes the reader (room in the pipeline, a key freed) and
	// serve's final wait for the Gateway; writerCond wakes the writer.
	readerCond, writerCond sync.Cond
	// queue[head:] are the commands read and not yet written, in request
	// order; at most MaxPipeline of them (plus a closing error reply).
	queue []*respPending
	head  int
	// held is the budget this connection holds: queue's and the command
	// being read.
	held int64
	// atGateway counts commands sent and not answered; keys counts their
	// key hashes, allKeys those that cover the whole keyspace.
	atGateway int
	keys      map[uint64]int32
	allKeys   int
	// replyHint is about the largest recent reply on this connection:
	// each reply sets it to max(its size, 15/16 of it). forward keeps
	// atGateway × replyHint within MaxPipelineBytes, so a pipeline of
	// GETs of large values does not pile up MaxPipeline large replies.
	replyHint int64
	// watching counts WATCH reads at the Gateway; watched is what those
	// answered saw, until EXEC, DISCARD, UNWATCH or RESET (resp_multi.go).
	watching int
	watched  *wire.Watch
	// watchKeys and watchBytes count the keys WATCH was sent for since
	// the watch was last forgotten (the reader's alone: respMaxWatchKeys).
	watchKeys, watchBytes int
	// current is the name of the command being dispatched, and
	// currentStat its INFO counters (the reader's).
	current     string
	currentStat *respCmdStat
	// readerDone: no command will be queued any more. dead: the socket is
	// closed and nothing more is written; deadErr is why.
	readerDone bool
	dead       bool
	deadErr    error
	lastWrite  time.Time
	// Set while a goroutine waits on the matching cond, so that the
	// common path signals only when someone listens.
	readerWaiting, writerWaiting bool
}

func (s *RESPServer) newConn(conn gonet.Conn) *respConn {
	c := &respConn{s: s, conn: conn, remote: conn.RemoteAddr().String(), keys: map[uint64]int32{}}
	c.readerCond.L = &c.mu
	c.writerCond.L = &c.mu
	c.ctx, c.cancel = context.WithCancel(s.ctx)
	s.cfg.Metrics.connections(1)
	now := time.Now()
	c.cl = &respClient{
		id:              s.nextClientID.Add(1),
		conn:            conn,
		created:         now,
		lastCmd:         now,
		unauthenticated: s.cfg.RequirePass != "",
		proto:           respProto2,
	}
	c.rd = respReader{
		src:             respSocket{c},
		limits:          s.limits,
		unauthenticated: func() bool { return c.cl.unauthenticated },
		reserve:         c.reserve,
	}
	return c
}

// serve runs the connection until it ends and everything it held is
// given back.
func (c *respConn) serve() {
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop()
	}()
	err := c.readLoop()
	c.mu.Lock()
	c.readerDone = true
	c.wakeWriter()
	c.mu.Unlock()
	if err != nil {
		c.kill(err)
	}
	<-writerDone
	c.kill(nil) // ends the commands still at the Gateway

	// Every command at the Gateway gets its done callback promptly now
	// that ctx has ended (Gateway's contract); its budget is given back
	// only then.
	c.mu.Lock()
	for c.atGateway > 0 {
		c.readerWaiting = true
		c.readerCond.Wait()
	}
	c.readerWaiting = false
	var held int64
	for _, p := range c.queue[c.head:] {
		held += p.held
	}
	if m := c.cl.multi; m != nil { // a MULTI block the client never ended
		held += m.held
		c.cl.multi = nil
	}
	if held != c.held {
		c.mu.Unlock()
		panic("resp: connection " + c.remote + " holds " + strconv.FormatInt(c.held, 10) +
			" budget bytes but its commands account for " + strconv.FormatInt(held, 10))
	}
	c.held = 0
	c.queue, c.head = nil, 0
	deadErr := c.deadErr
	c.mu.Unlock()
	c.s.budget.release(held)
	c.s.cfg.Metrics.connections(-1)
	c.s.logDisconnect(c.remote, c.cl.id, deadErr)
}

// readLoop reads and dispatches commands until the client closes, QUIT,
// an error, or the connection dies. A nil result means the writer is to
// finish the replies of what was read, then close.
func (c *respConn) readLoop() error {
	if tc, ok := c.conn.(*tls.Conn); ok {
		// Bounded: a client that never finishes its handshake must not
		// hold a connection slot for good.
		_ = tc.SetDeadline(time.Now().Add(respTLSHandshakeTimeout))
		if err := tc.Handshake(); err != nil {
			return fmt.Errorf("TLS handshake: %w", err)
		}
		_ = tc.SetDeadline(time.Time{})
	}
	maxPipeline := c.s.cfg.MaxPipeline
	for {
		c.mu.Lock()
		for len(c.queue)-c.head >= maxPipeline && !c.dead {
			c.readerWaiting = true
			c.readerCond.Wait()
		}
		c.readerWaiting = false
		dead := c.dead
		c.mu.Unlock()
		if dead {
			return nil
		}
		args, reserved, err := c.rd.next()
		if err != nil {
			c.unreserve(reserved)
			return c.readFailed(err)
		}
		if quit := c.dispatch(args, reserved); quit {
			return nil
		}
	}
}

// readFailed ends reading. A protocol error or a refused budget is
// answered after every reply before it, then the connection closes; a
// client that closed its side gets the replies of what it sent.
func (c *respConn) readFailed(err error) error {
	var perr *respProtocolError
	var berr *respBudgetError
	switch {
	case errors.As(err, &perr):
		c.s.protocolErrors.Add(1)
		if ok, held := c.s.warnLimit.allow(time.Now()); ok {
			c.s.log.Warn("resp: protocol error, closing connection", "remote", c.remote, "err", perr.msg, "held_back_since_last", held)
		}
		c.queueRaw(perr.Reply())
		return nil
	case errors.As(err, &berr) && !berr.closed:
		c.s.memoryRefused.Add(1)
		c.s.log.Warn("resp: client memory budget refused a command; closing connection", "remote", c.remote, "id", c.cl.id,
			"bytes", berr.n, "client_memory_bytes", berr.limit, "waited", berr.waited)
		c.queueRaw(respErrorLine("ERR " + berr.Error()))
		return nil
	case errors.Is(err, io.EOF):
		return nil
	}
	return err
}

// dispatch answers or forwards one command; quit reports QUIT.
func (c *respConn) dispatch(args [][]byte, reserved int64) (quit bool) {
	s, cl := c.s, c.cl
	s.totalCommands.Add(1)
	name := command.Name(args)
	c.current = name
	c.currentStat = s.stats.lookup(name, args)
	cl.info.Lock()
	cl.lastCmd = time.Now()
	cl.cmd = c.currentStat.name
	cl.info.Unlock()
	if name == "post" || name == "host:" {
		// Redis's securityWarningCommand: an HTTP request sent to the
		// port (a browser tricked into cross-protocol scripting) closes
		// the connection with no reply.
		if ok, held := s.warnLimit.allow(time.Now()); ok {
			s.log.Warn("resp: possible security attack: an HTTP request on the RESP port; closing the connection", "remote", c.remote, "held_back_since_last", held)
		}
		c.unreserve(reserved)
		return true
	}
	// Redis lets only AUTH, HELLO and QUIT (the NO_AUTH commands) through
	// before authentication. Every command of an unauthenticated client is
	// answered here, before the next is read, so AUTH gates what follows.
	if cl.unauthenticated && name != "auth" && name != "hello" && name != "quit" && name != "reset" {
		c.queueLocal(command.Error("NOAUTH Authentication required."), reserved, false)
		return false
	}
	if name == "quit" {
		// Answered after every earlier reply; what follows is dropped, as
		// Redis drops the rest of the query buffer.
		c.queueLocal(command.OK(), reserved, true)
		return true
	}
	if s.pause.active.Load() && !c.waitPause(c.currentStat, name) {
		c.unreserve(reserved) // the connection ended while paused
		return true
	}
	if name == "reset" && len(args) == 1 {
		c.endMulti() // RESET runs at once inside MULTI too, and ends it
		c.unwatch()
	}
	if multiCommand(name) {
		c.transaction(name, args, reserved)
		return false
	}
	if cl.multi != nil {
		c.queueInMulti(name, args, reserved)
		return false
	}
	if reply, ok := s.local(cl, name, args); ok {
		quit := cl.closeAfterReply // CLIENT KILL of itself
		c.queueLocal(reply, reserved, quit)
		return quit
	}
	c.forward(name, args, reserved, cl.lastCmd)
	return false
}

// respTLSHandshakeTimeout bounds a TLS client's handshake.
const respTLSHandshakeTimeout = 10 * time.Second

// respDeadlineShares is how many deadline contexts a connection makes per
// CommandTimeout at most: commands dispatched within CommandTimeout /
// respDeadlineShares of each other share one, so a deep pipeline does not
// pay for a timer per command (context.WithTimeout was a fifth of the
// port's CPU). A command thus waits at least CommandTimeout × (1 - 1/64),
// never more than CommandTimeout, and a busy connection keeps at most
// about 64 live deadline timers.
const respDeadlineShares = 64

// commandContext is the context for a command dispatched at now.
func (c *respConn) commandContext(now time.Time) context.Context {
	timeout := c.s.cfg.CommandTimeout
	if c.cmdCtx == nil || now.Sub(c.cmdCtxAt) >= timeout/respDeadlineShares {
		// The previous context is not cancelled: its commands may still
		// be at the Gateway. Its deadline, or the connection's end,
		// releases it.
		c.cmdCtx, c.cmdCancel = context.WithDeadline(c.ctx, now.Add(timeout))
		c.cmdCtxAt = now
	}
	return c.cmdCtx
}

// forward hands a command to the Gateway. It first waits for any command
// of this connection at the Gateway that shares a key with it (or covers
// the whole keyspace): pipelined commands on one key keep their order, so
// a client reads its own writes as if they ran one at a time. Commands on
// different keys run at once, as they would from separate connections.
func (c *respConn) forward(name string, args [][]byte, reserved int64, now time.Time) {
	c.forwardShaped(name, args, reserved, now, respClusterShape(name, args))
}

// forwardShaped is forward with shape, if not nil, applied to the reply
// unless it is an error (EXEC's reply is built from its merged command's).
func (c *respConn) forwardShaped(name string, args [][]byte, reserved int64, now time.Time, shape func(*wire.Reply) *wire.Reply) {
	p := &respPending{held: reserved, shape: shape, proto: c.cl.proto, name: c.current, start: now, stat: c.currentStat}
	p.keys = c.s.keyHashes(name, args, p.keyBuf[:0])
	p.all = name == "dbsize" || name == "flushall" || name == "flushdb" || name == "randomkey"
	p.watch = name == "watch"
	c.mu.Lock()
	if p.watch {
		c.watching++
	}
	for (c.conflicts(p) || c.repliesFull()) && !c.dead {
		c.readerWaiting = true
		c.readerCond.Wait()
	}
	c.readerWaiting = false
	if c.dead {
		c.mu.Unlock()
		c.unreserve(reserved)
		return
	}
	c.queue = append(c.queue, p)
	c.atGateway++
	for _, k := range p.keys {
		c.keys[k]++
	}
	if p.all {
		c.allKeys++
	}
	c.mu.Unlock()

	send := c.s.cfg.Gateway.Send
	if name == "randomkey" {
		send = c.s.randomKey // SCANs through the Gateway (resp_randomkey.go)
	}
	send(c.commandContext(now), args, func(reply *wire.Reply, err error) {
		c.answered(p, args, reply, err)
	})
}

// conflicts reports whether p must wait for a command at the Gateway;
// c.mu is held.
func (c *respConn) conflicts(p *respPending) bool {
	if c.allKeys > 0 || p.all && c.atGateway > 0 {
		return true
	}
	for _, k := range p.keys {
		if c.keys[k] > 0 {
			return true
		}
	}
	return false
}

// repliesFull reports whether the replies expected from the commands at
// the Gateway, at about the size of recent ones, would fill
// MaxPipelineBytes; c.mu is held. Replies are charged only when they
// arrive, so this is what keeps them near the bound after the first large
// one (a first burst of large replies can still exceed it, by at most
// MaxPipeline of them).
func (c *respConn) repliesFull() bool {
	return c.atGateway > 0 && c.held+int64(c.atGateway)*c.replyHint > int64(c.s.cfg.MaxPipelineBytes)
}

// answered is the Gateway's done callback for p: it may run on any
// goroutine and does not block.
func (c *respConn) answered(p *respPending, args [][]byte, reply *wire.Reply, err error) {
	c.mu.Lock()
	dead := c.dead
	c.mu.Unlock()
	if err != nil && !dead {
		reply = c.s.gatewayFailed(c.remote, args, err)
	}
	if p.shape != nil && err == nil && reply != nil && reply.Kind != wire.Reply_ERROR {
		reply = p.shape(reply)
	}
	c.s.counted(p, reply)
	size := respReplyBytes(reply)

	c.mu.Lock()
	for _, k := range p.keys {
		if c.keys[k]--; c.keys[k] == 0 {
			delete(c.keys, k)
		}
	}
	if p.all {
		c.allKeys--
	}
	c.atGateway--
	if p.watch {
		c.watching--
	}
	c.replyHint = max(size, c.replyHint-c.replyHint/16)
	if !c.dead {
		c.settle(p, size)
		p.reply, p.ready = reply, true
		c.wakeWriter()
	}
	c.wakeReader()
	c.mu.Unlock()
}

// settle turns p's budget from its arguments' bytes into its reply's;
// c.mu is held.
func (c *respConn) settle(p *respPending, replyBytes int64) {
	if replyBytes <= p.held {
		c.s.budget.release(p.held - replyBytes)
	} else {
		c.s.budget.charge(replyBytes - p.held)
	}
	c.held += replyBytes - p.held
	p.held = replyBytes
}

// queueLocal queues a reply the port made itself.
func (c *respConn) queueLocal(reply *wire.Reply, reserved int64, closeAfter bool) {
	p := &respPending{held: reserved, closeAfter: closeAfter, proto: c.cl.proto, name: c.current, start: c.cl.lastCmd, stat: c.currentStat}
	c.s.counted(p, reply)
	c.mu.Lock()
	c.settle(p, respReplyBytes(reply))
	p.reply, p.ready = reply, true
	c.queue = append(c.queue, p)
	c.wakeWriter()
	c.mu.Unlock()
}

// queueRaw queues a last, already-encoded error reply, after which the
// connection closes. Like the connection's buffers it is outside the
// budget: one line of a few hundred bytes per connection, and charging
// it could push a full budget over when many connections are refused.
func (c *respConn) queueRaw(raw []byte) {
	p := &respPending{raw: raw, closeAfter: true}
	c.mu.Lock()
	p.ready = true
	c.queue = append(c.queue, p)
	c.wakeWriter()
	c.mu.Unlock()
}

// reserve is the reader's budget hook, called for each argument before
// its bytes are buffered.
func (c *respConn) reserve(n int64) error {
	c.mu.Lock()
	for c.held+n > int64(c.s.cfg.MaxPipelineBytes) && len(c.queue) > c.head && !c.dead {
		c.readerWaiting = true
		c.readerCond.Wait()
	}
	c.readerWaiting = false
	dead := c.dead
	c.mu.Unlock()
	if dead {
		return &respBudgetError{n: n, closed: true}
	}
	if err := c.s.budget.acquire(n, c.s.cfg.CommandTimeout, c.ctx.Done()); err != nil {
		return err
	}
	c.mu.Lock()
	c.held += n
	c.mu.Unlock()
	return nil
}

// unreserve gives back what a command that is not queued had reserved.
func (c *respConn) unreserve(n int64) {
	if n == 0 {
		return
	}
	c.mu.Lock()
	c.held -= n
	c.mu.Unlock()
	c.s.budget.release(n)
}

// wakeWriter and wakeReader signal a waiting goroutine; c.mu is held.
func (c *respConn) wakeWriter() {
	if c.writerWaiting {
		c.writerCond.Signal()
	}
}

func (c *respConn) wakeReader() {
	if c.readerWaiting {
		c.readerCond.Signal()
	}
}

// kill closes the connection, once: nothing more is read or written, and
// its commands at the Gateway end. err (nil for an orderly end) is why,
// for the log.
func (c *respConn) kill(err error) {
	c.mu.Lock()
	if c.dead {
		c.mu.Unlock()
		return
	}
	c.dead, c.deadErr = true, err
	c.readerCond.Broadcast()
	c.writerCond.Broadcast()
	c.mu.Unlock()
	c.conn.Close()
	c.cancel()
}

// writeLoop writes replies in request order until the connection dies or
// the reader is done and every reply is out. Replies that are ready
// together share a write (up to respFlushBytes); a reply larger than that
// goes out on its own, its bulk bytes straight from the reply.
func (c *respConn) writeLoop() {
	var buf []byte // encoded replies not yet written
	var batch []*respPending
	encoded := 0 // queue[head:head+encoded] are in buf
	for {
		batch = batch[:0]
		c.mu.Lock()
		for {
			if c.dead {
				c.mu.Unlock()
				return
			}
			for i := c.head + encoded; i < len(c.queue) && c.queue[i].ready && len(batch) < respWriteBatch; i++ {
				batch = append(batch, c.queue[i])
			}
			if len(batch) > 0 || encoded > 0 {
				break
			}
			if c.readerDone && c.head == len(c.queue) {
				c.mu.Unlock()
				c.kill(nil) // an orderly end: every reply is out
				return
			}
			c.writerWaiting = true
			c.writerCond.Wait()
			c.writerWaiting = false
		}
		c.mu.Unlock()

		if len(batch) == 0 {
			// No further reply is ready: flush.
			if !c.flush(buf, encoded) {
				return
			}
			buf, encoded = respTrimBuffer(buf), 0
			continue
		}
		for _, p := range batch {
			switch {
			case p.raw != nil:
				buf = append(buf, p.raw...)
			case p.reply.GetKind() == wire.Reply_BULK && len(p.reply.GetBulk()) > respFlushBytes:
				// Write what is pending and the header, then the bulk
				// bytes from the reply itself, without a copy.
				bulk := p.reply.GetBulk()
				buf = respAppendBulkHeader(buf, p.reply, p.proto)
				if err := respWriteTimed(c.conn, buf, c.s.cfg.WriteTimeout); err != nil {
					c.kill(err)
					return
				}
				if err := respWriteTimed(c.conn, bulk, c.s.cfg.WriteTimeout); err != nil {
					c.kill(err)
					return
				}
				buf = append(buf[:0], "\r\n"...)
			default:
				buf = respAppend(buf, p.reply, p.proto)
			}
			encoded++
			if p.closeAfter {
				if c.flush(buf, encoded) {
					c.kill(nil)
				}
				return
			}
			if len(buf) >= respFlushBytes {
				if !c.flush(buf, encoded) {
					return
				}
				buf, encoded = respTrimBuffer(buf), 0
			}
		}
	}
}

// respWriteBatch bounds the replies the writer takes per look at the
// queue, so it flushes at least every respFlushBytes even when replies
// keep coming.
const respWriteBatch = 256

// respTrimBuffer empties buf for reuse, or drops it when a large reply
// grew it past respFlushBytes, so an idle connection does not keep it.
func respTrimBuffer(buf []byte) []byte {
	if cap(buf) > 2*respFlushBytes {
		return nil
	}
	return buf[:0]
}

// flush writes buf, which holds the replies of the first n queued
// commands, then retires them and gives back their budget. false means
// the connection died.
func (c *respConn) flush(buf []byte, n int) bool {
	if len(buf) > 0 {
		if err := respWriteTimed(c.conn, buf, c.s.cfg.WriteTimeout); err != nil {
			c.kill(err)
			return false
		}
	}
	var held int64
	c.mu.Lock()
	for i := c.head; i < c.head+n; i++ {
		held += c.queue[i].held
		c.queue[i] = nil
	}
	c.head += n
	if c.head == len(c.queue) {
		c.queue, c.head = c.queue[:0], 0
	} else if c.head > 1024 && c.head > len(c.queue)/2 {
		c.queue, c.head = append(c.queue[:0], c.queue[c.head:]...), 0
	}
	c.held -= held
	c.lastWrite = time.Now()
	c.wakeReader()
	c.mu.Unlock()
	c.s.budget.release(held)
	return true
}

// respSocket is what the reader reads: the socket, with the idle timeout.
type respSocket struct{ c *respConn }

// Read renews the idle deadline for every read. The connection is idle
// only while it has nothing queued (a command at the cluster is not the
// client's silence) and has written nothing for IdleTimeout either.
func (r respSocket) Read(p []byte) (int, error) {
	c, idle := r.c, r.c.s.cfg.IdleTimeout
	deadline := time.Now().Add(idle)
	for {
		if idle > 0 {
			if err := c.conn.SetReadDeadline(deadline); err != nil {
				return 0, err
			}
		}
		n, err := c.conn.Read(p)
		if n > 0 || err == nil || idle == 0 || !isTimeout(err) {
			return n, err
		}
		c.mu.Lock()
		busy, lastWrite := len(c.queue) > c.head, c.lastWrite
		c.mu.Unlock()
		now := time.Now()
		switch {
		case busy:
			deadline = now.Add(idle)
		case lastWrite.Add(idle).After(now):
			deadline = lastWrite.Add(idle)
		default:
			return n, err
		}
	}
}

// keyHashes appends to dst the hashes of the keys args names, for the
// per-connection ordering of commands on a key. A collision only orders
// two commands that need not be.
func (s *RESPServer) keyHashes(name string, args [][]byte, dst []uint64) []uint64 {
	first, step := 0, 1
	switch name {
	case "get", "set", "setnx", "setxx", "getset", "incr", "decr", "incrby", "decrby", "incrbyfloat",
		"append", "strlen", "getdel", "getrange", "substr", "setrange", "type",
		"setex", "psetex", "getex", "expire", "pexpire", "expireat", "pexpireat", "persist", "ttl", "pttl", "expiretime", "pexpiretime":
		if len(args) > 1 {
			return append(dst, maphash.Bytes(s.keySeed, args[1]))
		}
		return dst
	case "rename", "renamenx", "copy":
		for _, k := range args[1:min(3, len(args))] {
			dst = append(dst, maphash.Bytes(s.keySeed, k))
		}
		return dst
	case "mget", "exists", "del", "unlink", "watch":
		first = 1
	case "mset", "msetnx":
		first, step = 1, 2
	case "exec": // a MULTI block (command.ExecArgs): each command's keys
		for rest := args[1:]; len(rest) > 0; {
			n, err := strconv.Atoi(string(rest[0]))
			if err != nil || n < 1 || n > len(rest)-1 {
				return dst
			}
			dst = s.keyHashes(command.Name(rest[1:1+n]), rest[1:1+n], dst)
			rest = rest[1+n:]
		}
		return dst
	default:
		return dst // no keys: an unknown command, or DBSIZE and FLUSHALL (respPending.all)
	}
	for i := first; i < len(args); i += step {
		dst = append(dst, maphash.Bytes(s.keySeed, args[i]))
	}
	return dst
}

// respReplyBytes is the size of r encoded as RESP2, what the reply holds
// of the budget until written. RESP3's encoding is no larger but for a
// verbatim string's "txt:", which is counted.
func respReplyBytes(r *wire.Reply) int64 {
	digits := func(n int64) int64 {
		d := int64(1)
		if n < 0 {
			d, n = 2, -n
		}
		for n >= 10 {
			d, n = d+1, n/10
		}
		return d
	}
	switch r.GetKind() {
	case wire.Reply_NIL:
		return 5
	case wire.Reply_STATUS, wire.Reply_ERROR:
		return int64(len(r.GetStr())) + 3
	case wire.Reply_INT:
		return digits(r.GetInt()) + 3
	case wire.Reply_BULK:
		n := int64(len(r.GetBulk()))
		if r.GetStr() == respShapeVerbatim {
			n += 4
		}
		return digits(n) + n + 5
	case wire.Reply_ARRAY:
		n := digits(int64(len(r.GetArray()))) + 3
		for _, e := range r.GetArray() {
			n += respReplyBytes(e)
		}
		return n
	}
	return 64 // an unknown kind, encoded as a short error
}

// counted records p's answer in INFO's statistics and the metrics, if
// any.
func (s *RESPServer) counted(p *respPending, reply *wire.Reply) {
	took := time.Since(p.start)
	s.stats.record(p.stat, reply, took)
	m := s.cfg.Metrics
	if m == nil {
		return
	}
	name := p.name
	if !respKnownCommand(name) {
		name = "unknown"
	}
	isErr := reply != nil && reply.Kind == wire.Reply_ERROR
	text := ""
	if isErr {
		text = reply.Str
	}
	m.command(name, replyResult(isErr, text), took)
}
