package data

import (
	"fmt"
	"slices"
	"time"

	"castkv/actors"
	"castkv/actors/store"
	"castkv/actors/wire"
)

// Config is the data role's static configuration.
type Config struct {
	Meta actors.Addr
	// HeartbeatEvery is how often the server reports to meta (and renews
	// its leases).
	HeartbeatEvery time.Duration
	// RetryEvery is how often a primary resends Prepares that made no
	// progress, and piggybacks its commit point.
	RetryEvery time.Duration
	// RemoveAfter is how long a secondary may lag without progress before
	// the primary asks meta to remove it.
	RemoveAfter time.Duration
	// MaxStagedValues / MaxStagedBytes bound the staged values held in
	// memory; StageTTL expires them.
	MaxStagedValues int
	MaxStagedBytes  int
	StageTTL        time.Duration
	// MaxPrepareBytes bounds the entries in one Prepare.
	MaxPrepareBytes int
	// MaxUncommitted bounds the entries a primary holds uncommitted; beyond
	// it Commit answers BUSY.
	MaxUncommitted int
	// Canary switches on a deliberate defect ("" = none).
	Canary string
}

func (c Config) withDefaults() Config {
	if c.HeartbeatEvery == 0 {
		c.HeartbeatEvery = 100 * time.Millisecond
	}
	if c.RetryEvery == 0 {
		c.RetryEvery = 50 * time.Millisecond
	}
	if c.RemoveAfter == 0 {
		c.RemoveAfter = time.Second
	}
	if c.MaxStagedValues == 0 {
		c.MaxStagedValues = 4096
	}
	if c.MaxStagedBytes == 0 {
		c.MaxStagedBytes = 256 << 20
	}
	if c.StageTTL == 0 {
		c.StageTTL = 10 * time.Second
	}
	if c.MaxPrepareBytes == 0 {
		c.MaxPrepareBytes = 1 << 20
	}
	if c.MaxUncommitted == 0 {
		c.MaxUncommitted = 10000
	}
	return c
}

// Canaries this role knows.
const (
	CanaryAckBeforePersist = "ack-before-persist"
	CanaryIgnoreLease      = "ignore-lease"
	CanaryCommitOnMajority = "commit-on-majority"
	CanaryReadSecondary    = "read-secondary"
)

// Timer ids.
const (
	timerHeartbeat = iota + 1
	timerSync
	timerRetry
	timerExpire
)

// Server is the data server role.
type Server struct {
	cfg  Config
	self actors.Addr
	st   *store.Store

	replicas []*replica // sorted by shard

	heartbeatID   uint64
	heartbeatSent map[uint64]time.Time // bounded: the last maxHeartbeatsRemembered
	syncPending   bool
	staged        *stageCache
}

const maxHeartbeatsRemembered = 64

// New returns a data server role.
func New(cfg Config) *Server {
	return &Server{cfg: cfg.withDefaults()}
}

// Start recovers every replica from pebble and starts heartbeating; the
// server learns its roles from meta's answer.
func (s *Server) Start(env actors.Env) {
	s.self = env.Self()
	s.st = store.New(env.Store())
	s.replicas = nil
	s.heartbeatSent = map[uint64]time.Time{}
	s.syncPending = false
	s.staged = newStageCache(s.cfg.MaxStagedValues, s.cfg.MaxStagedBytes, s.cfg.StageTTL)
	// One shard for now; more shards recover the same way.
	c, err := s.st.Config(0)
	s.must(err, "load shard 0 config")
	if c != nil {
		r := s.recoverReplica(env, c)
		s.replicas = append(s.replicas, r)
		// A primary that restarts serves nothing until a barrier in its
		// config version commits (rule barrier).
		if r.isPrimaryIn(c) {
			r.becomePrimary(env)
		}
	}
	s.heartbeat(env)
	env.After(s.cfg.RetryEvery, &wire.Tick{Kind: wire.Tick_RETRY, Id: timerRetry})
	env.After(s.cfg.StageTTL/4, &wire.Tick{Kind: wire.Tick_EXPIRE, Id: timerExpire})
}

// Handle processes one message.
func (s *Server) Handle(env actors.Env, from actors.Addr, m actors.Msg) {
	switch x := m.(type) {
	case *wire.Tick:
		s.tick(env, x)
	case *wire.HeartbeatReply:
		s.heartbeatReply(env, x)
	case *wire.ConfigUpdate:
		for _, c := range x.Configs {
			s.acceptConfig(env, c)
		}
	case *wire.Stage:
		s.staged.put(env.Now(), x.Op, x.Values)
		env.Send(from, &wire.StageAck{Shard: x.Shard, Op: x.Op})
	case *wire.Commit:
		if r := s.replicaFor(env, x.Shard, x.ConfigVersion, func(st wire.Status, c *wire.Config) {
			env.Send(from, &wire.CommitReply{Shard: x.Shard, Op: x.Op, Status: st, Config: c})
		}); r != nil {
			r.commit(env, from, x)
		}
	case *wire.Read:
		if r := s.replicaFor(env, x.Shard, x.ConfigVersion, func(st wire.Status, c *wire.Config) {
			env.Send(from, &wire.ReadReply{Shard: x.Shard, Id: x.Id, Status: st, Config: c})
		}); r != nil {
			r.read(env, from, x)
		}
	case *wire.Prepare:
		s.prepare(env, from, x)
	case *wire.PrepareAck:
		if r := s.replica(x.Shard); r != nil {
			r.prepareAck(env, from, x)
		}
	default:
		env.Log().Warn("data: ignoring unexpected message", "from", from, "type", fmt.Sprintf("%T", m))
	}
}

func (s *Server) tick(env actors.Env, t *wire.Tick) {
	switch t.Id {
	case timerHeartbeat:
		s.heartbeat(env)
	case timerSync:
		s.sync(env)
	case timerRetry:
		if s.cfg.Canary == CanaryAckBeforePersist {
			s.sync(env) // the canary syncs lazily, after it acked
		}
		for _, r := range s.replicas {
			r.retry(env)
		}
		env.After(s.cfg.RetryEvery, &wire.Tick{Kind: wire.Tick_RETRY, Id: timerRetry})
	case timerExpire:
		s.staged.expire(env.Now())
		env.After(s.cfg.StageTTL/4, &wire.Tick{Kind: wire.Tick_EXPIRE, Id: timerExpire})
	}
}

func (s *Server) replica(shard uint32) *replica {
	for _, r := range s.replicas {
		if r.shard == shard {
			return r
		}
	}
	return nil
}

// replicaFor finds the replica a request names and applies rule
// stale-config: an older version is refused with ours. A newer version is
// news to us: ask meta, and let the sender retry.
func (s *Server) replicaFor(env actors.Env, shard uint32, version uint64, refuse func(wire.Status, *wire.Config)) *replica {
	r := s.replica(shard)
	if r == nil {
		refuse(wire.Status_NOT_PRIMARY, nil)
		return nil
	}
	if version < r.config.Version {
		refuse(wire.Status_STALE_CONFIG, r.config)
		return nil
	}
	if version > r.config.Version {
		env.Send(s.cfg.Meta, &wire.GetConfig{})
		refuse(wire.Status_NOT_READY, nil)
		return nil
	}
	return r
}

func (s *Server) heartbeat(env actors.Env) {
	s.heartbeatID++
	now := env.Now()
	s.heartbeatSent[s.heartbeatID] = now
	delete(s.heartbeatSent, s.heartbeatID-maxHeartbeatsRemembered)
	hb := &wire.Heartbeat{Id: s.heartbeatID}
	for _, r := range s.replicas {
		hb.Replicas = append(hb.Replicas, r.status())
	}
	env.Send(s.cfg.Meta, hb)
	env.After(s.cfg.HeartbeatEvery, &wire.Tick{Kind: wire.Tick_HEARTBEAT, Id: timerHeartbeat})
}

func (s *Server) heartbeatReply(env actors.Env, hr *wire.HeartbeatReply) {
	for _, c := range hr.Configs {
		s.acceptConfig(env, c)
	}
	sent, ok := s.heartbeatSent[hr.Id]
	if !ok {
		return
	}
	for _, g := range hr.Leases {
		if r := s.replica(g.Shard); r != nil {
			r.grantLease(env, g, sent)
		}
	}
}

// acceptConfig adopts a newer config for a shard, persisting it (synced)
// before acting on it.
func (s *Server) acceptConfig(env actors.Env, c *wire.Config) {
	if c == nil {
		return
	}
	r := s.replica(c.Shard)
	if r != nil && c.Version <= r.config.Version {
		return
	}
	b := s.st.NewBatch()
	b.PutConfig(c)
	s.must(b.Commit(true), "persist config")
	if r == nil {
		r = s.recoverReplica(env, c)
		s.replicas = append(s.replicas, r)
		slices.SortFunc(s.replicas, func(a, b *replica) int { return int(a.shard) - int(b.shard) })
	}
	r.setConfig(env, c)
}

// scheduleSync arranges one Sync for everything written so far: group
// commit. Messages that arrive before the timer fires share it.
func (s *Server) scheduleSync(env actors.Env) {
	if !s.syncPending {
		s.syncPending = true
		env.After(0, &wire.Tick{Kind: wire.Tick_SYNC, Id: timerSync})
	}
}

func (s *Server) sync(env actors.Env) {
	s.syncPending = false
	s.must(s.st.Sync(), "sync")
	for _, r := range s.replicas {
		r.synced(env)
	}
}

// must stops the node loudly: a storage error leaves no safe way on, and a
// restart recovers from what was synced.
func (s *Server) must(err error, what string) {
	if err != nil {
		panic(fmt.Sprintf("data %s: %s: %v", s.self, what, err))
	}
}
