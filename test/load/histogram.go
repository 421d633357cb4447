package main

import (
	"math/bits"
	"time"
)

// histogram counts durations in log-linear buckets of microseconds: exact
// below 64 µs, then 32 buckets per power of two, so any reported
// percentile is within about 3% of the true value. Durations above 2^36 µs
// (19 hours) count as that. It takes a fixed 4 KiB whatever the number of
// samples, so players can keep one each for runs of any length. The zero
// value is empty and ready to use.
type histogram struct {
	counts [histBuckets]uint32
	n      uint64
	max    time.Duration
}

const (
	histSubBits = 5
	histSub     = 1 << histSubBits
	// histMaxUS is the largest value counted in its own bucket.
	histMaxUS = 1<<36 - 1
	// histBuckets covers 0..histMaxUS.
	histBuckets = histSub * (36 - histSubBits + 1)
)

// histBucket returns the bucket of v microseconds.
func histBucket(v uint64) int {
	if v < 2*histSub {
		return int(v)
	}
	e := bits.Len64(v) - histSubBits - 1 // v>>e is in [histSub, 2*histSub)
	return histSub*e + int(v>>e)
}

// histUpper returns the largest value of bucket i, in microseconds.
func histUpper(i int) uint64 {
	if i < 2*histSub {
		return uint64(i)
	}
	e := i/histSub - 1
	m := uint64(i%histSub + histSub)
	return (m+1)<<e - 1
}

// add records one duration; negative durations count as zero.
func (h *histogram) add(d time.Duration) {
	us := min(uint64(max(d, 0)/time.Microsecond), histMaxUS)
	h.counts[histBucket(us)]++
	h.n++
	h.max = max(h.max, d)
}

// merge adds the samples of o to h.
func (h *histogram) merge(o *histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// quantile returns the duration below which a fraction q of the samples
// lie (the upper bound of the bucket holding the sample of rank ceil(q*n)),
// capped at the largest sample. It returns 0 for an empty histogram.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.999999999)
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += uint64(c)
		if seen >= rank {
			return min(time.Duration(histUpper(i))*time.Microsecond, h.max)
		}
	}
	return h.max
}
