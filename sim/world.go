package sim

import (
	"container/heap"
	"encoding/binary"
	"fmt"
	"hash"
	"log/slog"
	"math/rand/v2"
	"time"

	"castkv/actors"
	"castkv/actors/store"
	"github.com/cespare/xxhash/v2"
	"github.com/cockroachdb/pebble/v2"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// epoch is virtual time zero on every node's clock.
var epoch = time.Unix(1_700_000_000, 0)

// world is the simulated cluster: machines, the network and the event heap.
type world struct {
	rng    *rand.Rand
	now    time.Duration // virtual time
	seq    uint64
	events eventHeap

	machines []*machine // in creation order; iteration order is fixed
	byAddr   map[actors.Addr]*machine
	net      *network
	syncMax  time.Duration // a sync takes U[syncMax/4, syncMax] (disk.go)
	// onPersist sees every sync a machine starts, which takes d (timed).
	onPersist func(m *machine, d time.Duration)

	trace     hash.Hash64
	delivered int
	faults    map[string]int
	logs      *logRing
	// oracle checks global safety after every step (nil: not checked).
	oracle  *oracles
	current *event // the event being run
	// panics: a role panicked (an invariant broke, or pebble's Fatalf); the
	// machine crashed as if it lost power, and the run fails.
	panics []string
}

type eventKind uint8

const (
	evDeliver eventKind = iota
	evTimer
	evAction
)

type event struct {
	at   time.Duration
	seq  uint64
	kind eventKind

	to, from actors.Addr
	incarn   uint64 // deliver/timer: the machine incarnation it was meant for
	msgName  protoreflect.FullName
	data     []byte
	timer    actors.TimerID
	timerMsg actors.Msg
	action   func()

	// late: the message waits in its sender's queue if the receiver
	// restarts, until holdUntil, unless the sender (then in fromIncarn)
	// restarts first. See network.redeliver.
	late       bool
	fromIncarn uint64
	holdUntil  time.Duration
}

type eventHeap []*event

func (h eventHeap) Len() int { return len(h) }
func (h eventHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}
func (h eventHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)   { *h = append(*h, x.(*event)) }
func (h *eventHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

func (w *world) schedule(e *event) {
	w.seq++
	e.seq = w.seq
	heap.Push(&w.events, e)
}

// at runs fn at virtual time t.
func (w *world) at(t time.Duration, fn func()) {
	w.schedule(&event{at: t, kind: evAction, action: fn})
}

// step runs the next event; false when none is left before limit.
func (w *world) step(limit time.Duration) bool {
	if len(w.events) == 0 || w.events[0].at > limit {
		return false
	}
	e := heap.Pop(&w.events).(*event)
	w.now = e.at
	w.current = e
	switch e.kind {
	case evAction:
		e.action()
	case evDeliver:
		w.deliver(e)
	case evTimer:
		w.fire(e)
	}
	if w.oracle != nil {
		w.oracle.afterStep(e)
	}
	return true
}

// hashEvent folds one delivered event into the trace.
func (w *world) hashEvent(e *event, data []byte) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(e.at))
	w.trace.Write(b[:])
	w.trace.Write([]byte(e.from))
	w.trace.Write([]byte{0})
	w.trace.Write([]byte(e.to))
	w.trace.Write([]byte{0})
	w.trace.Write([]byte(e.msgName))
	w.trace.Write(data)
	w.delivered++
}

func (w *world) deliver(e *event) {
	m := w.byAddr[e.to]
	if m == nil {
		return
	}
	if !m.up || m.incarnation != e.incarn && e.incarn != 0 {
		if !w.net.redeliver(e, m) {
			return
		}
		e.incarn = m.incarnation
	}
	if w.now < m.pausedUntil {
		// A paused process reads nothing; its messages wait in the socket.
		e2 := *e
		e2.at = m.pausedUntil
		w.schedule(&e2)
		return
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(e.msgName)
	if err != nil {
		panic(fmt.Sprintf("sim: unknown message type %s", e.msgName))
	}
	msg := mt.New().Interface()
	if err := proto.Unmarshal(e.data, msg); err != nil {
		panic(fmt.Sprintf("sim: decode %s: %v", e.msgName, err))
	}
	w.hashEvent(e, e.data)
	m.handle(e.from, msg)
}

func (w *world) fire(e *event) {
	m := w.byAddr[e.to]
	if m == nil || !m.up || m.incarnation != e.incarn || !m.timers[e.timer] {
		return
	}
	if w.now < m.pausedUntil {
		e2 := *e
		e2.at = m.pausedUntil
		w.schedule(&e2)
		return
	}
	delete(m.timers, e.timer)
	w.hashEvent(e, nil)
	m.handle(e.to, e.timerMsg)
}

// machine hosts one role instance and its disk.
type machine struct {
	lost bool // FaultMachineLoss: down for good, never restarts
	// joinAt: a data server joining the running cluster starts no sooner
	// (FaultMembership).
	joinAt time.Duration
	w      *world
	addr   actors.Addr
	kind   string // meta, data, api, client, admin
	make   func() actors.Node
	node   actors.Node
	// removeAskedAt: when it last sent meta a RemoveReplica (virtual time).
	removeAskedAt time.Duration
	askedRemove   bool

	up          bool
	incarnation uint64
	pausedUntil time.Duration
	rng         *rand.Rand
	// clock: node time = epoch + offset + rate·virtual
	rate   float64
	offset time.Duration

	fs *memFS
	db *pebble.DB
	st *store.Store // over db, one per incarnation
	// disk: a slow fsync and stalls keep the machine busy (disk.go)
	disk diskState

	timers    map[actors.TimerID]bool
	nextTimer actors.TimerID
	log       *slog.Logger
}

func (m *machine) clock() time.Time {
	return epoch.Add(m.offset + time.Duration(float64(m.w.now)*m.rate))
}

// start boots (or reboots) the machine from what its disk holds.
func (m *machine) start() {
	if m.lost {
		return // lost for good (FaultMachineLoss)
	}
	if m.w.now < m.joinAt {
		return // joins the cluster later (FaultMembership)
	}
	m.incarnation++
	m.up = true
	m.timers = map[actors.TimerID]bool{}
	if m.kind != "client" && m.kind != "admin" {
		db, err := pebble.Open("db", storeOptions(m.fs))
		if err != nil {
			panic(fmt.Sprintf("sim: open pebble on %s: %v", m.addr, err))
		}
		m.db = db
		m.st = store.New(db, m.persist)
		m.st.OnSync(func() { m.disk.syncs++ })
	}
	m.disk.persistArmed = false
	m.node = m.make()
	m.beginHandler(nil)
	m.guard(func() { m.node.Start(m) })
	m.endHandler()
}

// crash loses power: only synced data survives, timers and messages in
// flight to this incarnation are gone.
func (m *machine) crash() {
	if !m.up {
		return
	}
	m.up = false
	m.pausedUntil = 0
	m.disk.stallNext = 0
	if m.db != nil {
		synced := m.fs.crash()
		old := m.db
		if m.disk.persistArmed {
			m.w.faults[CountCrashUnsynced]++ // writes were waiting for their sync
		}
		m.db, m.st = nil, nil
		_ = old.Close() // the old filesystem is thrown away; errors do not matter
		m.fs = synced
	}
	m.node = nil
}

func (m *machine) handle(from actors.Addr, msg actors.Msg) {
	m.beginHandler(msg)
	m.guard(func() { m.node.Handle(m, from, msg) })
	m.endHandler()
}

// guard turns a panic inside a role into a crash of its machine, as the
// production runtime turns it into a process exit. Invariant violations
// are reported by the run as failures.
func (m *machine) guard(fn func()) {
	defer func() {
		if p := recover(); p != nil {
			m.w.panics = append(m.w.panics, fmt.Sprintf("%s at %v: %v", m.addr, m.w.now, p))
			m.crash()
		}
	}()
	fn()
}

// Env implementation.

func (m *machine) Self() actors.Addr   { return m.addr }
func (m *machine) Now() time.Time      { return m.clock() }
func (m *machine) Rand() *rand.Rand    { return m.rng }
func (m *machine) Store() *store.Store { return m.st }
func (m *machine) Log() *slog.Logger   { return m.log }

func (m *machine) Send(to actors.Addr, msg actors.Msg) {
	if m.w.oracle != nil {
		m.w.oracle.sent(m, to, msg)
	}
	if m.kind == "api" && asksAbort(msg) {
		m.w.faults[CountAbort]++
	}
	m.w.net.send(m, to, msg)
}

func (m *machine) After(d time.Duration, msg actors.Msg) actors.TimerID {
	m.nextTimer++
	id := m.nextTimer
	m.timers[id] = true
	// The node's clock runs at rate; d on it is d/rate of virtual time.
	virtual := time.Duration(float64(d) / m.rate)
	m.w.schedule(&event{
		at: m.w.now + virtual, kind: evTimer, to: m.addr, from: m.addr,
		incarn: m.incarnation, timer: id, timerMsg: msg,
		msgName: msg.ProtoReflect().Descriptor().FullName(),
	})
	return id
}

func (m *machine) Cancel(id actors.TimerID) { delete(m.timers, id) }

// newTrace hashes with xxhash: it runs over every delivered byte, values
// of several MiB included, where FNV took a tenth of the simulator's time.
func newTrace() hash.Hash64 { return xxhash.New() }
