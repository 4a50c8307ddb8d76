package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"castkv/actors"
	"castkv/actors/wire"
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
	// killCheckTimeout bounds porcupine's search. Most histories take
	// milliseconds, but the 32 unknown outcomes of four API kills can make
	// one take 21 s on an idle machine (TestClusterKillAPIDuringTransactions,
	// 5168 ops, replayed with the checker alone), and more than 60 s beside
	// a second CI run: the bound is for a loaded machine, not a speed claim.
	killCheckTimeout = 5 * time.Minute
)

// killCluster is three meta members, three data servers (or more) and an
// API server (or more), one process each.
type killCluster struct {
	ps          *procs
	metas       []*daemon
	metaAddrs   []string
	dataAddrs   []string
	data        []*daemon
	api         *daemon // apis[0]
	apis        []*daemon
	clientAddr  string     // clientAddrs[0]
	clientAddrs []string   // each API server's RESP port
	groups      [][]string // the keys clients use, in groups a multi-key command spans
	// datasStarted counts the data servers ever started, lost ones too:
	// the next one's name.
	datasStarted int
}

// clusterShape is how many data servers and shards a kill test's cluster
// has, and the key groups its clients use (one shard each).
type clusterShape struct {
	datas, shards int
	apis          int // 0: one
	groups        [][]string
}

var defaultShape = clusterShape{datas: 3, shards: 1, groups: killGroups}

func startKillCluster(t *testing.T, ps *procs) *killCluster {
	return startShapedCluster(t, ps, defaultShape)
}

func startShapedCluster(t *testing.T, ps *procs, shape clusterShape) *killCluster {
	t.Helper()
	apis := max(shape.apis, 1)
	ports := freePorts(t, 3+shape.datas+2*apis) // meta1-3, data1-N, then per API server its peer and client ports
	kc := &killCluster{ps: ps, groups: shape.groups}
	var dataAddrs []string
	for i := 0; i < 3; i++ {
		kc.metaAddrs = append(kc.metaAddrs, loopback(ports[i]))
	}
	for i := 0; i < shape.datas; i++ {
		dataAddrs = append(dataAddrs, loopback(ports[3+i]))
	}
	kc.dataAddrs = dataAddrs
	kc.datasStarted = shape.datas
	metaList := strings.Join(kc.metaAddrs, ",")
	for i, a := range kc.metaAddrs {
		name := fmt.Sprintf("meta%d", i+1)
		kc.metas = append(kc.metas, ps.start(name, "meta", "--peer", a, "--data-dir", filepath.Join(ps.dir, name),
			"--data-servers", strings.Join(dataAddrs, ","), "--meta-peers", metaList, "--log-level", "info",
			"--fail-timeout", e2eFailTimeout.String(), "--shards", fmt.Sprint(shape.shards), "--txn-lifetime", e2eTxnLifetime.String()))
	}
	for i, a := range dataAddrs {
		name := fmt.Sprintf("data%d", i+1)
		kc.data = append(kc.data, ps.start(name, "data", "--peer", a, "--data-dir", filepath.Join(ps.dir, name),
			"--meta", metaList, "--log-level", "info", "--remove-after", e2eRemoveAfter.String()))
	}
	for i := range apis {
		name := "api"
		if i > 0 {
			name = fmt.Sprintf("api%d", i+1)
		}
		peer, client := loopback(ports[3+shape.datas+2*i]), loopback(ports[4+shape.datas+2*i])
		kc.apis = append(kc.apis, ps.start(name, "api", "--peer", peer, "--data-dir", filepath.Join(ps.dir, name),
			"--meta", metaList, "--listen", client, "--enable-flush", "--log-level", "info",
			"--request-timeout", e2eRequestTimeout.String()))
		kc.clientAddrs = append(kc.clientAddrs, client)
	}
	kc.api, kc.clientAddr = kc.apis[0], kc.clientAddrs[0]
	for _, a := range kc.clientAddrs {
		waitReady(t, a, kc.all()...)
	}
	return kc
}

// addData starts a data server that was not in the cluster's bootstrap
// list: it registers with meta by its first heartbeat.
func (kc *killCluster) addData(t *testing.T) *daemon {
	t.Helper()
	a := loopback(freePorts(t, 1)[0])
	kc.datasStarted++
	name := fmt.Sprintf("data%d", kc.datasStarted)
	d := kc.ps.start(name, "data", "--peer", a, "--data-dir", filepath.Join(kc.ps.dir, name),
		"--meta", strings.Join(kc.metaAddrs, ","), "--log-level", "info", "--remove-after", e2eRemoveAfter.String())
	kc.dataAddrs = append(kc.dataAddrs, a)
	kc.data = append(kc.data, d)
	return d
}

// metaPeers are the meta members' role addresses, as castd admin takes them.
func (kc *killCluster) metaPeers() []actors.Addr {
	var metas []actors.Addr
	for _, a := range kc.metaAddrs {
		metas = append(metas, roleAddr(a, "meta"))
	}
	return metas
}

func (kc *killCluster) all() []*daemon {
	return append(append(slices.Clone(kc.metas), kc.apis...), kc.data...)
}

// admin sends the meta group a membership request, as castd admin does,
// and fails the test unless it succeeds.
func (kc *killCluster) admin(t *testing.T, req *wire.MetaMembers) *wire.MetaMembersReply {
	t.Helper()
	metas := kc.metaPeers()
	req.Id = uint64(time.Now().UnixNano())
	if req.Add != "" {
		req.Add = string(roleAddr(req.Add, "meta"))
	}
	if req.Remove != "" {
		req.Remove = string(roleAddr(req.Remove, "meta"))
	}
	answer, err := askMeta(metas, "127.0.0.1:0", req, killFailoverBound)
	if err != nil {
		t.Fatalf("meta membership %v: %v", req, err)
	}
	rep := answer.(*wire.MetaMembersReply)
	if rep.Error != "" {
		t.Fatalf("meta membership %v: %v", req, rep)
	}
	return rep
}

// metaLeader asks the meta group which member leads (castd admin's
// request) and returns its daemon.
func (kc *killCluster) metaLeader(t *testing.T) *daemon {
	t.Helper()
	metas := kc.metaPeers()
	answer, err := askMeta(metas, "127.0.0.1:0", &wire.MetaMembers{Id: uint64(time.Now().UnixNano())}, killFailoverBound)
	if err != nil {
		t.Fatalf("asking the meta group for its leader: %v", err)
	}
	rep := answer.(*wire.MetaMembersReply)
	for i, a := range kc.metaAddrs {
		if string(roleAddr(a, "meta")) == rep.Leader {
			return kc.metas[i]
		}
	}
	t.Fatalf("the meta leader %q is none of %v", rep.Leader, kc.metaAddrs)
	return nil
}

func isWrite(cmd string) bool {
	switch cmd {
	case "get", "mget", "exists", "dbsize":
		return false
	}
	return true
}

func acked(op checker.Op) bool { return !op.Unknown && op.Output.Kind != checker.OutErr }

// ackedWritesAfter counts the acknowledged writes called after t.
func ackedWritesAfter(ops []checker.Op, t int64) int {
	n := 0
	for _, op := range ops {
		if acked(op) && isWrite(op.Input.Cmd) && op.Call > t {
			n++
		}
	}
	return n
}

// TestClusterKillPrimary runs three meta members, three data servers and
// an API server as separate processes under eight concurrent clients,
// kills the primary data server with SIGKILL, restarts it, then restarts
// every process, has every client read every key, and checks that the
// whole history is linearizable (which includes: no acknowledged write was
// lost).
func TestClusterKillPrimary(t *testing.T) {
	dir := workDir(t)
	ps := newProcs(t, dir)
	kc := startKillCluster(t, ps)
	primary := kc.data[0] // the first of --data-servers is the first primary
	h := newHistory()
	pool := startClients(t, kc, h)
	defer pool.stopIfRunning(t)

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
	pool.stop(t)
	workloadEnd := h.now()

	ops := h.snapshot()
	t.Logf("workload: %s", opStats(ops))
	t.Logf("workload errors: %s", errorKinds(ops))
	if ackedWritesAfter(ops, restartAt) == 0 {
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
	t.Logf("longest op: %s", longestOp(ops))
	if t.Failed() {
		t.FailNow()
	}
	restartedAt := restartAllAndRead(t, kc, h, pool)
	t.Logf("timeline: kill %v, restart of %s %v, workload end %v, full restart ready %v",
		time.Duration(killAt), primary.name, time.Duration(restartAt), time.Duration(workloadEnd), time.Duration(restartedAt))
	checkHistory(t, h, dir)
}

// The meta-kill scenario's bounds. Losing the meta leader costs an
// election (--election-timeout, 500 ms, plus up to as much again) and the
// API's retry of its GetTS at the new leader (one attempt timeout, 500 ms,
// per member it tries); primaries serve on their leases meanwhile. On an
// idle machine commands stall 1-2.5 s at the leader's kill and not at all
// at the other steps. The bounds are far above that, because a wall-clock
// bound only a quiet machine meets fails for users: with two CI runs at
// once on 2 cores, eight commands once took 6.7-7.2 s while a follower was
// down, with no error and no op lost, and broke the first bound, 4 s (one
// lease, doubled). The simulator holds Guarantee 3 to its liveBound in
// virtual time; here the test logs each step's recovery and the longest
// command, so the figures can be compared with that.
const (
	// metaRecoverBound: after each step (a kill, a restart, a membership
	// change) a write called after it is acknowledged within this, or the
	// test fails at that step. It catches a cluster that does not serve
	// again, as when the API's GetTS went around a group with a dead
	// member for good.
	metaRecoverBound = e2eRequestTimeout
	// metaKillStall bounds every command: three quarters of the API's
	// request timeout, where the API starts to settle a write it has no
	// answer for. A meta member's loss may not bring a command that close
	// to being given up.
	metaKillStall = e2eRequestTimeout * 3 / 4
)

// servedAfter fails the test unless a write called after at, when step
// happened, is acknowledged within metaRecoverBound, and logs how long
// that took.
func servedAfter(t *testing.T, h *history, step string, at int64) {
	t.Helper()
	back, ok := h.waitAck(at, isWrite, metaRecoverBound)
	if !ok {
		t.Fatalf("no write called after the %s at %v was acknowledged within %v", step, time.Duration(at), metaRecoverBound)
	}
	t.Logf("%s at %v; a write called after it acknowledged %v later", step, time.Duration(at), time.Duration(back-at).Round(time.Millisecond))
}

// TestClusterKillMetaLeader kills the meta group's leader with SIGKILL under
// steady load, restarts it, then kills and restarts a follower, then adds a
// member and removes one (castd admin's requests) and kills another: after
// each step writes are acknowledged again within metaRecoverBound, no
// client sees an error, no command takes longer than metaKillStall, and the
// whole history is linearizable. The primaries keep serving on their leases while
// the two others elect a leader, which the data servers find by redirects.
func TestClusterKillMetaLeader(t *testing.T) {
	dir := workDir(t)
	ps := newProcs(t, dir)
	kc := startKillCluster(t, ps)
	h := newHistory()
	pool := startClients(t, kc, h)
	defer pool.stopIfRunning(t)

	time.Sleep(killBeforeKill)
	leader := kc.metaLeader(t)
	killAt := h.now()
	leader.kill()
	next := kc.metaLeader(t)
	t.Logf("%s leads the meta group %v after the kill", next.name, time.Since(h.start.Add(time.Duration(killAt))).Round(time.Millisecond))
	servedAfter(t, h, fmt.Sprintf("kill of %s (the meta leader)", leader.name), killAt)
	time.Sleep(killAfterFailover)
	at := h.now()
	leader.start()
	servedAfter(t, h, "restart of "+leader.name, at)
	time.Sleep(killAfterRestart)
	// A follower of the leader now: a loaded machine can move the
	// leadership between steps.
	follower := kc.metas[0]
	if follower == kc.metaLeader(t) {
		follower = kc.metas[1]
	}
	at = h.now()
	follower.kill()
	servedAfter(t, h, fmt.Sprintf("kill of %s (a meta follower)", follower.name), at)
	time.Sleep(killAfterFailover)
	at = h.now()
	follower.start()
	servedAfter(t, h, "restart of "+follower.name, at)
	time.Sleep(killAfterRestart)

	// Membership, online: meta4 joins, the restarted follower leaves, and
	// the group of three that is left survives the loss of one more.
	at = h.now()
	joinAddr := loopback(freePorts(t, 1)[0])
	meta4 := ps.start("meta4", "meta", "--peer", joinAddr, "--data-dir", filepath.Join(ps.dir, "meta4"), "--join",
		"--data-servers", strings.Join(kc.dataAddrs, ","), "--log-level", "info", "--fail-timeout", e2eFailTimeout.String())
	kc.admin(t, &wire.MetaMembers{Add: joinAddr})
	removed := kc.metas[0]
	if removed == kc.metaLeader(t) {
		removed = kc.metas[1]
	}
	kc.admin(t, &wire.MetaMembers{Remove: kc.metaAddrs[slices.Index(kc.metas, removed)]})
	removed.kill()
	i := slices.Index(kc.metas, removed)
	kc.metas[i], kc.metaAddrs[i] = meta4, joinAddr
	servedAfter(t, h, fmt.Sprintf("join of %s and leave of %s", meta4.name, removed.name), at)
	time.Sleep(killAfterRestart)
	lead := kc.metaLeader(t)
	var other *daemon
	for _, d := range kc.metas {
		if d != meta4 && d != lead {
			other = d
		}
	}
	at = h.now()
	other.kill()
	servedAfter(t, h, fmt.Sprintf("kill of %s (%s and the leader carry on)", other.name, meta4.name), at)
	time.Sleep(killAfterFailover)
	at = h.now()
	other.start()
	servedAfter(t, h, "restart of "+other.name, at)
	time.Sleep(killAfterRestart)
	pool.stop(t)

	ops := h.snapshot()
	t.Logf("workload: %s", opStats(ops))
	t.Logf("longest op: %s", longestOp(ops))
	if ok, why := checker.CheckLiveness(ops, 0, 0); !ok {
		t.Errorf("a client saw an error while meta members were killed and restarted: %s (errors: %s)", why, errorKinds(ops))
	}
	for _, op := range ops {
		if d := time.Duration(op.Return - op.Call); d > metaKillStall {
			t.Errorf("a command took %v (bound %v), called %v after the leader's kill: %s", d, metaKillStall, time.Duration(op.Call-killAt), op)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	restartAllAndRead(t, kc, h, pool)
	checkHistory(t, h, dir)
}

// longestOp describes the command of ops that took longest.
func longestOp(ops []checker.Op) string {
	var longest checker.Op
	for _, op := range ops {
		if op.Return-op.Call > longest.Return-longest.Call {
			longest = op
		}
	}
	return fmt.Sprintf("%v, called at %v: %s", time.Duration(longest.Return-longest.Call), time.Duration(longest.Call), longest)
}

// killGroups are the keys the kill tests' clients use, in groups an MSET
// or MGET spans.
var killGroups = [][]string{{"a0", "a1", "a2", "a3", "a4"}, {"b0", "b1", "b2", "b3", "b4"}}

// clientPool is killClients concurrent clients recording one history.
type clientPool struct {
	recs    []*recorder
	stopped atomic.Bool
	wg      sync.WaitGroup
}

func startClients(t *testing.T, kc *killCluster, h *history) *clientPool {
	t.Helper()
	pool := &clientPool{recs: make([]*recorder, killClients)}
	for i := range killClients {
		pool.recs[i] = &recorder{h: h, c: newClient(t, kc.clientAddrs[i%len(kc.clientAddrs)]), porcID: h.newClientID(), timeout: killOpTimeout}
		w := newWorkload(i, kc.groups)
		pool.wg.Add(1)
		go func() {
			defer pool.wg.Done()
			for !pool.stopped.Load() {
				pool.recs[i].do(w.next())
				time.Sleep(time.Duration(w.rng.Int64N(int64(killThinkMax))))
			}
		}()
	}
	return pool
}

// stop ends the clients after their current command.
func (pool *clientPool) stop(t *testing.T) {
	t.Helper()
	pool.stopped.Store(true)
	done := make(chan struct{})
	go func() { pool.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(killStopBound):
		t.Fatalf("clients did not finish their last command within %v", killStopBound)
	}
}

func (pool *clientPool) stopIfRunning(t *testing.T) {
	if !pool.stopped.Load() {
		pool.stop(t)
	}
}

// restartAllAndRead stops every process and starts them again, as after a
// power cut but with a clean stop, then has every client read every key on
// a fresh connection; it returns when the cluster served again.
func restartAllAndRead(t *testing.T, kc *killCluster, h *history, pool *clientPool) int64 {
	t.Helper()
	for _, d := range kc.all() {
		d.stop()
	}
	for _, d := range append(append(slices.Clone(kc.metas), kc.data...), kc.apis...) {
		d.start()
	}
	waitReady(t, kc.clientAddr, kc.all()...)
	restartedAt := h.now()
	var keys []string
	for _, g := range kc.groups {
		keys = append(keys, g...)
	}
	var wg sync.WaitGroup
	unread := make([][]string, killClients)
	for i, r := range pool.recs {
		r.c = newClient(t, kc.clientAddr)
		wg.Add(1)
		go func() {
			defer wg.Done()
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
	wg.Wait()
	for i, u := range unread {
		if len(u) > 0 {
			t.Errorf("client %d could not read %v within %v of the full restart", i, u, killFinalReadBound)
		}
	}
	return restartedAt
}

// checkHistory checks the whole history with porcupine (which covers
// durability: every acknowledged write is read back) and reports any reply
// the clients did not expect.
func checkHistory(t *testing.T, h *history, dir string) {
	t.Helper()
	ops := h.snapshot()
	t.Logf("whole history: %s", opStats(ops))
	for _, p := range h.problems {
		t.Errorf("unexpected reply: %s", p)
	}
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

// repairBound: after a data server is lost, every shard it held is back to
// three replicas this soon. A secondary is removed after --remove-after
// without progress; a primary is replaced after --fail-timeout and a lease,
// and its successor removes it; then the spare server joins each shard as a
// learner, catches up and is promoted. The bound is far above that.
const repairBound = 60 * time.Second

// configs asks the meta leader for the cluster map, as castd admin status
// does.
func (kc *killCluster) configs(t *testing.T) []*wire.Config {
	t.Helper()
	metas := kc.metaPeers()
	answer, err := askMeta(metas, "127.0.0.1:0", &wire.GetConfig{Id: uint64(time.Now().UnixNano())}, killFailoverBound)
	if err != nil {
		t.Fatalf("asking meta for the cluster map: %v", err)
	}
	return answer.(*wire.ConfigUpdate).Configs
}

// perServer counts, per data server, the shards it is a counted member of
// and the shards it leads, as "host:port replicas/primaries" in address
// order.
func perServer(configs []*wire.Config) string {
	replicas, primaries := map[string]int{}, map[string]int{}
	for _, c := range configs {
		primaries[c.Primary]++
		for _, m := range append([]string{c.Primary}, c.Secondaries...) {
			replicas[m]++
		}
	}
	var names []string
	for n := range replicas {
		names = append(names, n)
	}
	slices.Sort(names)
	var out []string
	for _, n := range names {
		out = append(out, fmt.Sprintf("%s %d/%d", strings.TrimSuffix(n, "/data"), replicas[n], primaries[n]))
	}
	return strings.Join(out, ", ")
}

// fullyReplicated reports whether every shard has a primary and two
// secondaries, none of them gone, and no learner still catching up.
func fullyReplicated(configs []*wire.Config, gone string) bool {
	for _, c := range configs {
		members := append([]string{c.Primary}, c.Secondaries...)
		if c.Primary == "" || len(members) != 3 || len(c.Learners) > 0 || slices.Contains(members, gone) {
			return false
		}
	}
	return true
}

// twoShardGroups are eight groups of three keys (the workload's multi-key
// commands name up to three of one group) over two shards, a pair
// (2i, 2i+1) always in different shards, so the workload's pair commands
// (pairKeys) are MGETs and transactions across shards. With two shards
// slots 0-8191 are shard 0: {a} is slot 15495, {b} 3300, {c} 7365, {d}
// 11298, {e} 15363, {f} 3168, {g} 7233, {h} 11694. Small groups keep each
// pair's ops few enough for porcupine on a loaded machine: four groups of
// four keys left a pair of 1,100 ops undecided after a minute under two
// CI runs at once.
func twoShardGroups() [][]string {
	var groups [][]string
	for _, tag := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		var g []string
		for i := range 3 {
			g = append(g, fmt.Sprintf("{%s}%d", tag, i))
		}
		groups = append(groups, g)
	}
	return groups
}

// apiKills is how many times TestClusterKillAPIDuringTransactions kills the
// API server, and apiKillEvery how far apart.
const (
	apiKills     = 4
	apiKillEvery = 700 * time.Millisecond
)

// TestClusterKillAPIDuringTransactions runs two shards under eight clients
// whose MSETs and DELs often span both (transactions coordinated by the API
// server), and kills the API server with SIGKILL again and again, restarting
// it each time: a coordinator dies between prewrite and commit, its locks
// stay behind for readers to resolve, and the whole history (porcupine,
// every MGET across the shards included) must show no MSET or DEL half
// applied. First, MSET {a}1 x {b}2 y, which Redis Cluster refuses with
// CROSSSLOT, succeeds and reads back whole.
func TestClusterKillAPIDuringTransactions(t *testing.T) {
	dir := workDir(t)
	ps := newProcs(t, dir)
	kc := startShapedCluster(t, ps, clusterShape{datas: 3, shards: 2, groups: twoShardGroups()})
	c := newClient(t, kc.clientAddr)
	ctx, cancel := context.WithTimeout(context.Background(), e2eCommandTimeout)
	defer cancel()
	if err := c.MSet(ctx, "{a}1", "x", "{b}2", "y").Err(); err != nil {
		t.Fatalf("MSET {a}1 x {b}2 y across two shards: %v", err)
	}
	if got, err := c.MGet(ctx, "{a}1", "{b}2").Result(); err != nil || fmt.Sprint(got) != "[x y]" {
		t.Fatalf("MGET {a}1 {b}2 after the MSET: %v, %v; want [x y]", got, err)
	}
	if n, err := c.Del(ctx, "{a}1", "{b}2", "{c}3").Result(); err != nil || n != 2 {
		t.Fatalf("DEL {a}1 {b}2 {c}3 across two shards: %d, %v; want 2", n, err)
	}

	h := newHistory()
	pool := startClients(t, kc, h)
	defer pool.stopIfRunning(t)
	time.Sleep(killBeforeKill)
	for i := range apiKills {
		kc.api.kill()
		t.Logf("killed the API server at %v (kill %d of %d)", time.Duration(h.now()), i+1, apiKills)
		time.Sleep(100 * time.Millisecond)
		kc.api.start()
		time.Sleep(apiKillEvery)
	}
	lastStart := h.now()
	if _, ok := h.waitAck(lastStart, isWrite, killFailoverBound); !ok {
		t.Fatalf("no write called after the last restart of the API server was acknowledged within %v", killFailoverBound)
	}
	time.Sleep(killAfterRestart)
	pool.stop(t)
	logWorkload(t, h)
	// With no client left, no lock may stay: one a killed coordinator left
	// on a key nobody read again is the background resolver's to clear.
	// (The workload's readers usually clear them all first; the resolver's
	// own test is actors/api's TestResolverReadsKeysWithExpiredLocks.)
	locks, when := kc.waitShardsReport(t, "locks", (*wire.ShardLoad).GetLocks)
	t.Logf("locks per shard once the clients stopped: %v; none %v later", locks, when)
	// Nor may a transaction record stay: a killed coordinator never
	// forgets its own, and those of transactions readers rolled back have
	// nobody to forget them. They go once the gc point passes them
	// (actors/data/gc.go), --txn-lifetime after they began.
	records, when := kc.waitShardsReport(t, "transaction records", (*wire.ShardLoad).GetTxnRecords)
	t.Logf("transaction records per shard once no lock was left: %v; none %v later", records, when)
	restartAllAndRead(t, kc, h, pool)
	checkHistory(t, h, dir)
}

// resolvedBound bounds how long the locks of dead coordinators outlive the
// clients: a lock's TTL (3 s), two rounds of the resolver (5 s each) and
// the heartbeats that report the counts, with room for a loaded machine;
// and how long their records outlive the locks: the lifetime, and a
// second or two for the gc point to reach every primary's log.
const resolvedBound = 60 * time.Second

// e2eTxnLifetime is meta's --txn-lifetime in the cluster tests: short, so
// that records are collected within a test, and far above any prewrite's
// time on a loaded machine.
const e2eTxnLifetime = 10 * time.Second

// waitShardsReport waits until every shard's primary reports a count of 0
// (count reads it from the shard's load, what names it), and returns the
// counts it first saw and how long it took.
func (kc *killCluster) waitShardsReport(t *testing.T, what string, count func(*wire.ShardLoad) uint64) (first []uint64, took time.Duration) {
	t.Helper()
	start := time.Now()
	for {
		answer, err := askMeta(kc.metaPeers(), "127.0.0.1:0", &wire.DataServers{Id: uint64(time.Now().UnixNano())}, killFailoverBound)
		if err != nil {
			t.Fatalf("asking meta for the shards' load: %v", err)
		}
		var counts []uint64
		left := false
		for _, s := range answer.(*wire.DataServersReply).Shards {
			n := count(s.GetLoad())
			counts = append(counts, n)
			left = left || s.GetLoad() == nil || n > 0
		}
		if first == nil {
			first = counts
		}
		if !left {
			return first, time.Since(start).Round(100 * time.Millisecond)
		}
		if time.Since(start) > resolvedBound {
			t.Fatalf("%v on, shards still report %s (or no load): %v", resolvedBound, what, counts)
		}
		time.Sleep(killPollEvery)
	}
}

// logWorkload logs what the clients did and fails the test unless some
// MSET or DEL across two shards was acknowledged; it returns the history.
func logWorkload(t *testing.T, h *history) []checker.Op {
	t.Helper()
	ops := h.snapshot()
	t.Logf("workload: %s", opStats(ops))
	t.Logf("workload errors: %s", errorKinds(ops))
	t.Logf("longest op: %s", longestOp(ops))
	cross := 0
	for _, op := range ops {
		if acked(op) && (op.Input.Cmd == "mset" || op.Input.Cmd == "del") && spansPair(op.Input.Keys) {
			cross++
		}
	}
	t.Logf("acknowledged MSETs and DELs across two shards: %d", cross)
	if cross == 0 {
		t.Errorf("no MSET or DEL across shards was acknowledged: the test did not exercise transactions")
	}
	return ops
}

// spansPair reports whether keys hold two hash tags.
func spansPair(keys []string) bool {
	for _, k := range keys[1:] {
		if k[:3] != keys[0][:3] {
			return true
		}
	}
	return false
}

// balanceBound: after a data server joins, the balancer has moved its
// share to it this soon. A move is a learner catching up and being
// promoted, then the old member dropped, one per --balance-every (1 s);
// about six are needed here. The bound is far above that.
const balanceBound = 90 * time.Second

// holds reports whether addr is a member of any shard.
func holds(configs []*wire.Config, addr string) bool {
	for _, c := range configs {
		if c.Primary == addr || slices.Contains(c.Secondaries, addr) || slices.Contains(c.Learners, addr) {
			return true
		}
	}
	return false
}

// evenShare reports whether every server of servers holds a share of the
// shards' counted replicas, and of their primaries, within one of every
// other's, with every shard fully replicated.
func evenShare(configs []*wire.Config, servers []string) bool {
	if !fullyReplicated(configs, "") {
		return false
	}
	replicas, primaries := map[string]int{}, map[string]int{}
	for _, c := range configs {
		primaries[c.Primary]++
		for _, m := range append([]string{c.Primary}, c.Secondaries...) {
			replicas[m]++
		}
	}
	var r, p []int
	for _, s := range servers {
		r, p = append(r, replicas[s]), append(p, primaries[s])
	}
	return slices.Max(r)-slices.Min(r) <= 1 && slices.Max(p)-slices.Min(p) <= 1
}

// TestClusterScaleOut is issue 10's real cluster: three meta members, five
// data servers holding four shards, two API servers, eight clients whose
// MSETs, MGETs and DELs often span two shards, recorded for porcupine.
// Under that load: one data server is lost for good and every shard comes
// back to three replicas without an operator; one API server is killed
// with SIGKILL again and again while it coordinates transactions; a sixth
// data server is started and meta moves replicas and primaries to it until
// every live server holds a share within one of even; then castd admin
// drains it again, and castd admin status shows it holding nothing. Then the cluster
// restarts, every key is read back, and the whole history must be
// linearizable: no acknowledged write lost, no MSET or DEL seen half done.
func TestClusterScaleOut(t *testing.T) {
	dir := workDir(t)
	ps := newProcs(t, dir)
	kc := startShapedCluster(t, ps, clusterShape{datas: 5, shards: 4, apis: 2, groups: twoShardGroups()})
	before := kc.configs(t)
	if len(before) != 4 || !fullyReplicated(before, "") {
		t.Fatalf("want four shards of three replicas, got %v", before)
	}
	t.Logf("replicas/primaries per server at the start: %s", perServer(before))
	h := newHistory()
	pool := startClients(t, kc, h)
	defer pool.stopIfRunning(t)
	time.Sleep(killBeforeKill)

	// A data server lost for good.
	lost, gone := kc.data[0], string(roleAddr(kc.dataAddrs[0], "data"))
	killAt := h.now()
	lost.kill()
	t.Logf("killed %s for good at %v", lost.name, time.Duration(killAt))
	deadline := time.Now().Add(repairBound)
	var repaired []*wire.Config
	for repaired = kc.configs(t); !fullyReplicated(repaired, gone); repaired = kc.configs(t) {
		if time.Now().After(deadline) {
			ops := h.snapshot()
			t.Fatalf("%v after losing %s the shards are not back to three replicas: %v\nworkload: %s\nerrors: %s",
				repairBound, lost.name, repaired, opStats(ops), errorKinds(ops))
		}
		time.Sleep(killPollEvery)
	}
	t.Logf("every shard back to three replicas %v after the kill; per server: %s", time.Duration(h.now()-killAt), perServer(repaired))

	// The second API server dies again and again while it coordinates.
	api2 := kc.apis[1]
	for i := range apiKills {
		api2.kill()
		t.Logf("killed %s at %v (kill %d of %d)", api2.name, time.Duration(h.now()), i+1, apiKills)
		time.Sleep(100 * time.Millisecond)
		api2.start()
		time.Sleep(apiKillEvery)
	}

	// A sixth data server joins and gets its share.
	kc.data, kc.dataAddrs = kc.data[1:], kc.dataAddrs[1:] // lost for good: the full restart leaves it out
	added := kc.addData(t)
	addedAt := h.now()
	var live []string
	for _, a := range kc.dataAddrs {
		live = append(live, string(roleAddr(a, "data")))
	}
	deadline = time.Now().Add(balanceBound)
	var balanced []*wire.Config
	for balanced = kc.configs(t); !evenShare(balanced, live); balanced = kc.configs(t) {
		if time.Now().After(deadline) {
			t.Fatalf("%v after %s joined the shares are not even: %s (%v)", balanceBound, added.name, perServer(balanced), balanced)
		}
		time.Sleep(killPollEvery)
	}
	t.Logf("%s joined; %v later every live server's share is within one of even. Per server (replicas/primaries) before: %s; after: %s",
		added.name, time.Duration(h.now()-addedAt), perServer(repaired), perServer(balanced))
	// The operator drains the new server again, with castd admin.
	metaFlag := strings.Join(kc.metaAddrs, ",")
	var out strings.Builder
	if err := runAdmin([]string{"drain", "--meta", metaFlag, "--server", kc.dataAddrs[len(kc.dataAddrs)-1]}, &out, &out); err != nil {
		t.Fatalf("castd admin drain %s: %v\n%s", added.name, err, out.String())
	}
	deadline = time.Now().Add(balanceBound)
	addedAddr := string(roleAddr(kc.dataAddrs[len(kc.dataAddrs)-1], "data"))
	var drained []*wire.Config
	for drained = kc.configs(t); !evenShare(drained, live[:len(live)-1]) || holds(drained, addedAddr); drained = kc.configs(t) {
		if time.Now().After(deadline) {
			t.Fatalf("%v after the drain of %s: %s", balanceBound, added.name, perServer(drained))
		}
		time.Sleep(killPollEvery)
	}
	out.Reset()
	if err := runAdmin([]string{"status", "--meta", metaFlag}, &out, &out); err != nil {
		t.Fatalf("castd admin status: %v\n%s", err, out.String())
	}
	t.Logf("after draining %s, per server: %s; castd admin status:\n%s", added.name, perServer(drained), out.String())
	if !regexp.MustCompile(regexp.QuoteMeta(kc.dataAddrs[len(kc.dataAddrs)-1]) + ` +draining +yes +0 +0`).MatchString(out.String()) {
		t.Errorf("castd admin status does not show %s draining, alive, holding nothing", added.name)
	}
	// Each shard's load as its primary reported it: SHARD KEYS LIVE BYTES
	// OPS/S WRITTEN B/S LOCKS TXN RECS, with keys written by the workload.
	if loads := regexp.MustCompile(`(?m)^[0-9]+ +([1-9][0-9]*) +[1-9][0-9]* +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+$`).FindAllString(out.String(), -1); len(loads) != len(drained) {
		t.Errorf("castd admin status shows the load of %d shards holding keys, want all %d", len(loads), len(drained))
	}
	// The operator forgets the server lost for good, which no shard names
	// since the repair; the drained one is alive and is refused.
	out.Reset()
	if err := runAdmin([]string{"forget", "--meta", metaFlag, "--server", kc.dataAddrs[len(kc.dataAddrs)-1]}, &out, &out); err == nil ||
		!strings.Contains(err.Error(), "alive") {
		t.Errorf("castd admin forget of the live, drained %s: %v, want a refusal saying it is alive", added.name, err)
	}
	out.Reset()
	lostAddr := strings.TrimSuffix(gone, "/data")
	if err := runAdmin([]string{"forget", "--meta", metaFlag, "--server", lostAddr}, &out, &out); err != nil {
		t.Errorf("castd admin forget of %s, lost for good: %v\n%s", lost.name, err, out.String())
	} else if strings.Contains(out.String(), lostAddr+" ") {
		t.Errorf("castd admin forget %s: still listed\n%s", lost.name, out.String())
	}
	// The operator splits shard 0 under the same load: a fifth shard takes
	// the upper half of its slots, on its servers, and every key of it is
	// still read back after the full restart (restartAllAndRead), in a
	// history porcupine finds linearizable.
	out.Reset()
	splitAt := h.now()
	if err := runAdmin([]string{"split", "--meta", metaFlag, "--shard", "0"}, &out, &out); err != nil {
		t.Fatalf("castd admin split --shard 0: %v\n%s", err, out.String())
	}
	deadline = time.Now().Add(balanceBound)
	var split []*wire.Config
	for split = kc.configs(t); len(split) != len(drained)+1 || !fullyReplicated(split, gone) || !childServes(t, kc, split); split = kc.configs(t) {
		if time.Now().After(deadline) {
			t.Fatalf("%v after castd admin split: %v", balanceBound, split)
		}
		time.Sleep(killPollEvery)
	}
	t.Logf("split shard 0 under load; %v later the new shard %d serves: %s", time.Duration(h.now()-splitAt), len(split)-1, out.String())
	balancedAt := h.now()
	time.Sleep(killAfterFailover)
	pool.stop(t)
	ops := logWorkload(t, h)
	if ackedWritesAfter(ops, balancedAt) == 0 {
		t.Errorf("no write called after the balancing and the split was acknowledged")
	}
	restartAllAndRead(t, kc, h, pool)
	checkHistory(t, h, dir)
}

// childServes: castd admin status shows the last shard's primary with no
// replica behind its commit point, and its log past its first barrier.
func childServes(t *testing.T, kc *killCluster, configs []*wire.Config) bool {
	t.Helper()
	var out strings.Builder
	if err := runAdmin([]string{"status", "--meta", strings.Join(kc.metaAddrs, ",")}, &out, &out); err != nil {
		return false
	}
	child := len(configs) - 1
	return regexp.MustCompile(fmt.Sprintf(`(?m)^%d +\S+ +primary +[1-9][0-9]* +0$`, child)).MatchString(out.String())
}
