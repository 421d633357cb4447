package main

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"
)

// config holds what one run needs; flags fill it (see main.go).
type config struct {
	publishers    int
	players       int
	edges         []string
	publishEdges  bool
	publishTo     string
	app           string
	streamPrefix  string
	input         string
	duration      time.Duration
	ramp          time.Duration
	playerTimeout time.Duration
	drain         time.Duration
	stallGap      time.Duration // the longest pause between video frames that is not a stall
	minDelivery   float64
	maxP99        time.Duration
	serverPID     int
	// serverIdleRSS is the server's resident memory before any load, the
	// base of the memory per player; 0 means the value read when the run
	// starts (a sweep passes the one read before its first step, since a
	// server rarely returns memory between steps).
	serverIdleRSS int64
	label         string
	perPlayer     bool
	// failover moves a publisher or player that lost its connection to
	// the next of edges, as a load balancer stops sending clients to an
	// edge that is down.
	failover bool
}

// validate reports every problem of c at once.
func (c *config) validate() error {
	var errs []error
	if c.publishers < 1 {
		errs = append(errs, errors.New("-publishers must be at least 1"))
	}
	if c.players < 0 {
		errs = append(errs, errors.New("-players must not be negative"))
	}
	if len(c.edges) == 0 {
		errs = append(errs, errors.New("-edges names no address"))
	}
	for _, e := range c.edges {
		if e == "" {
			errs = append(errs, errors.New("-edges has an empty address"))
		}
	}
	if c.app == "" {
		errs = append(errs, errors.New("-app must not be empty"))
	}
	if c.streamPrefix == "" {
		errs = append(errs, errors.New("-stream-prefix must not be empty"))
	}
	if c.duration <= 0 {
		errs = append(errs, errors.New("-duration must be positive"))
	}
	if c.ramp < 0 {
		errs = append(errs, errors.New("-ramp must not be negative"))
	}
	if c.playerTimeout <= 0 {
		errs = append(errs, errors.New("-player-timeout must be positive"))
	}
	if c.stallGap <= 0 {
		errs = append(errs, errors.New("-stall-gap must be positive"))
	}
	if c.drain < 0 {
		errs = append(errs, errors.New("-drain must not be negative"))
	}
	if c.minDelivery < 0 || c.minDelivery > 1 {
		errs = append(errs, errors.New("-min-delivery must be between 0 and 1"))
	}
	if c.maxP99 <= 0 {
		errs = append(errs, errors.New("-max-p99 must be positive"))
	}
	if c.failover && c.publishTo != "" {
		errs = append(errs, errors.New("-failover moves publishers over -edges; it cannot be combined with -publish-to"))
	}
	return errors.Join(errs...)
}

// run is one load run: publishers, players and the clock they share.
type run struct {
	cfg     config
	media   *media
	base    time.Time
	streams []*stream
	players []*player
	// windowEnd is the run clock when the measurement window closed.
	windowEnd time.Duration
}

// now returns the run clock: nanoseconds since the run began, monotonic.
func (r *run) now() int64 { return int64(time.Since(r.base)) }

// logKeep is how many video frames each stream's log keeps: two minutes
// of 60 fps video. A player further behind than that sees its frames as
// unmatched.
const logKeep = 120 * 60

// runLoad runs publishers and players as cfg says and returns the
// measurements. suffix is appended to the stream names (the sweep uses a
// fresh name per step). It returns an error only when the run could not
// start: a publisher that cannot publish.
func runLoad(ctx context.Context, cfg config, m *media, suffix string) (*summary, error) {
	r := &run{cfg: cfg, media: m, base: time.Now()}
	started := r.base
	self0, selfErr := readProc(0)
	var srv0 procSample
	var srvErr error
	if cfg.serverPID > 0 {
		srv0, srvErr = readProc(cfg.serverPID)
		if srvErr != nil {
			return nil, srvErr
		}
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := make(chan struct{})
	var pubWG sync.WaitGroup
	ready := make(chan error, cfg.publishers)
	for i := range cfg.publishers {
		edgeIdx := 0
		if cfg.publishEdges {
			edgeIdx = i % len(cfg.edges)
		}
		edge := cfg.edges[edgeIdx]
		if cfg.publishTo != "" {
			edge = cfg.publishTo
		}
		st := &stream{name: fmt.Sprintf("%s-%d%s", cfg.streamPrefix, i, suffix), edge: edge, edgeIdx: edgeIdx, log: newSentLog(logKeep)}
		r.streams = append(r.streams, st)
		p := &publisher{r: r, st: st, ready: ready}
		pubWG.Go(func() { p.publish(ctx, stop) })
	}
	var startErrs []error
	for range cfg.publishers {
		if err := <-ready; err != nil {
			startErrs = append(startErrs, err)
		}
	}
	if len(startErrs) > 0 {
		cancel()
		pubWG.Wait()
		return nil, errors.Join(startErrs...)
	}

	// Players join evenly over the ramp.
	var playWG sync.WaitGroup
	playCtx, stopPlayers := context.WithCancel(ctx)
	defer stopPlayers()
	rampStart := time.Now()
	for j := range cfg.players {
		// Player j plays stream j mod N from edge (j div N) mod E, so that
		// each stream's players spread over every edge.
		st := r.streams[j%len(r.streams)]
		r.players = append(r.players, newPlayer(j, r, st, j/len(r.streams)%len(cfg.edges)))
	}
	playWG.Go(func() {
		for j, p := range r.players {
			at := rampStart.Add(time.Duration(int64(cfg.ramp) * int64(j) / int64(max(cfg.players, 1))))
			if !sleepOrDone(playCtx, nil, time.Until(at)) {
				return
			}
			playWG.Go(func() { p.play(playCtx) })
		}
	})

	// Steady state, then the resident memory of the loaded server.
	sleepOrDone(ctx, nil, time.Until(rampStart.Add(cfg.ramp+cfg.duration)))
	var srvLoaded procSample
	if cfg.serverPID > 0 && srvErr == nil {
		srvLoaded, srvErr = readProc(cfg.serverPID)
	}

	// Close the measurement window, let players receive what is in
	// flight while the publishers go on, then end.
	for _, st := range r.streams {
		st.window = st.log.closeWindow()
	}
	runEnd := time.Duration(r.now())
	r.windowEnd = runEnd
	r.awaitDelivery(ctx, cfg.drain)
	stopPlayers()
	playWG.Wait()
	close(stop)
	pubWG.Wait()

	var srv1 procSample
	if cfg.serverPID > 0 && srvErr == nil {
		srv1, srvErr = readProc(cfg.serverPID)
	}
	self1, selfErr1 := readProc(0)
	wall := time.Since(started)
	for _, p := range r.players {
		p.finish(runEnd)
	}
	s := r.summarize(started, wall)
	if selfErr == nil && selfErr1 == nil {
		cpu := self1.cpu - self0.cpu
		s.Loadgen = &loadgenSummary{
			CPUSeconds:     cpu.Seconds(),
			CPUUtilization: cpu.Seconds() / wall.Seconds() / float64(runtime.GOMAXPROCS(0)),
			GOMAXPROCS:     runtime.GOMAXPROCS(0),
		}
	}
	if cfg.serverPID > 0 {
		if srvErr != nil {
			return nil, srvErr
		}
		idle := srv0.rss
		if cfg.serverIdleRSS > 0 {
			idle = cfg.serverIdleRSS
		}
		s.Server = serverStats(cfg.serverPID, srv0, srvLoaded, srv1, idle, s)
	}
	s.evaluate(cfg.minDelivery, cfg.maxP99)
	return s, ctx.Err()
}

// awaitDelivery waits, at most d, until every player that has received
// anything holds the last frame of its stream's measurement window.
func (r *run) awaitDelivery(ctx context.Context, d time.Duration) {
	deadline := time.Now().Add(d)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		done := true
		for _, p := range r.players {
			if last := p.last.Load(); last >= 0 && last < p.st.window-1 {
				done = false
				break
			}
		}
		if done || time.Now().After(deadline) {
			return
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

// summarize builds the summary of a finished run.
func (r *run) summarize(started time.Time, wall time.Duration) *summary {
	cfg := r.cfg
	s := &summary{
		Tool:          toolName,
		Version:       summaryVersion,
		Label:         cfg.label,
		StartedAt:     started.UTC().Format(time.RFC3339),
		StartedUnixMS: started.UnixMilli(),
		WallS:         wall.Seconds(),
		WindowEndMS:   ms(r.windowEnd),
		Config: configSummary{
			Publishers:     cfg.publishers,
			Players:        cfg.players,
			Edges:          cfg.edges,
			PublishEdges:   cfg.publishEdges,
			PublishTo:      cfg.publishTo,
			App:            cfg.app,
			StreamPrefix:   cfg.streamPrefix,
			DurationS:      cfg.duration.Seconds(),
			RampS:          cfg.ramp.Seconds(),
			PlayerTimeoutS: cfg.playerTimeout.Seconds(),
			Failover:       cfg.failover,
		},
		Input: inputSummary{
			Path:               r.media.path,
			Codec:              r.media.codec.String(),
			Width:              r.media.width,
			Height:             r.media.height,
			FPS:                r.media.fps(),
			DurationMS:         r.media.durationMS(),
			VideoFrames:        r.media.videoFrames,
			VideoKbps:          r.media.videoKbps(),
			TotalKbps:          r.media.totalKbps(),
			KeyframeIntervalMS: r.media.keyInterval,
		},
		Thresholds: thresholdSummary{MinDelivery: cfg.minDelivery, MaxP99MS: ms(cfg.maxP99)},
	}
	pub := &s.Publish
	pub.Streams = len(r.streams)
	var maxLag time.Duration
	for _, st := range r.streams {
		pub.FramesSent += st.window
		pub.BytesSent += st.pub.bytesSent
		pub.LateTags += st.pub.late
		pub.Disconnects += st.pub.disconnects
		pub.Outages += st.pub.outageN
		pub.MaxOutageMS = max(pub.MaxOutageMS, ms(st.pub.longest))
		maxLag = max(maxLag, st.pub.maxLag)
		if st.pub.err != nil && pub.LastError == "" {
			pub.LastError = st.pub.err.Error()
		}
		if cfg.perPlayer {
			d := streamDetail{
				Name:        st.name,
				Edge:        st.edge,
				Disconnects: st.pub.disconnects,
				Outages:     st.pub.outageN,
				MaxOutageMS: ms(st.pub.longest),
				OutageList:  gapsOf(st.pub.outages),
			}
			if st.pub.err != nil {
				d.LastError = st.pub.err.Error()
			}
			s.StreamDetails = append(s.StreamDetails, d)
		}
	}
	pub.MaxLagMS = ms(maxLag)

	play := &s.Play
	play.Players = len(r.players)
	var (
		lat   histogram
		ttff  []time.Duration
		minDl = 1.0
	)
	for _, p := range r.players {
		res := &p.res
		exp := res.expected(p.st.window)
		play.FramesExpected += exp
		play.FramesReceived += res.received
		play.FramesDuplicate += res.duplicate
		play.FramesUnmatched += res.unmatched
		play.FramesCorrupt += res.corrupt
		play.FramesCached += res.cached
		play.TimelineRebases += res.rebases
		play.BytesReceived += res.bytes
		play.Stalls += res.stalls
		play.StallMS += ms(res.stallTime)
		play.MaxGapMS = max(play.MaxGapMS, ms(res.maxGap))
		play.Disconnects += res.disconnects
		if res.firstIdx >= 0 {
			play.PlayersWithMedia++
			ttff = append(ttff, res.ttff)
		}
		if res.lastErr != nil && play.LastError == "" {
			play.LastError = res.lastErr.Error()
		}
		d := ratio(res.received, exp)
		minDl = min(minDl, d)
		lat.merge(&res.lat)
		if cfg.perPlayer {
			pd := playerDetail{
				ID:             p.id,
				Stream:         p.st.name,
				Edge:           p.edge,
				FramesExpected: exp,
				FramesReceived: res.received,
				Delivery:       d,
				Stalls:         res.stalls,
				MaxGapMS:       ms(res.maxGap),
				Gaps:           gapsOf(res.gaps),
				LastFrameMS:    ms(res.lastRecv),
				Disconnects:    res.disconnects,
				TTFFMS:         ms(res.ttff),
				Latency:        latencyOf(&res.lat),
			}
			if res.lastErr != nil {
				pd.LastError = res.lastErr.Error()
			}
			s.PlayerDetails = append(s.PlayerDetails, pd)
		}
	}
	if len(r.players) == 0 {
		minDl = 0
	}
	play.Delivery = ratio(play.FramesReceived, play.FramesExpected)
	play.MinPlayerDelivery = minDl
	play.GbitReceived = float64(play.BytesReceived) * 8 / 1e9
	play.Latency = latencyOf(&lat)
	slices.Sort(ttff)
	play.TTFF = ttffSummary{P50MS: ms(pick(ttff, 0.5)), P95MS: ms(pick(ttff, 0.95)), MaxMS: ms(pick(ttff, 1))}
	return s
}

// ratio returns a/b, and 1 when nothing was expected.
func ratio(a, b int64) float64 {
	if b <= 0 {
		return 1
	}
	return float64(a) / float64(b)
}

// pick returns the q quantile of sorted durations (0 when empty).
func pick(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// ms converts a duration to milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// latencyOf summarises a latency histogram.
func latencyOf(h *histogram) latencySummary {
	return latencySummary{
		Samples: h.n,
		P50MS:   ms(h.quantile(0.5)),
		P95MS:   ms(h.quantile(0.95)),
		P99MS:   ms(h.quantile(0.99)),
		MaxMS:   ms(h.max),
	}
}

// serverStats turns /proc samples of the server taken before the run,
// in steady state and after the run, and its idle resident memory, into
// the server summary.
func serverStats(pid int, before, loaded, after procSample, idleRSS int64, s *summary) *serverSummary {
	cpu := (after.cpu - before.cpu).Seconds()
	out := &serverSummary{
		PID:          pid,
		CPUSeconds:   cpu,
		RSSBytes:     loaded.rss,
		RSSIdleBytes: idleRSS,
	}
	if g := s.Play.GbitReceived; g > 0 {
		out.CPUSecondsPerGbit = cpu / g
	}
	if n := s.Play.Players; n > 0 {
		out.RSSPerPlayerBytes = float64(loaded.rss-idleRSS) / float64(n)
	}
	return out
}
