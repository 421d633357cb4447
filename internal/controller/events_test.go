package controller_test

import (
	"testing"
	"time"

	"github.com/tributary-media/tributary/internal/controller"
	"github.com/tributary-media/tributary/pkg/cluster"
)

// TestEvents checks the lifecycle events of the leader, each published
// once: started, taken-over (a takeover, or a new claim within the
// reconnect grace), stopped (after the grace), with two replicas running.
func TestEvents(t *testing.T) {
	env := newEnv(t)
	rec := env.record(t)
	a := env.startReplica(t, "ctl-a")
	b := env.startReplica(t, "ctl-b")
	env.waitLeading(t, leaderOf(t, 10*time.Second, a, b))
	ctx := testCtx(t)
	e1 := env.startEdge(t, "edge-1")
	e2 := env.startEdge(t, "edge-2")
	const app, name = "live.app", "x y/z*>"

	c1 := e1.claim(t, app, name)
	rec.expect(t, 5*time.Second, controller.Event{Type: controller.EventStarted, App: app, Name: name, Edge: "edge-1", Epoch: c1.Epoch()})

	// A takeover by another edge.
	c2, err := e2.Takeover(ctx, app, name, c1.Info(), cluster.ClaimRequest{Remote: "192.0.2.2:5000"})
	if err != nil {
		t.Fatal(err)
	}
	ev := rec.expect(t, 5*time.Second, controller.Event{
		Type: controller.EventTakenOver, App: app, Name: name, Edge: "edge-2", Epoch: c2.Epoch(),
		PreviousEdge: "edge-1", PreviousEpoch: c1.Epoch(),
	})
	if !ev.Time.Equal(c2.Info().Started) {
		t.Errorf("taken-over at %v, want the claim's start %v", ev.Time, c2.Info().Started)
	}

	// Activity of the owner is no event; the release is one, after the
	// grace.
	if err := c2.Touch(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	released := time.Now()
	if err := c2.Release(ctx); err != nil {
		t.Fatal(err)
	}
	rec.expect(t, 5*time.Second, controller.Event{Type: controller.EventStopped, App: app, Name: name, Edge: "edge-2", Epoch: c2.Epoch()})
	if waited := time.Since(released); waited < testGrace {
		t.Fatalf("stopped %v after the release, before the grace of %v", waited, testGrace)
	}

	// A publisher that comes back within the grace: taken-over, and no
	// stopped.
	b1 := e1.claim(t, "live", "b")
	rec.expect(t, 5*time.Second, controller.Event{Type: controller.EventStarted, App: "live", Name: "b", Edge: "edge-1", Epoch: b1.Epoch()})
	if err := b1.Release(ctx); err != nil {
		t.Fatal(err)
	}
	b2 := e1.claim(t, "live", "b")
	rec.expect(t, 5*time.Second, controller.Event{
		Type: controller.EventTakenOver, App: "live", Name: "b", Edge: "edge-1", Epoch: b2.Epoch(),
		PreviousEdge: "edge-1", PreviousEpoch: b1.Epoch(),
	})

	// An edge that leaves: its claims go with its lease.
	e3 := env.startEdge(t, "edge-3")
	c3 := e3.claim(t, "live", "c")
	rec.expect(t, 5*time.Second, controller.Event{Type: controller.EventStarted, App: "live", Name: "c", Edge: "edge-3", Epoch: c3.Epoch()})
	if err := e3.Close(ctx); err != nil {
		t.Fatal(err)
	}
	rec.expect(t, 5*time.Second, controller.Event{Type: controller.EventStopped, App: "live", Name: "c", Edge: "edge-3", Epoch: c3.Epoch()})
	rec.expectNone(t, 3*testGrace)
}

// TestFirstLeaderAnnouncesNoExistingStream checks that the first leader
// ever starts from the current state: streams claimed before it are not
// announced as started, their end is.
func TestFirstLeaderAnnouncesNoExistingStream(t *testing.T) {
	env := newEnv(t)
	rec := env.record(t)
	e1 := env.startEdge(t, "edge-1")
	old := e1.claim(t, "live", "old")
	r := env.startReplica(t, "ctl-a")
	env.waitLeading(t, r)
	rec.expectNone(t, 2*testGrace)
	if err := old.Release(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	rec.expect(t, 5*time.Second, controller.Event{Type: controller.EventStopped, App: "live", Name: "old", Edge: "edge-1", Epoch: old.Epoch()})
}

// TestEventsAcrossLeaders checks that a new leader resumes where the
// previous one stopped: the changes made while no replica led are
// announced, nothing is announced twice, after a resignation and after a
// crash.
func TestEventsAcrossLeaders(t *testing.T) {
	env := newEnv(t)
	rec := env.record(t)
	ctx := testCtx(t)
	e1 := env.startEdge(t, "edge-1")
	e2 := env.startEdge(t, "edge-2")

	a := env.startReplica(t, "ctl-a")
	env.waitLeading(t, a)
	s1 := e1.claim(t, "live", "s1")
	rec.expect(t, 5*time.Second, controller.Event{Type: controller.EventStarted, App: "live", Name: "s1", Edge: "edge-1", Epoch: s1.Epoch()})
	s2 := e1.claim(t, "live", "s2")
	rec.expect(t, 5*time.Second, controller.Event{Type: controller.EventStarted, App: "live", Name: "s2", Edge: "edge-1", Epoch: s2.Epoch()})
	a.stop(t)

	// No replica leads.
	s3 := e1.claim(t, "live", "s3")
	if err := s1.Release(ctx); err != nil {
		t.Fatal(err)
	}
	s2b, err := e2.Takeover(ctx, "live", "s2", s2.Info(), cluster.ClaimRequest{})
	if err != nil {
		t.Fatal(err)
	}
	rec.expectNone(t, 2*testGrace)

	b := env.startReplica(t, "ctl-b")
	rec.expect(t, 10*time.Second, controller.Event{Type: controller.EventStarted, App: "live", Name: "s3", Edge: "edge-1", Epoch: s3.Epoch()})
	rec.expect(t, 5*time.Second, controller.Event{
		Type: controller.EventTakenOver, App: "live", Name: "s2", Edge: "edge-2", Epoch: s2b.Epoch(),
		PreviousEdge: "edge-1", PreviousEpoch: s2.Epoch(),
	})
	rec.expect(t, 5*time.Second, controller.Event{Type: controller.EventStopped, App: "live", Name: "s1", Edge: "edge-1", Epoch: s1.Epoch()})
	env.waitLeading(t, b)
	// Wait for the cursor to hold everything announced, then crash.
	waitFor(t, 5*time.Second, "the cursor to catch up", func() bool {
		c, _ := env.readCursor(t)
		return c.Revision >= int64(s2b.Epoch()) && len(c.Pending) == 0
	})
	b.cli.Close()
	s4 := e1.claim(t, "live", "s4")
	c := env.startReplica(t, "ctl-c")
	rec.expect(t, testTTL+10*time.Second, controller.Event{Type: controller.EventStarted, App: "live", Name: "s4", Edge: "edge-1", Epoch: s4.Epoch()})
	env.waitLeading(t, c)
	rec.expectNone(t, 2*testGrace)
}

// TestCompactedCursor checks a new leader whose cursor's history was
// compacted away: it starts from the current state (the gap is not
// announced), but still honours the stopped events the cursor owed.
func TestCompactedCursor(t *testing.T) {
	env := newEnv(t)
	rec := env.record(t)
	ctx := testCtx(t)
	e1 := env.startEdge(t, "edge-1")
	longGrace := func(cfg *controller.Config) { cfg.ReconnectGrace = time.Minute }

	a := env.startReplica(t, "ctl-a", longGrace)
	env.waitLeading(t, a)
	s0 := e1.claim(t, "live", "s0")
	rec.expect(t, 5*time.Second, controller.Event{Type: controller.EventStarted, App: "live", Name: "s0", Edge: "edge-1", Epoch: s0.Epoch()})
	if err := s0.Release(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the cursor to owe the stopped event", func() bool {
		c, _ := env.readCursor(t)
		return len(c.Pending) == 1 && c.Pending[0].Name == "s0" && c.Pending[0].Epoch == s0.Epoch()
	})
	a.stop(t)

	// While no replica leads, s0 comes back and s5 starts; then the
	// history is compacted.
	s0b := e1.claim(t, "live", "s0")
	e1.claim(t, "live", "s5")
	resp, err := env.cli.Get(ctx, "compact")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.cli.Compact(ctx, resp.Header.Revision); err != nil {
		t.Fatal(err)
	}

	b := env.startReplica(t, "ctl-b", longGrace)
	rec.expect(t, 10*time.Second, controller.Event{
		Type: controller.EventTakenOver, App: "live", Name: "s0", Edge: "edge-1", Epoch: s0b.Epoch(),
		PreviousEdge: "edge-1", PreviousEpoch: s0.Epoch(),
	})
	env.waitLeading(t, b)
	rec.expectNone(t, 2*testGrace)
}
