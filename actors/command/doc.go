// Package command is castkv's client command set: it parses a client's
// argument vector into a Command, evaluates it with Redis semantics against
// a Reader, shapes the reply, encodes replies as RESP2, and maps keys to
// Redis Cluster hash slots.
//
// It is used by the API server role, the RESP front door and the
// simulator's clients, so it holds no state and does nothing
// nondeterministic: the same arguments and the same reads always give the
// same reply and the same writes.
//
// Rules this package follows, by name:
//
//   - Redis texts. An error that Redis 7 also has is Redis 7's exact text:
//     "ERR unknown command ...", "ERR wrong number of arguments for 'get'
//     command", "ERR syntax error". castkv's own errors keep the ERR code
//     for requests that are wrong in themselves.
//   - SET options. SET's options are parsed as Redis 7's
//     parseExtendedStringArgumentsOrReply does (NX and GET may be combined,
//     NX with XX may not); the TTL options are recognised and refused until
//     castkv has TTLs.
//   - Whole keyspace. DBSIZE and FLUSHALL/FLUSHDB touch every shard, so the
//     caller evaluates them; Eval refuses them.
//   - Reply strings. A status or error string is carried in a protobuf
//     string, so Status and Error make it valid UTF-8, and never carries CR
//     or LF, so it cannot break RESP framing.
//   - Hash slots. Slot is Redis Cluster's CRC16 mod 16384 with its
//     {hash tag} rule, so users can co-locate keys as they would in Redis.
//
// Commands alias their arguments: Keys, Values and Args share memory with
// the slice given to Parse, which must not be changed while the Command is
// in use.
package command
