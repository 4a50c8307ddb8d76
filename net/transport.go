package net

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	gonet "net"
	"sync"
	"sync/atomic"
	"time"

	"castkv/actors"
	"github.com/anthdm/hollywood/actor"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// TransportConfig bounds everything the cluster transport holds.
type TransportConfig struct {
	Addr string // host:port to listen on
	// MaxFrameBytes bounds one message; larger ones are refused by the
	// sender and close the connection on the receiver. It must exceed the
	// largest value plus its command.
	MaxFrameBytes int
	// QueueFrames and QueueBytes bound what waits for one peer; beyond
	// them new messages to that peer are dropped.
	QueueFrames int
	QueueBytes  int64
	DialTimeout time.Duration
	// WriteTimeout closes a connection whose peer stopped reading.
	WriteTimeout time.Duration
	// BackoffMin/Max bound the wait between failed dials.
	BackoffMin, BackoffMax time.Duration
	// TLS, when set, wraps every connection (both directions).
	TLS *tls.Config
}

func (c TransportConfig) withDefaults() TransportConfig {
	if c.MaxFrameBytes == 0 {
		c.MaxFrameBytes = 80 << 20 // a 64 MiB value, its key and command, with room
	}
	if c.QueueFrames == 0 {
		c.QueueFrames = 8192
	}
	if c.QueueBytes == 0 {
		c.QueueBytes = 256 << 20
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = time.Second
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 5 * time.Second
	}
	if c.BackoffMin == 0 {
		c.BackoffMin = 50 * time.Millisecond
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = 2 * time.Second
	}
	return c
}

// preamble opens every cluster connection; anything else is closed.
const preamble = "castkv-cluster/1\n"

// Transport is castkv's actor.Remoter: one writer goroutine and a bounded
// queue per peer, dial timeout and backoff, length-prefixed frames with a
// size limit, optional TLS. A dead or blackholed peer only ever stalls its
// own writer.
//
// Frame: u32 length, then u8 len + sender address, u8 len + target role,
// u8 len + message type, then the protobuf bytes.
type Transport struct {
	cfg     TransportConfig
	ln      gonet.Listener
	deliver func(role string, from actors.Addr, m actors.Msg)
	log     *slog.Logger

	mu     sync.Mutex
	peers  map[string]*peer
	conns  map[gonet.Conn]bool
	closed bool
	wg     sync.WaitGroup

	dropped atomic.Int64
}

// NewTransport listens on cfg.Addr at once, so Address is the real one.
func NewTransport(cfg TransportConfig, deliver func(role string, from actors.Addr, m actors.Msg), log *slog.Logger) (*Transport, error) {
	cfg = cfg.withDefaults()
	ln, err := gonet.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("cluster port: listen on %s: %w", cfg.Addr, err)
	}
	if cfg.TLS != nil {
		ln = tls.NewListener(ln, cfg.TLS)
	}
	return &Transport{cfg: cfg, ln: ln, deliver: deliver, log: log, peers: map[string]*peer{}, conns: map[gonet.Conn]bool{}}, nil
}

// Address is the listening address.
func (t *Transport) Address() string { return t.ln.Addr().String() }

// Dropped counts messages dropped because a peer's queue was full or a
// frame was too large.
func (t *Transport) Dropped() int64 { return t.dropped.Load() }

// Start accepts connections (actor.Remoter).
func (t *Transport) Start(*actor.Engine) error {
	t.wg.Add(1)
	go t.accept()
	return nil
}

// Stop closes everything (actor.Remoter).
func (t *Transport) Stop() *sync.WaitGroup {
	t.Close()
	return &t.wg
}

// Close stops the listener, every peer writer and every reader.
func (t *Transport) Close() {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.closed = true
	for _, p := range t.peers {
		p.close()
	}
	for c := range t.conns {
		c.Close()
	}
	t.mu.Unlock()
	t.ln.Close()
	t.wg.Wait()
}

// Send queues msg for pid's process (actor.Remoter). msg must be a
// delivery; the frame is encoded now, so the caller may reuse its buffers.
func (t *Transport) Send(pid *actor.PID, msg any, _ *actor.PID) {
	d, ok := msg.(delivery)
	if !ok {
		t.log.Warn("transport: not a castkv message; dropped", "type", fmt.Sprintf("%T", msg))
		return
	}
	frame, err := encodeFrame(d.from, pid.ID, d.msg, t.cfg.MaxFrameBytes)
	if err != nil {
		t.dropped.Add(1)
		t.log.Warn("transport: message not sent", "to", pid.Address, "err", err)
		return
	}
	t.peer(pid.Address).enqueue(frame)
}

func (t *Transport) peer(addr string) *peer {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.peers[addr]
	if p == nil {
		p = &peer{t: t, addr: addr, wake: make(chan struct{}, 1), done: make(chan struct{})}
		t.peers[addr] = p
		if !t.closed {
			t.wg.Add(1)
			go p.run()
		}
	}
	return p
}

func encodeFrame(from actors.Addr, role string, m actors.Msg, limit int) ([]byte, error) {
	name := string(m.ProtoReflect().Descriptor().FullName())
	if len(from) > 255 || len(role) > 255 || len(name) > 255 {
		return nil, errors.New("address or type name longer than 255 bytes")
	}
	head := 4 + 3 + len(from) + len(role) + len(name)
	buf := make([]byte, head, head+proto.Size(m))
	buf[4] = byte(len(from))
	n := 5 + copy(buf[5:], from)
	buf[n] = byte(len(role))
	n += 1 + copy(buf[n+1:], role)
	buf[n] = byte(len(name))
	copy(buf[n+1:], name)
	buf, err := proto.MarshalOptions{}.MarshalAppend(buf, m)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", name, err)
	}
	if len(buf)-4 > limit {
		return nil, fmt.Errorf("%s of %d bytes exceeds the %d-byte frame limit", name, len(buf)-4, limit)
	}
	binary.BigEndian.PutUint32(buf, uint32(len(buf)-4))
	return buf, nil
}

// readFrame reads one frame; any malformation is an error that closes the
// connection.
func readFrame(r *bufio.Reader, limit int) (from actors.Addr, role string, m actors.Msg, err error) {
	var lenBuf [4]byte
	if _, err = io.ReadFull(r, lenBuf[:]); err != nil {
		return
	}
	n := int(binary.BigEndian.Uint32(lenBuf[:]))
	if n > limit || n < 3 {
		return "", "", nil, fmt.Errorf("frame of %d bytes (limit %d)", n, limit)
	}
	body := make([]byte, n)
	if _, err = io.ReadFull(r, body); err != nil {
		return
	}
	field := func() (string, error) {
		if len(body) < 1 || int(body[0]) > len(body)-1 {
			return "", errors.New("truncated frame header")
		}
		s := string(body[1 : 1+body[0]])
		body = body[1+body[0]:]
		return s, nil
	}
	var f, name string
	if f, err = field(); err != nil {
		return
	}
	if role, err = field(); err != nil {
		return
	}
	if name, err = field(); err != nil {
		return
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(name))
	if err != nil {
		return "", "", nil, fmt.Errorf("unknown message type %q", name)
	}
	msg := mt.New().Interface()
	if err = proto.Unmarshal(body, msg); err != nil {
		return "", "", nil, fmt.Errorf("decode %s: %w", name, err)
	}
	return actors.Addr(f), role, msg, nil
}

func (t *Transport) accept() {
	defer t.wg.Done()
	for {
		c, err := t.ln.Accept()
		if err != nil {
			return
		}
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			c.Close()
			return
		}
		t.conns[c] = true
		t.wg.Add(1)
		t.mu.Unlock()
		go t.read(c)
	}
}

// read delivers frames from one inbound connection until it breaks.
// Garbage (a wrong preamble, a bad frame) closes this connection only.
func (t *Transport) read(c gonet.Conn) {
	defer t.wg.Done()
	defer func() {
		c.Close()
		t.mu.Lock()
		delete(t.conns, c)
		t.mu.Unlock()
	}()
	r := bufio.NewReaderSize(c, 64<<10)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	pre := make([]byte, len(preamble))
	if _, err := io.ReadFull(r, pre); err != nil || string(pre) != preamble {
		t.log.Warn("cluster port: not a castkv peer; closing", "remote", c.RemoteAddr().String())
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	for {
		from, role, m, err := readFrame(r, t.cfg.MaxFrameBytes)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, gonet.ErrClosed) {
				t.log.Warn("cluster port: bad frame; closing connection", "remote", c.RemoteAddr().String(), "err", err)
			}
			return
		}
		t.deliver(role, from, m)
	}
}

// peer is the outbound side towards one process.
type peer struct {
	t    *Transport
	addr string

	mu     sync.Mutex
	queue  [][]byte
	bytes  int64
	wake   chan struct{}
	done   chan struct{}
	closed bool
}

func (p *peer) enqueue(frame []byte) {
	p.mu.Lock()
	cfg := p.t.cfg
	if p.closed || len(p.queue) >= cfg.QueueFrames || p.bytes+int64(len(frame)) > cfg.QueueBytes {
		p.mu.Unlock()
		if p.t.dropped.Add(1)%1000 == 1 {
			p.t.log.Warn("transport: queue to peer full; dropping messages", "peer", p.addr, "frames", cfg.QueueFrames, "bytes", cfg.QueueBytes)
		}
		return
	}
	p.queue = append(p.queue, frame)
	p.bytes += int64(len(frame))
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *peer) close() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.done)
	}
	p.mu.Unlock()
}

func (p *peer) take() [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	q := p.queue
	p.queue, p.bytes = nil, 0
	return q
}

// run is the peer's single writer: dial (with timeout and backoff), then
// write batches of frames, flushing when the queue runs dry.
func (p *peer) run() {
	defer p.t.wg.Done()
	cfg := p.t.cfg
	var conn gonet.Conn
	var w *bufio.Writer
	backoff := cfg.BackoffMin
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for {
		select {
		case <-p.done:
			return
		case <-p.wake:
		}
		for {
			batch := p.take()
			if len(batch) == 0 {
				break
			}
			if conn == nil {
				c, err := p.dial()
				if err != nil {
					// Messages queued while the peer is unreachable are lost,
					// as the protocol allows; retries resend what matters.
					p.t.dropped.Add(int64(len(batch)))
					p.t.log.Debug("transport: dial failed", "peer", p.addr, "err", err, "retry_in", backoff)
					select {
					case <-p.done:
						return
					case <-time.After(backoff):
					}
					backoff = min(backoff*2, cfg.BackoffMax)
					continue
				}
				backoff = cfg.BackoffMin
				conn, w = c, bufio.NewWriterSize(c, 64<<10)
			}
			_ = conn.SetWriteDeadline(time.Now().Add(cfg.WriteTimeout))
			var err error
			for _, f := range batch {
				if _, err = w.Write(f); err != nil {
					break
				}
			}
			if err == nil {
				err = w.Flush()
			}
			if err != nil {
				p.t.log.Warn("transport: write to peer failed; reconnecting", "peer", p.addr, "err", err)
				p.t.dropped.Add(int64(len(batch)))
				conn.Close()
				conn, w = nil, nil
			}
		}
	}
}

func (p *peer) dial() (gonet.Conn, error) {
	d := gonet.Dialer{Timeout: p.t.cfg.DialTimeout}
	var c gonet.Conn
	var err error
	if p.t.cfg.TLS != nil {
		c, err = tls.DialWithDialer(&d, "tcp", p.addr, p.t.cfg.TLS)
	} else {
		c, err = d.Dial("tcp", p.addr)
	}
	if err != nil {
		return nil, err
	}
	_ = c.SetWriteDeadline(time.Now().Add(p.t.cfg.WriteTimeout))
	if _, err := io.WriteString(c, preamble); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}
