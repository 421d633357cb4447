package controller_test

import (
	"net/http"
	"reflect"
	"slices"
	"strconv"
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
	// edge-1 publishes "live"/"a/b" and plays it and "live"/"kick";
	// edge-2 publishes the others and plays "live"/"a/b".
	if err := e1.RegisterEdge(ctx, cluster.EdgeInfo{Address: "edge-1:1935", Version: "v1", Started: time.Now(),
		Load: cluster.Load{Sessions: 6, Publishers: 1, Players: 5, BitsIn: 2.5e6, BitsOut: 3e6, Streams: map[string]cluster.StreamLoad{
			cluster.StreamLoadKey("live", "a/b"):  {BitsIn: 2.5e6, BitsOut: 1e6, Players: 2},
			cluster.StreamLoadKey("live", "kick"): {BitsOut: 2e6, Players: 3},
		}}}); err != nil {
		t.Fatal(err)
	}
	e2Load := cluster.Load{Publishers: 4, Players: 5, BitsIn: 9e6, BitsOut: 3e6, Streams: map[string]cluster.StreamLoad{
		cluster.StreamLoadKey("", "empty app"): {BitsIn: 1e6},
		cluster.StreamLoadKey("live", "kick"):  {BitsIn: 4e6},
		cluster.StreamLoadKey("live", "a/b"):   {BitsOut: 3e6, Players: 5},
		// "live"/"ü ñ" and "x"/"%": no figures reported.
	}}
	if err := e2.RegisterEdge(ctx, cluster.EdgeInfo{Address: "edge-2:1935", Version: "v1", Draining: true, Started: time.Now(),
		Load: e2Load}); err != nil {
		t.Fatal(err)
	}
	type figures struct {
		bitrate *float64
		players map[string]int
		bitsOut float64
	}
	f := func(v float64) *float64 { return &v }
	want := map[string]figures{
		"live/a%2Fb":           {f(2.5e6), map[string]int{"edge-1": 2, "edge-2": 5}, 4e6},
		"/empty%20app":         {f(1e6), map[string]int{}, 0},
		"live/%C3%BC%20%C3%B1": {nil, map[string]int{}, 0},
		"live/kick":            {f(4e6), map[string]int{"edge-1": 3}, 2e6},
		"x/%25":                {nil, map[string]int{}, 0},
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
			ed = e1
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
			!got.Started.Equal(c.Info().Started) || !got.Active.Equal(c.Info().Active) {
			t.Errorf("stream %q/%q: %+v, claim %+v", n.app, n.name, got, c.Info())
		}
		w := want[n.path]
		if !reflect.DeepEqual(got.Bitrate, w.bitrate) || !reflect.DeepEqual(got.Players, w.players) ||
			got.BitsOut == nil || *got.BitsOut != w.bitsOut {
			t.Errorf("stream %q/%q: bitrate %v, players %v, bits out %v; want %v, %v, %v",
				n.app, n.name, fmtRate(got.Bitrate), got.Players, fmtRate(got.BitsOut), fmtRate(w.bitrate), w.players, w.bitsOut)
		}

		var one controller.StreamStatus
		url := r.api.URL + "/api/v1/streams/" + n.path
		if code := getJSON(t, url, &one); code != http.StatusOK || !reflect.DeepEqual(one, got) {
			t.Errorf("GET %s: %d %+v, want %+v", url, code, one, got)
		}
	}

	// The JSON names of the contract; unknown values are null, no
	// players is {}.
	var raw []map[string]any
	getJSON(t, r.api.URL+"/api/v1/streams?edge=edge-2", &raw)
	if len(raw) != len(names)-1 {
		t.Fatalf("?edge=edge-2: %d streams", len(raw))
	}
	for _, key := range []string{"app", "name", "edge", "epoch", "remote", "started", "active", "bitrate", "players", "bits_out"} {
		if _, ok := raw[0][key]; !ok {
			t.Errorf("stream JSON lacks %q: %v", key, raw[0])
		}
	}
	i := slices.IndexFunc(raw, func(m map[string]any) bool { return m["name"] == "ü ñ" })
	if i < 0 || raw[i]["bitrate"] != nil || !reflect.DeepEqual(raw[i]["players"], map[string]any{}) || raw[i]["bits_out"] != 0.0 {
		t.Errorf("a stream without figures: %v", raw)
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
	wantEdge := controller.EdgeStatus{ID: "edge-2", Address: "edge-2:1935", Version: "v1", Draining: true, Load: e2Load}
	got := edges[1]
	if got.Started.IsZero() {
		t.Errorf("edge without a start time: %+v", got)
	}
	got.Started = time.Time{}
	if !reflect.DeepEqual(got, wantEdge) {
		t.Errorf("edge %+v\nwant %+v", got, wantEdge)
	}
	var one controller.EdgeStatus
	if code := getJSON(t, r.api.URL+"/api/v1/edges/edge-1", &one); code != http.StatusOK || one.ID != "edge-1" || one.Load.Players != 5 ||
		one.Load.Streams[cluster.StreamLoadKey("live", "kick")].Players != 3 {
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

// fmtRate formats a rate that may be null.
func fmtRate(v *float64) string {
	if v == nil {
		return "null"
	}
	return strconv.FormatFloat(*v, 'g', -1, 64)
}

// TestAPIStreamFigures checks where the figures of a stream come from:
// none while no edge reports streams; the bitrate only from the owner's
// registration under the claim's lease; players from every edge.
func TestAPIStreamFigures(t *testing.T) {
	env := newEnv(t)
	ctx := testCtx(t)
	r := env.newReplica(t, "ctl-a")
	owner := env.startEdge(t, "edge-1")
	player := env.startEdge(t, "edge-2")
	owner.claim(t, "live", "x")
	url := r.api.URL + "/api/v1/streams/live/x"

	// Edges that report totals only (startEdge registers no streams).
	var raw map[string]any
	if code := getJSON(t, url, &raw); code != http.StatusOK || raw["bitrate"] != nil || raw["players"] != nil || raw["bits_out"] != nil {
		t.Errorf("no edge reports streams: %d %v, want null figures", code, raw)
	}

	// One edge reports streams, not this one: no players anywhere.
	other := map[string]cluster.StreamLoad{cluster.StreamLoadKey("live", "y"): {Players: 4, BitsOut: 1e6}}
	if err := player.RegisterEdge(ctx, cluster.EdgeInfo{Address: "edge-2:1935", Load: cluster.Load{Streams: other}}); err != nil {
		t.Fatal(err)
	}
	var st controller.StreamStatus
	if code := getJSON(t, url, &st); code != http.StatusOK || st.Bitrate != nil || st.Players == nil || len(st.Players) != 0 ||
		st.BitsOut == nil || *st.BitsOut != 0 {
		t.Errorf("stream reported by no edge: %d bitrate %s, players %v, bits out %s", code, fmtRate(st.Bitrate), st.Players, fmtRate(st.BitsOut))
	}

	// The owner publishes it with no local player; edge-2 plays it.
	if err := owner.RegisterEdge(ctx, cluster.EdgeInfo{Address: "edge-1:1935", Load: cluster.Load{Streams: map[string]cluster.StreamLoad{
		cluster.StreamLoadKey("live", "x"): {BitsIn: 3e6},
	}}}); err != nil {
		t.Fatal(err)
	}
	other[cluster.StreamLoadKey("live", "x")] = cluster.StreamLoad{Players: 7, BitsOut: 21e6}
	if err := player.RegisterEdge(ctx, cluster.EdgeInfo{Address: "edge-2:1935", Load: cluster.Load{Streams: other}}); err != nil {
		t.Fatal(err)
	}
	st = controller.StreamStatus{}
	if code := getJSON(t, url, &st); code != http.StatusOK || st.Bitrate == nil || *st.Bitrate != 3e6 ||
		!reflect.DeepEqual(st.Players, map[string]int{"edge-2": 7}) || st.BitsOut == nil || *st.BitsOut != 21e6 {
		t.Errorf("published on edge-1, played on edge-2: %d bitrate %s, players %v, bits out %s", code, fmtRate(st.Bitrate), st.Players, fmtRate(st.BitsOut))
	}

	// A claim whose lease is not the registration's (an earlier
	// incarnation of the edge still holds it): the registration's figures
	// are not this claim's bitrate; its players still count.
	stale := env.startSession(t, "edge-3")
	if _, err := stale.Claim(ctx, "live", "z", cluster.ClaimRequest{}); err != nil {
		t.Fatal(err)
	}
	current := env.startEdge(t, "edge-3")
	if err := current.RegisterEdge(ctx, cluster.EdgeInfo{Address: "edge-3:1935", Load: cluster.Load{Streams: map[string]cluster.StreamLoad{
		cluster.StreamLoadKey("live", "z"): {BitsIn: 5e6, BitsOut: 2e6, Players: 2},
	}}}); err != nil {
		t.Fatal(err)
	}
	st = controller.StreamStatus{}
	if code := getJSON(t, r.api.URL+"/api/v1/streams/live/z", &st); code != http.StatusOK || st.Edge != "edge-3" || st.Bitrate != nil ||
		!reflect.DeepEqual(st.Players, map[string]int{"edge-3": 2}) || st.BitsOut == nil || *st.BitsOut != 2e6 {
		t.Errorf("claim of another lease: %d %+v, bitrate %s, bits out %s", code, st, fmtRate(st.Bitrate), fmtRate(st.BitsOut))
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
