// Package data is the data server role: it holds replicas of shards in one
// pebble store and, for each shard, acts as primary or secondary (or learner)
// as meta's config says.
//
// Protocol rules (README, "Design"), each named where the code applies it:
//
//   - persist-before-prepare: the primary syncs an entry before it sends
//     Prepare; a replica acks only a synced, matching prefix of its log.
//   - commit-all: an entry commits when every replica of the current config
//     (and every learner the primary is promoting) acked it and all before it.
//   - sequenced-eval: the primary evaluates a command against every entry
//     before it, committed or not (the overlay), never against committed
//     state alone.
//   - lease-read: reads are served by the primary only, only from committed
//     state, only while its lease is valid and after its barrier committed.
//   - barrier: on becoming primary of a config version, and on restart, the
//     primary appends a barrier entry and serves nothing until it commits;
//     committing it commits every earlier entry in the new primary's log.
//   - log-matching: entries carry the config version that proposed them; a
//     replica whose entry at prev_seq differs answers with its commit point
//     (the committed prefix never conflicts) and truncates the conflicting
//     suffix when the primary resends.
//   - exactly-once: an entry records its op id and result; a retried op gets
//     the recorded result. Records of ops below the API's watermark expire.
//   - stale-config: every message carries a config version; older ones are
//     refused with the newer config.
package data
