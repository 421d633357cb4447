package edge

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tributary-media/tributary/internal/fanout"
	"github.com/tributary-media/tributary/pkg/bus"
	"github.com/tributary-media/tributary/pkg/rtmp/flv"
)

// metaPrefix is the AMF0 string "onMetaData" that starts a metadata tag.
var metaPrefix = []byte("\x02\x00\x0aonMetaData")

// relay is one stream on this edge as its players see it: one bus
// subscription feeding a fanout stream. It exists while the edge has
// players of the stream.
type relay struct {
	e      *Edge
	key    StreamKey
	hubKey string // unique per relay, so a closing relay never meets its successor
	sub    *bus.Subscriber
	log    *slog.Logger
	cancel context.CancelFunc
	done   chan struct{} // closed when run has returned

	players int // guarded by e.mu

	// bytesOut counts the body bytes written to the relay's players; the
	// players' sinks add to it, Edge.load reads it.
	bytesOut atomic.Uint64

	// trace is the trace context of the newest publish whose frames
	// carried one; players link their span to it. It changes once per
	// publish (epoch) at most.
	trace atomic.Pointer[pubTrace]
	// subTP is the traceparent of the play that started the relay, sent
	// with the init request.
	subTP string

	mu     sync.Mutex // guards the fields below; taken by the bus handler
	pub    *fanout.Publisher
	epoch  uint64
	last   time.Time // when the latest frame arrived
	closed bool
	// tp and tpEpoch are the traceparent and epoch trace was made from.
	tp      string
	tpEpoch uint64
}

// acquireRelay returns the relay of key with one more player counted,
// creating and starting it for the first player; tp is the traceparent of
// that player's play, or "". It returns errTooManyPlayers when the relay
// has the most players the edge allows.
func (e *Edge) acquireRelay(key StreamKey, tp string) (*relay, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if r := e.relays[key]; r != nil {
		if err := e.limitPlayers(r); err != nil {
			return nil, err
		}
		r.players++
		return r, nil
	}
	e.gen++
	r := &relay{
		e:      e,
		key:    key,
		hubKey: fmt.Sprintf("%d|%s", e.gen, key),
		log:    e.log.With("stream", key.String()),
		done:   make(chan struct{}),
		subTP:  tp,
	}
	sub, err := bus.NewSubscriber(e.cfg.NATS, r.subscriberConfig())
	if err != nil {
		return nil, err
	}
	r.sub = sub
	r.players = 1
	e.relays[key] = r
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go r.run(ctx)
	return r, nil
}

// subscriberConfig returns the configuration of the relay's bus
// subscription.
func (r *relay) subscriberConfig() bus.SubscriberConfig {
	return bus.SubscriberConfig{
		Prefix:      r.e.cfg.Prefix,
		App:         r.key.App,
		Name:        r.key.Name,
		Handler:     r.onFrame,
		TraceParent: r.subTP,
		Logger:      r.log,
	}
}

// releaseRelay counts one player less on r and closes r after its last
// player.
func (e *Edge) releaseRelay(r *relay) {
	e.mu.Lock()
	r.players--
	last := r.players == 0
	if last && e.relays[r.key] == r {
		delete(e.relays, r.key)
	}
	e.mu.Unlock()
	if last {
		r.close()
	}
}

// run starts the subscription, retrying while the bus is unreachable, and
// then watches for a publisher that went silent for longer than the
// reconnect grace.
func (r *relay) run(ctx context.Context) {
	defer close(r.done)
	for attempt := 0; ; attempt++ {
		err := r.sub.Start(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		if attempt == 0 {
			r.log.Warn("bus subscription failed, retrying", "err", err)
		}
		// Start closes the subscriber on failure: make a new one.
		sub, nerr := bus.NewSubscriber(r.e.cfg.NATS, r.subscriberConfig())
		if nerr != nil {
			r.log.Error("bus subscription impossible", "err", nerr)
			return
		}
		r.mu.Lock()
		r.sub = sub
		r.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-time.After(250 * time.Millisecond):
		}
	}
	grace := r.e.cfg.ReconnectGrace
	tick := time.NewTicker(min(max(grace/4, 10*time.Millisecond), time.Second))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			r.checkSilence(grace)
		}
	}
}

// checkSilence tells players the stream ended once the publisher has sent
// nothing for the grace period.
func (r *relay) checkSilence(grace time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pub == nil || r.closed {
		return
	}
	if silent := r.e.now().Sub(r.last); silent > grace {
		r.log.Info("publisher silent past the reconnect grace, players told the stream ended",
			"silent", silent.Round(time.Millisecond), "epoch", r.epoch)
		r.pub.Close()
		r.pub = nil
	}
}

// onFrame is the bus handler: it feeds the fanout stream and never waits
// for a player.
func (r *relay) onFrame(f bus.Frame) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	if f.Event == bus.EventEnd {
		if r.pub != nil {
			r.log.Info("stream ended by its publisher", "epoch", f.Epoch)
			r.pub.Close()
			r.pub = nil
		}
		return
	}
	tag, _, err := flv.ParseTag(f.Tag)
	if err != nil { // the Receiver checks every tag; kept for safety
		r.log.Warn("bus frame dropped", "err", err)
		return
	}
	switch {
	case r.pub == nil:
		p, err := r.e.hub.Publish(r.hubKey)
		if err != nil {
			r.log.Error("relay cannot feed its players", "err", err)
			return
		}
		r.pub, r.epoch = p, f.Epoch
		r.log.Debug("stream live on the bus", "epoch", f.Epoch, "init", f.Init)
	case f.Epoch != r.epoch:
		r.log.Info("stream resumed by a new publish", "epoch", f.Epoch, "previous_epoch", r.epoch)
		r.pub.Restart()
		r.epoch = f.Epoch
	case f.Lost > 0:
		r.log.Info("bus frames lost, players skip to the next keyframe", "lost", f.Lost)
		r.pub.Discontinuity()
	}
	if f.TraceParent != "" && (f.Epoch != r.tpEpoch || f.TraceParent != r.tp) {
		r.noteTrace(f.Epoch, f.TraceParent)
	}
	fr := fanout.NewFrame(tag.Type, tag.Timestamp, tag.Body, tag.Type == flv.TagScript && bytes.HasPrefix(tag.Body, metaPrefix))
	fr.IngestTime = f.IngestTime
	_ = r.pub.Write(fr) // fails only after Close, which this lock excludes
	r.last = r.e.now()
}

// noteTrace records the trace context of the publish of epoch, which its
// frames carry as tp, for the players' links. It runs with r.mu held.
func (r *relay) noteTrace(epoch uint64, tp string) {
	r.tp, r.tpEpoch = tp, epoch
	if sc := parseTraceParent(tp); sc.IsValid() {
		r.trace.Store(&pubTrace{epoch: epoch, sc: sc})
	}
}

// close ends the relay: no more frames, the subscription is gone.
func (r *relay) close() {
	r.cancel()
	<-r.done
	r.mu.Lock()
	sub := r.sub
	r.mu.Unlock()
	sub.Close() // waits for a running handler
	r.mu.Lock()
	r.closed = true
	if r.pub != nil {
		r.pub.Close()
		r.pub = nil
	}
	r.mu.Unlock()
}
