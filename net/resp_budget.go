package net

import (
	"fmt"
	"sync"
	"time"
)

// respBudget is the client port's memory budget (RESPConfig.
// ClientMemoryBytes), shared by every connection, after Redis's
// maxmemory-clients: it covers the argument bytes of every command read
// and not yet answered and the replies queued and not yet written.
//
// A connection reserves an argument's bytes when its "$N" header has
// been read, before buffering any of them, and waits when the budget is
// spent; waiters are served first come, first served, so none starves
// while others keep arriving. A wait is bounded (acquire's wait), and a
// request larger than the whole budget is refused at once.
//
// A reply is charged when it arrives, against what its command reserved;
// a reply larger than that is charged in full even beyond the budget,
// because its bytes already exist (the API actor built them). While the
// budget is over, nobody reserves more, so reading stops everywhere until
// replies are written.
type respBudget struct {
	limit int64

	mu   sync.Mutex
	used int64
	peak int64
	// waiters is FIFO. Each connection waits for at most one reservation
	// at a time, so it holds at most RESPConfig.MaxClients entries.
	waiters []*respBudgetWaiter
}

type respBudgetWaiter struct {
	n       int64
	granted bool          // set under mu, with ready closed
	ready   chan struct{} // closed when granted
}

// respBudgetError is a reservation the budget could not grant.
type respBudgetError struct {
	n, limit int64
	waited   time.Duration // 0: larger than the whole budget
	closed   bool          // the connection ended while waiting
}

func (e *respBudgetError) Error() string {
	switch {
	case e.closed:
		return "connection closed while waiting for client memory"
	case e.waited == 0:
		return fmt.Sprintf("an argument of %d bytes exceeds the server's client memory budget of %d bytes (ClientMemoryBytes)", e.n, e.limit)
	}
	return fmt.Sprintf("the server's client memory budget of %d bytes stayed full for %v; the command was not run, retry later", e.limit, e.waited)
}

func newRESPBudget(limit int64) *respBudget { return &respBudget{limit: limit} }

// acquire reserves n bytes, waiting up to wait for them, or until cancel
// is closed.
func (b *respBudget) acquire(n int64, wait time.Duration, cancel <-chan struct{}) error {
	if n <= 0 {
		return nil
	}
	if n > b.limit {
		return &respBudgetError{n: n, limit: b.limit}
	}
	b.mu.Lock()
	if len(b.waiters) == 0 && b.used+n <= b.limit {
		b.take(n)
		b.mu.Unlock()
		return nil
	}
	w := &respBudgetWaiter{n: n, ready: make(chan struct{})}
	b.waiters = append(b.waiters, w)
	b.mu.Unlock()

	timer := time.NewTimer(wait)
	defer timer.Stop()
	closed := false
	select {
	case <-w.ready:
		return nil
	case <-timer.C:
	case <-cancel:
		closed = true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if w.granted {
		return nil // granted as the wait ended: the caller holds it
	}
	for i, x := range b.waiters {
		if x == w {
			b.waiters = append(b.waiters[:i], b.waiters[i+1:]...)
			break
		}
	}
	b.grant() // w may have blocked smaller requests behind it
	return &respBudgetError{n: n, limit: b.limit, waited: wait, closed: closed}
}

// charge adds n bytes that already exist (a reply), even beyond the limit.
func (b *respBudget) charge(n int64) {
	if n <= 0 {
		return
	}
	b.mu.Lock()
	b.take(n)
	b.mu.Unlock()
}

// release gives back n bytes and grants waiting reservations in order.
func (b *respBudget) release(n int64) {
	if n <= 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	if b.used < 0 {
		b.mu.Unlock()
		panic(fmt.Sprintf("resp: client memory budget released %d bytes more than it held", -b.used))
	}
	b.grant()
	b.mu.Unlock()
}

// take counts n bytes as used; b.mu is held.
func (b *respBudget) take(n int64) {
	b.used += n
	b.peak = max(b.peak, b.used)
}

// grant serves waiters in order while the head one fits; b.mu is held.
func (b *respBudget) grant() {
	for len(b.waiters) > 0 && b.used+b.waiters[0].n <= b.limit {
		w := b.waiters[0]
		b.waiters[0] = nil
		b.waiters = b.waiters[1:]
		b.take(w.n)
		w.granted = true
		close(w.ready)
	}
	if len(b.waiters) == 0 {
		b.waiters = nil // let a long queue's array go
	}
}

// usage returns the bytes in use and the high-water mark.
func (b *respBudget) usage() (used, peak int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used, b.peak
}

// resetPeak starts the high-water mark again from the current use (CONFIG
// RESETSTAT).
func (b *respBudget) resetPeak() {
	b.mu.Lock()
	b.peak = b.used
	b.mu.Unlock()
}
