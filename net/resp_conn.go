package net

import (
	"bytes"
	"errors"
	"log/slog"
	gonet "net"
	"strconv"
	"sync"
	"time"
)

// The RESP port's framing limits. redcon has none: it buffers whatever a
// client declares. So every client connection is a respConn, whose Read
// frames the byte stream itself and passes redcon only what fits the
// limits; the first byte over a limit ends the connection with Redis's
// protocol error, before redcon buffers anything for it.
const (
	// respLineMaxBytes is Redis's PROTO_INLINE_MAX_SIZE: the longest inline
	// command, and the longest a "*N" or "$N" header may grow while its
	// CRLF has not come.
	respLineMaxBytes = 64 << 10
	// respUnauthMaxArgs and respUnauthMaxBulkBytes are Redis's limits for a
	// client that has not authenticated yet (networking.c,
	// processMultibulkBuffer: "unauthenticated multibulk length" and
	// "unauthenticated bulk length").
	respUnauthMaxArgs      = 10
	respUnauthMaxBulkBytes = 16384
	// respReadChunkBytes is how much one socket read asks for when framing.
	respReadChunkBytes = 16 << 10
	// respWriteChunkBytes bounds one socket write, so WriteTimeout measures
	// progress rather than the time to send a whole large reply.
	respWriteChunkBytes = 256 << 10
)

type respLimits struct {
	maxValueBytes   int64
	maxArgs         int64
	maxCommandBytes int64
	idleTimeout     time.Duration
	writeTimeout    time.Duration
}

// respListener hands redcon respConns, and backs off on accept errors that
// are not a closed listener (e.g. EMFILE), which redcon would retry in a
// busy loop.
type respListener struct {
	gonet.Listener
	limits          respLimits
	onProtocolError func(*respConn, string)
	log             *slog.Logger
	done            chan struct{}
	closeOnce       sync.Once
}

func newRESPListener(ln gonet.Listener, limits respLimits, onProtocolError func(*respConn, string), log *slog.Logger) *respListener {
	return &respListener{Listener: ln, limits: limits, onProtocolError: onProtocolError, log: log, done: make(chan struct{})}
}

const (
	respAcceptBackoffMin = 5 * time.Millisecond
	respAcceptBackoffMax = time.Second
)

func (l *respListener) Accept() (gonet.Conn, error) {
	var backoff time.Duration
	for {
		conn, err := l.Listener.Accept()
		if err == nil {
			return &respConn{Conn: conn, limits: l.limits, onProtocolError: l.onProtocolError}, nil
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

// Close may run twice: RESPServer.Close calls it, and so does redcon's
// serve loop on its way out.
func (l *respListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// respFrameState is where the framer is in the RESP grammar.
type respFrameState uint8

const (
	respAtCommand    respFrameState = iota // a command starts: "*N" or an inline line
	respAtBulkHeader                       // "$N" of the next argument
	respInBulk                             // an argument's bytes, then its CRLF
)

// respProtocolError is the error respConn.Read returns once it has sent a
// client Redis's protocol error; redcon then closes the connection.
type respProtocolError struct{ msg string }

func (e *respProtocolError) Error() string { return "Protocol error: " + e.msg }

// respConn is a client connection as redcon sees it. Read frames what the
// client sends (respConn.frame), Write bounds how long a reply may make no
// progress, and every socket read renews the idle deadline.
//
// Only the connection's goroutine calls Read and Write (redcon reads and
// runs the handler on one goroutine); Close may come from any.
type respConn struct {
	gonet.Conn
	limits          respLimits
	onProtocolError func(*respConn, string)
	// client is the connection's state, set by RESPServer.accept before
	// redcon first reads.
	client *respClient

	buf    []byte // bytes read from the socket: buf[r:w] are not framed yet
	r, w   int
	out    []byte // framed bytes redcon has not taken yet
	outBuf []byte // out's backing array, reused
	err    error  // sticky: a protocol error, or the socket's read error
	// errReply is the protocol error reply, sent when Read returns err.
	errReply []byte

	state    respFrameState
	argsLeft int64 // arguments still to come in this command
	bulkLeft int64 // bytes of this argument still to come, CRLF excluded
	crlfLeft int   // bytes of this argument's CRLF still to come
	cmdBytes int64 // bytes of this command so far, as framed
	// hold stops framing after one command while the client is
	// unauthenticated, until redcon has run it (see Read).
	hold bool

	// unflushed counts reply bytes queued in redcon's writer; every Write
	// (redcon's flush included) empties that buffer.
	unflushed int
}

// Read gives redcon framed bytes. It blocks on the socket only when it
// has nothing to give, so a command that is complete is never held back
// waiting for the next one.
//
// While the client is unauthenticated, Read stops after each complete
// command and frames no further until its out is drained and redcon calls
// again, which redcon does only once it has run that command (it reads
// only when its buffer holds no complete command). So the unauthenticated
// limits apply exactly as far as Redis applies them: a command pipelined
// right after a good AUTH is framed with the authenticated limits.
func (c *respConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if len(c.out) == 0 {
		c.hold = false
	}
	for {
		if len(c.out) > 0 {
			n := copy(p, c.out)
			c.out = c.out[n:]
			return n, nil
		}
		if c.err != nil {
			if c.errReply != nil {
				_, _ = c.Write(c.errReply)
				c.errReply = nil
			}
			return 0, c.err
		}
		if c.state == respInBulk && c.bulkLeft > 0 {
			// An argument's bytes need no framing: pass them on, straight
			// from the socket into redcon's buffer when none are buffered.
			p = p[:min(int64(len(p)), c.bulkLeft)]
			var n int
			var err error
			if c.r < c.w {
				n = copy(p, c.buf[c.r:c.w])
				c.r += n
			} else {
				n, err = c.readSocket(p)
			}
			c.bulkLeft -= int64(n)
			if n > 0 {
				return n, nil
			}
			c.err = err
			continue
		}
		if c.frame() {
			continue
		}
		if err := c.fill(); err != nil {
			c.err = err
		}
	}
}

// fill reads more of the socket into buf.
func (c *respConn) fill() error {
	if c.r == c.w {
		c.r, c.w = 0, 0
		if len(c.buf) > respReadChunkBytes {
			c.buf = nil // a long line grew it; give the memory back
		}
	}
	if c.buf == nil {
		c.buf = make([]byte, respReadChunkBytes)
	}
	if c.w == len(c.buf) {
		if c.r > 0 {
			c.w = copy(c.buf, c.buf[c.r:c.w])
			c.r = 0
		} else {
			// Only a line longer than buf gets here, and frame refuses
			// lines over respLineMaxBytes, so buf stays under
			// respLineMaxBytes + respReadChunkBytes.
			grown := make([]byte, min(2*len(c.buf), respLineMaxBytes+respReadChunkBytes))
			if len(grown) == len(c.buf) {
				panic("resp: framer buffer full without a refused line; frame's line limit is broken")
			}
			copy(grown, c.buf[:c.w])
			c.buf = grown
		}
	}
	n, err := c.readSocket(c.buf[c.w:])
	c.w += n
	if n > 0 {
		return nil
	}
	return err
}

func (c *respConn) readSocket(p []byte) (int, error) {
	if c.limits.idleTimeout > 0 {
		if err := c.Conn.SetReadDeadline(time.Now().Add(c.limits.idleTimeout)); err != nil {
			return 0, err
		}
	}
	return c.Conn.Read(p)
}

// frame moves what it can of buf[r:w] to out, checking the grammar and
// the limits as it goes. It reports whether it consumed anything; false
// means it needs more input. It stops early at an argument's bytes when
// nothing else is pending (Read passes them without a copy), after one
// command while the client is unauthenticated, and at an error.
//
// It follows Redis's networking.c (processInlineBuffer,
// processMultibulkBuffer): the same limits and the same error texts, with
// redcon's stricter checks where redcon would fail anyway (a CRLF must end
// every header and argument).
func (c *respConn) frame() bool {
	progress := false
	if len(c.out) == 0 {
		c.out = c.outBuf[:0]
	}
loop:
	for c.err == nil && !c.hold && c.r < c.w {
		in := c.buf[c.r:c.w]
		switch c.state {
		case respAtCommand:
			if in[0] != '*' {
				line, n, ok := c.line(in, "too big inline request", "")
				if !ok {
					break loop
				}
				c.r += n
				progress = true
				c.inline(line)
				continue
			}
			line, n, ok := c.line(in, "too big mbulk count string", "invalid multibulk length")
			if !ok {
				break loop
			}
			count, ok := respParseInt(line[1:])
			switch {
			case !ok || count > c.limits.maxArgs:
				c.fail("invalid multibulk length")
				break loop
			case count > respUnauthMaxArgs && c.unauthenticated():
				c.fail("unauthenticated multibulk length")
				break loop
			}
			c.r += n
			progress = true
			if count <= 0 {
				continue // Redis skips an empty or negative array; redcon would not
			}
			c.out = append(c.out, in[:n]...)
			c.state, c.argsLeft, c.cmdBytes = respAtBulkHeader, count, int64(n)

		case respAtBulkHeader:
			if in[0] != '$' {
				c.fail("expected '$', got '" + string(in[:1]) + "'")
				break loop
			}
			line, n, ok := c.line(in, "too big bulk count string", "invalid bulk length")
			if !ok {
				break loop
			}
			size, ok := respParseInt(line[1:])
			switch {
			case !ok || size < 0 || size > c.limits.maxValueBytes:
				c.fail("invalid bulk length")
				break loop
			case size > respUnauthMaxBulkBytes && c.unauthenticated():
				c.fail("unauthenticated bulk length")
				break loop
			}
			c.cmdBytes += int64(n) + size + 2
			if c.cmdBytes > c.limits.maxCommandBytes {
				c.fail("command larger than " + strconv.FormatInt(c.limits.maxCommandBytes, 10) + " bytes")
				break loop
			}
			c.r += n
			progress = true
			c.out = append(c.out, in[:n]...)
			c.state, c.bulkLeft, c.crlfLeft = respInBulk, size, 2

		case respInBulk:
			if c.bulkLeft > 0 {
				// Read passes an argument's bytes through on its own; take
				// them here only to deliver them with the header before
				// them (many small commands in one Read).
				if len(c.out) == 0 {
					break loop
				}
				n := min(int64(len(in)), c.bulkLeft)
				c.out = append(c.out, in[:n]...)
				c.r += int(n)
				c.bulkLeft -= n
				progress = true
				continue
			}
			if in[0] != "\r\n"[2-c.crlfLeft] {
				c.fail("invalid bulk length") // redcon's text for a missing CRLF
				break loop
			}
			c.out = append(c.out, in[0])
			c.r++
			c.crlfLeft--
			progress = true
			if c.crlfLeft > 0 {
				continue
			}
			c.argsLeft--
			if c.argsLeft > 0 {
				c.state = respAtBulkHeader
			} else {
				c.endCommand()
			}
		}
	}
	c.outBuf = c.out[:0]
	return progress || c.err != nil
}

// line finds the line at the start of in. It returns the line without its
// line ending and the bytes it spans; ok is false when the line is not
// complete, or is malformed and c.err is set. A header ("*N", "$N") must
// end in CRLF, else badEnding; an inline line may end in LF alone.
func (c *respConn) line(in []byte, tooBig, badEnding string) (line []byte, n int, ok bool) {
	i := bytes.IndexByte(in, '\n')
	if i < 0 && len(in) > respLineMaxBytes || i > respLineMaxBytes+1 {
		c.fail(tooBig)
		return nil, 0, false
	}
	if i < 0 {
		return nil, 0, false
	}
	line = in[:i]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	} else if badEnding != "" {
		c.fail(badEnding)
		return nil, 0, false
	}
	return line, i + 1, true
}

// inline frames an inline command (a line of words, as typed into telnet)
// as the RESP array redcon expects, split as Redis splits it.
func (c *respConn) inline(line []byte) {
	args, ok := respSplitArgs(line)
	switch {
	case !ok:
		c.fail("unbalanced quotes in request")
		return
	case len(args) == 0:
		return // Redis ignores an empty line
	case int64(len(args)) > c.limits.maxArgs:
		c.fail("invalid multibulk length")
		return
	}
	start := len(c.out)
	c.out = append(c.out, '*')
	c.out = strconv.AppendInt(c.out, int64(len(args)), 10)
	c.out = append(c.out, "\r\n"...)
	for _, a := range args {
		if int64(len(a)) > c.limits.maxValueBytes {
			c.fail("invalid bulk length")
			return
		}
		c.out = append(c.out, '$')
		c.out = strconv.AppendInt(c.out, int64(len(a)), 10)
		c.out = append(c.out, "\r\n"...)
		c.out = append(c.out, a...)
		c.out = append(c.out, "\r\n"...)
	}
	if int64(len(c.out)-start) > c.limits.maxCommandBytes {
		c.fail("command larger than " + strconv.FormatInt(c.limits.maxCommandBytes, 10) + " bytes")
		return
	}
	c.endCommand()
}

func (c *respConn) endCommand() {
	c.state, c.cmdBytes = respAtCommand, 0
	if c.unauthenticated() {
		c.hold = true
	}
}

func (c *respConn) unauthenticated() bool { return c.client != nil && c.client.unauthenticated }

// fail ends the connection with Redis's "-ERR Protocol error: msg". The
// reply goes out when Read returns the error, which is after redcon has
// answered and flushed every command framed before it, so replies keep
// their order.
func (c *respConn) fail(msg string) {
	err := &respProtocolError{msg: msg}
	c.err = err
	if c.onProtocolError != nil {
		c.onProtocolError(c, msg)
	}
	text := err.Error()
	reply := make([]byte, 0, len(text)+7)
	reply = append(reply, "-ERR "...)
	for i := 0; i < len(text); i++ {
		b := text[i]
		if b == '\r' || b == '\n' {
			b = ' ' // as Redis does to error texts that echo client bytes
		}
		reply = append(reply, b)
	}
	c.errReply = append(reply, "\r\n"...)
}

// Write sends p in chunks of at most respWriteChunkBytes, each with its
// own WriteTimeout deadline: a client that reads slowly keeps its
// connection, one that stopped reading loses it.
func (c *respConn) Write(p []byte) (int, error) {
	c.unflushed = 0
	written := 0
	for written < len(p) {
		chunk := p[written:min(len(p), written+respWriteChunkBytes)]
		if err := c.Conn.SetWriteDeadline(time.Now().Add(c.limits.writeTimeout)); err != nil {
			return written, err
		}
		n, err := c.Conn.Write(chunk)
		written += n
		if err != nil {
			return written, err
		}
	}
	return written, nil
}

// respParseInt parses a header's length as Redis's string2ll does: an
// optional '-', then digits without leading zeros ("0" alone is zero), no
// '+' and no spaces. Lengths above 19 digits are refused.
func respParseInt(b []byte) (int64, bool) {
	if len(b) == 1 && b[0] == '0' {
		return 0, true
	}
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 19 || b[0] < '1' || b[0] > '9' {
		return 0, false
	}
	var v int64
	for _, d := range b {
		if d < '0' || d > '9' {
			return 0, false
		}
		v = v*10 + int64(d-'0')
	}
	if neg {
		v = -v
	}
	return v, true
}

// respSplitArgs splits an inline command line into arguments exactly as
// Redis's sdssplitargs does: words separated by blanks; "double quotes"
// with \n \r \t \b \a \xHH and \<any> escapes; 'single quotes' with only
// \' escaped; a closing quote must be followed by a blank or the end. The
// line ends at a NUL byte, as a C string does. ok is false for unbalanced
// quotes.
func respSplitArgs(line []byte) (args [][]byte, ok bool) {
	if i := bytes.IndexByte(line, 0); i >= 0 {
		line = line[:i]
	}
	at := func(i int) byte {
		if i < len(line) {
			return line[i]
		}
		return 0
	}
	isSpace := func(b byte) bool {
		return b == ' ' || b == '\t' || b == '\n' || b == '\v' || b == '\f' || b == '\r'
	}
	p := 0
	for {
		for p < len(line) && isSpace(line[p]) {
			p++
		}
		if p >= len(line) {
			return args, true
		}
		cur := []byte{}
		inDouble, inSingle, done := false, false, false
		for !done {
			ch := at(p)
			switch {
			case inDouble:
				switch {
				case ch == '\\' && at(p+1) == 'x' && isHexDigit(at(p+2)) && isHexDigit(at(p+3)):
					cur = append(cur, hexValue(at(p+2))<<4|hexValue(at(p+3)))
					p += 3
				case ch == '\\' && at(p+1) != 0:
					p++
					e := at(p)
					switch e {
					case 'n':
						e = '\n'
					case 'r':
						e = '\r'
					case 't':
						e = '\t'
					case 'b':
						e = '\b'
					case 'a':
						e = '\a'
					}
					cur = append(cur, e)
				case ch == '"':
					if next := at(p + 1); next != 0 && !isSpace(next) {
						return nil, false
					}
					done = true
				case ch == 0:
					return nil, false
				default:
					cur = append(cur, ch)
				}
			case inSingle:
				switch {
				case ch == '\\' && at(p+1) == '\'':
					p++
					cur = append(cur, '\'')
				case ch == '\'':
					if next := at(p + 1); next != 0 && !isSpace(next) {
						return nil, false
					}
					done = true
				case ch == 0:
					return nil, false
				default:
					cur = append(cur, ch)
				}
			default:
				switch ch {
				case ' ', '\n', '\r', '\t', 0:
					done = true
				case '"':
					inDouble = true
				case '\'':
					inSingle = true
				default:
					cur = append(cur, ch)
				}
			}
			if at(p) != 0 {
				p++
			}
		}
		args = append(args, cur)
	}
}

func isHexDigit(b byte) bool {
	return '0' <= b && b <= '9' || 'a' <= b && b <= 'f' || 'A' <= b && b <= 'F'
}

func hexValue(b byte) byte {
	switch {
	case '0' <= b && b <= '9':
		return b - '0'
	case 'a' <= b && b <= 'f':
		return b - 'a' + 10
	default:
		return b - 'A' + 10
	}
}
