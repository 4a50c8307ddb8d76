package sim

import (
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"castkv/actors"
	"castkv/actors/data"
	"castkv/actors/meta"
	"castkv/actors/store"
	"castkv/actors/wire"
	"github.com/cockroachdb/pebble/v2"
	"google.golang.org/protobuf/proto"
)

// The oracles check global safety properties after every step. The
// simulator knows what no node can: true time and every node's state, its
// disk included. So an unsafe state that lasts a few milliseconds and never
// reaches a client's history still fails the run, with its seed.
const (
	// OracleCommittedPrefix: no two replicas hold different entries at a
	// seq at or below both of their commit points.
	OracleCommittedPrefix = "committed-prefix agreement"
	// OracleCommitAll: every member counted for commit (the primary, its
	// secondaries, the learners it is promoting) durably holds every
	// committed entry.
	OracleCommitAll = "commit-all"
	// OracleSingleLease: when meta installs a new primary, and when a data
	// replica serves, no other replica holds a lease still valid in true
	// time. A replica serves when it sends an OK ReadReply, and when it
	// takes a write: it sequences a Commit, or answers one at once (from
	// its exactly-once record). An OK CommitReply sent later, once the
	// entry committed, is not checked: the entry was acked by every
	// replica of its config, so any later primary holds it before its
	// barrier, and the reply only reports that.
	OracleSingleLease = "single lease"
	// OracleAppliedAgree: at the end of the run, replicas at the same
	// applied seq hold the same applied data (records and live key count).
	OracleAppliedAgree = "applied-state agreement"
	// OracleAppliedShape: at the end of the run, every replica's applied
	// data has one version per key and a live key count that matches it
	// (store.CheckShape): each write named the version it replaced right.
	OracleAppliedShape = "applied-state shape"
	// OracleCaughtUp: at the end of the run, every member of meta's config
	// has applied what the primary committed 10 s before.
	OracleCaughtUp = "catch-up"
)

// oracles watches one run. It only reads the roles (data.Server.Inspect,
// meta.Meta.Config, the machines' pebble DBs): it draws nothing from the
// run's PRNG, so a run's trace is the same with or without it.
type oracles struct {
	w *world
	r *runner

	// committed is, per shard, the identity of every entry some replica
	// counted as committed, indexed by seq-1.
	committed map[uint32][]committedEntry
	watches   map[watchKey]*replicaWatch
	// removedAt: the newest config version seen to leave a replica out.
	removedAt map[watchKey]uint64
	// metaConfigs is, by shard id, the newest config meta was seen to hold.
	metaConfigs map[uint32]*wire.Config
	// metaLeader is the last meta member seen acting as leader.
	metaLeader actors.Addr
	// disks are read-only copies of crashed machines' disks, opened on
	// first need and closed once the machine is back.
	disks map[*machine]*crashedDisk
	// The read-ts oracle (oracle_ts.go): the keys of Reads in flight, and
	// what each primary process served.
	reads     map[readKey][][]byte
	tsWatches map[tsWatchKey]*tsWatch
	// invoked: the newest timestamp issued when each client request was
	// sent; tsIssuedMax: the newest issued so far.
	invoked     map[clientKey]uint64
	tsIssuedMax uint64
	// txns: what committed entries did to each transaction's locks
	// (oracle_txn.go).
	txns map[txnName]*txnFate
	// locks: each shard's transaction locks as its committed entries left
	// them (oracle_txn.go).
	locks map[uint32]map[string]*wire.Lock

	first map[string]string // oracle -> its first violation
	count map[string]int    // oracle -> violations seen
}

type committedEntry struct {
	id entryID
	by actors.Addr // the first replica seen to commit it
	at time.Duration
}

// entryID identifies a log entry's content: the config version that
// proposed it and a digest of everything else.
type entryID struct {
	version uint64
	digest  uint64
}

type watchKey struct {
	m     *machine
	shard uint32
}

// replicaWatch is what the oracles last saw of one replica.
type replicaWatch struct {
	incarnation uint64
	// checked: the replica's entries 1..checked were compared with (or
	// became) the committed record, and are at or below its commit point.
	checked              uint64
	lastSeq, lastVersion uint64
	commitSeq            uint64
	// logStart and installing, to count compactions and snapshots.
	logStart   uint64
	installing bool
	snapshots  int
	splits     int
	// txnsCollected: transaction records the replica's gc points dropped.
	txnsCollected uint64
	versionHits   uint64
	reclaimed     uint64
	readsWaited   uint64
	readsTooOld   uint64
}

type crashedDisk struct {
	incarnation uint64 // the machine's incarnation when it crashed
	db          *pebble.DB
	st          *store.Store
}

func newOracles(w *world, r *runner) *oracles {
	return &oracles{
		w: w, r: r,
		committed:   map[uint32][]committedEntry{},
		watches:     map[watchKey]*replicaWatch{},
		metaConfigs: map[uint32]*wire.Config{},
		removedAt:   map[watchKey]uint64{},
		disks:       map[*machine]*crashedDisk{},
		reads:       map[readKey][][]byte{},
		tsWatches:   map[tsWatchKey]*tsWatch{},
		invoked:     map[clientKey]uint64{},
		txns:        map[txnName]*txnFate{},
		locks:       map[uint32]map[string]*wire.Lock{},
		first:       map[string]string{},
		count:       map[string]int{},
	}
}

func (o *oracles) violate(oracle, format string, args ...any) {
	o.count[oracle]++
	if _, ok := o.first[oracle]; !ok {
		o.first[oracle] = fmt.Sprintf("oracle %s at %v: ", oracle, o.w.now) + fmt.Sprintf(format, args...)
		o.w.logf("ORACLE %s", o.first[oracle])
	}
}

// violations lists the first violation of each oracle that fired, in a
// fixed order.
func (o *oracles) violations() []string {
	var out []string
	for _, name := range []string{OracleCommittedPrefix, OracleCommitAll, OracleSingleLease, OracleReadTS, OracleTxnAtomic, OracleTxnLock, OracleAppliedAgree, OracleAppliedShape, OracleCaughtUp} {
		if v, ok := o.first[name]; ok {
			if n := o.count[name]; n > 1 {
				v += fmt.Sprintf(" (%d violations in all)", n)
			}
			out = append(out, v)
		}
	}
	return out
}

// finish closes the crashed disks' copies and reports into res; it returns
// the violations for the run's failure text.
func (o *oracles) finish(res *Result) []string {
	if o == nil {
		return nil
	}
	for m, d := range o.disks {
		d.close()
		delete(o.disks, m)
	}
	res.Oracles = o.violations()
	return res.Oracles
}

// appliedAgree compares the applied data of the replicas at the end of the
// run: replicas at the same applied seq must hold the same records and live
// key count (rule one-version: each applies the same log without reading),
// however each got there (its log, a snapshot, a restart).
func (o *oracles) appliedAgree() {
	type at struct {
		shard   uint32
		applied uint64
	}
	seen := map[at]struct {
		digest uint64
		by     actors.Addr
	}{}
	for _, m := range o.r.data {
		s := server(m)
		if s == nil {
			continue
		}
		for _, v := range s.Inspect() {
			if !v.Member || v.Installing || v.AppliedSeq == 0 {
				continue
			}
			st := store.New(m.db, nil)
			if err := st.CheckShape(v.Shard); err != nil {
				o.violate(OracleAppliedShape, "%s at applied seq %d: %v", m.addr, v.AppliedSeq, err)
			}
			d, err := st.DataDigest(v.Shard)
			if err != nil {
				panic(fmt.Sprintf("sim: oracle: digest %s's applied data: %v", m.addr, err))
			}
			k := at{v.Shard, v.AppliedSeq}
			if first, ok := seen[k]; !ok {
				seen[k] = struct {
					digest uint64
					by     actors.Addr
				}{d, m.addr}
			} else if first.digest != d {
				o.violate(OracleAppliedAgree, "shard %d: at applied seq %d, %s's applied data (digest %016x) differs from %s's (%016x)",
					v.Shard, v.AppliedSeq, m.addr, d, first.by, first.digest)
			}
		}
	}
}

// catchUpTarget is what a shard's primary had committed 10 s before the
// end of a run, and the members of meta's config of the shard then.
type catchUpTarget struct {
	seq     uint64
	members []string
}

// caughtUp checks, at the end of the run, that every member of meta's
// config that was a member 10 s earlier has applied what the primary had
// committed then: a learner stuck in a snapshot or a replica that stopped
// following shows here, though no client needs it. (A learner the
// balancer added in the last seconds is still catching up: castsim seed
// 1544 of 1-2000 added one 10 ms before the end.)
func (o *oracles) caughtUp(targets map[uint32]catchUpTarget) {
	for _, c := range o.r.metaConfigs() {
		tg := targets[c.Shard]
		target := tg.seq
		if target == 0 {
			continue
		}
		members := append(append([]string{c.Primary}, c.Secondaries...), c.Learners...)
		for _, a := range members {
			if !slices.Contains(tg.members, a) {
				continue
			}
			m := o.w.byAddr[actors.Addr(a)]
			s := server(m)
			if s == nil {
				continue
			}
			for _, v := range s.Inspect() {
				if v.Shard == c.Shard && v.AppliedSeq < target {
					o.violate(OracleCaughtUp, "shard %d: %s, a member of config version %d, applied only through %d; the primary had committed %d ten seconds before",
						c.Shard, a, c.Version, v.AppliedSeq, target)
				}
			}
		}
	}
}

// afterStep runs the oracles over what the step may have changed: the
// machine an event was delivered to, or every machine after an action
// (a start, a crash, a fault).
func (o *oracles) afterStep(e *event) {
	o.checkMeta()
	o.checkMetaLeader()
	if e.kind == evAction {
		for _, m := range o.r.data {
			o.checkData(m)
		}
		return
	}
	if m := o.w.byAddr[e.to]; m != nil && m.kind == "data" {
		o.checkData(m)
	}
}

func server(m *machine) *data.Server {
	if !m.up {
		return nil
	}
	s, _ := m.node.(*data.Server)
	return s
}

// checkData runs the committed-prefix and commit-all oracles on one data
// machine.
func (o *oracles) checkData(m *machine) {
	s := server(m)
	if s == nil {
		return
	}
	if d := o.disks[m]; d != nil {
		d.close()
		delete(o.disks, m)
	}
	for _, v := range s.Inspect() {
		k := watchKey{m, v.Shard}
		wt := o.watches[k]
		if wt == nil {
			wt = &replicaWatch{incarnation: m.incarnation}
			o.watches[k] = wt
		}
		st := store.New(m.db, nil)
		if v.LogStart > wt.logStart && !v.Installing && !wt.installing && wt.incarnation == m.incarnation {
			o.w.faults[CountCompaction]++
		}
		if wt.incarnation == m.incarnation && v.SnapshotsInstalled > wt.snapshots {
			o.w.faults[CountSnapshot] += v.SnapshotsInstalled - wt.snapshots
		}
		if wt.incarnation == m.incarnation && v.SplitsApplied > wt.splits {
			o.w.faults[CountSplit] += v.SplitsApplied - wt.splits
		}
		if wt.incarnation == m.incarnation && v.VersionCacheHits > wt.versionHits {
			o.w.faults[CountVersionCacheHits] += int(v.VersionCacheHits - wt.versionHits)
		}
		if wt.incarnation == m.incarnation {
			o.w.faults[CountReadWait] += int(v.ReadsWaited - min(v.ReadsWaited, wt.readsWaited))
			o.w.faults[CountTSTooOld] += int(v.ReadsTooOld - min(v.ReadsTooOld, wt.readsTooOld))
			o.w.faults[CountTxnCollected] += int(v.TxnsCollected - min(v.TxnsCollected, wt.txnsCollected))
			o.w.faults[CountExpiryReclaimed] += int(v.ExpiredReclaimed - min(v.ExpiredReclaimed, wt.reclaimed))
		}
		wt.logStart, wt.installing, wt.snapshots, wt.splits = v.LogStart, v.Installing, v.SnapshotsInstalled, v.SplitsApplied
		wt.versionHits, wt.readsWaited, wt.readsTooOld = v.VersionCacheHits, v.ReadsWaited, v.ReadsTooOld
		wt.txnsCollected, wt.reclaimed = v.TxnsCollected, v.ExpiredReclaimed
		if !v.Member {
			o.removedAt[k] = max(o.removedAt[k], v.Config.Version)
		}
		if v.Installing || !v.Member {
			// Its log and state are being replaced by a snapshot, or were
			// deleted with its removal: what it held committed is no
			// longer its; it is checked again from what it holds next.
			wt.checked = 0
		}
		switch {
		case wt.incarnation != m.incarnation:
			// Restarted: only what was synced survived, and the commit
			// point restarts at the applied point.
			wt.incarnation = m.incarnation
			wt.checked = min(wt.checked, v.CommitSeq)
			wt.commitSeq = v.CommitSeq
			o.recheck(m, st, v, wt, "after a restart")
		case v.LastVersion != wt.lastVersion || v.LastSeq < wt.lastSeq:
			// The log's tail changed in more than an append: a suffix
			// may have been truncated and replaced.
			o.recheck(m, st, v, wt, "after its log's tail changed")
		}
		if v.CommitSeq > wt.checked {
			o.agree(m, st, v, wt)
		}
		if v.Primary && v.CommitSeq > wt.commitSeq {
			o.commitAll(m, v)
		}
		if v.Primary && v.LastSeq > wt.lastSeq && o.handlingCommit(m) {
			o.singleLease(v.Shard, m.addr, func() string {
				return fmt.Sprintf("%s sequenced a write at seq %d (%s)", m.addr, v.LastSeq, o.leaseOf(m, v.Shard))
			})
		}
		wt.lastSeq, wt.lastVersion = v.LastSeq, v.LastVersion
		wt.commitSeq = v.CommitSeq
	}
}

// recheck looks again at the newest entry the replica was seen to hold
// committed: a truncation of the committed prefix removes or replaces it,
// since a truncation takes a whole suffix.
func (o *oracles) recheck(m *machine, st *store.Store, v data.ReplicaView, wt *replicaWatch, when string) {
	if wt.checked == 0 {
		return
	}
	seq := wt.checked
	if seq > uint64(len(o.committed[v.Shard])) {
		return // a violation was reported here already
	}
	if seq <= v.LogStart || v.Installing || !v.Member {
		// Compacted (its effect is in the applied state), being replaced
		// by a snapshot, or deleted with the replica's removal.
		return
	}
	rec := o.committed[v.Shard][seq-1]
	e := o.entry(st, v.Shard, seq)
	switch {
	case e == nil:
		o.violate(OracleCommittedPrefix, "shard %d: %s no longer holds seq %d %s, which it held committed (committed as version %d by %s at %v); its log ends at %d, commit point %d",
			v.Shard, m.addr, seq, when, rec.id.version, rec.by, rec.at, v.LastSeq, v.CommitSeq)
	case identify(e) != rec.id:
		o.violate(OracleCommittedPrefix, "shard %d: %s replaced seq %d %s: it holds version %d digest %016x, committed as version %d digest %016x by %s at %v",
			v.Shard, m.addr, seq, when, e.Version, identify(e).digest, rec.id.version, rec.id.digest, rec.by, rec.at)
	}
}

// agree compares the replica's entries from its last checked seq to its
// commit point with the committed record, extending the record with what
// no replica had committed before.
func (o *oracles) agree(m *machine, st *store.Store, v data.ReplicaView, wt *replicaWatch) {
	// After a violation the replica is not looked at again below its
	// commit point: one broken state is reported once, not at every step.
	defer func() { wt.checked = max(wt.checked, v.CommitSeq) }()
	if v.CommitSeq > v.LastSeq {
		o.violate(OracleCommittedPrefix, "shard %d: %s's commit point %d is beyond its log, which ends at %d", v.Shard, m.addr, v.CommitSeq, v.LastSeq)
		return
	}
	rec := o.committed[v.Shard]
	defer func() { o.committed[v.Shard] = rec }()
	// Entries up to the log start were compacted away (or came in a
	// snapshot): they were compared while some log still held them.
	for from := max(wt.checked, v.LogStart) + 1; from <= v.CommitSeq; {
		es, err := st.Entries(v.Shard, from, v.CommitSeq, 1<<20)
		if err != nil {
			panic(fmt.Sprintf("sim: oracle: read %s's log [%d, %d]: %v", m.addr, from, v.CommitSeq, err))
		}
		if len(es) == 0 {
			o.violate(OracleCommittedPrefix, "shard %d: %s's log has no entry %d, at or below its commit point %d", v.Shard, m.addr, from, v.CommitSeq)
			return
		}
		for _, e := range es {
			if e.Seq != from {
				o.violate(OracleCommittedPrefix, "shard %d: %s's log has no entry %d, at or below its commit point %d", v.Shard, m.addr, from, v.CommitSeq)
				return
			}
			id := identify(e)
			switch {
			case e.Seq == uint64(len(rec))+1:
				rec = append(rec, committedEntry{id: id, by: m.addr, at: o.w.now})
				o.txnCommitted(v.Shard, e)
			case e.Seq > uint64(len(rec))+1:
				// The record has a gap below: a replica checked past it
				// after a reported violation. Nothing to compare with.
			case rec[e.Seq-1].id != id:
				c := rec[e.Seq-1]
				o.violate(OracleCommittedPrefix, "shard %d seq %d: %s holds version %d digest %016x at or below its commit point %d, but %s committed version %d digest %016x there at %v",
					v.Shard, e.Seq, m.addr, id.version, id.digest, v.CommitSeq, c.by, c.id.version, c.id.digest, c.at)
				return
			}
			wt.checked = e.Seq
			from = e.Seq + 1
		}
	}
}

// commitAll checks a primary that just advanced its commit point: each
// member it counts for commit must durably hold the entry at the new
// commit point (log-matching then covers the prefix; committed-prefix
// agreement checks it entry by entry as their commit points follow).
func (o *oracles) commitAll(p *machine, v data.ReplicaView) {
	seq := v.CommitSeq
	rec := o.committed[v.Shard]
	if seq > uint64(len(rec)) {
		return // committed-prefix agreement already failed on the primary
	}
	want := rec[seq-1].id
	why := func() string {
		return fmt.Sprintf("primary %s (config version %d) advanced its commit point to %d", p.addr, v.Config.Version, seq)
	}
	// The primary's own entry at seq was just compared with the record.
	if v.SyncedSeq < seq {
		o.violate(OracleCommitAll, "shard %d: %s, but has synced its own log only through %d", v.Shard, why(), v.SyncedSeq)
	}
	for _, peer := range v.Peers {
		if peer.Counted() {
			if m := o.w.byAddr[peer.Addr]; m != nil {
				o.holds(m, v.Shard, v.Config.Version, seq, want, why)
			}
		}
	}
}

// holds checks that machine m's disk (or what its memory knows to be
// synced) holds the entry want at seq.
func (o *oracles) holds(m *machine, shard uint32, version, seq uint64, want entryID, why func() string) {
	if o.removedSince(m, shard, version) {
		// A newer config left m out, and m deleted its copy (rule
		// removed-deletes): that config's members hold every committed
		// entry, which meta's install of it was checked for.
		return
	}
	synced, st, where := o.durable(m, shard)
	if synced < seq {
		o.violate(OracleCommitAll, "shard %d: %s, but %s, counted for commit, has synced its log only through %d (%s)", shard, why(), m.addr, synced, where)
		return
	}
	start, _, err := st.LogStart(shard)
	if err != nil {
		panic(fmt.Sprintf("sim: oracle: read %s's log start: %v", m.addr, err))
	}
	if seq <= start {
		return // compacted there: applied, in its applied state
	}
	e := o.entry(st, shard, seq)
	if e == nil || identify(e) != want {
		got := "no entry"
		if e != nil {
			got = fmt.Sprintf("version %d digest %016x", e.Version, identify(e).digest)
		}
		o.violate(OracleCommitAll, "shard %d: %s, but %s, counted for commit, holds %s at %d, not version %d digest %016x (%s)", shard, why(), m.addr, got, seq, want.version, want.digest, where)
	}
}

// removedSince reports whether machine m was seen in a config of shard
// newer than version that leaves it out (and so deleted its copy).
func (o *oracles) removedSince(m *machine, shard uint32, version uint64) bool {
	return o.removedAt[watchKey{m, shard}] > version
}

// durable is how far machine m's log of shard is durable and where to read
// it: a running machine's synced point, or a crashed machine's disk (what
// survives the crash).
func (o *oracles) durable(m *machine, shard uint32) (synced uint64, st *store.Store, where string) {
	if s := server(m); s != nil {
		for _, v := range s.Inspect() {
			if v.Shard == shard {
				return v.SyncedSeq, store.New(m.db, nil), "running"
			}
		}
		return 0, nil, "running, holds no replica of the shard"
	}
	if m.incarnation == 0 {
		return 0, nil, "not started yet"
	}
	d := o.disks[m]
	if d == nil || d.incarnation != m.incarnation {
		if d != nil {
			d.close()
		}
		d = openCrashed(m)
		o.disks[m] = d
	}
	last, err := d.st.LastEntry(shard)
	if err != nil {
		panic(fmt.Sprintf("sim: oracle: read the last log entry on %s's disk: %v", m.addr, err))
	}
	// A log compacted to empty ends at its start.
	start, _, err := d.st.LogStart(shard)
	if err != nil {
		panic(fmt.Sprintf("sim: oracle: read the log start on %s's disk: %v", m.addr, err))
	}
	if last != nil {
		start = max(start, last.Seq)
	}
	if installing, err := d.st.SnapshotInstalling(shard); err != nil || installing {
		return 0, d.st, "down; its disk holds a snapshot cut off mid-install"
	}
	return start, d.st, "down; its disk"
}

// openCrashed opens a read-only copy of a crashed machine's disk, so the
// machine's own restart finds its disk untouched.
func openCrashed(m *machine) *crashedDisk {
	fs := m.fs.crash()
	opts := storeOptions(fs)
	opts.ReadOnly = true
	db, err := pebble.Open("db", opts)
	if err != nil {
		panic(fmt.Sprintf("sim: oracle: open a copy of %s's disk: %v", m.addr, err))
	}
	return &crashedDisk{incarnation: m.incarnation, db: db, st: store.New(db, nil)}
}

func (d *crashedDisk) close() { _ = d.db.Close() } // a read-only copy: nothing to lose

// checkMetaLeader counts changes of the meta member acting as leader, so a
// sweep shows how often leadership moved (an old leader still granting
// leases is what the single-lease oracle catches).
func (o *oracles) checkMetaLeader() {
	if len(o.r.metas) < 2 {
		return
	}
	var leader actors.Addr
	for _, m := range o.r.metas {
		if mm, ok := m.node.(*meta.Meta); ok && mm != nil && m.up && mm.Leading(m.Now()) {
			leader = m.addr
			break
		}
	}
	if leader != "" && leader != o.metaLeader {
		if o.metaLeader != "" {
			o.w.faults[CountMetaLeaderChange]++
		}
		o.metaLeader = leader
	}
}

// checkMeta runs the commit-all and single-lease oracles when meta
// installs a new config of a shard.
func (o *oracles) checkMeta() {
	for _, c := range o.r.metaConfigs() {
		o.checkMetaConfig(c)
	}
}

func (o *oracles) checkMetaConfig(c *wire.Config) {
	old := o.metaConfigs[c.Shard]
	if c == old || old != nil && c.Version <= old.Version {
		return
	}
	o.metaConfigs[c.Shard] = c
	// A data server this config leaves out was removed at this version,
	// whether or not it ran to see it: a primary of an older version may
	// still count it (a delayed ack), though it since deleted its replica
	// or replaced it by a snapshot as a learner (seed 263 of 1-400: data3
	// was removed while down and rejoined as a learner before it ran).
	for _, m := range o.r.data {
		if !isMember(c, string(m.addr)) {
			k := watchKey{m, c.Shard}
			o.removedAt[k] = max(o.removedAt[k], c.Version)
		}
	}
	if old == nil {
		return
	}
	if 1+len(old.Secondaries) > o.r.knobs.Cluster.Replicas && len(c.Secondaries) < len(old.Secondaries) && c.Primary == old.Primary {
		o.w.faults[CountMove]++
	}
	// Commit-all: the new config's counted members must already hold
	// every committed entry, before anyone else may commit without them.
	if rec := o.committed[c.Shard]; len(rec) > 0 {
		seq := uint64(len(rec))
		why := func() string {
			return fmt.Sprintf("meta installed config version %d (primary %s, secondaries %v) with %d entries committed", c.Version, c.Primary, c.Secondaries, seq)
		}
		for _, a := range append([]string{c.Primary}, c.Secondaries...) {
			if m := o.w.byAddr[actors.Addr(a)]; m != nil {
				o.holds(m, c.Shard, c.Version, seq, rec[seq-1].id, why)
			}
		}
	}
	if c.Primary != old.Primary {
		o.singleLease(c.Shard, actors.Addr(c.Primary), func() string {
			return fmt.Sprintf("meta installed %s as primary (config version %d)", c.Primary, c.Version)
		})
	}
}

// sent runs the single-lease and read-ts oracles when a data replica
// serves, and notes the Reads API servers send.
func (o *oracles) sent(from *machine, to actors.Addr, msg actors.Msg) {
	switch from.kind {
	case "api":
		o.apiSent(msg, from)
		return
	case "meta":
		if _, ok := msg.(*wire.Surrender); ok {
			o.w.faults[CountHandover]++
		}
		o.tsIssued(msg)
		return
	case "client":
		o.clientSent(from, msg)
		return
	}
	if from.kind != "data" {
		return
	}
	if b, ok := msg.(*wire.Replies); ok {
		for _, r := range b.CommitReplies {
			o.sent(from, to, r)
		}
		for _, r := range b.ReadReplies {
			o.sent(from, to, r)
		}
		return
	}
	switch x := msg.(type) {
	case *wire.ReadReply:
		if x.Status == wire.Status_OK {
			o.singleLease(x.Shard, from.addr, func() string {
				return fmt.Sprintf("%s served a read to %s (%s)", from.addr, to, o.leaseOf(from, x.Shard))
			})
			o.readServed(from, to, x)
		}
	case *wire.Prepare:
		o.prepareSent(from, x)
	case *wire.CommitReply:
		if x.Status == wire.Status_OK && o.handlingCommit(from) {
			o.singleLease(x.Shard, from.addr, func() string {
				return fmt.Sprintf("%s answered a commit to %s (%s)", from.addr, to, o.leaseOf(from, x.Shard))
			})
		}
	}
}

var (
	commitName   = (&wire.Commit{}).ProtoReflect().Descriptor().FullName()
	requestsName = (&wire.Requests{}).ProtoReflect().Descriptor().FullName()
)

// handlingCommit: the step being run delivers a Commit to m, alone or in
// a Requests.
func (o *oracles) handlingCommit(m *machine) bool {
	e := o.w.current
	return e != nil && e.kind == evDeliver && e.to == m.addr && (e.msgName == commitName || e.msgName == requestsName)
}

// leaseOf describes m's own lease of shard, in true time.
func (o *oracles) leaseOf(m *machine, shard uint32) string {
	s := server(m)
	if s == nil {
		return "down"
	}
	for _, v := range s.Inspect() {
		if v.Shard != shard {
			continue
		}
		desc := fmt.Sprintf("config version %d, commit point %d", v.Config.Version, v.CommitSeq)
		switch {
		case v.LeaseUntil.IsZero():
			return desc + ", no lease"
		case m.clock().Before(v.LeaseUntil):
			return fmt.Sprintf("%s, its lease valid until %v", desc, m.trueTime(v.LeaseUntil))
		default:
			return fmt.Sprintf("%s, its lease expired at %v", desc, m.trueTime(v.LeaseUntil))
		}
	}
	return "no replica of the shard"
}

// singleLease: no replica of shard but self holds a lease valid now, in
// true time. A crashed machine holds none; a paused one still does.
func (o *oracles) singleLease(shard uint32, self actors.Addr, what func() string) {
	for _, m := range o.r.data {
		s := server(m)
		if m.addr == self || s == nil {
			continue
		}
		for _, v := range s.Inspect() {
			if v.Shard == shard && m.clock().Before(v.LeaseUntil) {
				o.violate(OracleSingleLease, "shard %d: %s while %s holds a lease valid until %v (true time; its clock reads %v)",
					shard, what(), m.addr, m.trueTime(v.LeaseUntil), m.clock().Sub(epoch))
			}
		}
	}
}

// trueTime converts a time on m's clock to virtual time.
func (m *machine) trueTime(t time.Time) time.Duration {
	return time.Duration(float64(t.Sub(epoch)-m.offset) / m.rate)
}

func (o *oracles) entry(st *store.Store, shard uint32, seq uint64) *wire.Entry {
	e, err := st.Entry(shard, seq)
	if err != nil {
		panic(fmt.Sprintf("sim: oracle: read log entry %d of shard %d: %v", seq, shard, err))
	}
	return e
}

// identify digests an entry's content. Which values a Prepare carried
// inline (Staged) and the cached value digests are transport details, so
// they are left out.
func identify(e *wire.Entry) entryID {
	b := make([]byte, 0, 256)
	b = binary.AppendUvarint(b, uint64(e.Kind))
	b = binary.AppendUvarint(b, e.CommitTs)
	b = binary.AppendUvarint(b, e.Watermark)
	b = binary.AppendUvarint(b, e.Op.GetIncarnation())
	b = binary.AppendUvarint(b, e.Op.GetCounter())
	for _, w := range e.Writes {
		b = binary.AppendUvarint(b, uint64(len(w.Key)))
		b = append(b, w.Key...)
		b = binary.AppendUvarint(b, uint64(len(w.Value)))
		b = append(b, w.Value...)
		if w.Delete {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
		// A transaction's lock changes are content too.
		for _, l := range []*wire.Lock{w.Lock, w.Removed} {
			var err error
			if b, err = entryMarshal.MarshalAppend(binary.AppendUvarint(b, uint64(entryMarshal.Size(l))), l); err != nil {
				panic(fmt.Sprintf("sim: oracle: encode a lock of entry %d: %v", e.Seq, err))
			}
		}
		if w.LockOnly || w.Unlock {
			b = append(b, 2)
		}
	}
	for _, t := range e.Txns {
		var err error
		if b, err = entryMarshal.MarshalAppend(b, t); err != nil {
			panic(fmt.Sprintf("sim: oracle: encode a transaction record of entry %d: %v", e.Seq, err))
		}
	}
	if e.Result != nil {
		var err error
		if b, err = entryMarshal.MarshalAppend(b, e.Result); err != nil {
			panic(fmt.Sprintf("sim: oracle: encode the result of entry %d: %v", e.Seq, err))
		}
	}
	return entryID{version: e.Version, digest: wire.Digest(b)}
}

var entryMarshal = proto.MarshalOptions{Deterministic: true}

// isMember reports whether addr is c's primary, a secondary or a learner.
func isMember(c *wire.Config, addr string) bool {
	return c.Primary == addr || slices.Contains(c.Secondaries, addr) || slices.Contains(c.Learners, addr)
}
