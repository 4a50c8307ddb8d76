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
//   - RESPServer is the client port (RESP2, and RESP3 after HELLO 3:
//     resp3.go). Its framing is castkv's own:
//     respReader (resp_reader.go) reads each connection's bytes and returns
//     every command as its argument vector, once, with Redis's grammar,
//     limits and error texts (bulk and array lengths, command size,
//     unauthenticated limits, inline commands). It replaced
//     github.com/tidwall/redcon, which has no limits: it buffers whatever
//     length a client declares, so castkv ran its own framer in front of
//     redcon, and every command was parsed twice. redcon also runs one
//     command at a time per connection, which the port no longer does.
//   - Pipelining (resp_conn.go): a connection's reader hands commands to
//     the Gateway asynchronously, many at once, and its writer sends the
//     replies strictly in request order, many per write. Commands of one
//     connection that share a key still run one after the other, so a
//     client reads its own pipelined writes. What a connection holds is
//     bounded (MaxPipeline commands, MaxPipelineBytes), and so is what all
//     connections hold together (ClientMemoryBytes, reserved as each
//     argument's header arrives, before its bytes are buffered): at a
//     bound the port stops reading, and TCP stops the client.
//   - The port answers the connection and server commands itself
//     (resp_local.go, resp_client.go): HELLO, AUTH, CLIENT (LIST, KILL,
//     PAUSE, ...), INFO with Redis's sections, per-command statistics and
//     latency percentiles kept at the port (resp_info.go), CONFIG, COMMAND.
//     RANDOMKEY is a walk of SCAN steps from a random cursor
//     (resp_randomkey.go); MULTI, EXEC and WATCH are queued and sent as one
//     block (resp_multi.go).
package net
