package api

import (
	"castkv/actors"
	"castkv/actors/command"
	"castkv/actors/wire"
)

// The background lock resolver (DESIGN: Transactions; rule txn-rollback).
// A lock whose coordinator died stays until a command meets it: a key that
// nobody reads or writes again keeps its lock, and the lock its value,
// forever. Every ResolveEvery each API server asks every shard's primary,
// at a fresh TSO timestamp, for the keys whose locks expired by then
// (TxnLocks, at most 64 per shard), and reads each of them with GET. A
// read that meets a lock resolves it through its primary key as a client's
// read does (resolve, txn.go): rolled forward if the transaction
// committed, rolled back (protected) if it expired first. So the resolver
// adds no protocol of its own, only readers.
//
// Bounds: one round at a time, the next ResolveEvery after the last one
// ends; at most 64 keys per shard per round; each step a sub-request
// within RequestTimeout.

// resolveRound starts a round of the resolver.
func (a *API) resolveRound(env actors.Env) {
	scan := &command.Command{Kind: command.TxnLocks, Name: "txnlocks"}
	a.sub(env, nil, scan, 0, a.cfg.RequestTimeout, func(env actors.Env, st wire.Status, rep *wire.Reply, _ *wire.Lock) {
		var keys [][]byte
		if st == wire.Status_OK && rep.GetKind() == wire.Reply_ARRAY {
			for _, k := range rep.Array {
				keys = append(keys, k.Bulk)
			}
		}
		left := len(keys)
		if left == 0 {
			a.resolveLater(env)
			return
		}
		for _, k := range keys {
			get := &command.Command{Kind: command.Get, Name: "get", Keys: [][]byte{k}}
			a.sub(env, nil, get, 0, a.cfg.RequestTimeout, func(env actors.Env, _ wire.Status, _ *wire.Reply, _ *wire.Lock) {
				if left--; left == 0 {
					a.resolveLater(env)
				}
			})
		}
	})
}

// resolveLater schedules the next round.
func (a *API) resolveLater(env actors.Env) {
	if a.cfg.ResolveEvery > 0 {
		env.After(a.cfg.ResolveEvery, &wire.Tick{Kind: timerResolve})
	}
}
