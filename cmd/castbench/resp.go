package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// A minimal RESP2 client: commands are appended to a byte slice and written
// with one Write per batch; replies are read one at a time into a buffer the
// connection reuses. It allocates nothing per command, so what a row
// measures is the server and the loopback, not the client's bookkeeping.

// Bounds of the client.
const (
	readBufferBytes  = 64 << 10
	maxReplyBytes    = 512 << 20 // a bulk reply longer than this is a protocol error
	maxReplyElements = 1 << 20   // elements of one array reply
	maxReplyDepth    = 8         // nested arrays
)

// appendCommand appends args as a RESP array of bulk strings.
func appendCommand(dst []byte, args ...[]byte) []byte {
	dst = appendArrayHeader(dst, len(args))
	for _, a := range args {
		dst = appendBulk(dst, a)
	}
	return dst
}

func appendArrayHeader(dst []byte, n int) []byte {
	dst = append(dst, '*')
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, '\r', '\n')
}

func appendBulk(dst, b []byte) []byte {
	dst = append(dst, '$')
	dst = strconv.AppendInt(dst, int64(len(b)), 10)
	dst = append(dst, '\r', '\n')
	dst = append(dst, b...)
	return append(dst, '\r', '\n')
}

// reply is one server reply. str (a status, an error's text or a bulk
// string) is valid until the next read on the connection.
type reply struct {
	kind byte // '+', '-', ':', '$', '*'
	str  []byte
	n    int64 // an integer, an array's length; -1 for a null bulk or array
}

func (r reply) isError() bool { return r.kind == '-' }
func (r reply) isNull() bool  { return (r.kind == '$' || r.kind == '*') && r.n < 0 }

func (r reply) String() string {
	switch r.kind {
	case '+', '-', '$':
		if r.isNull() {
			return "(nil)"
		}
		return string(r.kind) + string(r.str)
	default:
		return fmt.Sprintf("%c%d", r.kind, r.n)
	}
}

// replyReader reads RESP2 replies.
type replyReader struct {
	r   *bufio.Reader
	buf []byte
}

func newReplyReader(r io.Reader) *replyReader {
	return &replyReader{r: bufio.NewReaderSize(r, readBufferBytes)}
}

var errProtocol = errors.New("RESP protocol error")

// read reads one reply. Elements of an array are read and dropped: the
// benchmark needs only to know that the reply arrived.
func (rr *replyReader) read() (reply, error) { return rr.readDepth(0) }

func (rr *replyReader) readDepth(depth int) (reply, error) {
	line, err := rr.line()
	if err != nil {
		return reply{}, err
	}
	if len(line) == 0 {
		return reply{}, fmt.Errorf("%w: empty line", errProtocol)
	}
	kind, rest := line[0], line[1:]
	switch kind {
	case '+', '-':
		rr.buf = append(rr.buf[:0], rest...)
		return reply{kind: kind, str: rr.buf}, nil
	case ':':
		n, err := strconv.ParseInt(string(rest), 10, 64)
		if err != nil {
			return reply{}, fmt.Errorf("%w: integer %q", errProtocol, rest)
		}
		return reply{kind: kind, n: n}, nil
	case '$':
		n, err := strconv.ParseInt(string(rest), 10, 64)
		if err != nil || n < -1 || n > maxReplyBytes {
			return reply{}, fmt.Errorf("%w: bulk length %q", errProtocol, rest)
		}
		if n < 0 {
			return reply{kind: kind, n: -1}, nil
		}
		if cap(rr.buf) < int(n)+2 {
			rr.buf = make([]byte, int(n)+2)
		}
		b := rr.buf[:n+2]
		if _, err := io.ReadFull(rr.r, b); err != nil {
			return reply{}, err
		}
		if b[n] != '\r' || b[n+1] != '\n' {
			return reply{}, fmt.Errorf("%w: bulk string not ended by CRLF", errProtocol)
		}
		return reply{kind: kind, str: b[:n], n: n}, nil
	case '*':
		n, err := strconv.ParseInt(string(rest), 10, 64)
		if err != nil || n < -1 || n > maxReplyElements || depth >= maxReplyDepth {
			return reply{}, fmt.Errorf("%w: array length %q at depth %d", errProtocol, rest, depth)
		}
		for range n {
			if _, err := rr.readDepth(depth + 1); err != nil {
				return reply{}, err
			}
		}
		return reply{kind: kind, n: n}, nil
	}
	return reply{}, fmt.Errorf("%w: reply type %q", errProtocol, kind)
}

// line is the next CRLF-terminated line without its CRLF; valid until the
// next read.
func (rr *replyReader) line() ([]byte, error) {
	b, err := rr.r.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("%w: line longer than %d bytes", errProtocol, readBufferBytes)
		}
		return nil, err
	}
	if len(b) < 2 || b[len(b)-2] != '\r' {
		return nil, fmt.Errorf("%w: line not ended by CRLF", errProtocol)
	}
	return b[:len(b)-2], nil
}

// client is one connection to a RESP server.
type client struct {
	conn net.Conn
	rr   *replyReader
	out  []byte
}

func dial(ctx context.Context, addr string, timeout time.Duration) (*client, error) {
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	return &client{conn: c, rr: newReplyReader(c)}, nil
}

func (c *client) Close() error { return c.conn.Close() }

// send writes out in one Write.
func (c *client) send(out []byte) error {
	_, err := c.conn.Write(out)
	return err
}

// do sends one command and reads its reply within timeout.
func (c *client) do(timeout time.Duration, args ...string) (reply, error) {
	c.conn.SetDeadline(time.Now().Add(timeout))
	defer c.conn.SetDeadline(time.Time{})
	c.out = appendArrayHeader(c.out[:0], len(args))
	for _, a := range args {
		c.out = appendBulk(c.out, []byte(a))
	}
	if err := c.send(c.out); err != nil {
		return reply{}, err
	}
	return c.rr.read()
}

// doOK is do for a command whose only good answer is +OK or +PONG.
func (c *client) doOK(timeout time.Duration, args ...string) error {
	r, err := c.do(timeout, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", args[0], err)
	}
	if r.kind != '+' {
		return fmt.Errorf("%s: got %v", args[0], r)
	}
	return nil
}
