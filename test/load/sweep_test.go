package main

import (
	"fmt"
	"testing"
)

// TestNextSweepStep drives the sweep schedule against servers of known
// capacity: a step passes when its count is at most the capacity.
func TestNextSweepStep(t *testing.T) {
	tests := []struct {
		start, limit, capacity int
		want                   int    // the sweep's result
		steps                  string // the counts tried
	}{
		{50, 4000, 900, 900, "50 100 200 400 800 1600 1200 1000 900"},
		{50, 4000, 800, 800, "50 100 200 400 800 1600 1200 1000 900"},
		{100, 300, 10000, 300, "100 200 300"},
		{100, 4000, 30, 28, "100 50 25 37 31 28"},
		{10, 4000, 0, 0, "10 5 2 1"},
		{1, 1, 5, 1, "1"},
		{500, 4000, 520, 500, "500 1000 750 625 562"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("start %d capacity %d", tt.start, tt.capacity), func(t *testing.T) {
			pass, fail := 0, 0
			var steps []int
			for range sweepMaxSteps {
				n, ok := nextSweepStep(tt.start, tt.limit, pass, fail)
				if !ok {
					break
				}
				if n < 1 || n > tt.limit {
					t.Fatalf("step count %d outside 1..%d", n, tt.limit)
				}
				steps = append(steps, n)
				if n <= tt.capacity {
					pass = n
				} else {
					fail = n
				}
			}
			if got := fmt.Sprint(steps); got != "["+tt.steps+"]" {
				t.Errorf("steps %s, want [%s]", got, tt.steps)
			}
			if pass != tt.want {
				t.Errorf("result %d, want %d", pass, tt.want)
			}
			if _, more := nextSweepStep(tt.start, tt.limit, pass, fail); more {
				t.Errorf("the sweep did not end within %d steps", sweepMaxSteps)
			}
		})
	}
}
