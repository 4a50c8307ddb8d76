// Package bad breaks every determinism rule. Each offending line names the
// rules it breaks in a trailing want comment, which determinism_test.go
// compares with what the checker reports.
package bad

import (
	"context"
	"sync"        // want io
	"sync/atomic" // want io
	"time"
)

func goroutines(f func()) {
	go f()         // want goroutine
	go func() {}() // want goroutine
}

func channels(ch chan int) int { // want channel
	ch <- 1   // want channel
	v := <-ch // want channel
	select {  // want channel
	case ch <- v: // want channel
	default:
	}
	for w := range ch { // want channel
		v += w
	}
	done := make(chan struct{}) // want channel
	close(done)
	return v
}

func timeouts(ctx context.Context, d time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, d) // want wall-clock
	defer cancel()
	context.AfterFunc(ctx, func() {}) // want goroutine
}

var (
	mu sync.Mutex
	n  atomic.Int64
)
