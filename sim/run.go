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
	dataServers   = 3
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
	r.workload = &workload{rng: rng, keys: r.keys, global: k.Workload.Global, k: k.Workload, largeLeft: k.Workload.LargeBudgetBytes}

	var addrs []actors.Addr
	for i := 1; i <= dataServers; i++ {
		addrs = append(addrs, actors.Addr(fmt.Sprintf("data%d", i)))
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
		if opts.Faults[FaultDrift] && m.kind != "client" {
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
	if kind != "client" {
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
		w.at(time.Duration(w.rng.Int64N(int64(50*time.Millisecond))), m.start)
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
		w.at(w.now+time.Duration(w.rng.Int64N(int64(restartSpread))), m.start)
	}
	// Clients keep going past the liveness bound, then read every key.
	w.at(r.restartedAt+liveBound+2*time.Second, func() { r.finalPhase = true })
	// What the primary had committed 10 s before the end, every member of
	// meta's final config must have applied by the end (catch-up).
	var target uint64
	w.at(r.restartedAt+2*liveBound, func() {
		if p := r.primary(); p != nil {
			if s := server(p); s != nil && len(s.Inspect()) > 0 {
				target = s.Inspect()[0].CommitSeq
			}
		}
	})
	r.runUntil(r.restartedAt + 3*liveBound)
	if w.oracle != nil && r.work.exhausted == "" {
		w.oracle.appliedAgree()
		w.oracle.caughtUp(target)
	}
}

func (r *runner) clientDone(*client) { r.done++ }

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

// primary is the data server meta currently names primary, if known.
func (r *runner) primary() *machine {
	if c := r.metaConfig(); c != nil {
		return r.w.byAddr[actors.Addr(c.Primary)]
	}
	return nil
}

// metaConfig is the newest shard-0 config any meta member applied: the
// group's newest committed config (a member applies only committed
// entries). Crashed members count: what they applied was committed.
func (r *runner) metaConfig() *wire.Config {
	var best *wire.Config
	for _, m := range r.metas {
		mm, ok := m.node.(*meta.Meta)
		if !ok || mm == nil {
			continue
		}
		if c := mm.Config(0); c != nil && (best == nil || c.Version > best.Version) {
			best = c
		}
	}
	return best
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
