package controller

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.opentelemetry.io/otel/trace"

	"github.com/tributary-media/tributary/pkg/cluster"
)

// Timing of the leader's duties.
const (
	// saveInterval is how often the leader checks whether its events
	// cursor needs saving, and retries what failed.
	saveInterval = time.Second
	// cursorMaxAge is how long the cursor may stay behind the revisions
	// applied when no event changed anything, so that a new leader does
	// not replay a long history (or find it compacted).
	cursorMaxAge = 30 * time.Second
	// opTimeout bounds each etcd request of the duties.
	opTimeout = 5 * time.Second
	// natsFlushTimeout bounds the wait for published events to reach the
	// NATS server.
	natsFlushTimeout = 2 * time.Second
)

// errNotLeader means a write fenced by the leadership failed: another
// replica leads.
var errNotLeader = errors.New("controller: no longer the leader")

// streamID names a stream.
type streamID struct{ app, name string }

// pendingStop is a stream whose claim disappeared, waiting for the
// reconnect grace before its stopped event.
type pendingStop struct {
	edge    string
	epoch   uint64
	removed time.Time // when the claim was seen to disappear
	due     time.Time // when the stopped event is due
}

// cursor is the leader's events cursor, the JSON value of cursorKey: every
// change up to Revision has been announced, and Pending are the streams
// whose claim disappeared but whose stopped event was not published yet.
type cursor struct {
	Revision int64        `json:"revision"`
	Leader   string       `json:"leader,omitempty"`
	Pending  []cursorStop `json:"pending,omitempty"`
}

// cursorStop is a pending stopped event in the cursor.
type cursorStop struct {
	App     string    `json:"app"`
	Name    string    `json:"name"`
	Edge    string    `json:"edge"`
	Epoch   uint64    `json:"epoch"`
	Removed time.Time `json:"removed"`
}

// leaderState is what the leader knows of the cluster and of the events it
// owes. One goroutine, lead's, owns it.
type leaderState struct {
	c   *Controller
	el  *concurrency.Election
	log *slog.Logger

	rev     int64 // the last revision applied, completely
	streams map[streamID]cluster.StreamInfo
	edges   map[string]cluster.EdgeInfo
	byEdge  map[string]map[streamID]struct{}
	pending map[streamID]*pendingStop
	reapAt  map[streamID]time.Time

	// outbox holds the events not published yet, acked the state before
	// the oldest of them: a new leader starting from acked announces them
	// again. retryAt is when to try again after a failure.
	outbox  []Event
	acked   cursor
	retryAt time.Time

	// changed says the state has announcements the saved cursor lacks;
	// seenRev is the last revision that changed an edge or a stream;
	// savedRev and savedAt describe the last cursor saved.
	changed  bool
	seenRev  int64
	savedRev int64
	savedAt  time.Time
}

// lead does the leader's duties until ctx ends or the leadership proves
// lost. shutdown reports whether the replica is shutting down, rather than
// losing the leadership, when ctx ends.
func (c *Controller) lead(ctx context.Context, el *concurrency.Election, shutdown func() bool) error {
	st := &leaderState{
		c: c, el: el, log: c.log.With("role", "leader"),
		streams: map[streamID]cluster.StreamInfo{},
		edges:   map[string]cluster.EdgeInfo{},
		byEdge:  map[string]map[streamID]struct{}{},
		pending: map[streamID]*pendingStop{},
		reapAt:  map[streamID]time.Time{},
	}
	// The gauges of the cluster's size show the leader's view, and 0
	// once this replica no longer leads.
	defer func() {
		c.nStreams.Store(0)
		c.nEdges.Store(0)
	}()
	if err := st.load(ctx); err != nil {
		return err
	}
	st.report()
	if err := st.publish(ctx); err != nil {
		return err
	}

	// The watch starts after the state read; it is started again after a
	// compaction.
	var (
		batches   <-chan watchBatch
		stopWatch context.CancelFunc
	)
	// endWatch stops the watch and waits for its goroutine.
	endWatch := func() {
		if stopWatch != nil {
			stopWatch()
			for range batches {
			}
		}
	}
	watch := func() <-chan watchBatch {
		endWatch()
		wctx, cancel := context.WithCancel(ctx)
		stopWatch = cancel
		return c.watchCluster(wctx, st.rev+1)
	}
	batches = watch()
	defer endWatch()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	tick := time.NewTicker(saveInterval)
	defer tick.Stop()
	for {
		st.resetTimer(timer)
		select {
		case <-ctx.Done():
			if shutdown() {
				st.saveOnExit(ctx)
			}
			return nil
		case b, ok := <-batches:
			if !ok {
				if ctx.Err() != nil {
					continue
				}
				return errors.New("controller: the cluster watch ended")
			}
			st.begin()
			if b.compacted {
				st.log.Warn("the cluster watch fell behind the compacted history; reading the state again", "compacted", b.rev)
				if err := st.resync(ctx); err != nil {
					return err
				}
				batches = watch()
			} else {
				for _, ev := range b.events {
					st.apply(ev)
				}
				st.rev = b.rev
				if len(b.events) > 0 {
					st.seenRev = b.rev
				}
			}
		case <-timer.C:
			st.begin()
			st.expire(ctx)
		case <-tick.C:
			if err := st.maybeSave(ctx); err != nil {
				return err
			}
		}
		st.report()
		if err := st.publish(ctx); err != nil {
			return err
		}
	}
}

// load reads the cursor and the state the leader starts from: the state at
// the cursor's revision, whose later changes the watch replays, or, when
// there is no cursor or its history is compacted, the current state.
func (st *leaderState) load(ctx context.Context) error {
	cli, prefix := st.c.cfg.Etcd, st.c.cfg.Prefix
	cur, found, err := st.readCursor(ctx)
	if err != nil {
		return err
	}
	var snap snapshot
	replay := false
	if found && cur.Revision > 0 {
		rctx, cancel := context.WithTimeout(ctx, opTimeout)
		snap, err = readSnapshot(rctx, cli, prefix, cur.Revision)
		cancel()
		switch {
		case err == nil:
			replay = true
		case errors.Is(err, rpctypes.ErrCompacted), errors.Is(err, rpctypes.ErrFutureRev):
			st.log.Warn("the events cursor's revision is no longer in etcd's history: changes since it are not announced",
				"cursor", cur.Revision, "previous_leader", cur.Leader, "err", err)
		default:
			return err
		}
	}
	if !replay {
		rctx, cancel := context.WithTimeout(ctx, opTimeout)
		snap, err = readSnapshot(rctx, cli, prefix, 0)
		cancel()
		if err != nil {
			return err
		}
	}
	st.install(snap)

	now, wall := time.Now(), st.c.cfg.Now()
	for _, p := range cur.Pending {
		id := streamID{p.App, p.Name}
		if s, live := st.streams[id]; live && s.Epoch == p.Epoch {
			continue // the claim disappears in the history the watch replays
		}
		due := now.Add(max(0, p.Removed.Add(st.c.cfg.ReconnectGrace).Sub(wall)))
		st.pending[id] = &pendingStop{edge: p.Edge, epoch: p.Epoch, removed: p.Removed, due: due}
	}
	st.acked = st.cursor()
	// Streams claimed again while no replica led (only when starting
	// from the current state: a replay finds the claims in the history).
	for id, p := range st.pending {
		if s, live := st.streams[id]; live {
			delete(st.pending, id)
			st.emit(takenOver(s, p.edge, p.epoch, wall))
		}
	}
	for id, s := range st.streams {
		st.checkOrphan(id, s)
	}
	st.changed = true
	st.log.Info("leading", "from_revision", st.rev, "replay", replay, "streams", len(st.streams),
		"edges", len(st.edges), "pending_stops", len(st.pending))
	return nil
}

// install replaces the known streams and edges with snap's.
func (st *leaderState) install(snap snapshot) {
	clear(st.streams)
	clear(st.edges)
	clear(st.byEdge)
	for _, e := range snap.edges {
		st.edges[e.ID] = e
	}
	for _, s := range snap.streams {
		st.putStream(streamID{s.App, s.Name}, s)
	}
	st.rev = snap.rev
}

// resync reads the current state after the watch fell behind the
// compacted history, and announces the difference from what was known.
func (st *leaderState) resync(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(ctx, opTimeout)
	snap, err := readSnapshot(rctx, st.c.cfg.Etcd, st.c.cfg.Prefix, 0)
	cancel()
	if err != nil {
		return err
	}
	now := make(map[streamID]cluster.StreamInfo, len(snap.streams))
	for _, s := range snap.streams {
		now[streamID{s.App, s.Name}] = s
	}
	for id, s := range st.streams {
		if _, ok := now[id]; !ok {
			st.apply(cluster.Event{Kind: cluster.StreamDeleted, Stream: &s, Revision: snap.rev})
		}
	}
	clear(st.edges)
	for _, e := range snap.edges {
		st.edges[e.ID] = e
	}
	for _, s := range snap.streams {
		st.apply(cluster.Event{Kind: cluster.StreamPut, Stream: &s, Revision: snap.rev})
	}
	for id, s := range st.streams {
		st.checkOrphan(id, s)
	}
	st.rev, st.seenRev = snap.rev, snap.rev
	return nil
}

// apply updates the state with one change and queues the events it
// causes.
func (st *leaderState) apply(ev cluster.Event) {
	wall := st.c.cfg.Now()
	switch ev.Kind {
	case cluster.StreamPut:
		s := *ev.Stream
		id := streamID{s.App, s.Name}
		prev, live := st.streams[id]
		st.putStream(id, s)
		if !live || prev.Epoch != s.Epoch {
			delete(st.reapAt, id) // a new claim gets its own grace
		}
		switch {
		case live && prev.Epoch == s.Epoch:
			// The owner recorded activity (Touch).
		case live:
			st.emit(takenOver(s, prev.Edge, prev.Epoch, wall))
		default:
			if p, ok := st.pending[id]; ok {
				delete(st.pending, id)
				st.emit(takenOver(s, p.edge, p.epoch, wall))
			} else {
				st.emit(Event{Type: EventStarted, App: s.App, Name: s.Name, Edge: s.Edge, Epoch: s.Epoch, Time: eventTime(s, wall)})
			}
		}
		st.checkOrphan(id, s)

	case cluster.StreamDeleted:
		id := streamID{ev.Stream.App, ev.Stream.Name}
		last, live := st.streams[id]
		if !live {
			return
		}
		st.dropStream(id, last)
		delete(st.reapAt, id)
		st.pending[id] = &pendingStop{
			edge: last.Edge, epoch: last.Epoch, removed: wall,
			due: time.Now().Add(st.c.cfg.ReconnectGrace),
		}
		st.changed = true

	case cluster.EdgePut:
		st.edges[ev.Edge.ID] = *ev.Edge
		st.checkEdge(ev.Edge.ID)

	case cluster.EdgeDeleted:
		delete(st.edges, ev.Edge.ID)
		st.checkEdge(ev.Edge.ID)
	}
}

// putStream records a claim and indexes it by edge.
func (st *leaderState) putStream(id streamID, s cluster.StreamInfo) {
	if prev, ok := st.streams[id]; ok && prev.Edge != s.Edge {
		st.dropStream(id, prev)
	}
	st.streams[id] = s
	set := st.byEdge[s.Edge]
	if set == nil {
		set = map[streamID]struct{}{}
		st.byEdge[s.Edge] = set
	}
	set[id] = struct{}{}
}

// dropStream forgets a claim.
func (st *leaderState) dropStream(id streamID, s cluster.StreamInfo) {
	delete(st.streams, id)
	if set := st.byEdge[s.Edge]; set != nil {
		delete(set, id)
		if len(set) == 0 {
			delete(st.byEdge, s.Edge)
		}
	}
}

// orphan reports whether a claim points to an edge that is not registered,
// or registered under another lease (a later incarnation of the edge).
func (st *leaderState) orphan(s cluster.StreamInfo) bool {
	e, ok := st.edges[s.Edge]
	return !ok || e.Lease != s.Lease
}

// checkOrphan schedules the reaping of an orphaned claim after the reap
// grace, or cancels it when the claim is not orphaned.
func (st *leaderState) checkOrphan(id streamID, s cluster.StreamInfo) {
	if !st.orphan(s) {
		delete(st.reapAt, id)
		return
	}
	if _, ok := st.reapAt[id]; !ok {
		st.reapAt[id] = time.Now().Add(st.c.cfg.ReapGrace)
	}
}

// checkEdge re-checks the claims of an edge after its registration
// changed.
func (st *leaderState) checkEdge(edge string) {
	for id := range st.byEdge[edge] {
		st.checkOrphan(id, st.streams[id])
	}
}

// expire publishes the stopped events that are due and reaps the claims
// whose grace has passed.
func (st *leaderState) expire(ctx context.Context) {
	now := time.Now()
	for id, p := range st.pending {
		if !now.Before(p.due) {
			delete(st.pending, id)
			st.emit(Event{Type: EventStopped, App: id.app, Name: id.name, Edge: p.edge, Epoch: p.epoch, Time: p.removed})
		}
	}
	for id, at := range st.reapAt {
		if now.Before(at) {
			continue
		}
		delete(st.reapAt, id)
		s, ok := st.streams[id]
		if ok && st.orphan(s) {
			if err := st.reap(ctx, s); err != nil {
				st.log.Warn("reaping a claim failed; trying again", "app", s.App, "name", s.Name, "edge", s.Edge, "err", err)
				st.reapAt[id] = now.Add(saveInterval)
			}
		}
	}
}

// reap deletes the orphaned claim s if it is unchanged since observed and
// its edge is still missing when asked directly.
func (st *leaderState) reap(ctx context.Context, s cluster.StreamInfo) error {
	cli, prefix := st.c.cfg.Etcd, st.c.cfg.Prefix
	start := time.Now()
	rctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	e, registered, err := cluster.GetEdge(rctx, cli, prefix, s.Edge)
	if err != nil {
		return err
	}
	if registered && e.Lease == s.Lease {
		return nil // the watch had not told yet
	}
	deleted, err := cluster.DeleteStream(rctx, cli, prefix, s)
	if err != nil {
		return err
	}
	if deleted {
		st.c.met.claimReaped()
		// Only a reap that removed a claim is traced, in the trace of the
		// leadership term.
		_, span := st.c.tr.Start(ctx, spanReap, trace.WithTimestamp(start), trace.WithAttributes(
			keyStream.String(s.App+"/"+s.Name), keyEdgeID.String(s.Edge), keyEpoch.Int64(int64(s.Epoch)),
			keyRegistered.Bool(registered)))
		span.End()
		withIDs(st.log, span.SpanContext()).Info("reaped the claim of an edge that is gone", "app", s.App, "name", s.Name, "edge", s.Edge,
			"epoch", s.Epoch, "edge_registered", registered)
	} else {
		st.log.Debug("claim changed before it was reaped", "app", s.App, "name", s.Name, "epoch", s.Epoch)
	}
	return nil
}

// resetTimer arms timer for the next stopped event or reap.
func (st *leaderState) resetTimer(timer *time.Timer) {
	next := time.Now().Add(time.Hour)
	for _, p := range st.pending {
		if p.due.Before(next) {
			next = p.due
		}
	}
	for _, at := range st.reapAt {
		if at.Before(next) {
			next = at
		}
	}
	timer.Reset(max(0, time.Until(next)))
}

// begin marks the start of a change: while every event is published, the
// state before the change is the point a new leader would start from.
func (st *leaderState) begin() {
	if len(st.outbox) == 0 {
		st.acked = st.cursor()
	}
}

// emit queues an event.
func (st *leaderState) emit(ev Event) {
	st.outbox = append(st.outbox, ev)
}

// publish publishes the queued events: it first saves the cursor of the
// state before them, which also proves this replica still leads. A failure
// to save or publish leaves the rest queued for the next tick; losing the
// leadership ends the duties.
func (st *leaderState) publish(ctx context.Context) error {
	if len(st.outbox) == 0 || time.Now().Before(st.retryAt) {
		return nil
	}
	if err := st.save(ctx, st.acked); err != nil {
		if errors.Is(err, errNotLeader) {
			return err
		}
		st.log.Warn("cannot save the events cursor; events wait", "events", len(st.outbox), "err", err)
		st.retryAt = time.Now().Add(saveInterval)
		return nil
	}
	for i, ev := range st.outbox {
		if err := st.c.publishEvent(ev); err != nil {
			st.log.Warn("cannot publish events; they wait", "events", len(st.outbox)-i, "err", err)
			st.outbox = slices.Delete(st.outbox, 0, i)
			st.retryAt = time.Now().Add(saveInterval)
			return nil
		}
		st.log.Info("stream "+ev.Type, "app", ev.App, "name", ev.Name, "edge", ev.Edge, "epoch", ev.Epoch)
	}
	st.outbox = st.outbox[:0]
	st.retryAt = time.Time{}
	st.changed = true
	if err := st.c.cfg.NATS.FlushTimeout(natsFlushTimeout); err != nil {
		st.log.Debug("events not flushed to NATS yet", "err", err)
	}
	return nil
}

// cursor returns the cursor of the current state.
func (st *leaderState) cursor() cursor {
	cur := cursor{Revision: st.rev, Leader: st.c.cfg.ID}
	for id, p := range st.pending {
		cur.Pending = append(cur.Pending, cursorStop{App: id.app, Name: id.name, Edge: p.edge, Epoch: p.epoch, Removed: p.removed})
	}
	slices.SortFunc(cur.Pending, func(a, b cursorStop) int {
		return cmp.Or(cmp.Compare(a.App, b.App), cmp.Compare(a.Name, b.Name))
	})
	return cur
}

// maybeSave saves the cursor when everything is published and the saved
// cursor lacks announcements, or lags far behind.
func (st *leaderState) maybeSave(ctx context.Context) error {
	if len(st.outbox) > 0 {
		return nil // publish retries
	}
	if !st.changed && (st.seenRev <= st.savedRev || time.Since(st.savedAt) < cursorMaxAge) {
		return nil
	}
	if err := st.save(ctx, st.cursor()); err != nil {
		if errors.Is(err, errNotLeader) {
			return err
		}
		st.log.Warn("cannot save the events cursor", "err", err)
		return nil
	}
	st.changed = false
	return nil
}

// saveOnExit saves the cursor before the replica resigns, so that the next
// leader neither repeats nor misses anything. It is fenced like every
// save.
func (st *leaderState) saveOnExit(ctx context.Context) {
	if len(st.outbox) > 0 || (!st.changed && st.seenRev <= st.savedRev) {
		return
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), resignTimeout)
	defer cancel()
	if err := st.save(sctx, st.cursor()); err != nil {
		st.log.Debug("events cursor not saved on exit", "err", err)
	}
}

// save writes cur if this replica still holds the leadership it won.
func (st *leaderState) save(ctx context.Context, cur cursor) error {
	val, err := json.Marshal(cur)
	if err != nil {
		return fmt.Errorf("controller: encode the events cursor: %w", err)
	}
	sctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	resp, err := st.c.cfg.Etcd.Txn(sctx).
		If(clientv3.Compare(clientv3.CreateRevision(st.el.Key()), "=", st.el.Rev())).
		Then(clientv3.OpPut(cursorKey(st.c.cfg.Prefix), string(val))).
		Commit()
	if err != nil {
		return fmt.Errorf("controller: save the events cursor: %w", err)
	}
	if !resp.Succeeded {
		return errNotLeader
	}
	st.savedRev, st.savedAt = cur.Revision, time.Now()
	return nil
}

// readCursor reads the events cursor a previous leader saved.
func (st *leaderState) readCursor(ctx context.Context) (cursor, bool, error) {
	rctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	resp, err := st.c.cfg.Etcd.Get(rctx, cursorKey(st.c.cfg.Prefix))
	if err != nil {
		return cursor{}, false, fmt.Errorf("controller: read the events cursor: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return cursor{}, false, nil
	}
	var cur cursor
	if err := json.Unmarshal(resp.Kvs[0].Value, &cur); err != nil {
		st.log.Warn("ignoring an events cursor that does not decode", "err", err)
		return cursor{}, false, nil
	}
	return cur, true, nil
}

// takenOver returns the taken-over event of claim s replacing the claim
// prevEpoch of prevEdge.
func takenOver(s cluster.StreamInfo, prevEdge string, prevEpoch uint64, wall time.Time) Event {
	return Event{
		Type: EventTakenOver, App: s.App, Name: s.Name, Edge: s.Edge, Epoch: s.Epoch,
		PreviousEdge: prevEdge, PreviousEpoch: prevEpoch, Time: eventTime(s, wall),
	}
}

// eventTime is the time of a claim's event: its start as the owner
// recorded it, or wall when the claim does not say.
func eventTime(s cluster.StreamInfo, wall time.Time) time.Time {
	if s.Started.IsZero() {
		return wall.UTC()
	}
	return s.Started.UTC()
}
