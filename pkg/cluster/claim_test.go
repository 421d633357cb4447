package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tributary-media/tributary/pkg/cluster"
)

// TestClaimRace claims one stream from 100 goroutines of 5 sessions at
// once, 20 times: every time exactly one wins and every loser is told who.
func TestClaimRace(t *testing.T) {
	_, cli := newServer(t)
	var sessions []*session
	for i := range 5 {
		sessions = append(sessions, startSession(t, cli, fmt.Sprintf("edge-%d", i), 5*time.Second))
	}
	ctx := testCtx(t)
	for round := range 20 {
		name := fmt.Sprintf("race-%d", round)
		var (
			mu      sync.Mutex
			winners []*cluster.Claim
			losers  []*cluster.ClaimedError
			others  []error
			wg      sync.WaitGroup
		)
		start := make(chan struct{})
		for _, s := range sessions {
			for range 20 {
				wg.Go(func() {
					<-start
					c, err := s.Claim(ctx, "live", name, cluster.ClaimRequest{Remote: "192.0.2.1:1935"})
					mu.Lock()
					defer mu.Unlock()
					var ce *cluster.ClaimedError
					switch {
					case err == nil:
						winners = append(winners, c)
					case errors.As(err, &ce) && errors.Is(err, cluster.ErrClaimed):
						losers = append(losers, ce)
					default:
						others = append(others, err)
					}
				})
			}
		}
		close(start)
		wg.Wait()
		if len(others) > 0 {
			t.Fatalf("round %d: unexpected errors: %v", round, others)
		}
		if len(winners) != 1 || len(losers) != 99 {
			t.Fatalf("round %d: %d winners, %d losers; want 1 and 99", round, len(winners), len(losers))
		}
		w := winners[0].Info()
		for _, l := range losers {
			if l.Owner.Epoch != w.Epoch || l.Owner.Edge != w.Edge || l.Owner.Lease != w.Lease {
				t.Fatalf("round %d: loser told owner %+v, winner is %+v", round, l.Owner, w)
			}
		}
		got := mustGet(t, cli, "live", name)
		if got.Epoch != winners[0].Epoch() || got.Edge != w.Edge || got.Remote != "192.0.2.1:1935" {
			t.Fatalf("round %d: etcd holds %+v, winner is %+v", round, got, w)
		}
	}
}

// TestEpochsIncrease checks that each claim and takeover of a stream gets a
// greater epoch, and that the epoch stays with the claim across Touch.
func TestEpochsIncrease(t *testing.T) {
	_, cli := newServer(t)
	a := startSession(t, cli, "a", 5*time.Second)
	b := startSession(t, cli, "b", 5*time.Second)
	ctx := testCtx(t)
	var epochs []uint64

	c1, err := a.Claim(ctx, "live", "s", cluster.ClaimRequest{})
	if err != nil {
		t.Fatal(err)
	}
	epochs = append(epochs, c1.Epoch())
	if err := c1.Release(ctx); err != nil {
		t.Fatal(err)
	}
	c2, err := b.Claim(ctx, "live", "s", cluster.ClaimRequest{})
	if err != nil {
		t.Fatal(err)
	}
	epochs = append(epochs, c2.Epoch())
	if err := c2.Touch(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, cli, "live", "s"); got.Epoch != c2.Epoch() || got.ModRevision <= int64(c2.Epoch()) {
		t.Fatalf("after Touch etcd holds epoch %d mod revision %d, claim epoch %d", got.Epoch, got.ModRevision, c2.Epoch())
	}
	// Another stream's claim in between moves the cluster's revision on.
	other, err := a.Claim(ctx, "live", "other", cluster.ClaimRequest{})
	if err != nil {
		t.Fatal(err)
	}
	epochs = append(epochs, other.Epoch())
	c3, err := a.Takeover(ctx, "live", "s", mustGet(t, cli, "live", "s"), cluster.ClaimRequest{})
	if err != nil {
		t.Fatal(err)
	}
	epochs = append(epochs, c3.Epoch())
	waitClosed(t, c2.Lost(), 5*time.Second, "taken-over claim's Lost")
	c4, err := b.Takeover(ctx, "live", "s", mustGet(t, cli, "live", "s"), cluster.ClaimRequest{})
	if err != nil {
		t.Fatal(err)
	}
	epochs = append(epochs, c4.Epoch())
	for i := 1; i < len(epochs); i++ {
		if epochs[i] <= epochs[i-1] {
			t.Fatalf("epochs %v do not increase", epochs)
		}
	}
	if got := mustGet(t, cli, "live", "s"); got.Epoch != c4.Epoch() || got.Edge != "b" {
		t.Fatalf("etcd holds %+v, want epoch %d of edge b", got, c4.Epoch())
	}
}

// TestTakeover checks stale observations, concurrent takeovers and the
// reasons claims are lost for.
func TestTakeover(t *testing.T) {
	_, cli := newServer(t)
	a := startSession(t, cli, "a", 5*time.Second)
	b := startSession(t, cli, "b", 5*time.Second)
	c := startSession(t, cli, "c", 5*time.Second)
	ctx := testCtx(t)

	ca, err := a.Claim(ctx, "live", "t", cluster.ClaimRequest{})
	if err != nil {
		t.Fatal(err)
	}
	stale := mustGet(t, cli, "live", "t")
	if err := ca.Touch(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	_, err = b.Takeover(ctx, "live", "t", stale, cluster.ClaimRequest{})
	var conflict *cluster.ConflictError
	if !errors.Is(err, cluster.ErrConflict) || !errors.As(err, &conflict) || conflict.Owner == nil || conflict.Owner.Epoch != ca.Epoch() {
		t.Fatalf("takeover with a stale observation: %v (%+v), want a conflict naming epoch %d", err, conflict, ca.Epoch())
	}
	notClosed(t, ca.Lost(), "owner's Lost after a failed takeover")
	if _, err := b.Takeover(ctx, "live", "u", stale, cluster.ClaimRequest{}); err == nil {
		t.Fatal("takeover of another stream with this observation succeeded")
	}

	// Two takeovers of one observation: exactly one wins.
	obs := mustGet(t, cli, "live", "t")
	var (
		wg      sync.WaitGroup
		claims  [2]*cluster.Claim
		errs    [2]error
		takers  = [2]*session{b, c}
		barrier = make(chan struct{})
	)
	for i := range takers {
		wg.Go(func() {
			<-barrier
			claims[i], errs[i] = takers[i].Takeover(ctx, "live", "t", obs, cluster.ClaimRequest{Remote: fmt.Sprint(i)})
		})
	}
	close(barrier)
	wg.Wait()
	wi, li := 0, 1
	if errs[0] != nil {
		wi, li = 1, 0
	}
	if errs[wi] != nil || errs[li] == nil {
		t.Fatalf("takeovers returned %v and %v, want exactly one success", errs[0], errs[1])
	}
	winner, loser := claims[wi], takers[li]
	if !errors.As(errs[li], &conflict) || conflict.Owner == nil || conflict.Owner.Epoch != winner.Epoch() {
		t.Fatalf("losing takeover: %v, want a conflict naming the winner's epoch %d", errs[li], winner.Epoch())
	}
	waitClosed(t, ca.Lost(), 5*time.Second, "old owner's Lost")
	var over *cluster.TakenOverError
	if r := ca.LostReason(); !errors.As(r, &over) || !errors.Is(r, cluster.ErrTakenOver) || over.By.Epoch != winner.Epoch() || over.By.Edge != winner.Info().Edge {
		t.Fatalf("old owner's reason %v, want taken over by epoch %d", r, winner.Epoch())
	}
	if err := ca.Touch(ctx, time.Now()); !errors.Is(err, cluster.ErrTakenOver) {
		t.Fatalf("Touch of a lost claim: %v, want ErrTakenOver", err)
	}

	// The loser takes the stream from the winner with a fresh observation.
	lc, err := loser.Takeover(ctx, "live", "t", mustGet(t, cli, "live", "t"), cluster.ClaimRequest{})
	if err != nil {
		t.Fatal(err)
	}
	waitClosed(t, winner.Lost(), 5*time.Second, "winner's Lost after the second takeover")
	if r := winner.LostReason(); !errors.As(r, &over) || over.By.Epoch != lc.Epoch() {
		t.Fatalf("winner's reason %v, want taken over by epoch %d", r, lc.Epoch())
	}
	notClosed(t, lc.Lost(), "new owner's Lost")

	// A session can take over its own claim: the old claim is lost.
	own, err := loser.Takeover(ctx, "live", "t", mustGet(t, cli, "live", "t"), cluster.ClaimRequest{})
	if err != nil {
		t.Fatal(err)
	}
	waitClosed(t, lc.Lost(), 5*time.Second, "own replaced claim's Lost")
	notClosed(t, own.Lost(), "replacing claim's Lost")
	// A takeover of a stream nobody owns is a conflict without an owner.
	if err := own.Release(ctx); err != nil {
		t.Fatal(err)
	}
	obs = own.Info()
	if _, err := a.Takeover(ctx, "live", "t", obs, cluster.ClaimRequest{}); !errors.As(err, &conflict) || conflict.Owner != nil {
		t.Fatalf("takeover of a released stream: %v, want a conflict without owner", err)
	}
	if _, err := a.Takeover(ctx, "live", "t", cluster.StreamInfo{App: "live", Name: "t"}, cluster.ClaimRequest{}); err == nil {
		t.Fatal("takeover of an observation without a revision succeeded")
	}
}

// TestReleaseAfterTakeover checks that the previous owner's Release does not
// delete the new owner's key.
func TestReleaseAfterTakeover(t *testing.T) {
	_, cli := newServer(t)
	a := startSession(t, cli, "a", 5*time.Second)
	b := startSession(t, cli, "b", 5*time.Second)
	ctx := testCtx(t)
	ca, err := a.Claim(ctx, "live", "r", cluster.ClaimRequest{})
	if err != nil {
		t.Fatal(err)
	}
	cb, err := b.Takeover(ctx, "live", "r", ca.Info(), cluster.ClaimRequest{})
	if err != nil {
		t.Fatal(err)
	}
	// Release before the old owner's watch noticed, and after.
	if err := ca.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, cli, "live", "r"); got.Epoch != cb.Epoch() {
		t.Fatalf("after the old owner's Release etcd holds %+v, want epoch %d", got, cb.Epoch())
	}
	notClosed(t, cb.Lost(), "new owner's Lost")

	c2, err := a.Takeover(ctx, "live", "r", mustGet(t, cli, "live", "r"), cluster.ClaimRequest{})
	if err != nil {
		t.Fatal(err)
	}
	waitClosed(t, cb.Lost(), 5*time.Second, "b's Lost")
	if err := cb.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, cli, "live", "r"); got.Epoch != c2.Epoch() {
		t.Fatalf("after a lost claim's Release etcd holds %+v, want epoch %d", got, c2.Epoch())
	}
}

// TestRelease checks that Release deletes the key, is idempotent, does not
// close Lost and ends the claim.
func TestRelease(t *testing.T) {
	_, cli := newServer(t)
	a := startSession(t, cli, "a", 5*time.Second)
	ctx := testCtx(t)
	c, err := a.Claim(ctx, "live", "gone", cluster.ClaimRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Touch(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := c.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := cluster.GetStream(ctx, cli, "test", "live", "gone"); ok || err != nil {
		t.Fatalf("after Release GetStream = %v, %v", ok, err)
	}
	if err := c.Release(ctx); err != nil {
		t.Fatalf("second Release: %v", err)
	}
	notClosed(t, c.Lost(), "released claim's Lost")
	if c.LostReason() != nil {
		t.Fatalf("released claim's reason %v", c.LostReason())
	}
	if err := c.Touch(ctx, time.Now()); !errors.Is(err, cluster.ErrClosed) {
		t.Fatalf("Touch after Release: %v, want ErrClosed", err)
	}
	// The stream can be claimed again, by the same session.
	if _, err := a.Claim(ctx, "live", "gone", cluster.ClaimRequest{}); err != nil {
		t.Fatal(err)
	}
	// A Release whose context has ended fails and can be retried.
	c2, err := a.Claim(ctx, "live", "retry", cluster.ClaimRequest{})
	if err != nil {
		t.Fatal(err)
	}
	dead, cancel := context.WithCancel(ctx)
	cancel()
	if err := c2.Release(dead); err == nil {
		t.Fatal("Release with an ended context succeeded")
	}
	if err := c2.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := cluster.GetStream(ctx, cli, "test", "live", "retry"); ok {
		t.Fatal("retried Release left the key")
	}
}

// TestTouch checks that Touch records activity only while the claim holds.
func TestTouch(t *testing.T) {
	_, cli := newServer(t)
	a := startSession(t, cli, "a", 5*time.Second)
	b := startSession(t, cli, "b", 5*time.Second)
	ctx := testCtx(t)
	c, err := a.Claim(ctx, "live", "touch", cluster.ClaimRequest{Remote: "198.51.100.4:5000"})
	if err != nil {
		t.Fatal(err)
	}
	first := mustGet(t, cli, "live", "touch")
	if !first.Active.Equal(first.Started) || first.Started.IsZero() {
		t.Fatalf("new claim: started %v active %v, want equal and set", first.Started, first.Active)
	}
	for i := range 5 {
		active := time.Date(2030, 1, 2, 3, 4, 5, i*1000, time.UTC)
		if err := c.Touch(ctx, active); err != nil {
			t.Fatalf("Touch %d: %v", i, err)
		}
		got := mustGet(t, cli, "live", "touch")
		if !got.Active.Equal(active) || got.Epoch != c.Epoch() || got.ModRevision != c.Info().ModRevision ||
			got.Remote != first.Remote || !got.Started.Equal(first.Started) || got.Edge != "a" {
			t.Fatalf("after Touch %d etcd holds %+v, claim %+v", i, got, c.Info())
		}
	}
	// The claim's own writes do not make it lost; a takeover does.
	nb, err := b.Takeover(ctx, "live", "touch", mustGet(t, cli, "live", "touch"), cluster.ClaimRequest{})
	if err != nil {
		t.Fatal(err)
	}
	waitClosed(t, c.Lost(), 5*time.Second, "Lost after takeover")
	if r := c.LostReason(); !errors.Is(r, cluster.ErrTakenOver) {
		t.Fatalf("reason %v, want ErrTakenOver", r)
	}
	before := mustGet(t, cli, "live", "touch")
	if err := c.Touch(ctx, time.Now().Add(time.Hour)); !errors.Is(err, cluster.ErrTakenOver) {
		t.Fatalf("Touch after takeover: %v, want ErrTakenOver", err)
	}
	if after := mustGet(t, cli, "live", "touch"); after.ModRevision != before.ModRevision || !after.Active.Equal(nb.Info().Active) {
		t.Fatalf("the lost claim's Touch wrote: %+v", after)
	}
}

// TestTouchFindsChange checks that Touch notices a change its watch has not
// reported yet, and loses the claim.
func TestTouchFindsChange(t *testing.T) {
	_, cli := newServer(t)
	a := startSession(t, cli, "a", 5*time.Second)
	ctx := testCtx(t)
	c, err := a.Claim(ctx, "live", "kicked", cluster.ClaimRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := cluster.DeleteStream(ctx, cli, "test", c.Info()); !ok || err != nil {
		t.Fatalf("DeleteStream = %v, %v", ok, err)
	}
	// Either the watch or the Touch notices first; the reason is the same.
	if err := c.Touch(ctx, time.Now()); err != nil && !errors.Is(err, cluster.ErrDeleted) {
		t.Fatalf("Touch of a deleted claim: %v, want ErrDeleted", err)
	}
	waitClosed(t, c.Lost(), 5*time.Second, "Lost after delete")
	if !errors.Is(c.LostReason(), cluster.ErrDeleted) {
		t.Fatalf("reason %v, want ErrDeleted", c.LostReason())
	}
}

// TestDeleteStream checks the controller's conditional delete.
func TestDeleteStream(t *testing.T) {
	_, cli := newServer(t)
	a := startSession(t, cli, "a", 5*time.Second)
	ctx := testCtx(t)
	c, err := a.Claim(ctx, "live", "d", cluster.ClaimRequest{})
	if err != nil {
		t.Fatal(err)
	}
	stale := mustGet(t, cli, "live", "d")
	if err := c.Touch(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if ok, err := cluster.DeleteStream(ctx, cli, "test", stale); ok || err != nil {
		t.Fatalf("DeleteStream of a stale read = %v, %v; want false", ok, err)
	}
	notClosed(t, c.Lost(), "Lost after a failed delete")
	if ok, err := cluster.DeleteStream(ctx, cli, "test", mustGet(t, cli, "live", "d")); !ok || err != nil {
		t.Fatalf("DeleteStream = %v, %v; want true", ok, err)
	}
	waitClosed(t, c.Lost(), 5*time.Second, "Lost after delete")
	if !errors.Is(c.LostReason(), cluster.ErrDeleted) {
		t.Fatalf("reason %v, want ErrDeleted", c.LostReason())
	}
	if _, err := cluster.DeleteStream(ctx, cli, "test", cluster.StreamInfo{App: "live", Name: "d"}); err == nil {
		t.Fatal("DeleteStream without a revision succeeded")
	}
	if _, err := cluster.DeleteStream(ctx, cli, "bad/prefix", stale); err == nil {
		t.Fatal("DeleteStream with a bad prefix succeeded")
	}
}
