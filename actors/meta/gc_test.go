package meta

import (
	"testing"
	"time"

	"castkv/actors"
	"castkv/actors/roletest"
	"castkv/actors/wire"
)

// Rule gc-safe-point at meta: grants carry a safe point TxnLifetime behind
// their timestamp, and a gc point no higher than the lowest lock floor of
// any shard, 0 until every shard has reported one. The canary
// gc-ignores-locks hands out the safe point as the gc point instead.
func TestGCPointWaitsForEveryShardsLockFloor(t *testing.T) {
	for _, canary := range []string{"", CanaryGCIgnoresLocks} {
		t.Run("canary="+canary, func(t *testing.T) {
			env := roletest.New("meta", 1)
			defer env.Close()
			m := New(Config{DataServers: []actors.Addr{"data1", "data2", "data3"}, Shards: 2, TxnLifetime: time.Second, Canary: canary})
			m.Start(env)
			elect(t, env, m)
			register(env, m, "data1", "data2", "data3")
			id := uint64(10)
			// beat has shard's primary report its lock floor and returns
			// the grant it gets.
			beat := func(shard uint32, floor uint64) *wire.LeaseGrant {
				t.Helper()
				c := m.Config(shard)
				id++
				m.Handle(env, actors.Addr(c.Primary), &wire.Heartbeat{Id: id, Replicas: []*wire.ReplicaStatus{{
					Shard: shard, ConfigVersion: c.Version, LastSeq: 5, LastVersion: c.Version, ActingPrimary: true, LeaseValid: true,
					Load: &wire.ShardLoad{LockFloor: floor}}}})
				hr := roletest.Of[*wire.HeartbeatReply](env.Take())
				if len(hr) != 1 || len(hr[0].Leases) != 1 {
					t.Fatalf("shard %d's primary %s: want one reply with one grant, got %v", shard, c.Primary, hr)
				}
				return hr[0].Leases[0]
			}
			life := uint64(time.Second.Milliseconds()) << tsLogicalBits
			g := beat(0, 1000)
			if g.SafePoint != g.Ts-life {
				t.Fatalf("the safe point is %d, want the grant's timestamp %d less the lifetime, %d", g.SafePoint, g.Ts, g.Ts-life)
			}
			if want := map[string]uint64{"": 0, CanaryGCIgnoresLocks: g.SafePoint}[canary]; g.GcBelow != want {
				t.Fatalf("with shard 1 unreported the gc point is %d, want %d", g.GcBelow, want)
			}
			beat(1, 2000)
			beat(0, 500) // an older report: the higher floor stands
			g = beat(0, 900)
			if want := map[string]uint64{"": 1000, CanaryGCIgnoresLocks: g.SafePoint}[canary]; g.GcBelow != want {
				t.Fatalf("with floors 1000 and 2000 reported the gc point is %d, want %d", g.GcBelow, want)
			}
		})
	}
}
