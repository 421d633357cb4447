package main

import (
	"context"
	"fmt"
	"io"
	"time"
)

// Sweep limits.
const (
	// sweepPrecision ends a sweep once the gap between the largest passing
	// and the smallest failing player count is at most this fraction of
	// the passing one.
	sweepPrecision = 0.125
	// sweepMaxSteps bounds the number of runs of one sweep.
	sweepMaxSteps = 12
	// sweepPause lets the server close the previous step's connections.
	sweepPause = time.Second
)

// nextSweepStep returns the player count of the next sweep step, or false
// when the sweep is over. pass is the largest count that passed and fail
// the smallest that failed (0 for none yet). The count doubles from start
// until a step fails or limit is reached, then bisects between the two.
func nextSweepStep(start, limit, pass, fail int) (int, bool) {
	switch {
	case pass == 0 && fail == 0:
		return min(start, limit), start > 0 && limit > 0
	case fail == 0:
		if pass >= limit {
			return 0, false
		}
		return min(2*pass, limit), true
	case pass == 0:
		// Even the first count failed: halve until one passes.
		n := fail / 2
		return n, n > 0
	}
	if float64(fail-pass) <= max(1, sweepPrecision*float64(pass)) {
		return 0, false
	}
	return (pass + fail) / 2, true
}

// runSweep runs increasing player counts (from cfg.players up to limit)
// until a run fails the thresholds, narrows down the largest count that
// passes, and returns every step. progress receives one line per step.
func runSweep(ctx context.Context, cfg config, m *media, limit int, progress io.Writer) (*sweepSummary, error) {
	sw := &sweepSummary{Tool: toolName, Version: summaryVersion, Label: cfg.label}
	if cfg.serverPID > 0 {
		idle, err := readProc(cfg.serverPID)
		if err != nil {
			return nil, err
		}
		cfg.serverIdleRSS = idle.rss
	}
	pass, fail := 0, 0
	for step := 0; step < sweepMaxSteps; step++ {
		n, ok := nextSweepStep(cfg.players, limit, pass, fail)
		if !ok {
			break
		}
		if step > 0 && !sleepOrDone(ctx, nil, sweepPause) {
			break
		}
		c := cfg
		c.players = n
		s, err := runLoad(ctx, c, m, fmt.Sprintf("-s%d", step))
		if s == nil {
			return sw, err
		}
		sw.Steps = append(sw.Steps, s)
		if s.Pass {
			pass = n
			sw.MaxPlayers = max(sw.MaxPlayers, n)
		} else {
			fail = n
		}
		if progress != nil {
			fmt.Fprintf(progress, "sweep step %d: %d players, delivery %.3f%%, p99 %.1f ms, %s\n",
				step+1, n, 100*s.Play.Delivery, s.Play.Latency.P99MS, passWord(s))
		}
		if err != nil {
			return sw, err
		}
	}
	return sw, nil
}

func passWord(s *summary) string {
	if s.Pass {
		return "pass"
	}
	return fmt.Sprintf("fail (%v)", s.FailReasons)
}
