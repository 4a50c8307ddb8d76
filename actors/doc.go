// Package actors holds castkv's roles as deterministic state machines: meta
// (the cluster map, failure detection, leases), data (the replicas of a
// shard) and api (the client front door). Subpackages:
//
//	wire     the wire schema: every message, in wire.proto
//	command  parsing and validating client commands, reply shapes
//	store    the storage layout in pebble (log, configs, versioned data)
//	meta, data, api   the roles
//
// A role sees the world only through Env: its clock, its timers, the
// network, a seeded PRNG and its pebble store. The same code therefore runs
// in the seeded simulator (castkv/sim) and as daemons over TCP (castkv/net).
// The determinism rules (no goroutines, channels, wall clock, global rand or
// map order reaching an output) are enforced by determinism_test.go, which
// reads this tree's source.
package actors
