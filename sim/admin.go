package sim

import (
	"time"

	"castkv/actors"
	"castkv/actors/wire"
	"google.golang.org/protobuf/proto"
)

// admin is an operator: at a drawn time it sends meta one request (castd
// admin drain for FaultMembership, castd admin split for FaultSplit),
// asking meta members in turn and following redirects until the leader
// answers, and retrying a bounded number of times. A refusal (too few live
// servers left to drain one, a split already under way) ends it too: meta
// refusing is correct then.
type admin struct {
	metas []actors.Addr
	what  string            // for the log: "drain data3", "split shard 2"
	req   *wire.DataServers // its id is set per try
	at    time.Duration
	// accepted is called once meta accepted the request.
	accepted func()

	next       int // the meta member to ask next
	tries      int
	redirected bool // followed a redirect since the last try: at most one
	done       bool
}

// maxAdminTries bounds the drain's attempts (one every adminRetry).
const (
	maxAdminTries = 40
	adminRetry    = 500 * time.Millisecond
)

func (a *admin) Start(env actors.Env) {
	if !a.done {
		env.After(a.at, &wire.Tick{})
	}
}

func (a *admin) Handle(env actors.Env, from actors.Addr, msg actors.Msg) {
	switch x := msg.(type) {
	case *wire.Tick:
		if a.done || a.tries >= maxAdminTries {
			return
		}
		a.tries++
		a.redirected = false
		a.ask(env, a.metas[a.next%len(a.metas)])
		a.next++
		env.After(adminRetry, &wire.Tick{})
	case *wire.MetaRedirect:
		// One redirect per try: two members naming each other would
		// bounce it for ever.
		if x.Leader != "" && !a.done && !a.redirected {
			a.redirected = true
			a.ask(env, actors.Addr(x.Leader))
		}
	case *wire.DataServersReply:
		if a.done {
			return
		}
		a.done = true
		if x.Error != "" {
			env.Log().Info("admin: meta refused", "request", a.what, "err", x.Error)
			return
		}
		env.Log().Info("admin: meta accepted", "request", a.what, "leader", x.Leader)
		a.accepted()
	}
}

func (a *admin) ask(env actors.Env, to actors.Addr) {
	m := proto.Clone(a.req).(*wire.DataServers)
	m.Id = uint64(a.tries)
	env.Send(to, m)
}
