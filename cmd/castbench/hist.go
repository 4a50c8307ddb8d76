package main

import (
	"math"
	"math/bits"
	"time"
)

// histogram records latencies in log-linear buckets, HDR-style: every
// power of two is split into 2^histSubBits equal buckets, so a recorded
// value is known to within 1/2^histSubBits (1.6%) of itself, from 1 ns to
// the largest int64, in a fixed 30 KB per histogram. Each worker owns one
// (no locks on the hot path) and they are merged after a row.
type histogram struct {
	counts   [histBuckets]uint64
	n        uint64
	sum      float64 // ns, for the mean
	min, max int64   // ns, exact
}

const (
	histSubBits  = 6
	histSub      = 1 << histSubBits
	histBuckets  = (64 - histSubBits + 1) * histSub
	histMaxValue = math.MaxInt64
)

// bucketOf is the bucket a non-negative value falls in. Values below
// histSub have a bucket each; above, bucket e·histSub+m holds the values
// whose top bit is bit e+histSubBits-1 and whose next histSubBits bits are m.
func bucketOf(v int64) int {
	if v < histSub {
		return int(max(v, 0))
	}
	u := uint64(v)
	top := bits.Len64(u) - 1 // >= histSubBits
	shift := top - histSubBits
	m := int(u>>shift) & (histSub - 1)
	return (shift+1)<<histSubBits + m
}

// bucketBounds is the smallest value of bucket i and its width.
func bucketBounds(i int) (lo, width int64) {
	if i < histSub {
		return int64(i), 1
	}
	shift := i>>histSubBits - 1
	m := int64(i & (histSub - 1))
	return (histSub + m) << shift, 1 << shift
}

func newHistogram() *histogram { return &histogram{min: histMaxValue} }

func (h *histogram) record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	h.counts[bucketOf(v)]++
	h.n++
	h.sum += float64(v)
	h.min = min(h.min, v)
	h.max = max(h.max, v)
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.min = min(h.min, o.min)
	h.max = max(h.max, o.max)
}

func (h *histogram) count() uint64 { return h.n }

func (h *histogram) mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// quantile is the value below or at which a fraction q of the recorded
// values lie: the middle of the bucket holding the ⌈q·n⌉-th smallest value,
// kept within the exact min and max. 0 when nothing was recorded.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, w := bucketBounds(i)
			v := lo + (w-1)/2
			return time.Duration(min(max(v, h.min), h.max))
		}
	}
	return time.Duration(h.max)
}
