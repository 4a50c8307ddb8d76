package api

import (
	"fmt"
	"strings"

	"castkv/actors/cluster"
	"castkv/actors/command"
	"castkv/actors/wire"
)

// The operator's view of the cluster map, as this API server holds it
// (refreshed every RefreshEvery and on stale refusals): CLUSTER INFO and
// CLUSTER SHARDS in Redis Cluster's shapes, with castkv's meaning. A shard
// is a slot range and its replicas; its nodes are data servers, named by
// their cluster addresses, which speak castkv's cluster protocol, not RESP.
// So no node carries an "ip" or "port" a cluster-aware client would dial:
// clients keep using the one endpoint they have.

// clusterReply answers CLUSTER INFO or CLUSTER SHARDS.
func (a *API) clusterReply(cmd *command.Command) *wire.Reply {
	if cmd.Kind == command.ClusterShards {
		return a.clusterShards()
	}
	return command.Bulk([]byte(a.clusterInfo()))
}

// clusterInfo is CLUSTER INFO's text: every slot assigned to a shard with a
// known primary is "ok".
func (a *API) clusterInfo() string {
	cs := a.shards.Configs()
	var assigned, ok int
	var epoch uint64
	servers := map[string]bool{}
	for _, c := range cs {
		start, end := cluster.SlotRange(c)
		n := int(end - start)
		assigned += n
		if c.Primary != "" {
			ok += n
		}
		epoch = max(epoch, c.Version)
		for _, s := range members(c) {
			servers[s] = true
		}
	}
	state := "ok"
	if !a.shards.Covered() || ok < assigned {
		state = "fail"
	}
	var b strings.Builder
	for _, f := range [][2]any{
		{"cluster_state", state},
		{"cluster_slots_assigned", assigned},
		{"cluster_slots_ok", ok},
		{"cluster_slots_pfail", 0},
		{"cluster_slots_fail", assigned - ok},
		{"cluster_known_nodes", len(servers)},
		{"cluster_size", len(cs)},
		{"cluster_current_epoch", epoch},
		{"cluster_my_epoch", 0},
	} {
		fmt.Fprintf(&b, "%s:%v\r\n", f[0], f[1])
	}
	return b.String()
}

// clusterShards is CLUSTER SHARDS: for each shard its slot range
// (inclusive, as Redis gives it), castkv's shard id and config version, and
// its nodes: the primary ("master"), the secondaries ("replica", online)
// and the learners ("replica", still loading).
func (a *API) clusterShards() *wire.Reply {
	var out []*wire.Reply
	bulk := func(s string) *wire.Reply { return command.Bulk([]byte(s)) }
	for _, c := range a.shards.Configs() {
		start, end := cluster.SlotRange(c)
		var nodes []*wire.Reply
		node := func(addr, role, health string) {
			nodes = append(nodes, command.Array(bulk("id"), bulk(addr), bulk("endpoint"), bulk(addr),
				bulk("role"), bulk(role), bulk("health"), bulk(health)))
		}
		if c.Primary != "" {
			node(c.Primary, "master", "online")
		}
		for _, s := range c.Secondaries {
			node(s, "replica", "online")
		}
		for _, s := range c.Learners {
			node(s, "replica", "loading")
		}
		out = append(out, command.Array(
			bulk("slots"), command.Array(command.Int(int64(start)), command.Int(int64(end)-1)),
			bulk("nodes"), command.Array(nodes...),
			bulk("castkv-shard"), command.Int(int64(c.Shard)),
			bulk("castkv-config-version"), command.Int(int64(c.Version)),
		))
	}
	return command.Array(out...)
}
