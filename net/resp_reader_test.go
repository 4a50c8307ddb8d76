package net

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	gonet "net"
	"strings"
	"testing"
	"time"

	"castkv/actors/command"
)

// respChunkConn is a net.Conn whose reads return the given chunks one by one,
// then io.EOF; what is written to it is kept.
type respChunkConn struct {
	gonet.Conn // nil: only the methods below are used
	chunks     [][]byte
	written    bytes.Buffer
}

func (c *respChunkConn) Read(p []byte) (int, error) {
	for len(c.chunks) > 0 && len(c.chunks[0]) == 0 {
		c.chunks = c.chunks[1:]
	}
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.chunks[0])
	c.chunks[0] = c.chunks[0][n:]
	return n, nil
}

func (c *respChunkConn) Write(p []byte) (int, error)      { return c.written.Write(p) }
func (c *respChunkConn) SetReadDeadline(time.Time) error  { return nil }
func (c *respChunkConn) SetWriteDeadline(time.Time) error { return nil }

// respSplitRandomly cuts b into chunks of 1 to maxChunk bytes.
func respSplitRandomly(rng *rand.Rand, b []byte, maxChunk int) [][]byte {
	var chunks [][]byte
	for len(b) > 0 {
		n := min(len(b), 1+rng.IntN(maxChunk))
		chunks = append(chunks, b[:n])
		b = b[n:]
	}
	return chunks
}

var respTestLimits = respLimits{maxValueBytes: 1 << 20, maxArgs: 1 << 10, maxCommandBytes: 4 << 20}

// respReadCommands reads rd's commands as the server does until an error,
// and returns the commands and that error. It also checks what rd reserves
// for each command: exactly its argument bytes.
func respReadCommands(t *testing.T, rd *respReader) ([][]string, error) {
	t.Helper()
	var reserved int64
	rd.reserve = func(n int64) error { reserved += n; return nil }
	var cmds [][]string
	for {
		argv, got, err := rd.next()
		if got != reserved {
			t.Fatalf("next reports %d bytes reserved, reserve was asked for %d", got, reserved)
		}
		reserved = 0
		if err != nil {
			return cmds, err
		}
		args := make([]string, len(argv))
		var n int64
		for i, a := range argv {
			args[i] = string(a)
			n += int64(len(a))
		}
		if n != got {
			t.Fatalf("command %.100q: %d bytes reserved for %d argument bytes", args, got, n)
		}
		cmds = append(cmds, args)
	}
}

// TestRESPFramerChunking sends random valid commands, RESP and inline,
// cut at random points, and checks that the framer reads exactly those
// commands.
func TestRESPFramerChunking(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	for round := range 150 {
		var stream bytes.Buffer
		var want [][]string
		for range 1 + rng.IntN(20) {
			args := make([]string, 1+rng.IntN(6))
			inline := rng.IntN(3) == 0
			for i := range args {
				n := rng.IntN(40)
				if rng.IntN(20) == 0 {
					n = rng.IntN(100 << 10) // larger than the framer's read chunk
				}
				b := make([]byte, n)
				for j := range b {
					if inline {
						b[j] = byte('a' + rng.IntN(26))
					} else {
						b[j] = byte(rng.IntN(256))
					}
				}
				if inline && n == 0 {
					b = []byte("x")
				}
				args[i] = string(b)
			}
			if inline && len(strings.Join(args, " ")) < respLineMaxBytes {
				stream.WriteString(strings.Join(args, " ") + "\r\n")
			} else {
				stream.WriteString(respArray(args...))
			}
			want = append(want, args)
			if rng.IntN(10) == 0 {
				stream.WriteString("*0\r\n\r\n") // skipped, as in Redis
			}
		}
		conn := &respChunkConn{chunks: respSplitRandomly(rng, stream.Bytes(), 1+rng.IntN(70000))}
		got, err := respReadCommands(t, &respReader{src: conn, limits: respTestLimits})
		if err != io.EOF {
			t.Fatalf("seed %d round %d: read error %v", seed, round, err)
		}
		if len(got) != len(want) {
			t.Fatalf("seed %d round %d: %d commands, want %d", seed, round, len(got), len(want))
		}
		for i := range want {
			if fmt.Sprintf("%q", got[i]) != fmt.Sprintf("%q", want[i]) {
				t.Fatalf("seed %d round %d: command %d is %.200q, want %.200q", seed, round, i, got[i], want[i])
			}
		}
		if conn.written.Len() > 0 {
			t.Fatalf("seed %d round %d: framer wrote %q", seed, round, conn.written.String())
		}
	}
}

// TestRESPFramerHoldsUntilAuthenticated checks that the unauthenticated
// limits are judged per command: the array after AUTH, sent in the same
// packet, is judged by the limits in force once AUTH ran.
func TestRESPFramerHoldsUntilAuthenticated(t *testing.T) {
	big := respArray("MSET", "a", "1", "b", "2", "c", "3", "d", "4", "e", "5") // 11 arguments
	for _, authOK := range []bool{true, false} {
		conn := &respChunkConn{chunks: [][]byte{[]byte("AUTH pw\r\n" + big)}}
		unauthenticated := true
		rd := &respReader{src: conn, limits: respTestLimits, unauthenticated: func() bool { return unauthenticated }}
		args, _, err := rd.next()
		if err != nil || len(args) != 2 || string(args[0]) != "AUTH" {
			t.Fatalf("first command: %q, %v", args, err)
		}
		unauthenticated = !authOK // what the connection does with AUTH
		args, _, err = rd.next()
		if authOK {
			if err != nil || len(args) != 11 {
				t.Errorf("after a good AUTH: %d args, %v", len(args), err)
			}
			continue
		}
		var perr *respProtocolError
		if !errors.As(err, &perr) || string(perr.Reply()) != "-ERR Protocol error: unauthenticated multibulk length\r\n" {
			t.Errorf("after a failed AUTH: %v", err)
		}
	}
}

// FuzzRESPFramer: whatever a client sends, in whatever pieces, the framer
// either refuses it with a protocol error that frames as one error reply
// or reads it to the end, and every command it returns is within the
// limits.
func FuzzRESPFramer(f *testing.F) {
	for _, seed := range []string{
		respArray("SET", "a", "b"), "PING\r\n", "*1\r\n$x\r\n", "*x\r\n", "*1\r\n+PING\r\n", "*1\r\n$4\r\nPINGxx",
		"SET \"a b\r\n", "*0\r\n*-1\r\n\r\n", "ECHO \"\\x41\" 'b'\n", "*2\r\n$3\r\nGET\r\n$99999999\r\n",
		"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$0\r\n\r\n", "\x00\r\n", "*1\r\n$0\r\n",
	} {
		f.Add([]byte(seed), uint16(7))
	}
	limits := respLimits{maxValueBytes: 64, maxArgs: 8, maxCommandBytes: 256}
	f.Fuzz(func(t *testing.T, data []byte, chunkSeed uint16) {
		rng := rand.New(rand.NewPCG(uint64(chunkSeed), 1))
		conn := &respChunkConn{chunks: respSplitRandomly(rng, bytes.Clone(data), 1+int(chunkSeed%97))}
		cmds, err := respReadCommands(t, &respReader{src: conn, limits: limits})
		var perr *respProtocolError
		switch {
		case err == io.EOF:
		case errors.As(err, &perr):
			reply := string(perr.Reply())
			if !strings.HasPrefix(reply, "-ERR Protocol error: ") || !strings.HasSuffix(reply, "\r\n") || strings.Count(reply, "\r\n") != 1 ||
				strings.Count(reply, "\n") != 1 {
				t.Fatalf("protocol error %v replies %q", err, reply)
			}
		default:
			t.Fatalf("read error other than EOF or a protocol error: %v", err)
		}
		for _, args := range cmds {
			if len(args) == 0 || int64(len(args)) > limits.maxArgs {
				t.Fatalf("command with %d args passed", len(args))
			}
			for _, a := range args {
				if int64(len(a)) > limits.maxValueBytes {
					t.Fatalf("argument of %d bytes passed", len(a))
				}
			}
		}
	})
}

func TestRESPParseInt(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "1": 1, "-1": -1, "1234567890": 1234567890, "-12": -12} {
		if got, ok := respParseInt([]byte(in)); !ok || got != want {
			t.Errorf("%q: %d, %v", in, got, ok)
		}
	}
	for _, in := range []string{"", "-", "+1", "01", "-0", "00", " 1", "1 ", "1a", "12345678901234567890"} {
		if got, ok := respParseInt([]byte(in)); ok {
			t.Errorf("%q parsed as %d", in, got)
		}
	}
}

func TestRESPGlobMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"*", "save", true}, {"sa*", "save", true}, {"s?ve", "save", true},
		{"s[a-c]ve", "save", true}, {"s[^a]ve", "save", false}, {"s[xa]ve", "save", true},
		{"S*", "save", true}, {"*e", "save", true}, {"*x*", "save", false}, {"sav", "save", false},
		{"save\\*", "save*", true}, {"save\\*", "saveX", false}, {"[", "s", false}, {"s[a", "sa", true},
		{"**a**", "a", true}, {strings.Repeat("*a", 30) + "b", strings.Repeat("a", 40), false},
	} {
		if got := command.Match([]byte(tc.pattern), []byte(tc.s), true); got != tc.want {
			t.Errorf("match(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}
