package net

import (
	"context"
	"math/rand/v2"
	"strconv"

	"castkv/actors/command"
	"castkv/actors/wire"
)

// RANDOMKEY over SCAN. The cluster keeps no sample of its keys, but SCAN
// walks one order of the whole keyspace from any place in it (a cursor:
// a slot and a position, wire.ScanCursor). RANDOMKEY starts a SCAN at a
// random place and answers a random one of the first keys it finds; a
// call that finds none goes on from the cursor it returned, through 0
// once, until the walk is back where it began: only then is the keyspace
// empty and the reply nil, as Redis's.
//
// The key is as random as the gaps in the order are even: one after a
// long run of the order without keys is likelier. The positions are a
// hash of the key, so no client can choose them.
//
// Every step is one SCAN of up to respRandomKeyCount keys through the
// Gateway, chained from the previous step's callback (no goroutine of its
// own), within the command's one deadline. A step that finds no key
// covers at least the rest of one shard, so a walk of an empty keyspace
// takes about one step per shard; respRandomKeyMaxScans bounds it (and so
// how deep a Gateway that answers on the caller's goroutine nests).
const (
	respRandomKeyCount    = 16
	respRandomKeyMaxScans = 2048
)

// respRandomKey is one RANDOMKEY's walk.
type respRandomKey struct {
	gw      Gateway
	ctx     context.Context
	done    func(*wire.Reply, error)
	start   uint64 // where the walk began
	wrapped bool   // the walk went through cursor 0
	scans   int
}

// randomKey is RANDOMKEY's Gateway.Send: it answers done once, with a key,
// nil, an error reply of a SCAN, or the Gateway's error.
func (s *RESPServer) randomKey(ctx context.Context, args [][]byte, done func(*wire.Reply, error)) {
	if len(args) != 1 {
		done(respArity("randomkey"), nil)
		return
	}
	start := wire.ScanCursor(rand.Uint32N(wire.Slots), rand.Uint64N(1<<50))
	r := &respRandomKey{gw: s.cfg.Gateway, ctx: ctx, done: done, start: start}
	r.scan(start)
}

func (r *respRandomKey) scan(cursor uint64) {
	if r.scans++; r.scans > respRandomKeyMaxScans {
		r.done(command.Error("TRYAGAIN RANDOMKEY found no key in "+strconv.Itoa(respRandomKeyMaxScans)+
			" SCAN steps (a keyspace of many shards, or of many expired keys not yet reclaimed); retry"), nil)
		return
	}
	args := [][]byte{[]byte("SCAN"), strconv.AppendUint(nil, cursor, 10), []byte("COUNT"), []byte(strconv.Itoa(respRandomKeyCount))}
	r.gw.Send(r.ctx, args, r.scanned)
}

// scanned is a SCAN step's callback.
func (r *respRandomKey) scanned(reply *wire.Reply, err error) {
	switch {
	case err != nil:
		r.done(nil, err)
		return
	case reply.GetKind() == wire.Reply_ERROR:
		r.done(reply, nil)
		return
	}
	elems := reply.GetArray()
	if reply.GetKind() != wire.Reply_ARRAY || len(elems) != 2 {
		r.done(command.Error("ERR RANDOMKEY: SCAN answered a reply that is not [cursor, keys]"), nil)
		return
	}
	next, perr := strconv.ParseUint(string(elems[0].GetBulk()), 10, 64)
	if perr != nil {
		r.done(command.Error("ERR RANDOMKEY: SCAN answered cursor "+strconv.Quote(string(elems[0].GetBulk()))), nil)
		return
	}
	if keys := elems[1].GetArray(); len(keys) > 0 {
		r.done(command.Bulk(keys[rand.IntN(len(keys))].GetBulk()), nil)
		return
	}
	switch {
	case next == 0 && r.wrapped, r.wrapped && next >= r.start:
		r.done(command.Nil(), nil) // a whole walk found no key
		return
	case next == 0:
		r.wrapped = true
	}
	r.scan(next)
}
