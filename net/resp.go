package net

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	gonet "net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidwall/redcon"

	"castkv/actors/command"
	"castkv/actors/wire"
)

// RESPConfig configures the RESP client port. Zero values take the
// defaults named on each field.
type RESPConfig struct {
	// Addr is the listen address, e.g. "127.0.0.1:6379" (":0" picks a
	// free port; see RESPServer.Addr).
	Addr string
	// MaxValueBytes is the largest bulk string a client may send; a longer
	// one is a protocol error. Default 64 MiB.
	MaxValueBytes int
	// MaxArgs is the largest array a client may send, the command name
	// included. Default 1<<20, Redis 6's limit.
	MaxArgs int
	// MaxCommandBytes bounds one whole command as framed on the wire (all
	// its headers and bulk strings), so many large arguments cannot add up
	// without bound. Default 256 MiB or 4 × MaxValueBytes, whichever is
	// larger.
	MaxCommandBytes int
	// MaxClients is the most connections served at once; one more is told
	// "-ERR max number of clients reached" and closed. Default 10000.
	MaxClients int
	// IdleTimeout closes a connection that sends nothing for this long
	// while the port waits for its next bytes (not while its command is at
	// the cluster). 0 means never, Redis's default.
	IdleTimeout time.Duration
	// CommandTimeout bounds one command's wait on the Gateway. Default 30s.
	// A read that runs out of time gets -TRYAGAIN; a write gets -UNCERTAIN,
	// because it may have committed.
	CommandTimeout time.Duration
	// WriteTimeout closes a connection whose replies make no progress
	// (a client that stopped reading) for this long. Default 30s.
	WriteTimeout time.Duration
	// RequirePass is the default user's password for AUTH; "" means none.
	RequirePass string
	// Gateway answers every command the port does not answer itself.
	Gateway Gateway
	// Stats returns extra INFO fields; it may be nil. A key "section.field"
	// goes to that section (e.g. "cluster.cluster_enabled"); a key without
	// a dot goes to "# Keyspace" (e.g. "db0" ->
	// "keys=3,expires=0,avg_ttl=0").
	Stats func() map[string]string
	// Logger receives connection events at Debug and protocol errors at
	// Warn. Default slog.Default().
	Logger *slog.Logger
}

// Defaults and fixed bounds of the RESP port.
const (
	defaultRESPMaxValueBytes   = 64 << 20
	defaultRESPMaxArgs         = 1 << 20
	defaultRESPMaxCommandBytes = 256 << 20
	defaultRESPMaxClients      = 10000
	defaultRESPCommandTimeout  = 30 * time.Second
	defaultRESPWriteTimeout    = 30 * time.Second

	// respFlushBytes bounds the replies a connection holds before writing
	// them, so a long pipeline of large replies does not pile up in memory.
	respFlushBytes = 64 << 10
)

func (c RESPConfig) withDefaults() (RESPConfig, error) {
	if c.Addr == "" {
		return c, errors.New("resp: Addr is empty")
	}
	if c.Gateway == nil {
		return c, errors.New("resp: Gateway is nil")
	}
	for _, f := range []struct {
		name string
		v    *int
		def  int
	}{
		{"MaxValueBytes", &c.MaxValueBytes, defaultRESPMaxValueBytes},
		{"MaxArgs", &c.MaxArgs, defaultRESPMaxArgs},
		{"MaxClients", &c.MaxClients, defaultRESPMaxClients},
		{"MaxCommandBytes", &c.MaxCommandBytes, max(defaultRESPMaxCommandBytes, 4*c.MaxValueBytes)},
	} {
		if *f.v < 0 {
			return c, fmt.Errorf("resp: %s is %d, below 0", f.name, *f.v)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	for _, f := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"CommandTimeout", &c.CommandTimeout, defaultRESPCommandTimeout},
		{"WriteTimeout", &c.WriteTimeout, defaultRESPWriteTimeout},
		{"IdleTimeout", &c.IdleTimeout, 0},
	} {
		if *f.v < 0 {
			return c, fmt.Errorf("resp: %s is %v, below 0", f.name, *f.v)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if c.MaxCommandBytes < c.MaxValueBytes {
		return c, fmt.Errorf("resp: MaxCommandBytes %d is below MaxValueBytes %d", c.MaxCommandBytes, c.MaxValueBytes)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}

// RESPServer is the Redis-protocol front door: it accepts client
// connections, answers connection commands (PING, HELLO, AUTH, ...) itself
// and hands every other command to the Gateway, one at a time per
// connection, so pipelined replies come back in order.
type RESPServer struct {
	cfg     RESPConfig
	log     *slog.Logger
	ln      *respListener
	srv     *redcon.Server
	started time.Time
	runID   string

	// ctx is cancelled by Close, releasing commands waiting on the Gateway.
	ctx    context.Context
	cancel context.CancelFunc

	serveDone chan struct{}
	conns     sync.WaitGroup // one per accepted connection until redcon's closed callback
	closeOnce sync.Once
	closeErr  error

	nextClientID   atomic.Uint64
	connected      atomic.Int64
	totalConns     atomic.Uint64
	totalCommands  atomic.Uint64
	rejected       atomic.Uint64
	protocolErrors atomic.Uint64
}

// RESPStats counts the port's connections and commands, as INFO reports
// them. CONFIG RESETSTAT zeroes the totals, as in Redis.
type RESPStats struct {
	ConnectedClients    int    // connections open now
	TotalConnections    uint64 // connections accepted (not counting rejected ones)
	TotalCommands       uint64 // commands handled, locally or by the Gateway
	RejectedConnections uint64 // connections refused because MaxClients were open
	ProtocolErrors      uint64 // connections closed for a protocol error
}

// respClient is one connection's state. Only the connection's goroutine
// (redcon's handler loop, which also drives respConn.Read) touches it.
type respClient struct {
	id      uint64
	conn    *respConn
	created time.Time
	lastCmd time.Time

	// unauthenticated is true while RequirePass is set and AUTH has not
	// succeeded. The framer reads it too, for Redis's tighter limits on
	// unauthenticated clients.
	unauthenticated bool
	// closing is set once the connection must answer nothing more (QUIT,
	// a failed write): commands already read are dropped, as Redis drops
	// the rest of the query buffer.
	closing bool

	name, libName, libVer string
	scratch               []byte // reply encoding buffer, reused
}

// ListenRESP binds cfg.Addr and serves RESP clients on it in a goroutine
// until Close.
func ListenRESP(cfg RESPConfig) (*RESPServer, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	tcp, err := gonet.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("resp: listen on %s: %w", cfg.Addr, err)
	}
	var id [20]byte
	_, _ = rand.Read(id[:])
	s := &RESPServer{
		cfg:       cfg,
		log:       cfg.Logger,
		started:   time.Now(),
		runID:     hex.EncodeToString(id[:]),
		serveDone: make(chan struct{}),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	limits := respLimits{
		maxValueBytes:   int64(cfg.MaxValueBytes),
		maxArgs:         int64(cfg.MaxArgs),
		maxCommandBytes: int64(cfg.MaxCommandBytes),
		idleTimeout:     cfg.IdleTimeout,
		writeTimeout:    cfg.WriteTimeout,
	}
	s.ln = newRESPListener(tcp, limits, s.protocolError, cfg.Logger)
	s.srv = redcon.NewServerNetwork("tcp", cfg.Addr, s.handle, s.accept, s.closed)
	go func() {
		defer close(s.serveDone)
		if err := s.srv.Serve(s.ln); err != nil {
			s.log.Error("resp: serving stopped", "addr", s.Addr(), "err", err)
		}
	}()
	s.log.Debug("resp: listening", "addr", s.Addr())
	return s, nil
}

// Addr is the address the port listens on, with the port ":0" chose.
func (s *RESPServer) Addr() string { return s.ln.Addr().String() }

// Close stops accepting, closes every connection, releases commands
// waiting on the Gateway, and returns once every connection's goroutine
// has finished.
func (s *RESPServer) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		// redcon's serve loop returns on the closed listener and closes
		// every connection it accepted; each connection's goroutine then
		// ends with a read error and calls s.closed.
		if err := s.ln.Close(); err != nil && !errors.Is(err, gonet.ErrClosed) {
			s.closeErr = fmt.Errorf("resp: close listener %s: %w", s.Addr(), err)
		}
		<-s.serveDone
		s.conns.Wait()
	})
	return s.closeErr
}

// Stats returns the port's counters.
func (s *RESPServer) Stats() RESPStats {
	return RESPStats{
		ConnectedClients:    int(s.connected.Load()),
		TotalConnections:    s.totalConns.Load(),
		TotalCommands:       s.totalCommands.Load(),
		RejectedConnections: s.rejected.Load(),
		ProtocolErrors:      s.protocolErrors.Load(),
	}
}

// accept runs on redcon's accept loop for every new connection.
func (s *RESPServer) accept(c redcon.Conn) bool {
	rc := c.NetConn().(*respConn)
	if s.connected.Load() >= int64(s.cfg.MaxClients) {
		// Redis's acceptCommonHandler: the error goes out before the
		// client could send anything, then the connection closes.
		s.rejected.Add(1)
		_, _ = rc.Write([]byte("-ERR max number of clients reached\r\n"))
		s.log.Debug("resp: connection rejected: max number of clients reached",
			"remote", c.RemoteAddr(), "max_clients", s.cfg.MaxClients)
		return false
	}
	s.connected.Add(1)
	s.totalConns.Add(1)
	s.conns.Add(1)
	now := time.Now()
	cl := &respClient{
		id:              s.nextClientID.Add(1),
		conn:            rc,
		created:         now,
		lastCmd:         now,
		unauthenticated: s.cfg.RequirePass != "",
	}
	rc.client = cl
	c.SetContext(cl)
	s.log.Debug("resp: client connected", "remote", c.RemoteAddr(), "id", cl.id)
	return true
}

// closed runs when a connection's goroutine ends. redcon calls it with its
// server lock held, so it only counts and logs.
func (s *RESPServer) closed(c redcon.Conn, err error) {
	var id uint64
	if cl, ok := c.Context().(*respClient); ok {
		id = cl.id
	}
	s.connected.Add(-1)
	s.logDisconnect(c.RemoteAddr(), id, err)
	s.conns.Done()
}

// logDisconnect logs a connection's end at Debug, except for a client
// dropped because it stopped reading its replies (WriteTimeout), which an
// operator should see, as Redis warns when it drops a client over its
// output buffer limit.
func (s *RESPServer) logDisconnect(remote string, id uint64, err error) {
	var op *gonet.OpError
	if errors.As(err, &op) && op.Op == "write" && op.Timeout() {
		s.log.Warn("resp: client stopped reading its replies; closing connection",
			"remote", remote, "id", id, "write_timeout", s.cfg.WriteTimeout)
		return
	}
	s.log.Debug("resp: client disconnected", "remote", remote, "id", id, "err", err)
}

// protocolError is the framer's report of a connection it is closing.
func (s *RESPServer) protocolError(rc *respConn, msg string) {
	s.protocolErrors.Add(1)
	s.log.Warn("resp: protocol error, closing connection", "remote", rc.RemoteAddr().String(), "err", msg)
}

// handle answers one command. redcon calls it on the connection's
// goroutine, in order, and reads no further until it returns: blocking
// here on the Gateway is what keeps pipelined replies in order.
func (s *RESPServer) handle(c redcon.Conn, cmd redcon.Command) {
	cl := c.Context().(*respClient)
	if cl.closing {
		return
	}
	s.totalCommands.Add(1)
	cl.lastCmd = time.Now()
	name := command.Name(cmd.Args)
	// Redis lets only AUTH, HELLO and QUIT (the NO_AUTH commands) through
	// before authentication.
	if cl.unauthenticated && name != "auth" && name != "hello" && name != "quit" {
		s.reply(c, cl, command.Error("NOAUTH Authentication required."))
		return
	}
	if name == "quit" {
		s.reply(c, cl, command.OK())
		cl.closing = true
		c.Close() // flushes the +OK first
		return
	}
	if reply, ok := s.local(cl, name, cmd.Args); ok {
		s.reply(c, cl, reply)
		return
	}
	s.forward(c, cl, cmd.Args)
}

// forward hands a command to the Gateway and writes its reply.
func (s *RESPServer) forward(c redcon.Conn, cl *respClient, args [][]byte) {
	args = copyArgs(args)
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.CommandTimeout)
	reply, err := s.cfg.Gateway.Do(ctx, args)
	cancel()
	if err != nil {
		reply = s.gatewayFailed(c, args, err)
	}
	s.reply(c, cl, reply)
}

// gatewayFailed is the reply for a command the Gateway did not answer. It
// may have reached the API actor, so a write's outcome is unknown: it
// answers -UNCERTAIN, and only a command that cannot have changed
// anything answers -TRYAGAIN (DESIGN.md, "Client API": errors tell a
// client whether a retry is safe).
func (s *RESPServer) gatewayFailed(c redcon.Conn, args [][]byte, err error) *wire.Reply {
	what := "timed out waiting for the cluster"
	switch {
	case s.ctx.Err() != nil:
		what = "the server is shutting down"
	case !errors.Is(err, context.DeadlineExceeded):
		what = "the cluster did not answer: " + err.Error()
	}
	write := false
	if cmd, bad := command.Parse(args); bad == nil {
		write = cmd.IsWrite()
	}
	s.log.Warn("resp: gateway failed", "remote", c.RemoteAddr(), "command", command.Name(args),
		"write", write, "timeout", s.cfg.CommandTimeout, "err", err)
	if write {
		return command.Error("UNCERTAIN " + what + "; the write may or may not have been applied")
	}
	return command.Error("TRYAGAIN " + what)
}

// copyArgs copies args into one allocation. The Gateway may keep them
// after Do returns (a timed-out request still in flight), and redcon owns
// the memory it parsed them into.
func copyArgs(args [][]byte) [][]byte {
	n := 0
	for _, a := range args {
		n += len(a)
	}
	buf := make([]byte, 0, n)
	out := make([][]byte, len(args))
	for i, a := range args {
		start := len(buf)
		buf = append(buf, a...)
		out[i] = buf[start:len(buf):len(buf)]
	}
	return out
}

// reply encodes r as RESP2 and queues it on the connection. Small replies
// wait in redcon's buffer until the end of the pipeline batch; once more
// than respFlushBytes would be pending, what is pending is written and a
// large reply goes straight to the socket, so a connection holds at most
// about respFlushBytes plus the reply being written.
func (s *RESPServer) reply(c redcon.Conn, cl *respClient, r *wire.Reply) {
	buf := command.AppendRESP(cl.scratch[:0], r)
	if cl.conn.unflushed+len(buf) <= respFlushBytes {
		c.WriteRaw(buf)
		cl.conn.unflushed += len(buf)
	} else {
		err := redcon.BaseWriter(c).Flush()
		if err == nil {
			_, err = cl.conn.Write(buf)
		}
		if err != nil {
			s.logDisconnect(c.RemoteAddr(), cl.id, err)
			cl.closing = true
			c.Close()
		}
	}
	if cap(buf) <= respFlushBytes {
		cl.scratch = buf[:0]
	} else {
		cl.scratch = nil
	}
}
