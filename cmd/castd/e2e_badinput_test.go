package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	gonet "net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	rawReplyTimeout = e2eCommandTimeout // a reply, or the close, on a raw connection
	// serveBound bounds each SET and GET that shows the cluster still
	// serves. No latency is asserted: a connection stalled mid-command
	// stays stalled until the test sends the rest, so a server that let it
	// block others would never answer.
	serveBound       = e2eCommandTimeout
	badInputMaxValue = 1024 // --max-value-bytes of the dev cluster under test
	clusterPreamble  = "castkv-cluster/1\n"
)

// rawConn is a TCP connection speaking bytes, for what clients never send.
type rawConn struct {
	t    *testing.T
	addr string
	c    gonet.Conn
	r    *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := gonet.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, addr: addr, c: c, r: bufio.NewReader(c)}
}

func (rc *rawConn) send(s string) {
	rc.t.Helper()
	_ = rc.c.SetWriteDeadline(time.Now().Add(rawReplyTimeout))
	if _, err := io.WriteString(rc.c, s); err != nil {
		rc.t.Fatalf("%s: write %.80q: %v", rc.addr, s, err)
	}
}

// line reads one reply line (up to CRLF) within rawReplyTimeout.
func (rc *rawConn) line(sent string) string {
	rc.t.Helper()
	_ = rc.c.SetReadDeadline(time.Now().Add(rawReplyTimeout))
	s, err := rc.r.ReadString('\n')
	if err != nil {
		rc.t.Fatalf("%s: sent %.80q, read a reply line: got %q, %v", rc.addr, sent, s, err)
	}
	return s
}

// expectPrefix sends s and expects one reply line starting with want.
func (rc *rawConn) expectPrefix(s, want string) {
	rc.t.Helper()
	rc.send(s)
	if got := rc.line(s); !strings.HasPrefix(got, want) {
		rc.t.Errorf("%s: sent %.80q: got %q, want a reply starting %q", rc.addr, s, got, want)
	}
}

// expectClosed expects the server to close the connection (EOF or reset)
// within rawReplyTimeout, sending nothing more.
func (rc *rawConn) expectClosed(sent string) {
	rc.t.Helper()
	_ = rc.c.SetReadDeadline(time.Now().Add(rawReplyTimeout))
	b, err := io.ReadAll(rc.r)
	switch {
	case errors.Is(err, syscall.ECONNRESET):
	case err != nil:
		rc.t.Errorf("%s: sent %.80q: connection not closed within %v (read %q, %v)", rc.addr, sent, rawReplyTimeout, b, err)
		return
	}
	if len(b) > 0 {
		rc.t.Errorf("%s: sent %.80q: got %q before the close, want nothing", rc.addr, sent, b)
	}
}

// serves checks that a fresh go-redis client can SET and GET, each within
// bound.
func serves(t *testing.T, c *redis.Client, bound time.Duration, what string) {
	t.Helper()
	k, v := "serves", fmt.Sprint(time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	err := c.Set(ctx, k, v, 0).Err()
	cancel()
	if err != nil {
		t.Errorf("%s: SET %s %s within %v: %v", what, k, v, bound, err)
		return
	}
	ctx, cancel = context.WithTimeout(context.Background(), bound)
	got, err := c.Get(ctx, k).Result()
	cancel()
	if err != nil || got != v {
		t.Errorf("%s: GET %s within %v: %q, %v; want %q", what, k, bound, got, err, v)
	}
}

// TestBadInput sends what no good client sends, to the client port and to
// the cluster ports of `castd dev`, and checks that each bad connection is
// answered as Redis would (or closed) while the cluster keeps serving.
func TestBadInput(t *testing.T) {
	dir := workDir(t)
	ps := newProcs(t, dir)
	dc := startDev(t, ps, "--max-value-bytes", fmt.Sprint(badInputMaxValue))
	c := newClient(t, dc.clientAddr)

	t.Run("malformed RESP", func(t *testing.T) {
		for _, s := range []string{
			"*1\r\n$x\r\n",
			"*x\r\n",
			"*1\r\n+PING\r\n",
			"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$-5\r\n",
			"*99999999\r\n", // more arguments than the port accepts
		} {
			rc := dialRaw(t, dc.clientAddr)
			rc.expectPrefix(s, "-ERR Protocol error")
			rc.expectClosed(s)
		}
	})

	t.Run("bulk over --max-value-bytes", func(t *testing.T) {
		s := fmt.Sprintf("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%d\r\n", 2*badInputMaxValue)
		rc := dialRaw(t, dc.clientAddr)
		rc.expectPrefix(s, "-ERR Protocol error")
		rc.expectClosed(s)
		// A value at the limit is fine.
		v := strings.Repeat("v", badInputMaxValue)
		rc = dialRaw(t, dc.clientAddr)
		rc.expectPrefix(fmt.Sprintf("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%d\r\n%s\r\n", len(v), v), "+OK")
	})

	t.Run("errors keep the connection usable", func(t *testing.T) {
		rc := dialRaw(t, dc.clientAddr)
		rc.expectPrefix("*1\r\n$4\r\nnope\r\n", "-ERR unknown command 'nope'")
		rc.expectPrefix("*1\r\n$4\r\nPING\r\n", "+PONG")
		rc.expectPrefix("*1\r\n$3\r\nGET\r\n", "-ERR wrong number of arguments for 'get' command")
		rc.expectPrefix("*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n", "$2")
		if got := rc.line("ECHO hi"); got != "hi\r\n" {
			t.Errorf("ECHO hi: bulk body %q", got)
		}
		rc.expectPrefix("*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n$2\r\nNX\r\n$2\r\nXX\r\n", "-ERR syntax error")
		rc.expectPrefix("NOPE a b\r\n", "-ERR unknown command 'NOPE'") // inline
		rc.expectPrefix("PING\r\n", "+PONG")
	})

	t.Run("stalled half command", func(t *testing.T) {
		stalled := dialRaw(t, dc.clientAddr)
		stalled.send("*3\r\n$3\r\nSET\r\n")
		for i := range 5 {
			serves(t, c, serveBound, fmt.Sprintf("round %d while a connection stalls mid-command", i))
			time.Sleep(100 * time.Millisecond)
		}
		// The stalled command completes when its bytes come.
		stalled.send("$6\r\nstall1\r\n$1\r\nv\r\n")
		if got := stalled.line("rest of SET stall1 v"); got != "+OK\r\n" {
			t.Errorf("stalled SET, completed: got %q, want +OK", got)
		}
	})

	t.Run("garbage on cluster ports", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 2))
		junk := make([]byte, 256)
		for i := range junk {
			junk[i] = byte(rng.IntN(256))
		}
		// A preamble, then a frame longer than any limit; then one whose
		// header names no message type.
		huge := clusterPreamble + "\xff\xff\xff\xff" + string(junk[:16])
		body := "\x03a:1\x04meta\x0dno.such.Type" + "xyz"
		var lenBuf [4]byte
		binary.BigEndian.PutUint32(lenBuf[:], uint32(len(body)))
		unknownType := clusterPreamble + string(lenBuf[:]) + body
		for i := range 7 {
			addr := loopback(dc.peerBase + i)
			for _, s := range []string{
				string(junk),
				"GET / HTTP/1.1\r\nHost: " + addr + "\r\nUser-Agent: e2e\r\n\r\n",
				huge,
				unknownType,
			} {
				rc := dialRaw(t, addr)
				rc.send(s)
				rc.expectClosed(s)
			}
			serves(t, c, serveBound, fmt.Sprintf("after garbage on cluster port %s", addr))
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	serves(t, c, serveBound, "after all bad input")
	if n, err := c.DBSize(ctx).Result(); err != nil || n < 1 {
		t.Errorf("DBSIZE after all bad input: %d, %v; want at least 1", n, err)
	}
}
