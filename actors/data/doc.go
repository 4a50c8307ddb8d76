// Package data is the data server role: it holds replicas of shards in one
// pebble store and, for each shard, acts as primary or secondary (or learner)
// as meta's config says.
//
// Protocol rules (README, "Design"), each named where the code applies it:
//
//   - durable-before-ack: persistence is an effect (log.go). A replica
//     writes its log and asks the runtime to persist; it acks only a
//     prefix the runtime reported durable (Persisted) and that matches the
//     primary's log. The primary sends Prepare as soon as an entry is
//     sequenced and persists it in parallel; commands that arrive together
//     share one write, one sync and one Prepare per peer (flush).
//
//   - commit-all: an entry commits when every replica of the current config,
//     the primary included (its own Persisted), and every learner the
//     primary is promoting hold it and all before it durably.
//     A learner is proposed for promotion once it holds every committed
//     entry; from then on the primary counts it, so entries in flight wait
//     for it too. A peer receiving a large Prepare gets the time the bytes
//     take at TransferBytesPerSecond before its silence counts as failure.
//
//   - sequenced-eval: the primary evaluates a command against every entry
//     before it, committed or not (the overlay), never against committed
//     state alone.
//
//   - lease-read: reads are served by the primary only, only from committed
//     state, only while its lease is valid and after its barrier committed.
//
//   - commit-ts, read-ts, ts-floor (timestamps.go): every Commit and Read
//     carries a TSO timestamp. An entry with writes commits at max(its
//     timestamp, the largest read timestamp served + 1, the previous
//     entry's commit_ts). A read at t sees exactly the entries committing at
//     or below t: it waits for a sequenced write of its key committing at
//     or below t, and is refused TS_TOO_OLD when a key holds a version newer
//     than t or was deleted above t (keys keep one version). A lease grant
//     carries a timestamp; a primary commits above it and, until its first
//     grant, knows no deletion time.
//
//   - txn-lock, txn-conflict, txn-rollback (txn.go): transactions across
//     shards lock their keys (TxnPrewrite), commit them through the primary
//     key (TxnCommit) and are checked there (TxnCheck). A read at t meeting
//     a committed lock started at or below t is refused LOCKED (but for a
//     keep lock, a MULTI block's read key, within its TTL); a 1PC write of
//     a locked key is refused too. A prewrite is refused above a version,
//     deletion or FLUSH newer than its start. A primary key rolled back
//     keeps a record, so a late prewrite cannot lock it again, and a
//     commit naming it commits nothing once it was rolled back.
//
//   - handover: a primary meta asks to Surrender its version's lease stops
//     serving at once (its lease is dropped), refuses every later grant for
//     that version (one may still be on its way), and answers; meta then
//     promotes a secondary without waiting the lease out. Entries already
//     sequenced still commit, since the successor must hold them too.
//
//   - barrier: on becoming primary of a config version the primary appends
//     a barrier entry and serves nothing until it commits; committing it
//     commits every earlier entry in the new primary's log.
//
//   - restart-through-meta: a primary that restarts does not serve its old
//     version again: what it promised in memory (a learner it counted while
//     asking meta to promote it) died with the process. Its heartbeat says
//     it is not acting as primary; meta moves the shard to a new version
//     (compare-and-swap), which makes every request of the old version
//     stale, and the replica becomes primary through that version's barrier.
//
//   - lease: meta grants a lease on a heartbeat reply naming the process
//     (a random incarnation per start) and the heartbeat id; the primary
//     measures it from when it sent that heartbeat. Each heartbeat tells
//     meta whether the primary holds a lease, so lost grants fail it over.
//
//   - log-matching: entries carry the config version that proposed them; a
//     replica whose entry at prev_seq differs answers with its commit point
//     (the committed prefix never conflicts: a conflict there panics) and
//     truncates the conflicting suffix when the primary resends. A
//     truncation is written in the same batch as what follows it, never
//     left in memory only.
//
//   - compaction: after applying, a replica drops the log entries through a
//     point every replica of its config holds durably (a primary knows its
//     peers' acks; secondaries get it as compact_seq) once CompactEvery of
//     them piled up, saving the exactly-once table with the applied state;
//     it keeps at most MaxLogEntries applied entries for a replica that
//     lags further. A peer whose next entry the primary no longer holds is
//     first asked whether its log holds the primary's log start (a
//     Prepare after it; the nack echoes prev_seq), and only if not gets a
//     snapshot of the applied state: one chunk in flight, each within
//     MaxPrepareBytes unless a record is larger, acked when installed and
//     durable. Only learners install one: an install drops what the
//     replica holds before the snapshot is whole, so a secondary (counted
//     for commit) never does; the compaction point keeps it from needing
//     one. An install cut off by a crash is dropped at restart.
//
//   - removed-deletes: a replica that meta leaves out of the config deletes
//     its log and applied state (every committed entry is on the replicas
//     that remain); meta may add it back as a learner.
//
//   - one-version: each write names the version it replaces, whether the
//     key was live and its value's length, as the primary found them in
//     the sequenced state, so applying keeps one version per key and the
//     live key and byte counts without reading anything, identically on
//     every replica. The replica keeps the counts in memory too; a primary
//     reports them on its heartbeats with the commands it served and bytes
//     it wrote per second (load.go), for meta and castd admin status.
//
//   - split-fence: a config whose range shrank (meta split the shard)
//     makes its primary's barrier a split barrier, unless its log already
//     holds the split; every replica applying it moves the child's records
//     under the child's id, with the parent's applied point, and starts
//     the child if its config names it. From that barrier on the primary
//     sequences and serves no key outside its config's range (STALE_CONFIG).
//     A split-born replica that holds nothing yet accepts only a snapshot
//     (split.go).
//
//   - gc-safe-point: meta's lease grants carry a safe point and a gc
//     point; the primary puts them in the log, at most once per GCEvery.
//     Prewrites below the safe point are refused; applying drops the
//     transaction records below the gc point, and a commit that finds
//     neither lock nor record below it answers UNCERTAIN. The primary
//     reports its lock floor (gc.go).
//
//   - back-pressure: a primary refuses Commits (BUSY, -TRYAGAIN) beyond
//     MaxUncommitted entries or MaxUncommittedBytes not yet applied; a
//     single entry of any size still goes when nothing waits.
//
// Invariants checked where state changes (a violation panics, which the
// simulator reports as a failed run): acked ≤ durable; commit ≤ durable on
// every replica (a learner follows the primary's commit point only as far
// as it holds the log durably); applied = commit; config versions never
// decrease along the log (checked on append and on recovery); commit
// timestamps of entries with writes never decrease along the log, except a
// transaction's, which commits above every version it replaces instead
// (both checked on apply); no lock starts below the gc point a replica
// applies (gc-below-locks); a replica serves only as primary, with a valid
// lease, after its barrier committed.
//   - exactly-once: an entry records its op id and result; a retried op gets
//     the recorded result. Records of ops below the API's watermark expire.
//     Sessions (API incarnations) are issued by meta in increasing order;
//     when the table forgets the idlest, every session up to it counts as
//     forgotten, and their ops answer "session expired", never run again.
//   - abort: a Commit with abort set settles its op: one found in the
//     exactly-once table answers its result; one not found gets an entry of
//     its own with no writes and the aborted result, so any copy of the op
//     arriving later finds that record and never runs. An op a deposed
//     primary sequenced but did not replicate is truncated by the next
//     primary's barrier, so it cannot run either.
//   - stale-config: every message carries a config version; older ones are
//     refused with the newer config.
package data
