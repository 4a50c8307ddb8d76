// Package checker decides whether a recorded client history of castkv is
// linearizable, and whether service came back in time after faults
// (liveness).
//
// It knows histories, not roles: a history is a list of Op, each a client
// command with its virtual call and return times and the reply the client
// saw. Check runs porcupine (github.com/anishathalye/porcupine) against a
// sequential model of castkv's commands with Redis semantics; WriteHTML
// draws porcupine's picture of the failed part of the history with its
// longest linearizations. CheckLiveness checks that every op invoked a
// bound after the faults stopped succeeded.
//
// # Preparing a history
//
//   - An op with a definite error (Output.Kind == OutErr, Unknown false) was
//     refused before it could take effect: a no-op, which could linearize
//     anywhere, so Check drops it. The caller records an error as definite
//     only when the request was refused before taking effect. One definite
//     error is kept: INCRBY's "value is not an integer", a read of the
//     key's value that the model checks.
//   - INCRBY (INCR, DECR, DECRBY with a signed step) makes values no op
//     wrote, so integers are not interned: a canonical integer within
//     ±2^30 has an id that encodes it (model.go), the same whether SET or
//     INCRBY wrote it, and the model adds to ids.
//   - An op with an unknown outcome (Unknown: a timeout, or an error after
//     which the command may have committed) returns at +infinity and accepts
//     any output: it may take effect at any point after its call, or never
//     (it is then linearized last). Its client must be retired by the
//     caller, since porcupine assumes one op at a time per client. An
//     unknown read constrains nothing and is dropped.
//   - Unknown writes are what make the search slow (each stays pending to
//     the end), so two sound rules shrink them, detailed in prepare.go: an
//     unknown write whose value was read by nobody, and whose key no later op
//     could see present without reading it, is dropped; one whose unique
//     value a definite reply holds took effect before that reply returned,
//     and gets that return time.
//   - The history is split into connected components of keys touched
//     together (union-find over each op's keys), each checked on its own.
//     dbsize, flushall and flushdb touch every key, so one of them joins
//     the whole history into one component.
//
// Porcupine's search grows with the concurrency within a component and with
// the unknown writes in it: a write that never took effect is tried at each
// point until a read rules it out. Workloads stay checkable when multi-key
// commands keep to small groups of keys (as {hash tags} would), and Check
// takes a timeout; a timeout is reported as TimedOut, which callers count
// as a failure.
//
// # Failing fast
//
// Porcupine proves a violation only by exhausting every ordering, which on
// a component of thousands of ops can take minutes. So Check first
// searches each key of a component of several keys alone (project.go): a
// sound pre-check, since a linearization of the whole restricts to one of
// each key, and one key's ops are refuted in milliseconds. Only if every
// key passes is the component searched whole. The picture WriteHTML draws
// is the smallest failed part, cut after the return that makes it fail
// (picture.go), and at most MaxPictureOps ops.
//
// # The model
//
// Within a component, keys are numbered densely and values interned to
// small integers (0 is absent); a state is chunks of value ids, copied on
// write one chunk at a time, with its hash and size kept as it changes.
// Semantics, as in Redis 7: SET ... NX|XX writes only when the condition
// holds and replies OK or nil; with GET it replies the old value (bulk or
// nil; NX GET included) and still writes when the condition holds; SETNX
// and SETXX (a castkv extension: SET ... XX) reply 1/0; GETSET replies the
// old value; MGET and MSET are one atomic step over all their keys, and an
// MSET naming a key twice keeps the last value; EXISTS counts a key named
// twice twice; DEL counts the distinct keys that existed and deletes them
// atomically; DBSIZE counts present keys; FLUSHALL and FLUSHDB delete every
// key. A reply of the wrong shape is a violation.
package checker
