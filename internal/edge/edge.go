// Package edge is a Tributary edge: it accepts RTMP publishes and puts
// their frames on the media bus, and serves players of any stream, whoever
// publishes it and wherever, from one bus subscription per stream.
//
// An Edge is stateless: the bus carries the media, an Ownership (local, or
// etcd in a cluster) decides who may publish. A publish is claimed, then its
// frames go to a bus.Publisher that also answers fast-start requests. A play
// joins the stream's relay on this edge: one bus.Subscriber whose frames a
// fanout.Hub delivers to every local player through a bounded queue, so a
// slow player drops to the next keyframe and is disconnected past a lag
// limit without slowing anyone. Players of a stream published on this very
// edge go through the bus like everyone else.
//
// Stream lifecycle as players see it: a clean end (FCUnpublish,
// deleteStream) reaches them at once as NetStream.Play.UnpublishNotify. A
// publisher that vanishes (TCP loss, a dead edge) is a gap: players hear
// nothing and wait; when the stream is published again, on any edge, they
// resume from its sequence headers and first keyframe with timestamps that
// continue where they stopped. Only after the reconnect grace without
// frames are they told the stream ended. They stay connected throughout.
package edge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/tributary-media/tributary/internal/auth"
	"github.com/tributary-media/tributary/internal/fanout"
	"github.com/tributary-media/tributary/pkg/bus"
	"github.com/tributary-media/tributary/pkg/cluster"
	"github.com/tributary-media/tributary/pkg/rtmp"
)

// Defaults of Config.
const (
	DefaultReconnectGrace = 10 * time.Second
	DefaultDrainTimeout   = 30 * time.Second
	DefaultInitCacheBytes = bus.DefaultInitCacheBytes
)

// Config configures an Edge. NATS is required; the zero value of every
// other field selects its default.
type Config struct {
	// ID names the edge in logs and, in a cluster, in the registry.
	ID string
	// NATS is the bus connection. The Edge does not own it; it should be
	// made with bus.ReconnectOptions.
	NATS *nats.Conn
	// Prefix is the bus subject prefix; empty means bus.DefaultPrefix.
	Prefix string
	// Ownership grants publishes; nil means a NewLocalOwnership.
	Ownership Ownership
	// ReconnectGrace is how long players wait, hearing nothing, for a
	// publisher that vanished without a clean end before they are told
	// the stream ended; 0 means DefaultReconnectGrace.
	ReconnectGrace time.Duration
	// InitCacheBytes caps the fast-start cache of each stream published
	// here, and the GOP cache of each stream relayed here; 0 means
	// DefaultInitCacheBytes.
	InitCacheBytes int
	// PlayerQueueBytes bounds each player's queue; beyond it the player
	// drops to the next keyframe. 0 means fanout.DefaultPlayerQueueBytes.
	PlayerQueueBytes int
	// PlayerMaxLag disconnects a player continuously behind for this
	// long; 0 means fanout.DefaultPlayerMaxLag.
	PlayerMaxLag time.Duration
	// AudioHold lets audio wait for the next video frame, to leave with it
	// in one write per player (see fanout.Config.AudioHold); 0 means
	// fanout.DefaultAudioHold, negative disables it.
	AudioHold time.Duration
	// MaxConns caps the RTMP connections served at once, by every Serve
	// call together; 0 means no limit. Connections over it, or over
	// MaxConnsPerIP, are closed right after accept.
	MaxConns int
	// MaxConnsPerIP caps the connections served at once from one client
	// address: an IPv4 address, or an IPv6 /64; 0 means no limit.
	MaxConnsPerIP int
	// MaxPublishers caps the streams published on the edge at once; a
	// publish over it gets NetStream.Publish.Failed. 0 means no limit.
	MaxPublishers int
	// MaxPlayersPerStream caps the players of one stream on the edge; a
	// play over it gets NetStream.Play.Failed. 0 means no limit.
	MaxPlayersPerStream int
	// MaxPublishBitrate, in bit/s, caps what a publisher sends: within
	// any 5 s, at most what 6 s at this rate give (1 s of burst allowance
	// for keyframes), counting the bodies of its audio, video and data
	// messages. A publisher over it is disconnected. 0 means no limit.
	MaxPublishBitrate int64
	// DrainTimeout is how long sessions get to end on their own after
	// Serve's context ends (encoders are asked to reconnect elsewhere
	// first); 0 means DefaultDrainTimeout.
	DrainTimeout time.Duration
	// RTMP configures every RTMP connection.
	RTMP rtmp.ServerConfig
	// HandshakeTimeout, ConnectTimeout, IdleTimeout and WriteTimeout are
	// passed to the rtmp.Server; zero values select its defaults.
	HandshakeTimeout, ConnectTimeout, IdleTimeout, WriteTimeout time.Duration
	// Auth decides publishes and plays (docs/security.md); nil allows
	// everything. The Edge does not own it.
	Auth *auth.Authorizer
	// ReadyCheck, when set, is one more condition of readiness (the
	// cluster membership).
	ReadyCheck func() error
	// Logger receives the edge's logs; nil discards them.
	Logger *slog.Logger
	// Metrics, when set, receives the edge's Prometheus metrics
	// (tributary_edge_*, docs/observability.md); nil registers none.
	// Counters are read when scraped; the play path only samples the
	// latency histograms. Registering fails, and so does New, when the
	// registerer already holds an edge's metrics.
	Metrics prometheus.Registerer
	// TracerProvider receives the spans of the RTMP sessions (rtmp.session
	// and its children, docs/observability.md); nil means no tracing.
	TracerProvider trace.TracerProvider
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Edge serves RTMP publishers and players over the media bus. Create one
// with New, then call Serve for each listener. Its methods are safe for
// concurrent use.
type Edge struct {
	cfg Config
	log *slog.Logger
	hub *fanout.Hub
	own Ownership
	now func() time.Time
	met *metrics // nil without Config.Metrics
	tr  trace.Tracer

	draining atomic.Bool
	serving  atomic.Int32
	lim      limits

	// rateMu guards the sample of the previous load: when it was taken,
	// the byte totals, and the bytes counted then by each publication and
	// relay (the streams gone since are forgotten at the next load).
	rateMu          sync.Mutex
	rateAt          time.Time
	rateIn, rateOut uint64
	ratePubs        map[*publication]uint64
	rateRelays      map[*relay]uint64

	mu      sync.Mutex // guards relays, pubs and gen
	relays  map[StreamKey]*relay
	pubs    map[*publication]struct{} // the publications of every session
	gen     uint64
	counter counters
}

// counters are the edge's totals, for Stats.
type counters struct {
	sessions, publishers, players          atomic.Int64
	framesIn, bytesIn, busErrors           atomic.Uint64
	framesOut, bytesOut, playersKicked     atomic.Uint64
	publishesRejected, publishesAccepted   atomic.Uint64
	playsAccepted, playsRejected, connects atomic.Uint64
	framesDropped                          atomic.Uint64
	// claims counts Ownership.Claim results by claimResult, claimsLost
	// the claims lost by lostReason.
	claims     [numClaimResults]atomic.Uint64
	claimsLost [numLostReasons]atomic.Uint64
}

// Results of a claim, the result label of tributary_edge_claims_total.
const (
	claimGranted = iota
	claimBusy
	claimError
	numClaimResults
)

var claimResultNames = [numClaimResults]string{"granted", "busy", "error"}

// Reasons a claim is lost, the reason label of
// tributary_edge_claims_lost_total.
const (
	lostTakenOver = iota
	lostKicked
	lostLeaseLost
	lostOther
	numLostReasons
)

var lostReasonNames = [numLostReasons]string{"taken_over", "kicked", "lease_lost", "other"}

// Stats are an Edge's counters.
type Stats struct {
	// Sessions, Publishers and Players are the connections, publishes and
	// plays open now.
	Sessions, Publishers, Players int64
	// Relays is the number of streams this edge subscribes to now.
	Relays int
	// FramesIn and BytesIn count the frames (and body bytes) received from
	// publishers; BusErrors the frames the bus refused.
	FramesIn, BytesIn, BusErrors uint64
	// FramesOut and BytesOut count what was written to players.
	FramesOut, BytesOut uint64
	// PlayersKicked counts players disconnected for lagging.
	PlayersKicked uint64
	// FramesDropped counts the frames players skipped because their
	// queue was full; a play's drops are added when it ends.
	FramesDropped uint64
	// Connects, PublishesAccepted, PublishesRejected, PlaysAccepted and
	// PlaysRejected count requests.
	Connects, PublishesAccepted, PublishesRejected, PlaysAccepted, PlaysRejected uint64
}

// StreamStats are an Edge's counters of one stream.
type StreamStats struct {
	// Publishers is the number of publishes of the stream on this edge:
	// 1, or briefly 2 while a new publisher takes it over from another
	// one on this edge.
	Publishers int
	// BytesIn counts the body bytes received from those publishers since
	// their publish started.
	BytesIn uint64
	// Players is the number of this edge's players of the stream.
	Players int
	// BytesOut counts the body bytes written to the stream's players on
	// this edge since its relay started: since the edge went from no
	// player of the stream to one.
	BytesOut uint64
}

// New checks cfg and returns an Edge. It starts nothing.
func New(cfg Config) (*Edge, error) {
	if cfg.NATS == nil {
		return nil, errors.New("edge: Config.NATS is required")
	}
	if cfg.ReconnectGrace <= 0 {
		cfg.ReconnectGrace = DefaultReconnectGrace
	}
	if cfg.InitCacheBytes <= 0 {
		cfg.InitCacheBytes = DefaultInitCacheBytes
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = DefaultDrainTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TracerProvider == nil {
		cfg.TracerProvider = noop.NewTracerProvider()
	}
	if cfg.Ownership == nil {
		cfg.Ownership = NewLocalOwnership(cfg.Now)
	}
	// Check the prefix the way the bus will.
	if _, err := bus.NewSubscriber(cfg.NATS, bus.SubscriberConfig{Prefix: cfg.Prefix, App: "a", Name: "b", Handler: func(bus.Frame) {}}); err != nil {
		return nil, fmt.Errorf("edge: %w", err)
	}
	e := &Edge{
		cfg: cfg,
		log: cfg.Logger,
		own: cfg.Ownership,
		now: cfg.Now,
		tr:  cfg.TracerProvider.Tracer(tracerName),
		hub: fanout.New(fanout.Config{
			GOPCacheBytes:    cfg.InitCacheBytes,
			PlayerQueueBytes: cfg.PlayerQueueBytes,
			PlayerMaxLag:     cfg.PlayerMaxLag,
			AudioHold:        cfg.AudioHold,
			Logger:           cfg.Logger,
			Now:              cfg.Now,
		}),
		relays: make(map[StreamKey]*relay),
		pubs:   make(map[*publication]struct{}),
	}
	if cfg.Metrics != nil {
		m, err := newMetrics(e, cfg.Metrics)
		if err != nil {
			return nil, err
		}
		e.met = m
	}
	return e, nil
}

// Serve accepts RTMP connections on ln until ctx ends, then drains: it
// stops accepting, asks encoders that support it (Enhanced RTMP reconnect
// request) to reconnect elsewhere, and gives every session up to the drain
// timeout to end before closing it. It returns when every session has
// ended. Wrap ln with tls.NewListener for RTMPS.
func (e *Edge) Serve(ctx context.Context, ln net.Listener) error {
	srv := &rtmp.Server{
		Handler:          e.serveConn,
		Config:           e.cfg.RTMP,
		Logger:           e.log,
		HandshakeTimeout: e.cfg.HandshakeTimeout,
		ConnectTimeout:   e.cfg.ConnectTimeout,
		IdleTimeout:      e.cfg.IdleTimeout,
		WriteTimeout:     e.cfg.WriteTimeout,
		OnClose:          e.onConnClose,
		ShutdownGrace:    e.cfg.DrainTimeout,
	}
	e.serving.Add(1)
	defer e.serving.Add(-1)
	e.log.Info("rtmp listener started", "addr", ln.Addr().String())
	err := srv.Serve(ctx, &limitedListener{Listener: ln, e: e})
	e.lim.log.flush()
	e.log.Info("rtmp listener stopped", "addr", ln.Addr().String())
	return err
}

// SetDraining marks the edge as draining: readiness fails from then on, so
// a load balancer stops sending new sessions. Serve's context ending is
// what stops the listeners.
func (e *Edge) SetDraining() { e.draining.Store(true) }

// Ready returns nil when the edge can take sessions: serving at least one
// listener, not draining, and connected to the bus.
func (e *Edge) Ready() error {
	switch {
	case e.draining.Load():
		return errors.New("draining")
	case e.serving.Load() == 0:
		return errors.New("no RTMP listener is serving")
	case !e.cfg.NATS.IsConnected():
		return fmt.Errorf("bus: NATS connection %s", e.cfg.NATS.Status())
	}
	if e.cfg.ReadyCheck != nil {
		return e.cfg.ReadyCheck()
	}
	return nil
}

// load returns the edge's work for the cluster registry: open sessions,
// publishes and plays, and the bit rates in and out since the previous
// call, in total and per stream (every stream published or played here;
// the first call has players but no rates). A publication or relay that
// started since the previous call counts its bytes from its start; the
// bytes of those that ended meanwhile are not counted.
func (e *Edge) load() cluster.Load {
	// Sample under rateMu, so that concurrent calls take their samples in
	// the order they compute rates in.
	e.rateMu.Lock()
	defer e.rateMu.Unlock()
	now := e.now()
	st := e.Stats()
	pubs, relays := e.streamCounters()
	l := cluster.Load{Sessions: int(st.Sessions), Publishers: int(st.Publishers), Players: int(st.Players)}
	dt := now.Sub(e.rateAt).Seconds()
	rated := !e.rateAt.IsZero() && dt > 0
	rate := func(n, prev uint64) float64 {
		if !rated || n < prev {
			return 0
		}
		return float64(n-prev) * 8 / dt
	}
	l.BitsIn, l.BitsOut = rate(st.BytesIn, e.rateIn), rate(st.BytesOut, e.rateOut)
	if len(pubs)+len(relays) > 0 {
		l.Streams = make(map[string]cluster.StreamLoad, len(pubs)+len(relays))
	}
	for p, n := range pubs {
		k := cluster.StreamLoadKey(p.key.App, p.key.Name)
		sl := l.Streams[k]
		sl.BitsIn += rate(n, e.ratePubs[p])
		l.Streams[k] = sl
	}
	for r, c := range relays {
		k := cluster.StreamLoadKey(r.key.App, r.key.Name)
		sl := l.Streams[k]
		sl.BitsOut += rate(c.bytes, e.rateRelays[r])
		sl.Players += c.players
		l.Streams[k] = sl
	}
	e.rateAt, e.rateIn, e.rateOut = now, st.BytesIn, st.BytesOut
	e.ratePubs = pubs
	e.rateRelays = make(map[*relay]uint64, len(relays))
	for r, c := range relays {
		e.rateRelays[r] = c.bytes
	}
	return l
}

// relayCount is a relay's counters at one moment.
type relayCount struct {
	players int
	bytes   uint64
}

// streamCounters returns the bytes counted by every publication of the
// edge and the counters of every relay, now.
func (e *Edge) streamCounters() (map[*publication]uint64, map[*relay]relayCount) {
	e.mu.Lock()
	defer e.mu.Unlock()
	pubs := make(map[*publication]uint64, len(e.pubs))
	for p := range e.pubs {
		pubs[p] = p.bytes.Load()
	}
	relays := make(map[*relay]relayCount, len(e.relays))
	for _, r := range e.relays {
		relays[r] = relayCount{players: r.players, bytes: r.bytesOut.Load()}
	}
	return pubs, relays
}

// StreamStats returns the counters of every stream published on the edge
// or played from it now.
func (e *Edge) StreamStats() map[StreamKey]StreamStats {
	pubs, relays := e.streamCounters()
	out := make(map[StreamKey]StreamStats, len(pubs)+len(relays))
	for p, n := range pubs {
		s := out[p.key]
		s.Publishers++
		s.BytesIn += n
		out[p.key] = s
	}
	for r, c := range relays {
		s := out[r.key]
		s.Players += c.players
		s.BytesOut += c.bytes
		out[r.key] = s
	}
	return out
}

// HealthHandler serves /healthz (the process is alive: always 200) and
// /readyz (200 when Ready, 503 with the reason otherwise).
func (e *Edge) HealthHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := e.Ready(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready:", err)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}

// Stats returns the edge's counters.
func (e *Edge) Stats() Stats {
	c := &e.counter
	e.mu.Lock()
	relays := len(e.relays)
	e.mu.Unlock()
	return Stats{
		Sessions: c.sessions.Load(), Publishers: c.publishers.Load(), Players: c.players.Load(),
		Relays:   relays,
		FramesIn: c.framesIn.Load(), BytesIn: c.bytesIn.Load(), BusErrors: c.busErrors.Load(),
		FramesOut: c.framesOut.Load(), BytesOut: c.bytesOut.Load(), PlayersKicked: c.playersKicked.Load(), FramesDropped: c.framesDropped.Load(),
		Connects: c.connects.Load(), PublishesAccepted: c.publishesAccepted.Load(), PublishesRejected: c.publishesRejected.Load(),
		PlaysAccepted: c.playsAccepted.Load(), PlaysRejected: c.playsRejected.Load(),
	}
}
