// Package sim is castkv's deterministic simulator. It runs the real roles
// (castkv/actors/...) on one goroutine against virtual time: an event heap
// ordered by (time, sequence), one PRNG seeded from the run's seed, every
// message encoded and decoded on its way, pebble on a crashable in-memory
// filesystem (memfs.go). Like FoundationDB's BUGGIFY, each run draws its
// knobs from its seed (knobs.go): the roles' timeouts and limits within the
// bounds the protocol needs, the workload (1-40 clients, 2-50 keys, empty
// to multi-MiB values) and the fault mix. It injects faults (loss,
// duplication, delay, partitions, clogging, crashes, pauses, clock drift,
// messages reaching a receiver's next incarnation, API crash loops, slow
// fsync, pauses longer than a lease, and faults timed to the protocol in
// timed.go: at a promotion, a config change, a lease's last grant, a
// failover, and an API restart with a read reply on its way), drives simulated clients that record a porcupine history, and
// at the end heals everything, restarts every machine, reads every key
// back and checks the history (castkv/checker).
//
// Oracles (oracle.go) check global safety after every step, using what
// only the simulator knows: true time and every node's state, disk
// included. "committed-prefix agreement": no two replicas hold different
// entries at a seq at or below both of their commit points.
// "commit-all": when a primary advances its commit point, and when meta
// installs a config, every member counted for commit durably holds the
// committed entries (a crashed machine's disk is what counts). "single
// lease": when meta installs a new primary, and when a replica serves (an
// OK read, a write sequenced or answered at once), no other replica holds a
// lease valid in true time. "applied-state agreement", at the end of the
// run: replicas at the same applied seq hold the same applied data,
// however each got there (its log, a snapshot, a restart); "applied-state
// shape": every replica's applied data has one version per key and a
// matching live key count. A violated
// oracle fails the run like a
// linearizability violation (Result.Oracles), even when no client saw it.
//
// Same seed, same code: same trace. Result.Trace hashes every delivered
// event (virtual time, from, to, message bytes); Result.Knobs is what the
// seed drew.
package sim
