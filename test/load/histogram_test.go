package main

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestHistogramBuckets(t *testing.T) {
	// Buckets are contiguous: each value falls in the bucket whose upper
	// bound is the first one not below it.
	prevUpper := int64(-1)
	for i := range histBuckets {
		up := histUpper(i)
		if int64(up) <= prevUpper {
			t.Fatalf("bucket %d: upper bound %d not above the previous %d", i, up, prevUpper)
		}
		if got := histBucket(up); got != i {
			t.Fatalf("value %d (upper bound of bucket %d) falls in bucket %d", up, i, got)
		}
		if got := histBucket(uint64(prevUpper + 1)); got != i {
			t.Fatalf("value %d (lower bound of bucket %d) falls in bucket %d", prevUpper+1, i, got)
		}
		// Relative width at most 1/32 above the exact range.
		if lo := uint64(prevUpper + 1); lo >= 2*histSub && float64(up-lo+1)/float64(lo) > 1.0/histSub+1e-9 {
			t.Fatalf("bucket %d [%d, %d] is wider than 1/%d of its values", i, lo, up, histSub)
		}
		prevUpper = int64(up)
	}
	if histUpper(histBuckets-1) != histMaxUS {
		t.Fatalf("last bucket ends at %d, want %d", histUpper(histBuckets-1), uint64(histMaxUS))
	}
}

func TestHistogramQuantiles(t *testing.T) {
	us := time.Microsecond
	tests := []struct {
		name    string
		samples []time.Duration
		q       float64
		want    time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one sample", []time.Duration{7 * us}, 0.99, 7 * us},
		{"exact small values, median", []time.Duration{1 * us, 2 * us, 3 * us, 4 * us}, 0.5, 2 * us},
		{"exact small values, p75", []time.Duration{1 * us, 2 * us, 3 * us, 4 * us}, 0.75, 3 * us},
		{"max is capped at the largest sample", []time.Duration{100 * us, 1000 * us}, 1, 1000 * us},
		{"negative counts as zero", []time.Duration{-5 * us}, 0.5, 0},
		// 1000 µs lies in bucket [992, 1007]; reported as its upper bound
		// unless that exceeds the max.
		{"bucket upper bound", []time.Duration{1000 * us, 5000 * us}, 0.5, 1007 * us},
		{"p99 of 100 samples is the 99th", seq(100, time.Millisecond), 0.99, 99 * time.Millisecond},
		{"huge values are clamped", []time.Duration{48 * time.Hour}, 0.5, time.Duration(histMaxUS) * us},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h histogram
			for _, d := range tt.samples {
				h.add(d)
			}
			got := h.quantile(tt.q)
			if tt.name == "huge values are clamped" {
				// The bucket is the last one; the max keeps the true value.
				if got != tt.want || h.max != 48*time.Hour {
					t.Fatalf("quantile = %v, max %v; want %v and 48h", got, h.max, tt.want)
				}
				return
			}
			if !within(got, tt.want, 1.0/histSub) {
				t.Fatalf("quantile(%v) = %v, want %v", tt.q, got, tt.want)
			}
		})
	}
}

// TestHistogramAgainstSort checks quantiles of random data against the
// exact order statistics, and that merging histograms is the same as
// adding all samples to one.
func TestHistogramAgainstSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var all []time.Duration
	var parts [4]histogram
	var whole histogram
	for i := range 20000 {
		d := time.Duration(rng.ExpFloat64() * float64(20*time.Millisecond))
		all = append(all, d)
		parts[i%4].add(d)
		whole.add(d)
	}
	var merged histogram
	for i := range parts {
		merged.merge(&parts[i])
	}
	if merged != whole {
		t.Fatal("merged histogram differs from the histogram of all samples")
	}
	slices.Sort(all)
	for _, q := range []float64{0.5, 0.9, 0.95, 0.99, 0.999, 1} {
		exact := pick(all, q)
		if got := merged.quantile(q); !within(got, exact, 1.0/histSub) || got < exact {
			t.Errorf("quantile(%v) = %v, exact %v", q, got, exact)
		}
	}
}

func seq(n int, unit time.Duration) []time.Duration {
	s := make([]time.Duration, n)
	for i := range s {
		s[i] = time.Duration(i+1) * unit
	}
	return s
}

// within reports whether got is want or above it by at most the fraction
// rel (histograms report bucket upper bounds).
func within(got, want time.Duration, rel float64) bool {
	if got < want {
		return false
	}
	return float64(got-want) <= rel*float64(want)+float64(time.Microsecond)
}
