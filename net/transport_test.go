package net

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	gonet "net"
	"os"
	"sort"
	"syscall"
	"testing"
	"time"

	"castkv/actors"
	"castkv/actors/wire"
)

// recorder is a role that hands every message it gets to a channel.
type recorder struct {
	env actors.Env
	got chan received
}

type received struct {
	from actors.Addr
	msg  actors.Msg
	at   time.Time
}

func (r *recorder) Start(env actors.Env) { r.env = env }
func (r *recorder) Handle(_ actors.Env, from actors.Addr, m actors.Msg) {
	r.got <- received{from: from, msg: m, at: time.Now()}
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newTestProcess(t *testing.T, tc TransportConfig) *Process {
	t.Helper()
	p, err := NewProcess(ProcessConfig{PeerAddr: "127.0.0.1:0", Transport: tc, Logger: quietLogger(),
		OnPanic: func(role actors.Addr, v any, _ []byte) { t.Errorf("role %s panicked: %v", role, v) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return p
}

func spawnRecorder(t *testing.T, p *Process, role string) (*recorder, actors.Addr) {
	r := &recorder{got: make(chan received, 100000)}
	return r, p.Spawn(role, r, nil)
}

// blackhole returns an address whose dials hang: a listening socket with a
// backlog of zero, already full, that never accepts.
func blackhole(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "blackhole")
	ln, err := gonet.FileListener(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	addr := ln.Addr().String()
	// Fill the accept queue so further SYNs go unanswered.
	for i := 0; i < 4; i++ {
		if c, err := gonet.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			t.Cleanup(func() { c.Close() })
		}
	}
	return addr
}

// deadAddr is a loopback port nobody listens on.
func deadAddr(t *testing.T) string {
	ln, err := gonet.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// A dead or blackholed peer does not hold up messages to other peers. The
// sender's dial to the blackhole hangs for slowPeerWait, and after a failed
// dial to the dead peer it backs off for as long: a transport that let
// either peer block the others could deliver nothing to the healthy peer
// before slowPeerWait has passed. The test wants every message delivered
// well before that, which a loaded machine still manages; it asserts no
// latency (the latencies are logged).
func TestTransportSlowPeersDoNotDelayOthers(t *testing.T) {
	const (
		slowPeerWait = time.Minute
		healthyBound = slowPeerWait / 2
		n            = 200
	)
	sender := newTestProcess(t, TransportConfig{DialTimeout: slowPeerWait, BackoffMin: slowPeerWait, BackoffMax: slowPeerWait})
	receiver := newTestProcess(t, TransportConfig{})
	rec, to := spawnRecorder(t, receiver, "rec")
	from := sender.RoleAddr("sender")

	hole, dead := blackhole(t), deadAddr(t)
	if c, err := gonet.DialTimeout("tcp", hole, 300*time.Millisecond); err == nil {
		c.Close()
		t.Fatal("the blackhole answered a dial; the test would prove nothing")
	}
	// The slow peers' writers get to work before the healthy peer's: a
	// transport that serialized them would then make the healthy peer wait.
	sender.send(from, actors.Addr(hole+"/x"), &wire.GetConfig{})
	sender.send(from, actors.Addr(dead+"/x"), &wire.GetConfig{})
	for wait := time.Now(); sender.transport.Dropped() == 0; { // until the dial to the dead peer fails
		if time.Since(wait) > healthyBound {
			t.Fatalf("a dial to a closed loopback port did not fail within %v", healthyBound)
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	begin := time.Now()
	sent := make(map[uint64]time.Time, n)
	for i := uint64(1); i <= n; i++ {
		// Every round, something for the blackhole and the dead peer first.
		sender.send(from, actors.Addr(hole+"/x"), &wire.Stage{Values: [][]byte{make([]byte, 64<<10)}})
		sender.send(from, actors.Addr(dead+"/x"), &wire.GetConfig{Id: i})
		sent[i] = time.Now()
		sender.send(from, to, &wire.GetConfig{Id: i})
		time.Sleep(2 * time.Millisecond)
	}
	deadline := time.After(healthyBound - time.Since(begin))
	var lat []time.Duration
	for len(lat) < n {
		select {
		case r := <-rec.got:
			lat = append(lat, r.at.Sub(sent[r.msg.(*wire.GetConfig).Id]))
		case <-deadline:
			t.Fatalf("only %d of %d messages to the healthy peer arrived within %v, while dials to a blackholed peer hang for %v: a slow peer holds up the others",
				len(lat), n, healthyBound, slowPeerWait)
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("all %d messages to the healthy peer arrived %v after the first; latency p50 %v, p99 %v, max %v",
		n, time.Since(begin).Round(time.Millisecond), lat[n/2], lat[n*99/100], lat[n-1])
}

// The largest allowed value (64 MiB) crosses intact.
func TestTransportLargestValueCrossesIntact(t *testing.T) {
	sender := newTestProcess(t, TransportConfig{})
	receiver := newTestProcess(t, TransportConfig{})
	rec, to := spawnRecorder(t, receiver, "rec")
	value := make([]byte, 64<<20)
	if _, err := rand.Read(value); err != nil {
		t.Fatal(err)
	}
	sender.send(sender.RoleAddr("s"), to, &wire.Stage{Op: &wire.OpID{Counter: 1}, Values: [][]byte{value}})
	select {
	case r := <-rec.got:
		got := r.msg.(*wire.Stage).Values[0]
		if !bytes.Equal(got, value) {
			t.Fatalf("value changed in transit: %d bytes arrived, digest %x vs %x", len(got), wire.Digest(got), wire.Digest(value))
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the 64 MiB value never arrived")
	}
	// One over the frame limit is refused by the sender, not sent.
	small := newTestProcess(t, TransportConfig{MaxFrameBytes: 1 << 20})
	small.send(small.RoleAddr("s"), to, &wire.Stage{Values: [][]byte{make([]byte, 2<<20)}})
	if small.transport.Dropped() != 1 {
		t.Fatalf("an over-limit frame was not refused (dropped=%d)", small.transport.Dropped())
	}
}

// Garbage on the cluster port closes that connection and harms nothing else.
func TestTransportGarbageClosesOnlyThatConnection(t *testing.T) {
	receiver := newTestProcess(t, TransportConfig{})
	sender := newTestProcess(t, TransportConfig{})
	rec, to := spawnRecorder(t, receiver, "rec")
	cases := map[string][]byte{
		"random bytes":        randomBytes(4096),
		"http request":        []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		"huge frame length":   append([]byte(preamble), 0xff, 0xff, 0xff, 0xff),
		"unknown type":        append([]byte(preamble), frameWithType("castkv.wire.Nope")...),
		"truncated header":    append([]byte(preamble), 0, 0, 0, 3, 200, 1, 2),
		"undecodable payload": append([]byte(preamble), frameWithPayload("castkv.wire.Config", []byte{0xff, 0xff, 0xff})...),
	}
	for name, garbage := range cases {
		t.Run(name, func(t *testing.T) {
			c, err := gonet.Dial("tcp", receiver.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.Write(garbage)
			_ = c.SetReadDeadline(time.Now().Add(12 * time.Second))
			if _, err := c.Read(make([]byte, 1)); err == nil {
				t.Fatal("the cluster port answered garbage instead of closing")
			}
			// A real peer still gets through.
			sender.send(sender.RoleAddr("s"), to, &wire.GetConfig{Id: 7})
			select {
			case r := <-rec.got:
				if r.msg.(*wire.GetConfig).Id != 7 {
					t.Fatalf("unexpected message %v", r.msg)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("a healthy peer's message did not arrive after the garbage")
			}
		})
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func frameWithType(name string) []byte { return frameWithPayload(name, nil) }

func frameWithPayload(name string, payload []byte) []byte {
	body := []byte{1, 'a', 3, 'r', 'e', 'c', byte(len(name))}
	body = append(body, name...)
	body = append(body, payload...)
	return append([]byte{0, 0, byte(len(body) >> 8), byte(len(body))}, body...)
}

func ExampleProcess() {
	p, _ := NewProcess(ProcessConfig{PeerAddr: "127.0.0.1:0", Logger: quietLogger()})
	defer p.Stop()
	fmt.Println(p.RoleAddr("data") != "")
	// Output: true
}
