package api

import (
	"fmt"
	"strings"
	"time"

	"castkv/actors"
	"castkv/actors/cluster"
	"castkv/actors/command"
	"castkv/actors/wire"
)

// Config is the API role's static configuration.
type Config struct {
	// Meta lists the meta group's members; requests go to the one that
	// leads (found by redirects, and by moving on from a silent one).
	Meta []actors.Addr
	// InlineValueBytes: a write whose values all fit rides inside Commit;
	// larger ones are staged at every replica first.
	InlineValueBytes int
	// AttemptTimeout bounds one try; RequestTimeout the whole request.
	AttemptTimeout time.Duration
	RequestTimeout time.Duration
	// RetryBackoff is the pause before retrying a refused request.
	RetryBackoff time.Duration
	// MaxInflight bounds requests held; beyond it clients get -TRYAGAIN.
	MaxInflight int
	// DisableFlush refuses FLUSHALL and FLUSHDB, as operators expect of a
	// production store.
	DisableFlush bool
	// MaxCommandBytes bounds a command's arguments in total. Every message
	// that carries them must fit the cluster transport's frame (80 MiB by
	// default), so a larger command gets -ERR at once rather than timing
	// out on a frame no peer accepts.
	MaxCommandBytes int
	// TransferBytesPerSecond is the slowest rate a replica is expected to
	// receive values at; an attempt carrying large values gets longer than
	// AttemptTimeout by their size at this rate.
	TransferBytesPerSecond int
	// RefreshEvery is how often the API server asks meta for the cluster
	// map even when nothing told it the map changed.
	RefreshEvery time.Duration
	// SendAfter is how long Commits and Reads wait to be sent, so that the
	// ones arriving meanwhile go to their data server in one Requests (0:
	// once the messages already queued are handled).
	SendAfter time.Duration
	// TxnLockTTL is how long a transaction's locks hold, in TSO time,
	// before a reader that meets one may roll the transaction back
	// (txn.go): above the time a coordinator takes from prewrite to
	// commit, and the longest a reader waits for one that died.
	TxnLockTTL time.Duration
	// ResolveEvery is the pause between rounds of the background lock
	// resolver (resolver.go); negative: no resolver.
	ResolveEvery time.Duration
	Canary       string
}

func (c Config) withDefaults() Config {
	if c.InlineValueBytes == 0 {
		c.InlineValueBytes = 16 << 10
	}
	if c.AttemptTimeout == 0 {
		c.AttemptTimeout = 500 * time.Millisecond
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 8 * time.Second
	}
	if c.RetryBackoff == 0 {
		c.RetryBackoff = 20 * time.Millisecond
	}
	if c.MaxInflight == 0 {
		c.MaxInflight = 10000
	}
	if c.MaxCommandBytes == 0 {
		c.MaxCommandBytes = DefaultMaxCommandBytes
	}
	if c.TransferBytesPerSecond == 0 {
		c.TransferBytesPerSecond = 8 << 20
	}
	if c.RefreshEvery == 0 {
		c.RefreshEvery = time.Second
	}
	if c.TxnLockTTL == 0 {
		c.TxnLockTTL = 3 * time.Second
	}
	if c.ResolveEvery == 0 {
		c.ResolveEvery = 5 * time.Second
	}
	return c
}

// DefaultMaxCommandBytes: a 64 MiB value with room for its key and other
// arguments, below the transport's 80 MiB frames.
const DefaultMaxCommandBytes = 72 << 20

// Canaries of this role.
const (
	// CanaryReadSecondary sends reads to a secondary.
	CanaryReadSecondary = "read-secondary"
	// CanaryReplyByRequestID matches a read's reply by request id alone,
	// though ids restart with every process.
	CanaryReplyByRequestID = "reply-by-request-id"
	// CanaryCachedTSO gives a write the newest timestamp the API server
	// already holds instead of one fetched after the write began.
	CanaryCachedTSO = "cached-tso"
	// CanaryMsetPerShard runs an MSET or DEL across shards as one
	// independent write per shard, with no transaction.
	CanaryMsetPerShard = "mset-per-shard"
)

// Canaries lists this role's canaries.
var Canaries = []string{CanaryReadSecondary, CanaryReplyByRequestID, CanaryCachedTSO, CanaryMsetPerShard}

// Timer kinds, in wire.Tick.Kind; Tick.Id names the request.
const (
	timerAttempt  = wire.Tick_ATTEMPT  // one try timed out
	timerDeadline = wire.Tick_DEADLINE // the request's deadline passed
	timerRetry    = wire.Tick_BACKOFF  // backoff over: try again
	timerSend     = wire.Tick_SEND     // send what queue collected
	timerRefresh  = wire.Tick_REFRESH  // ask meta for the map again
	timerTSO      = wire.Tick_TSO      // a GetTS went unanswered (Tick.Id: its id)
	timerResolve  = wire.Tick_RESOLVE  // a round of the background lock resolver
)

// API is the API server role.
type API struct {
	cfg Config

	// incarnation is random per process start: read ids restart with it.
	incarnation uint64
	// session is the exactly-once session (OpID.Incarnation) meta issued
	// us; 0 while we wait for one. Writes need one.
	session     uint64
	nextOp      uint64
	nextReq     uint64
	shards      cluster.Map // the cluster map: each shard's newest config we heard of
	configAsked time.Time
	// meta is the member asked; unanswered counts GetConfigs it left
	// unanswered in a row, and redirected says a redirect already caused an
	// extra GetConfig since the last one the backoff allowed.
	meta       *actors.MetaPeers
	unanswered int
	redirected bool

	reqs map[uint64]*request // by request id
	// outcomeLog rate-limits the log of requests that ended UNCERTAIN or
	// timed out (logOutcome).
	outcomeLogAt time.Time
	outcomeMuted int
	byOp         map[opKey]uint64 // op id -> request id
	opLog        opWatermark

	// outbox holds the Commits and Reads for each data server until the
	// SEND tick (Config.SendAfter), in the order queued; bounded by
	// MaxInflight, since each belongs to a request held.
	outbox      []outgoing
	sendPending bool

	// Timestamps (tso.go): the requests waiting for the next GetTS, the
	// one in flight, and the newest timestamp received.
	tsWaiting []uint64
	tsAsks    map[uint64]*tsFetch
	nextTSAsk uint64
	lastTS    uint64
}

type outgoing struct {
	to  actors.Addr
	msg actors.Msg // *wire.Commit or *wire.Read
}

type opKey struct{ session, counter uint64 }

type request struct {
	id       uint64
	client   actors.Addr
	clientID uint64
	cmd      *command.Command
	write    bool
	// shard is the shard the current attempt went to. A command over every
	// key (DBSIZE) visits the shards one by one in shard order, adding up
	// their counts in sum.
	shard    uint32
	sum      int64
	found    []*wire.Reply // TxnLocks: the keys the shards visited so far named
	visiting bool          // DBSIZE, TxnLocks: it has started on the shards
	// ts is the TSO timestamp its Commits and Reads carry (0: none yet).
	// parts: a read split over several shards, in this attempt (split.go).
	ts    uint64
	parts []*readPart
	split bool // it was sent split: only partReply takes its replies

	op         *wire.OpID
	inline     bool // send values inside Commit
	stageAcked bool
	commitSent bool
	// lastQuarter: the deadline timer fired once (a write's request
	// timeout less its settling share); aborting: it found a Commit sent,
	// so the attempts since ask the primary to settle the op
	// (wire.Commit.abort) instead.
	lastQuarter, aborting bool
	// settling: a split spread the keys of this write, already sent to
	// shard as a one-shard Commit, over several shards; it is being
	// settled there (aborting) before it may run as a transaction.
	settling    bool
	attempt     actors.TimerID
	deadline    actors.TimerID
	hasAttempt  bool
	lastRefusal string
	refusals    int // attempts refused so far: the backoff grows with them

	// Transactions (txn.go). txn: the state of an MSET or DEL across
	// shards this request coordinates. A sub-request (a step of one, or of
	// a lock's resolution) has done, which hears its end instead of a
	// client, its own timeout, and origin, the client request it works
	// for (nil: none). lockMet: the lock of the last LOCKED refusal;
	// resolves counts the resolutions it started.
	txn       *txnState
	done      subDone
	timeout   time.Duration
	origin    *request
	lockMet   *wire.Lock
	resolves  int
	resolving bool
}

// New returns an API role.
func New(cfg Config) *API { return &API{cfg: cfg.withDefaults()} }

// Start picks a fresh incarnation, so op ids never repeat across restarts.
func (a *API) Start(env actors.Env) {
	a.incarnation = env.Rand().Uint64()
	a.session = 0
	a.nextOp, a.nextReq = 0, 0
	a.shards = cluster.Map{}
	a.configAsked = time.Time{}
	a.meta, a.unanswered, a.redirected = actors.NewMetaPeers(a.cfg.Meta), 0, false
	a.reqs = map[uint64]*request{}
	a.byOp = map[opKey]uint64{}
	a.opLog = opWatermark{done: map[uint64]bool{}}
	a.outbox, a.sendPending = nil, false
	a.tsWaiting, a.tsAsks, a.nextTSAsk, a.lastTS = nil, map[uint64]*tsFetch{}, 0, 0
	a.askConfig(env)
	env.After(a.cfg.RefreshEvery, &wire.Tick{Kind: timerRefresh})
	a.resolveLater(env)
}

// Handle processes one message.
func (a *API) Handle(env actors.Env, from actors.Addr, m actors.Msg) {
	switch x := m.(type) {
	case *wire.ClientRequest:
		a.clientRequest(env, from, x)
	case *wire.MetaRedirect:
		if a.tsRedirect(env, from, x) {
			return
		}
		// Another member leads: ask it at once, at most once between two
		// asks the backoff allowed (members naming each other cannot start
		// a storm).
		if a.meta.Redirect(from, actors.Addr(x.Leader)) && !a.redirected {
			a.configAsked = time.Time{}
			a.askConfig(env)
			a.redirected = true
		}
	case *wire.ConfigUpdate:
		a.meta.Answered(from)
		a.unanswered = 0
		for _, c := range x.Configs {
			a.adopt(c)
		}
		if a.session == 0 && x.Session != 0 {
			a.session = x.Session
			env.Log().Info("api: exactly-once session", "session", a.session)
		}
	case *wire.TSReply:
		a.tsReply(env, from, x)
	case *wire.StageAck:
		if r := a.reqByOp(x.Op); r != nil && r.shard == x.Shard && a.isPrimary(x.Shard, from) && !r.stageAcked && !r.aborting {
			r.stageAcked = true
			if !x.Stored {
				// The primary could not hold the values: they ride inline.
				r.inline = true
			}
			a.sendCommit(env, r, a.shards.Config(x.Shard))
		}
	case *wire.CommitReply:
		a.commitReply(env, x)
	case *wire.ReadReply:
		a.readReply(env, x)
	case *wire.Replies:
		for _, r := range x.CommitReplies {
			a.commitReply(env, r)
		}
		for _, r := range x.ReadReplies {
			a.readReply(env, r)
		}
	case *wire.Tick:
		a.tick(env, x)
	default:
		env.Log().Warn("api: ignoring unexpected message", "from", from, "type", fmt.Sprintf("%T", m))
	}
}

func (a *API) commitReply(env actors.Env, x *wire.CommitReply) {
	if r := a.reqByOp(x.Op); r != nil {
		r.lockMet = x.Lock
		a.answer(env, r, x.Status, x.Reply, x.Config)
	}
}

func (a *API) readReply(env actors.Env, x *wire.ReadReply) {
	mine := x.Incarnation == a.incarnation || a.cfg.Canary == CanaryReplyByRequestID
	r := a.reqs[x.Id]
	switch {
	case r == nil || r.write || !mine:
	case r.split:
		r.lockMet = x.Lock
		a.partReply(env, r, x)
	default:
		r.lockMet = x.Lock
		a.answer(env, r, x.Status, x.Reply, x.Config)
	}
}

// queue holds a Commit or Read for the SEND tick: requests arriving while
// it waits share one message to their data server (Requests), which
// handles them in order. A request's retry or timeout works as if the
// message had been sent at once and lost.
func (a *API) queue(env actors.Env, to actors.Addr, m actors.Msg) {
	a.outbox = append(a.outbox, outgoing{to, m})
	a.wakeSend(env)
}

// wakeSend sets the SEND tick unless it is set.
func (a *API) wakeSend(env actors.Env) {
	if !a.sendPending {
		a.sendPending = true
		env.After(a.cfg.SendAfter, &wire.Tick{Kind: timerSend})
	}
}

// send sends what queue collected: one message to each data server, as
// it is when alone, else in one Requests, in the order queued.
func (a *API) send(env actors.Env) {
	a.sendPending = false
	a.askTS(env)
	order, groups := actors.GroupByAddr(a.outbox, func(o outgoing) actors.Addr { return o.to })
	clear(a.outbox)
	a.outbox = a.outbox[:0]
	for _, to := range order {
		g := groups[to]
		if len(g) == 1 {
			env.Send(to, g[0].msg)
			continue
		}
		b := &wire.Requests{}
		for _, o := range g {
			switch x := o.msg.(type) {
			case *wire.Commit:
				b.Commits = append(b.Commits, x)
			case *wire.Read:
				b.Reads = append(b.Reads, x)
			}
		}
		env.Send(to, b)
	}
}

func (a *API) clientRequest(env actors.Env, from actors.Addr, m *wire.ClientRequest) {
	cmd, bad := command.Parse(m.Args)
	if bad != nil {
		env.Send(from, &wire.ClientReply{Id: m.Id, Reply: bad})
		return
	}
	if cmd.Kind == command.ClusterInfo || cmd.Kind == command.ClusterShards {
		env.Send(from, &wire.ClientReply{Id: m.Id, Reply: a.clusterReply(cmd)})
		return
	}
	if cmd.Kind == command.FlushAll && a.cfg.DisableFlush {
		env.Send(from, &wire.ClientReply{Id: m.Id, Reply: command.Error(
			"ERR " + strings.ToUpper(cmd.Name) + " is disabled on this cluster; start castd api with --enable-flush to allow it")})
		return
	}
	if n := argBytes(m.Args); n > a.cfg.MaxCommandBytes {
		env.Send(from, &wire.ClientReply{Id: m.Id, Reply: command.Error(fmt.Sprintf(
			"ERR %s command of %d bytes exceeds this cluster's limit of %d bytes", strings.ToUpper(cmd.Name), n, a.cfg.MaxCommandBytes))})
		return
	}
	if len(a.reqs) >= a.cfg.MaxInflight {
		env.Send(from, &wire.ClientReply{Id: m.Id, Reply: command.Error(fmt.Sprintf(
			"TRYAGAIN this API server holds %d requests, its limit; retry", len(a.reqs)))})
		return
	}
	a.nextReq++
	r := &request{id: a.nextReq, client: from, clientID: m.Id, cmd: cmd, write: cmd.IsWrite()}
	a.reqs[r.id] = r
	r.deadline = env.After(a.firstDeadline(r), &wire.Tick{Kind: timerDeadline, Id: r.id})
	if r.write {
		r.inline = a.fitsInline(cmd)
	}
	a.try(env, r)
}

// settleShare is the part of a write's request timeout left for settling
// it (abort) when it has not been answered by then.
const settleShare = 4

// firstDeadline is when r's deadline timer first fires: the request
// timeout, less the share a write keeps for settling.
func (a *API) firstDeadline(r *request) time.Duration {
	timeout := a.cfg.RequestTimeout
	if r.timeout != 0 {
		timeout = r.timeout
	}
	if r.write {
		return timeout - timeout/settleShare
	}
	return timeout
}

// requestTimeout is r's whole deadline.
func (a *API) requestTimeout(r *request) time.Duration {
	if r.timeout != 0 {
		return r.timeout
	}
	return a.cfg.RequestTimeout
}

func argBytes(args [][]byte) int {
	n := 0
	for _, a := range args {
		n += len(a)
	}
	return n
}

// assignOp gives a write its op id, once, under the current session.
func (a *API) assignOp(r *request) {
	a.nextOp++
	r.op = &wire.OpID{Incarnation: a.session, Counter: a.nextOp}
	a.byOp[opKey{a.session, a.nextOp}] = r.id
	a.opLog.add(a.nextOp)
}

func (a *API) fitsInline(cmd *command.Command) bool {
	for _, v := range cmd.Values {
		if len(v) > a.cfg.InlineValueBytes {
			return false
		}
	}
	return true
}

func (a *API) reqByOp(op *wire.OpID) *request {
	if op == nil {
		return nil
	}
	id, ok := a.byOp[opKey{op.Incarnation, op.Counter}]
	if !ok {
		return nil
	}
	return a.reqs[id]
}

// try sends one attempt of r.
func (a *API) try(env actors.Env, r *request) {
	a.cancelAttempt(env, r)
	r.parts = nil
	if a.splits(r) {
		a.trySplit(env, r)
		return
	}
	if r.commitSent && r.op != nil && !r.aborting && r.txn == nil && a.crossShardWrite(r) {
		// Its keys were in one shard when it went out as a Commit; a split
		// spread them since. That shard may have run it (its exactly-once
		// table knows): run again as a transaction, with ids of its own,
		// it would run twice. Settle it there first: the primary answers
		// its result, or records that it never ran (rule abort).
		r.aborting, r.settling = true, true
	}
	if r.aborting {
		a.tryAbort(env, r)
		return
	}
	if a.crossShardWrite(r) {
		a.tryTxn(env, r)
		return
	}
	c, refusal := a.route(r)
	if refusal != nil && r.done != nil && r.cmd.Kind == command.TxnPrewrite {
		// Its keys were one shard's when its transaction grouped them; a
		// split spread them since: the transaction starts again.
		a.finishSub(env, r, wire.Status_STALE_CONFIG, nil)
		return
	}
	if refusal != nil {
		a.finish(env, r, refusal)
		return
	}
	if c == nil || c.Primary == "" {
		r.lastRefusal = "no primary known for the shard of its keys yet"
		a.askConfig(env)
		a.retryLater(env, r)
		return
	}
	r.shard = c.Shard
	if r.write && r.op == nil {
		if a.session == 0 {
			r.lastRefusal = "no exactly-once session from meta yet"
			a.askConfig(env)
			a.retryLater(env, r)
			return
		}
		a.assignOp(r)
	}
	if r.ts == 0 && !r.aborting {
		a.awaitTS(env, r)
		return
	}
	r.attempt = env.After(a.attemptTimeout(r), &wire.Tick{Kind: timerAttempt, Id: r.id})
	r.hasAttempt = true
	switch {
	case !r.write:
		a.queue(env, a.readTarget(env, c), &wire.Read{Shard: c.Shard, ConfigVersion: c.Version, Id: r.id, Incarnation: a.incarnation,
			Ts: r.ts, Command: command.ToWire(r.cmd)})
	case r.inline || r.stageAcked:
		a.sendCommit(env, r, c)
	default:
		// Data flow apart from control flow: every replica gets the
		// values from us, the primary only orders.
		for _, to := range members(c) {
			env.Send(actors.Addr(to), &wire.Stage{Shard: c.Shard, ConfigVersion: c.Version, Op: r.op, Values: r.cmd.Values})
		}
	}
}

// tryAbort asks the primary of the shard r's Commit went to to settle its
// op: answer its result, or record that it never ran. It goes to that
// shard whatever the map now says of r's keys (a split may have moved
// them).
func (a *API) tryAbort(env actors.Env, r *request) {
	if r.op == nil {
		// Only a one-shard write has an op of its own to settle (a
		// transaction's steps have theirs); nothing to ask.
		r.aborting, r.settling = false, false
		a.retryLater(env, r)
		return
	}
	c := a.shards.Config(r.shard)
	if c == nil || c.Primary == "" {
		r.lastRefusal = "no primary known for the shard the write was sent to"
		a.askConfig(env)
		a.retryLater(env, r)
		return
	}
	r.attempt = env.After(a.attemptTimeout(r), &wire.Tick{Kind: timerAttempt, Id: r.id})
	r.hasAttempt = true
	a.queue(env, actors.Addr(c.Primary), &wire.Commit{Shard: c.Shard, ConfigVersion: c.Version, Op: r.op,
		Watermark: a.opLog.watermark(a.nextOp), Abort: true})
}

// attemptTimeout is AttemptTimeout plus the time r's values take to cross
// at TransferBytesPerSecond: a large value is not resent to every replica
// while its first copy is still on the way.
func (a *API) attemptTimeout(r *request) time.Duration {
	return a.cfg.AttemptTimeout + a.transferTime(r)
}

func (a *API) readTarget(env actors.Env, c *wire.Config) actors.Addr {
	if a.cfg.Canary == CanaryReadSecondary && len(c.Secondaries) > 0 {
		return actors.Addr(c.Secondaries[env.Rand().IntN(len(c.Secondaries))])
	}
	return actors.Addr(c.Primary)
}

func (a *API) sendCommit(env actors.Env, r *request, c *wire.Config) {
	m := &wire.Commit{Shard: c.Shard, ConfigVersion: c.Version, Op: r.op, Watermark: a.opLog.watermark(a.nextOp),
		Command: command.ToWire(r.cmd), Ts: r.ts}
	if !r.inline {
		// The replicas hold the values staged: send their digests.
		m.Staged = true
		m.Command.Values = make([][]byte, len(r.cmd.Values))
		for i, v := range r.cmd.Values {
			m.ValuePositions = append(m.ValuePositions, uint32(i))
			m.ValueDigests = append(m.ValueDigests, wire.Digest(v))
		}
	}
	r.commitSent = true
	a.queue(env, actors.Addr(c.Primary), m)
}

// answer handles a data server's reply to an attempt.
func (a *API) answer(env actors.Env, r *request, st wire.Status, rep *wire.Reply, c *wire.Config) {
	newer := a.shards.Adopt(c)
	switch st {
	case wire.Status_OK:
		if command.IsAborted(rep) && r.settling {
			// It never ran, and now never will there: run it anew, as a
			// transaction over the shards its keys are in now.
			r.aborting, r.settling, r.commitSent = false, false, false
			r.refusals = 0
			a.try(env, r)
			return
		}
		if command.IsAborted(rep) {
			rep = command.Error(fmt.Sprintf("TRYAGAIN shard %d did not apply the write within %v (last: %s); retry it", r.shard, a.cfg.RequestTimeout, r.lastRefusal))
		}
		if r.cmd.AllKeys() && (rep.GetKind() == wire.Reply_INT || rep.GetKind() == wire.Reply_ARRAY) {
			// DBSIZE: add this shard's count and go on to the next shard;
			// TxnLocks: collect its keys.
			r.sum += rep.Int
			r.found = append(r.found, rep.Array...)
			if r.cmd.Kind == command.KeysMatching && len(r.found) > command.MaxKeysReply {
				a.finish(env, r, command.Error(fmt.Sprintf("ERR KEYS would answer with more than %d keys; use SCAN", command.MaxKeysReply)))
				return
			}
			if next := a.nextShard(r.shard); next != nil {
				r.shard, r.refusals = next.Shard, 0
				a.try(env, r)
				return
			}
			rep = &wire.Reply{Kind: rep.Kind, Int: r.sum}
			if rep.Kind == wire.Reply_ARRAY {
				rep.Array = r.found
			}
		}
		a.finish(env, r, rep)
		return
	case wire.Status_UNKNOWN_OUTCOME:
		a.finish(env, r, command.Error("UNCERTAIN the write is older than the shard's exactly-once window; it may or may not have been applied"))
		return
	case wire.Status_SESSION_EXPIRED:
		// The shard forgot our session: it can no longer tell whether this
		// op ran. Later writes need a new session.
		if r.op.Incarnation == a.session {
			env.Log().Warn("api: the shard forgot our exactly-once session; asking meta for a new one", "session", a.session)
			a.session = 0
			a.configAsked = time.Time{}
			a.askConfig(env)
		}
		a.finish(env, r, command.Error("UNCERTAIN the shard no longer remembers this API server's writes; it may or may not have been applied"))
		return
	case wire.Status_NEED_VALUES:
		r.inline = true
		a.try(env, r)
		return
	case wire.Status_LOCKED, wire.Status_WRITE_CONFLICT:
		a.cancelAttempt(env, r)
		switch {
		case r.done != nil && r.cmd.Kind == command.TxnPrewrite:
			// The coordinator decides: it rolls back and starts over.
			a.finishSub(env, r, st, r.lockMet)
		case st == wire.Status_LOCKED && r.lockMet != nil:
			a.resolve(env, r, r.lockMet, r.ts)
		default:
			r.lastRefusal = st.String()
			r.ts = 0
			a.retryLater(env, r)
		}
		return
	case wire.Status_TS_TOO_OLD:
		// A newer version replaced what r.ts would read: read again at a
		// timestamp fetched from now (each costs a TSO round trip, and the
		// deadline bounds them).
		r.ts = 0
		r.lastRefusal = st.String()
		a.try(env, r)
		return
	case wire.Status_STALE_CONFIG, wire.Status_NOT_PRIMARY:
		if r.done != nil && r.cmd.Kind == command.TxnPrewrite && c != nil && !cluster.Holds(c, r.cmd.Keys) {
			// A split moved some of this prewrite's keys: its transaction
			// rolls back and starts again, grouped by the map meta gives.
			a.askConfig(env)
			a.finishSub(env, r, st, nil)
			return
		}
		// A refusal that taught us nothing new (a replica meta removed
		// still holds the version it was removed from, and nobody tells
		// it of later ones) sends us to meta, and so does one whose config
		// no longer holds our keys: a split gave them to a shard we may
		// not know yet.
		if !newer || c.Primary == "" || !r.cmd.AllKeys() && !cluster.Holds(c, r.cmd.Keys) {
			a.askConfig(env)
		}
	case wire.Status_NOT_READY:
		// A primary without a lease may have been replaced without
		// knowing it yet: meta knows.
		a.askConfig(env)
	}
	r.lastRefusal = st.String()
	a.cancelAttempt(env, r)
	a.retryLater(env, r)
}

// maxBackoffDoublings caps the backoff's growth at 8x RetryBackoff.
const maxBackoffDoublings = 3

func (a *API) retryLater(env actors.Env, r *request) {
	r.attempt = env.After(a.backoff(r), &wire.Tick{Kind: timerRetry, Id: r.id})
	r.hasAttempt = true
	r.refusals++
}

// backoff is how long r waits before it retries a refusal: RetryBackoff,
// doubled with each refusal up to 8x, and never less than its values take
// to cross at TransferBytesPerSecond. A shard that refuses for seconds (no
// lease, a failover) must not get a large value resent every few
// milliseconds: a 1.2 MB inline SET refused for 3 s went out 260 times.
func (a *API) backoff(r *request) time.Duration {
	d := a.cfg.RetryBackoff << min(r.refusals, maxBackoffDoublings)
	if r.aborting {
		return d // an abort carries no values
	}
	return max(d, a.transferTime(r))
}

// transferTime is how long r's values take to cross at
// TransferBytesPerSecond.
func (a *API) transferTime(r *request) time.Duration {
	n := 0
	for _, v := range r.cmd.Values {
		n += len(v)
	}
	return time.Duration(float64(n) / float64(a.cfg.TransferBytesPerSecond) * float64(time.Second))
}

func (a *API) cancelAttempt(env actors.Env, r *request) {
	if r.hasAttempt {
		env.Cancel(r.attempt)
		r.hasAttempt = false
	}
}

func (a *API) tick(env actors.Env, t *wire.Tick) {
	switch t.Kind {
	case timerSend:
		a.send(env)
		return
	case timerRefresh:
		a.askConfig(env)
		env.After(a.cfg.RefreshEvery, &wire.Tick{Kind: timerRefresh})
		return
	case timerTSO:
		a.tsTimeout(env, t.Id)
		return
	case timerResolve:
		a.resolveRound(env)
		return
	}
	r := a.reqs[t.Id]
	if r == nil {
		return
	}
	switch t.Kind {
	case timerRetry:
		r.hasAttempt = false
		a.try(env, r)
	case timerAttempt:
		r.hasAttempt = false
		r.lastRefusal = "no answer within the attempt timeout"
		a.askConfig(env) // the primary may have moved
		if r.inline || r.aborting {
			a.try(env, r) // small: a prompt retry finds a new primary sooner
			return
		}
		// Values staged at every replica back off like a refusal: a shard
		// with no primary answers nothing, and retrying at once sent a
		// 519 KB value to every replica every 180 ms for the request's
		// whole life (seed 1320 of castsim: 157 MB of Stages for 116
		// requests).
		a.retryLater(env, r)
	case timerDeadline:
		if r.write && !r.lastQuarter {
			r.lastQuarter = true
			r.deadline = env.After(a.requestTimeout(r)-a.firstDeadline(r), &wire.Tick{Kind: timerDeadline, Id: r.id})
			if r.commitSent && r.txn == nil && r.op != nil {
				// Settle before giving up: have the primary either answer
				// the op's result or record that it never ran, so the
				// client hears -TRYAGAIN (not applied), not -UNCERTAIN.
				r.aborting = true
				r.refusals = 0
				a.try(env, r)
			}
			return
		}
		a.cancelAttempt(env, r)
		if t := r.txn; t != nil && t.phase == txnAwaitingCommitTS {
			a.rollback(env, r, t) // it will not commit now
		}
		msg := fmt.Sprintf("shard %d did not answer within %v (last: %s)", r.shard, a.requestTimeout(r), r.lastRefusal)
		if r.commitSent {
			a.finishQuiet(env, r, command.Error("UNCERTAIN the write may or may not have been applied: "+msg))
		} else {
			a.finishQuiet(env, r, command.Error("TRYAGAIN "+msg))
		}
	}
}

func (a *API) finish(env actors.Env, r *request, rep *wire.Reply) {
	a.cancelAttempt(env, r)
	env.Cancel(r.deadline)
	a.finishQuiet(env, r, rep)
}

func (a *API) finishQuiet(env actors.Env, r *request, rep *wire.Reply) {
	a.logOutcome(env, r, rep)
	a.cancelAttempt(env, r)
	delete(a.reqs, r.id)
	if r.op != nil {
		delete(a.byOp, opKey{r.op.Incarnation, r.op.Counter})
		a.opLog.finish(r.op.Counter)
	}
	if r.done != nil {
		r.done(env, wire.Status_OK, rep, nil)
		return
	}
	env.Send(r.client, &wire.ClientReply{Id: r.clientID, Reply: rep})
}

// finishSub ends sub-request r with a refusal its owner handles.
func (a *API) finishSub(env actors.Env, r *request, st wire.Status, lock *wire.Lock) {
	a.cancelAttempt(env, r)
	env.Cancel(r.deadline)
	delete(a.reqs, r.id)
	if r.op != nil {
		delete(a.byOp, opKey{r.op.Incarnation, r.op.Counter})
		a.opLog.finish(r.op.Counter)
	}
	r.done(env, st, nil, lock)
}

func (a *API) adopt(c *wire.Config) { a.shards.Adopt(c) }

func (a *API) isPrimary(shard uint32, addr actors.Addr) bool {
	c := a.shards.Config(shard)
	return c != nil && actors.Addr(c.Primary) == addr
}

// route is the config of the shard r's attempt goes to (nil while the map
// does not cover its keys), or the reply that refuses r.
//
// A command here runs in one shard. The multi-key commands whose keys span
// shards never reach it: MGET and EXISTS are split reads (split.go), MSET
// and DEL transactions (txn.go). Any other multi-key kind added later is
// refused CROSSSLOT before anything runs, never split into per-shard steps
// a reader could see half of (Guarantee 1). A command over every key visits each shard in turn (DBSIZE; its sum
// is not one atomic count), or is refused when there are several (FLUSHALL
// would empty one shard while another still serves its keys).
func (a *API) route(r *request) (*wire.Config, *wire.Reply) {
	if r.cmd.Kind == command.Scan {
		// SCAN goes to the shard holding its cursor's slot (command/scan.go).
		slot, _ := wire.SplitCursor(r.cmd.ScanFrom())
		if slot >= wire.Slots {
			return nil, command.Error("ERR invalid cursor")
		}
		return a.shards.Shard(uint16(slot)), nil
	}
	if !r.cmd.AllKeys() {
		c, cross := a.shards.Route(r.cmd.Keys)
		if cross {
			return nil, command.Error(fmt.Sprintf("CROSSSLOT %s's keys are held by different shards; castkv runs a multi-key command within one shard, so give its keys a common {hash tag}", strings.ToUpper(r.cmd.Name)))
		}
		return c, nil
	}
	if r.visiting {
		return a.shards.Config(r.shard), nil // DBSIZE on its way through the shards
	}
	cs := a.shards.Configs()
	if len(cs) == 0 || !a.shards.Covered() {
		return nil, nil
	}
	if r.cmd.Kind == command.FlushAll && len(cs) > 1 {
		return nil, command.Error(fmt.Sprintf("ERR %s is not supported on a cluster of %d shards: it would not empty them in one atomic step", strings.ToUpper(r.cmd.Name), len(cs)))
	}
	r.visiting = true
	return cs[0], nil
}

// nextShard is the config of the first known shard after shard, nil when
// none.
func (a *API) nextShard(shard uint32) *wire.Config {
	for _, c := range a.shards.Configs() {
		if c.Shard > shard {
			return c
		}
	}
	return nil
}

// metaSilentAsks: a meta member that answered none of this many GetConfigs
// in a row is passed over for the next member.
const metaSilentAsks = 2

// askConfig asks meta for the current config, at most once per backoff.
func (a *API) askConfig(env actors.Env) {
	now := env.Now()
	if !a.configAsked.IsZero() && now.Sub(a.configAsked) < a.cfg.RetryBackoff {
		return
	}
	a.configAsked = now
	if a.unanswered >= metaSilentAsks {
		a.meta.Silent()
		a.unanswered = 0
	}
	a.unanswered++
	a.redirected = false
	env.Send(a.meta.Leader(), &wire.GetConfig{NewSession: a.session == 0})
}

func members(c *wire.Config) []string {
	out := []string{c.Primary}
	out = append(out, c.Secondaries...)
	return append(out, c.Learners...)
}

// opWatermark tracks the lowest op counter not yet answered: every op below
// it is done, so the primary may drop its exactly-once record.
type opWatermark struct {
	pending []uint64 // increasing
	done    map[uint64]bool
}

func (w *opWatermark) add(c uint64) { w.pending = append(w.pending, c) }

func (w *opWatermark) finish(c uint64) {
	w.done[c] = true
	for len(w.pending) > 0 && w.done[w.pending[0]] {
		delete(w.done, w.pending[0])
		w.pending = w.pending[1:]
	}
}

func (w *opWatermark) watermark(next uint64) uint64 {
	if len(w.pending) > 0 {
		return w.pending[0]
	}
	return next + 1
}

// Origin names the client request a Commit or Read this server sent
// belongs to, while the request is held: for observers only (the
// simulator's read-ts oracle checks each command's timestamp against when
// its client sent it).
func (a *API) Origin(m actors.Msg) (client actors.Addr, id uint64, ok bool) {
	var r *request
	switch x := m.(type) {
	case *wire.Commit:
		r = a.reqByOp(x.Op)
	case *wire.Read:
		if x.Incarnation == a.incarnation {
			r = a.reqs[x.Id]
		}
	}
	if r != nil && r.done != nil {
		r = r.origin // a step of a transaction: its timestamps are the client request's
	}
	if r == nil {
		return "", 0, false
	}
	return r.client, r.clientID, true
}

// outcomeLogEvery is how often at most logOutcome writes a line; the lines
// it holds back are counted in the next.
const outcomeLogEvery = time.Second

// logOutcome logs a client request that ended without a definite answer
// (UNCERTAIN: a write that may or may not have been applied) or was given
// up on at its deadline (TRYAGAIN after the request timeout), so an
// operator sees them without a client's report. At most one line per
// outcomeLogEvery, with how many were held back since the last.
func (a *API) logOutcome(env actors.Env, r *request, rep *wire.Reply) {
	if r.done != nil || rep.GetKind() != wire.Reply_ERROR {
		return // a step of a transaction: its client request is logged
	}
	uncertain := strings.HasPrefix(rep.Str, "UNCERTAIN")
	if !uncertain && !(strings.HasPrefix(rep.Str, "TRYAGAIN") && strings.Contains(rep.Str, "within")) {
		return
	}
	now := env.Now()
	if now.Sub(a.outcomeLogAt) < outcomeLogEvery {
		a.outcomeMuted++
		return
	}
	a.outcomeLogAt = now
	msg := "api: request timed out"
	if uncertain {
		msg = "api: request ended UNCERTAIN"
	}
	env.Log().Warn(msg, "cmd", r.cmd.Name, "shard", r.shard, "reply", rep.Str, "held_back_since_last", a.outcomeMuted)
	a.outcomeMuted = 0
}
