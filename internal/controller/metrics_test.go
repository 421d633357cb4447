package controller_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tributary-media/tributary/internal/controller"
	"github.com/tributary-media/tributary/internal/telemetry"
	"github.com/tributary-media/tributary/pkg/cluster"
)

// scrapeMetrics fetches url and parses the text format.
func scrapeMetrics(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: status %d", url, resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	return fams
}

// sample returns the value of the counter or gauge name with the label
// pair lv (name, value) if given; -1 when there is none.
func sample(fams map[string]*dto.MetricFamily, name string, lv ...string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
	for _, m := range f.Metric {
		if len(lv) == 2 {
			match := false
			for _, l := range m.Label {
				if l.GetName() == lv[0] && l.GetValue() == lv[1] {
					match = true
				}
			}
			if !match {
				continue
			}
		}
		if m.Counter != nil {
			return m.Counter.GetValue()
		}
		return m.Gauge.GetValue()
	}
	return -1
}

// TestMetrics runs two Servers with their own registries, served on
// /metrics next to the admin API: the leader gauge is 1 on the leader
// only, the leader counts the cluster and the events it publishes, and
// the claims it reaps.
func TestMetrics(t *testing.T) {
	env := newEnv(t)
	type server struct {
		srv *controller.Server
		url string
	}
	var servers []server
	for _, id := range []string{"ctl-1", "ctl-2"} {
		cfg := env.newServerConfig(t, id, "127.0.0.1:0")
		reg := telemetry.NewRegistry()
		cfg.Metrics = reg
		cfg.MetricsHandler = telemetry.Handler(reg)
		srv, err := controller.NewServer(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- srv.Run(ctx) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run of %s: %v", id, err)
			}
		})
		servers = append(servers, server{srv: srv, url: "http://" + srv.Addr().String() + "/metrics"})
	}
	var leader, follower server
	waitFor(t, 10*time.Second, "one leader", func() bool {
		a, b := servers[0].srv.Controller().IsLeader(), servers[1].srv.Controller().IsLeader()
		leader, follower = servers[0], servers[1]
		if b {
			leader, follower = servers[1], servers[0]
		}
		return a != b
	})
	lf, ff := scrapeMetrics(t, leader.url), scrapeMetrics(t, follower.url)
	if v := sample(lf, "tributary_controller_leader"); v != 1 {
		t.Errorf("leader gauge on the leader = %v, want 1", v)
	}
	if v := sample(ff, "tributary_controller_leader"); v != 0 {
		t.Errorf("leader gauge on the follower = %v, want 0", v)
	}
	if lf["go_goroutines"] == nil {
		t.Error("no go_goroutines family on /metrics")
	}
	// The admin API is still served next to /metrics.
	var st controller.LeaderStatus
	if code := getJSON(t, "http://"+leader.srv.Addr().String()+"/api/v1/leader", &st); code != http.StatusOK || !st.IsLeader {
		t.Fatalf("admin API next to /metrics: %d %+v", code, st)
	}

	// One edge with one stream; a second edge whose registration
	// disappears, so that its claim is reaped.
	live := env.startEdge(t, "edge-live")
	live.claim(t, "live", "a")
	gone := env.startEdge(t, "edge-gone")
	orphan := gone.claim(t, "live", "b")
	waitFor(t, 5*time.Second, "two started events", func() bool {
		return sample(scrapeMetrics(t, leader.url), "tributary_controller_events_published_total", "type", controller.EventStarted) == 2
	})
	lf = scrapeMetrics(t, leader.url)
	if v := sample(lf, "tributary_controller_edges"); v != 2 {
		t.Errorf("edges on the leader = %v, want 2", v)
	}
	if v := sample(lf, "tributary_controller_streams"); v != 2 {
		t.Errorf("streams on the leader = %v, want 2", v)
	}
	if _, err := env.cli.Delete(testCtx(t), cluster.EdgeKey(env.prefix, "edge-gone")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-orphan.Lost():
	case <-time.After(testReap + 5*time.Second):
		t.Fatal("the orphaned claim was not reaped")
	}
	waitFor(t, 5*time.Second, "the reap counted", func() bool {
		f := scrapeMetrics(t, leader.url)
		return sample(f, "tributary_controller_claims_reaped_total") == 1 &&
			sample(f, "tributary_controller_streams") == 1 && sample(f, "tributary_controller_edges") == 1
	})
	ff = scrapeMetrics(t, follower.url)
	for _, name := range []string{"tributary_controller_streams", "tributary_controller_edges", "tributary_controller_claims_reaped_total"} {
		if v := sample(ff, name); v != 0 {
			t.Errorf("%s on the follower = %v, want 0", name, v)
		}
	}
	if v := sample(ff, "tributary_controller_events_published_total", "type", controller.EventStarted); v != 0 {
		t.Errorf("started events counted on the follower = %v, want 0", v)
	}
}

// TestMetricsRegisterTwice checks that two controllers cannot share a
// registry, and that the refused one leaves nothing registered.
func TestMetricsRegisterTwice(t *testing.T) {
	env := newEnv(t)
	reg := prometheus.NewRegistry()
	cfg := controller.Config{Etcd: env.cli, NATS: env.nats.Connect(t), ID: "a", Metrics: reg}
	if _, err := controller.New(cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := controller.New(cfg); err == nil || !contains(err.Error(), "controller: register metrics") {
		t.Fatalf("second New on one registry: %v", err)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(fams) != 5 {
		t.Fatalf("%d families registered, want the 5 of one controller", len(fams))
	}
}
