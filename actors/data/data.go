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
	// Meta lists the meta group's members; heartbeats go to the one that
	// leads (found by redirects, and by moving on from a silent one).
	Meta []actors.Addr
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
	// MaxUncommitted and MaxUncommittedBytes bound the entries a primary
	// holds uncommitted (unapplied, in bytes: they stay in memory until
	// then); beyond either, Commit answers BUSY.
	MaxUncommitted      int
	MaxUncommittedBytes int
	// FlushAfter is how long a primary collects commands before it writes,
	// persists and sends them (0: once the messages already queued are
	// handled). The simulator draws it, so messages overtake the flush.
	FlushAfter time.Duration
	// CompactEvery: a replica compacts its log once this many applied
	// entries that every replica holds piled up; MaxLogEntries bounds the
	// applied entries it keeps for a lagging replica (to within
	// CompactEvery), which gets a snapshot beyond that (rule compaction).
	CompactEvery  int
	MaxLogEntries int
	// MaxLogMemoryBytes bounds the applied entries a replica keeps in
	// memory for the commit path and peers that keep up; older ones are
	// read from pebble. Entries not yet durable stay whatever their size.
	MaxLogMemoryBytes int
	// MaxVersionCacheBytes bounds a primary's cache of the versions its
	// committed state holds (versionCache), which spares a write a read of
	// the version it replaces. 0 takes the default; below 0 turns it off.
	MaxVersionCacheBytes int
	// TransferBytesPerSecond is the slowest rate at which a peer is expected
	// to receive and sync a Prepare; a large one extends the time it may
	// stay silent before it counts as failed.
	TransferBytesPerSecond int
	// GCEvery: a primary raises its shard's gc points (gc.go) at most this
	// often, one log entry each time.
	GCEvery time.Duration
	// ExpireEvery and ExpireScanKeys: a primary looks for expired keys to
	// reclaim at most this often, at most this many keys each time
	// (expire.go).
	ExpireEvery    time.Duration
	ExpireScanKeys int
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
	if c.MaxUncommittedBytes == 0 {
		c.MaxUncommittedBytes = 128 << 20
	}
	if c.CompactEvery == 0 {
		c.CompactEvery = 10000
	}
	if c.MaxLogEntries == 0 {
		c.MaxLogEntries = 200000
	}
	if c.MaxLogMemoryBytes == 0 {
		c.MaxLogMemoryBytes = 16 << 20
	}
	if c.TransferBytesPerSecond == 0 {
		c.TransferBytesPerSecond = 8 << 20
	}
	if c.GCEvery == 0 {
		c.GCEvery = time.Second
	}
	if c.ExpireEvery == 0 {
		c.ExpireEvery = 100 * time.Millisecond
	}
	if c.ExpireScanKeys == 0 {
		c.ExpireScanKeys = 1000
	}
	if c.MaxVersionCacheBytes == 0 {
		c.MaxVersionCacheBytes = 32 << 20
	}
	return c
}

// Canaries this role knows: each switches on a deliberate defect that
// breaks one protocol rule, so a sweep can prove the checks see it.
const (
	CanaryAckBeforeDurable    = "ack-before-durable"      // durable-before-ack: a secondary acks before the runtime reports its entries durable
	CanaryIgnoreLease         = "ignore-lease"            // lease-read: a primary serves without a valid lease
	CanaryCommitOnMajority    = "commit-on-majority"      // commit-all: commit once a majority acked
	CanaryReadSecondary       = "read-secondary"          // lease-read: a secondary serves reads
	CanaryNoBarrier           = "no-barrier"              // barrier: a new primary serves before its barrier commits
	CanarySetnxOnCommitted    = "setnx-on-committed"      // sequenced-eval: evaluate against committed state only
	CanaryNoDedup             = "no-dedup"                // exactly-once: a retried op executes again
	CanaryPromoteUnpersisted  = "promote-unpersisted"     // restart-through-meta: a restarted primary serves its old version at once
	CanaryUnsyncedTruncate    = "unsynced-truncate"       // log-matching: a truncation that is not written with the batch
	CanaryLeaseFromReceive    = "lease-from-receive-time" // lease: measure a lease from when the grant arrived
	CanaryTruncateUnapplied   = "truncate-unapplied"      // compaction: drop log entries not yet applied
	CanaryStaleVersionCache   = "stale-version-cache"     // one-version: a primary's version cache does not learn what it applies
	CanaryAbortWithoutLookup  = "abort-without-lookup"    // abort: a primary records an op as never run without looking it up
	Canary1PCWithoutMaxTS     = "1pc-without-max-ts"      // commit-ts: an entry commits at its command's timestamp, below reads already served
	CanaryNoTSFloor           = "no-ts-floor"             // ts-floor: a new primary ignores its lease grants' timestamps
	CanaryReadThroughPending  = "read-through-pending"    // read-ts: a read does not wait for a sequenced write it must see
	CanaryReadThroughLock     = "read-through-lock"       // txn-lock: a read at or above a lock's start timestamp ignores the lock
	CanaryUnprotectedRollback = "unprotected-rollback"    // txn-rollback: rolling back a primary key writes no record, so a late prewrite locks it again
	CanaryLearnerCounts       = "learner-counts"          // commit-all: a learner is proposed for promotion before it holds every committed entry
	CanarySplitWithoutFence   = "split-without-fence"     // split-fence: a split's parent still sequences and serves keys of the slots it gave away
	CanaryLazyApply           = "lazy-apply"              // catch-up: a secondary or learner keeps committed entries durable but applies them only once it becomes primary
	CanaryExpireOnLocalClock  = "expire-on-local-clock"   // expiry: a primary judges and reclaims expiry by its own clock, not by the timestamp's place in the order
	CanaryKeepLockWritable    = "keep-lock-writable"      // txn-lock: a one-shard write passes a keep lock (a key a MULTI block across shards read), so the block's read is stale where it commits
)

// Canaries lists the canaries of this role, for the simulator's flag.
var Canaries = []string{
	CanaryAckBeforeDurable, CanaryCommitOnMajority, CanaryIgnoreLease, CanaryLeaseFromReceive,
	CanaryNoBarrier, CanaryNoDedup, CanaryPromoteUnpersisted, CanaryReadSecondary,
	CanarySetnxOnCommitted, CanaryStaleVersionCache, CanaryTruncateUnapplied, CanaryUnsyncedTruncate,
	CanaryAbortWithoutLookup, Canary1PCWithoutMaxTS, CanaryNoTSFloor, CanaryReadThroughPending,
	CanaryReadThroughLock, CanaryUnprotectedRollback, CanaryLearnerCounts, CanarySplitWithoutFence,
	CanaryLazyApply, CanaryExpireOnLocalClock, CanaryKeepLockWritable,
}

// Server is the data server role.
type Server struct {
	cfg  Config
	self actors.Addr
	st   *store.Store

	replicas []*replica // sorted by shard

	// incarnation is random per process start; heartbeat ids restart with
	// it, so a lease grant must name both (rule lease).
	incarnation   uint64
	heartbeatID   uint64
	heartbeatSent map[uint64]time.Time // bounded: the last maxHeartbeatsRemembered
	// meta is the member heartbeats go to; answered is the newest heartbeat
	// it answered, and redirected says a redirect already caused an extra
	// heartbeat since the last timed one.
	meta         *actors.MetaPeers
	answered     uint64
	redirected   bool
	flushPending bool
	staged       *stageCache
	// replies collects the CommitReplies and ReadReplies of the message
	// being handled; Handle sends them at its end, one Replies per API
	// server that gets more than one.
	replies []reply
}

type reply struct {
	to  actors.Addr
	msg actors.Msg // *wire.CommitReply or *wire.ReadReply
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
	s.st = env.Store()
	s.replicas = nil
	s.incarnation = env.Rand().Uint64()
	s.heartbeatID = 0
	s.heartbeatSent = map[uint64]time.Time{}
	s.meta, s.answered, s.redirected = actors.NewMetaPeers(s.cfg.Meta), 0, false
	s.flushPending = false
	s.replies = nil // a crashed incarnation's unsent replies are lost, like its messages
	s.staged = newStageCache(s.cfg.MaxStagedValues, s.cfg.MaxStagedBytes, s.cfg.StageTTL)
	configs, err := s.st.Configs()
	s.must(err, "load the shards' configs")
	for _, c := range configs {
		r := s.recoverReplica(env, c)
		s.replicas = append(s.replicas, r)
		if !r.isMemberOf(c) {
			r.drop(env) // removed before a crash took the deletion back
		}
		// Rule restart-through-meta: a primary that restarts does not serve
		// its old version again. What it promised in memory before the
		// crash (a learner it counted while asking meta to promote it) is
		// gone, so meta moves the shard to a new version first; the
		// heartbeat says we are not acting as primary.
		if r.isPrimaryIn(c) && s.cfg.Canary == CanaryPromoteUnpersisted {
			r.becomePrimary(env)
		}
	}
	s.heartbeat(env)
	env.After(s.cfg.RetryEvery, &wire.Tick{Kind: wire.Tick_RETRY})
	env.After(s.cfg.StageTTL/4, &wire.Tick{Kind: wire.Tick_EXPIRE})
	s.sendReplies(env) // none today; any that recovery queues go now, not at the next message
}

// Handle processes one message.
func (s *Server) Handle(env actors.Env, from actors.Addr, m actors.Msg) {
	s.handle(env, from, m)
	s.sendReplies(env)
}

func (s *Server) handle(env actors.Env, from actors.Addr, m actors.Msg) {
	switch x := m.(type) {
	case *wire.Requests:
		for _, c := range x.Commits {
			s.handle(env, from, c)
		}
		for _, r := range x.Reads {
			s.handle(env, from, r)
		}
	case *wire.Tick:
		s.tick(env, x)
	case *wire.Persisted:
		for _, r := range s.replicas {
			r.persisted(env, x.Point)
		}
	case *wire.HeartbeatReply:
		s.heartbeatReply(env, from, x)
	case *wire.MetaRedirect:
		// Another member leads: heartbeat there at once, at most once
		// between two timed heartbeats (two members naming each other
		// cannot start a storm).
		if s.meta.Redirect(from, actors.Addr(x.Leader)) && !s.redirected {
			s.redirected = true
			s.sendHeartbeat(env)
		}
	case *wire.ConfigUpdate:
		for _, c := range x.Configs {
			s.acceptConfig(env, c)
		}
	case *wire.Stage:
		stored := s.staged.put(env.Now(), x.Op, x.Values)
		env.Send(from, &wire.StageAck{Shard: x.Shard, Op: x.Op, Stored: stored})
	case *wire.Commit:
		if r := s.replicaFor(env, x.Shard, x.ConfigVersion, func(st wire.Status, c *wire.Config) {
			s.reply(from, &wire.CommitReply{Shard: x.Shard, Op: x.Op, Status: st, Config: c})
		}); r != nil {
			r.commit(env, from, x)
		}
	case *wire.Read:
		if r := s.replicaFor(env, x.Shard, x.ConfigVersion, func(st wire.Status, c *wire.Config) {
			s.reply(from, &wire.ReadReply{Shard: x.Shard, Id: x.Id, Incarnation: x.Incarnation, Status: st, Config: c})
		}); r != nil {
			r.read(env, from, x)
		}
	case *wire.Prepare:
		s.prepare(env, from, x)
	case *wire.PrepareAck:
		if r := s.replica(x.Shard); r != nil {
			r.prepareAck(env, from, x)
		}
	case *wire.SnapshotChunk:
		if r := s.fromPrimary(env, from, x.Config); r != nil {
			r.installChunk(env, from, x)
		}
	case *wire.SnapshotAck:
		if r := s.replica(x.Shard); r != nil {
			r.snapshotAck(env, from, x)
		}
	case *wire.Surrender:
		if r := s.replica(x.Shard); r != nil {
			r.surrender(env, from, x)
		}
	default:
		env.Log().Warn("data: ignoring unexpected message", "from", from, "type", fmt.Sprintf("%T", m))
	}
}

// reply queues a CommitReply or ReadReply for the end of Handle.
func (s *Server) reply(to actors.Addr, m actors.Msg) {
	s.replies = append(s.replies, reply{to, m})
}

// sendReplies sends what reply queued: to each API server its one reply as
// it is, or its several in one Replies, in the order they were made.
func (s *Server) sendReplies(env actors.Env) {
	if len(s.replies) == 0 {
		return
	}
	order, groups := actors.GroupByAddr(s.replies, func(r reply) actors.Addr { return r.to })
	clear(s.replies)
	s.replies = s.replies[:0]
	for _, to := range order {
		g := groups[to]
		if len(g) == 1 {
			env.Send(to, g[0].msg)
			continue
		}
		b := &wire.Replies{}
		for _, r := range g {
			switch x := r.msg.(type) {
			case *wire.CommitReply:
				b.CommitReplies = append(b.CommitReplies, x)
			case *wire.ReadReply:
				b.ReadReplies = append(b.ReadReplies, x)
			}
		}
		env.Send(to, b)
	}
}

func (s *Server) tick(env actors.Env, t *wire.Tick) {
	switch t.Kind {
	case wire.Tick_HEARTBEAT:
		s.heartbeat(env)
	case wire.Tick_FLUSH:
		s.flushPending = false
		for _, r := range s.replicas {
			r.flush(env)
			r.maybeCompact()
		}
	case wire.Tick_RETRY:
		if s.cfg.Canary == CanaryAckBeforeDurable && s.st.Written() > 0 {
			s.st.Persist(s.st.Written()) // the canary persists lazily, after it acked
		}
		for _, r := range s.replicas {
			r.retry(env)
			// Compaction runs at a flush (or here, once the peers' acks
			// allow it), never in the step that commits: one batch for
			// many applies, and the simulator's oracles see each entry
			// committed before it leaves the log.
			r.maybeCompact()
		}
		env.After(s.cfg.RetryEvery, &wire.Tick{Kind: wire.Tick_RETRY})
	case wire.Tick_EXPIRE:
		s.staged.expire(env.Now())
		env.After(s.cfg.StageTTL/4, &wire.Tick{Kind: wire.Tick_EXPIRE})
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
		env.Send(s.meta.Leader(), &wire.GetConfig{})
		refuse(wire.Status_NOT_READY, nil)
		return nil
	}
	return r
}

// metaSilentBeats: a meta member that answered none of this many heartbeats
// in a row is passed over for the next member.
const metaSilentBeats = 3

// heartbeat is the timed heartbeat.
func (s *Server) heartbeat(env actors.Env) {
	if s.heartbeatID-s.answered >= metaSilentBeats {
		s.meta.Silent()
		s.answered = s.heartbeatID // the next member gets as many tries
	}
	s.redirected = false
	for _, r := range s.replicas {
		r.checkLease(env)
	}
	s.sendHeartbeat(env)
	env.After(s.cfg.HeartbeatEvery, &wire.Tick{Kind: wire.Tick_HEARTBEAT})
}

func (s *Server) sendHeartbeat(env actors.Env) {
	s.heartbeatID++
	now := env.Now()
	s.heartbeatSent[s.heartbeatID] = now
	delete(s.heartbeatSent, s.heartbeatID-maxHeartbeatsRemembered)
	hb := &wire.Heartbeat{Id: s.heartbeatID, Incarnation: s.incarnation}
	for _, r := range s.replicas {
		if r.uninitialized() {
			continue // nothing to report, and nothing meta may promote
		}
		hb.Replicas = append(hb.Replicas, r.status(now))
	}
	env.Send(s.meta.Leader(), hb)
}

func (s *Server) heartbeatReply(env actors.Env, from actors.Addr, hr *wire.HeartbeatReply) {
	for _, c := range hr.Configs {
		s.acceptConfig(env, c)
	}
	sent, ok := s.heartbeatSent[hr.Id]
	if !ok || hr.Incarnation != s.incarnation {
		return // an answer to an earlier process's heartbeat
	}
	s.meta.Answered(from)
	s.answered = max(s.answered, hr.Id)
	if s.cfg.Canary == CanaryLeaseFromReceive {
		sent = env.Now()
	}
	for _, g := range hr.Leases {
		if r := s.replica(g.Shard); r != nil && g.HeartbeatId == hr.Id {
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
	// Synced on the role's goroutine: configs change rarely, and nothing
	// may act on one a crash could take back.
	b := s.st.NewBatch()
	b.PutConfig(c)
	s.must(s.st.WriteSync(b), "persist config")
	if r == nil {
		r = s.recoverReplica(env, c)
		s.replicas = append(s.replicas, r)
		slices.SortFunc(s.replicas, func(a, b *replica) int { return int(a.shard) - int(b.shard) })
	}
	r.setConfig(env, c)
}

// scheduleFlush arranges one flush of what primaries appended, and of
// compaction: the commands that arrive before the timer fires share one
// write, one persistence request and one Prepare per peer (group commit).
func (s *Server) scheduleFlush(env actors.Env) {
	if !s.flushPending {
		s.flushPending = true
		env.After(s.cfg.FlushAfter, &wire.Tick{Kind: wire.Tick_FLUSH})
	}
}

// must stops the node loudly: a storage error leaves no safe way on, and a
// restart recovers from what was synced.
func (s *Server) must(err error, what string) {
	if err != nil {
		panic(fmt.Sprintf("data %s: %s: %v", s.self, what, err))
	}
}
