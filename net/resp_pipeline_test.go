package net

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	gonet "net"
	"strings"
	"sync"
	"testing"
	"time"

	"castkv/actors/command"
	"castkv/actors/wire"
)

// respShuffleGateway answers each command after its own random delay, so
// replies come back out of request order. It answers GET k with k's name
// and anything else with +OK: the port alone must put replies in order.
// It records the order in which it answered and how many commands it held
// at once.
type respShuffleGateway struct {
	maxDelay time.Duration

	mu       sync.Mutex
	rng      *rand.Rand
	sent     int // commands received, numbered in arrival order
	inFlight int
	maxHeld  int
	answered []int // arrival numbers, in answer order
}

func newRESPShuffleGateway(seed uint64, maxDelay time.Duration) *respShuffleGateway {
	return &respShuffleGateway{maxDelay: maxDelay, rng: rand.New(rand.NewPCG(seed, 3))}
}

func (g *respShuffleGateway) Send(ctx context.Context, args [][]byte, done func(*wire.Reply, error)) {
	g.mu.Lock()
	n := g.sent
	g.sent++
	g.inFlight++
	g.maxHeld = max(g.maxHeld, g.inFlight)
	delay := time.Duration(g.rng.Int64N(int64(g.maxDelay)))
	g.mu.Unlock()
	reply := command.OK()
	if command.Name(args) == "get" {
		reply = command.Bulk(args[1])
	}
	time.AfterFunc(delay, func() {
		g.mu.Lock()
		g.inFlight--
		g.answered = append(g.answered, n)
		g.mu.Unlock()
		done(reply, nil)
	})
}

// inversions counts answers that came before an answer to an earlier
// command.
func (g *respShuffleGateway) inversions() (inv, held int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	highest := -1
	for _, n := range g.answered {
		if n < highest {
			inv++
		}
		highest = max(highest, n)
	}
	return inv, g.maxHeld
}

// respSendAsync writes s on its own goroutine (the server may stop
// reading until replies are read) and reports a write error to the test.
func respSendAsync(t *testing.T, c *respRawClient, s string) {
	go func() {
		// Not c.send: it may not t.Fatal off the test's goroutine.
		if _, err := io.WriteString(c.conn, s); err != nil {
			t.Errorf("sending the pipeline: %v", err)
		}
	}()
}

// TestRESPPipelineOrderWithShuffledGateway pipelines 10,000 commands on
// one connection to a Gateway that answers them out of order, and checks
// that the replies come back in request order.
func TestRESPPipelineOrderWithShuffledGateway(t *testing.T) {
	const n = 10000
	seed := uint64(time.Now().UnixNano())
	gw := newRESPShuffleGateway(seed, 2*time.Millisecond)
	s, _, _ := respStart(t, RESPConfig{Gateway: gw})
	c := respDial(t, s.Addr())
	var req, want strings.Builder
	for i := range n {
		k := fmt.Sprint("key", i)
		req.WriteString(respArray("GET", k))
		want.WriteString(respBulk(k))
	}
	respSendAsync(t, c, req.String())
	var got strings.Builder
	for range n {
		got.WriteString(c.reply())
	}
	if got.String() != want.String() {
		t.Fatalf("seed %d: replies out of order or wrong:\n got %.300q\nwant %.300q", seed, got.String(), want.String())
	}
	// The test proves something only if the gateway did reorder, with
	// many commands of the connection at it at once.
	if inv, held := gw.inversions(); inv == 0 || held < 2 {
		t.Fatalf("seed %d: the gateway answered with %d inversions, holding at most %d commands at once; "+
			"the port did not pipeline, so order was not tested", seed, inv, held)
	}
}

// TestRESPPipelineLocalAndGatewayInterleaved mixes commands the port
// answers itself with Gateway commands answered out of order, and checks
// every reply's place, including a local command that reads state an
// earlier pipelined local command set.
func TestRESPPipelineLocalAndGatewayInterleaved(t *testing.T) {
	const rounds = 500
	seed := uint64(time.Now().UnixNano())
	gw := newRESPShuffleGateway(seed, time.Millisecond)
	s, _, _ := respStart(t, RESPConfig{Gateway: gw})
	c := respDial(t, s.Addr())
	var req, want strings.Builder
	for i := range rounds {
		k, name := fmt.Sprint("k", i), fmt.Sprint("name", i)
		req.WriteString(respArray("GET", k))
		want.WriteString(respBulk(k))
		req.WriteString("PING\r\n")
		want.WriteString("+PONG\r\n")
		req.WriteString(respArray("SET", k, "v"))
		want.WriteString("+OK\r\n")
		req.WriteString(respArray("CLIENT", "SETNAME", name))
		want.WriteString("+OK\r\n")
		req.WriteString(respArray("ECHO", k))
		want.WriteString(respBulk(k))
		req.WriteString(respArray("CLIENT", "GETNAME"))
		want.WriteString(respBulk(name))
		req.WriteString(respArray("MGET", k, "other"+k))
		want.WriteString("+OK\r\n") // the shuffle gateway answers +OK to all but GET
	}
	req.WriteString(respArray("QUIT"))
	want.WriteString("+OK\r\n")
	respSendAsync(t, c, req.String())
	var got strings.Builder
	for range 7*rounds + 1 {
		got.WriteString(c.reply())
	}
	if got.String() != want.String() {
		t.Fatalf("seed %d: replies out of order or wrong:\n got %.400q\nwant %.400q", seed, got.String(), want.String())
	}
	c.expectClosed()
	if inv, _ := gw.inversions(); inv == 0 {
		t.Fatalf("seed %d: the gateway answered in order; the test did not test ordering", seed)
	}
}

// TestRESPPipelineSameKeyInOrder: pipelined commands on one key run one
// after the other, so each GET sees the SET just before it, even through
// a Gateway whose latency varies per command.
func TestRESPPipelineSameKeyInOrder(t *testing.T) {
	const n = 2000
	store := newRESPTestStore()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 5))
	var mu sync.Mutex
	gw := GatewayFunc(func(ctx context.Context, args [][]byte) (*wire.Reply, error) {
		mu.Lock()
		d := time.Duration(rng.IntN(500)) * time.Microsecond
		mu.Unlock()
		time.Sleep(d)
		return store.Do(ctx, args)
	})
	s, _, _ := respStart(t, RESPConfig{Gateway: gw})
	c := respDial(t, s.Addr())
	var req, want strings.Builder
	for i := range n {
		k := fmt.Sprint("hot", i%3) // three keys, each written and read over and over
		v := fmt.Sprint("v", i)
		req.WriteString(respArray("SET", k, v))
		req.WriteString(respArray("GET", k))
		want.WriteString("+OK\r\n" + respBulk(v))
		if i%100 == 99 {
			req.WriteString(respArray("DBSIZE"))
			want.WriteString(":3\r\n")
		}
	}
	respSendAsync(t, c, req.String())
	var got strings.Builder
	for range 2*n + n/100 {
		got.WriteString(c.reply())
	}
	if got.String() != want.String() {
		t.Fatalf("a GET did not see the SET before it:\n got %.300q\nwant %.300q", got.String(), want.String())
	}
}

// respHoldGateway holds every command until the test releases it or its
// context ends, and records how many it held at once.
type respHoldGateway struct {
	bulkBytes int // GET's reply: bulkBytes of 'v', or the key when 0

	mu      sync.Mutex
	held    []func()
	maxHeld int
}

func (g *respHoldGateway) Send(ctx context.Context, args [][]byte, done func(*wire.Reply, error)) {
	reply := command.OK()
	if command.Name(args) == "get" {
		reply = command.Bulk(args[1])
		if g.bulkBytes > 0 {
			reply = command.Bulk(bytes.Repeat([]byte("v"), g.bulkBytes))
		}
	}
	var once sync.Once
	answer := func(r *wire.Reply, err error) { once.Do(func() { done(r, err) }) }
	g.mu.Lock()
	defer g.mu.Unlock()
	g.held = append(g.held, func() { answer(reply, nil) })
	g.maxHeld = max(g.maxHeld, len(g.held))
	context.AfterFunc(ctx, func() { answer(nil, ctx.Err()) })
}

// releaseOne answers the oldest held command; false if none is held.
func (g *respHoldGateway) releaseOne() bool {
	g.mu.Lock()
	if len(g.held) == 0 {
		g.mu.Unlock()
		return false
	}
	done := g.held[0]
	g.held = g.held[1:]
	g.mu.Unlock()
	done()
	return true
}

func (g *respHoldGateway) holding() (now, most int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.held), g.maxHeld
}

// TestRESPMaxPipelineStopsReading: with MaxPipeline commands unanswered,
// the port reads no further from the connection, so the Gateway never
// holds more than MaxPipeline of its commands.
func TestRESPMaxPipelineStopsReading(t *testing.T) {
	const maxPipeline, n = 8, 100
	gw := &respHoldGateway{}
	s, _, _ := respStart(t, RESPConfig{Gateway: gw, MaxPipeline: maxPipeline})
	c := respDial(t, s.Addr())
	var req, want strings.Builder
	for i := range n {
		k := fmt.Sprint("k", i)
		req.WriteString(respArray("GET", k))
		want.WriteString(respBulk(k))
	}
	respSendAsync(t, c, req.String())
	respWaitFor(t, "the gateway to hold MaxPipeline commands", func() bool { now, _ := gw.holding(); return now >= maxPipeline })
	// The reader is now stopped before its next command: it has read
	// exactly MaxPipeline commands, though all 100 were sent at once.
	if got := s.Stats().TotalCommands; got != maxPipeline {
		t.Fatalf("the port read %d commands with %d unanswered, want it stopped at MaxPipeline %d", got, maxPipeline, maxPipeline)
	}
	var got strings.Builder
	for i := 0; i < n; i++ {
		respWaitFor(t, "a command at the gateway", gw.releaseOne)
		got.WriteString(c.reply())
	}
	if got.String() != want.String() {
		t.Fatalf("replies wrong:\n got %.300q\nwant %.300q", got.String(), want.String())
	}
	if _, most := gw.holding(); most != maxPipeline {
		t.Fatalf("the gateway held at most %d commands of one connection, want MaxPipeline %d", most, maxPipeline)
	}
}

// TestRESPMaxPipelineBytesStopsReading: the per-connection byte bound
// holds back large commands the same way (two 4 KiB values fit in 10 KiB,
// a third does not).
func TestRESPMaxPipelineBytesStopsReading(t *testing.T) {
	const n = 20
	gw := &respHoldGateway{}
	s, _, _ := respStart(t, RESPConfig{Gateway: gw, MaxPipelineBytes: 10 << 10})
	c := respDial(t, s.Addr())
	value := strings.Repeat("v", 4<<10)
	var req strings.Builder
	for i := range n {
		req.WriteString(respArray("SET", fmt.Sprint("k", i), value))
	}
	respSendAsync(t, c, req.String())
	for range n {
		respWaitFor(t, "a command at the gateway", gw.releaseOne)
		if got := c.reply(); got != "+OK\r\n" {
			t.Fatalf("SET: %q", got)
		}
	}
	if _, most := gw.holding(); most != 2 {
		t.Fatalf("the gateway held at most %d 4 KiB SETs of one connection, want 2 under MaxPipelineBytes 10 KiB", most)
	}
}

// TestRESPLargeRepliesLimitPipeline: once a connection has seen a large
// reply, it keeps at the Gateway only as many commands as replies of that
// size fit in MaxPipelineBytes, so a pipeline of GETs of large values
// cannot pile up MaxPipeline large replies.
func TestRESPLargeRepliesLimitPipeline(t *testing.T) {
	const n, replyBytes = 30, 1 << 20
	gw := &respHoldGateway{bulkBytes: replyBytes}
	s, _, _ := respStart(t, RESPConfig{Gateway: gw, MaxPipelineBytes: 4 * replyBytes})
	c := respDial(t, s.Addr())
	want := respBulk(strings.Repeat("v", replyBytes))
	c.send(respArray("GET", "first"))
	respWaitFor(t, "the first GET at the gateway", gw.releaseOne)
	if got := c.reply(); got != want {
		t.Fatalf("first GET: %d bytes, want %d", len(got), len(want))
	}
	var req strings.Builder
	for i := range n {
		req.WriteString(respArray("GET", fmt.Sprint("k", i)))
	}
	respSendAsync(t, c, req.String())
	for range n {
		respWaitFor(t, "a GET at the gateway", gw.releaseOne)
		if got := c.reply(); got != want {
			t.Fatalf("GET: %d bytes, want %d", len(got), len(want))
		}
	}
	// Four: three 1 MiB replies and the pipeline's small arguments fit in
	// 4 MiB, so a fourth is sent, and a fifth would not fit.
	if _, most := gw.holding(); most != 4 {
		t.Fatalf("the gateway held at most %d GETs with 1 MiB replies, want 4 under MaxPipelineBytes 4 MiB", most)
	}
}

// TestRESPClientMemoryBudget: 1,000 clients each pipeline 100 values of
// 2 KiB to a slow Gateway, 200 MB in all, against a client memory budget
// of 128 KiB. The accounted client memory never exceeds the budget, and
// every client gets all its replies or a clear error before its
// connection closes. The budget is really contended: its high-water mark
// comes near it.
func TestRESPClientMemoryBudget(t *testing.T) {
	const (
		clients    = 1000
		perClient  = 100
		valueBytes = 2 << 10
		budget     = 128 << 10
	)
	gw := newRESPShuffleGateway(uint64(time.Now().UnixNano()), time.Millisecond)
	s, _, _ := respStart(t, RESPConfig{Gateway: gw, ClientMemoryBytes: budget, CommandTimeout: 5 * time.Minute})
	value := strings.Repeat("x", valueBytes)
	var wg sync.WaitGroup
	var mu sync.Mutex
	outcomes := map[string]int{}
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outcome := respBudgetClient(s.Addr(), i, perClient, value)
			mu.Lock()
			outcomes[outcome]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	for outcome, count := range outcomes {
		if outcome != "all replies" && !strings.HasPrefix(outcome, "-ERR the server's client memory budget") {
			t.Errorf("%d clients: %s", count, outcome)
		}
	}
	respWaitFor(t, "every connection to end", func() bool { return s.Stats().ConnectedClients == 0 })
	st := s.Stats()
	t.Logf("outcomes %v; client memory high-water mark %d of %d bytes", outcomes, st.ClientMemoryPeakBytes, budget)
	if st.ClientMemoryPeakBytes > budget {
		t.Errorf("client memory reached %d bytes, over the budget of %d", st.ClientMemoryPeakBytes, budget)
	}
	if st.ClientMemoryPeakBytes < budget-2*valueBytes {
		t.Errorf("client memory peaked at %d bytes, far under the budget of %d: the test did not contend for it", st.ClientMemoryPeakBytes, budget)
	}
	if st.ClientMemoryBytes != 0 {
		t.Errorf("%d bytes of client memory still accounted after every connection ended", st.ClientMemoryBytes)
	}
}

// respBudgetClient pipelines n SETs on a connection of its own and returns
// "all replies", or what went wrong; a clear error is returned as its
// reply line.
func respBudgetClient(addr string, id, n int, value string) string {
	conn, err := gonet.DialTimeout("tcp", addr, time.Minute)
	if err != nil {
		return "dial: " + err.Error()
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Minute))
	var req strings.Builder
	for i := range n {
		req.WriteString(respArray("SET", fmt.Sprintf("c%d:%d", id, i), value))
	}
	// The replies are 5 bytes each; the socket holds them all while this
	// client is still writing.
	if _, err := io.WriteString(conn, req.String()); err != nil {
		return "write: " + err.Error()
	}
	rd := bufio.NewReader(conn)
	for i := range n {
		line, err := rd.ReadString('\n')
		switch {
		case err != nil:
			return fmt.Sprintf("reply %d: %q, %v", i, line, err)
		case strings.HasPrefix(line, "-"):
			if _, err := rd.ReadByte(); err != io.EOF {
				return fmt.Sprintf("reply %d: %q, then the connection stayed open (%v)", i, line, err)
			}
			return strings.TrimSuffix(line, "\r\n")
		case line != "+OK\r\n":
			return fmt.Sprintf("reply %d: %q", i, line)
		}
	}
	return "all replies"
}

// TestRESPClientMemoryRefusals: an argument larger than the whole budget
// is refused at once; one that finds the budget held by others waits at
// most CommandTimeout. Each gets -ERR after the replies of the commands
// before it, and its connection closes; the refusals are logged and
// counted, and the budget is whole again afterwards.
func TestRESPClientMemoryRefusals(t *testing.T) {
	const budget = 8 << 10
	s, _, logs := respStart(t, RESPConfig{ClientMemoryBytes: budget, CommandTimeout: 300 * time.Millisecond})

	big := respDial(t, s.Addr())
	big.send("PING\r\n" + respArray("SET", "k", strings.Repeat("x", budget+1)))
	if got := big.reply(); got != "+PONG\r\n" {
		t.Errorf("PING before the large SET: %q", got)
	}
	if got, want := big.reply(), "-ERR an argument of 8193 bytes exceeds the server's client memory budget of 8192 bytes (ClientMemoryBytes)\r\n"; got != want {
		t.Errorf("an argument over the budget: %q, want %q", got, want)
	}
	big.expectClosed()

	// holder reserves 6 KiB for a value and sends only part of it, so it
	// holds that budget for as long as the test wants.
	holder := respDial(t, s.Addr())
	holder.send("*3\r\n$3\r\nSET\r\n$1\r\nh\r\n$6144\r\nxxxx")
	respWaitFor(t, "the stalled value's reservation", func() bool { return s.Stats().ClientMemoryBytes >= 6144 })
	waiter := respDial(t, s.Addr())
	waiter.send(respArray("GET", "h") + respArray("SET", "w", strings.Repeat("y", 6144)))
	if got := waiter.reply(); got != "$-1\r\n" {
		t.Errorf("GET before the SET that waits: %q", got)
	}
	if got, want := waiter.reply(), "-ERR the server's client memory budget of 8192 bytes stayed full for 300ms; the command was not run, retry later\r\n"; got != want {
		t.Errorf("a SET that found the budget held: %q, want %q", got, want)
	}
	waiter.expectClosed()
	holder.send(strings.Repeat("x", 6140) + "\r\n")
	if got := holder.reply(); got != "+OK\r\n" {
		t.Errorf("the stalled SET, completed: %q", got)
	}
	respDial(t, s.Addr()).expect(respArray("GET", "w"), "$-1\r\n") // the refused SET did not run

	st := s.Stats()
	if st.ClientMemoryRefused != 2 {
		t.Errorf("Stats().ClientMemoryRefused = %d, want 2", st.ClientMemoryRefused)
	}
	if st.ClientMemoryPeakBytes > budget {
		t.Errorf("client memory peaked at %d bytes, over the budget of %d", st.ClientMemoryPeakBytes, budget)
	}
	holder.conn.Close()
	respWaitFor(t, "the budget to be whole again", func() bool { return s.Stats().ClientMemoryBytes == 0 })
	if n := strings.Count(logs.String(), `level=WARN msg="resp: client memory budget refused a command; closing connection"`); n != 2 {
		t.Errorf("%d refusals logged at Warn, want 2:\n%s", n, logs)
	}
	info := respDial(t, s.Addr()).roundTrip(respArray("INFO", "memory"))
	if !strings.Contains(info, "\r\nmaxmemory_clients:8192\r\n") || !strings.Contains(info, "mem_clients_peak:") {
		t.Errorf("INFO memory: %q", info)
	}
}

// TestRESPBudgetFirstComeFirstServed: a small request that would fit
// waits behind a larger one that came first, so a stream of small
// requests cannot starve a large one.
func TestRESPBudgetFirstComeFirstServed(t *testing.T) {
	b := newRESPBudget(10)
	if err := b.acquire(8, time.Minute, nil); err != nil {
		t.Fatal(err)
	}
	results := make(chan string, 2)
	go func() {
		if err := b.acquire(5, time.Minute, nil); err != nil {
			t.Error(err)
		}
		results <- "large"
	}()
	respWaitFor(t, "the large request to queue", func() bool { b.mu.Lock(); defer b.mu.Unlock(); return len(b.waiters) == 1 })
	go func() {
		if err := b.acquire(1, time.Minute, nil); err != nil {
			t.Error(err)
		}
		results <- "small"
	}()
	respWaitFor(t, "the small request to queue", func() bool { b.mu.Lock(); defer b.mu.Unlock(); return len(b.waiters) == 2 })
	b.release(8)
	<-results
	<-results
	if used, peak := b.usage(); used != 6 || peak != 8 {
		t.Errorf("after both grants: used %d, peak %d; want 6 and 8", used, peak)
	}
	cancel := make(chan struct{})
	close(cancel)
	if err := b.acquire(5, time.Minute, cancel); err == nil {
		t.Error("a request over what is free succeeded with its connection closed")
	}
	b.release(6)
	if used, _ := b.usage(); used != 0 {
		t.Errorf("used %d after releasing everything", used)
	}
}
