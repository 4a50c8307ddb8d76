// Package checker decides whether a recorded client history of castkv is
// linearizable, and whether the cluster recovered in time (liveness).
//
// It knows histories, not roles: a history is a list of Op, each a client
// command with its virtual call and return times and the reply the client
// saw. Check runs porcupine (github.com/anishathalye/porcupine) against a
// sequential model of castkv's commands with Redis semantics; WriteHTML draws
// porcupine's picture of the history and its longest linearizations.
//
// # How a history is prepared
//
//   - An op with a definite error (Output.Kind == OutErr, Unknown false) was
//     refused before it could take effect. It is a no-op that could be
//     linearized anywhere, so Check drops it.
//   - An op with an unknown outcome (Unknown true: a timeout, or an error
//     after which the command may have committed) returns at +infinity and
//     accepts any output: it may take effect at any point after its call, or
//     never (linearized last). Its client must be retired by the caller, since
//     porcupine assumes a client issues one op at a time. An unknown read
//     (get, mget, exists, dbsize) has no effect and no constraint, so Check
//     drops it too.
//   - The history is split into connected components of keys touched together
//     (union-find over each op's keys), and each component is checked on its
//     own. dbsize, flushall and flushdb touch every key, so one of them joins
//     the whole history into one component: use them sparingly in long runs.
//
// # The model
//
// Within a component, keys are numbered densely and values are interned to
// small integers (0 means absent), so a state is a short []int32, copied on
// write. Redis semantics as implemented: SET ... NX|XX writes only when the
// condition holds and replies OK or nil; with GET it replies the old value
// (Redis 7, NX GET included) and still writes when the condition holds;
// SETNX and SETXX reply 1/0; EXISTS counts a key named twice twice; DEL
// counts distinct keys that existed; MSET and DEL are one atomic step; FLUSHALL
// and FLUSHDB empty the store.
package checker
