package net

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	gonet "net"
	"strings"
	"testing"

	"castkv/actors/command"
	"castkv/actors/wire"
)

// BenchmarkTransport sends small messages from one process to a role in
// another over the TCP transport and waits for all of them.
func BenchmarkTransport(b *testing.B) {
	sender, err := NewProcess(ProcessConfig{PeerAddr: "127.0.0.1:0", Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer sender.Stop()
	receiver, err := NewProcess(ProcessConfig{PeerAddr: "127.0.0.1:0", Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer receiver.Stop()
	rec := &recorder{got: make(chan received, 1<<20)}
	to := receiver.Spawn("rec", rec, nil)
	from := sender.RoleAddr("s")
	msg := &wire.Commit{Op: &wire.OpID{Counter: 1}, Command: &wire.Command{Kind: 2, Name: "set", Keys: [][]byte{[]byte("key:000001")}, Values: [][]byte{make([]byte, 64)}}}
	b.ResetTimer()
	got := 0
	for i := 0; i < b.N; i++ {
		sender.send(from, to, msg)
		// Stay within the bounded queue: wait now and then.
		if i%4096 == 4095 {
			for got < i-2048 {
				<-rec.got
				got++
			}
		}
	}
	for got < b.N {
		<-rec.got
		got++
	}
}

// BenchmarkRESPPipeline measures the client port alone: one connection
// sends GETs 16 at a time (redis-benchmark -P 16) to a Gateway that
// answers at once, on a goroutine of its own, as the API gateway does.
func BenchmarkRESPPipeline(b *testing.B) {
	gw := GatewayFunc(func(_ context.Context, args [][]byte) (*wire.Reply, error) { return command.Bulk(args[1]), nil })
	s, err := ListenRESP(RESPConfig{Addr: "127.0.0.1:0", Gateway: gw, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	conn, err := gonet.Dial("tcp", s.Addr())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	const depth = 16
	batch := []byte(strings.Repeat(respArray("GET", "key:000000000001"), depth))
	want := len(respBulk("key:000000000001")) * depth
	rd := bufio.NewReaderSize(conn, 64<<10)
	got := make([]byte, want)
	b.SetBytes(int64(len(batch)) / depth)
	b.ResetTimer()
	for i := 0; i < b.N; i += depth {
		if _, err := conn.Write(batch); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(rd, got); err != nil {
			b.Fatal(err)
		}
	}
}
