package net

import (
	"sync/atomic"
	"time"

	"castkv/actors/store"
)

// syncer answers a role's persistence requests (store.Persist) off the
// role's goroutine: it syncs pebble's write-ahead log and tells the role,
// through its inbox, which point the sync covered. A request made while a
// sync runs waits for the next one, which covers every write before it:
// group commit, one fsync for all of them.
type syncer struct {
	st      *store.Store
	kick    chan struct{} // capacity 1: a sync is wanted
	done    chan struct{}
	deliver func(point uint64)
	fail    func(err error)
	wanted  atomic.Uint64 // the highest point asked for
	syncs   atomic.Int64
	synced  func(took time.Duration) // metrics; nil: none
}

func newSyncer(deliver func(point uint64), fail func(error)) *syncer {
	return &syncer{kick: make(chan struct{}, 1), done: make(chan struct{}), deliver: deliver, fail: fail}
}

// request is the store's persist function, called on the role's
// goroutine. It never blocks: a sync already wanted covers this request.
func (s *syncer) request(point uint64) {
	for {
		w := s.wanted.Load()
		if point <= w || s.wanted.CompareAndSwap(w, point) {
			break
		}
	}
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *syncer) run() {
	for {
		select {
		case <-s.done:
			return
		case <-s.kick:
		}
		// Every write up to the point asked for is in the log before the
		// request was made, so this sync covers it.
		point := s.wanted.Load()
		begin := time.Now()
		if err := s.st.Sync(); err != nil {
			s.fail(err)
			return
		}
		if s.synced != nil {
			s.synced(time.Since(begin))
		}
		s.syncs.Add(1)
		s.deliver(point)
	}
}

func (s *syncer) stop() { close(s.done) }
