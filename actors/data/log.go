package data

import (
	"fmt"

	"castkv/actors/store"
	"castkv/actors/wire"
	"google.golang.org/protobuf/proto"
)

// replicaLog is one replica's log, shaped like etcd raft's raftLog: every
// entry is in pebble, the newest ones are also in memory, and durability is
// learned, not done. The role appends and truncates through a batch, writes
// it (visible at once, not durable), and asks the runtime to persist; the
// runtime's Persisted answer moves the durable point. Entries appended in
// this incarnation stay in memory until they are applied and the memory
// bound pushes them out, so the commit path and the Prepares to peers that
// keep up never read back what the role wrote. Older entries (a lagging
// peer's catch-up, recovery) are read from pebble.
type replicaLog struct {
	st    *store.Store
	shard uint32

	// The log holds the entries after start: those up to it were compacted
	// away (their effects are in the applied state). startVersion is the
	// config version of the entry at start, for log-matching there.
	start, startVersion   uint64
	last, lastVersion     uint64 // the newest entry, maybe not durable
	synced, syncedVersion uint64 // durable through here (Persisted)

	// mem holds the entries [last-len(mem)+1, last], with their encoded
	// sizes: every entry not yet durable, and durable ones until they are
	// applied and memBytes passes maxMemBytes.
	mem         []*wire.Entry
	memSizes    []int
	memBytes    int
	maxMemBytes int
	// unappliedBytes: the encoded size of the entries in memory that are
	// not applied yet, which the primary bounds (MaxUncommittedBytes).
	unappliedBytes int

	// marks are writes waiting for Persisted, oldest first: once point is
	// durable, the log is durable through seq. A truncation lowers the seq
	// of every mark at or past it.
	marks []persistMark

	// versions knows the config version of every entry in [start, last]
	// without reading pebble, as raft keeps terms: a Prepare names the
	// version of the entry before it, and reading that entry back to learn
	// it meant reading (and decoding) its values, 60 MB for a large one.
	versions versionRuns
}

// versionRuns is the config versions of a log, run-length coded: runs[i]
// says the entries from runs[i].from on have runs[i].version, up to the
// next run. Versions never decrease along a log, so there are as many runs
// as config changes the log has seen since its start, a handful.
type versionRuns struct {
	runs []versionRun
}

type versionRun struct{ from, version uint64 }

// reset starts the runs over: the log is [seq, seq], seq having version.
func (v *versionRuns) reset(seq, version uint64) {
	v.runs = append(v.runs[:0], versionRun{seq, version})
}

// at is the version of the entry at seq, which the caller knows is in the
// log (at or after the first run).
func (v *versionRuns) at(seq uint64) uint64 {
	i := len(v.runs) - 1
	for i > 0 && v.runs[i].from > seq {
		i--
	}
	return v.runs[i].version
}

// extend records that the entry at seq, appended at the end, has version.
func (v *versionRuns) extend(seq, version uint64) {
	if last := v.runs[len(v.runs)-1]; last.version != version {
		v.runs = append(v.runs, versionRun{seq, version})
	}
}

// cut forgets the entries from seq on (a truncated suffix).
func (v *versionRuns) cut(seq uint64) {
	for len(v.runs) > 1 && v.runs[len(v.runs)-1].from >= seq {
		v.runs = v.runs[:len(v.runs)-1]
	}
}

// drop forgets the entries before seq (a compacted prefix); seq becomes
// the first entry known.
func (v *versionRuns) drop(seq uint64) {
	version := v.at(seq)
	i := 0
	for i+1 < len(v.runs) && v.runs[i+1].from <= seq {
		i++
	}
	v.runs = append(v.runs[:0], v.runs[i:]...)
	v.runs[0] = versionRun{seq, version}
}

type persistMark struct{ point, seq uint64 }

// newReplicaLog opens a shard's log as pebble holds it: after a restart
// everything there was synced, and nothing is in memory.
func newReplicaLog(st *store.Store, shard uint32, maxMemBytes int) (*replicaLog, error) {
	l := &replicaLog{st: st, shard: shard, maxMemBytes: maxMemBytes}
	var err error
	if l.start, l.startVersion, err = st.LogStart(shard); err != nil {
		return nil, err
	}
	l.last, l.lastVersion = l.start, l.startVersion
	e, err := st.LastEntry(shard)
	if err != nil {
		return nil, err
	}
	if e != nil && e.Seq > l.start {
		l.last, l.lastVersion = e.Seq, e.Version
	}
	l.synced, l.syncedVersion = l.last, l.lastVersion
	l.versions.reset(l.start, l.startVersion)
	if err := l.learnVersions(l.start, l.startVersion, l.last, l.lastVersion); err != nil {
		return nil, err
	}
	l.versions.extend(l.last, l.lastVersion)
	return l, nil
}

// learnVersions fills in the runs of the stored entries (lo, hi) between
// two it knows, by bisection: a log that has seen k config changes costs
// about k·log(hi-lo) reads of an entry's version, once, at open.
func (l *replicaLog) learnVersions(lo, loVersion, hi, hiVersion uint64) error {
	if loVersion == hiVersion || hi-lo < 2 {
		return nil
	}
	mid := lo + (hi-lo)/2
	v, err := l.st.EntryVersion(l.shard, mid)
	if err != nil {
		return err
	}
	if err := l.learnVersions(lo, loVersion, mid, v); err != nil {
		return err
	}
	l.versions.extend(mid, v)
	return l.learnVersions(mid, v, hi, hiVersion)
}

// memFirst is the seq of the oldest entry in memory (last+1 when none).
func (l *replicaLog) memFirst() uint64 { return l.last + 1 - uint64(len(l.mem)) }

// entry returns the entry at seq, nil if the log has none there (beyond
// its end, or compacted).
func (l *replicaLog) entry(seq uint64) *wire.Entry {
	if seq <= l.start || seq > l.last {
		return nil
	}
	if first := l.memFirst(); seq >= first {
		return l.mem[seq-first]
	}
	e, err := l.st.Entry(l.shard, seq)
	l.must(err, "read log entry %d", seq)
	return e
}

// versionAt is the config version of the entry at seq (0 if none).
func (l *replicaLog) versionAt(seq uint64) uint64 {
	if seq < l.start || seq > l.last {
		return 0
	}
	return l.versions.at(seq)
}

// entries returns the entries [from, to] in order, within maxBytes of
// encoded size except that the first is returned whatever its size (as
// raft's limitSize does), so a caller always makes progress. Asking for a
// compacted entry is a bug: the caller sends a snapshot instead.
func (l *replicaLog) entries(from, to uint64, maxBytes int) []*wire.Entry {
	to = min(to, l.last)
	if from <= l.start && from <= to {
		panic(fmt.Sprintf("data: shard %d: log entries from %d asked for, but the log starts after %d", l.shard, from, l.start))
	}
	var out []*wire.Entry
	total := 0
	first := l.memFirst()
	if from < first {
		es, err := l.st.Entries(l.shard, from, min(to, first-1), maxBytes)
		l.must(err, "read log [%d, %d]", from, min(to, first-1))
		for _, e := range es {
			total += proto.Size(e)
		}
		out = es
		if len(es) == 0 || es[len(es)-1].Seq < min(to, first-1) || total >= maxBytes {
			return out
		}
		from = first
	}
	for seq := from; seq <= to; seq++ {
		i := seq - first
		if total += l.memSizes[i]; len(out) > 0 && total > maxBytes {
			break
		}
		out = append(out, l.mem[i])
	}
	return out
}

// forEach calls fn for each entry in [from, to], in order, reading pebble
// a few MiB at a time. Every one of them must be in the log: a gap is a
// broken invariant (entries lost or compacted before they were applied).
func (l *replicaLog) forEach(from, to uint64, fn func(*wire.Entry)) {
	for from <= to {
		es := l.entries(from, to, 4<<20)
		if len(es) == 0 || es[0].Seq != from {
			panic(fmt.Sprintf("data: shard %d: log entry %d missing (log (%d, %d])", l.shard, from, l.start, l.last))
		}
		for _, e := range es {
			fn(e)
		}
		from = es[len(es)-1].Seq + 1
	}
}

// compact drops the entries through seq (applied, and held by every
// replica that might need them from us) from pebble, in b, and from memory.
func (l *replicaLog) compact(b *store.Batch, seq uint64) {
	if seq <= l.start {
		return
	}
	version := l.versionAt(seq)
	l.versions.drop(seq)
	b.TruncateLogPrefix(l.shard, seq)
	if first := l.memFirst(); seq >= first {
		drop := int(seq - first + 1)
		for _, n := range l.memSizes[:drop] {
			l.memBytes -= n
		}
		clear(l.mem[:drop])
		l.mem, l.memSizes = l.mem[drop:], l.memSizes[drop:]
	}
	l.start, l.startVersion = seq, version
}

// reset empties the log for a snapshot install: it will start after seq,
// whose entry had version, once the install is written; nothing of it is
// durable until then (the next write's Persisted).
func (l *replicaLog) reset(seq, version uint64) {
	clear(l.mem)
	l.mem, l.memSizes, l.memBytes, l.unappliedBytes = l.mem[:0], l.memSizes[:0], 0, 0
	l.start, l.startVersion = seq, version
	l.last, l.lastVersion = seq, version
	l.synced, l.syncedVersion = 0, 0
	l.marks = l.marks[:0]
	l.versions.reset(seq, version)
}

// append adds e at the end of the log, in b and in memory.
// Invariant: config versions never decrease along the log (log-matching).
func (l *replicaLog) append(b *store.Batch, e *wire.Entry) {
	if e.Seq != l.last+1 {
		panic(fmt.Sprintf("data: shard %d: appending entry %d after %d", l.shard, e.Seq, l.last))
	}
	if e.Version < l.lastVersion {
		panic(fmt.Sprintf("data: shard %d: entry %d has config version %d after version %d at %d; log versions must not decrease",
			l.shard, e.Seq, e.Version, l.lastVersion, l.last))
	}
	b.AppendEntry(l.shard, e)
	n := proto.Size(e)
	l.mem = append(l.mem, e)
	l.memSizes = append(l.memSizes, n)
	l.memBytes += n
	l.unappliedBytes += n
	l.last, l.lastVersion = e.Seq, e.Version
	l.versions.extend(e.Seq, e.Version)
}

// truncate drops the entries from seq on: in b (unless skip, the canary
// that leaves pebble's tail in place) and in memory. What was durable of
// them no longer counts.
func (l *replicaLog) truncate(b *store.Batch, seq uint64, skip bool) {
	if seq > l.last {
		return
	}
	if seq <= l.start {
		panic(fmt.Sprintf("data: shard %d: truncating the log from %d, but it starts after %d (compacted entries are applied)", l.shard, seq, l.start))
	}
	if !skip {
		b.TruncateLog(l.shard, seq)
	}
	prevVersion := l.versionAt(seq - 1)
	l.versions.cut(seq)
	if first := l.memFirst(); seq >= first {
		keep := int(seq - first)
		for _, n := range l.memSizes[keep:] {
			l.memBytes -= n
			l.unappliedBytes -= n // a truncated entry was never committed
		}
		clear(l.mem[keep:])
		l.mem, l.memSizes = l.mem[:keep], l.memSizes[:keep]
	} else {
		clear(l.mem)
		l.mem, l.memSizes, l.memBytes, l.unappliedBytes = l.mem[:0], l.memSizes[:0], 0, 0
	}
	l.last, l.lastVersion = seq-1, prevVersion
	if l.synced > l.last {
		l.synced, l.syncedVersion = l.last, l.lastVersion
	}
	for i := range l.marks {
		l.marks[i].seq = min(l.marks[i].seq, l.last)
	}
}

// write applies b (visible at once, not durable) and remembers that the
// log through its end becomes durable with b's point. With persist it asks
// the runtime for that now; otherwise a later request covers it.
func (l *replicaLog) write(b *store.Batch, persist bool) {
	point, err := l.st.Write(b)
	l.must(err, "write the log through %d", l.last)
	l.marks = append(l.marks, persistMark{point: point, seq: l.last})
	if persist {
		l.st.Persist(point)
	}
}

// persisted takes the runtime's word that every write through point is
// durable; it reports whether the durable end of the log moved.
func (l *replicaLog) persisted(point uint64) bool {
	n := 0
	var seq uint64
	for n < len(l.marks) && l.marks[n].point <= point {
		seq = l.marks[n].seq
		n++
	}
	if n == 0 {
		return false
	}
	l.marks = append(l.marks[:0], l.marks[n:]...)
	if seq <= l.synced {
		return false
	}
	l.synced, l.syncedVersion = seq, l.versionAt(seq)
	return true
}

// applied notes that the entries (from, to] were applied.
func (l *replicaLog) applied(from, to uint64) {
	first := l.memFirst()
	for seq := max(from+1, first); seq <= to && seq <= l.last; seq++ {
		l.unappliedBytes -= l.memSizes[seq-first]
	}
}

// release lets memory go of durable entries at or below applied, oldest
// first, while the entries in memory pass maxMemBytes.
func (l *replicaLog) release(applied uint64) {
	drop := 0
	for drop < len(l.mem) && l.memBytes > l.maxMemBytes {
		if seq := l.mem[drop].Seq; seq > applied || seq > l.synced {
			break
		}
		l.memBytes -= l.memSizes[drop]
		drop++
	}
	if drop > 0 {
		clear(l.mem[:drop])
		l.mem, l.memSizes = l.mem[drop:], l.memSizes[drop:]
	}
}

func (l *replicaLog) must(err error, format string, args ...any) {
	if err != nil {
		panic(fmt.Sprintf("data: shard %d: %s: %v", l.shard, fmt.Sprintf(format, args...), err))
	}
}
