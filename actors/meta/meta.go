package meta

import (
	"fmt"
	"slices"
	"time"

	"castkv/actors"
	"castkv/actors/cluster"
	"castkv/actors/store"
	"castkv/actors/wire"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Config is the meta role's static configuration.
type Config struct {
	// DataServers bootstraps the shards' first configs (cluster.Place: the
	// replicas of shard i are DataServers i, i+1, ... round the list, the
	// first primary), and are the servers a shard short of replicas takes
	// a learner from.
	DataServers []actors.Addr
	// Shards is how many shards a new cluster splits the hash slots into
	// (default 1).
	Shards int
	// Replicas is how many members (primary, secondaries, learners) a shard
	// aims for; default 3, or len(DataServers) when fewer.
	Replicas int
	// LeaseTimeout is the length of a primary lease.
	LeaseTimeout time.Duration
	// DriftBound is ρ, the bound on any clock's rate error the lease protocol
	// assumes (0.01 = 1%).
	DriftBound float64
	// FailTimeout without a heartbeat makes a data server suspect.
	FailTimeout time.Duration
	// CheckEvery is how often the leader looks for failed primaries.
	CheckEvery time.Duration
	// ReplaceAfter: a learner whose data server has sent no heartbeat for
	// this long is removed from its shards, so a spare data server can take
	// its place. (A primary removes a silent secondary itself, after data's
	// RemoveAfter; meta replaces a failed primary after FailTimeout and the
	// lease.)
	ReplaceAfter time.Duration
	// BalanceEvery: the balancer moves at most one replica or primary this
	// often (balance.go).
	BalanceEvery time.Duration

	// Peers are the meta group's members when it is first started, this one
	// among them; empty: a group of one. Every initial member must be given
	// the same list.
	Peers []actors.Addr
	// Join starts a member with no state, to be added to a running group
	// (castd admin meta-add); it bootstraps nothing.
	Join bool
	// TickEvery is the raft tick: how often the leader heartbeats and
	// confirms its leadership, and a follower checks its election timer.
	TickEvery time.Duration
	// ElectionTimeout: a follower that hears nothing from a leader for this
	// long (plus a random extra up to as much again) campaigns, and one that
	// heard from a leader within it refuses to vote for another.
	ElectionTimeout time.Duration

	// SplitBytes and SplitOpsPerSecond: the balancer splits a shard whose
	// primary reports more live bytes, or more operations a second (0:
	// never on that count; split.go).
	SplitBytes        uint64
	SplitOpsPerSecond float64
	// MaxShards bounds the shards the balancer's splits make (0: 1024).
	MaxShards int

	// TxnLifetime: the safe point trails the TSO by this much (gc.go): a
	// transaction that takes longer to prewrite starts again, and records
	// of transactions whose coordinators died are dropped some time after.
	TxnLifetime time.Duration

	// Canary switches on a deliberate defect (see the Canary constants).
	Canary string
}

// Canaries lists the meta role's deliberate defects.
var Canaries = []string{CanaryMetaNoWait, CanaryLeaseFromOldLeader, CanaryGrantUnconfirmed, CanaryDropOldPrimary, CanaryTSOFromClock, CanaryMoveWithoutFence, CanaryGCIgnoresLocks}

// Canaries: deliberate defects the simulator must catch.
const (
	// CanaryMetaNoWait: a meta leader promotes a failed primary's successor
	// at once, without waiting out any lease.
	CanaryMetaNoWait = "meta-no-wait"
	// CanaryLeaseFromOldLeader: a new meta leader counts only the grants it
	// made itself (in an earlier term, if any), trusting that no other
	// leader granted since.
	CanaryLeaseFromOldLeader = "lease-from-old-leader"
	// CanaryGrantUnconfirmed: a meta leader grants leases and promotes
	// without a recent confirmation that a quorum still follows it.
	CanaryGrantUnconfirmed = "meta-grant-unconfirmed"
	// CanaryDropOldPrimary: a failover of a thin shard (no secondary left
	// besides the one promoted) leaves the failed primary out of the new
	// config, so it deletes its copy when it returns.
	CanaryDropOldPrimary = "drop-old-primary"
	// CanaryTSOFromClock: a meta leader issues timestamps from its clock
	// alone, not above the group's persisted limit, so a leader whose clock
	// is behind an earlier leader's issues timestamps below that leader's.
	CanaryTSOFromClock = "tso-from-clock"
	// CanaryGCIgnoresLocks: the gc point is the safe point, whatever locks
	// the shards still hold, so a record goes while a lock of its
	// transaction remains (gc.go).
	CanaryGCIgnoresLocks = "gc-ignores-locks"
)

// DefaultReplicas is how many replicas a shard has unless configured.
const DefaultReplicas = 3

// DefaultDriftBound is ρ when Config.DriftBound is zero: clocks may run
// 1% fast or slow.
const DefaultDriftBound = 0.01

func (c Config) withDefaults() Config {
	if c.Shards == 0 {
		c.Shards = 1
	}
	if c.Replicas == 0 {
		c.Replicas = min(DefaultReplicas, len(c.DataServers))
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
	if c.TxnLifetime == 0 {
		c.TxnLifetime = time.Minute
	}
	if c.ReplaceAfter == 0 {
		c.ReplaceAfter = 30 * time.Second
	}
	if c.BalanceEvery == 0 {
		c.BalanceEvery = time.Second
	}
	if c.TickEvery == 0 {
		c.TickEvery = 100 * time.Millisecond
	}
	if c.ElectionTimeout == 0 {
		c.ElectionTimeout = 500 * time.Millisecond
	}
	return c
}

// LeaseWait is how long meta waits after its last grant before another
// node may become primary: L·(1+ρ)/(1−ρ).
func (c Config) LeaseWait() time.Duration {
	c = c.withDefaults()
	return time.Duration(float64(c.LeaseTimeout) * (1 + c.DriftBound) / (1 - c.DriftBound))
}

// Meta is one member of the metadata group.
type Meta struct {
	cfg   Config
	st    *store.Store
	start time.Time
	now   time.Time // env.Now() of the message being handled

	// The replicated state machine (state.go).
	shards       []*shard           // by shard id
	sessionLimit uint64             // every session id ever issued is below it
	tsLimit      uint64             // every timestamp ever issued is below it (tso.go)
	registry     []*wire.DataServer // by addr (balance.go)
	members      map[uint64]actors.Addr
	confState    *raftpb.ConfState
	applied      uint64
	snapIndex    uint64 // of the newest snapshot persisted
	memSnapIndex uint64 // of the newest snapshot in memory, for raft to send

	// Raft (raft.go).
	id            uint64
	addrs         map[uint64]actors.Addr // members and any peer heard from
	rn            *raft.RawNode
	ms            *raft.MemoryStorage
	wasLeader     bool
	heardLeaderAt time.Time
	lastCampaign  time.Time
	electionAfter time.Duration
	confirmedAt   time.Time   // newest time a quorum confirmed our leadership
	reads         []time.Time // confirmations in flight, by when asked
	memberChange  *pendingMembers

	// The leader's own state, dropped when it stops leading.
	leaderSince time.Time
	// liveness and persisted state reported by each data server
	servers map[actors.Addr]*server
	// sessNext..sessEnd are session ids this leader reserved in the log and
	// has not issued yet; sessWaiting are GetConfigs waiting for a block.
	sessNext, sessEnd uint64
	sessReserving     bool
	sessWaiting       []sessionWait
	// tsNext..tsEnd are timestamps this leader reserved and has not
	// issued; tsWaiting are GetTS requests waiting for a reservation.
	tsNext, tsEnd uint64
	// tsSkew: how far the group's timestamps stood from this leader's
	// clock when it got its first window, shrinking since (tso.go): its
	// timestamps follow its clock shifted by that much, so they keep pace
	// with real time without a crawl or a jump.
	tsSkew       time.Duration
	tsSlewAt     time.Time // when tsoClock last shrank tsSkew
	tsReserving  bool
	tsReservedAt time.Time
	tsWaiting    []tsWait
	// registering: data servers whose registration this leader proposed,
	// and when; serverWaits: admin requests waiting for a registry change;
	// lastBalance: the balancer's last change (balance.go).
	registering map[string]time.Time
	serverWaits []serverWait
	lastBalance time.Time
}

// legacySessionKey is where a meta server before the group kept its
// session high-water mark (read once, at bootstrap).
const legacySessionKey = "api-sessions"

// sessionBlock is how many session ids one reservation in the log covers.
const sessionBlock = 1024

// maxSessionWaiting bounds the GetConfigs held for a reservation; beyond it
// they go unanswered and their senders retry.
const maxSessionWaiting = 256

type sessionWait struct {
	from actors.Addr
	id   uint64
}

type shard struct {
	config *wire.Config
	// The rest is the leader's. proposed is the next config this leader
	// proposed and has not seen applied (one at a time per shard).
	proposed    *wire.Config
	proposedAt  time.Time
	proposedWhy string
	// lastGrant is when meta last sent the current primary a lease.
	lastGrant time.Time
	// suspect: the primary missed heartbeats, or kept heartbeating without
	// holding a lease (our grants do not reach it); no more grants for this
	// version.
	suspect   bool
	why       string
	suspectAt time.Time // when it became suspect: a candidate must have heartbeated since
	// leaseConfirmed is when the primary last reported holding a lease (or
	// when it became primary).
	leaseConfirmed time.Time
	// handover is a primary move in progress (balance.go).
	handover *handover
	// lockFloor: the highest lock floor the shard's primary reported to
	// this member as leader (gc.go).
	lockFloor uint64
}

type server struct {
	lastHeartbeat time.Time
	status        map[uint32]*wire.ReplicaStatus
}

// New returns a meta role.
func New(cfg Config) *Meta {
	return &Meta{cfg: cfg.withDefaults()}
}

// Start loads the group's state from storage, bootstrapping it on an
// initial member's first boot.
func (m *Meta) Start(env actors.Env) {
	m.st = env.Store()
	m.start = env.Now()
	m.now = m.start
	m.rn, m.wasLeader, m.memberChange = nil, false, nil
	m.confirmedAt, m.reads = time.Time{}, nil
	m.dropLeaderState()
	m.startRaft(env)
	m.ready(env)
	env.After(m.cfg.CheckEvery, &wire.Tick{Kind: wire.Tick_CHECK})
	env.After(m.cfg.TickEvery, &wire.Tick{Kind: wire.Tick_RAFT})
}

// Handle processes one message.
func (m *Meta) Handle(env actors.Env, from actors.Addr, msg actors.Msg) {
	m.now = env.Now()
	switch x := msg.(type) {
	case *wire.RaftMessage:
		m.stepRaft(env, from, x)
	case *wire.Heartbeat:
		if m.serve(env, from, x.Id) {
			m.heartbeat(env, from, x)
		}
	case *wire.GetConfig:
		if m.serve(env, from, x.Id) {
			m.getConfig(env, from, x)
		}
	case *wire.GetTS:
		if m.serve(env, from, x.Id) {
			m.getTS(env, from, x)
		}
	case *wire.RemoveReplica:
		if m.serve(env, from, 0) {
			m.removeReplica(env, from, x)
		}
	case *wire.PromoteLearner:
		if m.serve(env, from, 0) {
			m.promoteLearner(env, from, x)
		}
	case *wire.MetaMembers:
		m.membership(env, from, x)
	case *wire.DataServers:
		m.dataServers(env, from, x)
	case *wire.Surrendered:
		if m.leading(m.now) {
			m.surrendered(env, from, x)
		}
	case *wire.Tick:
		switch x.Kind {
		case wire.Tick_RAFT:
			m.tick(env)
			env.After(m.cfg.TickEvery, &wire.Tick{Kind: wire.Tick_RAFT})
		case wire.Tick_CHECK:
			if m.leading(m.now) {
				m.check(env)
				m.retryReserveTS()
			}
			env.After(m.cfg.CheckEvery, &wire.Tick{Kind: wire.Tick_CHECK})
		}
	default:
		env.Log().Warn("meta: ignoring unexpected message", "from", from, "type", fmt.Sprintf("%T", msg))
	}
	m.ready(env)
}

// serve reports whether this member may answer a data or API server: only
// a confirmed leader does; the others redirect the sender.
func (m *Meta) serve(env actors.Env, from actors.Addr, id uint64) bool {
	if m.leading(m.now) {
		return true
	}
	env.Send(from, &wire.MetaRedirect{Id: id, Leader: string(m.leaderAddr())})
	return false
}

// Config is shard's current config as this member applied it (nil before
// Start). The simulator uses it to aim faults at the primary.
func (m *Meta) Config(shard uint32) *wire.Config {
	if s := m.shard(shard); s != nil {
		return s.config
	}
	return nil
}

// Leading reports whether this member acts as the group's leader now.
func (m *Meta) Leading(now time.Time) bool { return m.leading(now) }

// becomeLeader starts a leadership. The grants of earlier leaders are
// unknown to it, so it promotes nobody until a lease granted just before it
// was elected has surely expired: every shard's last grant counts as now.
func (m *Meta) becomeLeader(env actors.Env, now time.Time) {
	env.Log().Info("meta: elected leader", "term", m.rn.BasicStatus().GetTerm())
	m.leaderSince = now
	m.confirmedAt, m.reads = time.Time{}, nil
	m.servers = map[actors.Addr]*server{}
	m.registering = map[string]time.Time{}
	m.resetLeaderShards(now)
	m.reserveSessions()
	m.maybeReserveTS()
}

// resetLeaderShards gives every shard a fresh leader's view: nothing
// suspect, no proposal of ours in flight, and the last grant taken as now
// (the canary lease-from-old-leader keeps the grants it made in an earlier
// term instead).
func (m *Meta) resetLeaderShards(now time.Time) {
	for _, s := range m.shards {
		s.suspect, s.why, s.proposed, s.handover = false, "", nil, nil
		s.leaseConfirmed = now
		if m.cfg.Canary != CanaryLeaseFromOldLeader {
			s.lastGrant = now
		}
		// A grace of one failure timeout for every member to find us.
		for _, a := range members(s.config) {
			if m.servers[actors.Addr(a)] == nil {
				m.servers[actors.Addr(a)] = &server{lastHeartbeat: now, status: map[uint32]*wire.ReplicaStatus{}}
			}
		}
	}
}

// dropLeaderState forgets what only a leader keeps.
func (m *Meta) dropLeaderState() {
	m.servers = map[actors.Addr]*server{}
	m.sessNext, m.sessEnd, m.sessReserving = 0, 0, false
	m.sessWaiting = nil
	m.tsNext, m.tsEnd, m.tsReserving, m.tsWaiting, m.tsSkew, m.tsSlewAt = 0, 0, false, nil, 0, time.Time{}
	m.registering, m.serverWaits, m.lastBalance = map[string]time.Time{}, nil, time.Time{}
	for _, s := range m.shards {
		s.proposed, s.handover = nil, nil
	}
}

// propose asks the group to install next as s's config, unless a proposal
// of ours for s is still in flight.
func (m *Meta) propose(env actors.Env, s *shard, next *wire.Config, why string) {
	if s.proposed != nil && m.now.Sub(s.proposedAt) < 2*m.cfg.ElectionTimeout {
		return
	}
	if err := m.rn.Propose(marshal(&wire.MetaCommand{Config: next})); err != nil {
		env.Log().Warn("meta: config change not proposed", "shard", next.Shard, "why", why, "err", err)
		return
	}
	s.proposed, s.proposedAt, s.proposedWhy = next, m.now, why
}

func (m *Meta) getConfig(env actors.Env, from actors.Addr, x *wire.GetConfig) {
	if !x.NewSession {
		env.Send(from, &wire.ConfigUpdate{Id: x.Id, Configs: m.configs()})
		return
	}
	if len(m.sessWaiting) < maxSessionWaiting {
		m.sessWaiting = append(m.sessWaiting, sessionWait{from, x.Id})
	}
	m.answerSessions(env)
}

// answerSessions answers the GetConfigs waiting for a session id from this
// leader's reserved block, reserving another block when it runs out. Every
// id is below a limit a quorum persisted, and every block is reserved by one
// leader, so no id is issued twice, across restarts and leaders.
func (m *Meta) answerSessions(env actors.Env) {
	for len(m.sessWaiting) > 0 && m.sessNext < m.sessEnd {
		w := m.sessWaiting[0]
		m.sessWaiting = m.sessWaiting[1:]
		env.Send(w.from, &wire.ConfigUpdate{Id: w.id, Configs: m.configs(), Session: m.sessNext})
		m.sessNext++
	}
	if m.sessNext >= m.sessEnd {
		m.reserveSessions()
	}
}

func (m *Meta) reserveSessions() {
	if m.sessReserving {
		return
	}
	term := m.rn.BasicStatus().GetTerm()
	if err := m.rn.Propose(marshal(&wire.MetaCommand{ReserveSessions: sessionBlock, ProposerTerm: term})); err == nil {
		m.sessReserving = true
	}
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
	m.register(from)
	srv.status = map[uint32]*wire.ReplicaStatus{}
	for _, r := range hb.Replicas {
		srv.status[r.Shard] = r
	}

	reply := &wire.HeartbeatReply{Id: hb.Id, Incarnation: hb.Incarnation}
	for _, s := range m.shards {
		if st := srv.status[s.config.Shard]; s.config.Primary == string(from) && st != nil && st.Load != nil {
			s.lockFloor = max(s.lockFloor, st.Load.LockFloor)
		}
	}
	var safe, below uint64 // gc points, for this heartbeat's first grant's timestamp
	granted := false
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
				m.propose(env, s, next, whyPrimaryRestarted)
			}
			if st != nil && st.ConfigVersion == c.Version && st.ActingPrimary && st.LeaseValid {
				s.leaseConfirmed = now
			}
			if st != nil && st.ConfigVersion == c.Version && st.Surrendered && s.handover == nil {
				// A handover that did not complete (abandoned, or begun by
				// an earlier leader): the primary serves nothing more in
				// this version, so move on to a new one, same members, in
				// which it gets leases again.
				next := proto.Clone(c).(*wire.Config)
				next.Version++
				m.propose(env, s, next, whySurrendered)
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
			// No grants while a version of ours that ends this primary's
			// term is on its way.
			// Nor while it hands over (its successor waits for its
			// surrender or for its lease to run out).
			ending := s.proposed != nil && (s.proposed.Primary != c.Primary || s.proposedWhy == whyPrimaryRestarted || s.proposedWhy == whySurrendered) || s.handover != nil
			// Each grant carries a timestamp (rule ts-floor): none until
			// this leader's first window is reserved.
			if ts, ok := m.grantTS(); !s.suspect && !ending && ok {
				if !granted {
					safe, below, granted = m.gcPointsAt(ts)
				}
				reply.Leases = append(reply.Leases, &wire.LeaseGrant{
					Shard: c.Shard, ConfigVersion: c.Version, HeartbeatId: hb.Id,
					LeaseNanos: int64(m.cfg.LeaseTimeout), Ts: ts, SafePoint: safe, GcBelow: below,
				})
				s.lastGrant = now
			}
		}
		if !isMember(c, string(from)) && m.wantsLearner(c, from) {
			next := proto.Clone(c).(*wire.Config)
			next.Version++
			next.Learners = append(next.Learners, string(from))
			m.propose(env, s, next, "data server joins as learner")
		}
		if isMember(s.config, string(from)) {
			reply.Configs = append(reply.Configs, s.config)
		}
	}
	env.Send(from, reply)
}

// wantsLearner: a shard short of members takes a registered data server
// that is not draining.
func (m *Meta) wantsLearner(c *wire.Config, d actors.Addr) bool {
	members := 1 + len(c.Secondaries) + len(c.Learners)
	if c.Primary == "" {
		members = len(c.Secondaries) + len(c.Learners)
	}
	return members < m.cfg.Replicas && m.active(string(d))
}

const whyPrimaryRestarted = "primary restarted; recovering it in a new version"

const whySurrendered = "primary surrendered its lease for a handover that did not complete; a new version lets it serve again"

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
// their lease has surely expired, and removes other members that have been
// silent for ReplaceAfter.
func (m *Meta) check(env actors.Env) {
	now := env.Now()
	m.removeLost(env, now)
	for _, s := range m.shards {
		c := s.config
		if c.Primary == "" {
			continue
		}
		if s.handover != nil {
			m.driveHandover(env, s)
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
			s.suspect, s.why, s.suspectAt = true, why, now
		}
		// Lease rule: the old primary may serve until lastGrant + L on its
		// clock; L(1+ρ)/(1−ρ) on ours is surely later.
		if now.Before(s.lastGrant.Add(m.cfg.LeaseWait())) && m.cfg.Canary != CanaryMetaNoWait {
			continue
		}
		cand := m.candidate(c, s.suspectAt)
		if cand == "" {
			if s.why == suspectLeaseLost {
				// Nobody to promote: try granting again rather than leave
				// the shard without a primary for good.
				s.suspect, s.leaseConfirmed = false, now
			}
			continue
		}
		next := proto.Clone(c).(*wire.Config)
		next.Version++
		next.Primary = cand
		next.Secondaries = without(next.Secondaries, cand)
		if m.reporting(next.Secondaries, c.Shard) == 0 && m.cfg.Canary != CanaryDropOldPrimary {
			// A thin shard keeps its old primary, as a secondary: it holds
			// every committed entry, so until the new primary removes it
			// for silence (data's RemoveAfter) or it acks, the shard keeps
			// a second copy. Dropped, it deleted its copy at its return,
			// and if the promoted secondary was then lost for good, the
			// shard was lost with it. With another secondary left, that
			// one is the second copy, and the new primary's barrier need
			// not wait out a dead old primary. A secondary that reports no
			// replica of the shard (a split-born one's that has not applied
			// the split) is no second copy.
			next.Secondaries = append(next.Secondaries, c.Primary)
		}
		m.propose(env, s, next, "primary failed; promoted the most up-to-date live secondary")
	}
	m.balance(env, now)
}

// removeLost removes from each shard the learners whose data server sent
// no heartbeat for ReplaceAfter (counting from this leader's election for
// one it never heard from: a new leader knows no heartbeats yet), so a
// spare can take their place. Learners only: a silent secondary is removed
// by its primary (data's RemoveAfter; an idle primary probes its peers),
// which is alive when it asks and holds every committed entry. Meta acting
// on heartbeats alone removed secondaries right after a failover whose new
// primary had just died, so the shard's last copy went with them (castsim
// seeds 287 and 11 of 1-400). A learner holds nothing the shard needs.
func (m *Meta) removeLost(env actors.Env, now time.Time) {
	if now.Sub(m.leaderSince) < m.cfg.ReplaceAfter {
		return
	}
	for _, s := range m.shards {
		c := s.config
		for _, d := range c.Learners {
			if srv := m.servers[actors.Addr(d)]; srv != nil && now.Sub(srv.lastHeartbeat) < m.cfg.ReplaceAfter {
				continue
			}
			next := proto.Clone(c).(*wire.Config)
			next.Version++
			next.Secondaries, next.Learners = without(next.Secondaries, d), without(next.Learners, d)
			m.propose(env, s, next, fmt.Sprintf("learner %s sent no heartbeat for %v; removed so a spare can replace it", d, m.cfg.ReplaceAfter))
			break // one change per shard at a time
		}
	}
}

// reporting counts the servers of addrs whose last heartbeat reported a
// replica of shard.
func (m *Meta) reporting(addrs []string, shard uint32) int {
	n := 0
	for _, a := range addrs {
		if srv := m.servers[actors.Addr(a)]; srv != nil && srv.status[shard] != nil {
			n++
		}
	}
	return n
}

// candidate is the secondary with the highest persisted (last version,
// last seq), ties broken by name, among the live ones (a heartbeat within
// the fail timeout) that heartbeated since the primary became suspect. A secondary silent since before then may have
// failed with the primary: promoting it drops the old primary from the
// config (which then deletes its copy when it returns), and if the
// secondary is gone for good the shard's last copy goes with it (castsim
// seed 371 of 1-400: a secondary lost for good 0.6 s before the primary's
// crash looked alive, within the fail timeout, and was promoted).
func (m *Meta) candidate(c *wire.Config, since time.Time) string {
	best, bestVer, bestSeq := "", uint64(0), uint64(0)
	for _, sec := range c.Secondaries {
		if srv := m.servers[actors.Addr(sec)]; srv == nil || !srv.lastHeartbeat.After(since) || !m.alive(m.now, sec) {
			continue
		}
		st := m.servers[actors.Addr(sec)].status[c.Shard]
		if st == nil {
			// It holds no replica of the shard to report: its config has
			// not reached it, or, in a split-born shard, it has not applied
			// the split (it holds none of the shard's first state).
			continue
		}
		ver, seq := st.LastVersion, st.LastSeq
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
			m.propose(env, s, next, "primary removed an unresponsive replica "+r.Replica)
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
		m.propose(env, s, next, "caught-up learner "+p.Learner+" becomes a secondary")
	}
	env.Send(from, &wire.ConfigUpdate{Configs: m.configs()})
}

func (m *Meta) shard(id uint32) *shard {
	if int(id) >= len(m.shards) {
		return nil
	}
	return m.shards[id]
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
	start, end := cluster.SlotRange(c)
	return fmt.Sprintf("v%d slots=%d-%d primary=%s secondaries=%v learners=%v", c.Version, start, end-1, c.Primary, c.Secondaries, c.Learners)
}
