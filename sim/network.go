package sim

import (
	"fmt"
	"time"

	"castkv/actors"
	"castkv/actors/wire"
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
	// lateP: probability that a message between servers waits in its
	// sender's queue while the receiver is down (up to lateHold) and
	// reaches the receiver's next incarnation.
	lateP         float64
	lateHold      time.Duration
	lateReconnect time.Duration
	// queues: links whose sender held messages for a receiver that went
	// down. Once the receiver is back, the sender reconnects at a drawn
	// time; its held messages, then its new ones, go out then.
	queues map[link]*senderQueue

	// onSend lets protocol-timed faults watch the messages servers send
	// and hold one back: it returns extra delay for msg, or taken when the
	// fault took msg to deliver it itself (see inject).
	onSend func(from *machine, to actors.Addr, msg actors.Msg) (extra time.Duration, taken bool)
	// onOrphan lets them take a message that arrives for a receiver
	// incarnation that crashed; true means taken.
	onOrphan func(e *event, m *machine) bool

	blocked map[link]bool                 // from -> to dropped
	clogged map[actors.Addr]time.Duration // node -> virtual time its messages are held until
	marshal proto.MarshalOptions
}

type link struct{ from, to actors.Addr }

func newNetwork(w *world) *network {
	return &network{
		w: w, blocked: map[link]bool{}, clogged: map[actors.Addr]time.Duration{},
		queues:  map[link]*senderQueue{},
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
	if _, ok := msg.(*wire.RemoveReplica); ok {
		from.removeAskedAt, from.askedRemove = w.now, true
	}
	copies := 1
	var extra time.Duration
	late := false
	if !clientLink {
		if n.onSend != nil {
			var taken bool
			if extra, taken = n.onSend(from, to, msg); taken {
				return
			}
		}
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
		// A message held back on purpose is in flight, not in its
		// sender's queue: it outlives its sender's restart.
		late = n.lateP > 0 && w.rng.Float64() < n.lateP && extra == 0
	}
	// A handler that stalled or waited on a slow fsync sends late.
	depart := w.now + from.busy() + extra
	name := msg.ProtoReflect().Descriptor().FullName()
	// A sender still reconnecting to a restarted receiver queues new
	// messages behind the ones it held.
	if q := n.queues[link{from.addr, to}]; q != nil && target.up && q.fromIncarn == from.incarnation {
		depart = max(depart, n.reconnect(q, target))
	}
	for i := 0; i < copies; i++ {
		delay := n.latency + time.Duration(w.rng.Int64N(int64(n.jitter)+1))
		if !clientLink && n.slowP > 0 && w.rng.Float64() < n.slowP {
			w.faults[FaultDelay]++
			delay += time.Duration(w.rng.Int64N(int64(n.slowMax) + 1))
		}
		at := depart + delay
		if !clientLink {
			at = max(at, n.clogEnd(from.addr)+delay, n.clogEnd(to)+delay)
		}
		e := &event{at: at, kind: evDeliver, from: from.addr, to: to, incarn: target.incarnation, msgName: name, data: data}
		if late {
			e.late, e.fromIncarn, e.holdUntil = true, from.incarnation, at+n.lateHold
		}
		w.schedule(e)
	}
}

// inject delivers msg, which from sent in its incarnation fromIncarn and a
// fault held back, to the current incarnation of to, after the link's
// latency: a message a sender's queue kept across the receiver's restart.
// It is lost if its sender crashed since (the queue died with it) or the
// receiver is down.
func (n *network) inject(from *machine, fromIncarn uint64, to actors.Addr, msg actors.Msg) {
	w := n.w
	target := w.byAddr[to]
	if target == nil || !target.up || !from.up || from.incarnation != fromIncarn {
		return
	}
	data, err := n.marshal.Marshal(msg)
	if err != nil {
		panic(fmt.Sprintf("sim: encode %T: %v", msg, err))
	}
	w.faults[FaultLate]++
	w.schedule(&event{at: w.now + n.latency, kind: evDeliver, from: from.addr, to: to, incarn: target.incarnation,
		msgName: msg.ProtoReflect().Descriptor().FullName(), data: data})
}

// deliverAt delivers msg from from's current incarnation to to at time at
// (plus the link's latency), as a message the network held back: timed
// faults use it to hold back one message of a batch (timed.txnStep).
func (n *network) deliverAt(from *machine, to actors.Addr, msg actors.Msg, at time.Duration) {
	w := n.w
	incarn := from.incarnation
	w.at(at, func() {
		target := w.byAddr[to]
		if target == nil || !target.up || !from.up || from.incarnation != incarn {
			return
		}
		data, err := n.marshal.Marshal(msg)
		if err != nil {
			panic(fmt.Sprintf("sim: encode %T: %v", msg, err))
		}
		w.schedule(&event{at: w.now + n.latency, kind: evDeliver, from: from.addr, to: to, incarn: target.incarnation,
			msgName: msg.ProtoReflect().Descriptor().FullName(), data: data})
	})
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
	n.loss, n.dup, n.slowP, n.lateP = 0, 0, 0, 0
	clear(n.queues)
}

// lateRetry is how often a sender's queue tries a receiver that is down.
const lateRetry = 50 * time.Millisecond

// senderQueue is a sender's queue to one receiver that restarted.
type senderQueue struct {
	fromIncarn uint64        // the sender's incarnation: the queue dies with it
	incarn     uint64        // the receiver incarnation it reconnects to
	connected  time.Duration // when it reconnects to incarn
}

// reconnect is when q's sender reaches m's current incarnation: drawn at
// the first message for that incarnation, within lateReconnect. A late
// reconnect makes replies to a previous incarnation arrive after the new
// one sent requests of its own (whose ids may be the same).
func (n *network) reconnect(q *senderQueue, m *machine) time.Duration {
	if q.incarn != m.incarnation {
		q.incarn = m.incarnation
		q.connected = n.w.now + time.Duration(n.w.rng.Int64N(int64(n.lateReconnect)+1))
	}
	return q.connected
}

// redeliver decides the fate of a message whose receiver crashed since it
// was sent (m is down, or up in a later incarnation). A late message sits
// in its sender's queue: it waits while m is down and reaches m's next
// incarnation once its sender reconnects, unless its sender crashed (the
// queue died with it) or it waited past its hold. True means deliver it
// now.
func (n *network) redeliver(e *event, m *machine) bool {
	w := n.w
	if n.onOrphan != nil && n.onOrphan(e, m) {
		return false
	}
	if !e.late || w.now > e.holdUntil || m.lost {
		return false // a machine lost for good never takes it: its sender gives up
	}
	if from := w.byAddr[e.from]; from == nil || !from.up || from.incarnation != e.fromIncarn {
		return false
	}
	l := link{e.from, e.to}
	q := n.queues[l]
	if q == nil || q.fromIncarn != e.fromIncarn {
		q = &senderQueue{fromIncarn: e.fromIncarn, incarn: e.incarn}
		n.queues[l] = q
	}
	retry := w.now + lateRetry
	if m.up {
		retry = n.reconnect(q, m)
	}
	if w.now < retry {
		e2 := *e
		e2.at = retry
		w.schedule(&e2)
		return false
	}
	w.faults[FaultLate]++
	return true
}
