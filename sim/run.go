package sim

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"castkv/actors"
	"castkv/actors/api"
	"castkv/actors/cluster"
	"castkv/actors/command"
	"castkv/actors/data"
	"castkv/actors/meta"
	"castkv/actors/wire"
	"castkv/checker"
)

// Canaries are the deliberate defects a run can switch on; a seed sweep
// must catch each one.
var Canaries = canaries()

func canaries() []string {
	out := slices.Clone(data.Canaries)
	for _, c := range append(slices.Clone(api.Canaries), meta.Canaries...) {
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out
}

// Timing of a run, in virtual time.
const (
	// liveBound: after the last restart, requests must succeed again
	// within this (Guarantee 3: "within a few seconds").
	liveBound = 10 * time.Second
	// restartSpread: after the final power loss, servers come back over
	// this span, so a secondary may be promoted before the primary returns.
	restartSpread = 4 * time.Second
	apiServers    = 2
)

// runner is one simulation run: the world plus the roles, clients and
// history.
type runner struct {
	opts  Options
	knobs Knobs
	w     *world

	metas   []*machine // the meta group's members
	data    []*machine
	apis    []*machine
	clients []*client
	timed   *timed // nil unless protocol-timed faults are on

	workload    *workload
	keys        []string
	thinkMax    time.Duration
	history     []checker.Op
	ackedWrites int
	nextPorcID  int
	finalPhase  bool
	done        int
	restartedAt time.Duration
	work        work
}

// Run executes one seeded simulation and checks its history.
func Run(opts Options) (*Result, error) {
	if opts.Canary != "" && !knownCanary(opts.Canary) {
		return nil, fmt.Errorf("unknown canary %q (known: %s)", opts.Canary, strings.Join(Canaries, ", "))
	}
	wallStart := time.Now()
	r := newRunner(opts)
	r.run()
	r.release()
	res := r.check()
	res.Knobs = r.knobs
	res.WallSeconds = time.Since(wallStart).Seconds()
	return res, nil
}

func knownCanary(name string) bool {
	for _, c := range Canaries {
		if c == name {
			return true
		}
	}
	return false
}

// newRunner builds a run's world from its knobs (drawn from the seed,
// Options overriding duration, clients and fault kinds).
func newRunner(opts Options) *runner {
	k := drawKnobs(opts)
	if opts.knobs != nil {
		k = *opts.knobs
	}
	if k.Cluster.Shards == 0 {
		k.Cluster = ClusterKnobs{Shards: 1, DataServers: 3, Replicas: 3} // knobs saved before clusters were drawn
	}
	opts.Duration, opts.Clients, opts.Faults = k.Duration, k.Workload.Clients, k.Faults.Enabled
	rng := rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15))
	w := &world{rng: rng, byAddr: map[actors.Addr]*machine{}, trace: newTrace(), faults: map[string]int{}, logs: newLogRing(2000)}
	w.net = newNetwork(w)
	w.syncMax = k.Disk.SyncMax
	r := &runner{opts: opts, knobs: k, w: w}
	w.oracle = newOracles(w, r)

	n := k.Net
	w.net.latency, w.net.jitter = n.Latency, n.Jitter
	if opts.Faults[FaultLoss] {
		w.net.loss = n.LossP
	}
	if opts.Faults[FaultDuplicate] {
		w.net.dup = n.DuplicateP
	}
	if opts.Faults[FaultDelay] {
		w.net.slowP, w.net.slowMax = n.DelayP, n.DelayMax
	}
	if opts.Faults[FaultLate] {
		w.net.lateP, w.net.lateHold, w.net.lateReconnect = n.LateP, n.LateHold, n.LateReconnect
	}
	r.thinkMax = k.Workload.ThinkMax
	for i := 0; i < k.Workload.Keys; i++ {
		r.keys = append(r.keys, fmt.Sprintf("k%d", i))
	}
	// FLUSHALL and DBSIZE run on one shard only: not in a run that splits.
	splits := opts.Faults[FaultSplit] && (len(k.Cluster.Splits) > 0 || k.Cluster.SplitBytes > 0)
	r.workload = &workload{rng: rng, keys: r.keys, global: k.Workload.Global && !splits, k: k.Workload, largeLeft: k.Workload.LargeBudgetBytes,
		pairs: k.Cluster.Shards > 1 && k.Workload.Keys >= 2*k.Workload.KeyGroup}

	// The bootstrapped data servers, then any that join the running
	// cluster (FaultMembership).
	var addrs []actors.Addr
	for i := 1; i <= k.Cluster.DataServers; i++ {
		addrs = append(addrs, actors.Addr(fmt.Sprintf("data%d", i)))
	}
	membership := opts.Faults[FaultMembership]
	joining := 0
	if membership {
		joining = k.Cluster.Joining
	}
	var metaAddrs []actors.Addr
	for i := 1; i <= k.Meta.Members; i++ {
		metaAddrs = append(metaAddrs, actors.Addr(fmt.Sprintf("meta%d", i)))
	}
	metaCfg := k.metaConfig(addrs, metaAddrs, opts.Canary)
	for _, a := range metaAddrs {
		r.metas = append(r.metas, r.add(a, "meta", func() actors.Node { return meta.New(metaCfg) }))
	}
	dataCfg := k.dataConfig(metaAddrs, opts.Canary)
	for _, a := range addrs {
		r.data = append(r.data, r.add(a, "data", func() actors.Node { return data.New(dataCfg) }))
	}
	for i := 1; i <= joining; i++ {
		m := r.add(actors.Addr(fmt.Sprintf("data%d", len(addrs)+i)), "data", func() actors.Node { return data.New(dataCfg) })
		m.joinAt = k.Cluster.JoinAt
		r.data = append(r.data, m)
	}
	if membership && k.Cluster.Drain != "" {
		r.add("admin", "admin", func() actors.Node {
			return &admin{metas: metaAddrs, what: "drain " + k.Cluster.Drain, req: &wire.DataServers{Drain: k.Cluster.Drain},
				at: k.Cluster.DrainAt, accepted: func() { w.faults[CountDrain]++ }}
		})
	}
	if opts.Faults[FaultSplit] {
		for i, sp := range k.Cluster.Splits {
			r.add(actors.Addr(fmt.Sprintf("splitter%d", i+1)), "admin", func() actors.Node {
				return &admin{metas: metaAddrs, what: fmt.Sprintf("split shard %d", sp.Shard),
					req: &wire.DataServers{Split: &wire.SplitShard{Shard: sp.Shard}}, at: sp.At, accepted: func() { w.faults[CountSplitAsked]++ }}
			})
		}
	}
	apiCfg := k.apiConfig(metaAddrs, opts.Canary)
	for i := 1; i <= apiServers; i++ {
		r.apis = append(r.apis, r.add(actors.Addr(fmt.Sprintf("api%d", i)), "api", func() actors.Node {
			return api.New(apiCfg)
		}))
	}
	for i := 1; i <= opts.Clients; i++ {
		c := &client{r: r, idx: i, porcID: r.newPorcID()}
		r.clients = append(r.clients, c)
		r.add(actors.Addr(fmt.Sprintf("client%d", i)), "client", func() actors.Node { return c })
	}
	// Clock drift within the bound the lease protocol assumes.
	rho := meta.DefaultDriftBound
	for _, m := range w.machines {
		m.offset = time.Duration(rng.Int64N(int64(time.Hour)))
		if opts.Faults[FaultDrift] && m.kind != "client" && m.kind != "admin" {
			m.rate = 1 + (rng.Float64()*2-1)*rho*0.99
			w.faults[FaultDrift]++
		}
	}
	return r
}

func (r *runner) add(addr actors.Addr, kind string, mk func() actors.Node) *machine {
	w := r.w
	m := &machine{w: w, addr: addr, kind: kind, make: mk, rate: 1,
		rng: rand.New(rand.NewPCG(w.rng.Uint64(), w.rng.Uint64()))}
	if kind != "client" && kind != "admin" {
		m.fs = newMemFS()
	}
	m.log = slog.New(w.logs.handler(w, addr))
	w.machines = append(w.machines, m)
	w.byAddr[addr] = m
	return m
}

func (r *runner) newPorcID() int {
	r.nextPorcID++
	return r.nextPorcID
}

// servers are the machines the chaos may hit: everything but clients.
func (r *runner) servers() []*machine {
	out := slices.Clone(r.metas)
	out = append(out, r.data...)
	return append(out, r.apis...)
}

func (r *runner) run() {
	w := r.w
	for _, m := range w.machines {
		m := m
		at := time.Duration(w.rng.Int64N(int64(50 * time.Millisecond)))
		if m.joinAt > 0 {
			at = m.joinAt
			w.at(at, func() { w.faults[CountJoin]++; w.logf("fault: %s joins the running cluster", m.addr) })
		}
		w.at(at, m.start)
	}
	end := r.opts.Duration
	ch := &chaos{w: w, r: r, k: r.knobs.Faults, faults: r.opts.Faults, end: end}
	if r.opts.Faults[FaultTimed] {
		r.timed = newTimed(r, ch)
		w.at(time.Second, r.timed.poll)
	}
	if k := r.knobs.Faults; r.opts.Faults[FaultSlowDisk] && k.SlowDiskAlways {
		w.at(time.Second, func() {
			w.faults[FaultSlowDisk]++
			w.byAddr[actors.Addr(k.SlowDiskNode)].disk.syncLatency = k.SlowDiskLatency
			w.logf("fault: slow disk on %s (fsync %v) until the heal", k.SlowDiskNode, k.SlowDiskLatency)
		})
	}
	w.at(time.Second, ch.schedule)
	if r.opts.Faults[FaultMachineLoss] && r.canLose() {
		// One data server dies for good in the middle of the fault phase:
		// its shards must come back to full strength from the spares
		// (removal by the primary or by meta's ReplaceAfter, then a
		// learner), and serve again after the final restart without it.
		at := end/5 + time.Duration(w.rng.Int64N(int64(end*3/5)))
		w.at(at, func() {
			if !r.canLose() {
				return // the timed fault lost one already
			}
			victim := r.loseable()
			if victim == nil {
				w.logf("fault: no data server can be lost for good now: each is some shard's last counted replica")
				return
			}
			r.lose(victim)
		})
	}
	r.runUntil(end)

	// Heal: every fault ends, every crashed machine restarts.
	w.logf("heal: ending every fault")
	w.net.heal()
	w.net.onSend, w.net.onOrphan = nil, nil
	for _, m := range r.servers() {
		m.pausedUntil = 0
		m.disk.syncLatency, m.disk.stallNext = 0, 0
		if !m.up {
			m.start()
		}
	}
	r.runUntil(end + time.Second)

	// Then every server loses power at once and restarts in random order:
	// only synced data survives anywhere.
	w.logf("restart: every server crashes and restarts")
	for _, m := range r.servers() {
		r.crash(m)
	}
	r.restartedAt = w.now
	for _, m := range r.servers() {
		// Unless it came up first: a server joining the cluster late (its
		// join time, drawn from the run's duration, may fall after a
		// shorter --duration's restart).
		w.at(w.now+time.Duration(w.rng.Int64N(int64(restartSpread))), func() {
			if !m.up {
				m.start()
			}
		})
	}
	// Clients keep going past the liveness bound, then read every key.
	w.at(r.restartedAt+liveBound+2*time.Second, func() { r.finalPhase = true })
	// What each primary had committed 10 s before the end, every member
	// of meta's config of its shard then that still is one at the end must
	// have applied by the end (catch-up).
	targets := map[uint32]catchUpTarget{}
	w.at(r.restartedAt+2*liveBound, func() {
		for _, c := range r.metaConfigs() {
			if s := server(r.w.byAddr[actors.Addr(c.Primary)]); s != nil {
				for _, v := range s.Inspect() {
					if v.Shard == c.Shard {
						targets[c.Shard] = catchUpTarget{seq: v.CommitSeq, members: append(append([]string{c.Primary}, c.Secondaries...), c.Learners...)}
					}
				}
			}
		}
	})
	r.runUntil(r.restartedAt + 3*liveBound)
	if w.oracle != nil && r.work.exhausted == "" {
		w.oracle.appliedAgree()
		w.oracle.caughtUp(targets)
	}
}

func (r *runner) clientDone(*client) { r.done++ }

// canLose reports whether a data server may still be lost for good: one per
// run, when there is a spare (more data servers than replicas per shard).
func (r *runner) canLose() bool {
	if len(r.data) <= r.knobs.Cluster.Replicas {
		return false
	}
	for _, m := range r.data {
		if m.lost {
			return false
		}
	}
	return true
}

// lose crashes m for good.
func (r *runner) lose(m *machine) {
	r.w.faults[FaultMachineLoss]++
	r.crash(m)
	m.lost = true
	r.w.logf("fault: %s lost for good", m.addr)
}

// loseable draws a data server whose permanent loss the guarantees cover:
// in meta's current configs, every shard it counts for (primary or
// secondary) has another counted replica, which holds every committed
// entry. Losing a shard's last counted replica loses the shard, which no
// replicated store survives.
func (r *runner) loseable() *machine {
	var ok []*machine
	for _, m := range r.data {
		if r.safeToLose(m) {
			ok = append(ok, m)
		}
	}
	if len(ok) == 0 {
		return nil
	}
	return ok[r.w.rng.IntN(len(ok))]
}

// safeToLose reports whether losing m for good now leaves every shard it
// counts for (primary or secondary, in meta's current configs) another
// counted replica.
func (r *runner) safeToLose(m *machine) bool { return r.safeToLoseBut(m, -1) }

// safeToLoseBut is safeToLose, but for shard except (-1: none), which the
// caller judges itself.
func (r *runner) safeToLoseBut(m *machine, except int) bool {
	configs := r.metaConfigs()
	if m.lost || len(configs) < r.knobs.Cluster.Shards {
		return false // meta's map is not readable now (its members are down)
	}
	if m.askedRemove && r.w.now-m.removeAskedAt < r.removalInFlight() {
		// A RemoveReplica it sent may still be on its way: applied after
		// the loss it would leave m the last copy of a shard (seed 301).
		return false
	}
	for _, c := range configs {
		counted := append([]string{c.Primary}, c.Secondaries...)
		if int(c.Shard) != except && slices.Contains(counted, string(m.addr)) && len(counted) < 2 {
			return false
		}
	}
	return true
}

// shardsOf counts the shards that hold keys, by meta's current map.
func (r *runner) shardsOf(keys []string) int {
	seen := map[uint32]bool{}
	for _, k := range keys {
		slot := uint32(command.Slot([]byte(r.wireKey(k))))
		for _, c := range r.metaConfigs() {
			if start, end := cluster.SlotRange(c); slot >= start && slot < end {
				seen[c.Shard] = true
			}
		}
	}
	return len(seen)
}

// removalInFlight bounds how long a message may take to reach meta: the
// longest delay, jitter and hold of a late message, and a second more.
func (r *runner) removalInFlight() time.Duration {
	n := r.w.net
	return n.latency + n.jitter + n.slowMax + n.lateHold + n.lateReconnect + time.Second
}

// crash takes a machine down; clients waiting on an API server that
// crashed see their connection reset: an unknown outcome, at once.
func (r *runner) crash(m *machine) {
	m.crash()
	if m.kind != "api" {
		return
	}
	for _, c := range r.clients {
		if c.pending != nil && c.pending.api == m.addr {
			c.env.Cancel(c.pending.timer)
			c.complete(checker.Output{}, true)
		}
	}
}

// primary is the data server meta currently names primary of the focus
// shard, if known.
func (r *runner) primary() *machine {
	if c := r.metaConfig(); c != nil {
		return r.w.byAddr[actors.Addr(c.Primary)]
	}
	return nil
}

// wireKey is the key a client sends for the history's key k. With several
// shards it carries its group as a {hash tag}, as a user co-locates the
// keys of a multi-key command: a group's keys share a shard, and the
// groups spread over the shards.
func (r *runner) wireKey(k string) string {
	if r.knobs.Cluster.Shards <= 1 {
		return k
	}
	return fmt.Sprintf("{%d}%s", r.workload.group(k), k)
}

// metaConfig is the newest config of the run's focus shard (the one
// primary() and the timed faults watch) any meta member applied.
func (r *runner) metaConfig() *wire.Config {
	for _, c := range r.metaConfigs() {
		if c.Shard == r.knobs.Cluster.Focus {
			return c
		}
	}
	return nil
}

// metaConfigs is, in shard order, each shard's newest config any meta
// member applied: the group's newest committed config (a member applies
// only committed entries). Crashed members count: what they applied was
// committed.
func (r *runner) metaConfigs() []*wire.Config {
	var out []*wire.Config
	for shard := range uint32(r.knobs.Cluster.Shards) {
		var best *wire.Config
		for _, m := range r.metas {
			mm, ok := m.node.(*meta.Meta)
			if !ok || mm == nil {
				continue
			}
			if c := mm.Config(shard); c != nil && (best == nil || c.Version > best.Version) {
				best = c
			}
		}
		if best != nil {
			out = append(out, best)
		}
	}
	return out
}

// metaLeader is the member acting as the meta group's leader now, or, when
// none does, one drawn at random among those up (nil if none is).
func (r *runner) metaLeader() *machine {
	var up []*machine
	for _, m := range r.metas {
		if !m.up {
			continue
		}
		if mm, ok := m.node.(*meta.Meta); ok && mm != nil && mm.Leading(m.Now()) {
			return m
		}
		up = append(up, m)
	}
	if len(up) == 0 {
		return nil
	}
	return up[r.w.rng.IntN(len(up))]
}
