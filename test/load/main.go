package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"
)

func main() {
	os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr))
}

// Exit statuses.
const (
	exitPass  = 0 // the run (or sweep) finished and passed its thresholds
	exitError = 1 // the run could not be made: bad flags, input, publisher
	exitFail  = 3 // the run finished but missed a threshold (a sweep: no step passed)
)

// runMain is main without the process exit, so that tests can drive it.
func runMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg         config
		edges       string
		jsonOut     bool
		sweep       bool
		sweepMax    int
		generateTo  string
		reportFiles bool
		cpuProfile  string
	)
	fs.IntVar(&cfg.publishers, "publishers", 1, "number of published streams, one publisher each")
	fs.IntVar(&cfg.players, "players", 10, "number of players, spread round-robin over the streams and the edges (the first count of a sweep)")
	fs.StringVar(&edges, "edges", "127.0.0.1:1935", "comma-separated host:port list of the servers to play from")
	fs.BoolVar(&cfg.publishEdges, "publish-edges", false, "spread publishers round-robin over -edges too (default: all publish to the first)")
	fs.StringVar(&cfg.publishTo, "publish-to", "", "host:port every publisher publishes to, instead of the first of -edges (players still use -edges): with edges sharing a bus, measures cross-edge delivery")
	fs.StringVar(&cfg.app, "app", "live", "RTMP application")
	fs.StringVar(&cfg.streamPrefix, "stream-prefix", "load", "stream names are PREFIX-0, PREFIX-1, ...")
	fs.StringVar(&cfg.input, "input", "", "FLV file to publish (H.264/AAC), looped; empty generates a 720p30 3 Mbit/s file with ffmpeg")
	fs.DurationVar(&cfg.duration, "duration", 30*time.Second, "how long all players play after the ramp")
	fs.DurationVar(&cfg.ramp, "ramp", 5*time.Second, "players join evenly over this time")
	fs.DurationVar(&cfg.playerTimeout, "player-timeout", 10*time.Second, "bound on connecting and on silence: a player that receives nothing for this long reconnects")
	fs.DurationVar(&cfg.drain, "drain", 2*time.Second, "after the measurement window, how long players may take to receive its last frames (publishers keep sending meanwhile)")
	fs.DurationVar(&cfg.stallGap, "stall-gap", time.Second, "a pause longer than this between two received video frames is a stall (a gap)")
	fs.Float64Var(&cfg.minDelivery, "min-delivery", 0.999, "pass threshold: fraction of expected frames delivered")
	fs.DurationVar(&cfg.maxP99, "max-p99", time.Second, "pass threshold: 99th percentile publish-to-play latency")
	fs.IntVar(&cfg.serverPID, "server-pid", 0, "PID of the server under test (same host, Linux): report its CPU time and memory")
	fs.StringVar(&cfg.label, "label", "", "name of the run in the JSON summary (e.g. the server under test)")
	fs.BoolVar(&cfg.perPlayer, "per-player", false, "add per-player and per-stream results to the JSON summary")
	fs.BoolVar(&cfg.failover, "failover", false, "a publisher or player that lost its connection connects again to the next of -edges, as a load balancer stops sending clients to an edge that is down")
	fs.BoolVar(&jsonOut, "json", false, "print the JSON summary on stdout instead of the table")
	fs.BoolVar(&sweep, "sweep", false, "find the most players sustained: double -players until a run fails the thresholds, then bisect")
	fs.IntVar(&sweepMax, "sweep-max", 4000, "largest player count a sweep tries")
	fs.StringVar(&generateTo, "generate-input", "", "write the default generated input to this file and exit")
	fs.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the load tool to this file")
	fs.BoolVar(&reportFiles, "report", false, "print a markdown comparison of the sweep JSON files given as arguments and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: load [flags]\n       load -report FILE.json...\n\nPublishes an FLV file to RTMP servers and plays it back with many players, measuring delivery and latency.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitPass
		}
		return exitError
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if reportFiles {
		if err := writeComparison(stdout, fs.Args()); err != nil {
			fmt.Fprintln(stderr, err)
			return exitError
		}
		return exitPass
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "load: unexpected arguments %q\n", fs.Args())
		return exitError
	}
	if generateTo != "" {
		if err := generateInput(ctx, generateTo); err != nil {
			fmt.Fprintln(stderr, err)
			return exitError
		}
		return exitPass
	}
	for e := range strings.SplitSeq(edges, ",") {
		cfg.edges = append(cfg.edges, strings.TrimSpace(e))
	}
	if err := cfg.validate(); err != nil {
		fmt.Fprintf(stderr, "load: %v\n", err)
		return exitError
	}
	if sweep && (cfg.players < 1 || sweepMax < cfg.players) {
		fmt.Fprintln(stderr, "load: a sweep needs 1 <= -players <= -sweep-max")
		return exitError
	}
	if cfg.input == "" {
		path, err := defaultInput(ctx)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return exitError
		}
		cfg.input = path
	}
	m, err := loadMedia(cfg.input)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitError
	}
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintf(stderr, "load: -cpuprofile: %v\n", err)
			return exitError
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}

	if sweep {
		sw, err := runSweep(ctx, cfg, m, sweepMax, stderr)
		if jsonOut {
			writeJSON(stdout, sw)
		} else {
			writeSweepTable(stdout, sw)
		}
		if err != nil {
			fmt.Fprintln(stderr, err)
			return exitError
		}
		if sw.MaxPlayers == 0 {
			return exitFail
		}
		return exitPass
	}

	s, err := runLoad(ctx, cfg, m, "")
	if s == nil {
		fmt.Fprintln(stderr, err)
		return exitError
	}
	if jsonOut {
		writeJSON(stdout, s)
	} else {
		writeText(stdout, s)
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitError
	}
	if !s.Pass {
		return exitFail
	}
	return exitPass
}
