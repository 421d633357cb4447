package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/tributary-media/tributary/internal/testutil"
	"github.com/tributary-media/tributary/internal/testutil/etcdtest"
	"github.com/tributary-media/tributary/pkg/cluster"
)

func TestConfig(t *testing.T) {
	_, cli := newServer(t)
	ctx := testCtx(t)
	for _, tc := range []struct {
		ttl, want time.Duration
	}{
		{0, 5 * time.Second},
		{time.Second, 2 * time.Second},
		{2500 * time.Millisecond, 3 * time.Second},
		{7 * time.Second, 7 * time.Second},
	} {
		s, err := cluster.NewSession(ctx, cluster.Config{Client: cli, EdgeID: "e", TTL: tc.ttl})
		if err != nil {
			t.Fatalf("TTL %v: %v", tc.ttl, err)
		}
		if s.TTL() != tc.want || s.Prefix() != cluster.DefaultPrefix || s.EdgeID() != "e" {
			t.Errorf("TTL %v: got TTL %v prefix %q edge %q, want TTL %v", tc.ttl, s.TTL(), s.Prefix(), s.EdgeID(), tc.want)
		}
		ttl, err := cli.TimeToLive(ctx, s.Lease())
		if err != nil || time.Duration(ttl.GrantedTTL)*time.Second != tc.want {
			t.Errorf("TTL %v: granted %v, %v", tc.ttl, ttl, err)
		}
		// The local deadline of a fresh session is about TTL - TTL/5 ahead.
		if until := time.Until(s.Deadline()); until > tc.want-tc.want/5 || until < tc.want-tc.want/5-2*time.Second {
			t.Errorf("TTL %v: deadline in %v", tc.ttl, until)
		}
		if err := s.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		cfg  cluster.Config
		want string
	}{
		{"no client", cluster.Config{EdgeID: "e"}, "Client is nil"},
		{"no edge", cluster.Config{Client: cli}, "EdgeID is empty"},
		{"bad prefix", cluster.Config{Client: cli, EdgeID: "e", Prefix: "a/b"}, "prefix"},
		{"negative TTL", cluster.Config{Client: cli, EdgeID: "e", TTL: -time.Second}, "negative"},
		{"margin too big", cluster.Config{Client: cli, EdgeID: "e", TTL: 2 * time.Second, SafetyMargin: 2 * time.Second}, "SafetyMargin"},
		{"interval too long", cluster.Config{Client: cli, EdgeID: "e", TTL: 3 * time.Second, KeepAliveInterval: 2 * time.Second}, "KeepAliveInterval"},
		{"negative interval", cluster.Config{Client: cli, EdgeID: "e", KeepAliveInterval: -1}, "KeepAliveInterval"},
	} {
		if _, err := cluster.NewSession(ctx, tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "cluster: ") {
			t.Errorf("%s: %v, want an error about %s", tc.name, err, tc.want)
		}
	}
	// Every problem is reported at once.
	_, err := cluster.NewSession(ctx, cluster.Config{Prefix: "?"})
	if err == nil || !strings.Contains(err.Error(), "Client") || !strings.Contains(err.Error(), "EdgeID") || !strings.Contains(err.Error(), "prefix") {
		t.Errorf("bad config: %v, want all problems", err)
	}
}

// lostTimes records when each claim's Lost channel closes.
func lostTimes(claims []*cluster.Claim) (times []time.Time, wait func()) {
	times = make([]time.Time, len(claims))
	var wg sync.WaitGroup
	for i, c := range claims {
		wg.Go(func() {
			<-c.Lost()
			times[i] = time.Now()
		})
	}
	return times, wg.Wait
}

// TestPartition cuts a session off from etcd: the session and its claims
// must be lost before the server could let the lease expire, and the
// server must let it expire so another edge can take the streams.
func TestPartition(t *testing.T) {
	srv, cli := newServer(t)
	proxy := testutil.StartProxy(t, srv.Addr())
	pcli := etcdtest.NewClient(t, "http://"+proxy.Addr())
	const ttl = 2 * time.Second
	a := startSession(t, pcli, "a", ttl)
	t.Cleanup(proxy.Restore) // lets the session's Close reach etcd
	b := startSession(t, cli, "b", ttl)
	ctx := testCtx(t)
	var claims []*cluster.Claim
	for i := range 3 {
		c, err := a.Claim(ctx, "live", fmt.Sprint("p", i), cluster.ClaimRequest{})
		if err != nil {
			t.Fatal(err)
		}
		claims = append(claims, c)
	}
	times, waitLost := lostTimes(claims)
	// Let a few keep-alives go through first.
	time.Sleep(ttl)
	proxy.Cut()
	cut := time.Now()
	waitClosed(t, a.Done(), 2*ttl, "session Done")
	detected := time.Now()
	waitLost()
	deadline := a.Deadline()
	lastSend := deadline.Add(ttl / 5).Add(-ttl) // deadline = last send + TTL - TTL/5
	serverExpiry := lastSend.Add(ttl)           // the earliest the server could expire the lease
	if !detected.Before(serverExpiry) {
		t.Fatalf("lease loss detected %v after the earliest server expiry", detected.Sub(serverExpiry))
	}
	if detected.Before(deadline) {
		t.Fatalf("lease loss detected %v before the local deadline", deadline.Sub(detected))
	}
	for i, lt := range times {
		if !lt.Before(serverExpiry) {
			t.Fatalf("claim %d lost %v after the earliest server expiry", i, lt.Sub(serverExpiry))
		}
		if !errors.Is(claims[i].LostReason(), cluster.ErrLeaseLost) {
			t.Fatalf("claim %d reason %v, want ErrLeaseLost", i, claims[i].LostReason())
		}
	}
	if err := a.waitRun(t, 5*time.Second); !errors.Is(err, cluster.ErrLeaseLost) {
		t.Fatalf("Run returned %v, want ErrLeaseLost", err)
	}
	if !errors.Is(a.Err(), cluster.ErrLeaseLost) {
		t.Fatalf("Err() = %v", a.Err())
	}
	if _, err := a.Claim(ctx, "live", "late", cluster.ClaimRequest{}); !errors.Is(err, cluster.ErrLeaseLost) {
		t.Fatalf("Claim after loss: %v, want ErrLeaseLost", err)
	}
	t.Logf("FIGURE lease_loss_detected_ms=%d (after the cut; margin before the earliest server expiry %d ms, TTL %v)",
		detected.Sub(cut).Milliseconds(), serverExpiry.Sub(detected).Milliseconds(), ttl)

	// The server lets the lease expire: another edge wins the streams, not
	// before the lease could have expired.
	var won time.Time
	for {
		_, err := b.Claim(ctx, "live", "p0", cluster.ClaimRequest{})
		if err == nil {
			won = time.Now()
			break
		}
		if !errors.Is(err, cluster.ErrClaimed) {
			t.Fatal(err)
		}
		if time.Since(cut) > 3*ttl {
			t.Fatalf("the partitioned session's claim still exists %v after the cut", time.Since(cut))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if won.Before(serverExpiry) {
		t.Fatalf("another session won the stream %v before the earliest server expiry", serverExpiry.Sub(won))
	}
	t.Logf("FIGURE partition_stream_reclaimed_ms=%d (after the cut; %d ms after the partitioned edge stopped)",
		won.Sub(cut).Milliseconds(), won.Sub(detected).Milliseconds())
}

// TestEdgeCrash stops a session without revoking its lease (its client is
// closed): the keys disappear within TTL plus one keep-alive interval.
func TestEdgeCrash(t *testing.T) {
	srv, cli := newServer(t)
	const ttl = 2 * time.Second
	crashing, err := clientv3.New(clientv3.Config{Endpoints: srv.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer crashing.Close()
	a := startSession(t, crashing, "a", ttl)
	ctx := testCtx(t)
	if err := a.RegisterEdge(ctx, cluster.EdgeInfo{Address: "10.0.0.1:1935"}); err != nil {
		t.Fatal(err)
	}
	c, err := a.Claim(ctx, "live", "crash", cluster.ClaimRequest{})
	if err != nil {
		t.Fatal(err)
	}
	wch := cli.Watch(ctx, cluster.StreamKey("test", "live", "crash"), clientv3.WithRev(c.Info().ModRevision+1))
	time.Sleep(ttl / 2)
	crash := time.Now()
	crashing.Close()
	var gone time.Time
	for resp := range wch {
		if err := resp.Err(); err != nil {
			t.Fatal(err)
		}
		if len(resp.Events) > 0 {
			if resp.Events[0].Type != clientv3.EventTypeDelete {
				t.Fatalf("event %v", resp.Events[0])
			}
			gone = time.Now()
			break
		}
	}
	took := gone.Sub(crash)
	t.Logf("FIGURE edge_crash_key_removed_ms=%d (TTL %v, keep-alive interval %v)", took.Milliseconds(), ttl, ttl/3)
	if took > ttl+ttl/3 {
		t.Fatalf("key removed %v after the crash, want within TTL + keep-alive interval", took)
	}
	if _, ok, err := cluster.GetEdge(ctx, cli, "test", "a"); ok || err != nil {
		t.Fatalf("edge still registered: %v, %v", ok, err)
	}
	// The crashed session itself noticed: its client is gone.
	waitClosed(t, a.Done(), 5*time.Second, "crashed session's Done")
	if err := a.waitRun(t, 5*time.Second); !errors.Is(err, cluster.ErrLeaseLost) {
		t.Fatalf("Run returned %v, want ErrLeaseLost", err)
	}
}

// TestClose checks that Close revokes the lease at once and ends
// everything.
func TestClose(t *testing.T) {
	_, cli := newServer(t)
	a := startSession(t, cli, "a", 30*time.Second)
	ctx := testCtx(t)
	if err := a.RegisterEdge(ctx, cluster.EdgeInfo{ID: "a", Address: "10.0.0.1:1935"}); err != nil {
		t.Fatal(err)
	}
	var claims []*cluster.Claim
	for i := range 3 {
		c, err := a.Claim(ctx, "live", fmt.Sprint("c", i), cluster.ClaimRequest{})
		if err != nil {
			t.Fatal(err)
		}
		claims = append(claims, c)
	}
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// Gone at once, not after the 30 s TTL.
	streams, _, err := cluster.ListStreams(ctx, cli, "test")
	if err != nil || len(streams) != 0 {
		t.Fatalf("after Close ListStreams = %v, %v", streams, err)
	}
	if _, ok, err := cluster.GetEdge(ctx, cli, "test", "a"); ok || err != nil {
		t.Fatalf("after Close GetEdge = %v, %v", ok, err)
	}
	notClosedOK := func() {
		for i, c := range claims {
			waitClosed(t, c.Lost(), time.Second, fmt.Sprint("claim ", i))
			if !errors.Is(c.LostReason(), cluster.ErrClosed) {
				t.Fatalf("claim %d reason %v", i, c.LostReason())
			}
		}
	}
	notClosedOK()
	waitClosed(t, a.Done(), time.Second, "Done")
	if err := a.waitRun(t, 5*time.Second); err != nil {
		t.Fatalf("Run after Close returned %v, want nil", err)
	}
	if !errors.Is(a.Err(), cluster.ErrClosed) {
		t.Fatalf("Err() = %v", a.Err())
	}
	if err := a.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := a.Claim(ctx, "live", "x", cluster.ClaimRequest{}); !errors.Is(err, cluster.ErrClosed) {
		t.Fatalf("Claim after Close: %v", err)
	}
	if err := a.RegisterEdge(ctx, cluster.EdgeInfo{}); !errors.Is(err, cluster.ErrClosed) {
		t.Fatalf("RegisterEdge after Close: %v", err)
	}
	if err := claims[0].Release(ctx); err != nil {
		t.Fatalf("Release after Close: %v", err)
	}
	if err := a.Run(ctx); err == nil {
		t.Fatal("second Run accepted")
	}
}

// TestRunContext checks that the end of Run's context ends the session.
func TestRunContext(t *testing.T) {
	_, cli := newServer(t)
	ctx := testCtx(t)
	s, err := cluster.NewSession(ctx, cluster.Config{Client: cli, EdgeID: "a", Prefix: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	c, err := s.Claim(ctx, "live", "r", cluster.ClaimRequest{})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	waitClosed(t, c.Lost(), time.Second, "Lost")
	if !errors.Is(c.LostReason(), cluster.ErrClosed) || !errors.Is(s.Err(), cluster.ErrClosed) {
		t.Fatalf("reasons %v, %v; want ErrClosed", c.LostReason(), s.Err())
	}
}

// TestLeaseRevoked checks that a lease the server forgets (revoked by an
// operator) ends the session at the next keep-alive.
func TestLeaseRevoked(t *testing.T) {
	_, cli := newServer(t)
	const ttl = 3 * time.Second
	a := startSession(t, cli, "a", ttl)
	ctx := testCtx(t)
	c, err := a.Claim(ctx, "live", "r", cluster.ClaimRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Revoke(ctx, a.Lease()); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, c.Lost(), 5*time.Second, "Lost") // the key's deletion, seen by the watch
	if err := a.waitRun(t, ttl); !errors.Is(err, cluster.ErrLeaseLost) {
		t.Fatalf("Run = %v, want ErrLeaseLost", err)
	}
	if _, err := a.Claim(ctx, "live", "s", cluster.ClaimRequest{}); !errors.Is(err, cluster.ErrLeaseLost) {
		t.Fatalf("Claim = %v, want ErrLeaseLost", err)
	}
}

// TestClaimWithoutLease checks that a claim under a lease the server no
// longer knows fails and ends the session, even before Run notices.
func TestClaimWithoutLease(t *testing.T) {
	_, cli := newServer(t)
	ctx := testCtx(t)
	s, err := cluster.NewSession(ctx, cluster.Config{Client: cli, EdgeID: "a", Prefix: "test", TTL: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	if _, err := cli.Revoke(ctx, s.Lease()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Claim(ctx, "live", "s", cluster.ClaimRequest{}); err == nil {
		t.Fatal("Claim under a revoked lease succeeded")
	}
	waitClosed(t, s.Done(), time.Second, "Done")
	if !errors.Is(s.Err(), cluster.ErrLeaseLost) {
		t.Fatalf("Err() = %v", s.Err())
	}
	if err := s.Close(ctx); err != nil {
		t.Fatalf("Close of a revoked lease: %v", err)
	}
}

func TestRegisterEdge(t *testing.T) {
	_, cli := newServer(t)
	a := startSession(t, cli, "edge/a", 5*time.Second)
	ctx := testCtx(t)
	started := time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)
	info := cluster.EdgeInfo{Address: "10.0.0.1:1935", Version: "1.2.3", Started: started, Load: cluster.Load{Sessions: 3, Publishers: 1, Players: 2, BitsIn: 4e6, BitsOut: 8e6}}
	if err := a.RegisterEdge(ctx, info); err != nil {
		t.Fatal(err)
	}
	got, ok, err := cluster.GetEdge(ctx, cli, "test", "edge/a")
	if err != nil || !ok {
		t.Fatalf("GetEdge = %v, %v", ok, err)
	}
	info.ID = "edge/a"
	info.Lease, info.ModRevision = a.Lease(), got.ModRevision
	if !reflect.DeepEqual(got, info) {
		t.Fatalf("GetEdge = %+v, want %+v", got, info)
	}
	info.Draining = true
	if err := a.RegisterEdge(ctx, info); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := cluster.GetEdge(ctx, cli, "test", "edge/a"); !got.Draining || got.ModRevision <= info.ModRevision {
		t.Fatalf("update not written: %+v", got)
	}
	if err := a.RegisterEdge(ctx, cluster.EdgeInfo{ID: "other"}); err == nil {
		t.Fatal("registered another edge's id")
	}
	// A second session of the same id must not steal the registration.
	dup := startSession(t, cli, "edge/a", 5*time.Second)
	if err := dup.RegisterEdge(ctx, info); !errors.Is(err, cluster.ErrEdgeExists) {
		t.Fatalf("duplicate RegisterEdge = %v, want ErrEdgeExists", err)
	}
	b := startSession(t, cli, "b", 5*time.Second)
	if err := b.RegisterEdge(ctx, cluster.EdgeInfo{Address: "10.0.0.2:1935"}); err != nil {
		t.Fatal(err)
	}
	edges, rev, err := cluster.ListEdges(ctx, cli, "test")
	if err != nil || len(edges) != 2 || edges[0].ID != "b" || edges[1].ID != "edge/a" || rev < edges[1].ModRevision {
		t.Fatalf("ListEdges = %+v, %d, %v", edges, rev, err)
	}
	if _, ok, err := cluster.GetEdge(ctx, cli, "test", "nobody"); ok || err != nil {
		t.Fatalf("GetEdge(nobody) = %v, %v", ok, err)
	}
	if _, _, err := cluster.ListEdges(ctx, cli, "no good"); err == nil {
		t.Fatal("ListEdges with a bad prefix succeeded")
	}
}

// TestListStreams lists more streams than one page holds, skipping keys
// that are not stream keys, and reads values other programs wrote.
func TestListStreams(t *testing.T) {
	_, cli := newServer(t)
	ctx := testCtx(t)
	const n = 1234
	var ops []clientv3.Op
	flush := func() {
		if len(ops) == 0 {
			return
		}
		if _, err := cli.Txn(ctx).Then(ops...).Commit(); err != nil {
			t.Fatal(err)
		}
		ops = ops[:0]
	}
	for i := range n {
		val := fmt.Sprintf(`{"app":"ignored","name":"ignored","edge":"e%d","epoch":%d}`, i%7, i+1)
		if i%100 == 0 {
			val = "not json"
		}
		ops = append(ops, clientv3.OpPut(cluster.StreamKey("test", "app", fmt.Sprintf("s%05d", i)), val))
		if len(ops) == 100 {
			flush()
		}
	}
	ops = append(ops, clientv3.OpPut("/test/streams/only-one-segment", "{}"), clientv3.OpPut("/test/streams/a/b/c", "{}"),
		clientv3.OpPut("/test/streams/a/%zz", "{}"), clientv3.OpPut("/test/streamsx/a/b", "{}"), clientv3.OpPut("/test/edges/e1", "{}"))
	flush()
	streams, rev, err := cluster.ListStreams(ctx, cli, "test")
	if err != nil {
		t.Fatal(err)
	}
	if len(streams) != n {
		t.Fatalf("%d streams, want %d", len(streams), n)
	}
	for i, s := range streams {
		if s.App != "app" || s.Name != fmt.Sprintf("s%05d", i) || s.ModRevision == 0 || s.ModRevision > rev {
			t.Fatalf("stream %d: %+v (list revision %d)", i, s, rev)
		}
		if i%100 == 0 {
			if s.Edge != "" || s.Epoch != uint64(s.ModRevision) {
				t.Fatalf("stream %d with a bad value: %+v", i, s)
			}
		} else if s.Edge != fmt.Sprintf("e%d", i%7) || s.Epoch != uint64(i+1) {
			t.Fatalf("stream %d: %+v", i, s)
		}
	}
	if streams, _, err := cluster.ListStreams(ctx, cli, "empty"); err != nil || len(streams) != 0 {
		t.Fatalf("ListStreams(empty) = %v, %v", streams, err)
	}
}
