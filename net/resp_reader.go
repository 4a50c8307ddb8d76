package net

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"time"
)

// The RESP port's framing limits, Redis's where Redis has one. The framer
// (respReader) checks each header before it buffers what the header
// announces, so a client cannot make the port hold more than the limits
// allow; the first byte over a limit ends the connection with Redis's
// protocol error.
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
	// respReadChunkBytes is the framer's read buffer, and how much one
	// socket read asks for. Only a header or inline line longer than it
	// grows the buffer, to at most respLineMaxBytes + respReadChunkBytes.
	respReadChunkBytes = 16 << 10
	// respArenaArgMaxBytes: arguments up to this size are copied into one
	// allocation shared by their command (a SET's name, key and small
	// value cost one allocation, not three); a larger argument gets its
	// own, which the socket fills directly for what was not buffered yet.
	respArenaArgMaxBytes = 1 << 10
	// respArenaMinBytes is a command arena's first capacity; append grows
	// it, so a command with many small arguments copies them at most
	// about twice in all.
	respArenaMinBytes = 128
	// respArgvPrealloc caps the argv capacity allocated from a "*N" header
	// before the arguments arrive, as Redis caps argv_len at 1024: a
	// header alone cannot make the port allocate for a million arguments.
	respArgvPrealloc = 1024
	// respWriteChunkBytes bounds one socket write, so WriteTimeout measures
	// progress rather than the time to send a whole large reply.
	respWriteChunkBytes = 256 << 10
)

type respLimits struct {
	maxValueBytes   int64
	maxArgs         int64
	maxCommandBytes int64
}

// respProtocolError is a client's breach of the RESP grammar or of a
// limit. The connection answers it with Reply and closes.
type respProtocolError struct{ msg string }

func (e *respProtocolError) Error() string { return "Protocol error: " + e.msg }

// Reply is Redis's "-ERR Protocol error: ..." line for e.
func (e *respProtocolError) Reply() []byte { return respErrorLine("ERR " + e.Error()) }

// respErrorLine encodes text as an error reply, CR and LF turned into
// spaces as Redis does to error texts that echo client bytes.
func respErrorLine(text string) []byte {
	reply := make([]byte, 0, len(text)+3)
	reply = append(reply, '-')
	for i := 0; i < len(text); i++ {
		b := text[i]
		if b == '\r' || b == '\n' {
			b = ' '
		}
		reply = append(reply, b)
	}
	return append(reply, "\r\n"...)
}

// respReader is the one RESP parser of the client port: it reads a
// connection's bytes and returns each command as its argument vector,
// checking the grammar and the limits as it goes. It follows Redis's
// networking.c (processInlineBuffer, processMultibulkBuffer): the same
// limits and the same error texts, and a CRLF must end every header and
// argument.
//
// Only the connection's reading goroutine uses a respReader.
type respReader struct {
	src    io.Reader
	limits respLimits
	// unauthenticated reports whether Redis's tighter limits for a client
	// that has not authenticated apply. It is asked at every header, and
	// the connection runs each command of an unauthenticated client before
	// reading the next, so a command pipelined right after a good AUTH is
	// read with the authenticated limits, as in Redis. nil: never.
	unauthenticated func() bool
	// reserve is asked for each argument's bytes once its header has
	// passed the limits and before any of them is buffered (the client
	// memory budget). An error ends the command and the connection. nil:
	// nothing to reserve.
	reserve func(n int64) error

	buf  []byte // bytes read from src: buf[r:w] are not parsed yet
	r, w int
	err  error // sticky: once next failed, it fails the same way

	small []respArenaArg // scratch for the command being read
}

// respArenaArg is an argument copied into its command's arena.
type respArenaArg struct{ i, off, n int }

// next returns the next command. Its argument slices are memory the
// reader never touches again, so they may outlive the connection. reserved
// is what reserve granted for the command (its argument bytes); on an
// error it is what the unfinished command had been granted, for the caller
// to give back. Errors: *respProtocolError, reserve's error, or src's read
// error (io.EOF when the client closed).
func (rd *respReader) next() (args [][]byte, reserved int64, err error) {
	if rd.err != nil {
		return nil, 0, rd.err
	}
	for {
		args, reserved, err = rd.command()
		if err != nil {
			rd.err = err
			return nil, reserved, err
		}
		if args != nil {
			return args, reserved, nil
		}
		// An empty line or array, which Redis skips.
	}
}

func (rd *respReader) command() (args [][]byte, reserved int64, err error) {
	if err := rd.need(1); err != nil {
		return nil, 0, err
	}
	if rd.buf[rd.r] != '*' {
		return rd.inline()
	}
	line, n, err := rd.line("too big mbulk count string", "invalid multibulk length")
	if err != nil {
		return nil, 0, err
	}
	count, ok := respParseInt(line[1:])
	switch {
	case !ok || count > rd.limits.maxArgs:
		return nil, 0, rd.fail("invalid multibulk length")
	case count > respUnauthMaxArgs && rd.isUnauthenticated():
		return nil, 0, rd.fail("unauthenticated multibulk length")
	}
	rd.r += n
	if count <= 0 {
		return nil, 0, nil // Redis skips an empty or negative array
	}
	cmdBytes := int64(n)
	args = make([][]byte, 0, min(count, respArgvPrealloc))
	var arena []byte
	small := rd.small[:0]
	for range count {
		if err := rd.need(1); err != nil {
			return nil, reserved, err
		}
		if b := rd.buf[rd.r]; b != '$' {
			return nil, reserved, rd.fail("expected '$', got '" + string(b) + "'")
		}
		line, n, err := rd.line("too big bulk count string", "invalid bulk length")
		if err != nil {
			return nil, reserved, err
		}
		size, ok := respParseInt(line[1:])
		switch {
		case !ok || size < 0 || size > rd.limits.maxValueBytes:
			return nil, reserved, rd.fail("invalid bulk length")
		case size > respUnauthMaxBulkBytes && rd.isUnauthenticated():
			return nil, reserved, rd.fail("unauthenticated bulk length")
		}
		cmdBytes += int64(n) + size + 2
		if cmdBytes > rd.limits.maxCommandBytes {
			return nil, reserved, rd.fail("command larger than " + strconv.FormatInt(rd.limits.maxCommandBytes, 10) + " bytes")
		}
		if rd.reserve != nil && size > 0 {
			if err := rd.reserve(size); err != nil {
				return nil, reserved, err
			}
			reserved += size
		}
		rd.r += n
		if size <= respArenaArgMaxBytes {
			if err := rd.need(int(size)); err != nil {
				return nil, reserved, err
			}
			if arena == nil {
				arena = make([]byte, 0, max(respArenaMinBytes, size))
			}
			small = append(small, respArenaArg{i: len(args), off: len(arena), n: int(size)})
			arena = append(arena, rd.buf[rd.r:rd.r+int(size)]...)
			rd.r += int(size)
			args = append(args, nil)
		} else {
			arg := make([]byte, size)
			k := copy(arg, rd.buf[rd.r:rd.w])
			rd.r += k
			for k < len(arg) {
				m, err := rd.src.Read(arg[k:])
				k += m
				if m == 0 && err != nil {
					return nil, reserved, err
				}
			}
			args = append(args, arg)
		}
		for _, want := range []byte{'\r', '\n'} {
			if err := rd.need(1); err != nil {
				return nil, reserved, err
			}
			if rd.buf[rd.r] != want {
				return nil, reserved, rd.fail("invalid bulk length") // the text the port has always given for a missing CRLF (redcon's)
			}
			rd.r++
		}
	}
	for _, a := range small {
		args[a.i] = arena[a.off : a.off+a.n : a.off+a.n]
	}
	if cap(small) > respArgvPrealloc {
		small = nil // a command with many arguments grew it; give it back
	}
	rd.small = small[:0]
	return args, reserved, nil
}

// inline reads an inline command (a line of words, as typed into telnet),
// split as Redis splits it.
func (rd *respReader) inline() (args [][]byte, reserved int64, err error) {
	line, n, err := rd.line("too big inline request", "")
	if err != nil {
		return nil, 0, err
	}
	rd.r += n
	args, ok := respSplitArgs(line)
	switch {
	case !ok:
		return nil, 0, rd.fail("unbalanced quotes in request")
	case len(args) == 0:
		return nil, 0, nil // Redis ignores an empty line
	case int64(len(args)) > rd.limits.maxArgs:
		return nil, 0, rd.fail("invalid multibulk length")
	}
	// The limits apply to the command as if it had come as an array.
	framed := int64(len(strconv.Itoa(len(args))) + 3)
	for _, a := range args {
		if int64(len(a)) > rd.limits.maxValueBytes {
			return nil, 0, rd.fail("invalid bulk length")
		}
		reserved += int64(len(a))
		framed += int64(len(strconv.Itoa(len(a)))+3) + int64(len(a)) + 2
	}
	if framed > rd.limits.maxCommandBytes {
		return nil, 0, rd.fail("command larger than " + strconv.FormatInt(rd.limits.maxCommandBytes, 10) + " bytes")
	}
	// The words are already in memory (split from a line of at most
	// respLineMaxBytes); they are reserved now so that they are accounted
	// like any command's arguments.
	if rd.reserve != nil && reserved > 0 {
		if err := rd.reserve(reserved); err != nil {
			return nil, 0, err
		}
	}
	return args, reserved, nil
}

// line finds the line at buf[r:], reading more as needed. It returns the
// line without its line ending and the bytes it spans, without consuming
// them. A header ("*N", "$N") must end in CRLF, else badEnding; an inline
// line may end in LF alone (badEnding "").
func (rd *respReader) line(tooBig, badEnding string) (line []byte, n int, err error) {
	scanned := 0
	for {
		in := rd.buf[rd.r:rd.w]
		i := bytes.IndexByte(in[scanned:], '\n')
		if i >= 0 {
			i += scanned
		}
		if i < 0 && len(in) > respLineMaxBytes || i > respLineMaxBytes+1 {
			return nil, 0, rd.fail(tooBig)
		}
		if i < 0 {
			scanned = len(in)
			if err := rd.fill(); err != nil {
				return nil, 0, err
			}
			continue
		}
		line = in[:i]
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		} else if badEnding != "" {
			return nil, 0, rd.fail(badEnding)
		}
		return line, i + 1, nil
	}
}

// need makes sure buf[r:] holds at least k bytes, k at most
// respReadChunkBytes.
func (rd *respReader) need(k int) error {
	for rd.w-rd.r < k {
		if err := rd.fill(); err != nil {
			return err
		}
	}
	return nil
}

// fill reads more of src into buf.
func (rd *respReader) fill() error {
	if rd.r == rd.w {
		rd.r, rd.w = 0, 0
		if len(rd.buf) > respReadChunkBytes {
			rd.buf = nil // a long line grew it; give the memory back
		}
	}
	if rd.buf == nil {
		rd.buf = make([]byte, respReadChunkBytes)
	}
	if rd.w == len(rd.buf) {
		if rd.r > 0 {
			rd.w = copy(rd.buf, rd.buf[rd.r:rd.w])
			rd.r = 0
		} else {
			// Only a line longer than buf gets here, and line refuses
			// lines over respLineMaxBytes, so buf stays under
			// respLineMaxBytes + respReadChunkBytes.
			grown := make([]byte, min(2*len(rd.buf), respLineMaxBytes+respReadChunkBytes))
			if len(grown) == len(rd.buf) {
				panic("resp: framer buffer full without a refused line; the line limit is broken")
			}
			copy(grown, rd.buf[:rd.w])
			rd.buf = grown
		}
	}
	n, err := rd.src.Read(rd.buf[rd.w:])
	rd.w += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

func (rd *respReader) isUnauthenticated() bool {
	return rd.unauthenticated != nil && rd.unauthenticated()
}

func (rd *respReader) fail(msg string) error { return &respProtocolError{msg: msg} }

// isTimeout reports whether err is a deadline passing.
func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// respWriteTimed writes p in chunks of at most respWriteChunkBytes, each
// with its own deadline: a client that reads slowly keeps its connection,
// one that stopped reading loses it.
func respWriteTimed(conn interface {
	Write([]byte) (int, error)
	SetWriteDeadline(time.Time) error
}, p []byte, timeout time.Duration) error {
	for len(p) > 0 {
		chunk := p[:min(len(p), respWriteChunkBytes)]
		if err := conn.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
			return err
		}
		n, err := conn.Write(chunk)
		p = p[n:]
		if err != nil {
			return err
		}
	}
	return nil
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
