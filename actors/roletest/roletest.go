// Package roletest drives one role by hand, the way etcd's raft_paper_test
// drives the bare raft state machine: a test hands it messages, advances its
// clock, fires its timers and reads what it sent. Storage is real pebble on
// a crashable in-memory filesystem, so a test can cut the power and restart
// the role from exactly what it synced.
package roletest

import (
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"time"

	"castkv/actors"
	"castkv/actors/store"
	"castkv/actors/wire"
	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Epoch is every Env's clock at creation.
var Epoch = time.Unix(1_700_000_000, 0)

// Sent is one message the role sent.
type Sent struct {
	To  actors.Addr
	Msg actors.Msg
}

type timer struct {
	id  actors.TimerID
	at  time.Time
	msg actors.Msg
}

// Env is an actors.Env under a test's control. It is not safe for
// concurrent use; a test is one goroutine, like a role.
type Env struct {
	self actors.Addr
	now  time.Time
	rng  *rand.Rand
	fs   *vfs.MemFS
	db   *pebble.DB
	st   *store.Store
	log  *slog.Logger
	// persistAsked is the highest point the role asked to persist that
	// no Persist delivered yet (0 = none).
	persistAsked uint64
	sent         []Sent
	timers       []timer
	nextID       actors.TimerID
}

// New returns an Env for self with an empty disk.
func New(self actors.Addr, seed uint64) *Env {
	e := &Env{self: self, now: Epoch, rng: rand.New(rand.NewPCG(seed, seed^0x5bd1e995)), fs: vfs.NewCrashableMem()}
	e.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	e.open()
	return e
}

func (e *Env) open() {
	db, err := pebble.Open("db", store.Options(e.fs, store.SimMemTableBytes, nil))
	if err != nil {
		panic(fmt.Sprintf("roletest: open pebble: %v", err))
	}
	e.db = db
	e.st = store.New(db, func(point uint64) { e.persistAsked = max(e.persistAsked, point) })
	e.persistAsked = 0
}

// PersistAsked reports whether the role asked for durability that no
// Persist has answered yet.
func (e *Env) PersistAsked() bool { return e.persistAsked > 0 }

// Persist does what the runtime does for a role that asked for
// durability: sync every write so far, then deliver a wire.Persisted
// naming the point it covers. It does nothing if nothing was asked.
func (e *Env) Persist(n actors.Node) {
	if e.persistAsked == 0 {
		return
	}
	point, err := e.st.SyncWritten()
	if err != nil {
		panic(fmt.Sprintf("roletest: sync: %v", err))
	}
	e.persistAsked = 0
	n.Handle(e, e.self, &wire.Persisted{Point: point})
}

// Settle fires due timers and answers persistence requests until neither
// is left: the role's effects at this instant, with a disk that syncs at
// once.
func (e *Env) Settle(n actors.Node) {
	for {
		e.FireDue(n)
		if !e.PersistAsked() {
			return
		}
		e.Persist(n)
	}
}

// Crash loses power: only what was synced survives; timers and unread
// messages are gone. The clock keeps its time. Start the role again on the
// same Env to restart it.
func (e *Env) Crash() {
	synced := e.fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0})
	_ = e.db.Close() // the old filesystem is thrown away
	e.fs = synced
	e.sent, e.timers = nil, nil
	e.open()
}

// Close releases the store.
func (e *Env) Close() { _ = e.db.Close() }

// Advance moves the clock on by d without firing timers.
func (e *Env) Advance(d time.Duration) { e.now = e.now.Add(d) }

// Take returns what the role sent since the last Take, and forgets it.
func (e *Env) Take() []Sent {
	out := e.sent
	e.sent = nil
	return out
}

// FireDue delivers to n every timer due by now, earliest first, including
// timers those handlers set that are due too.
func (e *Env) FireDue(n actors.Node) {
	for {
		i := slices.IndexFunc(e.timers, func(t timer) bool { return !t.at.After(e.now) })
		if i < 0 {
			return
		}
		for j, t := range e.timers {
			if !t.at.After(e.now) && t.at.Before(e.timers[i].at) {
				i = j
			}
		}
		t := e.timers[i]
		e.timers = slices.Delete(e.timers, i, i+1)
		n.Handle(e, e.self, t.msg)
	}
}

// Step advances the clock by d in increments of at most tick, firing the
// timers due and answering persistence requests at each increment (Settle).
func (e *Env) Step(n actors.Node, d, tick time.Duration) {
	for d > 0 {
		s := min(d, tick)
		e.Advance(s)
		d -= s
		e.Settle(n)
	}
}

// actors.Env

func (e *Env) Self() actors.Addr                 { return e.self }
func (e *Env) Now() time.Time                    { return e.now }
func (e *Env) Send(to actors.Addr, m actors.Msg) { e.sent = append(e.sent, Sent{to, m}) }
func (e *Env) Rand() *rand.Rand                  { return e.rng }
func (e *Env) Store() *store.Store               { return e.st }
func (e *Env) Log() *slog.Logger                 { return e.log }

// LogTo sends the role's log to w from now on (text, every level), for a
// test that checks what the role tells an operator.
func (e *Env) LogTo(w io.Writer) {
	e.log = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
func (e *Env) Cancel(id actors.TimerID) {
	e.timers = slices.DeleteFunc(e.timers, func(t timer) bool { return t.id == id })
}
func (e *Env) After(d time.Duration, m actors.Msg) actors.TimerID {
	e.nextID++
	e.timers = append(e.timers, timer{id: e.nextID, at: e.now.Add(d), msg: m})
	return e.nextID
}

// Of returns the messages of type T in sent, in order. The requests in a
// wire.Requests and the replies in a wire.Replies count as sent one by
// one: batching them is the role's way of sending, not what it sends.
func Of[T actors.Msg](sent []Sent) []T {
	var out []T
	add := func(m actors.Msg) {
		if m, ok := m.(T); ok {
			out = append(out, m)
		}
	}
	for _, s := range sent {
		add(s.Msg)
		switch b := s.Msg.(type) {
		case *wire.Replies:
			for _, r := range b.CommitReplies {
				add(r)
			}
			for _, r := range b.ReadReplies {
				add(r)
			}
		case *wire.Requests:
			for _, r := range b.Commits {
				add(r)
			}
			for _, r := range b.Reads {
				add(r)
			}
		}
	}
	return out
}
