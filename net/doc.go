// Package net is castkv's production runtime, the other implementation of
// actors.Env beside the simulator:
//
//   - Process runs roles as hollywood (v1.0.5) actors, one goroutine each:
//     messages and timers (time.AfterFunc sending back into the actor's
//     inbox) arrive one at a time. A panic in a role logs and exits the
//     process; restart recovers from pebble. hollywood's own restarts are
//     not used (its issues #196, #198).
//   - Transport is the engine's actor.Remoter. hollywood's own remote dials
//     synchronously inside one router actor, drops queued batches on
//     reconnect and tears down connections on batches over 4 MiB; Transport
//     instead has one writer goroutine and a bounded queue per peer, dial
//     timeout and backoff, length-prefixed frames with a size limit (80 MiB,
//     enough for a 64 MiB value), a preamble that turns away anything that
//     is not a castkv peer, and optional TLS. Messages to an unreachable
//     peer are dropped, which the protocol tolerates like any loss.
//   - Inbound messages for a role are bounded too (ProcessConfig.MaxPending):
//     hollywood's inbox grows without limit, so Process counts and drops.
//   - RESPServer is the client port on redcon, with the limits redcon lacks
//     (bulk and array lengths, command size, clients, idle and slow
//     clients) enforced by a framing reader before redcon buffers anything.
//     Each connection's commands go one at a time through a Gateway to the
//     API actor, so pipelined replies keep their order.
package net
