package net

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	gonet "net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"castkv/actors/command"
	"castkv/actors/wire"
)

// respTestStore is a tiny Redis for the port to front: command.Parse and
// command.Eval against a Go map, with DBSIZE and FLUSHALL evaluated here as
// the API role does.
type respTestStore struct {
	mu      sync.Mutex
	m       map[string][]byte
	version map[string]uint64 // each write's own, as a commit timestamp is
	writes  uint64
}

func newRESPTestStore() *respTestStore {
	return &respTestStore{m: map[string][]byte{}, version: map[string]uint64{}}
}

func (st *respTestStore) Get(key []byte) (command.Value, error) {
	v, ok := st.m[string(key)]
	return command.Value{Bytes: v, TS: st.version[string(key)], Found: ok}, nil
}

func (st *respTestStore) Do(_ context.Context, args [][]byte) (*wire.Reply, error) {
	cmd, bad := command.Parse(args)
	if bad != nil {
		return bad, nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	switch cmd.Kind {
	case command.DBSize:
		return command.Int(int64(len(st.m))), nil
	case command.FlushAll:
		clear(st.m)
		clear(st.version)
		return command.OK(), nil
	}
	reply, writes, err := command.Eval(cmd, st, 1) // no expiry here: TTLs are tested against castd
	if err != nil {
		return nil, err
	}
	for _, w := range writes {
		st.writes++
		if w.Delete {
			delete(st.m, string(w.Key))
			delete(st.version, string(w.Key))
		} else {
			st.m[string(w.Key)] = bytes.Clone(w.Value)
			st.version[string(w.Key)] = st.writes
		}
	}
	return reply, nil
}

// Send answers at once, on the caller's goroutine, which Gateway allows.
func (st *respTestStore) Send(ctx context.Context, args [][]byte, done func(*wire.Reply, error)) {
	done(st.Do(ctx, args))
}

func (st *respTestStore) value(key string) ([]byte, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	v, ok := st.m[key]
	return v, ok
}

// respTestLog collects the port's log; a failed test prints it.
type respTestLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *respTestLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *respTestLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// respStart serves cfg on a free port with a respTestStore as the Gateway
// unless cfg has one, and closes it when the test ends.
func respStart(t *testing.T, cfg RESPConfig) (*RESPServer, *respTestStore, *respTestLog) {
	t.Helper()
	store := newRESPTestStore()
	if cfg.Gateway == nil {
		cfg.Gateway = store
	}
	cfg.Addr = "127.0.0.1:0"
	logs := &respTestLog{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := ListenRESP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs)
		}
	})
	return s, store, logs
}

// respRawClient speaks RESP by hand, to see the exact bytes.
type respRawClient struct {
	t    *testing.T
	conn gonet.Conn
	rd   *bufio.Reader
}

func respDial(t *testing.T, addr string) *respRawClient {
	t.Helper()
	conn, err := gonet.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &respRawClient{t: t, conn: conn, rd: bufio.NewReader(conn)}
}

func (c *respRawClient) send(s string) {
	c.t.Helper()
	if err := c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second)); err != nil {
		c.t.Fatal(err)
	}
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatalf("send %q: %v", s, err)
	}
}

// reply reads one whole RESP reply and returns its bytes.
func (c *respRawClient) reply() string {
	c.t.Helper()
	if err := c.conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		c.t.Fatal(err)
	}
	var b strings.Builder
	if err := respReadRawReply(c.rd, &b); err != nil {
		c.t.Fatalf("reading a reply (after %q): %v", b.String(), err)
	}
	return b.String()
}

func respReadRawReply(rd *bufio.Reader, b *strings.Builder) error {
	line, err := rd.ReadString('\n')
	b.WriteString(line)
	if err != nil {
		return err
	}
	if len(line) < 3 || !strings.HasSuffix(line, "\r\n") {
		return fmt.Errorf("bad reply line %q", line)
	}
	n, _ := strconv.Atoi(line[1 : len(line)-2])
	switch line[0] {
	case '+', '-', ':', '_', ',', '#', '(': // RESP3's null, double, boolean and big number too
		return nil
	case '$', '=': // a bulk or a RESP3 verbatim string
		if n < 0 {
			return nil
		}
		body := make([]byte, n+2)
		_, err := io.ReadFull(rd, body)
		b.Write(body)
		return err
	case '%': // a RESP3 map: n keys and n values
		n *= 2
		fallthrough
	case '*', '~':
		for range max(n, 0) {
			if err := respReadRawReply(rd, b); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("bad reply type in %q", line)
}

// roundTrip sends a command and returns its reply.
func (c *respRawClient) roundTrip(s string) string {
	c.t.Helper()
	c.send(s)
	return c.reply()
}

func (c *respRawClient) expect(send, want string) {
	c.t.Helper()
	if got := c.roundTrip(send); got != want {
		c.t.Errorf("%q: got %q, want %q", send, got, want)
	}
}

// expectClosed reads until the server closes the connection.
func (c *respRawClient) expectClosed() {
	c.t.Helper()
	if err := c.conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		c.t.Fatal(err)
	}
	extra, err := io.ReadAll(c.rd)
	if err != nil && !errors.Is(err, gonet.ErrClosed) && !strings.Contains(err.Error(), "connection reset") {
		c.t.Fatalf("waiting for the server to close: %v (read %q)", err, extra)
	}
	if len(extra) > 0 {
		c.t.Errorf("read %q before the close, want nothing", extra)
	}
}

// respArray encodes args as a RESP array, as clients send commands.
func respArray(args ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b.String()
}

func respBulk(s string) string { return fmt.Sprintf("$%d\r\n%s\r\n", len(s), s) }

func respGoRedis(t *testing.T, addr string, opt *redis.Options) *redis.Client {
	t.Helper()
	if opt == nil {
		opt = &redis.Options{}
	}
	opt.Addr = addr
	opt.MaxRetries = -1
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestRESPGoRedisRoundTrips(t *testing.T) {
	s, _, _ := respStart(t, RESPConfig{})
	ctx := context.Background()
	// go-redis v9 opens with HELLO 3 and speaks RESP3; Protocol 2 opens
	// with HELLO 2 and speaks RESP2.
	for _, proto := range []int{3, 2} {
		t.Run(fmt.Sprintf("protocol%d", proto), func(t *testing.T) {
			c := respGoRedis(t, s.Addr(), &redis.Options{Protocol: proto})
			if err := c.FlushAll(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			if got, err := c.Ping(ctx).Result(); got != "PONG" || err != nil {
				t.Fatalf("PING: %q, %v", got, err)
			}
			if got, err := c.Echo(ctx, "hi\r\nthere").Result(); got != "hi\r\nthere" || err != nil {
				t.Errorf("ECHO: %q, %v", got, err)
			}
			if err := c.Set(ctx, "a", "1", 0).Err(); err != nil {
				t.Fatal(err)
			}
			if got, err := c.Get(ctx, "a").Result(); got != "1" || err != nil {
				t.Errorf("GET a: %q, %v", got, err)
			}
			if _, err := c.Get(ctx, "nope").Result(); err != redis.Nil {
				t.Errorf("GET nope: %v, want redis.Nil", err)
			}
			if err := c.MSet(ctx, "b", "2", "c", "3").Err(); err != nil {
				t.Fatal(err)
			}
			got, err := c.MGet(ctx, "a", "nope", "c").Result()
			if err != nil || fmt.Sprint(got) != "[1 <nil> 3]" {
				t.Errorf("MGET: %v, %v", got, err)
			}
			if n, err := c.Exists(ctx, "a", "a", "nope").Result(); n != 2 || err != nil {
				t.Errorf("EXISTS a a nope: %d, %v; want 2", n, err)
			}
			if ok, err := c.SetNX(ctx, "a", "x", 0).Result(); ok || err != nil {
				t.Errorf("SETNX a: %v, %v", ok, err)
			}
			if old, err := c.GetSet(ctx, "a", "9").Result(); old != "1" || err != nil {
				t.Errorf("GETSET: %q, %v", old, err)
			}
			if n, err := c.Do(ctx, "SETXX", "b", "22").Int(); n != 1 || err != nil {
				t.Errorf("SETXX: %d, %v", n, err)
			}
			if n, err := c.DBSize(ctx).Result(); n != 3 || err != nil {
				t.Errorf("DBSIZE: %d, %v", n, err)
			}
			if n, err := c.Del(ctx, "a", "b", "a", "nope").Result(); n != 2 || err != nil {
				t.Errorf("DEL: %d, %v; want 2", n, err)
			}
			err = c.Do(ctx, "FOO", "bar").Err()
			if err == nil || err.Error() != "ERR unknown command 'FOO', with args beginning with: 'bar' " {
				t.Errorf("FOO bar: %v", err)
			}
			if err := c.Do(ctx, "SELECT", "1").Err(); err == nil || err.Error() != "ERR DB index is out of range" {
				t.Errorf("SELECT 1: %v", err)
			}
			cmds, err := c.Command(ctx).Result()
			if err != nil {
				t.Fatalf("COMMAND: %v", err)
			}
			if g := cmds["get"]; g == nil || !g.ReadOnly || g.FirstKeyPos != 1 || g.Arity != 2 {
				t.Errorf("COMMAND get: %+v", g)
			}
			if m := cmds["mset"]; m == nil || m.ReadOnly || m.StepCount != 2 || m.LastKeyPos != -1 {
				t.Errorf("COMMAND mset: %+v", m)
			}
			// Per-connection state lives on one connection.
			conn := c.Conn()
			defer conn.Close()
			if err := conn.ClientSetName(ctx, "worker-1").Err(); err != nil {
				t.Fatal(err)
			}
			if name, err := conn.ClientGetName(ctx).Result(); name != "worker-1" || err != nil {
				t.Errorf("CLIENT GETNAME: %q, %v", name, err)
			}
			if id, err := conn.ClientID(ctx).Result(); id <= 0 || err != nil {
				t.Errorf("CLIENT ID: %d, %v", id, err)
			}
		})
	}
	t.Run("hello", func(t *testing.T) {
		conn := respGoRedis(t, s.Addr(), &redis.Options{Protocol: 2}).Conn()
		defer conn.Close()
		err := conn.Hello(ctx, 4, "", "", "").Err()
		if err == nil || err.Error() != "NOPROTO unsupported protocol version" {
			t.Errorf("HELLO 4: %v", err)
		}
		m, err := conn.Hello(ctx, 2, "", "", "").Result()
		if err != nil || m["server"] != "castkv" || m["proto"] != int64(2) || m["mode"] != "standalone" || m["role"] != "master" {
			t.Errorf("HELLO 2: %v, %v", m, err)
		}
	})
}

func TestRESPLargeValue(t *testing.T) {
	s, store, _ := respStart(t, RESPConfig{})
	c := respGoRedis(t, s.Addr(), nil)
	ctx := context.Background()
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<19) // 8 MiB
	if err := c.Set(ctx, "big", big, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if v, _ := store.value("big"); !bytes.Equal(v, big) {
		t.Fatalf("stored %d bytes, want the %d sent", len(v), len(big))
	}
	got, err := c.Get(ctx, "big").Bytes()
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("GET big: %d bytes, %v", len(got), err)
	}
	// A pipeline of replies far over respFlushBytes stays in order.
	pipe := c.Pipeline()
	gets := make([]*redis.StringCmd, 8)
	for i := range gets {
		pipe.Set(ctx, fmt.Sprint("k", i), big[:1<<20+i], 0)
		gets[i] = pipe.Get(ctx, fmt.Sprint("k", i))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	for i, g := range gets {
		if v, _ := g.Bytes(); !bytes.Equal(v, big[:1<<20+i]) {
			t.Fatalf("GET k%d: %d bytes, want %d", i, len(v), 1<<20+i)
		}
	}
}

func TestRESPPipelineInOrder(t *testing.T) {
	const n = 1000
	store := newRESPTestStore()
	// A Gateway whose latency varies per command: replies must still come
	// back in the order the commands were sent.
	var mu sync.Mutex
	calls := 0
	slow := GatewayFunc(func(ctx context.Context, args [][]byte) (*wire.Reply, error) {
		mu.Lock()
		calls++
		d := time.Duration(calls%7) * 20 * time.Microsecond
		mu.Unlock()
		time.Sleep(d)
		return store.Do(ctx, args)
	})
	s, _, _ := respStart(t, RESPConfig{Gateway: slow})

	t.Run("raw", func(t *testing.T) {
		c := respDial(t, s.Addr())
		var req strings.Builder
		var want strings.Builder
		for i := range n {
			k, v := fmt.Sprint("key", i), fmt.Sprint("value", i)
			req.WriteString(respArray("SET", k, v))
			req.WriteString(respArray("GET", k))
			req.WriteString("PING\r\n") // inline, answered locally, between Gateway commands
			want.WriteString("+OK\r\n" + respBulk(v) + "+PONG\r\n")
		}
		go func() {
			// Not c.send: it may not t.Fatal off the test's goroutine.
			if _, err := io.WriteString(c.conn, req.String()); err != nil {
				t.Errorf("sending the pipeline: %v", err)
			}
		}()
		var got strings.Builder
		for range 3 * n {
			got.WriteString(c.reply())
		}
		if got.String() != want.String() {
			t.Fatalf("replies out of order or wrong:\n got %.300q\nwant %.300q", got.String(), want.String())
		}
	})
	t.Run("go-redis", func(t *testing.T) {
		c := respGoRedis(t, s.Addr(), nil)
		ctx := context.Background()
		pipe := c.Pipeline()
		var cmds []*redis.StringCmd
		for i := range n {
			pipe.Set(ctx, fmt.Sprint("p", i), i, 0)
			cmds = append(cmds, pipe.Get(ctx, fmt.Sprint("p", i)))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
		for i, cmd := range cmds {
			if v, err := cmd.Result(); v != strconv.Itoa(i) || err != nil {
				t.Fatalf("GET p%d: %q, %v", i, v, err)
			}
		}
	})
}

func TestRESPInline(t *testing.T) {
	s, _, _ := respStart(t, RESPConfig{})
	c := respDial(t, s.Addr())
	c.expect("PING\r\n", "+PONG\r\n")
	c.expect("ping\n", "+PONG\r\n") // LF alone ends an inline line too
	c.expect("SET greeting \"hello world\"\r\n", "+OK\r\n")
	c.expect("GET greeting\r\n", respBulk("hello world"))
	// Empty lines and empty or negative arrays are skipped, as Redis does.
	c.expect("\r\n\n*0\r\n*-1\r\n   \r\nECHO a b\r\n", "-ERR wrong number of arguments for 'echo' command\r\n")
	c.expect("ECHO \"\\x41\\n\\\"\"\r\n", respBulk("A\n\""))
	c.expect("ECHO 'it\\'s'\r\n", respBulk("it's"))
	c.expect("MGET greeting nope\r\n", "*2\r\n"+respBulk("hello world")+"$-1\r\n")
}

func TestRESPSplitArgs(t *testing.T) {
	for _, tc := range []struct {
		line string
		want []string // nil: unbalanced quotes
	}{
		{"", []string{}},
		{"   ", []string{}},
		{"set a b", []string{"set", "a", "b"}},
		{"  set\ta  \t b  ", []string{"set", "a", "b"}},
		{`set "a b" c`, []string{"set", "a b", "c"}},
		{`"\x41\x4a\x7z"`, []string{"AJx7z"}}, // \x without two hex digits escapes the x
		{`"\n\r\t\b\a\q\\"`, []string{"\n\r\t\b\aq\\"}},
		{`'a\'b' 'c\nd'`, []string{"a'b", `c\nd`}},
		{`foo"bar baz"`, []string{"foobar baz"}}, // a quote inside a word opens quotes, as in Redis
		{`""`, []string{""}},
		{`"a"b`, nil},
		{`'a'b`, nil},
		{`"abc`, nil},
		{`'abc`, nil},
		{"a\x00b c", []string{"a"}}, // a C string ends at NUL
	} {
		args, ok := respSplitArgs([]byte(tc.line))
		if tc.want == nil {
			if ok {
				t.Errorf("%q: split into %q, want unbalanced quotes", tc.line, args)
			}
			continue
		}
		got := make([]string, len(args))
		for i, a := range args {
			got[i] = string(a)
		}
		if !ok || fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tc.want) {
			t.Errorf("%q: got %q (ok %v), want %q", tc.line, got, ok, tc.want)
		}
	}
}

func TestRESPProtocolErrors(t *testing.T) {
	s, _, logs := respStart(t, RESPConfig{MaxValueBytes: 1024, MaxArgs: 16, MaxCommandBytes: 2048})
	other := respDial(t, s.Addr())
	other.expect(respArray("SET", "k", "v"), "+OK\r\n")
	long := strings.Repeat("x", 1024)
	for _, tc := range []struct {
		name, send, want string
	}{
		{"bulk over MaxValueBytes", "*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1025\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
		{"array over MaxArgs", "*17\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
		{"command over MaxCommandBytes", "*5\r\n$4\r\nMSET\r\n$1\r\na\r\n$1020\r\n" + strings.Repeat("v", 1020) + "\r\n$1\r\nb\r\n$1020\r\n",
			"-ERR Protocol error: command larger than 2048 bytes\r\n"},
		{"bulk length not a number", "*1\r\n$x\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
		{"negative bulk length", "*1\r\n$-1\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
		{"array length not a number", "*x\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
		{"array length with a leading zero", "*01\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
		{"array header without CR", "*1\n", "-ERR Protocol error: invalid multibulk length\r\n"},
		{"not a bulk string", "*1\r\n+PING\r\n", "-ERR Protocol error: expected '$', got '+'\r\n"},
		{"bulk without its CRLF", "*1\r\n$4\r\nPINGxx", "-ERR Protocol error: invalid bulk length\r\n"},
		{"unbalanced quotes", "SET \"a b\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n"},
		{"inline line too long", strings.Repeat("a", 70<<10), "-ERR Protocol error: too big inline request\r\n"},
		{"array header too long", "*" + strings.Repeat("1", 70<<10), "-ERR Protocol error: too big mbulk count string\r\n"},
		{"bulk header too long", "*1\r\n$" + strings.Repeat("1", 70<<10), "-ERR Protocol error: too big bulk count string\r\n"},
		// Commands before the bad bytes are answered first, in order.
		{"good commands first", "PING\r\n" + respArray("ECHO", long) + "*x\r\n", "+PONG\r\n" + respBulk(long) + "-ERR Protocol error: invalid multibulk length\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := respDial(t, s.Addr())
			c.send(tc.send)
			var got strings.Builder
			for got.Len() < len(tc.want) {
				got.WriteString(c.reply())
			}
			if got.String() != tc.want {
				t.Fatalf("got %q, want %q", got.String(), tc.want)
			}
			c.expectClosed()
			// Other clients are unaffected.
			other.expect(respArray("GET", "k"), respBulk("v"))
		})
	}
	// The limits themselves are allowed.
	c := respDial(t, s.Addr())
	c.expect(respArray("SET", "max", long), "+OK\r\n")
	args := []string{"EXISTS"}
	for range 15 {
		args = append(args, "max")
	}
	c.expect(respArray(args...), ":15\r\n")
	if !strings.Contains(logs.String(), "level=WARN msg=\"resp: protocol error, closing connection\" remote=127.0.0.1:") {
		t.Errorf("no Warn with the remote address in the log:\n%s", logs)
	}
	if got := s.Stats().ProtocolErrors; got != 15 {
		t.Errorf("Stats().ProtocolErrors = %d, want 15", got)
	}
}

// TestRESPIdleTimeout: a connection that sends nothing for IdleTimeout is
// closed, whether it stopped mid-command or never sent a byte, while one
// whose command waits at the cluster for longer is kept. idle is far longer
// than the test's own back-to-back steps (a dial, then a send) take even on
// a loaded machine, and every other wait is for an event, so the outcome
// does not depend on how promptly anything runs.
func TestRESPIdleTimeout(t *testing.T) {
	const idle = time.Second
	store := newRESPTestStore()
	release := make(chan struct{})
	gw := GatewayFunc(func(ctx context.Context, args [][]byte) (*wire.Reply, error) {
		if command.Name(args) == "get" {
			select { // at the cluster, not idle
			case <-release:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return store.Do(ctx, args)
	})
	s, _, _ := respStart(t, RESPConfig{IdleTimeout: idle, Gateway: gw})

	slow := respDial(t, s.Addr())
	slow.send(respArray("GET", "k")) // waits at the cluster until release
	half := respDial(t, s.Addr())
	half.send("*2\r\n$3\r\nGET\r\n$5\r\nab") // half a command, then silence
	quiet := respDial(t, s.Addr())
	other := respDial(t, s.Addr())
	other.expect("PING\r\n", "+PONG\r\n") // not blocked by the stalled clients
	half.expectClosed()
	// quiet was dialed after slow sent its GET, so its close means slow has
	// sent nothing for longer than idle too.
	quiet.expectClosed() // idle without sending anything
	close(release)
	if got := slow.reply(); got != "$-1\r\n" {
		t.Errorf("GET k, answered after more than %v at the cluster: %q, want a nil bulk", idle, got)
	}
	slow.expect("PING\r\n", "+PONG\r\n")

	// Without IdleTimeout a stalled client keeps its connection.
	s2, _, _ := respStart(t, RESPConfig{})
	stalled := respDial(t, s2.Addr())
	stalled.send("*1\r\n$4\r\nPI")
	time.Sleep(idle)
	stalled.send("NG\r\n")
	if got := stalled.reply(); got != "+PONG\r\n" {
		t.Errorf("after a stall: %q", got)
	}
}

func TestRESPAuth(t *testing.T) {
	const pass = "s3cret"
	s, _, _ := respStart(t, RESPConfig{RequirePass: pass})
	ctx := context.Background()

	c := respDial(t, s.Addr())
	noauth := "-NOAUTH Authentication required.\r\n"
	wrongpass := "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
	c.expect(respArray("GET", "a"), noauth)
	c.expect("PING\r\n", noauth)
	c.expect(respArray("CLIENT", "ID"), noauth)
	c.expect(respArray("NOSUCH"), noauth)
	c.expect(respArray("AUTH", "wrong"), wrongpass)
	c.expect(respArray("AUTH", "default", "wrong"), wrongpass)
	c.expect(respArray("AUTH", "other", pass), wrongpass)
	c.expect(respArray("AUTH", "a", "b", "c"), "-ERR syntax error\r\n")
	c.expect(respArray("AUTH"), "-ERR wrong number of arguments for 'auth' command\r\n")
	c.expect(respArray("HELLO", "2"), "-NOAUTH HELLO must be called with the client already authenticated, otherwise the "+
		"HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol "+
		"version at the same time\r\n")
	c.expect(respArray("HELLO", "2", "AUTH", "default", "wrong"), wrongpass)
	hello := c.roundTrip(respArray("HELLO", "2", "AUTH", "default", pass, "SETNAME", "me"))
	if !strings.HasPrefix(hello, "*14\r\n$6\r\nserver\r\n$6\r\ncastkv\r\n") {
		t.Errorf("HELLO 2 AUTH: %q", hello)
	}
	c.expect(respArray("CLIENT", "GETNAME"), respBulk("me"))
	c.expect(respArray("SET", "a", "1"), "+OK\r\n")
	c.expect(respArray("AUTH", "wrong"), wrongpass)
	c.expect(respArray("GET", "a"), respBulk("1")) // a failed AUTH does not log out

	// Redis's tighter limits before authentication.
	c2 := respDial(t, s.Addr())
	c2.send("*2\r\n$4\r\nAUTH\r\n$20000\r\n")
	if got := c2.reply(); got != "-ERR Protocol error: unauthenticated bulk length\r\n" {
		t.Errorf("big bulk before AUTH: %q", got)
	}
	c2.expectClosed()
	c3 := respDial(t, s.Addr())
	c3.send("*11\r\n")
	if got := c3.reply(); got != "-ERR Protocol error: unauthenticated multibulk length\r\n" {
		t.Errorf("big array before AUTH: %q", got)
	}
	c3.expectClosed()
	// A command pipelined right after AUTH gets the authenticated limits.
	c4 := respDial(t, s.Addr())
	mset := []string{"MSET"}
	for i := range 6 {
		mset = append(mset, fmt.Sprint("k", i), strings.Repeat("v", 20000))
	}
	c4.send("AUTH " + pass + "\r\n" + respArray(mset...) + respArray("EXISTS", "k5"))
	for _, want := range []string{"+OK\r\n", "+OK\r\n", ":1\r\n"} {
		if got := c4.reply(); got != want {
			t.Errorf("pipelined after AUTH: %q, want %q", got, want)
		}
	}
	// QUIT needs no authentication.
	c5 := respDial(t, s.Addr())
	c5.expect("QUIT\r\n", "+OK\r\n")
	c5.expectClosed()

	// go-redis: HELLO 3 AUTH gets -NOPROTO, then it falls back to AUTH.
	for _, proto := range []int{3, 2} {
		g := respGoRedis(t, s.Addr(), &redis.Options{Protocol: proto, Password: pass})
		if err := g.Set(ctx, "g", "1", 0).Err(); err != nil {
			t.Errorf("go-redis protocol %d with password: %v", proto, err)
		}
		bad := respGoRedis(t, s.Addr(), &redis.Options{Protocol: proto, Password: "nope"})
		if err := bad.Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
			t.Errorf("go-redis protocol %d with a wrong password: %v", proto, err)
		}
	}

	// Without a password, AUTH <password> is an error and the default user
	// takes any password, as in Redis.
	s2, _, _ := respStart(t, RESPConfig{})
	n := respDial(t, s2.Addr())
	n.expect(respArray("AUTH", "x"), "-ERR AUTH <password> called without any password configured for the default user. "+
		"Are you sure your configuration is correct?\r\n")
	n.expect(respArray("AUTH", "default", "x"), "+OK\r\n")
	n.expect(respArray("AUTH", "bob", "x"), wrongpass)
}

func TestRESPQuit(t *testing.T) {
	s, store, _ := respStart(t, RESPConfig{})
	c := respDial(t, s.Addr())
	// QUIT answers +OK and closes; what was pipelined after it is dropped.
	c.send(respArray("SET", "a", "1") + respArray("QUIT") + respArray("SET", "a", "2"))
	for _, want := range []string{"+OK\r\n", "+OK\r\n"} {
		if got := c.reply(); got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	c.expectClosed()
	if v, _ := store.value("a"); string(v) != "1" {
		t.Errorf("a = %q after QUIT, want 1: the command after QUIT ran", v)
	}
}

func TestRESPLocalCommands(t *testing.T) {
	s, _, _ := respStart(t, RESPConfig{MaxClients: 77})
	c := respDial(t, s.Addr())
	for _, tc := range []struct{ send, want string }{
		{respArray("PING"), "+PONG\r\n"},
		{respArray("PING", "hi"), respBulk("hi")},
		{respArray("PING", "a", "b"), "-ERR wrong number of arguments for 'ping' command\r\n"},
		{respArray("ECHO", ""), respBulk("")},
		{respArray("ECHO"), "-ERR wrong number of arguments for 'echo' command\r\n"},
		{respArray("SELECT", "0"), "+OK\r\n"},
		{respArray("CLUSTER", "KEYSLOT", "somekey"), ":11058\r\n"}, // Redis's documented examples
		{respArray("cluster", "keyslot", "foo{hash_tag}"), ":2515\r\n"},
		{respArray("CLUSTER", "KEYSLOT"), "-ERR wrong number of arguments for 'cluster|keyslot' command\r\n"},
		{respArray("select", "1"), "-ERR DB index is out of range\r\n"},
		{respArray("SELECT", "x"), "-ERR value is not an integer or out of range\r\n"},
		{respArray("SELECT"), "-ERR wrong number of arguments for 'select' command\r\n"},
		{respArray("HELLO", "4"), "-NOPROTO unsupported protocol version\r\n"},
		{respArray("HELLO", "1"), "-NOPROTO unsupported protocol version\r\n"},
		{respArray("HELLO", "x"), "-ERR Protocol version is not an integer or out of range\r\n"},
		{respArray("HELLO", "2", "FOO"), "-ERR Syntax error in HELLO option 'FOO'\r\n"},
		{respArray("HELLO", "2", "SETNAME", "a b"), "-ERR Client names cannot contain spaces, newlines or special characters.\r\n"},
		{respArray("CLIENT", "GETNAME"), "$-1\r\n"},
		{respArray("HELLO", "2", "setname", "n1"), "*14\r\n" + respBulk("server") + respBulk("castkv") + respBulk("version") + respBulk("7.2.0") +
			respBulk("proto") + ":2\r\n" + respBulk("id") + ":1\r\n" + respBulk("mode") + respBulk("standalone") + respBulk("role") + respBulk("master") +
			respBulk("modules") + "*0\r\n"},
		{respArray("CLIENT", "GETNAME"), respBulk("n1")},
		{respArray("CLIENT", "SETNAME", "n2"), "+OK\r\n"},
		{respArray("CLIENT", "GETNAME"), respBulk("n2")},
		{respArray("CLIENT", "SETNAME", "bad\nname"), "-ERR Client names cannot contain spaces, newlines or special characters.\r\n"},
		{respArray("CLIENT", "SETNAME"), "-ERR wrong number of arguments for 'client|setname' command\r\n"},
		{respArray("CLIENT", "SETINFO", "LIB-NAME", "go-redis(,go1.26)"), "+OK\r\n"},
		{respArray("CLIENT", "SETINFO", "lib-ver", "9.23.0"), "+OK\r\n"},
		{respArray("CLIENT", "SETINFO", "foo", "x"), "-ERR Unrecognized option 'foo'\r\n"},
		{respArray("CLIENT", "SETINFO", "lib-ver", "a b"), "-ERR lib-ver cannot contain spaces, newlines or special characters.\r\n"},
		{respArray("CLIENT", "ID"), ":1\r\n"},
		{respArray("CLIENT", "CACHING", "yes"), "-ERR unknown subcommand 'CACHING'. Try CLIENT HELP.\r\n"},
		{respArray("CLIENT"), "-ERR wrong number of arguments for 'client' command\r\n"},
		{respArray("CONFIG", "GET", "save"), "*2\r\n" + respBulk("save") + respBulk("")},
		{respArray("CONFIG", "GET", "appendonly", "MAXCLIENTS"), "*4\r\n" + respBulk("appendonly") + respBulk("no") + respBulk("maxclients") + respBulk("77")},
		{respArray("CONFIG", "GET", "nosuch*"), "*0\r\n"},
		{respArray("CONFIG", "GET"), "-ERR wrong number of arguments for 'config|get' command\r\n"},
		{respArray("CONFIG", "SET", "port", "1"), "-ERR CONFIG SET failed (possibly related to argument 'port') - can't set immutable config\r\n"},
		{respArray("CONFIG", "SET", "nosuch", "1"), "-ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'\r\n"},
		{respArray("CONFIG", "SET", "port", "1", "save"), "-ERR wrong number of arguments for 'config|set' command\r\n"},
		{respArray("CONFIG", "REWRITE"), "-ERR unknown subcommand 'REWRITE'. Try CONFIG HELP.\r\n"},
		{respArray("FUNCTION", "FLUSH"), "+OK\r\n"},
		{respArray("FUNCTION", "FLUSH", "async"), "+OK\r\n"},
		{respArray("FUNCTION", "FLUSH", "x"), "-ERR FUNCTION FLUSH only supports SYNC|ASYNC option\r\n"},
		{respArray("FUNCTION", "LIST"), "-ERR unknown subcommand 'LIST'. Try FUNCTION HELP.\r\n"},
		{respArray("SCRIPT", "FLUSH", "SYNC"), "+OK\r\n"},
		{respArray("SCRIPT", "FLUSH", "x"), "-ERR SCRIPT FLUSH only support SYNC|ASYNC option\r\n"},
		{respArray("COMMAND", "COUNT"), fmt.Sprintf(":%d\r\n", len(respCommands))},
		{respArray("COMMAND", "INFO", "nosuch"), "*1\r\n$-1\r\n"},
		{respArray("COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"), "*2\r\n" + respBulk("a") + respBulk("b")},
		{respArray("COMMAND", "GETKEYS", "GET"), "-ERR Invalid number of arguments specified for command\r\n"},
		{respArray("COMMAND", "GETKEYS", "PING"), "-ERR The command has no key arguments\r\n"},
		{respArray("COMMAND", "GETKEYS", "NOSUCH", "a"), "-ERR Invalid command specified\r\n"},
		{respArray("COMMAND", "LIST", "FILTERBY", "PATTERN", "set*"), "*5\r\n" + respBulk("set") + respBulk("setex") + respBulk("setnx") + respBulk("setrange") + respBulk("setxx")},
		{respArray("COMMAND", "LIST", "FILTERBY", "ACLCAT", "scripting"), "*2\r\n" + respBulk("function|flush") + respBulk("script|flush")},
		{respArray("COMMAND", "FOO"), "-ERR unknown subcommand 'FOO'. Try COMMAND HELP.\r\n"},
		{respArray("CONFIG", "RESETSTAT"), "+OK\r\n"},
	} {
		c.expect(tc.send, tc.want)
	}
	info := c.roundTrip(respArray("CLIENT", "INFO"))
	for _, want := range []string{"id=1 addr=127.0.0.1:", " name=n2 ", " flags=N db=0 ", " lib-name=go-redis(,go1.26) lib-ver=9.23.0\n"} {
		if !strings.Contains(info, want) {
			t.Errorf("CLIENT INFO %q lacks %q", info, want)
		}
	}
	help := c.roundTrip(respArray("CLIENT", "HELP"))
	if !strings.HasPrefix(help, "*25\r\n+CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n") {
		t.Errorf("CLIENT HELP: %q", help)
	}
	if got := s.Stats().TotalCommands; got != 2 {
		t.Errorf("TotalCommands after CONFIG RESETSTAT and two commands = %d, want 2", got)
	}
}

func TestRESPCommandDocs(t *testing.T) {
	s, _, _ := respStart(t, RESPConfig{})
	// RESP2, whose flat maps redis-cli 7.0 reads (RESP3's maps:
	// TestRESP3Session).
	c := respGoRedis(t, s.Addr(), &redis.Options{Protocol: 2})
	ctx := context.Background()
	docs, err := c.Do(ctx, "COMMAND", "DOCS").Slice()
	if err != nil || len(docs) != 2*len(respCommands) {
		t.Fatalf("COMMAND DOCS: %d elements, %v", len(docs), err)
	}
	// Every entry has the keys redis-cli reads, as strings.
	for i := 0; i < len(docs); i += 2 {
		fields := docs[i+1].([]any)
		m := map[string]any{}
		for j := 0; j < len(fields); j += 2 {
			m[fields[j].(string)] = fields[j+1]
		}
		for _, k := range []string{"summary", "since", "group"} {
			if _, ok := m[k].(string); !ok {
				t.Errorf("COMMAND DOCS %v: %s is %T", docs[i], k, m[k])
			}
		}
	}
	one, err := c.Do(ctx, "COMMAND", "DOCS", "get", "config|get", "nosuch").Slice()
	if err != nil || len(one) != 4 || one[0] != "get" || one[2] != "config|get" {
		t.Errorf("COMMAND DOCS get config|get nosuch: %v, %v", one, err)
	}
	info := redis.NewCommandsInfoCmd(ctx, "command", "info", "set", "client|id")
	if err := c.Process(ctx, info); err != nil || info.Val()["set"] == nil || info.Val()["set"].Arity != -3 || info.Val()["client|id"] == nil {
		t.Errorf("COMMAND INFO set client|id: %v, %v", info.Val(), err)
	}
	keys, err := c.CommandGetKeys(ctx, "MSET", "a", "1", "b", "2").Result()
	if err != nil || fmt.Sprint(keys) != "[a b]" {
		t.Errorf("COMMAND GETKEYS: %v, %v", keys, err)
	}
	list, err := c.CommandList(ctx, &redis.FilterBy{Pattern: "client|*"}).Result()
	if err != nil || len(list) != len(respLookup("client").subs) {
		t.Errorf("COMMAND LIST FILTERBY PATTERN client|*: %v, %v", list, err)
	}
}

func TestRESPInfo(t *testing.T) {
	s, _, _ := respStart(t, RESPConfig{Stats: func() map[string]string {
		return map[string]string{"db0": "keys=1,expires=0,avg_ttl=0", "cluster.cluster_enabled": "0", "cluster.shards": "1\r\n2"}
	}})
	c := respDial(t, s.Addr())
	reply := c.roundTrip(respArray("INFO"))
	header, text, _ := strings.Cut(reply, "\r\n")
	if n, _ := strconv.Atoi(header[1:]); header[0] != '$' || n != len(text)-2 {
		t.Fatalf("INFO is not one bulk string: %q", reply)
	}
	text = strings.TrimSuffix(text, "\r\n")
	for _, want := range []string{
		"# Server\r\nredis_version:7.2.0\r\ncastkv_version:",
		"\r\nprocess_id:", "\r\ntcp_port:" + s.Addr()[strings.LastIndexByte(s.Addr(), ':')+1:] + "\r\n", "\r\nuptime_in_seconds:",
		"\r\n\r\n# Clients\r\nconnected_clients:1\r\n",
		"\r\n\r\n# Stats\r\ntotal_connections_received:1\r\ntotal_commands_processed:1\r\nrejected_connections:0\r\n",
		"\r\n\r\n# Cluster\r\ncluster_enabled:0\r\nshards:1  2\r\n",
		"\r\n\r\n# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("INFO lacks %q:\n%s", want, text)
		}
	}
	if !strings.HasSuffix(text, "# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n") {
		t.Errorf("INFO does not end with the Keyspace section:\n%s", text)
	}
	for _, line := range strings.Split(strings.TrimSuffix(text, "\r\n"), "\r\n") {
		if line != "" && !strings.HasPrefix(line, "# ") && !strings.Contains(line, ":") {
			t.Errorf("INFO line %q is not field:value", line)
		}
	}
	c.expect(respArray("INFO", "keyspace"), respBulk("# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n"))
	c.expect(respArray("INFO", "nosuch"), respBulk(""))
	if got := c.roundTrip(respArray("INFO", "CLIENTS", "stats")); !strings.HasPrefix(got, "$") || !strings.Contains(got, "# Clients\r\n") ||
		!strings.Contains(got, "\r\n\r\n# Stats\r\n") || strings.Contains(got, "# Server") {
		t.Errorf("INFO clients stats: %q", got)
	}
}

func TestRESPMaxClients(t *testing.T) {
	s, _, _ := respStart(t, RESPConfig{MaxClients: 2})
	a, b := respDial(t, s.Addr()), respDial(t, s.Addr())
	a.expect("PING\r\n", "+PONG\r\n")
	b.expect("PING\r\n", "+PONG\r\n")
	over := respDial(t, s.Addr())
	if got := over.reply(); got != "-ERR max number of clients reached\r\n" {
		t.Errorf("third client: %q", got)
	}
	over.expectClosed()
	if st := s.Stats(); st.RejectedConnections != 1 || st.ConnectedClients != 2 || st.TotalConnections != 2 {
		t.Errorf("Stats() = %+v", st)
	}
	a.conn.Close()
	respWaitFor(t, "the closed client to be counted out", func() bool { return s.Stats().ConnectedClients == 1 })
	respDial(t, s.Addr()).expect("PING\r\n", "+PONG\r\n")
}

// respWaitFor polls cond: for state the server reaches on its own goroutines.
func respWaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRESPGatewayFailures(t *testing.T) {
	gw := GatewayFunc(func(ctx context.Context, args [][]byte) (*wire.Reply, error) {
		if command.Name(args) == "dbsize" {
			return nil, errors.New("boom\r\nsecond line")
		}
		<-ctx.Done() // the cluster never answers
		return nil, ctx.Err()
	})
	s, _, logs := respStart(t, RESPConfig{Gateway: gw, CommandTimeout: 50 * time.Millisecond})
	c := respDial(t, s.Addr())
	c.expect(respArray("GET", "a"), "-TRYAGAIN timed out waiting for the cluster\r\n")
	c.expect(respArray("MGET", "a", "b"), "-TRYAGAIN timed out waiting for the cluster\r\n")
	c.expect(respArray("SET", "a", "1"), "-UNCERTAIN timed out waiting for the cluster; the write may or may not have been applied\r\n")
	c.expect(respArray("DEL", "a"), "-UNCERTAIN timed out waiting for the cluster; the write may or may not have been applied\r\n")
	c.expect(respArray("DBSIZE"), "-TRYAGAIN the cluster did not answer: boom  second line\r\n")
	if !strings.Contains(logs.String(), "resp: gateway failed") {
		t.Errorf("gateway failures not logged:\n%s", logs)
	}
}

func TestRESPCloseReleasesConnections(t *testing.T) {
	entered := make(chan struct{}, 1)
	gw := GatewayFunc(func(ctx context.Context, args [][]byte) (*wire.Reply, error) {
		entered <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	})
	store := newRESPTestStore()
	cfg := RESPConfig{Addr: "127.0.0.1:0", Gateway: gw, Logger: slog.New(slog.DiscardHandler)}
	s, err := ListenRESP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_ = store
	blocked, idle := respDial(t, s.Addr()), respDial(t, s.Addr())
	idle.expect("PING\r\n", "+PONG\r\n")
	blocked.send(respArray("GET", "a"))
	<-entered
	done := make(chan error)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return with a command waiting on the Gateway")
	}
	// The blocked command may get its -TRYAGAIN before the close.
	_ = blocked.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	rest, _ := io.ReadAll(blocked.rd)
	if len(rest) > 0 && !strings.HasPrefix(string(rest), "-TRYAGAIN the server is shutting down") {
		t.Errorf("blocked client read %q", rest)
	}
	idle.expectClosed()
	if st := s.Stats(); st.ConnectedClients != 0 {
		t.Errorf("after Close: %+v", st)
	}
	if _, err := gonet.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
		t.Error("still accepting after Close")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestRESPSlowReaderClosed(t *testing.T) {
	s, store, logs := respStart(t, RESPConfig{WriteTimeout: 300 * time.Millisecond})
	store.m["big"] = bytes.Repeat([]byte("x"), 1<<20)
	stuck := respDial(t, s.Addr())
	stuck.expect("PING\r\n", "+PONG\r\n") // accepted and counted
	// Ask for far more than the socket buffers hold, and never read.
	stuck.send(strings.Repeat(respArray("GET", "big"), 200))
	respWaitFor(t, "the server to drop the client that stopped reading", func() bool { return s.Stats().ConnectedClients == 0 })
	respDial(t, s.Addr()).expect("PING\r\n", "+PONG\r\n")
	if !strings.Contains(logs.String(), `level=WARN msg="resp: client stopped reading its replies; closing connection"`) {
		t.Errorf("the drop was not logged at Warn:\n%s", logs)
	}
}

func TestRESPConfigErrors(t *testing.T) {
	for _, cfg := range []RESPConfig{
		{Gateway: newRESPTestStore()},
		{Addr: "127.0.0.1:0"},
		{Addr: "127.0.0.1:0", Gateway: newRESPTestStore(), MaxArgs: -1},
		{Addr: "127.0.0.1:0", Gateway: newRESPTestStore(), IdleTimeout: -time.Second},
		{Addr: "127.0.0.1:0", Gateway: newRESPTestStore(), MaxValueBytes: 1 << 20, MaxCommandBytes: 1 << 10},
	} {
		if s, err := ListenRESP(cfg); err == nil {
			s.Close()
			t.Errorf("ListenRESP(%+v) succeeded", cfg)
		}
	}
}
