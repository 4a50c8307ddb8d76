package meta

import (
	"encoding/binary"
	"slices"
	"testing"
	"time"

	"castkv/actors"
	"castkv/actors/roletest"
	"castkv/actors/wire"
)

const tick = 10 * time.Millisecond

func start(t *testing.T) (*roletest.Env, *Meta) {
	t.Helper()
	env := roletest.New("meta", 1)
	m := New(Config{DataServers: []actors.Addr{"data1", "data2", "data3"}})
	m.Start(env)
	elect(t, env, m)
	return env, m
}

// elect runs a group of one until it leads (its election timeout, then one
// tick to confirm), and forgets what it sent meanwhile.
func elect(t *testing.T, env *roletest.Env, m *Meta) {
	t.Helper()
	for i := 0; i < 1000 && !m.Leading(env.Now()); i++ {
		env.Step(m, tick, tick)
	}
	if !m.Leading(env.Now()) {
		t.Fatal("a meta group of one did not elect itself within 10 s")
	}
	env.Take()
}

// register has each data server heartbeat once, so the leader registers
// it (a raft round), and forgets what was sent meanwhile.
func register(env *roletest.Env, m *Meta, addrs ...actors.Addr) {
	for _, a := range addrs {
		m.Handle(env, a, &wire.Heartbeat{Id: 1})
	}
	env.Settle(m)
	env.Take()
}

func status(version uint64, acting, lease bool, last uint64) []*wire.ReplicaStatus {
	return []*wire.ReplicaStatus{{Shard: 0, ConfigVersion: version, LastSeq: last, LastVersion: version, ActingPrimary: acting, LeaseValid: lease}}
}

// Hole 1: a primary that reports it restarted (not acting at the current
// version) moves the shard to a new version, so a PromoteLearner the old
// process sent before it crashed fails its compare-and-swap.
func TestRestartedPrimaryGetsANewVersion(t *testing.T) {
	env, m := start(t)
	defer env.Close()
	// data3 is removed and joins again as a learner.
	register(env, m, "data1", "data2", "data3")
	m.Handle(env, "data1", &wire.RemoveReplica{Shard: 0, ConfigVersion: 1, Replica: "data3"})
	m.Handle(env, "data3", &wire.Heartbeat{Id: 1})
	if c := m.Config(0); len(c.Learners) != 1 {
		t.Fatalf("data3 did not rejoin as a learner: %v", c)
	}
	m.Handle(env, "data1", &wire.Heartbeat{Id: 1, Replicas: status(1, true, true, 5)})
	c := m.Config(0)
	m.Handle(env, "data1", &wire.Heartbeat{Id: 2, Replicas: status(c.Version, false, false, 5)})
	if got := m.Config(0); got.Version != c.Version+1 || got.Primary != "data1" {
		t.Fatalf("after the primary's restart the config is %v, want version %d with the same primary", got, c.Version+1)
	}
	m.Handle(env, "data1", &wire.PromoteLearner{Shard: 0, ConfigVersion: c.Version, Learner: "data3"})
	if got := m.Config(0); len(got.Learners) != 1 || got.Learners[0] != "data3" {
		t.Fatalf("a promotion asked for at version %d by the crashed process applied: %v", c.Version, got)
	}
}

// Hole 9: a primary that heartbeats but never holds a lease (meta's grants
// are lost on the way) is failed over once its lease surely ran out.
func TestPrimaryWithoutLeaseIsReplaced(t *testing.T) {
	env, m := start(t)
	defer env.Close()
	for i := uint64(1); i <= 1000; i++ {
		m.Handle(env, "data1", &wire.Heartbeat{Id: i, Replicas: status(m.Config(0).Version, true, false, 5)})
		m.Handle(env, "data2", &wire.Heartbeat{Id: i, Replicas: status(m.Config(0).Version, false, false, 5)})
		m.Handle(env, "data3", &wire.Heartbeat{Id: i, Replicas: status(m.Config(0).Version, false, false, 5)})
		env.Take()
		env.Step(m, 100*time.Millisecond, tick)
		if p := m.Config(0).Primary; p != "data1" {
			if elapsed := time.Duration(i) * 100 * time.Millisecond; elapsed < m.cfg.LeaseWait() {
				t.Fatalf("promoted %s after %v, before the lease wait %v", p, elapsed, m.cfg.LeaseWait())
			}
			return
		}
	}
	t.Fatal("meta kept granting leases that never arrive for 100 s; the shard was never failed over")
}

// Sessions meta issues only grow, across restarts.
func TestSessionsIncreaseAcrossRestarts(t *testing.T) {
	env, m := start(t)
	defer env.Close()
	var last uint64
	for round := 0; round < 3; round++ {
		for i := 0; i < sessionBlock+3; i++ {
			m.Handle(env, "api1", &wire.GetConfig{NewSession: true})
			ups := roletest.Of[*wire.ConfigUpdate](env.Take())
			if len(ups) != 1 || ups[0].Session <= last {
				t.Fatalf("round %d: session %v after %d", round, ups, last)
			}
			last = ups[0].Session
		}
		env.Crash()
		m = New(Config{DataServers: []actors.Addr{"data1", "data2", "data3"}})
		m.Start(env)
		elect(t, env, m)
	}
}

// A meta server of a release before the group kept its config and session
// high-water mark as plain records: a member started alone on that
// directory carries both over, so the config version never goes back and
// no session id repeats.
func TestUpgradeCarriesOverTheLegacyConfig(t *testing.T) {
	env := roletest.New("meta", 1)
	defer env.Close()
	b := env.Store().NewBatch()
	b.PutConfig(&wire.Config{Shard: 0, Version: 7, Primary: "data2", Secondaries: []string{"data3"}})
	b.PutMeta(legacySessionKey, binary.BigEndian.AppendUint64(nil, 5000))
	if err := env.Store().WriteSync(b); err != nil {
		t.Fatal(err)
	}
	m := New(Config{DataServers: []actors.Addr{"data1", "data2", "data3"}})
	m.Start(env)
	elect(t, env, m)
	if c := m.Config(0); c.Version != 7 || c.Primary != "data2" {
		t.Fatalf("after the upgrade the config is %v, want the old v7 with primary data2", c)
	}
	m.Handle(env, "api1", &wire.GetConfig{NewSession: true})
	ups := roletest.Of[*wire.ConfigUpdate](env.Take())
	if len(ups) != 1 || ups[0].Session < 5000 {
		t.Fatalf("after the upgrade meta issued session %v, want one at or above the old high-water mark 5000", ups)
	}
}

// A new cluster splits the slots into Config.Shards shards placed over the
// data servers, and a failover keeps the shard's slots.
func TestShardsKeepTheirSlotsAcrossFailover(t *testing.T) {
	env := roletest.New("meta", 1)
	defer env.Close()
	m := New(Config{DataServers: []actors.Addr{"data1", "data2", "data3", "data4", "data5"}, Shards: 4})
	m.Start(env)
	elect(t, env, m)
	next := uint32(0)
	for shard := range uint32(4) {
		c := m.Config(shard)
		if c == nil || c.SlotStart != next || c.SlotEnd != next+4096 || 1+len(c.Secondaries) != 3 {
			t.Fatalf("shard %d's first config is %v; want slots %d-%d on three servers", shard, c, next, next+4095)
		}
		next = c.SlotEnd
	}
	// Every server but shard 2's primary heartbeats until meta replaces it.
	old := m.Config(2)
	for i := 0; i < 1000 && m.Config(2).Primary == old.Primary; i++ {
		for _, d := range []actors.Addr{"data1", "data2", "data3", "data4", "data5"} {
			if string(d) != old.Primary {
				m.Handle(env, d, &wire.Heartbeat{Id: uint64(i + 1), Replicas: held(m, d)})
			}
		}
		env.Step(m, tick, tick)
	}
	c := m.Config(2)
	if c.Primary == old.Primary || c.SlotStart != old.SlotStart || c.SlotEnd != old.SlotEnd {
		t.Fatalf("after shard 2's primary %s failed its config is %v; want a new primary on slots %d-%d", old.Primary, c, old.SlotStart, old.SlotEnd-1)
	}
}

// held is what d reports holding: a replica of every shard whose config
// names it, as a secondary (meta promotes only a server that reports the
// shard).
func held(m *Meta, d actors.Addr) []*wire.ReplicaStatus {
	var out []*wire.ReplicaStatus
	for _, c := range m.configs() {
		if isMember(c, string(d)) {
			out = append(out, &wire.ReplicaStatus{Shard: c.Shard, ConfigVersion: c.Version, LastSeq: 1, LastVersion: c.Version})
		}
	}
	return out
}

// Repair: a learner silent for ReplaceAfter is removed from its shard,
// and a spare data server joins as a learner in its place. Meta never
// removes a silent secondary itself: its primary does (data's
// RemoveAfter), and with the primary gone it needs a failover instead.
func TestSilentLearnerReplacedBySpare(t *testing.T) {
	env := roletest.New("meta", 1)
	defer env.Close()
	m := New(Config{DataServers: []actors.Addr{"data1", "data2", "data3", "data4"}, Replicas: 3, ReplaceAfter: 5 * time.Second})
	m.Start(env)
	elect(t, env, m)
	// data3 is removed by the primary and comes back as a learner.
	register(env, m, "data1", "data2", "data3", "data4")
	m.Handle(env, "data1", &wire.RemoveReplica{Shard: 0, ConfigVersion: 1, Replica: "data3"})
	m.Handle(env, "data3", &wire.Heartbeat{Id: 1})
	if c := m.Config(0); !slices.Equal(c.Learners, []string{"data3"}) {
		t.Fatalf("data3 did not rejoin as a learner: %v", c)
	}
	silentFrom := env.Now()
	for i := 0; i < 1000; i++ { // 10 s; data3 never heartbeats again
		for _, d := range []actors.Addr{"data1", "data2", "data4"} {
			var st []*wire.ReplicaStatus
			if c := m.Config(0); d == actors.Addr(c.Primary) {
				st = status(c.Version, true, true, 5)
			}
			m.Handle(env, d, &wire.Heartbeat{Id: uint64(i + 2), Replicas: st})
		}
		env.Step(m, tick, tick)
		if c := m.Config(0); slices.Contains(c.Learners, "data4") {
			if at := env.Now().Sub(silentFrom); at < 5*time.Second {
				t.Fatalf("data3 replaced after %v of silence, before ReplaceAfter", at)
			}
			if slices.Contains(c.Learners, "data3") || c.Primary != "data1" || !slices.Equal(c.Secondaries, []string{"data2"}) {
				t.Fatalf("after the repair the config is %v; want data3 gone, data1 primary of data2", c)
			}
			return
		}
	}
	t.Fatalf("data3, a learner silent for 10 s, is still in %v", m.Config(0))
}

// Meta leaves a silent secondary alone: removing it on heartbeats alone,
// right after a failover whose new primary had died too, dropped the
// shard's last copy.
func TestMetaNeverRemovesASecondary(t *testing.T) {
	env := roletest.New("meta", 1)
	defer env.Close()
	m := New(Config{DataServers: []actors.Addr{"data1", "data2", "data3", "data4"}, ReplaceAfter: time.Second})
	m.Start(env)
	elect(t, env, m)
	for i := 0; i < 1000; i++ { // 10 s in which only the primary and the spare heartbeat
		m.Handle(env, "data1", &wire.Heartbeat{Id: uint64(i + 1), Replicas: status(1, true, true, 5)})
		m.Handle(env, "data4", &wire.Heartbeat{Id: uint64(i + 1)})
		env.Step(m, tick, tick)
	}
	if c := m.Config(0); !slices.Equal(c.Secondaries, []string{"data2", "data3"}) {
		t.Fatalf("meta removed silent secondaries: %v", c)
	}
}

// Failover promotes only a secondary heard from since the primary became
// suspect: one that fell silent with it may be gone for good, and
// promoting it would drop the old primary, the last live copy.
func TestFailoverSkipsSecondarySilentSinceSuspicion(t *testing.T) {
	env := roletest.New("meta", 1)
	defer env.Close()
	// A fail timeout longer than the lease wait: data2 still counts as
	// alive by it when meta promotes.
	m := New(Config{DataServers: []actors.Addr{"data1", "data2", "data3"}, FailTimeout: 3 * time.Second, LeaseTimeout: 500 * time.Millisecond})
	m.Start(env)
	elect(t, env, m)
	// data2 reports the longer log just before meta suspects the silent
	// primary, then falls silent; data3 keeps heartbeating.
	m.Handle(env, "data2", &wire.Heartbeat{Id: 1, Replicas: status(1, false, false, 9)})
	for i := 0; i < 1000 && m.Config(0).Version == 1; i++ {
		env.Step(m, tick, tick)
		m.Handle(env, "data3", &wire.Heartbeat{Id: uint64(i + 1), Replicas: status(1, false, false, 5)})
	}
	if c := m.Config(0); c.Primary != "data3" {
		t.Fatalf("after the primary failed the config is %v; want data3, the secondary still heartbeating, promoted", c)
	}
}
