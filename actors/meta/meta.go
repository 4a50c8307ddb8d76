package meta

import (
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"castkv/actors"
	"castkv/actors/store"
	"castkv/actors/wire"
	"google.golang.org/protobuf/proto"
)

// Config is the meta role's static configuration.
type Config struct {
	// DataServers bootstraps shard 0's first config: the first is primary.
	DataServers []actors.Addr
	// Replicas is how many members (primary, secondaries, learners) a shard
	// aims for; default len(DataServers).
	Replicas int
	// LeaseTimeout is the length of a primary lease.
	LeaseTimeout time.Duration
	// DriftBound is ρ, the bound on any clock's rate error the lease protocol
	// assumes (0.01 = 1%).
	DriftBound float64
	// FailTimeout without a heartbeat makes a data server suspect.
	FailTimeout time.Duration
	// CheckEvery is how often meta looks for failed primaries.
	CheckEvery time.Duration
}

// DefaultDriftBound is ρ when Config.DriftBound is zero: clocks may run
// 1% fast or slow.
const DefaultDriftBound = 0.01

func (c Config) withDefaults() Config {
	if c.Replicas == 0 {
		c.Replicas = len(c.DataServers)
	}
	if c.LeaseTimeout == 0 {
		c.LeaseTimeout = 2 * time.Second
	}
	if c.DriftBound == 0 {
		c.DriftBound = DefaultDriftBound
	}
	if c.FailTimeout == 0 {
		c.FailTimeout = time.Second
	}
	if c.CheckEvery == 0 {
		c.CheckEvery = 100 * time.Millisecond
	}
	return c
}

// LeaseWait is how long meta waits after its last grant before another
// node may become primary: L·(1+ρ)/(1−ρ).
func (c Config) LeaseWait() time.Duration {
	c = c.withDefaults()
	return time.Duration(float64(c.LeaseTimeout) * (1 + c.DriftBound) / (1 - c.DriftBound))
}

// Meta is the metadata server.
type Meta struct {
	cfg   Config
	st    *store.Store
	start time.Time

	shards []*shard // by shard id
	// liveness and persisted state reported by each data server
	servers map[actors.Addr]*server

	// nextSession is the next exactly-once session id to hand an API
	// server; sessionLimit is the persisted high-water mark it may not
	// reach without persisting a higher one first, so ids never repeat or
	// go back across restarts.
	nextSession, sessionLimit uint64
}

// sessionBlock is how many session ids one synced write of the high-water
// mark covers.
const sessionBlock = 1024

const sessionKey = "api-sessions"

type shard struct {
	config *wire.Config
	// lastGrant is when meta last sent the current primary a lease.
	lastGrant time.Time
	// suspect: the primary missed heartbeats, or kept heartbeating without
	// holding a lease (our grants do not reach it); no more grants for this
	// version.
	suspect bool
	why     string
	// leaseConfirmed is when the primary last reported holding a lease (or
	// when it became primary).
	leaseConfirmed time.Time
}

type server struct {
	lastHeartbeat time.Time
	status        map[uint32]*wire.ReplicaStatus
}

// New returns a meta role.
func New(cfg Config) *Meta {
	return &Meta{cfg: cfg.withDefaults()}
}

const checkTimer = 1

// Start loads the configs, bootstrapping shard 0 on first boot.
func (m *Meta) Start(env actors.Env) {
	m.st = env.Store()
	m.start = env.Now()
	m.servers = map[actors.Addr]*server{}
	m.shards = nil
	c, err := m.st.Config(0)
	if err != nil {
		panic(fmt.Sprintf("meta: load shard 0 config: %v", err))
	}
	if c == nil {
		c = &wire.Config{Shard: 0, Version: 1}
		for i, d := range m.cfg.DataServers {
			if i == 0 {
				c.Primary = string(d)
			} else {
				c.Secondaries = append(c.Secondaries, string(d))
			}
		}
		m.persist(c)
		env.Log().Info("bootstrapped cluster", "shard", 0, "config", describe(c))
	}
	// Leases are not persisted: after a restart, wait out any lease a
	// previous incarnation may have granted before promoting anyone.
	m.shards = []*shard{{config: c, lastGrant: m.start, leaseConfirmed: m.start}}
	hwm, err := m.st.Meta(sessionKey)
	if err != nil {
		panic(fmt.Sprintf("meta: load session high-water mark: %v", err))
	}
	m.nextSession, m.sessionLimit = 1, 1
	if len(hwm) == 8 {
		m.nextSession = binary.BigEndian.Uint64(hwm)
		m.sessionLimit = m.nextSession
	}
	env.After(m.cfg.CheckEvery, &wire.Tick{Kind: wire.Tick_CHECK, Id: checkTimer})
}

// Handle processes one message.
func (m *Meta) Handle(env actors.Env, from actors.Addr, msg actors.Msg) {
	switch x := msg.(type) {
	case *wire.Heartbeat:
		m.heartbeat(env, from, x)
	case *wire.GetConfig:
		up := &wire.ConfigUpdate{Id: x.Id, Configs: m.configs()}
		if x.NewSession {
			up.Session = m.newSession()
		}
		env.Send(from, up)
	case *wire.RemoveReplica:
		m.removeReplica(env, from, x)
	case *wire.PromoteLearner:
		m.promoteLearner(env, from, x)
	case *wire.Tick:
		m.check(env)
		env.After(m.cfg.CheckEvery, &wire.Tick{Kind: wire.Tick_CHECK, Id: checkTimer})
	default:
		env.Log().Warn("meta: ignoring unexpected message", "from", from, "type", fmt.Sprintf("%T", msg))
	}
}

// Config is shard's current config (nil before Start). The simulator uses
// it to aim faults at the primary.
func (m *Meta) Config(shard uint32) *wire.Config {
	if s := m.shard(shard); s != nil {
		return s.config
	}
	return nil
}

// newSession issues an exactly-once session id larger than any issued
// before, persisting (synced) a new high-water mark when the old one is
// reached.
func (m *Meta) newSession() uint64 {
	if m.nextSession >= m.sessionLimit {
		limit := m.nextSession + sessionBlock
		b := m.st.NewBatch()
		b.PutMeta(sessionKey, binary.BigEndian.AppendUint64(nil, limit))
		if err := b.Commit(true); err != nil {
			panic(fmt.Sprintf("meta: persist session high-water mark %d: %v", limit, err))
		}
		m.sessionLimit = limit
	}
	id := m.nextSession
	m.nextSession++
	return id
}

func (m *Meta) configs() []*wire.Config {
	out := make([]*wire.Config, len(m.shards))
	for i, s := range m.shards {
		out[i] = s.config
	}
	return out
}

func (m *Meta) heartbeat(env actors.Env, from actors.Addr, hb *wire.Heartbeat) {
	now := env.Now()
	srv := m.servers[from]
	if srv == nil {
		srv = &server{}
		m.servers[from] = srv
	}
	srv.lastHeartbeat = now
	srv.status = map[uint32]*wire.ReplicaStatus{}
	for _, r := range hb.Replicas {
		srv.status[r.Shard] = r
	}

	reply := &wire.HeartbeatReply{Id: hb.Id, Incarnation: hb.Incarnation}
	for _, s := range m.shards {
		c := s.config
		if c.Primary == string(from) {
			st := srv.status[c.Shard]
			if st != nil && st.ConfigVersion == c.Version && !st.ActingPrimary {
				// Rule restart-through-meta: the primary restarted and lost
				// what it held in memory (learners it counted while asking
				// us to promote them). A new version, same members, makes
				// every request of the old one stale; it recovers through
				// the barrier of the new one. No lease of the old process
				// can be running: it died.
				next := proto.Clone(c).(*wire.Config)
				next.Version++
				m.change(env, s, next, "primary restarted; recovering it in a new version")
				c = s.config
			}
			if st != nil && st.ConfigVersion == c.Version && st.ActingPrimary && st.LeaseValid {
				s.leaseConfirmed = now
			}
			if s.suspect && s.why == suspectMissed {
				// The primary is back before anyone replaced it: nothing was
				// promoted, so granting again is safe.
				env.Log().Info("primary heartbeats again; granting leases again", "shard", c.Shard, "primary", from)
				s.suspect = false
				// Its lease ran out while we could not hear it; give our
				// grants a failure timeout to reach it again.
				s.leaseConfirmed = now
			}
			if !s.suspect {
				reply.Leases = append(reply.Leases, &wire.LeaseGrant{
					Shard: c.Shard, ConfigVersion: c.Version, HeartbeatId: hb.Id,
					LeaseNanos: int64(m.cfg.LeaseTimeout),
				})
				s.lastGrant = now
			}
		}
		if !isMember(c, string(from)) && m.wantsLearner(c, from) {
			next := proto.Clone(c).(*wire.Config)
			next.Version++
			next.Learners = append(next.Learners, string(from))
			m.change(env, s, next, "data server joins as learner")
		}
		if isMember(s.config, string(from)) {
			reply.Configs = append(reply.Configs, s.config)
		}
	}
	env.Send(from, reply)
}

// wantsLearner: a shard short of members takes a data server that is one of
// the configured data servers.
func (m *Meta) wantsLearner(c *wire.Config, d actors.Addr) bool {
	members := 1 + len(c.Secondaries) + len(c.Learners)
	if c.Primary == "" {
		members = len(c.Secondaries) + len(c.Learners)
	}
	return members < m.cfg.Replicas && slices.Contains(m.cfg.DataServers, d)
}

// Why a primary is suspect.
const (
	suspectMissed    = "missed heartbeats"
	suspectLeaseLost = "heartbeats without holding a lease: our grants do not reach it"
)

func (m *Meta) alive(now time.Time, d string) bool {
	srv := m.servers[actors.Addr(d)]
	return srv != nil && now.Sub(srv.lastHeartbeat) < m.cfg.FailTimeout
}

// check suspects primaries that stopped heartbeating and replaces them once
// their lease has surely expired.
func (m *Meta) check(env actors.Env) {
	now := env.Now()
	for _, s := range m.shards {
		c := s.config
		if c.Primary == "" {
			continue
		}
		// A primary is healthy when it heartbeats and holds the leases we
		// grant. Counting only its heartbeats would keep a primary whose
		// grants are lost in place forever, serving nothing.
		why := ""
		switch {
		case !m.alive(now, c.Primary):
			why = suspectMissed
		case now.Sub(s.leaseConfirmed) > m.cfg.FailTimeout:
			why = suspectLeaseLost
		}
		if why == "" && !s.suspect {
			continue
		}
		if !s.suspect {
			env.Log().Warn("primary looks failed; no more leases for it", "shard", c.Shard, "primary", c.Primary, "version", c.Version, "why", why)
			s.suspect, s.why = true, why
		}
		// Lease rule: the old primary may serve until lastGrant + L on its
		// clock; L(1+ρ)/(1−ρ) on ours is surely later.
		if now.Before(s.lastGrant.Add(m.cfg.LeaseWait())) {
			continue
		}
		cand := m.candidate(now, c)
		if cand == "" {
			if s.why == suspectLeaseLost {
				// Nobody to promote: try granting again rather than leave
				// the shard without a primary for good.
				s.suspect, s.leaseConfirmed = false, now
			}
			continue
		}
		next := &wire.Config{Shard: c.Shard, Version: c.Version + 1, Primary: cand}
		for _, sec := range c.Secondaries {
			if sec != cand {
				next.Secondaries = append(next.Secondaries, sec)
			}
		}
		next.Learners = append(next.Learners, c.Learners...)
		m.change(env, s, next, "primary failed; promoted the most up-to-date live secondary")
	}
}

// candidate is the live secondary with the highest persisted (last version,
// last seq), ties broken by name.
func (m *Meta) candidate(now time.Time, c *wire.Config) string {
	best, bestVer, bestSeq := "", uint64(0), uint64(0)
	for _, sec := range c.Secondaries {
		if !m.alive(now, sec) {
			continue
		}
		var ver, seq uint64
		if st := m.servers[actors.Addr(sec)].status[c.Shard]; st != nil {
			ver, seq = st.LastVersion, st.LastSeq
		}
		if best == "" || ver > bestVer || (ver == bestVer && seq > bestSeq) {
			best, bestVer, bestSeq = sec, ver, seq
		}
	}
	return best
}

func (m *Meta) removeReplica(env actors.Env, from actors.Addr, r *wire.RemoveReplica) {
	s := m.shard(r.Shard)
	if s == nil {
		return
	}
	c := s.config
	if r.ConfigVersion == c.Version && c.Primary == string(from) && r.Replica != c.Primary {
		next := proto.Clone(c).(*wire.Config)
		next.Version++
		next.Secondaries = without(next.Secondaries, r.Replica)
		next.Learners = without(next.Learners, r.Replica)
		if len(next.Secondaries) != len(c.Secondaries) || len(next.Learners) != len(c.Learners) {
			m.change(env, s, next, "primary removed an unresponsive replica "+r.Replica)
		}
	}
	env.Send(from, &wire.ConfigUpdate{Configs: m.configs()})
}

func (m *Meta) promoteLearner(env actors.Env, from actors.Addr, p *wire.PromoteLearner) {
	s := m.shard(p.Shard)
	if s == nil {
		return
	}
	c := s.config
	if p.ConfigVersion == c.Version && c.Primary == string(from) && slices.Contains(c.Learners, p.Learner) {
		next := proto.Clone(c).(*wire.Config)
		next.Version++
		next.Learners = without(next.Learners, p.Learner)
		next.Secondaries = append(next.Secondaries, p.Learner)
		m.change(env, s, next, "caught-up learner "+p.Learner+" becomes a secondary")
	}
	env.Send(from, &wire.ConfigUpdate{Configs: m.configs()})
}

func (m *Meta) shard(id uint32) *shard {
	if int(id) >= len(m.shards) {
		return nil
	}
	return m.shards[id]
}

// change persists next (synced) and only then tells every member, old and new.
func (m *Meta) change(env actors.Env, s *shard, next *wire.Config, why string) {
	old := s.config
	m.persist(next)
	s.config = next
	s.suspect = false
	s.leaseConfirmed = env.Now()
	// lastGrant stays: a lease granted under the old version may still be
	// running, and the next promotion must wait it out too.
	env.Log().Info("config change", "shard", next.Shard, "why", why, "from", describe(old), "to", describe(next))
	notify := members(old)
	for _, a := range members(next) {
		if !slices.Contains(notify, a) {
			notify = append(notify, a)
		}
	}
	for _, a := range notify {
		env.Send(actors.Addr(a), &wire.ConfigUpdate{Configs: []*wire.Config{next}})
	}
}

func (m *Meta) persist(c *wire.Config) {
	b := m.st.NewBatch()
	b.PutConfig(c)
	if err := b.Commit(true); err != nil { // synced before anyone hears of it
		panic(fmt.Sprintf("meta: persist config %s: %v", describe(c), err))
	}
}

func members(c *wire.Config) []string {
	var out []string
	if c.Primary != "" {
		out = append(out, c.Primary)
	}
	out = append(out, c.Secondaries...)
	return append(out, c.Learners...)
}

func isMember(c *wire.Config, d string) bool { return slices.Contains(members(c), d) }

func without(list []string, x string) []string {
	var out []string
	for _, s := range list {
		if s != x {
			out = append(out, s)
		}
	}
	return out
}

func describe(c *wire.Config) string {
	if c == nil {
		return "none"
	}
	return fmt.Sprintf("v%d primary=%s secondaries=%v learners=%v", c.Version, c.Primary, c.Secondaries, c.Learners)
}
