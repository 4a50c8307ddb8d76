package api

import (
	"slices"

	"castkv/actors"
	"castkv/actors/wire"
)

// Timestamps. Every Commit and Read carries a timestamp from meta's TSO
// (actors/meta/tso.go), fetched after the command was invoked: a request
// waits for one before its first attempt, and a read refused TS_TOO_OLD
// waits for a new one. The requests that start waiting before a SEND tick
// share one GetTS, sent at that tick (as their Commits and Reads share
// one message), so no request gets a timestamp asked for before it
// arrived.

// tsFetch is a GetTS in flight.
type tsFetch struct {
	reqs []uint64    // the request ids it covers, in order
	to   actors.Addr // the member it was last sent to
	// redirected: a redirect already resent it since it was last sent;
	// later ones wait for the timeout, so members naming each other cannot
	// start a storm.
	redirected bool
}

// maxTSAsks bounds the GetTS requests in flight; the requests beyond wait
// for one to be answered.
const maxTSAsks = 64

// awaitTS parks r until a timestamp fetched from now on arrives.
func (a *API) awaitTS(env actors.Env, r *request) {
	if a.cfg.Canary == CanaryCachedTSO && r.write && a.lastTS != 0 {
		r.ts = a.lastTS // the defect: a timestamp fetched before r began
		a.try(env, r)
		return
	}
	if !slices.Contains(a.tsWaiting, r.id) {
		a.tsWaiting = append(a.tsWaiting, r.id)
	}
	a.wakeSend(env)
}

// askTS sends one GetTS for every request waiting (at the SEND tick).
func (a *API) askTS(env actors.Env) {
	if len(a.tsWaiting) == 0 || len(a.tsAsks) >= maxTSAsks {
		return
	}
	a.nextTSAsk++
	a.tsAsks[a.nextTSAsk] = &tsFetch{reqs: a.tsWaiting}
	a.tsWaiting = nil
	a.sendTSAsk(env, a.nextTSAsk)
}

func (a *API) sendTSAsk(env actors.Env, id uint64) {
	f := a.tsAsks[id]
	f.to, f.redirected = a.meta.Leader(), false
	env.Send(f.to, &wire.GetTS{Id: id, Incarnation: a.incarnation, Count: uint32(len(f.reqs))})
	env.After(a.cfg.AttemptTimeout, &wire.Tick{Kind: timerTSO, Id: id})
}

// tsReply hands out the timestamps of a GetTS.
func (a *API) tsReply(env actors.Env, from actors.Addr, x *wire.TSReply) {
	f := a.tsAsks[x.Id]
	if f == nil || x.Incarnation != a.incarnation || int(x.Count) < len(f.reqs) {
		return // not ours: ask ids restart with the process (seed 681)
	}
	delete(a.tsAsks, x.Id)
	a.meta.Answered(from)
	a.lastTS = max(a.lastTS, x.First+uint64(x.Count)-1)
	for i, id := range f.reqs {
		if r := a.reqs[id]; r != nil && r.ts == 0 {
			r.ts = x.First + uint64(i)
			a.try(env, r)
		}
	}
	if len(a.tsWaiting) > 0 {
		a.wakeSend(env)
	}
}

// tsTimeout resends a GetTS left unanswered, unless every request it
// covers has finished: to the next meta member if the one it went to is
// still the one to ask, else to the one a redirect named since. (Passing
// over the member a redirect just named sent a GetTS around a group with a
// dead member for good: the e2e kill of the meta leader.)
func (a *API) tsTimeout(env actors.Env, id uint64) {
	f := a.tsAsks[id]
	if f == nil {
		return
	}
	if !slices.ContainsFunc(f.reqs, func(r uint64) bool { return a.reqs[r] != nil }) {
		delete(a.tsAsks, id)
		return
	}
	if a.meta.Leader() == f.to {
		a.meta.Silent()
	}
	a.sendTSAsk(env, id)
}

// tsRedirect resends a GetTS to the leader a member named.
func (a *API) tsRedirect(env actors.Env, from actors.Addr, x *wire.MetaRedirect) bool {
	f := a.tsAsks[x.Id]
	if f == nil || x.Id == 0 {
		return false
	}
	if from == f.to && a.meta.Redirect(from, actors.Addr(x.Leader)) && !f.redirected {
		f.to, f.redirected = a.meta.Leader(), true
		env.Send(f.to, &wire.GetTS{Id: x.Id, Incarnation: a.incarnation, Count: uint32(len(f.reqs))})
	}
	return true
}
