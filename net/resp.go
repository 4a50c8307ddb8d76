package net

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	gonet "net"
	"sync"
	"sync/atomic"
	"time"

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
	// while it has no command unanswered (a command at the cluster is not
	// the client's silence), counted from its last reply. 0 means never,
	// Redis's default.
	IdleTimeout time.Duration
	// CommandTimeout bounds one command's wait on the Gateway. Default 30s.
	// A read that runs out of time gets -TRYAGAIN; a write gets -UNCERTAIN,
	// because it may have committed. Commands dispatched close together
	// share one deadline, so a command may time out up to 1/64 of
	// CommandTimeout early, never late. It also bounds a connection's wait
	// for client memory (ClientMemoryBytes).
	CommandTimeout time.Duration
	// WriteTimeout closes a connection whose replies make no progress
	// (a client that stopped reading) for this long. Default 30s.
	WriteTimeout time.Duration
	// MaxPipeline bounds the commands of one connection read and not yet
	// answered (their replies written); at the bound the port stops
	// reading from it until replies drain. Default 1024.
	MaxPipeline int
	// MaxPipelineBytes bounds the client memory (see ClientMemoryBytes)
	// one connection holds: at the bound the port stops reading from it
	// until replies drain. A command alone on its connection may still be
	// as large as MaxCommandBytes. Default 32 MiB.
	MaxPipelineBytes int
	// ClientMemoryBytes is the budget, shared by every connection, for
	// the argument bytes of commands read and not yet answered plus the
	// replies queued and not yet written (Redis's maxmemory-clients, but
	// enforced before the bytes are buffered: a connection reserves each
	// argument when its "$N" header arrives). A connection that finds it
	// spent waits, then gets -ERR and is closed if none frees within
	// CommandTimeout; an argument larger than the whole budget gets that
	// at once. A reply larger than its command's arguments is charged even
	// beyond the budget (its bytes already exist), and nothing more is
	// reserved until use falls back under it. Default 512 MiB: two
	// commands of the default MaxCommandBytes, or thousands of pipelines
	// of small commands. Per-connection buffers (a 16 KiB read buffer, a
	// write buffer up to 64 KiB) are outside it and bounded by MaxClients.
	ClientMemoryBytes int
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
	// Metrics counts commands by name and result, with their latency
	// (metrics.go); nil: none.
	Metrics *Metrics
	// TLS, when set, makes the port speak TLS only (redis-cli --tls).
	TLS *tls.Config
}

// Defaults and fixed bounds of the RESP port.
const (
	defaultRESPMaxValueBytes   = 64 << 20
	defaultRESPMaxArgs         = 1 << 20
	defaultRESPMaxCommandBytes = 256 << 20
	defaultRESPMaxClients      = 10000
	defaultRESPCommandTimeout  = 30 * time.Second
	defaultRESPWriteTimeout    = 30 * time.Second
	defaultRESPMaxPipeline     = 1024
	defaultRESPMaxPipelineMem  = 32 << 20
	defaultRESPClientMemory    = 512 << 20

	// respFlushBytes bounds the encoded replies a connection gathers for
	// one write; a reply larger than it is written on its own.
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
		{"MaxPipeline", &c.MaxPipeline, defaultRESPMaxPipeline},
		{"MaxPipelineBytes", &c.MaxPipelineBytes, defaultRESPMaxPipelineMem},
		{"ClientMemoryBytes", &c.ClientMemoryBytes, defaultRESPClientMemory},
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
// and hands every other command to the Gateway, many at once per
// connection, replying in request order (resp_conn.go).
type RESPServer struct {
	cfg     RESPConfig
	log     *slog.Logger
	ln      *respListener
	limits  respLimits
	budget  *respBudget
	keySeed maphash.Seed
	started time.Time
	runID   string

	// ctx is cancelled by Close, releasing commands waiting on the Gateway.
	ctx    context.Context
	cancel context.CancelFunc

	serveDone chan struct{}
	conns     sync.WaitGroup // one per accepted connection until its goroutines end
	mu        sync.Mutex
	open      map[*respConn]struct{} // for Close; under mu
	closeOnce sync.Once
	closeErr  error

	nextClientID   atomic.Uint64
	connected      atomic.Int64
	totalConns     atomic.Uint64
	totalCommands  atomic.Uint64
	rejected       atomic.Uint64
	protocolErrors atomic.Uint64
	// warnLimit rate-limits the log of what clients do wrong (protocol
	// errors, cross-protocol attempts): a client can make them at will.
	warnLimit     respLogLimit
	memoryRefused atomic.Uint64

	// stats are INFO commandstats, errorstats and latencystats
	// (resp_info.go); pause is CLIENT PAUSE (resp_client.go).
	stats *respStats
	pause respPause
}

// RESPStats counts the port's connections and commands, as INFO reports
// them. CONFIG RESETSTAT zeroes the totals, as in Redis, and restarts the
// client memory high-water mark from the current use.
type RESPStats struct {
	ConnectedClients    int    // connections open now
	TotalConnections    uint64 // connections accepted (not counting rejected ones)
	TotalCommands       uint64 // commands handled, locally or by the Gateway
	RejectedConnections uint64 // connections refused because MaxClients were open
	ProtocolErrors      uint64 // connections closed for a protocol error
	// ClientMemoryBytes is the client memory budget in use now, and
	// ClientMemoryPeakBytes its high-water mark (see
	// RESPConfig.ClientMemoryBytes).
	ClientMemoryBytes     int64
	ClientMemoryPeakBytes int64
	// ClientMemoryRefused counts connections closed because the budget
	// could not hold their command.
	ClientMemoryRefused uint64
	ErrorReplies        uint64 // error replies sent (INFO total_error_replies)
}

// respClient is one connection's client state, as CLIENT and HELLO see
// it. Only the connection's reading goroutine changes it; what other
// connections read (CLIENT LIST, CLIENT KILL: name, libName, libVer,
// lastCmd, cmd) it changes under info, and reads without.
type respClient struct {
	id      uint64
	conn    gonet.Conn
	created time.Time

	info    sync.Mutex
	lastCmd time.Time
	cmd     string // the full name of the last command, "" before any
	// closeAfterReply closes the connection once the reply of the
	// command being answered is written (CLIENT KILL of itself).
	closeAfterReply bool

	// unauthenticated is true while RequirePass is set and AUTH has not
	// succeeded. The framer reads it too, for Redis's tighter limits on
	// unauthenticated clients.
	unauthenticated bool

	name, libName, libVer string

	// proto is the protocol the connection speaks: respProto2 until
	// HELLO 3, again after HELLO 2 or RESET (resp3.go).
	proto int

	// multi is the MULTI block being queued, nil outside one
	// (resp_multi.go).
	multi *respMulti
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
	if cfg.TLS != nil {
		tcp = tls.NewListener(tcp, cfg.TLS)
	}
	var id [20]byte
	_, _ = rand.Read(id[:])
	s := &RESPServer{
		cfg: cfg,
		log: cfg.Logger,
		limits: respLimits{
			maxValueBytes:   int64(cfg.MaxValueBytes),
			maxArgs:         int64(cfg.MaxArgs),
			maxCommandBytes: int64(cfg.MaxCommandBytes),
		},
		budget:    newRESPBudget(int64(cfg.ClientMemoryBytes)),
		stats:     newRESPStats(),
		keySeed:   maphash.MakeSeed(),
		started:   time.Now(),
		runID:     hex.EncodeToString(id[:]),
		serveDone: make(chan struct{}),
		open:      map[*respConn]struct{}{},
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.ln = newRESPListener(tcp, cfg.Logger)
	go func() {
		defer close(s.serveDone)
		s.acceptLoop()
	}()
	s.log.Debug("resp: listening", "addr", s.Addr())
	return s, nil
}

// Addr is the address the port listens on, with the port ":0" chose.
func (s *RESPServer) Addr() string { return s.ln.Addr().String() }

// Close stops accepting, closes every connection, releases commands
// waiting on the Gateway, and returns once every connection's goroutines
// have finished.
func (s *RESPServer) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		if err := s.ln.Close(); err != nil && !errors.Is(err, gonet.ErrClosed) {
			s.closeErr = fmt.Errorf("resp: close listener %s: %w", s.Addr(), err)
		}
		<-s.serveDone // no connection is accepted after this
		s.mu.Lock()
		for c := range s.open {
			c.kill(errRESPServerClosed)
		}
		s.mu.Unlock()
		s.conns.Wait()
	})
	return s.closeErr
}

var errRESPServerClosed = errors.New("resp: server closed")

// Stats returns the port's counters.
func (s *RESPServer) Stats() RESPStats {
	used, peak := s.budget.usage()
	return RESPStats{
		ConnectedClients:      int(s.connected.Load()),
		TotalConnections:      s.totalConns.Load(),
		TotalCommands:         s.totalCommands.Load(),
		RejectedConnections:   s.rejected.Load(),
		ProtocolErrors:        s.protocolErrors.Load(),
		ClientMemoryBytes:     used,
		ClientMemoryPeakBytes: peak,
		ClientMemoryRefused:   s.memoryRefused.Load(),
		ErrorReplies:          s.stats.errorReplies.Load(),
	}
}

// acceptLoop accepts connections until the listener closes.
func (s *RESPServer) acceptLoop() {
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			if !errors.Is(err, gonet.ErrClosed) {
				s.log.Error("resp: serving stopped", "addr", s.Addr(), "err", err)
			}
			return
		}
		if s.connected.Load() >= int64(s.cfg.MaxClients) {
			// Redis's acceptCommonHandler: the error goes out before the
			// client could send anything, then the connection closes.
			s.rejected.Add(1)
			_ = respWriteTimed(conn, []byte("-ERR max number of clients reached\r\n"), s.cfg.WriteTimeout)
			conn.Close()
			s.log.Debug("resp: connection rejected: max number of clients reached",
				"remote", conn.RemoteAddr().String(), "max_clients", s.cfg.MaxClients)
			continue
		}
		s.connected.Add(1)
		s.totalConns.Add(1)
		s.conns.Add(1)
		c := s.newConn(conn)
		s.mu.Lock()
		s.open[c] = struct{}{}
		s.mu.Unlock()
		s.log.Debug("resp: client connected", "remote", c.remote, "id", c.cl.id)
		go func() {
			defer s.conns.Done()
			c.serve()
			s.mu.Lock()
			delete(s.open, c)
			s.mu.Unlock()
			s.connected.Add(-1)
		}()
	}
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

// gatewayFailed is the reply for a command the Gateway did not answer. It
// may have reached the API actor, so a write's outcome is unknown: it
// answers -UNCERTAIN, and only a command that cannot have changed
// anything answers -TRYAGAIN (DESIGN.md, "Client API": errors tell a
// client whether a retry is safe).
func (s *RESPServer) gatewayFailed(remote string, args [][]byte, err error) *wire.Reply {
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
	s.log.Warn("resp: gateway failed", "remote", remote, "command", command.Name(args),
		"write", write, "timeout", s.cfg.CommandTimeout, "err", err)
	if write {
		return command.Error("UNCERTAIN " + what + "; the write may or may not have been applied")
	}
	return command.Error("TRYAGAIN " + what)
}

const (
	respAcceptBackoffMin = 5 * time.Millisecond
	respAcceptBackoffMax = time.Second
)

// respListener backs off on accept errors that are not a closed listener
// (e.g. EMFILE), which a plain loop would retry busily.
type respListener struct {
	gonet.Listener
	log       *slog.Logger
	done      chan struct{}
	closeOnce sync.Once
}

func newRESPListener(ln gonet.Listener, log *slog.Logger) *respListener {
	return &respListener{Listener: ln, log: log, done: make(chan struct{})}
}

func (l *respListener) Accept() (gonet.Conn, error) {
	var backoff time.Duration
	for {
		conn, err := l.Listener.Accept()
		if err == nil {
			return conn, nil
		}
		if errors.Is(err, gonet.ErrClosed) {
			return nil, err
		}
		backoff = min(max(2*backoff, respAcceptBackoffMin), respAcceptBackoffMax)
		l.log.Warn("resp: accept failed; retrying", "addr", l.Addr().String(), "backoff", backoff, "err", err)
		select {
		case <-time.After(backoff):
		case <-l.done:
			return nil, gonet.ErrClosed
		}
	}
}

func (l *respListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// respLogLimit lets one log line through per respWarnEvery and counts the
// ones it held back, which the next line reports.
type respLogLimit struct {
	mu   sync.Mutex
	last time.Time
	held int
}

const respWarnEvery = time.Second

// allow reports whether to log now, and how many were held back since the
// last line that was.
func (l *respLogLimit) allow(now time.Time) (ok bool, heldBack int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && now.Sub(l.last) < respWarnEvery {
		l.held++
		return false, 0
	}
	l.last, heldBack, l.held = now, l.held, 0
	return true, heldBack
}
