package api

import (
	"slices"

	"castkv/actors"
	"castkv/actors/command"
	"castkv/actors/wire"
)

// Reads across shards. An MGET, EXISTS or WATCH's read of versions whose
// keys are held by several shards is sent to each shard as one read of its own keys, every part at
// the request's one timestamp; each shard answers as of that timestamp
// (rule read-ts), so the parts together are one snapshot of the cluster:
// never half of an MSET. A part refused TS_TOO_OLD sends the whole read
// again at a new timestamp; a reply is taken only if it answers the
// current timestamp (ReadReply.ts), so parts of different timestamps never
// mix.

// readPart is the part of a split read that one shard answers.
type readPart struct {
	shard uint32
	keys  []int // positions in the command's keys
	reply *wire.Reply
}

// splits reports whether r is a read whose keys span several shards.
func (a *API) splits(r *request) bool {
	if r.write || r.cmd.AllKeys() || (r.cmd.Kind != command.MGet && r.cmd.Kind != command.Exists && r.cmd.Kind != command.Watch) {
		return false
	}
	_, cross := a.shards.Route(r.cmd.Keys)
	return cross
}

// trySplit sends one attempt of a split read: a Read to each shard's
// primary, at r.ts.
func (a *API) trySplit(env actors.Env, r *request) {
	byShard, ok := a.shardParts(env, r)
	if !ok {
		return
	}
	var parts []*readPart
	configs := map[uint32]*wire.Config{}
	for _, p := range byShard {
		parts = append(parts, &readPart{shard: p.config.Shard, keys: p.keys})
		configs[p.config.Shard] = p.config
	}
	if r.ts == 0 {
		a.awaitTS(env, r)
		return
	}
	r.parts, r.split = parts, true
	r.attempt = env.After(a.attemptTimeout(r), &wire.Tick{Kind: timerAttempt, Id: r.id})
	r.hasAttempt = true
	for _, p := range parts {
		c := configs[p.shard]
		sub := &command.Command{Kind: r.cmd.Kind, Name: r.cmd.Name}
		for _, i := range p.keys {
			sub.Keys = append(sub.Keys, r.cmd.Keys[i])
		}
		a.queue(env, a.readTarget(env, c), &wire.Read{Shard: c.Shard, ConfigVersion: c.Version, Id: r.id,
			Incarnation: a.incarnation, Ts: r.ts, Command: command.ToWire(sub)})
	}
}

// keyPart is the keys of a command one shard holds: positions in its keys.
type keyPart struct {
	config *wire.Config
	keys   []int
}

// shardParts groups r's keys by the shard holding them, shards in the
// order their first key comes. While a shard has no primary known it
// returns false, and r retries later.
func (a *API) shardParts(env actors.Env, r *request) ([]keyPart, bool) {
	var parts []keyPart
	for i, k := range r.cmd.Keys {
		c := a.shards.Shard(command.Slot(k))
		if c == nil || c.Primary == "" {
			r.lastRefusal = "no primary known for the shard of one of its keys yet"
			a.askConfig(env)
			a.retryLater(env, r)
			return nil, false
		}
		j := slices.IndexFunc(parts, func(p keyPart) bool { return p.config.Shard == c.Shard })
		if j < 0 {
			parts = append(parts, keyPart{config: c})
			j = len(parts) - 1
		}
		parts[j].keys = append(parts[j].keys, i)
	}
	return parts, true
}

// partReply takes one shard's answer to a split read.
func (a *API) partReply(env actors.Env, r *request, x *wire.ReadReply) {
	if x.Ts != r.ts || r.parts == nil {
		return // an earlier attempt's, at another timestamp or between attempts
	}
	i := slices.IndexFunc(r.parts, func(p *readPart) bool { return p.shard == x.Shard })
	if i < 0 || r.parts[i].reply != nil {
		return
	}
	if x.Status != wire.Status_OK {
		// Any refusal sends the whole read again (at a new timestamp if
		// this one was too old); the parts already answered are dropped
		// with it, so every part of the answer comes from one attempt's
		// map.
		r.parts = nil
		a.answer(env, r, x.Status, x.Reply, x.Config)
		return
	}
	if x.Reply.GetKind() == wire.Reply_ERROR {
		a.finish(env, r, x.Reply)
		return
	}
	r.parts[i].reply = x.Reply
	for _, p := range r.parts {
		if p.reply == nil {
			return
		}
	}
	a.finish(env, r, mergeParts(r.cmd, r.parts))
}

// mergeParts puts the parts' answers together as one shard would have
// answered the whole command.
func mergeParts(cmd *command.Command, parts []*readPart) *wire.Reply {
	if cmd.Kind == command.Exists {
		var n int64
		for _, p := range parts {
			n += p.reply.Int
		}
		return &wire.Reply{Kind: wire.Reply_INT, Int: n}
	}
	if cmd.Kind == command.Watch {
		// [ts, each key's version]: the timestamp is the one every part
		// was read at.
		out := &wire.Reply{Kind: wire.Reply_ARRAY, Array: make([]*wire.Reply, 1+len(cmd.Keys))}
		for _, p := range parts {
			if len(p.reply.GetArray()) != 1+len(p.keys) {
				return command.Error("ERR castkv: a shard answered WATCH's read malformed; nothing is watched")
			}
		}
		out.Array[0] = parts[0].reply.Array[0]
		for _, p := range parts {
			for j, i := range p.keys {
				out.Array[1+i] = p.reply.Array[1+j]
			}
		}
		return out
	}
	out := &wire.Reply{Kind: wire.Reply_ARRAY, Array: make([]*wire.Reply, len(cmd.Keys))}
	for _, p := range parts {
		for j, i := range p.keys {
			out.Array[i] = p.reply.Array[j]
		}
	}
	return out
}
