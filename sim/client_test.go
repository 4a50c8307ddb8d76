package sim

import (
	"testing"
	"time"

	"castkv/actors/wire"
)

// Hole 13: timers are told apart by kind, never by id: the timeout of
// request 1 must time request 1 out, not be taken for "think, then issue
// the next command" (which would drop request 1 from the history).
func TestClientTimeoutOfRequestOneIsATimeout(t *testing.T) {
	r := newRunner(Options{Seed: 1, Duration: time.Second, Clients: 1, Faults: FaultSet{}})
	for _, m := range r.w.machines {
		m.start()
	}
	c := r.clients[0]
	for c.pending == nil || c.pending.id != 1 {
		if !r.w.step(time.Second) {
			t.Fatal("client 1 issued no request")
		}
	}
	c.Handle(c.env, c.env.Self(), &wire.Tick{Kind: wire.Tick_EXPIRE, Id: 1})
	if c.pending != nil && c.pending.id != 1 {
		t.Fatalf("request 1's timeout issued request %d instead", c.pending.id)
	}
	if len(r.history) != 1 || !r.history[0].Unknown {
		t.Fatalf("history %v: want request 1 recorded with an unknown outcome", r.history)
	}
}
