package controller_test

import (
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tributary-media/tributary/internal/controller"
	"github.com/tributary-media/tributary/pkg/cluster"
)

// TestAPIReads checks the read endpoints, with names that need escaping,
// on a replica that does not run (reads go to etcd).
func TestAPIReads(t *testing.T) {
	env := newEnv(t)
	ctx := testCtx(t)
	r := env.newReplica(t, "ctl-a")
	e1 := env.startEdge(t, "edge-1")
	e2 := env.startEdge(t, "edge-2")
	if err := e1.RegisterEdge(ctx, cluster.EdgeInfo{Address: "edge-1:1935", Version: "v1", Started: time.Now(),
		Load: cluster.Load{Sessions: 3, Publishers: 1, Players: 2, BitsIn: 2.5e6, BitsOut: 5e6}}); err != nil {
		t.Fatal(err)
	}
	if err := e2.RegisterEdge(ctx, cluster.EdgeInfo{Address: "edge-2:1935", Version: "v1", Draining: true, Started: time.Now(),
		Load: cluster.Load{Publishers: 4, BitsIn: 9e6}}); err != nil {
		t.Fatal(err)
	}
	names := []struct{ app, name, path string }{
		{"live", "a/b", "live/a%2Fb"},
		{"", "empty app", "/empty%20app"},
		{"live", "ü ñ", "live/%C3%BC%20%C3%B1"},
		{"live", "kick", "live/kick"},
		{"x", "%", "x/%25"},
	}
	claims := map[string]*cluster.Claim{}
	for i, n := range names {
		ed := e2
		if i == 0 {
			ed = e1 // edge-1 publishes one stream: its bitrate is known
		}
		claims[n.path] = ed.claim(t, n.app, n.name)
	}

	var list []controller.StreamStatus
	if code := getJSON(t, r.api.URL+"/api/v1/streams", &list); code != http.StatusOK || len(list) != len(names) {
		t.Fatalf("streams: %d %+v", code, list)
	}
	for _, n := range names {
		c := claims[n.path]
		i := slices.IndexFunc(list, func(s controller.StreamStatus) bool { return s.App == n.app && s.Name == n.name })
		if i < 0 {
			t.Fatalf("stream %q/%q not listed", n.app, n.name)
		}
		got := list[i]
		if got.Edge != c.Info().Edge || got.Epoch != c.Epoch() || got.Remote != "192.0.2.1:5000" ||
			!got.Started.Equal(c.Info().Started) || !got.Active.Equal(c.Info().Active) || got.Players != nil {
			t.Errorf("stream %q/%q: %+v, claim %+v", n.app, n.name, got, c.Info())
		}
		switch {
		case got.Edge == "edge-1" && (got.Bitrate == nil || *got.Bitrate != 2.5e6):
			t.Errorf("stream %q/%q of the single publisher of edge-1: bitrate %v, want 2.5e6", n.app, n.name, got.Bitrate)
		case got.Edge == "edge-2" && got.Bitrate != nil:
			t.Errorf("stream %q/%q of edge-2 (4 publishers): bitrate %v, want null", n.app, n.name, *got.Bitrate)
		}

		var one controller.StreamStatus
		url := r.api.URL + "/api/v1/streams/" + n.path
		if code := getJSON(t, url, &one); code != http.StatusOK || !reflect.DeepEqual(one, got) {
			t.Errorf("GET %s: %d %+v, want %+v", url, code, one, got)
		}
	}

	// The JSON names of the contract; unknown values are null.
	var raw []map[string]any
	getJSON(t, r.api.URL+"/api/v1/streams?edge=edge-2", &raw)
	if len(raw) != len(names)-1 {
		t.Fatalf("?edge=edge-2: %d streams", len(raw))
	}
	for _, key := range []string{"app", "name", "edge", "epoch", "remote", "started", "active", "bitrate", "players"} {
		if _, ok := raw[0][key]; !ok {
			t.Errorf("stream JSON lacks %q: %v", key, raw[0])
		}
	}
	if raw[0]["bitrate"] != nil || raw[0]["players"] != nil {
		t.Errorf("unknown values are not null: %v", raw[0])
	}
	getJSON(t, r.api.URL+"/api/v1/streams?app=live&edge=edge-2", &list)
	if len(list) != 2 {
		t.Errorf("?app=live&edge=edge-2: %+v", list)
	}
	getJSON(t, r.api.URL+"/api/v1/streams?app=", &list)
	if len(list) != 1 || list[0].Name != "empty app" {
		t.Errorf("?app= (the empty application): %+v", list)
	}

	var edges []controller.EdgeStatus
	if code := getJSON(t, r.api.URL+"/api/v1/edges", &edges); code != http.StatusOK || len(edges) != 2 {
		t.Fatalf("edges: %d %+v", code, edges)
	}
	want := controller.EdgeStatus{ID: "edge-2", Address: "edge-2:1935", Version: "v1", Draining: true, Load: cluster.Load{Publishers: 4, BitsIn: 9e6}}
	got := edges[1]
	if got.Started.IsZero() {
		t.Errorf("edge without a start time: %+v", got)
	}
	got.Started = time.Time{}
	if got != want {
		t.Errorf("edge %+v\nwant %+v", got, want)
	}
	var one controller.EdgeStatus
	if code := getJSON(t, r.api.URL+"/api/v1/edges/edge-1", &one); code != http.StatusOK || one.ID != "edge-1" || one.Load.Players != 2 {
		t.Errorf("edge-1: %d %+v", code, one)
	}

	var st controller.LeaderStatus
	if code := getJSON(t, r.api.URL+"/api/v1/leader", &st); code != http.StatusOK || st.ID != nil || st.IsLeader || st.Replica != "ctl-a" {
		t.Errorf("leader with none: %d %+v", code, st)
	}
	var health map[string]string
	if code := getJSON(t, r.api.URL+"/healthz", &health); code != http.StatusOK || health["status"] != "ok" {
		t.Errorf("healthz: %d %v", code, health)
	}
	if code := getJSON(t, r.api.URL+"/readyz", &health); code != http.StatusOK || health["status"] != "ready" {
		t.Errorf("readyz: %d %v", code, health)
	}
}

// TestAPIErrors checks the answers to requests that cannot be served.
func TestAPIErrors(t *testing.T) {
	env := newEnv(t)
	r := env.newReplica(t, "ctl-a")
	env.startEdge(t, "edge-1").claim(t, "live", "a")
	for _, tc := range []struct {
		method, path string
		status       int
		want         string
	}{
		{"GET", "/api/v1/streams/live/nope", 404, `no stream "live"/"nope"`},
		{"GET", "/api/v1/streams/live", 404, "no such endpoint"},
		{"GET", "/api/v1/streams/", 404, "no such endpoint"},
		{"GET", "/api/v1/streams/live/a/b", 404, "no such endpoint"},
		{"GET", "/api/v1/streams/live/a/kick/x", 404, "no such endpoint"},
		{"GET", "/api/v1/nope", 404, "no such endpoint"},
		{"GET", "/api/v2/streams", 404, "no such endpoint"},
		{"GET", "/", 404, "no such endpoint"},
		{"GET", "/api/v1/edges/nope", 404, `no edge "nope"`},
		{"POST", "/api/v1/streams", 405, "method POST not allowed; use GET"},
		{"DELETE", "/api/v1/edges", 405, "use GET"},
		{"PUT", "/api/v1/leader", 405, "use GET"},
		{"POST", "/healthz", 405, "use GET"},
		{"GET", "/api/v1/streams/live/a/kick", 405, "use POST"},
		{"POST", "/api/v1/streams/live/nope/kick", 404, "no stream"},
	} {
		var e struct{ Error string }
		code := doJSON(t, tc.method, r.api.URL+tc.path, &e)
		if code != tc.status || !strings.Contains(e.Error, tc.want) {
			t.Errorf("%s %s: %d %q, want %d %q", tc.method, tc.path, code, e.Error, tc.status, tc.want)
		}
	}
	resp, err := http.Head(r.api.URL + "/api/v1/streams")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("HEAD streams: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, err = http.Post(r.api.URL+"/api/v1/edges", "", nil)
	if err != nil || resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Fatalf("POST edges: %v %v", resp, err)
	}
	resp.Body.Close()

	// Without etcd: not ready, reads fail with 503.
	env.etcd.Stop()
	var e struct{ Error string }
	if code := doJSON(t, "GET", r.api.URL+"/readyz", &e); code != http.StatusServiceUnavailable || !strings.Contains(e.Error, "etcd") {
		t.Errorf("readyz without etcd: %d %q", code, e.Error)
	}
	if code := doJSON(t, "GET", r.api.URL+"/api/v1/streams", &e); code != http.StatusServiceUnavailable || !strings.Contains(e.Error, "cluster state unavailable") {
		t.Errorf("streams without etcd: %d %q", code, e.Error)
	}
}

// TestReadyWithoutNATS checks that readiness needs the bus.
func TestReadyWithoutNATS(t *testing.T) {
	env := newEnv(t)
	r := env.newReplica(t, "ctl-a")
	env.nats.Shutdown()
	waitFor(t, 5*time.Second, "not ready without NATS", func() bool {
		var e struct{ Error string }
		return doJSON(t, "GET", r.api.URL+"/readyz", &e) == http.StatusServiceUnavailable && strings.Contains(e.Error, "NATS")
	})
}
