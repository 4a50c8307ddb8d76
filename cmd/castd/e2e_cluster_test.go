package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"castkv/checker"
)

// The kill-the-primary scenario's schedule and bounds. The schedule waits
// for events (the failover) rather than for fixed times, and the bounds are
// far above what the cluster needs, so a slow machine only makes the test
// slower.
const (
	killClients       = 8
	killOpTimeout     = e2eCommandTimeout // per command: above the API's request timeout
	killBeforeKill    = 3 * time.Second   // clients run this long before the primary dies
	killAfterFailover = 3 * time.Second   // ... and this long after writes are acknowledged again, before it restarts
	killAfterRestart  = 4 * time.Second   // ... and this long after its restart, to rejoin
	// killFailoverBound: writes are acknowledged again this soon after the
	// kill. Meta needs --fail-timeout to suspect the primary, a lease
	// (about 2 s) to wait out, and the new primary's barrier to commit.
	killFailoverBound  = e2eFailTimeout + 30*time.Second
	killPollEvery      = 100 * time.Millisecond
	killThinkMax       = 2 * time.Millisecond
	killStopBound      = killOpTimeout + 5*time.Second // clients to finish their last command
	killFinalReadBound = 60 * time.Second              // every client reads every key after the full restart
	killCheckTimeout   = 60 * time.Second              // porcupine
)

// killCluster is meta, three data servers and an API server, one process
// each.
type killCluster struct {
	meta       *daemon
	data       []*daemon
	api        *daemon
	clientAddr string
}

func startKillCluster(t *testing.T, ps *procs) *killCluster {
	t.Helper()
	ports := freePorts(t, 6) // meta, data1-3, api, client
	metaAddr := loopback(ports[0])
	var dataAddrs []string
	for i := 1; i <= 3; i++ {
		dataAddrs = append(dataAddrs, loopback(ports[i]))
	}
	kc := &killCluster{clientAddr: loopback(ports[5])}
	kc.meta = ps.start("meta", "meta", "--peer", metaAddr, "--data-dir", filepath.Join(ps.dir, "meta"),
		"--data-servers", strings.Join(dataAddrs, ","), "--log-level", "info",
		"--fail-timeout", e2eFailTimeout.String())
	for i, a := range dataAddrs {
		name := fmt.Sprintf("data%d", i+1)
		kc.data = append(kc.data, ps.start(name, "data", "--peer", a, "--data-dir", filepath.Join(ps.dir, name),
			"--meta", metaAddr, "--log-level", "info", "--remove-after", e2eRemoveAfter.String()))
	}
	kc.api = ps.start("api", "api", "--peer", loopback(ports[4]), "--data-dir", filepath.Join(ps.dir, "api"),
		"--meta", metaAddr, "--listen", kc.clientAddr, "--enable-flush", "--log-level", "info",
		"--request-timeout", e2eRequestTimeout.String())
	waitReady(t, kc.clientAddr, kc.all()...)
	return kc
}

func (kc *killCluster) all() []*daemon {
	return append([]*daemon{kc.meta, kc.api}, kc.data...)
}

func isWrite(cmd string) bool {
	switch cmd {
	case "get", "mget", "exists", "dbsize":
		return false
	}
	return true
}

func acked(op checker.Op) bool { return !op.Unknown && op.Output.Kind != checker.OutErr }

// TestClusterKillPrimary runs meta, three data servers and an API server as
// separate processes under eight concurrent clients, kills the primary
// data server with SIGKILL, restarts it, then restarts every process, has
// every client read every key, and checks that the whole history is
// linearizable (which includes: no acknowledged write was lost).
func TestClusterKillPrimary(t *testing.T) {
	dir := workDir(t)
	ps := newProcs(t, dir)
	kc := startKillCluster(t, ps)
	primary := kc.data[0] // the first of --data-servers is the first primary

	groups := [][]string{{"a0", "a1", "a2", "a3", "a4"}, {"b0", "b1", "b2", "b3", "b4"}}
	h := newHistory()
	var stop atomic.Bool
	var wg sync.WaitGroup
	recs := make([]*recorder, killClients)
	for i := range killClients {
		recs[i] = &recorder{h: h, c: newClient(t, kc.clientAddr), porcID: h.newClientID(), timeout: killOpTimeout}
		w := newWorkload(i, groups)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				recs[i].do(w.next())
				time.Sleep(time.Duration(w.rng.Int64N(int64(killThinkMax))))
			}
		}()
	}
	stopClients := func() {
		stop.Store(true)
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(killStopBound):
			t.Fatalf("clients did not finish their last command within %v", killStopBound)
		}
	}
	defer func() {
		if !stop.Load() {
			stopClients()
		}
	}()

	time.Sleep(killBeforeKill)
	killAt := h.now()
	primary.kill()
	t.Logf("killed %s (the primary) at %v", primary.name, time.Duration(killAt))
	// Failover: wait for the first acknowledgement of a write called after
	// the kill.
	recoveredAt, ok := h.waitAck(killAt, isWrite, killFailoverBound)
	if !ok {
		t.Fatalf("no write called after the kill of %s was acknowledged within %v: failover did not happen", primary.name, killFailoverBound)
	}
	t.Logf("writes acknowledged again %v after the kill", time.Duration(recoveredAt-killAt))
	time.Sleep(killAfterFailover)
	restartAt := h.now()
	primary.start()
	t.Logf("restarted %s at %v", primary.name, time.Duration(restartAt))
	time.Sleep(killAfterRestart)
	stopClients()
	workloadEnd := h.now()

	ops := h.snapshot()
	t.Logf("workload: %s", opStats(ops))
	t.Logf("workload errors: %s", errorKinds(ops))
	afterRejoin := 0
	for _, op := range ops {
		if acked(op) && isWrite(op.Input.Cmd) && op.Call > restartAt {
			afterRejoin++
		}
	}
	if afterRejoin == 0 {
		t.Errorf("no write called after %s restarted was acknowledged", primary.name)
	}
	var window []checker.Op
	for _, op := range ops {
		if op.Call < restartAt {
			window = append(window, op)
		}
	}
	// The API retries through the failover, so once it is done every op
	// succeeds, and a rejoining server must not disturb service.
	if ok, why := checker.CheckLiveness(window, recoveredAt, 0); !ok {
		t.Errorf("service faltered after it recovered from the kill: %s", why)
	}
	if ok, why := checker.CheckLiveness(ops, restartAt, 0); !ok {
		t.Errorf("service disturbed while %s rejoined: %s", primary.name, why)
	}
	var longest checker.Op
	for _, op := range ops {
		if op.Return-op.Call > longest.Return-longest.Call {
			longest = op
		}
	}
	t.Logf("longest op: %v, called at %v: %s", time.Duration(longest.Return-longest.Call), time.Duration(longest.Call), longest)

	// Restart every process, as after a power cut but with a clean stop.
	for _, d := range kc.all() {
		d.stop()
	}
	if t.Failed() {
		t.FailNow()
	}
	for _, d := range append(append([]*daemon{kc.meta}, kc.data...), kc.api) {
		d.start()
	}
	waitReady(t, kc.clientAddr, kc.all()...)
	restartedAt := h.now()

	// Final reads: every client reads every key, on a fresh connection.
	var keys []string
	for _, g := range groups {
		keys = append(keys, g...)
	}
	var fwg sync.WaitGroup
	unread := make([][]string, killClients)
	for i, r := range recs {
		r.c = newClient(t, kc.clientAddr)
		fwg.Add(1)
		go func() {
			defer fwg.Done()
			deadline := time.Now().Add(killFinalReadBound)
			for _, k := range keys {
				for {
					if acked(r.do(checker.Input{Cmd: "get", Keys: []string{k}})) {
						break
					}
					if time.Now().After(deadline) {
						unread[i] = append(unread[i], k)
						break
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}
	fwg.Wait()
	for i, u := range unread {
		if len(u) > 0 {
			t.Errorf("client %d could not read %v within %v of the full restart", i, u, killFinalReadBound)
		}
	}

	ops = h.snapshot()
	t.Logf("whole history: %s", opStats(ops))
	for _, p := range h.problems {
		t.Errorf("unexpected reply: %s", p)
	}
	t.Logf("timeline: kill %v, restart of %s %v, workload end %v, full restart ready %v",
		time.Duration(killAt), primary.name, time.Duration(restartAt), time.Duration(workloadEnd), time.Duration(restartedAt))

	begin := time.Now()
	res := checker.Check(ops, killCheckTimeout)
	t.Logf("checker: %s in %v", res, time.Since(begin).Round(time.Millisecond))
	if !res.Linearizable {
		path := filepath.Join(dir, "history.html")
		if err := res.WriteHTML(path); err != nil {
			t.Errorf("history %s; writing its visualization: %v", res, err)
		} else {
			t.Errorf("history %s; visualization: %s", res, path)
		}
		if f, err := os.Create(filepath.Join(dir, "history.txt")); err == nil {
			for _, op := range ops {
				fmt.Fprintf(f, "client %d [%v, %v] %s\n", op.Client, time.Duration(op.Call), time.Duration(op.Return), op)
			}
			f.Close()
			t.Logf("history as text: %s", f.Name())
		}
	}
}
