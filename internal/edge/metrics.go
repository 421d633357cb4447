package edge

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// latencySampleEvery is how often a player's frames are sampled for the
// frame latency histogram: one frame in latencySampleEvery (the first
// included), so that the frame path stays cheap.
const latencySampleEvery = 16

// latencyBuckets are the upper bounds, in seconds, of the latency
// histograms: 1 ms to 10 s.
var latencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// metrics are an Edge's Prometheus metrics: the histograms observed on
// the play path, and a collector that reads the edge's counters when
// scraped. A nil *metrics observes nothing.
type metrics struct {
	latency    prometheus.Histogram
	firstFrame prometheus.Histogram
}

// newMetrics registers the metrics of e on reg.
func newMetrics(e *Edge, reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "tributary_edge_frame_latency_seconds",
			Help: "Time from a frame's ingest by the publishing edge to its write to a player's connection on this edge " +
				"(one frame in " + fmt.Sprint(latencySampleEvery) + " per player).",
			Buckets: latencyBuckets,
		}),
		firstFrame: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tributary_edge_time_to_first_frame_seconds",
			Help:    "Time from a play accepted to its first frame written to the player's connection.",
			Buckets: latencyBuckets,
		}),
	}
	cs := []prometheus.Collector{m.latency, m.firstFrame, &edgeCollector{e: e}}
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			return nil, fmt.Errorf("edge: register metrics: %w", err)
		}
	}
	return m, nil
}

// observeLatency records the latency of a frame ingested at ingest (Unix
// nanoseconds, 0 when unknown) and written now.
func (m *metrics) observeLatency(ingest int64, now time.Time) {
	if m == nil || ingest == 0 {
		return
	}
	d := now.UnixNano() - ingest
	if d < 0 {
		d = 0 // clocks of two hosts disagree: the latency is not negative
	}
	m.latency.Observe(time.Duration(d).Seconds())
}

// observeFirstFrame records the time a player waited for its first frame.
func (m *metrics) observeFirstFrame(d time.Duration) {
	if m == nil {
		return
	}
	m.firstFrame.Observe(d.Seconds())
}

// Descriptions of the metrics edgeCollector exports.
var (
	descSessions = prometheus.NewDesc("tributary_edge_sessions",
		"Open RTMP sessions by role: publishes, plays, and connections doing neither.", []string{"role"}, nil)
	descConnections = prometheus.NewDesc("tributary_edge_connections_total",
		"RTMP connections accepted (connect command answered).", nil, nil)
	descPublishes = prometheus.NewDesc("tributary_edge_publishes_total",
		"Publish requests by result.", []string{"result"}, nil)
	descPlays = prometheus.NewDesc("tributary_edge_plays_total",
		"Play requests by result.", []string{"result"}, nil)
	descFramesReceived = prometheus.NewDesc("tributary_edge_frames_received_total",
		"Frames (audio, video, data) received from publishers.", nil, nil)
	descReceivedBytes = prometheus.NewDesc("tributary_edge_received_bytes_total",
		"Body bytes of the frames received from publishers.", nil, nil)
	descFramesSent = prometheus.NewDesc("tributary_edge_frames_sent_total",
		"Frames written to players.", nil, nil)
	descSentBytes = prometheus.NewDesc("tributary_edge_sent_bytes_total",
		"Body bytes of the frames written to players.", nil, nil)
	descFramesDropped = prometheus.NewDesc("tributary_edge_frames_dropped_total",
		"Frames players skipped because their queue was full (counted when a play ends).", nil, nil)
	descSlow = prometheus.NewDesc("tributary_edge_players_disconnected_slow_total",
		"Players disconnected for lagging behind past the lag limit.", nil, nil)
	descBusErrors = prometheus.NewDesc("tributary_edge_bus_publish_errors_total",
		"Frames from publishers the media bus refused.", nil, nil)
	descRelays = prometheus.NewDesc("tributary_edge_relays",
		"Streams this edge subscribes to on the media bus for its players.", nil, nil)
	descNATS = prometheus.NewDesc("tributary_edge_nats_connected",
		"1 when the edge's NATS connection is up, 0 otherwise.", nil, nil)
	descMember = prometheus.NewDesc("tributary_edge_cluster_member",
		"1 when the edge is a member of the cluster (it holds a live lease), 0 otherwise.", nil, nil)
	descClaims = prometheus.NewDesc("tributary_edge_claims_total",
		"Stream claims made for publishes, by result: granted, busy (another publisher owns the stream), error.", []string{"result"}, nil)
	descClaimsLost = prometheus.NewDesc("tributary_edge_claims_lost_total",
		"Claims of publishing streams lost, by reason: taken_over, kicked, lease_lost, other.", []string{"reason"}, nil)
	descTakeovers = prometheus.NewDesc("tributary_edge_takeovers_total",
		"Streams this edge took over from another owner for a new publish.", nil, nil)
	descLeaseLosses = prometheus.NewDesc("tributary_edge_lease_losses_total",
		"Cluster leases this edge lost (each fences every stream it published).", nil, nil)
	descLimitRefusals = prometheus.NewDesc("tributary_edge_limit_refusals_total",
		"Connections, publishes and plays refused, and connections closed, because of a limit, by limit: "+
			"max_conns, max_conns_per_ip, max_publishers, max_players_per_stream, max_publish_bitrate, "+
			"handshake_timeout, connect_timeout, idle_timeout.", []string{"limit"}, nil)
)

// edgeCollector exports an Edge's counters, read when scraped.
type edgeCollector struct{ e *Edge }

// Describe implements prometheus.Collector.
func (c *edgeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSessions, descConnections, descPublishes, descPlays,
		descFramesReceived, descReceivedBytes, descFramesSent, descSentBytes, descFramesDropped,
		descSlow, descBusErrors, descRelays, descNATS, descMember, descClaims, descClaimsLost,
		descTakeovers, descLeaseLosses, descLimitRefusals, descAuth} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *edgeCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.e.Stats()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	// A connection may publish and play several streams; "other" counts
	// what is left of the connections, never below zero.
	gauge(descSessions, float64(st.Publishers), "publisher")
	gauge(descSessions, float64(st.Players), "player")
	gauge(descSessions, float64(max(0, st.Sessions-st.Publishers-st.Players)), "other")
	counter(descConnections, st.Connects)
	counter(descPublishes, st.PublishesAccepted, "accepted")
	counter(descPublishes, st.PublishesRejected, "rejected")
	counter(descPlays, st.PlaysAccepted, "accepted")
	counter(descPlays, st.PlaysRejected, "rejected")
	counter(descFramesReceived, st.FramesIn)
	counter(descReceivedBytes, st.BytesIn)
	counter(descFramesSent, st.FramesOut)
	counter(descSentBytes, st.BytesOut)
	counter(descFramesDropped, st.FramesDropped)
	counter(descSlow, st.PlayersKicked)
	counter(descBusErrors, st.BusErrors)
	gauge(descRelays, float64(st.Relays))
	gauge(descNATS, boolValue(c.e.cfg.NATS.IsConnected()))
	if c.e.cfg.ReadyCheck != nil {
		gauge(descMember, boolValue(c.e.cfg.ReadyCheck() == nil))
	}
	for i := range c.e.counter.claims {
		counter(descClaims, c.e.counter.claims[i].Load(), claimResultNames[i])
	}
	for i := range c.e.counter.claimsLost {
		counter(descClaimsLost, c.e.counter.claimsLost[i].Load(), lostReasonNames[i])
	}
	for i := range c.e.lim.refused {
		counter(descLimitRefusals, c.e.lim.refused[i].Load(), limitNames[i])
	}
	c.e.collectAuth(ch)
	if cl, ok := c.e.own.(*Cluster); ok {
		counter(descTakeovers, cl.takeovers.Load())
		counter(descLeaseLosses, cl.leaseLosses.Load())
	}
}

// boolValue is 1 for true and 0 for false.
func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
