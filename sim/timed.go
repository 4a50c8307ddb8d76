package sim

import (
	"fmt"
	"slices"
	"time"

	"castkv/actors"
	"castkv/actors/command"
	"castkv/actors/meta"
	"castkv/actors/wire"

	"google.golang.org/protobuf/proto"
)

// timed injects faults at the moments the protocol is most fragile,
// rather than at random times: when a primary asks meta to promote a
// learner, when a config version changes (a failover, a learner added or
// promoted, a replica removed), when the primary's lease is about to run
// out, and while meta waits out a failed primary's lease. It watches meta's
// current config and the messages servers send; it never reads a role's
// state in a way that changes it.
type timed struct {
	w *world
	r *runner
	c *chaos
	k FaultKnobs

	lastAct time.Duration // when it last acted; at most one act per TimedCooldown
	acted   bool
	// lastUnsynced: the last crash before a sync ended (syncing), which
	// keeps its own pace.
	lastUnsynced  time.Duration
	unsyncedActed bool
	config        *wire.Config // meta's config at the last poll
	held          *heldReply   // a read reply kept for an API's next incarnation
	// late: the prewrites of primary keys held back, by op, with when they
	// are let go; every retry of one is held as long (txnStep).
	late     map[lateOp]time.Duration
	lateNext time.Duration // no new hold before then
	// heldPromotion: the learner whose promotion request timed held back
	// past its primary's restart; if meta promotes it, timed leaves it
	// alone with the data (promotedAlone).
	heldPromotion string
}

// heldReply is a ReadReply sent to an API that then crashed, kept in its
// sender's queue for the API's next incarnation.
type heldReply struct {
	from       *machine
	fromIncarn uint64
	api        *machine
	apiIncarn  uint64 // the incarnation it was meant for
	msg        *wire.ReadReply
	until      time.Duration // dropped after this
}

// staleReplyHold bounds how long a held reply waits for the API's next
// incarnation to send a read with its id.
const staleReplyHold = 5 * time.Second

// pollEvery is how often timed looks at meta's config: well under any
// heartbeat or check interval a run draws, so a change is seen while its
// messages are still in flight.
const pollEvery = 5 * time.Millisecond

func newTimed(r *runner, c *chaos) *timed {
	t := &timed{w: r.w, r: r, c: c, k: r.knobs.Faults}
	r.w.net.onSend, r.w.net.onOrphan = t.onSend, t.orphan
	r.w.onPersist = t.syncing
	return t
}

// syncing sees a data server start a sync that takes d. Now and then it
// crashes the server before the sync ends, so the writes it waited for
// are lost: a primary's entries already sent to its peers, a secondary's
// entries not yet acked (rule durable-before-ack). Syncs come by the
// hundred each second, so this fault keeps its own pace (at most one per
// unsyncedGap, drawn against TimedP/unsyncedOdds) and leaves the shared
// cooldown of the other timed faults alone.
func (t *timed) syncing(m *machine, d time.Duration) {
	w := t.w
	if m.kind != "data" || w.now >= t.c.end || (t.unsyncedActed && w.now-t.lastUnsynced < unsyncedGap) ||
		w.rng.Float64() >= t.k.TimedP/unsyncedOdds {
		return
	}
	t.unsyncedActed, t.lastUnsynced = true, w.now
	at := w.now + time.Duration(w.rng.Int64N(int64(d)+1))*3/4 // before the sync ends
	down := 20*time.Millisecond + time.Duration(w.rng.Int64N(int64(time.Second)))
	w.faults[FaultTimed]++
	w.faults[CountTimedUnsynced]++
	w.logf("timed fault: crash %s before its sync ends (in %v)", m.addr, at-w.now)
	incarnation := m.incarnation
	w.at(at, func() {
		if !m.up || m.incarnation != incarnation {
			return
		}
		t.r.crash(m)
		t.c.restartAt(m, w.now+down)
	})
}

const (
	unsyncedOdds = 4
	unsyncedGap  = 2 * time.Second
)

// ready reports whether timed may act now, drawing against TimedP.
func (t *timed) ready() bool {
	if t == nil {
		return false
	}
	w := t.w
	if w.now >= t.c.end || (t.acted && w.now-t.lastAct < t.k.TimedCooldown) {
		return false
	}
	return w.rng.Float64() < t.k.TimedP
}

func (t *timed) act(counter string, format string, args ...any) {
	t.acted, t.lastAct = true, t.w.now
	t.w.faults[FaultTimed]++
	t.w.faults[counter]++
	t.w.logf("timed fault: "+format, args...)
}

// poll compares meta's config with the last one seen.
func (t *timed) poll() {
	w := t.w
	if w.now >= t.c.end {
		return
	}
	w.at(w.now+pollEvery, t.poll)
	cur := t.r.metaConfig()
	if cur == nil {
		return
	}
	old := t.config
	t.config = cur
	if old == nil || cur.Version == old.Version {
		return
	}
	if t.heldPromotion != "" && t.promotedAlone(old, cur) {
		return
	}
	if t.ready() {
		t.configChanged(old, cur)
	}
}

// configChanged hits the nodes that matter to the change from old to cur,
// while its messages are still in flight.
func (t *timed) configChanged(old, cur *wire.Config) {
	w, r := t.w, t.r
	primary := w.byAddr[actors.Addr(cur.Primary)]
	var subject *machine // the node the change is about
	what := "config change"
	switch {
	case cur.Primary != old.Primary:
		what, subject = "failover", primary
	case len(cur.Learners) > len(old.Learners):
		what, subject = "learner added", w.byAddr[actors.Addr(cur.Learners[len(cur.Learners)-1])]
	case len(cur.Secondaries) > len(old.Secondaries):
		what = "learner promoted"
		for _, s := range cur.Secondaries {
			if !slices.Contains(old.Secondaries, s) {
				subject = w.byAddr[actors.Addr(s)]
			}
		}
	default:
		what = "replica removed"
	}
	if what == "failover" && primary != nil && primary.up && len(cur.Secondaries) <= 1 && t.c.faults[FaultMachineLoss] && r.canLose() &&
		r.metaConfig().GetVersion() == cur.Version && r.safeToLoseBut(primary, int(cur.Shard)) {
		// A thin shard (one secondary or none left) fails over, and the new
		// primary dies for good at once (only while that failover is still
		// the shard's newest config, which the poll may see late, and while
		// every other shard it counts for keeps another copy). Its predecessor held every
		// committed entry too; the shard must still have it (the old
		// primary stays in the config as a secondary), or a shard of two
		// replicas lost one of them and all of its data.
		t.act(CountTimedConfig, "failover to v%d: %s lost for good", cur.Version, primary.addr)
		r.lose(primary)
		return
	}
	if what == "learner promoted" && subject != nil && w.rng.IntN(2) == 0 {
		t.act(CountTimedConfig, "learner promoted to v%d: crash every replica but %s", cur.Version, subject.addr)
		t.leaveAlone(cur, subject)
		return
	}
	var targets []*machine
	leader := r.metaLeader()
	for _, m := range []*machine{primary, subject, leader} {
		if m != nil && m.up && !slices.Contains(targets, m) {
			targets = append(targets, m)
		}
	}
	if len(targets) == 0 {
		return
	}
	m := targets[w.rng.IntN(len(targets))]
	t.act(CountTimedConfig, "%s to v%d: hit %s", what, cur.Version, m.addr)
	if m == leader && m.kind == "meta" && (what == "failover" || what == "learner promoted") {
		if what == "failover" {
			w.faults[CountMetaFailover]++
		} else {
			w.faults[CountMetaPromotion]++
		}
	}
	t.hit(m)
}

// promotedAlone: if cur made the learner whose promotion timed held back
// a secondary, leave it alone with the data and report true.
func (t *timed) promotedAlone(old, cur *wire.Config) bool {
	l := t.heldPromotion
	if !slices.Contains(cur.Secondaries, l) || slices.Contains(old.Secondaries, l) {
		return false
	}
	t.heldPromotion = ""
	t.act(CountTimedPromote, "v%d promoted %s, whose promotion was asked before its primary restarted: crash every replica but it", cur.Version, l)
	t.leaveAlone(cur, t.w.byAddr[actors.Addr(l)])
	return true
}

// leaveAlone crashes every replica of cur but m for a while: if m was
// made a secondary while missing a committed entry, the primary meta
// promotes next lacks it.
func (t *timed) leaveAlone(cur *wire.Config, m *machine) {
	w := t.w
	down := 200*time.Millisecond + time.Duration(w.rng.Int64N(int64(3*time.Second)))
	for _, a := range append([]string{cur.Primary}, cur.Secondaries...) {
		if o := w.byAddr[actors.Addr(a)]; o != nil && o != m && o.up {
			t.crashFor(o, down)
		}
	}
}

// hit crashes m and brings it back soon, or cuts it off from every other
// server for a while.
func (t *timed) hit(m *machine) {
	w := t.w
	if w.rng.IntN(3) == 0 {
		t.isolate(m, 300*time.Millisecond+time.Duration(w.rng.Int64N(int64(3*time.Second))))
		return
	}
	t.crashFor(m, 20*time.Millisecond+time.Duration(w.rng.Int64N(int64(time.Second))))
}

// crashFor crashes m now (after the running handler: a role never loses
// its machine under its feet) and restarts it after down.
func (t *timed) crashFor(m *machine, down time.Duration) {
	w := t.w
	w.at(w.now, func() {
		if !m.up {
			return
		}
		t.r.crash(m)
		w.logf("timed fault: crash %s for %v", m.addr, down)
		t.c.restartAt(m, w.now+down)
	})
}

// isolate cuts m off from every other server, both ways, for d.
func (t *timed) isolate(m *machine, d time.Duration) { t.cutOff(m, t.r.servers(), d) }

// cutOff cuts m off from the machines of others, both ways, for d.
func (t *timed) cutOff(m *machine, others []*machine, d time.Duration) {
	w := t.w
	var links []link
	for _, o := range others {
		if o != m {
			links = append(links, link{m.addr, o.addr}, link{o.addr, m.addr})
		}
	}
	w.at(w.now, func() {
		for _, l := range links {
			w.net.blocked[l] = true
		}
		w.logf("timed fault: cut %s off from %d machines for %v", m.addr, len(links)/2, d)
	})
	w.at(min(w.now+d, t.c.end), func() {
		for _, l := range links {
			delete(w.net.blocked, l)
		}
	})
}

// onSend watches the messages servers send (network.onSend) and returns
// extra delay for the one it holds back, or taken for one it keeps.
func (t *timed) onSend(from *machine, to actors.Addr, msg actors.Msg) (time.Duration, bool) {
	switch x := msg.(type) {
	case *wire.PromoteLearner:
		return t.promotion(from, x), false
	case *wire.Surrender:
		t.handover(from, to)
	case *wire.HeartbeatReply:
		if len(x.Leases) > 0 {
			t.leaseGranted(to)
		}
	case *wire.ReadReply:
		return 0, t.staleReply(from, to, x)
	case *wire.Replies:
		// Keeping one read reply of a batch drops the batch: the API
		// crashes, so the rest would reach a dead incarnation anyway.
		for _, r := range x.ReadReplies {
			if t.staleReply(from, to, r) {
				return 0, true
			}
		}
	case *wire.Read:
		t.releaseReply(from, x)
	case *wire.Commit:
		return t.txnStep(from, to, x, []*wire.Commit{x})
	case *wire.Requests:
		for _, r := range x.Reads {
			t.releaseReply(from, r)
		}
		return t.txnStep(from, to, x, x.Commits)
	}
	return 0, false
}

// txnStep watches the steps of transactions an API server sends.
//
// About to commit a transaction's primary key, every key prewritten: now
// and then crash the API server instead, the commit unsent. Its locks stay
// for readers to resolve, and none may see half of the transaction.
//
// Prewriting the primary key: now and then hold the message back past the
// lock's TTL, so that readers meeting the other keys' locks find the
// primary key unlocked and roll the transaction back before the prewrite
// lands (rule txn-rollback: it must not lock the key again).
func (t *timed) txnStep(api *machine, to actors.Addr, msg actors.Msg, commits []*wire.Commit) (time.Duration, bool) {
	w := t.w
	if api.kind != "api" {
		return 0, false
	}
	if slices.ContainsFunc(commits, isCommitPrimary) && w.rng.IntN(3) == 0 && t.ready() {
		down := 20*time.Millisecond + time.Duration(w.rng.Int64N(int64(time.Second)))
		t.act(CountTimedTxnCrash, "%s is about to commit a transaction it prewrote: crash it for %v instead", api.addr, down)
		t.crashFor(api, down)
		return 0, true
	}
	i := slices.IndexFunc(commits, isPrewritePrimary)
	if i < 0 {
		return 0, false
	}
	op := commits[i].Op
	// Hold back the prewrite alone: the rest of its batch (another shard's
	// prewrite, often) goes now.
	holdOne := func(until time.Duration) (time.Duration, bool) {
		if _, batch := msg.(*wire.Requests); !batch {
			return until - w.now, false
		}
		rest := proto.Clone(msg).(*wire.Requests)
		late := rest.Commits[i]
		rest.Commits = slices.Delete(rest.Commits, i, i+1)
		w.net.deliverAt(api, to, rest, w.now)
		w.net.deliverAt(api, to, late, until)
		return 0, true
	}
	key := lateOp{op.GetIncarnation(), op.GetCounter()}
	if until, ok := t.late[key]; ok && w.now < until {
		return holdOne(until) // a retry of the prewrite held back: held as long
	}
	// Held past the TTL, but not past the point where the API settles the
	// prewrite (at 3/4 of its request's quarter of the timeout): a settled
	// prewrite never runs, so nothing would be late.
	ttl, settle := t.r.knobs.API.TxnLockTTL, t.r.knobs.API.RequestTimeout*3/16
	// Each such prewrite is a chance, drawn on its own (not against TimedP
	// and the cooldown): a reader must meet another key's lock while it
	// is held, and transactions are a small part of the workload. But at
	// most one per lateGap: every held prewrite makes its MSET or DEL long,
	// and porcupine's search grows with the ops a long one overlaps (seed
	// 1643: 67 held on one pair of keys, undecided after a minute).
	if ttl >= settle || w.now >= t.c.end || w.now < t.lateNext || w.rng.IntN(4) == 0 {
		return 0, false
	}
	t.lateNext = w.now + lateGap
	hold := ttl + time.Duration(w.rng.Int64N(int64(settle-ttl)))
	if t.late == nil || len(t.late) >= maxLate {
		t.late = map[lateOp]time.Duration{} // forget the old ones: they were let go long ago
	}
	t.late[key] = w.now + hold
	w.faults[FaultTimed]++
	w.faults[CountTimedTxnLate]++
	w.logf("timed fault: %s prewrites a transaction's primary key %q (start ts %d): hold the prewrite back %v (lock TTL %v)",
		api.addr, commits[i].Command.Txn.Primary, commits[i].Command.Txn.StartTs, hold, ttl)
	return holdOne(w.now + hold)
}

// lateOp names a held prewrite by its op id.
type lateOp struct{ incarnation, counter uint64 }

// maxLate bounds the held prewrites timed remembers; lateGap spaces new
// holds.
const (
	maxLate = 1024
	lateGap = 250 * time.Millisecond
)

// isPrewritePrimary reports whether c prewrites a transaction's primary key.
func isPrewritePrimary(c *wire.Commit) bool {
	t := c.GetCommand().GetTxn()
	return t != nil && command.Kind(c.Command.Kind) == command.TxnPrewrite &&
		slices.ContainsFunc(c.Command.Keys, func(k []byte) bool { return string(k) == string(t.Primary) })
}

// staleReply: a data server answers an API's read. Now and then crash the
// API before the reply arrives and keep the reply, as a sender's queue
// can across the receiver's restart, until the API's next incarnation
// sends a read with the same request id (see releaseReply): the moment a
// reply matched by id alone answers the wrong read.
func (t *timed) staleReply(from *machine, to actors.Addr, x *wire.ReadReply) bool {
	w := t.w
	api := w.byAddr[to]
	// Replies come with every read; act on about one in fifteen (one in forty caught
	// the reply-by-request-id canary in only 3 of 200 seeds).
	if api == nil || api.kind != "api" || !t.free() || w.rng.IntN(15) != 0 || !t.ready() {
		return false
	}
	down := 20*time.Millisecond + time.Duration(w.rng.Int64N(int64(300*time.Millisecond)))
	t.keep(from, api, api.incarnation, proto.Clone(x).(*wire.ReadReply))
	t.act(CountTimedReply, "%s answered read %d of %s: crash %s for %v and keep the reply for its next incarnation",
		from.addr, x.Id, to, to, down)
	t.crashFor(api, down)
	return true
}

// orphan: a message reached a receiver incarnation that crashed since it
// was sent. If it is a read reply to an API, now and then keep it for the
// API's next incarnation as staleReply does, without a crash of its own.
func (t *timed) orphan(e *event, m *machine) bool {
	w := t.w
	from := w.byAddr[e.from]
	if m.kind != "api" || (e.msgName != readReplyName && e.msgName != repliesName) || !t.free() || from == nil || !from.up || !t.ready() {
		return false
	}
	x := &wire.ReadReply{}
	if e.msgName == repliesName {
		b := &wire.Replies{}
		if err := proto.Unmarshal(e.data, b); err != nil {
			panic(fmt.Sprintf("sim: decode %s: %v", e.msgName, err))
		}
		if len(b.ReadReplies) == 0 {
			return false
		}
		x = b.ReadReplies[0]
	} else if err := proto.Unmarshal(e.data, x); err != nil {
		panic(fmt.Sprintf("sim: decode %s: %v", e.msgName, err))
	}
	t.keep(from, m, e.incarn, x)
	t.act(CountTimedReply, "%s's reply to read %d of %s came after %s crashed: keep it for its next incarnation",
		e.from, x.Id, m.addr, m.addr)
	return true
}

// free drops a kept reply whose hold ran out and reports whether no reply
// is kept: timed keeps one at a time.
func (t *timed) free() bool {
	if t.held != nil && t.w.now > t.held.until {
		t.held = nil
	}
	return t.held == nil
}

// keep holds msg, which from sent to incarnation apiIncarn of api, for
// api's next incarnation (see releaseReply).
func (t *timed) keep(from, api *machine, apiIncarn uint64, msg *wire.ReadReply) {
	t.held = &heldReply{from: from, fromIncarn: from.incarnation, api: api, apiIncarn: apiIncarn,
		msg: msg, until: t.w.now + staleReplyHold}
}

var (
	readReplyName = (&wire.ReadReply{}).ProtoReflect().Descriptor().FullName()
	repliesName   = (&wire.Replies{}).ProtoReflect().Descriptor().FullName()
)

// releaseReply: api sends a read. If a reply kept for it has the same id
// and was meant for an earlier incarnation, deliver it now, ahead of the
// real reply.
func (t *timed) releaseReply(api *machine, x *wire.Read) {
	h := t.held
	if h == nil || h.api != api || api.incarnation == h.apiIncarn || x.Id != h.msg.Id {
		return
	}
	t.held = nil
	if t.w.now > h.until {
		return
	}
	t.w.logf("timed fault: deliver %s's reply to read %d of %s's previous incarnation", h.from.addr, x.Id, api.addr)
	t.w.net.inject(h.from, h.fromIncarn, api.addr, h.msg)
}

// promotion: primary p just asked meta to make a learner a secondary.
// Crash p and hold the request back until p restarted (a promotion asked
// for by a previous incarnation of the primary), or restart meta, or cut
// off or crash the learner while it is being promoted.
func (t *timed) promotion(p *machine, x *wire.PromoteLearner) time.Duration {
	w := t.w
	if !t.ready() {
		return 0
	}
	learner := w.byAddr[actors.Addr(x.Learner)]
	switch w.rng.IntN(4) {
	case 0:
		down := 20*time.Millisecond + time.Duration(w.rng.Int64N(int64(500*time.Millisecond)))
		hold := down + time.Duration(w.rng.Int64N(int64(time.Second)))
		t.act(CountTimedPromote, "%s asked to promote %s at v%d: crash it for %v, hold the request back for %v and cut %s off from it meanwhile",
			p.addr, x.Learner, x.ConfigVersion, down, hold, x.Learner)
		t.crashFor(p, down)
		// The learner misses what the restarted primary writes before
		// meta sees the request: if the primary counted it as a plain
		// learner again, those writes are committed without it.
		if learner != nil {
			l := link{p.addr, learner.addr}
			w.at(w.now, func() { w.net.blocked[l] = true })
			w.at(min(w.now+hold, t.c.end), func() { delete(w.net.blocked, l) })
			t.heldPromotion = x.Learner
		}
		return hold
	case 1:
		leader := t.r.metaLeader()
		if leader == nil {
			return 0
		}
		t.act(CountTimedPromote, "%s asked to promote %s at v%d: restart the meta leader %s", p.addr, x.Learner, x.ConfigVersion, leader.addr)
		w.faults[CountMetaPromotion]++
		t.crashFor(leader, 20*time.Millisecond+time.Duration(w.rng.Int64N(int64(time.Second))))
	default:
		if learner == nil {
			return 0
		}
		t.act(CountTimedPromote, "%s asked to promote %s at v%d: hit the learner", p.addr, x.Learner, x.ConfigVersion)
		t.hit(learner)
	}
	return 0
}

// leaseGranted: meta is granting the primary a lease. Now and then cut
// the primary off from meta, so this is its last grant, and when the lease
// is about to run out pause it, stall its next read, or crash it.
func (t *timed) leaseGranted(to actors.Addr) {
	w, r := t.w, t.r
	// Grants come every heartbeat; act on about one in thirty-five.
	if w.rng.IntN(35) != 0 || !t.ready() {
		return
	}
	p := w.byAddr[to]
	lease := r.knobs.Meta.LeaseTimeout
	if leader := r.metaLeader(); leader != nil && len(r.metas) > 1 && w.rng.IntN(2) == 0 {
		// The meta leader goes away right after this grant: the primary
		// must renew with the next leader, which knows nothing of it.
		down := time.Duration(float64(lease) * (0.2 + 2*w.rng.Float64()))
		switch w.rng.IntN(7) {
		case 3, 4, 5, 6:
			// The leader and the primary on one side, the other meta members
			// and data servers on the other (the API servers reach both):
			// the leader must stop granting once it cannot confirm it still
			// leads, or the old primary serves on beside a new one.
			t.act(CountTimedMetaLease, "lease granted to %s by meta leader %s; partition the two from the other meta members and data servers for %v", p.addr, leader.addr, down)
			// Long enough for the others to elect a leader, suspect the
			// primary and wait out its lease.
			mk := r.knobs.Meta
			down = 2*mk.ElectionTimeout + mk.FailTimeout + meta.Config{LeaseTimeout: lease}.LeaseWait() +
				time.Duration(w.rng.Int64N(int64(lease)))
			var others []*machine
			for _, o := range append(slices.Clone(r.metas), r.data...) {
				if o != leader && o != p {
					others = append(others, o)
				}
			}
			t.cutOff(leader, others, down)
			t.cutOff(p, others, down)
			return
		case 0:
			t.act(CountTimedMetaLease, "lease granted to %s by meta leader %s; crash the leader for %v", p.addr, leader.addr, down)
			t.crashFor(leader, down)
		case 1:
			t.act(CountTimedMetaLease, "lease granted to %s by meta leader %s; isolate the leader for %v", p.addr, leader.addr, down)
			t.isolate(leader, down)
		default:
			// It still hears the data servers and may go on granting,
			// though the other members elect another leader.
			t.act(CountTimedMetaLease, "lease granted to %s by meta leader %s; cut the leader off from the other meta members for %v", p.addr, leader.addr, down)
			t.cutOff(leader, r.metas, down)
		}
		if w.rng.IntN(2) == 0 {
			return
		}
		// And the primary is cut off too: the next leader must wait out
		// the lease this grant started before it promotes another.
	}
	cut := lease + time.Duration(w.rng.Int64N(int64(2*lease)))
	var links []link
	for _, o := range append(slices.Clone(r.metas), r.data...) {
		if o != p {
			links = append(links, link{p.addr, o.addr}, link{o.addr, p.addr})
		}
	}
	t.act(CountTimedLease, "last lease grant to %s; cut it off from meta and data for %v", p.addr, cut)
	w.at(w.now, func() {
		for _, l := range links {
			w.net.blocked[l] = true
		}
	})
	w.at(min(w.now+cut, t.c.end), func() {
		for _, l := range links {
			delete(w.net.blocked, l)
		}
	})
	// The lease runs out about L after the heartbeat was sent, which was
	// a round trip ago: aim just before and just after.
	edge := w.now + time.Duration(float64(lease)*(0.9+0.15*w.rng.Float64()))
	w.at(min(edge, t.c.end), func() {
		if !p.up || w.now >= t.c.end {
			return
		}
		d := lease/5 + time.Duration(w.rng.Int64N(int64(2*lease)))
		switch w.rng.IntN(3) {
		case 0:
			t.c.pause(p, d)
		case 1:
			p.disk.stallNext, p.disk.stallOn = d, "castkv.wire.Read"
			w.logf("timed fault: %s will stall for %v in its next read", p.addr, d)
		default:
			t.crashFor(p, d)
		}
	})
}

// handover acts as the meta leader asks a primary to surrender its lease
// for a handover (FaultMembership's moves): the leader crashes or is
// isolated (the next one knows nothing of the handover, and the primary
// has stopped serving in its version), the primary is cut off from meta
// (its Surrendered lost: meta may promote only once the last lease surely
// ran out), or the primary crashes mid-handover.
func (t *timed) handover(leader *machine, to actors.Addr) {
	w, r := t.w, t.r
	p := w.byAddr[to]
	if p == nil || !t.ready() {
		return
	}
	lease := r.knobs.Meta.LeaseTimeout
	down := time.Duration(float64(lease) * (0.2 + 2*w.rng.Float64()))
	switch w.rng.IntN(4) {
	case 0:
		t.act(CountTimedHandover, "meta leader %s asked %s to surrender; crash the leader for %v", leader.addr, p.addr, down)
		t.crashFor(leader, down)
	case 1:
		t.act(CountTimedHandover, "meta leader %s asked %s to surrender; isolate the leader for %v", leader.addr, p.addr, down)
		t.isolate(leader, down)
	case 2:
		t.act(CountTimedHandover, "meta leader %s asked %s to surrender; cut the primary off from meta for %v", leader.addr, p.addr, down)
		t.cutOff(p, r.metas, down)
	default:
		t.act(CountTimedHandover, "meta leader %s asked %s to surrender; crash the primary for %v", leader.addr, p.addr, down)
		t.crashFor(p, down)
	}
}

// primaryDown: the chaos just crashed the primary. Meta will wait out its
// lease and promote a secondary; restart meta somewhere in that wait.
func (t *timed) primaryDown() {
	if !t.ready() {
		return
	}
	w, r := t.w, t.r
	mk := r.knobs.Meta
	wait := mk.FailTimeout + meta.Config{LeaseTimeout: mk.LeaseTimeout}.LeaseWait()
	at := w.now + time.Duration(w.rng.Int64N(int64(wait)+1))
	down := 20*time.Millisecond + time.Duration(w.rng.Int64N(int64(time.Second)))
	t.act(CountMetaFailover, "primary down; restart the meta leader for %v in %v, during the failover", down, at-w.now)
	w.at(min(at, t.c.end), func() {
		if w.now >= t.c.end {
			return
		}
		if leader := r.metaLeader(); leader != nil {
			w.logf("timed fault: the meta leader is %s", leader.addr)
			t.crashFor(leader, down)
		}
	})
}
