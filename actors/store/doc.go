// Package store is castkv's storage layout: how the meta and data roles keep
// configs, replication logs, versioned data, lock records and small meta
// records in the one pebble DB each process owns.
//
// Store reads through the *pebble.DB it is given, so reads see every written
// Batch, durable or not. Durability is an effect a role asks for: Store.Write
// returns a point, Store.Persist asks the runtime to make everything up to it
// durable, and the runtime answers with a wire.Persisted message (one sync
// for all requests made while the previous one ran: group commit).
// WriteSync is for rare records that must be durable before a role acts on
// them (configs). Anything else may be lost in a crash. The package is
// deterministic (no goroutines, clock or randomness) so it can run
// inside actors; opening pebble belongs to the runtimes, which take their
// pebble.Options from Options.
//
// # Key layout
//
// Every key starts with one byte naming its record type. Integers are
// big-endian and fixed-width, so numeric order is byte order and a shard's
// records of one type are contiguous.
//
//	'c' shard                      -> wire.Config (deterministic proto)
//	'l' shard seq                  -> wire.Entry  (deterministic proto)
//	'a' shard                      -> applied seq, u64
//	'd' shard escaped-key ^ts      -> kind byte + value
//	'k' shard escaped-key          -> lock record (opaque bytes)
//	'f' shard                      -> flush marker ts, u64
//	'n' shard                      -> live key count, u64 (ApplyBatch)
//	'b' shard                      -> live bytes, u64 (ApplyBatch)
//	's' shard                      -> slot range: u32 start, u32 end (split.go)
//	'p' shard                      -> log start: u64 seq, u64 config version
//	'e' shard                      -> exactly-once table (opaque bytes)
//	'i' shard                      -> snapshot install under way (empty)
//	't' shard escaped-key start_ts -> transaction record (opaque bytes)
//	'm' name                       -> meta role record (opaque bytes)
//	'r' index                      -> meta group raft entry (opaque bytes)
//
// shard is a u32, seq and ts are u64. A data record's value is one kind byte,
// 0x01 (value: the user value follows) or 0x02 (tombstone: nothing follows).
//
// User keys are escaped: each 0x00 byte becomes 0x00 0xFF and the key ends
// with the terminator 0x00 0x01. The escaping preserves the order of user keys
// and no escaped key is a prefix of another, so all versions of a key are
// contiguous and never interleave with a longer key that shares its bytes
// ("a" and "a\x00b" stay apart). Versions are keyed by ^ts, the bitwise
// complement of their timestamp, so the newest version of a key sorts first
// and "newest version at or below readTS" is one SeekGE to ^readTS.
//
// # Versions and the flush marker
//
// A key's value at readTS is its newest version with ts <= readTS; it is
// absent if there is none, if that version is a tombstone, or if its ts is at
// or below the shard's flush marker (FLUSHALL/FLUSHDB at commit_ts: everything
// with ts <= the marker is gone). Timestamp 0 is reserved: an absent marker
// reads as 0, so no version may carry ts 0. A read below the marker therefore
// sees an empty shard; refusing such reads (the safe point rule in the
// design's Transactions section) is the role's job, not the store's.
//
// Lock records ('k') and transaction records ('t') belong to transactions
// across shards (txn.go); the store keeps them opaque, as part of the
// applied state.
package store
