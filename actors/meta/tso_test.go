package meta

import (
	"testing"
	"time"

	"castkv/actors"
	"castkv/actors/wire"
)

// getTS asks member a for n timestamps until the answer comes (the leader
// may still be reserving its window) and returns the first.
func (g *group) getTS(a actors.Addr, id uint64, n uint32) (uint64, bool) {
	for range 200 {
		for _, m := range g.ask(a, "api1", &wire.GetTS{Id: id, Count: n}) {
			if r, ok := m.(*wire.TSReply); ok && r.Id == id && r.Count == n {
				return r.First, true
			}
		}
		for j, s := range g.out {
			if r, ok := s.Msg.(*wire.TSReply); ok && g.from[j] == a && r.Id == id && r.Count == n {
				g.out, g.from = nil, nil
				return r.First, true
			}
		}
		g.out, g.from = nil, nil
		g.run(tick)
	}
	return 0, false
}

// Rule tso: timestamps strictly increase across every timestamp the group
// issues, though leadership moves between members whose clocks are
// seconds apart and the whole group restarts: each leader issues only above the
// limit the group persisted, and none jumps ahead with a leader's faster
// clock. The canary tso-from-clock, which starts each window at the
// leader's clock, goes back.
func TestTimestampsIncreaseAcrossLeadersAndRestarts(t *testing.T) {
	for _, canary := range []string{"", CanaryTSOFromClock} {
		t.Run("canary="+canary, func(t *testing.T) {
			// Clocks 20 s apart: a leader after one with a faster clock
			// starts behind its timestamps.
			g := newSkewedGroup(t, 3, Config{Canary: canary}, 20*time.Second)
			var last uint64
			wentBack := false
			take := func(leader actors.Addr, round int) {
				t.Helper()
				var roundFirst uint64
				defer func() {
					// The physical part keeps pace with time, though this
					// leader's clock may be 20 s behind what was issued:
					// 20 asks 10 ms apart span well over 100 ms.
					if ms := (last >> tsLogicalBits) - (roundFirst >> tsLogicalBits); canary == "" && ms < 100 {
						t.Fatalf("round %d: leader %s's timestamps moved %d ms in 200 ms", round, leader, ms)
					}
				}()
				for i := range 20 {
					id := uint64(round*100 + i + 1)
					first, ok := g.getTS(leader, id, 3)
					if !ok {
						t.Fatalf("round %d: leader %s issued no timestamp", round, leader)
					}
					if first <= last {
						if canary == "" {
							t.Fatalf("round %d: leader %s issued %d after %d had been issued", round, leader, first, last)
						}
						wentBack = true
					}
					if i == 0 {
						roundFirst = first
						// Nor does it jump to a leader's clock 20 s ahead: a
						// new leader continues where the timestamps stood,
						// at most a window on (with the restarts between).
						if jump := (first >> tsLogicalBits) - (last >> tsLogicalBits); canary == "" && last != 0 && jump > tsWindow>>tsLogicalBits+2000 {
							t.Fatalf("round %d: leader %s's first timestamp is %d ms after the last one issued", round, leader, jump)
						}
					}
					last = max(last, first+2)
					g.run(10 * time.Millisecond)
				}
			}
			var except actors.Addr
			for round := range 4 {
				leader := g.waitLeader(except)
				take(leader, round)
				if round == 2 {
					// The whole group restarts.
					for _, a := range g.addrs {
						g.crash(a)
					}
					for _, a := range g.addrs {
						g.start(a)
					}
					except = ""
					continue
				}
				g.crash(leader)
				g.run(100 * time.Millisecond)
				g.start(leader)
				except = leader
			}
			if canary != "" && !wentBack {
				t.Fatalf("canary %s never issued a timestamp below an earlier one: the test cannot tell it from the rule", canary)
			}
		})
	}
}

// A lease grant carries a timestamp above every one issued before it
// (rule ts-floor).
func TestLeaseGrantCarriesATimestamp(t *testing.T) {
	g := newGroup(t, 3, Config{})
	leader := g.waitLeader("")
	issued, ok := g.getTS(leader, 1, 5)
	if !ok {
		t.Fatal("no timestamp issued")
	}
	var grant *wire.LeaseGrant
	for i := uint64(1); grant == nil && i < 50; i++ {
		for _, m := range g.ask(leader, "data1", &wire.Heartbeat{Id: i, Replicas: status(1, true, true, 5)}) {
			if r, ok := m.(*wire.HeartbeatReply); ok && len(r.Leases) > 0 {
				grant = r.Leases[0]
			}
		}
		g.run(10 * time.Millisecond)
	}
	if grant == nil || grant.Ts <= issued+4 {
		t.Fatalf("grant %v: want a timestamp above the %d..%d issued before it", grant, issued, issued+4)
	}
}
