package meta

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"castkv/actors"
	"castkv/actors/wire"
	"google.golang.org/protobuf/proto"
)

// Data servers and where their replicas go: the registry (replicated), the
// balancer and primary handovers (the leader's).
//
// A data server is registered by its first heartbeat to the leader, so only
// a server that exists is ever given replicas. The balancer runs on the
// leader's check tick and makes one change at a time, cluster-wide, only
// while every shard is settled (full, no learner, no proposal or handover
// in flight, every member alive):
//
//  0. A shard whose primary reports more load than the split thresholds
//     splits in two (split.go); its child starts on the same servers, and
//     the rules below spread it.
//  1. A shard with more counted members than Replicas drops a secondary:
//     one on a draining server first, then the one on the most loaded.
//  2. A member on a draining server moves off it: a primary hands over to
//     a secondary; another member is replaced by a learner on the least
//     loaded server (rule 1 then drops it once the learner is promoted).
//  3. Replicas even out: while the most loaded live server holds two more
//     than the least loaded, one of its replicas moves there (as in 2).
//  4. Primaries even out the same way, by handovers.
//
// A move is a learner added, caught up, promoted by the primary and the old
// member dropped: at no point does the shard count a replica that lacks a
// committed entry (learner-counts). A handover is fenced: meta stops
// granting the old primary leases, asks it to Surrender (it stops serving
// and refuses the grants still on their way), and promotes the target only
// once it answered or its last lease surely expired (move-without-fence).

// CanaryMoveWithoutFence: a primary handover promotes the target at once,
// while the old primary may still hold a lease and serve.
const CanaryMoveWithoutFence = "move-without-fence"

// handover is a primary move in progress (the leader's state).
type handover struct {
	to          string
	why         string
	at, asked   time.Time
	surrendered bool
}

// maxServerWaits bounds the admin requests waiting for a registry change.
const maxServerWaits = 16

type serverWait struct {
	from      actors.Addr
	id        uint64
	addr      string
	draining  bool
	forgotten bool
	// split: the request split shard (answered once the split's configs
	// are installed).
	split bool
	shard uint32
}

// dataServer is addr's registry entry, or nil.
func (m *Meta) dataServer(addr string) *wire.DataServer {
	i, ok := slices.BinarySearchFunc(m.registry, addr, func(d *wire.DataServer, a string) int { return strings.Compare(d.Addr, a) })
	if !ok {
		return nil
	}
	return m.registry[i]
}

// applyDataServer installs a registry change committed in the log.
func (m *Meta) applyDataServer(env actors.Env, d *wire.DataServer) {
	i, ok := slices.BinarySearchFunc(m.registry, d.Addr, func(x *wire.DataServer, a string) int { return strings.Compare(x.Addr, a) })
	d = proto.Clone(d).(*wire.DataServer)
	switch {
	case d.Forgotten && ok:
		m.registry = slices.Delete(m.registry, i, i+1)
	case d.Forgotten:
	case ok:
		m.registry[i] = d
	default:
		m.registry = slices.Insert(m.registry, i, d)
	}
	if !m.wasLeader {
		return
	}
	delete(m.registering, d.Addr)
	env.Log().Info("data server registry", "server", d.Addr, "draining", d.Draining, "forgotten", d.Forgotten, "registered", len(m.registry))
	kept := m.serverWaits[:0]
	for _, w := range m.serverWaits {
		if !w.split && w.addr == d.Addr && w.draining == d.Draining && w.forgotten == d.Forgotten {
			m.answerServers(env, w.from, w.id, "")
			continue
		}
		kept = append(kept, w)
	}
	m.serverWaits = kept
}

// register proposes a data server heard from for the first time.
func (m *Meta) register(addr actors.Addr) {
	if m.dataServer(string(addr)) != nil {
		return
	}
	if at, ok := m.registering[string(addr)]; ok && m.now.Sub(at) < 2*m.cfg.ElectionTimeout {
		return
	}
	if m.rn.Propose(marshal(&wire.MetaCommand{DataServer: &wire.DataServer{Addr: string(addr)}})) == nil {
		m.registering[string(addr)] = m.now
	}
}

// active: registered, not draining.
func (m *Meta) active(addr string) bool {
	d := m.dataServer(addr)
	return d != nil && !d.Draining
}

// dataServers answers castd admin: a listing, or drain/undrain a server.
func (m *Meta) dataServers(env actors.Env, from actors.Addr, x *wire.DataServers) {
	if !m.leading(env.Now()) {
		env.Send(from, &wire.MetaRedirect{Id: x.Id, Leader: string(m.leaderAddr())})
		return
	}
	if x.Split != nil {
		m.splitRequest(env, from, x)
		return
	}
	addr, draining, forget := x.Drain, true, false
	named := 0
	for _, a := range []string{x.Drain, x.Undrain, x.Forget} {
		if a != "" {
			named++
		}
	}
	switch {
	case named == 0:
		m.answerServers(env, from, x.Id, "")
		return
	case named > 1:
		m.answerServers(env, from, x.Id, "name one server to drain, undrain or forget, not several")
		return
	case x.Undrain != "":
		addr, draining = x.Undrain, false
	case x.Forget != "":
		addr, draining, forget = x.Forget, false, true
	}
	d := m.dataServer(addr)
	if d == nil {
		m.answerServers(env, from, x.Id, fmt.Sprintf("%s is not a registered data server (a data server registers with its first heartbeat)", addr))
		return
	}
	if forget {
		if why := m.unforgettable(addr); why != "" {
			m.answerServers(env, from, x.Id, fmt.Sprintf("%s cannot be forgotten: %s", addr, why))
			return
		}
	} else if d.Draining == draining {
		m.answerServers(env, from, x.Id, "")
		return
	}
	if draining {
		left := 0
		for _, o := range m.registry {
			if o.Addr != addr && !o.Draining && m.alive(m.now, o.Addr) {
				left++
			}
		}
		if left < m.cfg.Replicas {
			m.answerServers(env, from, x.Id, fmt.Sprintf("draining %s would leave %d live data servers for %d replicas per shard; add a data server first", addr, left, m.cfg.Replicas))
			return
		}
	}
	if len(m.serverWaits) >= maxServerWaits {
		m.answerServers(env, from, x.Id, "too many registry changes under way; try again")
		return
	}
	if err := m.rn.Propose(marshal(&wire.MetaCommand{DataServer: &wire.DataServer{Addr: addr, Draining: draining, Forgotten: forget}})); err != nil {
		m.answerServers(env, from, x.Id, "the leader refused the change: "+err.Error())
		return
	}
	m.serverWaits = append(m.serverWaits, serverWait{from: from, id: x.Id, addr: addr, draining: draining, forgotten: forget})
}

// unforgettable says why a registered server may not be dropped from the
// registry: only a dead one that no shard names (as primary, secondary or
// learner) may, so that forgetting loses no copy and no server that is
// still working. "" when it may.
func (m *Meta) unforgettable(addr string) string {
	if m.alive(m.now, addr) {
		return "it is alive (drain it, stop it, then forget it)"
	}
	for _, s := range m.shards {
		c := s.config
		if c.Primary == addr || slices.Contains(c.Secondaries, addr) || slices.Contains(c.Learners, addr) {
			return fmt.Sprintf("shard %d still names it (version %d); wait for its replicas to be replaced", c.Shard, c.Version)
		}
	}
	return ""
}

func (m *Meta) answerServers(env actors.Env, to actors.Addr, id uint64, errText string) {
	r := &wire.DataServersReply{Id: id, Error: errText, Leader: string(m.addrs[m.id])}
	l := m.loads()
	for _, d := range m.registry {
		r.Servers = append(r.Servers, &wire.DataServerInfo{
			Addr: d.Addr, Draining: d.Draining, Alive: m.alive(m.now, d.Addr),
			Replicas: uint32(l.replicas[d.Addr]), Primaries: uint32(l.primaries[d.Addr]),
		})
	}
	for _, s := range m.shards {
		r.Shards = append(r.Shards, m.shardState(s))
	}
	env.Send(to, r)
}

// shardState is s's replication as its members last reported it.
func (m *Meta) shardState(s *shard) *wire.ShardState {
	c := s.config
	status := func(a string) *wire.ReplicaStatus {
		if srv := m.servers[actors.Addr(a)]; srv != nil {
			return srv.status[c.Shard]
		}
		return nil
	}
	st := &wire.ShardState{Shard: c.Shard}
	if p := status(c.Primary); p != nil {
		st.CommitSeq, st.Load = p.CommitSeq, p.Load
	}
	add := func(a, role string) {
		l := &wire.ReplicaLag{Addr: a, Role: role}
		if rs := status(a); rs != nil {
			l.Reported, l.LastSeq = true, rs.LastSeq
		}
		st.Replicas = append(st.Replicas, l)
	}
	if c.Primary != "" {
		add(c.Primary, "primary")
	}
	for _, a := range c.Secondaries {
		add(a, "secondary")
	}
	var moves []string
	for _, a := range c.Learners {
		add(a, "learner")
		moves = append(moves, "learner "+a+" catching up")
	}
	if h := s.handover; h != nil {
		moves = append(moves, fmt.Sprintf("primary handing over to %s (%s)", h.to, h.why))
	}
	st.Move = strings.Join(moves, "; ")
	return st
}

// load counts each data server's replicas and primaries over all shards.
type load struct {
	replicas, primaries map[string]int
}

func (m *Meta) loads() load {
	l := load{replicas: map[string]int{}, primaries: map[string]int{}}
	for _, s := range m.shards {
		for _, a := range members(s.config) {
			l.replicas[a]++
		}
		if p := s.config.Primary; p != "" {
			l.primaries[p]++
		}
	}
	return l
}

// balance makes at most one change towards an even spread (see the top of
// this file), when every shard is settled.
func (m *Meta) balance(env actors.Env, now time.Time) {
	if now.Sub(m.leaderSince) < 2*m.cfg.FailTimeout || now.Sub(m.lastBalance) < m.cfg.BalanceEvery {
		return
	}
	for _, s := range m.shards {
		c := s.config
		if s.proposed != nil || s.handover != nil || s.suspect || c.Primary == "" || len(c.Learners) > 0 {
			return
		}
		for _, a := range members(c) {
			if !m.alive(now, a) {
				return
			}
		}
	}
	if m.splitPending() != "" {
		// Until the new shard serves, some of its members may hold none of
		// it yet: moving replicas now could leave it only those.
		return
	}
	if m.splitByLoad(env) {
		m.lastBalance = now
		return
	}
	l := m.loads()
	// The servers that may receive replicas, least loaded first.
	var takers []string
	for _, d := range m.registry {
		if !d.Draining && m.alive(now, d.Addr) {
			takers = append(takers, d.Addr)
		}
	}
	byLoad := func(counts map[string]int) func(a, b string) int {
		return func(a, b string) int {
			if counts[a] != counts[b] {
				return counts[a] - counts[b]
			}
			return strings.Compare(a, b)
		}
	}
	slices.SortFunc(takers, byLoad(l.replicas))
	draining := func(a string) bool { d := m.dataServer(a); return d != nil && d.Draining }

	// 1. Too many counted members: drop the worst secondary.
	for _, s := range m.shards {
		c := s.config
		if 1+len(c.Secondaries) <= m.cfg.Replicas || len(c.Secondaries) == 0 {
			continue
		}
		worst := slices.MaxFunc(c.Secondaries, func(a, b string) int {
			if draining(a) != draining(b) {
				if draining(a) {
					return 1
				}
				return -1
			}
			return byLoad(l.replicas)(a, b)
		})
		next := proto.Clone(c).(*wire.Config)
		next.Version++
		next.Secondaries = without(next.Secondaries, worst)
		m.propose(env, s, next, fmt.Sprintf("balance: %s replaced; shard back to %d replicas", worst, m.cfg.Replicas))
		m.lastBalance = now
		return
	}
	// move moves s's member from off the server src: a primary hands over
	// first; another member gets a learner on the least loaded taker.
	move := func(s *shard, src, why string) bool {
		c := s.config
		if c.Primary == src {
			to := m.handoverTarget(c, l, draining)
			if to == "" {
				return false
			}
			m.startHandover(env, s, to, why+"; its primary hands over first")
			m.lastBalance = now
			return true
		}
		for _, t := range takers {
			if isMember(c, t) || l.replicas[t]+1 >= l.replicas[src] && !draining(src) {
				continue
			}
			next := proto.Clone(c).(*wire.Config)
			next.Version++
			next.Learners = append(next.Learners, t)
			m.propose(env, s, next, fmt.Sprintf("%s: learner %s to replace %s", why, t, src))
			m.lastBalance = now
			return true
		}
		return false
	}
	// 2. Drain.
	for _, s := range m.shards {
		for _, a := range members(s.config) {
			if draining(a) && move(s, a, "drain "+a) {
				return
			}
		}
	}
	if len(takers) < 2 {
		return
	}
	// 3. Replicas: from the most loaded taker to the least loaded; a
	// secondary moves before a primary (no handover needed).
	src, dst := takers[len(takers)-1], takers[0]
	if l.replicas[src]-l.replicas[dst] > 1 {
		why := fmt.Sprintf("balance replicas (%s holds %d, %s %d)", src, l.replicas[src], dst, l.replicas[dst])
		for _, primaryToo := range []bool{false, true} {
			for _, s := range m.shards {
				c := s.config
				if isMember(c, src) && !isMember(c, dst) && (c.Primary != src || primaryToo) && move(s, src, why) {
					return
				}
			}
		}
	}
	// 4. Primaries, by handovers.
	slices.SortFunc(takers, byLoad(l.primaries))
	src, dst = takers[len(takers)-1], takers[0]
	if l.primaries[src]-l.primaries[dst] <= 1 {
		return
	}
	for _, s := range m.shards {
		c := s.config
		if c.Primary != src {
			continue
		}
		if to := m.handoverTarget(c, l, draining); to != "" && l.primaries[to] < l.primaries[src]-1 {
			m.startHandover(env, s, to, fmt.Sprintf("balance primaries (%s leads %d shards, %s %d)", src, l.primaries[src], to, l.primaries[to]))
			m.lastBalance = now
			return
		}
	}
}

// handoverTarget is the live secondary of c, not draining, that leads the
// fewest shards (ties by name), or "".
func (m *Meta) handoverTarget(c *wire.Config, l load, draining func(string) bool) string {
	best := ""
	for _, a := range c.Secondaries {
		if draining(a) || !m.alive(m.now, a) {
			continue
		}
		if best == "" || l.primaries[a] < l.primaries[best] || l.primaries[a] == l.primaries[best] && a < best {
			best = a
		}
	}
	return best
}

// startHandover begins moving s's primary to the secondary to: no more
// grants to the old primary, which is asked to surrender its lease.
func (m *Meta) startHandover(env actors.Env, s *shard, to, why string) {
	c := s.config
	env.Log().Info("primary handover", "shard", c.Shard, "version", c.Version, "from", c.Primary, "to", to, "why", why)
	s.handover = &handover{to: to, why: why, at: m.now, asked: m.now}
	if m.cfg.Canary == CanaryMoveWithoutFence {
		m.promote(env, s)
		return
	}
	env.Send(actors.Addr(c.Primary), &wire.Surrender{Shard: c.Shard, ConfigVersion: c.Version})
}

// surrendered: the old primary gave up its lease.
func (m *Meta) surrendered(env actors.Env, from actors.Addr, x *wire.Surrendered) {
	s := m.shard(x.Shard)
	if s == nil || s.handover == nil || s.config.Version != x.ConfigVersion || s.config.Primary != string(from) {
		return
	}
	s.handover.surrendered = true
	m.driveHandover(env, s)
}

// driveHandover promotes the target once the old primary surrendered or its
// last lease surely expired; it gives up when the target is gone or the
// old primary never answers and the lease wait is long past.
func (m *Meta) driveHandover(env actors.Env, s *shard) {
	h, c := s.handover, s.config
	abort := ""
	switch {
	case !slices.Contains(c.Secondaries, h.to):
		abort = "the target is no longer a secondary"
	case !m.alive(m.now, h.to):
		abort = "the target stopped heartbeating"
	case m.now.Sub(h.at) > 2*m.cfg.LeaseWait()+2*m.cfg.ElectionTimeout:
		abort = "the primary change did not commit in time"
	}
	if abort != "" {
		env.Log().Warn("primary handover abandoned", "shard", c.Shard, "version", c.Version, "to", h.to, "why", abort)
		s.handover = nil
		s.leaseConfirmed = m.now // grants resume: give them a failure timeout to land
		return
	}
	if h.surrendered || !m.now.Before(s.lastGrant.Add(m.cfg.LeaseWait())) {
		m.promote(env, s)
		return
	}
	if m.now.Sub(h.asked) >= m.cfg.CheckEvery*2 {
		h.asked = m.now
		env.Send(actors.Addr(c.Primary), &wire.Surrender{Shard: c.Shard, ConfigVersion: c.Version})
	}
}

// promote proposes the handover's target as primary; the old primary stays
// a secondary.
func (m *Meta) promote(env actors.Env, s *shard) {
	c, h := s.config, s.handover
	next := proto.Clone(c).(*wire.Config)
	next.Version++
	next.Primary = h.to
	next.Secondaries = append(without(next.Secondaries, h.to), c.Primary)
	m.propose(env, s, next, h.why)
}
