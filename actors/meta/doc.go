// Package meta is the metadata server role: the one authority on each
// shard's config (version, primary, secondaries, learners), the failure
// detector and the source of primary leases.
//
// Rules it implements (README, "Design"):
//
//   - Every config change is a compare-and-swap on the version and is synced
//     to pebble before anyone hears of it.
//   - Lease: a grant names (config version, heartbeat id); the primary
//     measures it from when it sent that heartbeat. Meta counts from the last
//     grant it sent. Once it suspects a primary it grants that version
//     nothing more and promotes only after leaseTimeout·(1+ρ)/(1−ρ).
//   - After its own restart meta promotes nothing for that same span, since
//     leases are not persisted.
//   - Promotion picks the live secondary with the highest persisted
//     (last version, last seq). Any secondary holds every committed entry,
//     because an entry commits only when every member has it.
//   - A live data server that is not a member of a shard short of replicas
//     joins as a learner; the primary asks for its promotion once it caught up.
package meta
