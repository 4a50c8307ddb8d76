package actors

import (
	"log/slog"
	"math/rand/v2"
	"time"

	"castkv/actors/store"
	"google.golang.org/protobuf/proto"
)

// Addr names a role instance: "meta", "data1", "api2" in the simulator, a
// host:port/role in production.
type Addr string

// Msg is any message of the wire schema (castkv/actors/wire).
type Msg = proto.Message

// TimerID names a pending timer so it can be cancelled.
type TimerID uint64

// Node is one role instance: a deterministic state machine. Start runs after
// boot and after every restart, with state recovered from env.Store(); Handle
// runs for each delivered message or fired timer, one at a time.
type Node interface {
	Start(env Env)
	Handle(env Env, from Addr, m Msg)
}

// Env is everything a role may touch outside its own memory. The simulator
// and the production runtime (net/) each implement it.
type Env interface {
	Self() Addr
	// Now is this node's clock. It is monotonic but may run fast or slow by
	// up to the drift bound the lease protocol assumes.
	Now() time.Time
	// Send may lose, duplicate, delay or reorder m.
	Send(to Addr, m Msg)
	// After delivers m to this node (from Self) after d on its own clock.
	After(d time.Duration, m Msg) TimerID
	Cancel(id TimerID)
	// Rand is seeded; the simulator derives it from the run's seed.
	Rand() *rand.Rand
	// Store is this node's storage: one per incarnation, nil for a role
	// without state. Writes are visible at once and durable only once the
	// runtime answers a Persist with a wire.Persisted message (or, for rare
	// records, after WriteSync returns); a crash loses the rest.
	Store() *store.Store
	Log() *slog.Logger
}
