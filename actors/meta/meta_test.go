package meta

import (
	"encoding/binary"
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
