package net

import (
	"context"
	"sync"

	"castkv/actors"
	"castkv/actors/wire"
)

// Gateway hands client commands to an API actor. It is asynchronous so
// that one connection can have many commands at the cluster at once
// (pipelining); the RESP port, not the Gateway, puts the replies back in
// request order.
type Gateway interface {
	// Send starts args on their way and returns without waiting. done is
	// called exactly once, with the reply or with an error; at the latest
	// promptly after ctx ends, with ctx's error. done may run on any
	// goroutine, before Send returns included, and must not block. The
	// Gateway may keep args after done (a timed-out request still at the
	// cluster), so they must be memory the caller no longer uses.
	Send(ctx context.Context, args [][]byte, done func(*wire.Reply, error))
}

// GatewayFunc adapts a blocking function to Gateway: Send runs it on a
// goroutine of its own, one per command in flight (the RESP port bounds
// those per connection, RESPConfig.MaxPipeline).
type GatewayFunc func(ctx context.Context, args [][]byte) (*wire.Reply, error)

// Send runs f on a new goroutine and calls done with its result.
func (f GatewayFunc) Send(ctx context.Context, args [][]byte, done func(*wire.Reply, error)) {
	go func() { done(f(ctx, args)) }()
}

// Call sends args through g and waits for the reply or ctx's end.
func Call(ctx context.Context, g Gateway, args [][]byte) (*wire.Reply, error) {
	type result struct {
		reply *wire.Reply
		err   error
	}
	ch := make(chan result, 1) // done must not block
	g.Send(ctx, args, func(r *wire.Reply, err error) { ch <- result{r, err} })
	res := <-ch
	return res.reply, res.err
}

// apiGateway is a tiny role that forwards client commands to an API actor
// and routes its replies, matched by request id, to the callbacks
// waiting for them.
type apiGateway struct {
	p    *Process
	self actors.Addr
	api  actors.Addr

	mu     sync.Mutex
	nextID uint64
	// waiting has one entry per command sent and not yet answered or
	// timed out; the RESP port bounds those (MaxPipeline per connection,
	// MaxClients connections), and every entry leaves by its reply or by
	// its context's end.
	waiting map[uint64]*apiWaiter
}

type apiWaiter struct {
	done func(*wire.Reply, error)
	stop func() bool // unregisters the context watch; nil until set
}

// Gateway returns a Gateway to the API role at api, registered in this
// process as role name.
func (p *Process) Gateway(name string, api actors.Addr) Gateway {
	g := &apiGateway{p: p, api: api, waiting: map[uint64]*apiWaiter{}}
	g.self = p.Spawn(name, g, nil)
	return g
}

func (g *apiGateway) Start(actors.Env) {}

// Handle runs on the gateway's actor goroutine; the callbacks it calls do
// not block (Gateway's contract).
func (g *apiGateway) Handle(_ actors.Env, _ actors.Addr, m actors.Msg) {
	r, ok := m.(*wire.ClientReply)
	if !ok {
		return
	}
	w := g.take(r.Id)
	if w == nil {
		return // answered after its context ended: done already ran
	}
	if w.stop != nil {
		w.stop()
	}
	w.done(r.Reply, nil)
}

// Send sends args to the API actor; done runs when its reply comes back or
// when ctx ends, whichever is first.
func (g *apiGateway) Send(ctx context.Context, args [][]byte, done func(*wire.Reply, error)) {
	w := &apiWaiter{done: done}
	g.mu.Lock()
	g.nextID++
	id := g.nextID
	g.waiting[id] = w
	g.mu.Unlock()
	stop := context.AfterFunc(ctx, func() {
		if g.take(id) != nil {
			done(nil, ctx.Err())
		}
	})
	g.mu.Lock()
	if g.waiting[id] == w {
		w.stop = stop
	}
	g.mu.Unlock()
	g.p.send(g.self, g.api, &wire.ClientRequest{Id: id, Args: args})
}

// take removes and returns the waiter for id, nil if none is left: the
// reply and the context's end race, and only the first calls done.
func (g *apiGateway) take(id uint64) *apiWaiter {
	g.mu.Lock()
	defer g.mu.Unlock()
	w := g.waiting[id]
	delete(g.waiting, id)
	return w
}
