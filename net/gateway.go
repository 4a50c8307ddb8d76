package net

import (
	"context"
	"sync"

	"castkv/actors"
	"castkv/actors/wire"
)

// Gateway hands one client command to an API actor and waits for its
// reply. The RESP front door calls Do once per command, in order per
// connection, so pipelined replies keep their order.
type Gateway interface {
	Do(ctx context.Context, args [][]byte) (*wire.Reply, error)
}

// GatewayFunc adapts a function to Gateway.
type GatewayFunc func(ctx context.Context, args [][]byte) (*wire.Reply, error)

// Do calls f.
func (f GatewayFunc) Do(ctx context.Context, args [][]byte) (*wire.Reply, error) { return f(ctx, args) }

// apiGateway is a tiny role that forwards client commands to an API actor
// and routes its replies back to the waiting connection goroutines.
type apiGateway struct {
	p    *Process
	self actors.Addr
	api  actors.Addr

	mu      sync.Mutex
	nextID  uint64
	waiting map[uint64]chan *wire.Reply
}

// Gateway returns a Gateway to the API role at api, registered in this
// process as role name.
func (p *Process) Gateway(name string, api actors.Addr) Gateway {
	g := &apiGateway{p: p, api: api, waiting: map[uint64]chan *wire.Reply{}}
	g.self = p.Spawn(name, g, nil)
	return g
}

func (g *apiGateway) Start(actors.Env) {}

func (g *apiGateway) Handle(_ actors.Env, _ actors.Addr, m actors.Msg) {
	r, ok := m.(*wire.ClientReply)
	if !ok {
		return
	}
	g.mu.Lock()
	ch := g.waiting[r.Id]
	delete(g.waiting, r.Id)
	g.mu.Unlock()
	if ch != nil {
		ch <- r.Reply // buffered: never blocks the actor
	}
}

// Do sends args to the API actor and waits for its reply or ctx's end.
func (g *apiGateway) Do(ctx context.Context, args [][]byte) (*wire.Reply, error) {
	ch := make(chan *wire.Reply, 1)
	g.mu.Lock()
	g.nextID++
	id := g.nextID
	g.waiting[id] = ch
	g.mu.Unlock()
	g.p.send(g.self, g.api, &wire.ClientRequest{Id: id, Args: args})
	select {
	case r := <-ch:
		return r, nil
	case <-ctx.Done():
		g.mu.Lock()
		delete(g.waiting, id)
		g.mu.Unlock()
		return nil, ctx.Err()
	}
}
