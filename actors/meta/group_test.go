package meta

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"castkv/actors"
	"castkv/actors/roletest"
	"castkv/actors/wire"
)

// group is a meta group driven by hand: every member on its own roletest
// Env with one shared clock, raft messages delivered between members that
// are up and not cut off, everything else collected in out.
type group struct {
	t     *testing.T
	cfg   Config
	addrs []actors.Addr
	envs  map[actors.Addr]*roletest.Env
	nodes map[actors.Addr]*Meta
	down  map[actors.Addr]bool
	cut   map[actors.Addr]bool // isolated from the other members
	out   []roletest.Sent      // non-raft messages, with their sender in From
	from  []actors.Addr
}

var threeData = []actors.Addr{"data1", "data2", "data3"}

func newGroup(t *testing.T, n int, cfg Config) *group {
	t.Helper()
	return newSkewedGroup(t, n, cfg, 0)
}

// newSkewedGroup is newGroup with member i's clock skew·(n-i) ahead of the
// last member's.
func newSkewedGroup(t *testing.T, n int, cfg Config, skew time.Duration) *group {
	t.Helper()
	g := &group{t: t, envs: map[actors.Addr]*roletest.Env{}, nodes: map[actors.Addr]*Meta{},
		down: map[actors.Addr]bool{}, cut: map[actors.Addr]bool{}}
	for i := 1; i <= n; i++ {
		g.addrs = append(g.addrs, actors.Addr(fmt.Sprintf("meta%d", i)))
	}
	cfg.DataServers, cfg.Peers = threeData, g.addrs
	g.cfg = cfg
	for i, a := range g.addrs {
		g.envs[a] = roletest.New(a, uint64(i+1))
		g.envs[a].Advance(skew * time.Duration(n-1-i))
		g.start(a)
	}
	t.Cleanup(func() {
		for _, e := range g.envs {
			e.Close()
		}
	})
	return g
}

func (g *group) start(a actors.Addr) {
	g.nodes[a] = New(g.cfg)
	g.nodes[a].Start(g.envs[a])
	g.down[a] = false
}

func (g *group) crash(a actors.Addr) {
	g.envs[a].Crash()
	g.down[a] = true
}

// run advances every clock by d in steps of tick, firing timers and
// delivering raft messages after each step.
func (g *group) run(d time.Duration) {
	for ; d > 0; d -= tick {
		for _, a := range g.addrs {
			g.envs[a].Advance(tick)
			if !g.down[a] {
				g.envs[a].Settle(g.nodes[a])
			}
		}
		g.deliver()
	}
}

func (g *group) deliver() {
	for range 100 {
		moved := false
		for _, a := range g.addrs {
			for _, s := range g.envs[a].Take() {
				if g.down[a] {
					continue
				}
				if _, ok := s.Msg.(*wire.RaftMessage); !ok {
					g.out = append(g.out, s)
					g.from = append(g.from, a)
					continue
				}
				if g.down[s.To] || g.cut[a] || g.cut[s.To] {
					continue
				}
				moved = true
				g.nodes[s.To].Handle(g.envs[s.To], a, s.Msg)
			}
		}
		if !moved {
			return
		}
	}
}

// leaders are the members acting as leader now.
func (g *group) leaders() []actors.Addr {
	var out []actors.Addr
	for _, a := range g.addrs {
		if !g.down[a] && g.nodes[a].Leading(g.envs[a].Now()) {
			out = append(out, a)
		}
	}
	return out
}

// waitLeader runs until exactly one member leads and returns it.
func (g *group) waitLeader(except actors.Addr) actors.Addr {
	g.t.Helper()
	for range 2000 {
		if l := g.leaders(); len(l) == 1 && l[0] != except {
			return l[0]
		}
		g.run(tick)
	}
	g.t.Fatalf("no single leader after 20 s: %v", g.leaders())
	return ""
}

// ask hands m to member a from a data or API server and returns a's answers.
func (g *group) ask(a, from actors.Addr, m actors.Msg) []actors.Msg {
	g.nodes[a].Handle(g.envs[a], from, m)
	var out []actors.Msg
	for _, s := range g.envs[a].Take() {
		if _, ok := s.Msg.(*wire.RaftMessage); ok {
			continue // the round of raft that m started is delivered by run
		}
		if s.To == from {
			out = append(out, s.Msg)
		}
	}
	g.deliver()
	return out
}

func TestGroupElectsOneLeaderAndOthersRedirect(t *testing.T) {
	g := newGroup(t, 3, Config{})
	leader := g.waitLeader("")
	for _, a := range g.addrs {
		got := g.ask(a, "api1", &wire.GetConfig{Id: 7})
		if len(got) != 1 {
			t.Fatalf("%s answered GetConfig with %v", a, got)
		}
		switch x := got[0].(type) {
		case *wire.ConfigUpdate:
			if a != leader || len(x.Configs) != 1 || x.Configs[0].Primary != "data1" {
				t.Errorf("%s (leader %s) answered %v", a, leader, x)
			}
		case *wire.MetaRedirect:
			if a == leader || x.Leader != string(leader) || x.Id != 7 {
				t.Errorf("%s (leader %s) redirected with %v", a, leader, x)
			}
		}
	}
}

// Rule lease-across-leaders: a new leader knows nothing of its
// predecessor's grants, so it waits a full lease wait from its election
// before promoting, even when the primary is silent from the start.
func TestNewLeaderWaitsOutLeasesItDidNotSee(t *testing.T) {
	for _, canary := range []string{"", CanaryMetaNoWait, CanaryLeaseFromOldLeader} {
		t.Run("canary="+canary, func(t *testing.T) {
			g := newGroup(t, 3, Config{Canary: canary})
			first := g.waitLeader("")
			// data1 primary holds a lease from the first leader; everyone
			// heartbeats for a while.
			for i := uint64(1); i <= 20; i++ {
				for _, d := range threeData {
					st := status(1, d == "data1", d == "data1", 5)
					g.ask(first, d, &wire.Heartbeat{Id: i, Replicas: st})
				}
				g.run(50 * time.Millisecond)
			}
			// The first leader and the primary vanish together.
			g.crash(first)
			second := g.waitLeader(first)
			elected := g.nodes[second].leaderSince
			wait := g.nodes[second].cfg.LeaseWait()
			var promotedAt time.Duration
			for i := uint64(100); promotedAt == 0 && i < 200; i++ {
				for _, d := range []actors.Addr{"data2", "data3"} {
					g.ask(second, d, &wire.Heartbeat{Id: i, Replicas: status(1, false, false, 5)})
				}
				g.run(50 * time.Millisecond)
				if c := g.nodes[second].Config(0); c.Primary != "data1" {
					promotedAt = g.envs[second].Now().Sub(elected)
				}
			}
			if promotedAt == 0 {
				t.Fatal("the new leader never replaced the silent primary")
			}
			early := promotedAt < wait
			if canary == "" && early {
				t.Fatalf("the new leader promoted %v after its election, before the lease wait %v", promotedAt, wait)
			}
			// Both canaries promote early here: the second leader never led
			// before, so it knows no grant at all.
			if canary != "" && !early {
				t.Fatalf("canary %s waited %v (lease wait %v): the test cannot tell it from the rule", canary, promotedAt, wait)
			}
		})
	}
}

// Session ids stay unique when leadership moves: each leader issues only
// from a block it reserved in the log.
func TestSessionsUniqueAcrossLeaders(t *testing.T) {
	g := newGroup(t, 3, Config{})
	seen := map[uint64]bool{}
	var except actors.Addr
	for round := 0; round < 3; round++ {
		leader := g.waitLeader(except)
		for i := 0; i < 5; i++ {
			var got *wire.ConfigUpdate
			for try := 0; got == nil && try < 100; try++ {
				for _, m := range g.ask(leader, "api1", &wire.GetConfig{Id: uint64(i), NewSession: true}) {
					if u, ok := m.(*wire.ConfigUpdate); ok {
						got = u
					}
				}
				for j, s := range g.out {
					if u, ok := s.Msg.(*wire.ConfigUpdate); ok && got == nil && u.Session != 0 && g.from[j] == leader {
						got = u
					}
				}
				g.out, g.from = nil, nil
				g.run(tick)
			}
			if got == nil || got.Session == 0 || seen[got.Session] {
				t.Fatalf("round %d: leader %s issued session %v (seen before: %v)", round, leader, got, got != nil && seen[got.Session])
			}
			seen[got.Session] = true
		}
		g.crash(leader)
		g.run(100 * time.Millisecond)
		g.start(leader)
		except = leader
	}
}

// Members join and leave online: a member started with Join catches up
// from the leader's snapshot; a removed member stops counting.
func TestGroupMembershipChanges(t *testing.T) {
	g := newGroup(t, 3, Config{})
	leader := g.waitLeader("")
	// Enough config changes that the log compacts, so meta4 needs a snapshot.
	for i := 0; i < compactEvery+10; i++ {
		c := g.nodes[leader].Config(0)
		next := &wire.Config{Shard: 0, Version: c.Version + 1, Primary: c.Primary, Secondaries: c.Secondaries}
		g.nodes[leader].propose(g.envs[leader], g.nodes[leader].shard(0), next, "test")
		g.nodes[leader].ready(g.envs[leader])
		g.run(tick)
	}
	want := g.nodes[leader].Config(0).Version
	g.addrs = append(g.addrs, "meta4")
	g.envs["meta4"] = roletest.New("meta4", 4)
	cfg := g.cfg
	cfg.Join = true
	g.nodes["meta4"] = New(cfg)
	g.nodes["meta4"].Start(g.envs["meta4"])
	g.down["meta4"] = false
	var reply *wire.MetaMembersReply
	for _, m := range g.ask(leader, "admin", &wire.MetaMembers{Id: 1, Add: "meta4"}) {
		t.Fatalf("answered before the change committed: %v", m)
	}
	for i := 0; i < 200 && reply == nil; i++ {
		g.run(tick)
		for _, s := range g.out {
			if r, ok := s.Msg.(*wire.MetaMembersReply); ok {
				reply = r
			}
		}
	}
	if reply == nil || reply.Error != "" || !slices.Contains(reply.Members, "meta4") {
		t.Fatalf("adding meta4: %v", reply)
	}
	g.run(time.Second)
	if c := g.nodes["meta4"].Config(0); c == nil || c.Version != want {
		t.Fatalf("meta4 has config %v, want version %d", c, want)
	}
	// Remove one of the first three (not the leader).
	victim := g.addrs[0]
	if victim == leader {
		victim = g.addrs[1]
	}
	g.out = nil
	g.ask(leader, "admin", &wire.MetaMembers{Id: 2, Remove: string(victim)})
	g.run(time.Second)
	reply = nil
	for _, s := range g.out {
		if r, ok := s.Msg.(*wire.MetaMembersReply); ok {
			reply = r
		}
	}
	if reply == nil || reply.Error != "" || slices.Contains(reply.Members, string(victim)) || len(reply.Members) != 3 {
		t.Fatalf("removing %s: %v", victim, reply)
	}
	// The group of three (meta4 included) survives losing one more member.
	g.crash(victim)
	other := g.addrs[0]
	for _, a := range g.addrs {
		if a != victim && a != "meta4" {
			other = a
		}
	}
	g.crash(other)
	if l := g.waitLeader(""); l == victim || l == other {
		t.Fatalf("leader %s is a removed or crashed member", l)
	}
}
