package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// serverRuns gathers the sweeps of one server (one label).
type serverRuns struct {
	label  string
	sweeps []*sweepSummary
}

// writeComparison reads sweep summaries (-sweep -json output) and writes a
// markdown table comparing the servers they name (by label), with the
// median over the sweeps of each server, and the ratio of the first
// server's most players to each other's.
func writeComparison(w io.Writer, files []string) error {
	if len(files) == 0 {
		return errors.New("load: -report needs sweep JSON files as arguments")
	}
	var servers []*serverRuns
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("load: report: %w", err)
		}
		var sw sweepSummary
		if err := json.Unmarshal(b, &sw); err != nil {
			return fmt.Errorf("load: report: %s: %w", f, err)
		}
		if sw.Tool != toolName || len(sw.Steps) == 0 {
			return fmt.Errorf("load: report: %s is not the JSON output of a sweep", f)
		}
		label := sw.Label
		if label == "" {
			label = f
		}
		i := slices.IndexFunc(servers, func(s *serverRuns) bool { return s.label == label })
		if i < 0 {
			servers = append(servers, &serverRuns{label: label})
			i = len(servers) - 1
		}
		servers[i].sweeps = append(servers[i].sweeps, &sw)
	}

	fmt.Fprintln(w, "| server | sweeps | most players sustained: median (each sweep) | p99 latency at that load, ms | delivery at that load | server CPU s per delivered Gbit | server RSS per player, KB | load tool CPU at that load |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	medians := make([]float64, len(servers))
	for k, s := range servers {
		var players, p99, delivery, cpu, rss, tool []float64
		for _, sw := range s.sweeps {
			players = append(players, float64(sw.MaxPlayers))
			best := bestStep(sw)
			if best == nil {
				continue
			}
			p99 = append(p99, best.Play.Latency.P99MS)
			delivery = append(delivery, best.Play.Delivery)
			if sv := best.Server; sv != nil {
				cpu = append(cpu, sv.CPUSecondsPerGbit)
				rss = append(rss, sv.RSSPerPlayerBytes/1e3)
			}
			if lg := best.Loadgen; lg != nil {
				tool = append(tool, lg.CPUUtilization)
			}
		}
		medians[k] = medianOf(players)
		each := make([]string, len(players))
		for i, p := range players {
			each[i] = fmt.Sprintf("%.0f", p)
		}
		fmt.Fprintf(w, "| %s | %d | %.0f (%s) | %s | %s | %s | %s | %s |\n", s.label, len(s.sweeps),
			medians[k], strings.Join(each, ", "),
			fmtMedian(p99, "%.0f", 1), fmtMedian(delivery, "%.2f%%", 100), fmtMedian(cpu, "%.2f", 1),
			fmtMedian(rss, "%.0f", 1), fmtMedian(tool, "%.0f%%", 100))
	}
	for k := 1; k < len(servers); k++ {
		if medians[k] > 0 {
			fmt.Fprintf(w, "\nPlayers sustained, %s / %s: %.2f\n", servers[0].label, servers[k].label, medians[0]/medians[k])
		}
	}
	for _, s := range servers {
		for i, sw := range s.sweeps {
			fmt.Fprintf(w, "\n%s, sweep %d:\n\n", s.label, i+1)
			writeStepsMarkdown(w, sw)
		}
	}
	return nil
}

// writeStepsMarkdown writes the steps of a sweep as a markdown table.
func writeStepsMarkdown(w io.Writer, sw *sweepSummary) {
	fmt.Fprintln(w, "| players | delivery | worst player | p50 ms | p99 ms | max ms | stalls | disconnects | server CPU s/Gbit | server KB/player | tool CPU | result |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, s := range sw.Steps {
		pl := s.Play
		cpu, rss, tool := "-", "-", "-"
		if sv := s.Server; sv != nil {
			cpu, rss = fmt.Sprintf("%.2f", sv.CPUSecondsPerGbit), fmt.Sprintf("%.0f", sv.RSSPerPlayerBytes/1e3)
		}
		if lg := s.Loadgen; lg != nil {
			tool = fmt.Sprintf("%.0f%%", 100*lg.CPUUtilization)
		}
		result := "pass"
		if !s.Pass {
			result = "fail: " + strings.Join(s.FailReasons, "; ")
		}
		fmt.Fprintf(w, "| %d | %.3f%% | %.3f%% | %.1f | %.1f | %.1f | %d | %d | %s | %s | %s | %s |\n",
			pl.Players, 100*pl.Delivery, 100*pl.MinPlayerDelivery, pl.Latency.P50MS, pl.Latency.P99MS, pl.Latency.MaxMS,
			pl.Stalls, pl.Disconnects, cpu, rss, tool, result)
	}
}

// bestStep returns the passing step with the most players, or nil.
func bestStep(sw *sweepSummary) *summary {
	var best *summary
	for _, s := range sw.Steps {
		if s.Pass && (best == nil || s.Play.Players > best.Play.Players) {
			best = s
		}
	}
	return best
}

// medianOf returns the median (the mean of the middle two for an even
// count), 0 for no values.
func medianOf(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

// fmtMedian formats the median of v scaled by scale, or "-" for none.
func fmtMedian(v []float64, format string, scale float64) string {
	if len(v) == 0 {
		return "-"
	}
	return fmt.Sprintf(format, medianOf(v)*scale)
}
