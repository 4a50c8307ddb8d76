// Package api is the API server role: the client's front door. It parses and
// validates each command (castkv/actors/command, the same code the RESP port
// runs), routes it to its shard's primary with its cached config, and for a
// write sends large values to every replica itself (Stage) before asking the
// primary to commit. It is stateless: a restart only forgets requests in
// flight, whose clients see a closed connection or a timeout.
//
// Retries: a refusal (stale config, not primary, not ready, busy) is retried
// with a fresh config until the request's deadline. A write keeps one op id
// across retries, so the primary's exactly-once record makes a retry safe.
// At the deadline the client gets -TRYAGAIN when nothing could have taken
// effect and -UNCERTAIN when a Commit was sent and may have committed.
package api
