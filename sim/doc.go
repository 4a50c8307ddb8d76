// Package sim is castkv's deterministic simulator. It runs the real roles
// (castkv/actors/...) on one goroutine against virtual time: an event heap
// ordered by (time, sequence), one PRNG seeded from the run's seed, every
// message encoded and decoded on its way, pebble on a crashable in-memory
// filesystem. It injects faults (loss, duplication, delay, partitions,
// clogging, crashes, pauses, clock drift), drives simulated clients that
// record a porcupine history, and at the end heals everything, restarts
// every machine, reads every key back and checks the history (castkv/checker).
//
// Same seed, same code: same trace. Result.Trace hashes every delivered
// event (virtual time, from, to, message bytes).
package sim
