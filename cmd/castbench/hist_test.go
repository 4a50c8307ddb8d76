package main

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestBucketBoundsHoldTheirValues(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	values := []int64{0, 1, 63, 64, 65, 127, 128, 1000, 1 << 40, 1<<62 + 12345, 1<<63 - 1}
	for range 100000 {
		values = append(values, int64(rng.Uint64()>>(1+rng.IntN(63))))
	}
	for _, v := range values {
		i := bucketOf(v)
		if i < 0 || i >= histBuckets {
			t.Fatalf("bucketOf(%d) = %d, outside [0, %d)", v, i, histBuckets)
		}
		lo, w := bucketBounds(i)
		if v < lo || v-lo >= w {
			t.Fatalf("value %d in bucket %d = [%d, %d+%d)", v, i, lo, lo, w)
		}
		if v >= histSub && float64(w)/float64(lo) > 1.0/histSub {
			t.Fatalf("bucket %d = [%d, +%d) is wider than 1/%d of its values", i, lo, w, histSub)
		}
	}
}

func TestBucketsAreContiguous(t *testing.T) {
	lo, w := bucketBounds(0)
	for i := 1; i <= bucketOf(1<<63-1); i++ {
		next, nw := bucketBounds(i)
		if next != lo+w {
			t.Fatalf("bucket %d starts at %d, bucket %d ends at %d", i, next, i-1, lo+w)
		}
		lo, w = next, nw
	}
}

func TestQuantilesOfAUniformSpread(t *testing.T) {
	h := newHistogram()
	// 1 ms, 2 ms, ..., 1000 ms in shuffled order.
	rng := rand.New(rand.NewPCG(3, 4))
	for _, i := range rng.Perm(1000) {
		h.record(time.Duration(i+1) * time.Millisecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Millisecond}, {0.99, 990 * time.Millisecond}, {0, time.Millisecond}, {1, 1000 * time.Millisecond}} {
		got := h.quantile(c.q)
		if err := float64(got-c.want) / float64(c.want); err < -1.0/histSub || err > 1.0/histSub {
			t.Errorf("quantile(%v) = %v, want %v within 1/%d", c.q, got, c.want, histSub)
		}
	}
	if h.count() != 1000 {
		t.Errorf("count = %d, want 1000", h.count())
	}
	if m := h.mean(); m < 500*time.Millisecond || m > 501*time.Millisecond {
		t.Errorf("mean = %v, want 500.5ms", m)
	}
}

func TestSmallValuesAreExact(t *testing.T) {
	h := newHistogram()
	for _, v := range []time.Duration{3, 3, 7, 40} {
		h.record(v)
	}
	if got := h.quantile(0.5); got != 3 {
		t.Errorf("p50 = %v, want 3ns", got)
	}
	if got := h.quantile(0.75); got != 7 {
		t.Errorf("p75 = %v, want 7ns", got)
	}
	if got := h.quantile(0.99); got != 40 {
		t.Errorf("p99 = %v, want 40ns", got)
	}
}

func TestQuantileStaysWithinMinAndMax(t *testing.T) {
	h := newHistogram()
	h.record(1000003) // alone in a bucket 16 µs wide
	if got := h.quantile(0.5); got != 1000003 {
		t.Errorf("p50 of one value = %v, want the value itself", got)
	}
}

func TestEmptyHistogram(t *testing.T) {
	h := newHistogram()
	if h.quantile(0.5) != 0 || h.mean() != 0 || h.count() != 0 {
		t.Errorf("empty histogram: p50 %v, mean %v, count %d; want zeros", h.quantile(0.5), h.mean(), h.count())
	}
}

func TestMergeEqualsRecordingTogether(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	a, b, all := newHistogram(), newHistogram(), newHistogram()
	for i := range 10000 {
		d := time.Duration(rng.ExpFloat64() * float64(time.Millisecond))
		if i%3 == 0 {
			a.record(d)
		} else {
			b.record(d)
		}
		all.record(d)
	}
	a.merge(b)
	if a.counts != all.counts || a.n != all.n || a.min != all.min || a.max != all.max {
		t.Fatal("merged histogram differs from one that recorded everything")
	}
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		if a.quantile(q) != all.quantile(q) {
			t.Errorf("quantile(%v): merged %v, together %v", q, a.quantile(q), all.quantile(q))
		}
	}
}

func TestNegativeDurationCountsAsZero(t *testing.T) {
	h := newHistogram()
	h.record(-5)
	if h.quantile(1) != 0 || h.min != 0 {
		t.Errorf("negative value recorded as %v", h.quantile(1))
	}
}
