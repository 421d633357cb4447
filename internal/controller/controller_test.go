package controller_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tributary-media/tributary/internal/controller"
	"github.com/tributary-media/tributary/pkg/cluster"
)

func TestNewChecksConfig(t *testing.T) {
	env := newEnv(t)
	nc := env.nats.Connect(t)
	for _, tc := range []struct {
		name string
		cfg  controller.Config
		want string
	}{
		{"no etcd", controller.Config{NATS: nc, ID: "a"}, "Config.Etcd is required"},
		{"no nats", controller.Config{Etcd: env.cli, ID: "a"}, "Config.NATS is required"},
		{"no id", controller.Config{Etcd: env.cli, NATS: nc}, "Config.ID is required"},
		{"bad prefix", controller.Config{Etcd: env.cli, NATS: nc, ID: "a", Prefix: "a.b"}, `prefix "a.b"`},
		{"negative grace", controller.Config{Etcd: env.cli, NATS: nc, ID: "a", ReapGrace: -time.Second}, "negative duration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := controller.New(tc.cfg)
			if err == nil || !contains(err.Error(), tc.want) || !contains(err.Error(), "controller: ") {
				t.Fatalf("New: %v, want an error with %q", err, tc.want)
			}
		})
	}
	c, err := controller.New(controller.Config{Etcd: env.cli, NATS: nc, ID: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if c.IsLeader() {
		t.Fatal("a controller that does not run leads")
	}
	if _, ok, err := c.Leader(testCtx(t)); ok || err != nil {
		t.Fatalf("Leader with no replica running: %v, %v", ok, err)
	}
}

// TestOneLeaderAndFailover runs two replicas: exactly one leads; when the
// leader's etcd client is closed (a crash, for etcd), the other leads
// within the lease TTL, and the follower's API answers throughout.
func TestOneLeaderAndFailover(t *testing.T) {
	env := newEnv(t)
	a := env.startReplica(t, "ctl-a")
	b := env.startReplica(t, "ctl-b")
	leader := leaderOf(t, 10*time.Second, a, b)
	follower := b
	if leader == b {
		follower = a
	}

	// Both replicas agree on the leader, for a while.
	for range 20 {
		for _, r := range []*replica{a, b} {
			var st controller.LeaderStatus
			if code := getJSON(t, r.api.URL+"/api/v1/leader", &st); code != http.StatusOK {
				t.Fatalf("leader endpoint of %s: %d", r.ID(), code)
			}
			if st.ID == nil || *st.ID != leader.ID() || st.IsLeader != (r == leader) || st.Replica != r.ID() {
				t.Fatalf("leader endpoint of %s: %+v, want leader %s", r.ID(), st, leader.ID())
			}
		}
		if a.IsLeader() == b.IsLeader() {
			t.Fatal("not exactly one leader")
		}
		time.Sleep(10 * time.Millisecond)
	}

	// The leader crashes: its lease is not revoked, it expires.
	start := time.Now()
	leader.cli.Close()
	waitFor(t, time.Second, "the crashed leader to step down", func() bool { return !leader.IsLeader() })
	for !follower.IsLeader() {
		if leader.IsLeader() {
			t.Fatal("two leaders")
		}
		var list []controller.StreamStatus
		if code := getJSON(t, follower.api.URL+"/api/v1/streams", &list); code != http.StatusOK {
			t.Fatalf("the follower's API answered %d during the switch", code)
		}
		var st controller.LeaderStatus
		if code := getJSON(t, follower.api.URL+"/api/v1/leader", &st); code != http.StatusOK {
			t.Fatalf("the follower's leader endpoint answered %d during the switch", code)
		}
		if time.Since(start) > testTTL+2*time.Second {
			t.Fatalf("no new leader %v after the crash (TTL %v)", time.Since(start), testTTL)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("FIGURE failover_after_crash=%v ttl=%v", time.Since(start).Round(time.Millisecond), testTTL)
	var st controller.LeaderStatus
	if code := getJSON(t, follower.api.URL+"/api/v1/leader", &st); code != http.StatusOK || st.ID == nil || *st.ID != follower.ID() || !st.IsLeader {
		t.Fatalf("leader endpoint after the failover: %d %+v", code, st)
	}
}

// TestResignOnStop checks that a replica whose Run ends resigns: the other
// one leads at once, not after a TTL.
func TestResignOnStop(t *testing.T) {
	env := newEnv(t)
	a := env.startReplica(t, "ctl-a")
	leaderOf(t, 10*time.Second, a)
	b := env.startReplica(t, "ctl-b")
	waitFor(t, 5*time.Second, "the second replica to campaign", func() bool {
		resp, err := env.cli.Get(testCtx(t), "/"+env.prefix+"/controller/leader/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		return err == nil && resp.Count == 2
	})
	if b.IsLeader() {
		t.Fatal("the second replica leads while the first runs")
	}
	start := time.Now()
	a.stop(t)
	if a.IsLeader() {
		t.Fatal("a stopped replica leads")
	}
	waitFor(t, testTTL/2, "the other replica to lead after a resignation", b.IsLeader)
	t.Logf("FIGURE failover_after_resign=%v", time.Since(start).Round(time.Millisecond))
	if id, ok, err := b.Leader(testCtx(t)); err != nil || !ok || id != "ctl-b" {
		t.Fatalf("Leader() = %q, %v, %v", id, ok, err)
	}
}

// TestLeaderKeyDeleted checks that a leader whose election key disappears
// (an operator deleted it) notices and campaigns again, with a new key.
func TestLeaderKeyDeleted(t *testing.T) {
	env := newEnv(t)
	ctx := testCtx(t)
	a := env.startReplica(t, "ctl-a")
	leaderOf(t, 10*time.Second, a)
	pfx := "/" + env.prefix + "/controller/leader/"
	resp, err := env.cli.Get(ctx, pfx, clientv3.WithPrefix())
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "ctl-a" {
		t.Fatalf("election keys: %v %v", resp, err)
	}
	first := resp.Kvs[0].CreateRevision
	if _, err := env.cli.Delete(ctx, pfx, clientv3.WithPrefix()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "a new election key", func() bool {
		resp, err := env.cli.Get(ctx, pfx, clientv3.WithPrefix())
		return err == nil && len(resp.Kvs) == 1 && resp.Kvs[0].CreateRevision > first
	})
	waitFor(t, 5*time.Second, "the replica to lead again", a.IsLeader)
}

// TestReaper checks that the leader deletes a claim whose edge is gone or
// registered under another lease, after the reap grace, and leaves the
// claims of registered edges alone.
func TestReaper(t *testing.T) {
	env := newEnv(t)
	ctx := testCtx(t)
	live := env.startEdge(t, "edge-live")
	keep := live.claim(t, "live", "kept")
	gone := env.startEdge(t, "edge-gone")
	orphan := gone.claim(t, "live", "orphan")
	moved := env.startEdge(t, "edge-moved")
	stale := moved.claim(t, "live", "stale")
	r := env.startReplica(t, "ctl-a")
	leaderOf(t, 10*time.Second, r)

	// The registration of edge-gone disappears, its lease lives on.
	if _, err := env.cli.Delete(ctx, cluster.EdgeKey(env.prefix, "edge-gone")); err != nil {
		t.Fatal(err)
	}
	// edge-moved is registered again by another incarnation (another
	// lease); its old claim stays under the old lease.
	lease, err := env.cli.Grant(ctx, 30)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.cli.Put(ctx, cluster.EdgeKey(env.prefix, "edge-moved"), `{"id":"edge-moved","address":"x:1935"}`, clientv3.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for _, c := range []*cluster.Claim{orphan, stale} {
		select {
		case <-c.Lost():
		case <-time.After(testReap + 5*time.Second):
			t.Fatalf("claim %s/%s not reaped", c.Info().App, c.Info().Name)
		}
		if !errors.Is(c.LostReason(), cluster.ErrDeleted) {
			t.Fatalf("claim lost with %v, want ErrDeleted", c.LostReason())
		}
	}
	if waited := time.Since(start); waited < testReap-50*time.Millisecond {
		t.Fatalf("reaped after %v, before the grace of %v", waited, testReap)
	}
	for _, name := range []string{"orphan", "stale"} {
		if _, ok, err := cluster.GetStream(ctx, env.cli, env.prefix, "live", name); ok || err != nil {
			t.Fatalf("claim %s still there (%v)", name, err)
		}
	}
	time.Sleep(2 * testReap)
	select {
	case <-keep.Lost():
		t.Fatalf("the claim of a registered edge was lost: %v", keep.LostReason())
	default:
	}

	// A claim made while the edge is not registered yet, registered
	// within the grace, is not reaped.
	late := env.startEdge(t, "edge-late")
	if _, err := env.cli.Delete(ctx, cluster.EdgeKey(env.prefix, "edge-late")); err != nil {
		t.Fatal(err)
	}
	lateClaim := late.claim(t, "live", "late")
	time.Sleep(testReap / 3)
	if err := late.RegisterEdge(ctx, cluster.EdgeInfo{Address: "late:1935"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * testReap)
	select {
	case <-lateClaim.Lost():
		t.Fatalf("a claim whose edge registered within the grace was lost: %v", lateClaim.LostReason())
	default:
	}
}

// TestReapedByNewLeader checks that a claim orphaned while no replica led
// is reaped by the next leader.
func TestReapedByNewLeader(t *testing.T) {
	env := newEnv(t)
	gone := env.startEdge(t, "edge-gone")
	orphan := gone.claim(t, "app", "orphan")
	if _, err := env.cli.Delete(testCtx(t), cluster.EdgeKey(env.prefix, "edge-gone")); err != nil {
		t.Fatal(err)
	}
	env.startReplica(t, "ctl-a")
	select {
	case <-orphan.Lost():
	case <-time.After(10 * time.Second):
		t.Fatal("orphaned claim not reaped by the new leader")
	}
}

// TestKick checks the kick endpoint: the claim is deleted and its owner
// loses it; an unknown stream is 404, a stale epoch 409.
func TestKick(t *testing.T) {
	env := newEnv(t)
	r := env.startReplica(t, "ctl-a")
	ed := env.startEdge(t, "edge-1")
	c := ed.claim(t, "live", "a/b c")
	url := r.api.URL + "/api/v1/streams/live/a%2Fb%20c/kick"

	var e struct{ Error string }
	if code := doJSON(t, http.MethodPost, url+"?epoch=1", &e); code != http.StatusConflict || !contains(e.Error, "not 1") {
		t.Fatalf("kick of a stale epoch: %d %+v", code, e)
	}
	if code := doJSON(t, http.MethodPost, url+"?epoch=x", &e); code != http.StatusBadRequest {
		t.Fatalf("kick with a bad epoch: %d %+v", code, e)
	}
	if code := doJSON(t, http.MethodGet, url, &e); code != http.StatusMethodNotAllowed {
		t.Fatalf("GET kick: %d", code)
	}
	select {
	case <-c.Lost():
		t.Fatal("claim lost before the kick")
	default:
	}
	// The owner touches its claim meanwhile: the kick still works.
	if err := c.Touch(testCtx(t), time.Now()); err != nil {
		t.Fatal(err)
	}
	var res controller.KickResult
	code := doJSON(t, http.MethodPost, url+"?epoch="+itoa(c.Epoch()), &res)
	if code != http.StatusAccepted || res != (controller.KickResult{App: "live", Name: "a/b c", Edge: "edge-1", Epoch: c.Epoch()}) {
		t.Fatalf("kick: %d %+v", code, res)
	}
	select {
	case <-c.Lost():
	case <-time.After(5 * time.Second):
		t.Fatal("the owner did not lose the kicked claim")
	}
	if !errors.Is(c.LostReason(), cluster.ErrDeleted) {
		t.Fatalf("lost with %v, want ErrDeleted", c.LostReason())
	}
	if code := doJSON(t, http.MethodPost, url, &e); code != http.StatusNotFound || !contains(e.Error, "no stream") {
		t.Fatalf("second kick: %d %+v", code, e)
	}
	// Any replica kicks, leader or not.
	c2 := ed.claim(t, "live", "x")
	f := env.newReplica(t, "ctl-follower") // not even running
	if code := doJSON(t, http.MethodPost, f.api.URL+"/api/v1/streams/live/x/kick", &res); code != http.StatusAccepted {
		t.Fatalf("kick through a replica that does not lead: %d", code)
	}
	select {
	case <-c2.Lost():
	case <-time.After(5 * time.Second):
		t.Fatal("the owner did not lose the kicked claim")
	}
}

// TestDrain checks the drain endpoint: it writes the edge's drain request
// key, as JSON {requested, by}, under the edge's lease; an unknown edge is
// 404.
func TestDrain(t *testing.T) {
	env := newEnv(t)
	r := env.newReplica(t, "ctl-a")
	ed := env.startEdge(t, "edge/1")
	ctx := testCtx(t)
	before := time.Now().Add(-time.Second)

	var req controller.DrainRequest
	code := doJSON(t, http.MethodPost, r.api.URL+"/api/v1/edges/edge%2F1/drain", &req)
	if code != http.StatusAccepted || req.Edge != "edge/1" || req.By != "ctl-a" || req.Requested.Before(before) {
		t.Fatalf("drain: %d %+v", code, req)
	}
	key := "/" + env.prefix + "/drain/edge%2F1"
	resp, err := env.cli.Get(ctx, key)
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("drain key %s: %v %v", key, resp, err)
	}
	kv := resp.Kvs[0]
	if kv.Lease != int64(ed.Lease()) {
		t.Fatalf("drain key under lease %x, want the edge's %x", kv.Lease, ed.Lease())
	}
	var stored map[string]any
	if err := json.Unmarshal(kv.Value, &stored); err != nil || len(stored) != 2 || stored["by"] != "ctl-a" || stored["requested"] == nil {
		t.Fatalf("drain key value %s (%v)", kv.Value, err)
	}

	var e struct{ Error string }
	if code := doJSON(t, http.MethodPost, r.api.URL+"/api/v1/edges/nope/drain", &e); code != http.StatusNotFound || !contains(e.Error, `no edge "nope"`) {
		t.Fatalf("drain of an unknown edge: %d %+v", code, e)
	}
	if code := doJSON(t, http.MethodGet, r.api.URL+"/api/v1/edges/edge%2F1/drain", &e); code != http.StatusMethodNotAllowed {
		t.Fatalf("GET drain: %d", code)
	}

	// The request goes with the edge.
	if err := ed.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if resp, err := env.cli.Get(ctx, key); err != nil || len(resp.Kvs) != 0 {
		t.Fatalf("drain key after the edge left: %v %v", resp, err)
	}
	if code := doJSON(t, http.MethodPost, r.api.URL+"/api/v1/edges/edge%2F1/drain", &e); code != http.StatusNotFound {
		t.Fatalf("drain of an edge that left: %d", code)
	}
}
