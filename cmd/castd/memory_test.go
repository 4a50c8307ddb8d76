package main

import (
	"reflect"
	"testing"
)

const mib = 1 << 20

// A small heap is never collected by castd; a burst's dead objects are,
// at the first check, and again at the next one while each collection
// frees idleMemorySlack or more (pooled buffers need a second collection).
func TestHeapReturnerBurst(t *testing.T) {
	var h heapReturner
	for i := range 100 {
		if h.due(heapReading{objects: 5 * mib, free: 10 * mib}) {
			t.Fatalf("check %d: collect a 5 MiB heap with 10 MiB free; want no collection", i)
		}
	}
	steps := []struct{ before, after uint64 }{
		{900 * mib, 220 * mib}, // the burst's garbage
		{220 * mib, 7 * mib},   // pooled buffers, dropped at the second collection
	}
	for i, s := range steps {
		if !h.due(heapReading{objects: s.before}) {
			t.Fatalf("collection %d: heap of %d MiB not collected", i, s.before/mib)
		}
		h.collected(s.before, s.after)
	}
	if h.due(heapReading{objects: 7 * mib}) {
		t.Fatal("heap back to 7 MiB: collected again")
	}
}

// A heap that stays large because it is live is collected at the first
// check, then 2, 4, 8 and 16 checks later, then every maxCollectTicks: the
// wait doubles while collections free little. Free memory above the slack goes back at once,
// whatever the wait.
func TestHeapReturnerLiveHeapBacksOff(t *testing.T) {
	var h heapReturner
	const live = 500 * mib
	var at []int
	for check := 1; check <= 31+2*maxCollectTicks; check++ {
		if h.due(heapReading{objects: live}) {
			at = append(at, check)
			h.collected(live, live-mib)
		}
	}
	want := []int{1, 3, 7, 15, 31, 31 + maxCollectTicks, 31 + 2*maxCollectTicks}
	if !reflect.DeepEqual(at, want) {
		t.Errorf("collections at checks %v; want %v", at, want)
	}
	if !h.due(heapReading{objects: live, free: 100 * mib}) {
		t.Error("100 MiB free, right after a collection: not returned")
	}
}
