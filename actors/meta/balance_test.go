package meta

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"castkv/actors"
	"castkv/actors/roletest"
	"castkv/actors/wire"
)

// fleet plays the data servers against one meta: each heartbeats every
// tick with what it holds, a primary promotes its learners at once (as if
// they caught up instantly), and one asked to surrender answers unless told
// to stay silent. It checks two rules at every config change: a new primary
// was a secondary (never a learner) and took over only once the old one
// surrendered or the lease wait since the last grant had passed.
type fleet struct {
	t       *testing.T
	env     *roletest.Env
	m       *Meta
	servers []actors.Addr
	down    map[actors.Addr]bool
	silent  bool // primaries ignore Surrender
	hb      uint64

	lastGrant   map[uint32]time.Time
	surrendered map[uint32]uint64 // shard -> version surrendered
	versions    map[uint32]*wire.Config
	handovers   int
	replies     []*wire.DataServersReply
	removed     bool // the test asked meta to remove a replica
}

func newFleet(t *testing.T, m *Meta, env *roletest.Env, servers ...actors.Addr) *fleet {
	f := &fleet{t: t, env: env, m: m, servers: servers, down: map[actors.Addr]bool{},
		lastGrant: map[uint32]time.Time{}, surrendered: map[uint32]uint64{}, versions: map[uint32]*wire.Config{}}
	for s := range m.shards {
		f.versions[uint32(s)] = m.Config(uint32(s))
	}
	return f
}

// step is one tick: heartbeats, answers to what meta sent, the clock.
func (f *fleet) step() {
	f.hb++
	for _, d := range f.servers {
		if f.down[d] {
			continue
		}
		var st []*wire.ReplicaStatus
		for s := range f.m.shards {
			c := f.m.Config(uint32(s))
			if isMember(c, string(d)) {
				acting := c.Primary == string(d)
				st = append(st, &wire.ReplicaStatus{Shard: c.Shard, ConfigVersion: c.Version, LastSeq: 9, LastVersion: c.Version,
					ActingPrimary: acting, LeaseValid: acting && f.surrendered[c.Shard] != c.Version})
			}
		}
		f.m.Handle(f.env, d, &wire.Heartbeat{Id: f.hb, Incarnation: 1, Replicas: st})
	}
	f.deliver()
	for s := range f.m.shards {
		c := f.m.Config(uint32(s))
		for _, l := range c.Learners {
			f.m.Handle(f.env, actors.Addr(c.Primary), &wire.PromoteLearner{Shard: c.Shard, ConfigVersion: c.Version, Learner: l})
		}
	}
	f.deliver()
	f.env.Step(f.m, tick, tick)
	f.deliver()
}

func (f *fleet) deliver() {
	f.env.Settle(f.m)
	for _, s := range f.env.Take() {
		switch x := s.Msg.(type) {
		case *wire.HeartbeatReply:
			for _, g := range x.Leases {
				f.lastGrant[g.Shard] = f.env.Now()
			}
		case *wire.DataServersReply:
			f.replies = append(f.replies, x)
		case *wire.Surrender:
			if f.silent || f.down[s.To] {
				continue
			}
			f.surrendered[x.Shard] = x.ConfigVersion
			f.m.Handle(f.env, s.To, &wire.Surrendered{Shard: x.Shard, ConfigVersion: x.ConfigVersion})
		}
	}
	f.env.Settle(f.m)
	f.check()
}

func (f *fleet) check() {
	for s := range f.m.shards {
		shard := uint32(s)
		old, c := f.versions[shard], f.m.Config(shard)
		if old == nil {
			f.versions[shard] = c // a split's child: new
			continue
		}
		if c.Version == old.Version {
			continue
		}
		if c.Primary != old.Primary && old.Primary != "" {
			f.handovers++
			if !slices.Contains(old.Secondaries, c.Primary) {
				f.t.Fatalf("shard %d: %s became primary from %v; only a secondary may", shard, c.Primary, old)
			}
			fenced := f.surrendered[shard] == old.Version || f.env.Now().Sub(f.lastGrant[shard]) >= f.m.cfg.LeaseWait()
			if !fenced {
				f.t.Fatalf("shard %d: %s took over from %s %v after the last grant, which did not surrender", shard, c.Primary, old.Primary, f.env.Now().Sub(f.lastGrant[shard]))
			}
		}
		for _, a := range c.Secondaries {
			if !slices.Contains(old.Secondaries, a) && a != old.Primary && !slices.Contains(old.Learners, a) {
				f.t.Fatalf("shard %d: %s became a secondary straight from outside: %v -> %v", shard, a, old, c)
			}
		}
		// The fleet never asks to remove a replica: only the balancer drops
		// counted members, and only a surplus one.
		if counted(c) < min(counted(old), f.m.cfg.Replicas) && !f.removed {
			f.t.Fatalf("shard %d: config went from %d counted members to %d: %v -> %v", shard, counted(old), counted(c), old, c)
		}
		f.versions[shard] = c
	}
}

func counted(c *wire.Config) int {
	if c.Primary == "" {
		return len(c.Secondaries)
	}
	return 1 + len(c.Secondaries)
}

func (f *fleet) counts() (replicas, primaries map[string]int) {
	l := f.m.loads()
	return l.replicas, l.primaries
}

// spread fails the test unless every live server holds a share of
// replicas and of primaries within one of every other's.
func (f *fleet) spread(servers ...actors.Addr) string {
	rep, pri := f.counts()
	var r, p []int
	for _, a := range servers {
		r, p = append(r, rep[string(a)]), append(p, pri[string(a)])
	}
	if slices.Max(r)-slices.Min(r) > 1 || slices.Max(p)-slices.Min(p) > 1 {
		return fmt.Sprintf("replicas %v primaries %v over %v", r, p, servers)
	}
	return ""
}

func newBalanceMeta(t *testing.T, shards int, servers ...actors.Addr) (*roletest.Env, *Meta) {
	env := roletest.New("meta", 1)
	m := New(Config{DataServers: servers, Shards: shards, BalanceEvery: 200 * time.Millisecond})
	m.Start(env)
	elect(t, env, m)
	return env, m
}

// A data server added to a running cluster registers with its first
// heartbeat and receives its share of replicas and primaries, one move at a
// time, every primary move fenced.
func TestAddedServerGetsItsShare(t *testing.T) {
	env, m := newBalanceMeta(t, 8, "data1", "data2", "data3")
	defer env.Close()
	f := newFleet(t, m, env, "data1", "data2", "data3")
	for range 50 {
		f.step()
	}
	if msg := f.spread("data1", "data2", "data3"); msg != "" {
		t.Fatalf("three servers before the fourth joined: %s", msg)
	}
	f.servers = append(f.servers, "data4")
	for i := 0; i < 3000 && (f.spread(f.servers...) != "" || m.dataServer("data4") == nil); i++ {
		f.step()
	}
	if msg := f.spread(f.servers...); msg != "" {
		t.Fatalf("30 s after data4 joined: %s", msg)
	}
	rep, pri := f.counts()
	if rep["data4"] != 6 || pri["data4"] < 1 || f.handovers == 0 {
		t.Fatalf("data4 holds %d replicas (want 6 of 24) and leads %d shards, after %d handovers", rep["data4"], pri["data4"], f.handovers)
	}
}

// A primary that never answers Surrender is replaced only once its last
// lease surely ran out (and the handover does not stop the balancer for
// good).
func TestHandoverWithoutSurrenderWaitsOutTheLease(t *testing.T) {
	env, m := newBalanceMeta(t, 4, "data1", "data2", "data3")
	defer env.Close()
	f := newFleet(t, m, env, "data1", "data2", "data3", "data4")
	f.silent = true
	for i := 0; i < 3000 && f.spread(f.servers...) != ""; i++ {
		f.step()
	}
	if msg := f.spread(f.servers...); msg != "" {
		t.Fatalf("30 s after data4 joined, with primaries that never surrender: %s", msg)
	}
	if f.handovers == 0 {
		t.Fatal("no primary moved; the test checks nothing")
	}
}

// Draining moves every replica off a server; it is refused when too few
// servers would be left, and undrain takes the server back.
func TestDrainEmptiesAServer(t *testing.T) {
	env, m := newBalanceMeta(t, 6, "data1", "data2", "data3", "data4")
	defer env.Close()
	f := newFleet(t, m, env, "data1", "data2", "data3", "data4")
	for range 100 {
		f.step()
	}
	m.Handle(env, "admin", &wire.DataServers{Id: 1, Drain: "data2"})
	reply := firstReply(t, f)
	if reply.Error != "" {
		t.Fatalf("drain data2: %s", reply.Error)
	}
	for i := 0; i < 3000; i++ {
		if rep, _ := f.counts(); rep["data2"] == 0 && f.spread("data1", "data3", "data4") == "" {
			break
		}
		f.step()
	}
	if rep, _ := f.counts(); rep["data2"] != 0 {
		t.Fatalf("30 s after the drain data2 still holds %d replicas", rep["data2"])
	}
	if msg := f.spread("data1", "data3", "data4"); msg != "" {
		t.Fatalf("after the drain: %s", msg)
	}
	// A drained server gets no replica back, even when a shard runs short
	// and takes a learner from the live servers.
	c := m.Config(0)
	f.removed = true
	m.Handle(env, actors.Addr(c.Primary), &wire.RemoveReplica{Shard: 0, ConfigVersion: c.Version, Replica: c.Secondaries[0]})
	for range 200 {
		f.step()
		if rep, _ := f.counts(); rep["data2"] != 0 || slices.Contains(m.Config(0).Learners, "data2") {
			t.Fatalf("the drained data2 was given a replica again: %v", m.Config(0))
		}
	}
	m.Handle(env, "admin", &wire.DataServers{Id: 2, Drain: "data3"})
	if r := firstReply(t, f); r.Error == "" {
		t.Fatal("draining a second server of four left two for three replicas, and was not refused")
	}
	m.Handle(env, "admin", &wire.DataServers{Id: 3, Undrain: "data2"})
	if r := firstReply(t, f); r.Error != "" {
		t.Fatalf("undrain data2: %s", r.Error)
	}
	for i := 0; i < 3000 && f.spread(f.servers...) != ""; i++ {
		f.step()
	}
	if msg := f.spread(f.servers...); msg != "" {
		t.Fatalf("30 s after the undrain: %s", msg)
	}
}

// firstReply steps the fleet until meta answers an admin request.
func firstReply(t *testing.T, f *fleet) *wire.DataServersReply {
	t.Helper()
	for range 100 {
		f.deliver()
		if len(f.replies) > 0 {
			r := f.replies[0]
			f.replies = f.replies[1:]
			return r
		}
		f.step()
	}
	t.Fatal("meta never answered the admin request")
	return nil
}

// A primary that surrendered for a handover meta no longer pursues (it was
// abandoned, or an earlier leader began it) serves nothing more in its
// version: meta moves the shard to a new version, same members, in which
// it gets leases again.
func TestAbandonedHandoverMovesOn(t *testing.T) {
	env, m := start(t)
	defer env.Close()
	register(env, m, "data1", "data2", "data3")
	c := m.Config(0)
	st := status(c.Version, true, false, 5)
	st[0].Surrendered = true
	m.Handle(env, "data1", &wire.Heartbeat{Id: 2, Replicas: st})
	env.Settle(m)
	next := m.Config(0)
	if next.Version != c.Version+1 || next.Primary != c.Primary || !slices.Equal(next.Secondaries, c.Secondaries) {
		t.Fatalf("after the primary reported a surrender nobody follows up, the config is %v; want version %d, same members", next, c.Version+1)
	}
}

// A lost server stays in the registry until an operator forgets it, which
// meta refuses while it is alive or while any shard still names it; a
// forgotten server that heartbeats again registers anew.
func TestForgetALostServer(t *testing.T) {
	env, m := newBalanceMeta(t, 6, "data1", "data2", "data3", "data4")
	defer env.Close()
	f := newFleet(t, m, env, "data1", "data2", "data3", "data4")
	for range 100 {
		f.step()
	}
	forget := func(id uint64) *wire.DataServersReply {
		t.Helper()
		m.Handle(env, "admin", &wire.DataServers{Id: id, Forget: "data2"})
		return firstReply(t, f)
	}
	if r := forget(1); !strings.Contains(r.Error, "alive") {
		t.Fatalf("forget a live server: %q, want a refusal saying it is alive", r.Error)
	}
	f.down["data2"] = true
	f.removed = true                  // meta fails over and removes the dead server's replicas
	for m.alive(env.Now(), "data2") { // dead, but not yet replaced everywhere
		f.step()
	}
	if r := forget(2); !strings.Contains(r.Error, "still names it") {
		t.Fatalf("forget a dead server shards still name: %q, want a refusal", r.Error)
	}
	listed := func(r *wire.DataServersReply) bool {
		return slices.ContainsFunc(r.Servers, func(d *wire.DataServerInfo) bool { return d.Addr == "data2" })
	}
	for i := 0; ; i++ {
		if i == 3000 {
			t.Fatalf("data2 still named by a shard: %v", m.configs())
		}
		if holdsAny(m, "data2") {
			// Each primary asks meta to remove its silent secondary, as
			// the data role does after RemoveAfter.
			for _, c := range m.configs() {
				if slices.Contains(c.Secondaries, "data2") {
					m.Handle(env, actors.Addr(c.Primary), &wire.RemoveReplica{Shard: c.Shard, ConfigVersion: c.Version, Replica: "data2"})
				}
			}
			f.step()
			continue
		}
		r := forget(3)
		if r.Error != "" {
			t.Fatalf("forget a dead server no shard names: %s", r.Error)
		}
		if listed(r) {
			t.Fatalf("data2 forgotten but still listed: %v", r.Servers)
		}
		break
	}
	f.down["data2"] = false
	for range 20 {
		f.step()
	}
	m.Handle(env, "admin", &wire.DataServers{Id: 4})
	if r := firstReply(t, f); !listed(r) {
		t.Fatalf("data2 heartbeat again but did not register anew: %v", r.Servers)
	}
}

// holdsAny reports whether some shard's config names addr.
func holdsAny(m *Meta, addr string) bool {
	for _, c := range m.configs() {
		if isMember(c, addr) || slices.Contains(c.Learners, addr) {
			return true
		}
	}
	return false
}
