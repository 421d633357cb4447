package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tributary-media/tributary/internal/testutil"
	"github.com/tributary-media/tributary/internal/testutil/etcdtest"
	"github.com/tributary-media/tributary/pkg/cluster"
)

// nextEvent returns the next event of ch, failing after a few seconds.
func nextEvent(t *testing.T, ch <-chan cluster.Event) cluster.Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event")
	}
	return cluster.Event{}
}

// describe names an event for comparisons: "kind id-or-stream edge epoch".
func describe(ev cluster.Event) string {
	switch {
	case ev.Edge != nil:
		return fmt.Sprintf("%v %s draining=%v", ev.Kind, ev.Edge.ID, ev.Edge.Draining)
	case ev.Stream != nil:
		return fmt.Sprintf("%v %s/%s %s %d", ev.Kind, ev.Stream.App, ev.Stream.Name, ev.Stream.Edge, ev.Stream.Epoch)
	}
	return ev.Kind.String()
}

// TestWatch checks that Watch delivers edge and stream changes in order,
// without gaps or repeats across an etcd restart.
func TestWatch(t *testing.T) {
	srv, cli := newServer(t)
	a := startSession(t, cli, "a", 10*time.Second)
	b := startSession(t, cli, "b", 10*time.Second)
	ctx := testCtx(t)
	_, rev, err := cluster.ListStreams(ctx, cli, "test")
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := cluster.Watch(wctx, cli, "test", rev+1)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	expect := func(s string) { want = append(want, s) }

	if err := a.RegisterEdge(ctx, cluster.EdgeInfo{Address: "10.0.0.1:1935"}); err != nil {
		t.Fatal(err)
	}
	expect("edge-put a draining=false")
	ca, err := a.Claim(ctx, "live", "cam/1", cluster.ClaimRequest{})
	if err != nil {
		t.Fatal(err)
	}
	expect(fmt.Sprintf("stream-put live/cam/1 a %d", ca.Epoch()))
	if err := ca.Touch(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	expect(fmt.Sprintf("stream-put live/cam/1 a %d", ca.Epoch()))
	if _, err := cli.Put(ctx, "/test/elsewhere", "x"); err != nil { // not an edge or a stream
		t.Fatal(err)
	}
	cb, err := b.Takeover(ctx, "live", "cam/1", ca.Info(), cluster.ClaimRequest{})
	if err != nil {
		t.Fatal(err)
	}
	expect(fmt.Sprintf("stream-put live/cam/1 b %d", cb.Epoch()))

	var got []string
	var last int64
	take := func(n int) {
		t.Helper()
		for range n {
			ev := nextEvent(t, ch)
			if ev.Revision <= last {
				t.Fatalf("event %s at revision %d after revision %d", describe(ev), ev.Revision, last)
			}
			last = ev.Revision
			got = append(got, describe(ev))
		}
	}
	take(len(want))

	srv.Restart()

	if err := a.RegisterEdge(ctx, cluster.EdgeInfo{Address: "10.0.0.1:1935", Draining: true}); err != nil {
		t.Fatal(err)
	}
	expect("edge-put a draining=true")
	if err := cb.Release(ctx); err != nil {
		t.Fatal(err)
	}
	expect(fmt.Sprintf("stream-deleted live/cam/1 b %d", cb.Epoch()))
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	expect("edge-deleted a draining=true")
	take(len(want) - len(got))
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("events:\n%q\nwant:\n%q", got, want)
		}
	}
	select {
	case ev := <-ch:
		t.Fatalf("extra event %s", describe(ev))
	case <-time.After(100 * time.Millisecond):
	}
	cancel()
	for range ch { // closes when the context ends
	}
}

// TestWatchFromNow checks that revision 0 means changes from now on.
func TestWatchFromNow(t *testing.T) {
	_, cli := newServer(t)
	a := startSession(t, cli, "a", 5*time.Second)
	ctx := testCtx(t)
	if err := a.RegisterEdge(ctx, cluster.EdgeInfo{}); err != nil {
		t.Fatal(err)
	}
	ch, err := cluster.Watch(ctx, cli, "test", 0)
	if err != nil {
		t.Fatal(err)
	}
	// The registration above is history; wait until the watch is in
	// place by making changes until one arrives.
	c, err := a.Claim(ctx, "live", "now", cluster.ClaimRequest{})
	if err != nil {
		t.Fatal(err)
	}
	ev := nextEvent(t, ch)
	if ev.Kind != cluster.StreamPut || ev.Stream.Epoch != c.Epoch() {
		t.Fatalf("first event %s, want the claim", describe(ev))
	}
	if _, err := cluster.Watch(ctx, cli, "bad prefix", 0); err == nil {
		t.Fatal("Watch accepted a bad prefix")
	}
	if _, err := cluster.Watch(ctx, cli, "test", -1); err == nil {
		t.Fatal("Watch accepted a negative revision")
	}
}

// TestWatchCompacted checks that a watch from compacted history reports it
// and closes.
func TestWatchCompacted(t *testing.T) {
	_, cli := newServer(t)
	ctx := testCtx(t)
	var rev int64
	for i := range 5 {
		resp, err := cli.Put(ctx, cluster.EdgeKey("test", fmt.Sprint(i)), "{}")
		if err != nil {
			t.Fatal(err)
		}
		rev = resp.Header.Revision
	}
	if _, err := cli.Compact(ctx, rev); err != nil {
		t.Fatal(err)
	}
	ch, err := cluster.Watch(ctx, cli, "test", 1)
	if err != nil {
		t.Fatal(err)
	}
	ev := nextEvent(t, ch)
	if ev.Kind != cluster.Compacted || ev.Revision != rev {
		t.Fatalf("event %s at %d, want compacted at %d", describe(ev), ev.Revision, rev)
	}
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("event after Compacted")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("channel not closed after Compacted")
	}
}

// TestClaimWatchCompacted breaks a claim's watch while the history it
// would resume from is compacted away: the claim holds if its key is
// unchanged, and is lost if the key went meanwhile.
func TestClaimWatchCompacted(t *testing.T) {
	srv, cli := newServer(t)
	proxy := testutil.StartProxy(t, srv.Addr())
	pcli := etcdtest.NewClient(t, "http://"+proxy.Addr())
	a := startSession(t, pcli, "a", 30*time.Second)
	t.Cleanup(proxy.Restore)
	ctx := testCtx(t)
	kept, err := a.Claim(ctx, "live", "kept", cluster.ClaimRequest{})
	if err != nil {
		t.Fatal(err)
	}
	kicked, err := a.Claim(ctx, "live", "kicked", cluster.ClaimRequest{})
	if err != nil {
		t.Fatal(err)
	}

	proxy.Cut()
	if ok, err := cluster.DeleteStream(ctx, cli, "test", kicked.Info()); !ok || err != nil {
		t.Fatalf("DeleteStream = %v, %v", ok, err)
	}
	resp, err := cli.Put(ctx, "/test/filler", "x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctx, resp.Header.Revision); err != nil {
		t.Fatal(err)
	}
	proxy.Reset() // the watches break; the client resumes them from compacted history
	proxy.Restore()

	waitClosed(t, kicked.Lost(), 15*time.Second, "deleted claim's Lost")
	if !errors.Is(kicked.LostReason(), cluster.ErrDeleted) {
		t.Fatalf("reason %v, want ErrDeleted", kicked.LostReason())
	}
	// The unchanged claim still holds, and its watch works again.
	if err := kept.Touch(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	notClosed(t, kept.Lost(), "unchanged claim's Lost")
	b := startSession(t, cli, "b", 5*time.Second)
	nb, err := b.Takeover(ctx, "live", "kept", mustGet(t, cli, "live", "kept"), cluster.ClaimRequest{})
	if err != nil {
		t.Fatal(err)
	}
	waitClosed(t, kept.Lost(), 15*time.Second, "Lost after takeover")
	var over *cluster.TakenOverError
	if !errors.As(kept.LostReason(), &over) || over.By.Epoch != nb.Epoch() {
		t.Fatalf("reason %v, want taken over by epoch %d", kept.LostReason(), nb.Epoch())
	}
}
