package net

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"castkv/actors/wire"
)

// respClientLines is CLIENT LIST's reply split into its lines.
func respClientLines(t *testing.T, reply string) []string {
	t.Helper()
	header, body, ok := strings.Cut(reply, "\r\n")
	if !ok || header[0] != '$' {
		t.Fatalf("CLIENT LIST is not a bulk string: %q", reply)
	}
	body = strings.TrimSuffix(body, "\r\n")
	if body == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(body, "\n"), "\n")
}

func TestRESPClientList(t *testing.T) {
	s, _, _ := respStart(t, RESPConfig{})
	a, b := respDial(t, s.Addr()), respDial(t, s.Addr())
	a.expect(respArray("CLIENT", "ID"), ":1\r\n")
	b.expect(respArray("CLIENT", "SETNAME", "bee"), "+OK\r\n")

	lines := respClientLines(t, a.roundTrip(respArray("CLIENT", "LIST")))
	if len(lines) != 2 {
		t.Fatalf("CLIENT LIST has %d lines, want 2: %q", len(lines), lines)
	}
	for i, want := range [][]string{
		{"id=1 addr=127.0.0.1:", " name= ", " cmd=client|list ", " user=default "},
		{"id=2 addr=127.0.0.1:", " laddr=" + s.Addr() + " ", " name=bee ", " cmd=client|setname ", " flags=N "},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Errorf("CLIENT LIST line %d %q lacks %q", i, lines[i], w)
			}
		}
	}
	if got := respClientLines(t, a.roundTrip(respArray("CLIENT", "LIST", "TYPE", "normal"))); len(got) != 2 {
		t.Errorf("CLIENT LIST TYPE normal: %q", got)
	}
	if got := respClientLines(t, a.roundTrip(respArray("CLIENT", "LIST", "ID", "2", "9", "1"))); len(got) != 2 ||
		!strings.HasPrefix(got[0], "id=2 ") || !strings.HasPrefix(got[1], "id=1 ") {
		t.Errorf("CLIENT LIST ID 2 9 1: %q", got)
	}
	for _, tc := range []struct{ send, want string }{
		{respArray("CLIENT", "LIST", "TYPE", "pubsub"), "$0\r\n\r\n"},
		{respArray("CLIENT", "LIST", "TYPE", "replica"), "$0\r\n\r\n"},
		{respArray("CLIENT", "LIST", "TYPE", "foo"), "-ERR Unknown client type 'foo'\r\n"},
		{respArray("CLIENT", "LIST", "ID", "x"), "-ERR Invalid client ID\r\n"},
		{respArray("CLIENT", "LIST", "ID"), "-ERR syntax error\r\n"},
		{respArray("CLIENT", "LIST", "TYPE"), "-ERR syntax error\r\n"},
		{respArray("CLIENT", "LIST", "TYPE", "normal", "x"), "-ERR syntax error\r\n"},
		{respArray("CLIENT", "NO-EVICT", "on"), "+OK\r\n"},
		{respArray("CLIENT", "NO-EVICT", "OFF"), "+OK\r\n"},
		{respArray("CLIENT", "NO-TOUCH", "on"), "+OK\r\n"},
		{respArray("CLIENT", "NO-TOUCH", "maybe"), "-ERR syntax error\r\n"},
		{respArray("CLIENT", "NO-EVICT"), "-ERR wrong number of arguments for 'client|no-evict' command\r\n"},
	} {
		a.expect(tc.send, tc.want)
	}
}

func TestRESPClientKill(t *testing.T) {
	s, _, _ := respStart(t, RESPConfig{})
	admin := respDial(t, s.Addr())
	admin.expect(respArray("PING"), "+PONG\r\n")
	victim := respDial(t, s.Addr())
	victim.expect(respArray("CLIENT", "ID"), ":2\r\n")
	victimAddr := victim.conn.LocalAddr().String()

	for _, tc := range []struct{ send, want string }{
		{respArray("CLIENT", "KILL", "1.2.3.4:5"), "-ERR No such client\r\n"},
		{respArray("CLIENT", "KILL", "ID", "0"), "-ERR client-id should be greater than 0\r\n"},
		{respArray("CLIENT", "KILL", "ID", "x"), "-ERR client-id should be greater than 0\r\n"},
		{respArray("CLIENT", "KILL", "USER", "nobody"), "-ERR No such user 'nobody'\r\n"},
		{respArray("CLIENT", "KILL", "TYPE", "foo"), "-ERR Unknown client type 'foo'\r\n"},
		{respArray("CLIENT", "KILL", "ID", "2", "SKIPME", "maybe"), "-ERR syntax error\r\n"},
		{respArray("CLIENT", "KILL", "ID", "2", "ADDR"), "-ERR syntax error\r\n"},
		{respArray("CLIENT", "KILL", "NOSUCH", "2"), "-ERR syntax error\r\n"},
		{respArray("CLIENT", "KILL"), "-ERR wrong number of arguments for 'client|kill' command\r\n"},
		{respArray("CLIENT", "KILL", "TYPE", "pubsub"), ":0\r\n"},
		{respArray("CLIENT", "KILL", "ID", "1"), ":0\r\n"}, // SKIPME yes by default
		{respArray("CLIENT", "KILL", "ID", "2", "ADDR", "1.2.3.4:5"), ":0\r\n"},
		{respArray("CLIENT", "KILL", "ADDR", victimAddr, "LADDR", s.Addr(), "USER", "default", "TYPE", "normal"), ":1\r\n"},
	} {
		admin.expect(tc.send, tc.want)
	}
	victim.expectClosed()

	// The old form kills by address and answers OK.
	victim = respDial(t, s.Addr())
	victim.expect(respArray("PING"), "+PONG\r\n")
	admin.expect(respArray("CLIENT", "KILL", victim.conn.LocalAddr().String()), "+OK\r\n")
	victim.expectClosed()

	// SKIPME no, and the old form, kill the caller too: after its reply.
	other := respDial(t, s.Addr())
	other.expect(respArray("PING"), "+PONG\r\n")
	admin.send(respArray("CLIENT", "KILL", "USER", "default", "SKIPME", "no") + respArray("PING"))
	if got := admin.reply(); got != ":2\r\n" {
		t.Errorf("CLIENT KILL USER default SKIPME no = %q, want :2", got)
	}
	admin.expectClosed() // the PING after it is not answered
	other.expectClosed()
	self := respDial(t, s.Addr())
	self.expect(respArray("CLIENT", "KILL", self.conn.LocalAddr().String()), "+OK\r\n")
	self.expectClosed()
	respWaitFor(t, "every connection closed", func() bool { return s.Stats().ConnectedClients == 0 })
}

// TestRESPClientKillReleasesBudget: a connection killed with a pipeline at
// the cluster closes at once, and the client memory its commands held
// comes back as the cluster's answers are abandoned.
func TestRESPClientKillReleasesBudget(t *testing.T) {
	gw := GatewayFunc(func(ctx context.Context, args [][]byte) (*wire.Reply, error) {
		<-ctx.Done() // a cluster that does not answer
		return nil, ctx.Err()
	})
	s, _, _ := respStart(t, RESPConfig{Gateway: gw})
	victim := respDial(t, s.Addr())
	var pipeline strings.Builder
	for i := range 10 {
		pipeline.WriteString(respArray("SET", "k"+strconv.Itoa(i), strings.Repeat("v", 1000)))
	}
	victim.send(pipeline.String())
	respWaitFor(t, "the pipeline to hold client memory", func() bool { return s.Stats().ClientMemoryBytes >= 10*1000 })

	admin := respDial(t, s.Addr())
	admin.expect(respArray("CLIENT", "KILL", "ID", "1"), ":1\r\n")
	victim.expectClosed()
	respWaitFor(t, "the killed pipeline's client memory given back", func() bool {
		st := s.Stats()
		return st.ClientMemoryBytes == 0 && st.ConnectedClients == 1
	})
}

func TestRESPClientPause(t *testing.T) {
	s, store, _ := respStart(t, RESPConfig{})
	admin, c := respDial(t, s.Addr()), respDial(t, s.Addr())
	blocked := func(n int64) func() bool { return func() bool { return s.pause.waiting.Load() == n } }

	for _, tc := range []struct{ send, want string }{
		{respArray("CLIENT", "PAUSE", "abc"), "-ERR timeout is not an integer or out of range\r\n"},
		{respArray("CLIENT", "PAUSE", "-1"), "-ERR timeout is negative\r\n"},
		{respArray("CLIENT", "PAUSE", "10", "foo"), "-ERR CLIENT PAUSE mode must be WRITE or ALL\r\n"},
		{respArray("CLIENT", "PAUSE", "abc", "foo"), "-ERR CLIENT PAUSE mode must be WRITE or ALL\r\n"},
		{respArray("CLIENT", "PAUSE", "10", "ALL", "x"), "-ERR wrong number of arguments for 'client|pause' command\r\n"},
		{respArray("CLIENT", "UNPAUSE", "x"), "-ERR wrong number of arguments for 'client|unpause' command\r\n"},
		{respArray("CLIENT", "UNPAUSE"), "+OK\r\n"}, // none to lift
		{respArray("CLIENT", "PAUSE", "0"), "+OK\r\n"},
	} {
		admin.expect(tc.send, tc.want)
	}
	c.expect(respArray("SET", "k", "0"), "+OK\r\n")

	// WRITE holds writes, and EXEC of a block with one, not reads. A
	// shorter pause after a longer one keeps the longer one's end.
	admin.expect(respArray("CLIENT", "PAUSE", "60000", "WRITE"), "+OK\r\n")
	admin.expect(respArray("CLIENT", "PAUSE", "10", "WRITE"), "+OK\r\n")
	c.expect(respArray("GET", "k"), respBulk("0"))
	c.expect(respArray("PING"), "+PONG\r\n")
	c.send(respArray("SET", "k", "1") + respArray("GET", "k"))
	respWaitFor(t, "SET to be held", blocked(1))
	if v, _ := store.value("k"); string(v) != "0" {
		t.Fatalf("a write ran during CLIENT PAUSE WRITE: k = %q", v)
	}
	admin.expect(respArray("CLIENT", "UNPAUSE"), "+OK\r\n")
	if got := c.reply() + c.reply(); got != "+OK\r\n"+respBulk("1") {
		t.Errorf("SET and GET after UNPAUSE: %q", got)
	}

	c.expect(respArray("MULTI"), "+OK\r\n")
	c.expect(respArray("SET", "k", "2"), "+QUEUED\r\n")
	admin.expect(respArray("CLIENT", "PAUSE", "60000", "WRITE"), "+OK\r\n")
	c.send(respArray("EXEC"))
	respWaitFor(t, "EXEC of a write to be held", blocked(1))
	// A held connection's end releases it.
	admin.expect(respArray("CLIENT", "KILL", "ID", "2"), ":1\r\n")
	c.expectClosed()
	respWaitFor(t, "the killed connection to be released", blocked(0))
	if v, _ := store.value("k"); string(v) != "1" {
		t.Fatalf("a killed EXEC ran: k = %q", v)
	}
	admin.expect(respArray("CLIENT", "UNPAUSE"), "+OK\r\n")

	// ALL holds every client's commands, the pausing client's own and
	// UNPAUSE included, until the pause ends, as in Redis 7.
	c = respDial(t, s.Addr())
	c.expect(respArray("PING"), "+PONG\r\n")
	const pause = 300 * time.Millisecond
	start := time.Now()
	admin.expect(respArray("CLIENT", "PAUSE", strconv.Itoa(int(pause/time.Millisecond)), "ALL"), "+OK\r\n")
	admin.send(respArray("CLIENT", "UNPAUSE"))
	c.send(respArray("GET", "k"))
	respWaitFor(t, "both connections to be held", func() bool { return s.pause.waiting.Load() == 2 })
	if got := admin.reply(); got != "+OK\r\n" {
		t.Errorf("UNPAUSE after the pause: %q", got)
	}
	if got := c.reply(); got != respBulk("1") {
		t.Errorf("GET after the pause: %q", got)
	}
	if took := time.Since(start); took < pause {
		t.Errorf("commands during CLIENT PAUSE %v ALL were answered after %v", pause, took)
	}
	if info := admin.roundTrip(respArray("INFO", "clients")); !strings.Contains(info, "\r\nblocked_clients:0\r\n") {
		t.Errorf("INFO clients after the pause: %q", info)
	}
}

// TestRESPClientPauseClose: Close ends commands held by a pause.
func TestRESPClientPauseClose(t *testing.T) {
	s, _, _ := respStart(t, RESPConfig{})
	c := respDial(t, s.Addr())
	c.expect(respArray("CLIENT", "PAUSE", "600000"), "+OK\r\n")
	c.send(respArray("PING"))
	respWaitFor(t, "PING to be held", func() bool { return s.pause.waiting.Load() == 1 })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	c.expectClosed()
}
