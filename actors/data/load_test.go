package data

import (
	"testing"

	"castkv/actors"
	"castkv/actors/roletest"
	"castkv/actors/wire"
)

// A primary's heartbeat reports its shard's load: the live keys and bytes
// of the applied state, kept by every write as it applies (an overwrite
// and a deletion named the value they replaced), and the commands it
// served per second over the last window. Writes by a transaction count
// too. A secondary reports no load.
func TestPrimaryHeartbeatReportsLoad(t *testing.T) {
	env := roletest.New("data1", 1)
	defer env.Close()
	s := primaryWithLease(t, env, Config{Meta: []actors.Addr{"meta"}}, config(1, "data1", nil))
	counter := uint64(0)
	write := func(args ...string) {
		t.Helper()
		counter++
		s.Handle(env, "api1", &wire.Commit{Shard: 0, ConfigVersion: 1, Ts: nextTS(), Op: &wire.OpID{Incarnation: 1, Counter: counter},
			Watermark: counter, Command: cmdOf(args...)})
		sent := settle(env, s)
		if rs := roletest.Of[*wire.CommitReply](sent); len(rs) != 1 || rs[0].Status != wire.Status_OK {
			t.Fatalf("%q: %v", args, sent)
		}
	}
	load := func() *wire.ShardLoad {
		t.Helper()
		s.sendHeartbeat(env)
		hbs := roletest.Of[*wire.Heartbeat](env.Take())
		if len(hbs) != 1 || len(hbs[0].Replicas) != 1 || hbs[0].Replicas[0].Load == nil {
			t.Fatalf("heartbeat %v: want one replica's status with a load", hbs)
		}
		return hbs[0].Replicas[0].Load
	}
	load()                              // opens the window
	write("SET", "a", "12345")          // 1 + 5
	write("SET", "bb", "x")             // 2 + 1
	write("SET", "a", "1")              // an overwrite: 1 + 1, not 1 + 5
	write("MSET", "c", "", "d", "four") // 1 + 0, 1 + 4
	write("DEL", "bb")
	s.Handle(env, "api1", &wire.Read{Shard: 0, ConfigVersion: 1, Id: 1, Incarnation: 1, Ts: nextTS(), Command: cmdOf("GET", "a")})
	if rr := roletest.Of[*wire.ReadReply](settle(env, s)); len(rr) != 1 || rr[0].Status != wire.Status_OK {
		t.Fatalf("GET: %v", rr)
	}
	env.Advance(2 * loadWindow)
	l := load()
	if l.LiveKeys != 3 || l.LiveBytes != 2+1+5 {
		t.Errorf("load %v: want 3 live keys of 8 bytes (a=1, c='', d=four)", l)
	}
	if want := 6 / (2 * loadWindow).Seconds(); l.OpsPerSec != want {
		t.Errorf("ops/s %v, want %v: five writes and a read in two seconds", l.OpsPerSec, want)
	}
	if err := env.Store().CheckShape(0); err != nil {
		t.Error(err)
	}
	// The rate holds until the next window ends, then falls to what that
	// one saw: nothing.
	if l := load(); l.OpsPerSec != 6/(2*loadWindow).Seconds() {
		t.Errorf("ops/s %v within the next window, want the last window's", l.OpsPerSec)
	}
	env.Advance(loadWindow)
	if l := load(); l.OpsPerSec != 0 || l.LiveKeys != 3 {
		t.Errorf("an idle window: %v, want 0 ops/s and the same 3 keys", l)
	}
}

// A secondary's heartbeat says nothing of load: only the primary serves.
func TestSecondaryHeartbeatReportsNoLoad(t *testing.T) {
	env, s := secondaryWithLog(t, 3, 2)
	defer env.Close()
	s.sendHeartbeat(env)
	hbs := roletest.Of[*wire.Heartbeat](env.Take())
	if len(hbs) != 1 || len(hbs[0].Replicas) != 1 || hbs[0].Replicas[0].Load != nil {
		t.Fatalf("secondary's heartbeat %v: want no load", hbs)
	}
}
