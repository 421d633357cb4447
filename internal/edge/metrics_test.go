package edge

import (
	"context"
	"errors"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tributary-media/tributary/internal/testutil/natstest"
	"github.com/tributary-media/tributary/pkg/rtmp"
)

// scrape fetches reg's metrics over HTTP in the text format and parses
// them.
func scrape(t testing.TB, reg *prometheus.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("scrape: status %d: %s", rec.Code, rec.Body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	return fams
}

// metricValue returns the value of the sample of family name whose labels
// include labels (name=value pairs), and whether there is one. For a
// histogram it is the sample count.
func metricValue(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.Label {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// mustValue is metricValue failing the test when the sample is missing.
func mustValue(t testing.TB, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	v, ok := metricValue(fams, name, labels...)
	if !ok {
		t.Fatalf("no sample of %s%v", name, labels)
	}
	return v
}

// readVideoN reads messages from c until n video messages have arrived.
func readVideoN(t testing.TB, c *rtmp.ClientConn, n int) {
	t.Helper()
	for got := 0; got < n; {
		m, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if m.Kind == rtmp.KindVideo {
			got++
		}
	}
}

// TestMetricsPublishOnePlayOther publishes on edge A and plays on edge B,
// and checks what both edges' registries report.
func TestMetricsPublishOnePlayOther(t *testing.T) {
	ns := natstest.Start(t, natstest.Options{})
	regA, regB := prometheus.NewRegistry(), prometheus.NewRegistry()
	var memberLost atomic.Bool
	a := startEdge(t, ns, "a", func(c *Config) {
		c.Metrics = regA
		c.ReadyCheck = func() error {
			if memberLost.Load() {
				return errors.New("lease lost")
			}
			return nil
		}
	})
	b := startEdge(t, ns, "b", func(c *Config) { c.Metrics = regB })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// One GOP of n video frames: a player joining later gets them all
	// from the fast-start cache.
	const n = 20
	pub := dialClient(t, ctx, a.URL("live", "m"))
	if err := pub.Publish(ctx, "m"); err != nil {
		t.Fatal(err)
	}
	frames := [][]byte{{0x17, 0x00, 0, 0, 0, 0x01, 0x64, 0x00, 0x1f}, {0x17, 0x01, 0, 0, 0, 0xaa}}
	for len(frames) < n {
		frames = append(frames, []byte{0x27, 0x01, 0, 0, 0, 0xbb, byte(len(frames))})
	}
	var bodyBytes int
	for i, f := range frames {
		if err := pub.WriteVideo(uint32(i*40), f); err != nil {
			t.Fatal(err)
		}
		bodyBytes += len(f)
	}
	waitFor(t, 5*time.Second, func() bool { return a.Stats().FramesIn == n })

	fa := scrape(t, regA)
	if v := mustValue(t, fa, "tributary_edge_frames_received_total"); v != n {
		t.Errorf("A frames_received_total = %v, want %d", v, n)
	}
	if v := mustValue(t, fa, "tributary_edge_received_bytes_total"); v != float64(bodyBytes) {
		t.Errorf("A received_bytes_total = %v, want %d", v, bodyBytes)
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"tributary_edge_publishes_total", []string{"result", "accepted"}, 1},
		{"tributary_edge_publishes_total", []string{"result", "rejected"}, 0},
		{"tributary_edge_sessions", []string{"role", "publisher"}, 1},
		{"tributary_edge_sessions", []string{"role", "player"}, 0},
		{"tributary_edge_connections_total", nil, 1},
		{"tributary_edge_bus_publish_errors_total", nil, 0},
		{"tributary_edge_nats_connected", nil, 1},
		{"tributary_edge_cluster_member", nil, 1},
		{"tributary_edge_claims_total", []string{"result", "granted"}, 1},
		{"tributary_edge_claims_total", []string{"result", "busy"}, 0},
		{"tributary_edge_claims_total", []string{"result", "error"}, 0},
		{"tributary_edge_claims_lost_total", []string{"reason", "taken_over"}, 0},
		{"tributary_edge_claims_lost_total", []string{"reason", "kicked"}, 0},
		{"tributary_edge_claims_lost_total", []string{"reason", "lease_lost"}, 0},
		{"tributary_edge_claims_lost_total", []string{"reason", "other"}, 0},
	} {
		if v := mustValue(t, fa, c.name, c.labels...); v != c.want {
			t.Errorf("A %s%v = %v, want %v", c.name, c.labels, v, c.want)
		}
	}
	memberLost.Store(true)
	if v := mustValue(t, scrape(t, regA), "tributary_edge_cluster_member"); v != 0 {
		t.Errorf("A cluster_member = %v after the lease was lost, want 0", v)
	}
	memberLost.Store(false)
	if _, ok := metricValue(scrape(t, regB), "tributary_edge_cluster_member"); ok {
		t.Error("B exports cluster_member with no cluster")
	}
	for _, name := range []string{"tributary_edge_takeovers_total", "tributary_edge_lease_losses_total"} {
		if _, ok := metricValue(fa, name); ok {
			t.Errorf("A exports %s with no cluster", name)
		}
	}
	// A second publisher of the stream on A: the claim is busy.
	dup := dialClient(t, ctx, a.URL("live", "m"))
	if err := dup.Publish(ctx, "m"); err == nil {
		t.Fatal("a second publisher of live/m was accepted")
	}
	if v := mustValue(t, scrape(t, regA), "tributary_edge_claims_total", "result", "busy"); v != 1 {
		t.Errorf("A claims_total{result=busy} = %v after a duplicate publish, want 1", v)
	}

	play1 := dialClient(t, ctx, b.URL("live", "m"))
	if err := play1.Play(ctx, "m"); err != nil {
		t.Fatal(err)
	}
	readVideoN(t, play1, n)
	waitFor(t, 5*time.Second, func() bool { return b.Stats().FramesOut >= n })
	fb := scrape(t, regB)
	if v := mustValue(t, fb, "tributary_edge_frames_sent_total"); v < n {
		t.Errorf("B frames_sent_total = %v, want at least %d", v, n)
	}
	sent1 := mustValue(t, fb, "tributary_edge_sent_bytes_total")
	if sent1 < float64(bodyBytes) {
		t.Errorf("B sent_bytes_total = %v, want at least %d", sent1, bodyBytes)
	}
	if v := mustValue(t, fb, "tributary_edge_frame_latency_seconds"); v == 0 {
		t.Error("B frame_latency_seconds has no observation")
	}
	if v := mustValue(t, fb, "tributary_edge_time_to_first_frame_seconds"); v != 1 {
		t.Errorf("B time_to_first_frame_seconds count = %v, want 1", v)
	}
	if v := mustValue(t, fb, "tributary_edge_relays"); v != 1 {
		t.Errorf("B relays = %v, want 1", v)
	}
	if v, ok := metricValue(fa, "tributary_edge_frame_latency_seconds"); !ok || v != 0 {
		t.Errorf("A frame_latency_seconds count = %v (present %v), want 0: A has no player", v, ok)
	}

	// A second player of the same stream on B: one relay, more bytes out.
	play2 := dialClient(t, ctx, b.URL("live", "m"))
	if err := play2.Play(ctx, "m"); err != nil {
		t.Fatal(err)
	}
	readVideoN(t, play2, n)
	waitFor(t, 5*time.Second, func() bool { return b.Stats().FramesOut >= 2*n })
	fb = scrape(t, regB)
	if v := mustValue(t, fb, "tributary_edge_sent_bytes_total"); v <= sent1 {
		t.Errorf("B sent_bytes_total = %v with a second player, want more than %v", v, sent1)
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"tributary_edge_relays", nil, 1},
		{"tributary_edge_sessions", []string{"role", "player"}, 2},
		{"tributary_edge_sessions", []string{"role", "other"}, 0},
		{"tributary_edge_plays_total", []string{"result", "accepted"}, 2},
		{"tributary_edge_time_to_first_frame_seconds", nil, 2},
		{"tributary_edge_frames_dropped_total", nil, 0},
		{"tributary_edge_players_disconnected_slow_total", nil, 0},
	} {
		if v := mustValue(t, fb, c.name, c.labels...); v != c.want {
			t.Errorf("B %s%v = %v, want %v", c.name, c.labels, v, c.want)
		}
	}
	// Latency is sampled: one frame in latencySampleEvery per player.
	if v, want := mustValue(t, fb, "tributary_edge_frame_latency_seconds"), float64(2*((n+latencySampleEvery-1)/latencySampleEvery)); v != want {
		t.Errorf("B frame_latency_seconds count = %v, want %v", v, want)
	}

	play1.Close()
	play2.Close()
	waitFor(t, 5*time.Second, func() bool { return b.Stats().Relays == 0 })
	fb = scrape(t, regB)
	if v := mustValue(t, fb, "tributary_edge_relays"); v != 0 {
		t.Errorf("B relays = %v after the players left, want 0", v)
	}
	if v := mustValue(t, fb, "tributary_edge_sessions", "role", "player"); v != 0 {
		t.Errorf("B player sessions = %v after the players left, want 0", v)
	}
}

// TestMetricsRegisterTwice checks that a second edge on one registry is
// refused instead of mixing two edges' counters.
func TestMetricsRegisterTwice(t *testing.T) {
	ns := natstest.Start(t, natstest.Options{})
	reg := prometheus.NewRegistry()
	nc := ns.Connect(t)
	if _, err := New(Config{NATS: nc, Metrics: reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{NATS: nc, Metrics: reg}); err == nil {
		t.Fatal("a second edge registered its metrics on the same registry")
	}
	// The failed registration left nothing behind: the first edge's
	// families are intact and single.
	fams := scrape(t, reg)
	if f := fams["tributary_edge_frame_latency_seconds"]; f == nil || len(f.Metric) != 1 {
		t.Fatalf("frame_latency_seconds after a refused edge: %v", f)
	}
}
