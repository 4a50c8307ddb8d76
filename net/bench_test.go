package net

import (
	"testing"

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
