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
// A write unanswered at three quarters of its deadline with a Commit sent
// is settled: its attempts ask the primary to abort the op (wire.Commit
// abort), which answers the op's result if it ran, or records that it never
// ran and answers that (the client gets -TRYAGAIN). At the deadline the
// client gets -TRYAGAIN when nothing could have taken effect and
// -UNCERTAIN when a Commit was sent and settling got no answer.
//
// Timestamps (tso.go): each command waits for a timestamp from meta's TSO,
// fetched after it arrived (the commands arriving before one SEND tick
// share one GetTS), and every Commit and Read carries it. A read refused
// TS_TOO_OLD is read again at a new one. An MGET or EXISTS whose keys span
// shards is read from each shard at the one timestamp and put back together
// (split.go): one snapshot of the cluster.
//
// Transactions (txn.go): an MSET, MSETNX, DEL or MULTI block whose keys
// span shards runs as a Percolator transaction this server coordinates:
// prewrite (lock every key at the start timestamp; a block's shards run
// their commands of it there), commit the primary key at a commit timestamp
// (the atomic point, when the client is answered), then commit the others
// and forget the record. Each step is a sub-request with its own op id,
// retries and settling. Any command refused LOCKED resolves the lock
// through its primary key's shard and runs again at a new timestamp. A
// background resolver (resolver.go) reads, every ResolveEvery, the keys
// whose locks expired, so a dead coordinator's locks go even from keys no
// client reads again.
package api
