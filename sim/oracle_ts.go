package sim

import (
	"slices"
	"sort"

	"castkv/actors"
	"castkv/actors/api"
	"castkv/actors/command"
	"castkv/actors/data"
	"castkv/actors/wire"
)

// OracleReadTS checks the timestamp rules (actors/data/timestamps.go) from
// what the primaries send, in true order:
//
//   - commit-ts: an entry with writes that a primary sequenced after it
//     served a read at ts commits above ts. The oracle notes, at each OK
//     ReadReply, the primary's last log seq and the read's ts; each entry
//     the primary later sends in a Prepare is checked against the reads it
//     served before that entry's seq existed.
//
//   - read-ts: when a primary serves a read at ts, none of its uncommitted
//     entries that commits at or below ts writes one of the read's keys
//     (nor is a FLUSH): the read would not see a write that commits below
//     it. The read's keys come from the Read the API server sent.
//
//   - txn-lock: when a primary serves a read at ts, none of its keys holds
//     a committed lock of a transaction that started at or below ts.
//
//   - tso: every Commit and Read an API server sends carries a timestamp
//     above every one the TSO had issued (TSReply, lease grants) when the
//     client sent the command.
//
// Single-version reads refuse what they cannot see (TS_TOO_OLD), so a
// broken rule rarely shows in a history (two concurrent reads across
// shards seeing two writes in opposite orders); this oracle sees it at
// the step it happens.
const OracleReadTS = "read-ts"

// tsWatch is what one primary process served of one shard.
type tsWatch struct {
	// served: for each read served, the primary's last seq then and the
	// largest ts served so far (both non-decreasing).
	served  []servedRead
	checked uint64 // entries through here were checked
}

type servedRead struct{ seq, maxTS, version uint64 }

type tsWatchKey struct {
	m           *machine
	incarnation uint64
	shard       uint32
}

// readKey names a Read by its sender and ids, as its ReadReply echoes them.
type readKey struct {
	api         actors.Addr
	incarnation uint64
	id          uint64
	shard       uint32
}

// maxTrackedReads bounds the Reads whose keys the oracle keeps: a read
// whose reply never comes (a lost message) would otherwise stay.
const maxTrackedReads = 1 << 16

// clientKey names a client's request.
type clientKey struct {
	client actors.Addr
	id     uint64
}

// tsIssued notes the timestamps meta issues.
func (o *oracles) tsIssued(msg actors.Msg) {
	switch x := msg.(type) {
	case *wire.TSReply:
		if x.Count > 0 {
			o.tsIssuedMax = max(o.tsIssuedMax, x.First+uint64(x.Count)-1)
		}
	case *wire.HeartbeatReply:
		for _, g := range x.Leases {
			o.tsIssuedMax = max(o.tsIssuedMax, g.Ts)
		}
	}
}

// clientSent notes, for each command a client sends, the newest timestamp
// issued by then.
func (o *oracles) clientSent(from *machine, msg actors.Msg) {
	if x, ok := msg.(*wire.ClientRequest); ok {
		if len(o.invoked) >= maxTrackedReads {
			clear(o.invoked)
		}
		o.invoked[clientKey{from.addr, x.Id}] = o.tsIssuedMax
	}
}

// apiSent notes the keys of each Read an API server sends, and checks that
// each Commit and Read carries a timestamp fetched after its client sent
// the command.
func (o *oracles) apiSent(msg actors.Msg, from *machine) {
	var reads []*wire.Read
	var commits []*wire.Commit
	switch x := msg.(type) {
	case *wire.Read:
		reads = []*wire.Read{x}
	case *wire.Commit:
		commits = []*wire.Commit{x}
	case *wire.Requests:
		reads, commits = x.Reads, x.Commits
	}
	for _, r := range reads {
		if len(o.reads) >= maxTrackedReads {
			clear(o.reads)
		}
		o.reads[readKey{from.addr, r.Incarnation, r.Id, r.Shard}] = r.GetCommand().GetKeys()
		o.checkFresh(from, r, r.Ts)
		if command.Kind(r.GetCommand().GetKind()) == command.TxnLocks {
			o.w.faults[CountResolverScan]++
		}
	}
	for _, c := range commits {
		if !c.Abort {
			o.checkFresh(from, c, c.Ts)
		}
		switch t := c.GetCommand().GetTxn(); {
		case t == nil:
		case command.Kind(c.Command.Kind) == command.TxnCheck:
			o.w.faults[CountTxnResolve]++
		case isCommitPrimary(c):
			o.w.faults[CountTxnCommit]++
		}
	}
}

// isCommitPrimary reports whether c commits a transaction's primary key:
// its atomic point.
func isCommitPrimary(c *wire.Commit) bool {
	t := c.GetCommand().GetTxn()
	return t != nil && command.Kind(c.Command.Kind) == command.TxnCommit && !t.Rollback &&
		slices.ContainsFunc(c.Command.Keys, func(k []byte) bool { return string(k) == string(t.Primary) })
}

// checkFresh: ts is above every timestamp issued when the client sent the
// command m belongs to.
func (o *oracles) checkFresh(from *machine, m actors.Msg, ts uint64) {
	a, ok := from.node.(*api.API)
	if !ok || a == nil {
		return
	}
	client, id, ok := a.Origin(m)
	if !ok {
		return
	}
	if issued, ok := o.invoked[clientKey{client, id}]; ok && ts <= issued {
		o.violate(OracleReadTS, "%s sent %s's command %d at ts %d, though ts %d had been issued before the client sent it",
			from.addr, client, id, ts, issued)
	}
}

// readServed runs the read-ts checks when a data server serves a read.
func (o *oracles) readServed(from *machine, to actors.Addr, x *wire.ReadReply) {
	k := readKey{to, x.Incarnation, x.Id, x.Shard}
	keys, known := o.reads[k]
	delete(o.reads, k)
	if known && len(keys) == 0 && x.Reply.GetKind() == wire.Reply_ARRAY {
		o.w.faults[CountResolverLocks] += len(x.Reply.Array) // TxnLocks: DBSIZE answers a count
	}
	s := server(from)
	if s == nil || x.Ts == 0 || !known || len(keys) == 0 || x.Reply.GetKind() == wire.Reply_ERROR {
		// Not a read of keys at its timestamp: an error, or DBSIZE (which
		// counts the newest committed state), or one whose Read was not
		// seen.
		return
	}
	views := s.Inspect()
	i := slices.IndexFunc(views, func(v data.ReplicaView) bool { return v.Shard == x.Shard })
	if i < 0 || !views[i].Primary {
		return // not a primary (canary read-secondary): the lease oracle's business
	}
	v := views[i]
	w := o.tsWatchOf(from, x.Shard)
	prev := uint64(0)
	if n := len(w.served); n > 0 {
		prev = w.served[n-1].maxTS
	}
	w.served = append(w.served, servedRead{v.LastSeq, max(prev, x.Ts), v.Config.GetVersion()})
	for _, k := range keys {
		if l := s.Locked(x.Shard, k); l != nil && l.StartTs <= x.Ts && !data.ReadPasses(l, x.Ts) {
			o.violate(OracleReadTS, "shard %d: %s served a read at ts %d of %q, which holds the lock of a transaction that started at %d (primary key %q)",
				x.Shard, from.addr, x.Ts, k, l.StartTs, l.Primary)
			return
		}
	}
	for _, e := range s.Uncommitted(x.Shard) {
		if e.CommitTs > x.Ts || e.Kind == wire.Entry_BARRIER {
			continue
		}
		hit := e.Kind == wire.Entry_FLUSH
		for _, wr := range e.Writes {
			if wr.LockOnly {
				continue // a lock: the txn-lock check below
			}
			hit = hit || slices.ContainsFunc(keys, func(k []byte) bool { return string(k) == string(wr.Key) })
		}
		if hit {
			o.violate(OracleReadTS, "shard %d: %s served a read at ts %d of %q while entry %d, which writes it at ts %d, was not committed (commit point %d)",
				x.Shard, from.addr, x.Ts, keys, e.Seq, e.CommitTs, v.CommitSeq)
			return
		}
	}
}

// prepareSent checks rule commit-ts on the entries a primary sends.
func (o *oracles) prepareSent(from *machine, p *wire.Prepare) {
	w := o.tsWatchOf(from, p.GetConfig().GetShard())
	if len(w.served) == 0 {
		return
	}
	for _, e := range p.Entries {
		if e.Seq <= w.checked || e.Kind != wire.Entry_FLUSH && len(e.Writes) == 0 {
			continue
		}
		if e.Kind == wire.Entry_TXN {
			// A transaction commits at the timestamp its coordinator
			// fetched once every key was locked; reads of its keys met the
			// locks (checked where reads are served).
			w.checked = e.Seq
			continue
		}
		w.checked = e.Seq
		// The reads served while the log ended before e.
		j := sort.Search(len(w.served), func(i int) bool { return w.served[i].seq >= e.Seq })
		if j > 0 && e.CommitTs <= w.served[j-1].maxTS {
			o.violate(OracleReadTS, "shard %d: %s sequenced entry %d (version %d) at commit ts %d after it served a read at ts %d (log at %d, version %d)",
				p.Config.Shard, from.addr, e.Seq, e.Version, e.CommitTs, w.served[j-1].maxTS, w.served[j-1].seq, w.served[j-1].version)
		}
	}
}

func (o *oracles) tsWatchOf(m *machine, shard uint32) *tsWatch {
	k := tsWatchKey{m, m.incarnation, shard}
	w := o.tsWatches[k]
	if w == nil {
		w = &tsWatch{}
		o.tsWatches[k] = w
	}
	return w
}
