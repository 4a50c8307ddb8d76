package net

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"castkv/actors"
	"castkv/actors/store"
	"castkv/actors/wire"
	"github.com/anthdm/hollywood/actor"
	"github.com/cockroachdb/pebble/v2"
)

// ProcessConfig configures one castkv process: one hollywood engine, one
// cluster address, any number of roles.
type ProcessConfig struct {
	// PeerAddr is the cluster address to listen on (host:port). Roles in
	// this process are PeerAddr/role.
	PeerAddr string
	// Transport settings; zero values take the defaults in TransportConfig.
	Transport TransportConfig
	// MaxPending bounds the messages queued for one role; beyond it
	// arriving messages are dropped (the protocol tolerates loss).
	MaxPending int64
	Logger     *slog.Logger
	// OnPanic runs when a role panics; the default logs and exits the
	// process (a restart recovers from disk). Do not rely on hollywood's
	// restarts (its issues #196 and #198).
	OnPanic func(role actors.Addr, v any, stack []byte)
	// Metrics counts each role's messages, handling time and fsyncs
	// (metrics.go); nil: none.
	Metrics *Metrics
}

// Process runs roles as hollywood actors and connects them to the other
// processes of the cluster.
type Process struct {
	cfg       ProcessConfig
	engine    *actor.Engine
	transport *Transport
	log       *slog.Logger

	mu    sync.Mutex
	roles map[string]*receiver
	pids  []*actor.PID
}

// delivery is what travels in hollywood's inboxes: a wire message and its
// sender's address.
type delivery struct {
	from actors.Addr
	msg  actors.Msg
}

// timerFired is a role's own timer coming due.
type timerFired struct{ id actors.TimerID }

// persisted is the role's syncer reporting writes through point durable.
type persisted struct{ point uint64 }

// NewProcess listens on cfg.PeerAddr and starts the engine.
func NewProcess(cfg ProcessConfig) (*Process, error) {
	if cfg.MaxPending == 0 {
		cfg.MaxPending = 100_000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	p := &Process{cfg: cfg, log: cfg.Logger, roles: map[string]*receiver{}}
	if cfg.OnPanic == nil {
		p.cfg.OnPanic = func(role actors.Addr, v any, stack []byte) {
			p.log.Error("role panicked; exiting so a restart recovers from disk", "role", role, "panic", fmt.Sprint(v), "stack", string(stack))
			os.Exit(70)
		}
	}
	cfg.Transport.Addr = cfg.PeerAddr
	tr, err := NewTransport(cfg.Transport, p.deliverRemote, cfg.Logger)
	if err != nil {
		return nil, err
	}
	p.transport = tr
	e, err := actor.NewEngine(actor.NewEngineConfig().WithRemote(tr))
	if err != nil {
		tr.Close()
		return nil, fmt.Errorf("start actor engine on %s: %w", cfg.PeerAddr, err)
	}
	p.engine = e
	return p, nil
}

// Addr is the process's cluster address (the actual one for port 0).
func (p *Process) Addr() string { return p.transport.Address() }

// RoleAddr names role in this process.
func (p *Process) RoleAddr(role string) actors.Addr { return actors.Addr(p.Addr() + "/" + role) }

// splitAddr turns "host:port/role" into a PID.
func splitAddr(a actors.Addr) (*actor.PID, error) {
	i := strings.LastIndexByte(string(a), '/')
	if i <= 0 || i == len(a)-1 {
		return nil, fmt.Errorf("address %q is not host:port/role", a)
	}
	return actor.NewPID(string(a[:i]), string(a[i+1:])), nil
}

// Spawn starts node as role, with db as its store (nil for stateless roles).
func (p *Process) Spawn(role string, node actors.Node, db *pebble.DB) actors.Addr {
	r := &receiver{p: p, node: node, labels: pprof.WithLabels(context.Background(), pprof.Labels("role", string(p.RoleAddr(role)))), env: &env{
		p: p, self: p.RoleAddr(role), timers: map[actors.TimerID]*timer{},
		log: p.log.With("role", role),
	}}
	var seed [16]byte
	_, _ = rand.Read(seed[:])
	r.env.rng = mrand.New(mrand.NewPCG(binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:])))
	// hollywood names the actor kind/id; knowing its PID before it starts
	// lets Start arm timers and lets messages arrive at once.
	r.env.pid = actor.NewPID(p.engine.Address(), role+"/main")
	if db != nil {
		engine, pid := p.engine, r.env.pid
		r.syncer = newSyncer(
			func(point uint64) { engine.SendLocal(pid, persisted{point: point}, nil) },
			func(err error) {
				// A failed fsync leaves no way to know what is on disk
				// (PostgreSQL's fsyncgate): stop, and recover on restart.
				r.p.cfg.OnPanic(r.env.self, fmt.Sprintf("sync failed: %v", err), nil)
			})
		if m := p.cfg.Metrics; m != nil {
			self := string(r.env.self)
			r.syncer.synced = func(took time.Duration) { m.synced(self, took) }
		}
		r.env.st = store.New(db, r.syncer.request)
		r.env.st.FlushLargeBatches()
		r.syncer.st = r.env.st
		go r.syncer.run()
	}
	p.mu.Lock()
	p.roles[role] = r
	p.pids = append(p.pids, r.env.pid)
	p.mu.Unlock()
	if pid := p.engine.Spawn(func() actor.Receiver { return r }, role, actor.WithID("main"), actor.WithInboxSize(1024)); !pid.Equals(r.env.pid) {
		panic(fmt.Sprintf("net: hollywood named role %s %v, expected %v", role, pid, r.env.pid))
	}
	return r.env.self
}

// deliverRemote hands a message that arrived over TCP to a local role.
func (p *Process) deliverRemote(to string, from actors.Addr, msg actors.Msg) {
	p.mu.Lock()
	r := p.roles[to]
	p.mu.Unlock()
	if r == nil {
		p.log.Debug("message for unknown role dropped", "to", to, "from", from)
		return
	}
	r.enqueue(delivery{from: from, msg: msg})
}

// send routes a message from a local role or sink.
func (p *Process) send(from, to actors.Addr, m actors.Msg) {
	pid, err := splitAddr(to)
	if err != nil {
		p.log.Warn("dropping message to a malformed address", "to", to, "err", err)
		return
	}
	if pid.Address == p.Addr() {
		p.mu.Lock()
		r := p.roles[pid.ID]
		p.mu.Unlock()
		if r != nil {
			r.enqueue(delivery{from: from, msg: m})
		}
		return
	}
	p.engine.SendWithSender(pid, delivery{from: from, msg: m}, nil)
}

// stopWait bounds how long Stop waits for a role to finish the message it
// is handling; queued messages are not handled (the network may lose them).
const stopWait = 5 * time.Second

// Stop stops every role and then the transport.
func (p *Process) Stop() {
	p.mu.Lock()
	pids := append([]*actor.PID(nil), p.pids...)
	roles := make([]*receiver, 0, len(p.roles))
	for _, r := range p.roles {
		roles = append(roles, r)
	}
	p.mu.Unlock()
	for _, r := range roles {
		r.stopped.Store(true) // drop whatever arrives from now on
	}
	for _, pid := range pids {
		select {
		case <-p.engine.Stop(pid).Done():
		case <-time.After(stopWait):
			p.log.Warn("role did not stop in time; closing anyway", "role", pid.ID, "waited", stopWait)
		}
	}
	p.transport.Close()
}

// receiver adapts a role to hollywood's actor.Receiver.
type receiver struct {
	p       *Process
	node    actors.Node
	env     *env
	pending atomic.Int64
	stopped atomic.Bool
	syncer  *syncer // nil for a role without a store
	labels  context.Context
}

func (r *receiver) enqueue(d delivery) {
	if r.stopped.Load() {
		return
	}
	if r.pending.Add(1) > r.p.cfg.MaxPending {
		r.pending.Add(-1)
		r.p.log.Warn("role inbox full; dropping message", "role", r.env.self, "from", d.from, "limit", r.p.cfg.MaxPending)
		return
	}
	r.p.engine.SendLocal(r.env.pid, d, nil)
}

// Receive runs on the actor's goroutine: one message at a time.
func (r *receiver) Receive(c *actor.Context) {
	// Profiles (castd --pprof) show each role's CPU under its own label.
	pprof.SetGoroutineLabels(r.labels)
	defer func() {
		if v := recover(); v != nil {
			r.p.cfg.OnPanic(r.env.self, v, debug.Stack())
		}
	}()
	switch m := c.Message().(type) {
	case actor.Started:
		r.node.Start(r.env)
	case delivery:
		r.pending.Add(-1)
		if r.stopped.Load() {
			return // stopping: queued messages are dropped, not handled
		}
		r.handle(m.from, m.msg)
	case persisted:
		if !r.stopped.Load() {
			r.handle(r.env.self, &wire.Persisted{Point: m.point})
		}
	case timerFired:
		if t, ok := r.env.timers[m.id]; ok { // not cancelled meanwhile
			delete(r.env.timers, m.id)
			r.handle(r.env.self, t.msg)
		}
	case actor.Stopped:
		r.stopped.Store(true)
		if r.syncer != nil {
			r.syncer.stop()
		}
		for _, t := range r.env.timers {
			t.t.Stop()
		}
		// A snapshot the role was streaming when it stopped: pebble
		// refuses to close with one open.
		if r.env.st != nil {
			if n, err := r.env.st.CloseReaders(); n > 0 || err != nil {
				r.env.log.Debug("closed the snapshot readers the role left open", "readers", n, "err", err)
			}
		}
	}
}

// handle runs the role on one message, timed for the metrics.
func (r *receiver) handle(from actors.Addr, msg actors.Msg) {
	if r.p.cfg.Metrics == nil {
		r.node.Handle(r.env, from, msg)
		return
	}
	begin := time.Now()
	r.node.Handle(r.env, from, msg)
	r.p.cfg.Metrics.roleHandled(string(r.env.self), msg, time.Since(begin))
}

// env is the production Env: wall clock, real timers, TCP, pebble on disk.
type env struct {
	p         *Process
	self      actors.Addr
	pid       *actor.PID
	st        *store.Store
	rng       *mrand.Rand
	log       *slog.Logger
	nextTimer actors.TimerID
	timers    map[actors.TimerID]*timer // touched only on the actor's goroutine
}

type timer struct {
	t   *time.Timer
	msg actors.Msg
}

func (e *env) Self() actors.Addr                 { return e.self }
func (e *env) Now() time.Time                    { return time.Now() }
func (e *env) Send(to actors.Addr, m actors.Msg) { e.p.send(e.self, to, m) }
func (e *env) Rand() *mrand.Rand                 { return e.rng }
func (e *env) Store() *store.Store               { return e.st }
func (e *env) Log() *slog.Logger                 { return e.log }

// After arms a timer whose firing comes back through the actor's inbox,
// so the role still handles one message at a time.
func (e *env) After(d time.Duration, m actors.Msg) actors.TimerID {
	e.nextTimer++
	id := e.nextTimer
	engine, pid := e.p.engine, e.pid
	e.timers[id] = &timer{msg: m, t: time.AfterFunc(d, func() { engine.SendLocal(pid, timerFired{id: id}, nil) })}
	return id
}

func (e *env) Cancel(id actors.TimerID) {
	if t, ok := e.timers[id]; ok {
		t.t.Stop()
		delete(e.timers, id)
	}
}
