package main

import (
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/metrics"
	"syscall"
	"time"
)

// How castd gives memory back after a burst, such as a 60 MB value written
// and deleted (castkv issue 7: RSS back within 100 MB of its baseline).
//
// Go collects its heap when it grows to twice what the last collection
// left live (GOGC=100), or every 2 minutes otherwise. A burst leaves that
// goal far up: the 60 MB SET took castd dev's live heap to 1.5 GB (every
// copy of the value in the client port, the API's staging to three
// replicas, their logs, and pebble's flushes and compactions of each
// store), so an idle castd collected nothing more for up to 2 minutes, and
// it held 100-800 MB of dead objects 60 s after the DEL. Pebble also keeps
// its sstable writers' block buffers, sized to the largest block written,
// in sync.Pools, which survive one collection; only a second one frees
// them. Measured before this policy: 230 MB of RSS 60 s after DEL against
// 23 MB at baseline, 220 MB of it Go heap objects; after two collections,
// 33 MB with 7 MB of heap. Pebble's own memory (memtables, block cache)
// stayed under 4 MB per store throughout (castd --pprof, /debug/pebble).
//
// So every idleMemoryCheckEvery castd decides, with heapReturner, whether
// to collect the heap and return its free pages to the system at once
// (debug.FreeOSMemory).
const (
	// idleMemoryCheckEvery: a burst's memory goes back within a few of
	// these after it ends (one collection for dead objects, one more for
	// pooled buffers).
	idleMemoryCheckEvery = 5 * time.Second
	// idleMemorySlack: collect when the heap holds more objects than this,
	// live or dead, or this much free memory not yet returned. Idle castd
	// dev holds about 5 MB of heap, and the bar is 100 MB over baseline.
	idleMemorySlack = 64 << 20
	// maxCollectTicks bounds how long a heap above idleMemorySlack waits
	// for a collection when the last ones freed little (the heap is
	// really live): 24 checks, 2 minutes, the runtime's own forced period.
	// So a large live heap costs one extra collection per 2 minutes.
	maxCollectTicks = 24
)

// heapReturner decides when castd collects its heap. A collection that
// frees idleMemorySlack or more is followed by another at the next check
// (more may have died meanwhile, and pooled buffers need a second one);
// one that frees less doubles the wait, up to maxCollectTicks checks. Free
// memory above idleMemorySlack goes back at the next check whatever the
// wait: returning it costs no marking.
type heapReturner struct {
	waitTicks int // checks between collections, 1 to maxCollectTicks
	skipped   int // checks since the last collection
}

// heapReading is what heapReturner decides on, in bytes.
type heapReading struct {
	objects uint64 // heap objects, live or dead and not yet swept
	free    uint64 // free heap memory not yet returned to the system
}

// due reports whether to collect at this check.
func (h *heapReturner) due(r heapReading) bool {
	h.skipped++
	if r.free > idleMemorySlack {
		return true
	}
	return r.objects > idleMemorySlack && h.skipped >= max(h.waitTicks, 1)
}

// collected records a collection that took the heap's objects from
// before to after.
func (h *heapReturner) collected(before, after uint64) {
	h.skipped = 0
	if before >= after+idleMemorySlack {
		h.waitTicks = 1
		return
	}
	h.waitTicks = min(2*max(h.waitTicks, 1), maxCollectTicks)
}

var heapSamples = []metrics.Sample{
	{Name: "/memory/classes/heap/objects:bytes"},
	{Name: "/memory/classes/heap/free:bytes"},
}

func readHeap() heapReading {
	metrics.Read(heapSamples)
	get := func(s metrics.Sample) uint64 {
		if s.Value.Kind() != metrics.KindUint64 {
			return 0 // a runtime without the metric: never collect for it
		}
		return s.Value.Uint64()
	}
	return heapReading{objects: get(heapSamples[0]), free: get(heapSamples[1])}
}

// check collects and returns memory when h says it is due.
func (h *heapReturner) check() {
	before := readHeap()
	if !h.due(before) {
		return
	}
	debug.FreeOSMemory() // a full collection, then every free page back
	h.collected(before.objects, readHeap().objects)
}

// waitForSignal blocks until SIGINT or SIGTERM, returning idle memory to
// the system meanwhile.
func waitForSignal(log *slog.Logger) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	tick := time.NewTicker(idleMemoryCheckEvery)
	defer tick.Stop()
	var h heapReturner
	for {
		select {
		case s := <-ch:
			log.Info("shutting down", "signal", s.String())
			return
		case <-tick.C:
			h.check()
		}
	}
}
