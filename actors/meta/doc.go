// Package meta is the metadata role: the one authority on each shard's
// config (version, primary, secondaries, learners), the failure detector and
// the source of primary leases. It runs as a raft group (go.etcd.io/raft's
// RawNode, inside the actor: raft.go says what the actor adds to raft), and
// only the group's leader acts; the other members redirect data and API
// servers to it.
//
// Rules it implements (README, "The meta group" and "Design"):
//
//   - Every config change is a compare-and-swap on the version, committed
//     by a majority of the members (synced to their pebble) before anyone
//     hears of it. So are the blocks of exactly-once session ids a leader
//     issues from, so no id repeats across restarts and leaders.
//   - Lease: a grant names (config version, heartbeat id); the primary
//     measures it from when it sent that heartbeat. The leader counts from
//     the last grant it sent. Once it suspects a primary it grants that
//     version nothing more and promotes only after leaseTimeout·(1+ρ)/(1−ρ).
//   - Leases across leaders: grants are not in the log. A leader grants only
//     within half an election timeout of a majority confirming it leads, and
//     a member that heard from a leader refuses votes for an election
//     timeout, so every grant of an old leader precedes the next election; a
//     new leader (and a restarted one) counts its election as the last grant
//     of every shard.
//   - Promotion picks the live secondary with the highest persisted
//     (last version, last seq) among those heard from since the primary
//     became suspect. Any secondary holds every committed entry, because
//     an entry commits only when every member has it. When no other
//     secondary is left, the old primary stays in the new version as a
//     secondary (it holds every committed entry too), until the new
//     primary removes it for silence.
//   - Repair: a learner silent for ReplaceAfter leaves its shards, so
//     that a spare data server joins as a learner in its place; silent
//     secondaries are removed by their primary (data's RemoveAfter).
//   - Timestamps (tso.go): the leader issues strictly increasing
//     timestamps from a window it reserved in the log above the group's
//     persisted limit, only while confirmed as leader; each lease grant
//     carries one.
//   - A new cluster's shards split the hash slots into Config.Shards
//     ranges, placed by actors/cluster.
//   - A live data server that is not a member of a shard short of replicas
//     joins as a learner; the primary asks for its promotion once it caught up.
//   - Data servers (balance.go): a data server is registered, in the log,
//     by its first heartbeat; only registered servers not being drained
//     receive replicas. The leader's balancer makes one change at a time,
//     while every shard is settled: drop the surplus member of a shard whose
//     learner was promoted, move members off draining servers, then even
//     out replicas and primaries (within one) over the live servers. A
//     replica moves as a learner added on the target; a primary moves by a
//     fenced handover: no more grants, Surrender, and the target promoted
//     only once the old primary surrendered or its last lease surely ran
//     out.
package meta
