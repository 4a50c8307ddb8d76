package sim

import (
	"fmt"
	"time"

	"castkv/actors"
	"google.golang.org/protobuf/proto"
)

// network decides each message's fate: lost, delayed, duplicated, held by
// a partition or a clog. Links to and from clients only see latency: a
// client's host is the API server's neighbour, and the checker's job is the
// cluster, not the client's LAN.
type network struct {
	w *world

	latency, jitter time.Duration
	loss, dup       float64 // probabilities while the fault phase runs
	slowP           float64 // probability of a long delay (reordering)
	slowMax         time.Duration

	blocked map[link]bool                 // from -> to dropped
	clogged map[actors.Addr]time.Duration // node -> virtual time its messages are held until
	marshal proto.MarshalOptions
}

type link struct{ from, to actors.Addr }

func newNetwork(w *world) *network {
	return &network{
		w: w, blocked: map[link]bool{}, clogged: map[actors.Addr]time.Duration{},
		marshal: proto.MarshalOptions{Deterministic: true},
	}
}

func (n *network) send(from *machine, to actors.Addr, msg actors.Msg) {
	w := n.w
	target := w.byAddr[to]
	if target == nil {
		return // no such address: like a connection refused
	}
	data, err := n.marshal.Marshal(msg)
	if err != nil {
		panic(fmt.Sprintf("sim: encode %T: %v", msg, err))
	}
	clientLink := from.kind == "client" || target.kind == "client"
	copies := 1
	if !clientLink {
		if n.blocked[link{from.addr, to}] {
			return
		}
		if n.loss > 0 && w.rng.Float64() < n.loss {
			w.faults[FaultLoss]++
			return
		}
		if n.dup > 0 && w.rng.Float64() < n.dup {
			w.faults[FaultDuplicate]++
			copies = 2
		}
	}
	name := msg.ProtoReflect().Descriptor().FullName()
	for i := 0; i < copies; i++ {
		delay := n.latency + time.Duration(w.rng.Int64N(int64(n.jitter)+1))
		if !clientLink && n.slowP > 0 && w.rng.Float64() < n.slowP {
			w.faults[FaultDelay]++
			delay += time.Duration(w.rng.Int64N(int64(n.slowMax) + 1))
		}
		at := w.now + delay
		if !clientLink {
			at = max(at, n.clogEnd(from.addr)+delay, n.clogEnd(to)+delay)
		}
		w.schedule(&event{at: at, kind: evDeliver, from: from.addr, to: to, incarn: target.incarnation, msgName: name, data: data})
	}
}

// clogEnd is when a clog on a reaches its end (0 if none).
func (n *network) clogEnd(a actors.Addr) time.Duration {
	d, ok := n.clogged[a]
	if !ok {
		return 0
	}
	if d <= n.w.now {
		delete(n.clogged, a)
		return 0
	}
	return d
}

func (n *network) heal() {
	clear(n.blocked)
	clear(n.clogged)
	n.loss, n.dup, n.slowP = 0, 0, 0
}
