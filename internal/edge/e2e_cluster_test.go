package edge

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"

	"github.com/tributary-media/tributary/internal/testutil"
	"github.com/tributary-media/tributary/internal/testutil/etcdtest"
	"github.com/tributary-media/tributary/internal/testutil/natstest"
	"github.com/tributary-media/tributary/pkg/bus"
	"github.com/tributary-media/tributary/pkg/cluster"
	"github.com/tributary-media/tributary/pkg/rtmp"
	"github.com/tributary-media/tributary/pkg/rtmp/amf"
	"github.com/tributary-media/tributary/pkg/rtmp/flv"
)

// The tests of this file run edges that claim streams in a real etcd and
// carry media over a real NATS server, and check what publishers and
// players see when ownership moves: a takeover, an edge that dies or
// drains, an edge cut off from etcd, an encoder that reconnects elsewhere,
// and many encoders racing for one name.

// Timing of the cluster harness (startClusterEdge): lease TTL, the
// session's keep-alive interval (TTL/3) and the bus silence window of the
// reject policy.
const (
	clusterTTL       = 2 * time.Second
	clusterKeepAlive = clusterTTL / 3
	clusterSilence   = 500 * time.Millisecond
	// clusterTouch is how often an owner records media activity in its
	// claim: a third of the harness's reconnect grace (3 s).
	clusterTouch = 3 * time.Second / 3
	// expirySlack is what etcd may add to a lease's TTL before it revokes
	// it (its expiry check runs twice a second) plus scheduling noise.
	expirySlack = 500 * time.Millisecond
)

// srcStride separates the frame indexes of encoders: frame i of encoder
// src carries the index src*srcStride+i, so a player can tell which
// encoder sent every frame it receives.
const srcStride = 1 << 20

// liveEncoder sends a marked live stream in real time on a publishing
// client, from its own goroutine, like an encoder: metadata and sequence
// headers first, then 25 video frames per second with a keyframe every
// second, and AAC-sized audio frames. Every frame carries its index (see
// srcStride) where decodeRecv reads it; the sequence headers end with the
// encoder's number.
type liveEncoder struct {
	c   *rtmp.ClientConn
	src int

	mu    sync.Mutex // guards video and err
	video int        // video frames written
	err   error      // why writing stopped early

	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

// startLiveEncoder starts encoder src (1 or more) on c, which must be
// publishing. It is stopped at the latest when the test ends.
func startLiveEncoder(t testing.TB, c *rtmp.ClientConn, src int) *liveEncoder {
	t.Helper()
	e := &liveEncoder{c: c, src: src, stop: make(chan struct{}), done: make(chan struct{})}
	meta := amf.ECMAArray{
		{Key: "width", Value: float64(1280)},
		{Key: "height", Value: float64(720)},
		{Key: "framerate", Value: float64(markVideoFPS)},
		{Key: "videocodecid", Value: float64(7)},
		{Key: "audiocodecid", Value: float64(10)},
	}
	if err := c.WriteMetadata(meta); err != nil {
		t.Fatalf("encoder %d: metadata: %v", src, err)
	}
	if err := c.WriteVideo(0, append(slices.Clone(markAVCConfig), byte(src))); err != nil {
		t.Fatalf("encoder %d: video sequence header: %v", src, err)
	}
	if err := c.WriteAudio(0, append(slices.Clone(markAACConfig), byte(src))); err != nil {
		t.Fatalf("encoder %d: audio sequence header: %v", src, err)
	}
	go e.run()
	t.Cleanup(e.Stop)
	return e
}

// run paces the frames: video frame i at i/25 s, audio frame j at
// j*1024/44100 s from the start.
func (e *liveEncoder) run() {
	defer close(e.done)
	inter := make([]byte, 1500)
	key := make([]byte, 6000)
	audio := make([]byte, 200)
	copy(inter, []byte{0x27, 0x01, 0, 0, 0})
	copy(key, []byte{0x17, 0x01, 0, 0, 0})
	copy(audio, []byte{0xaf, 0x01})
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	start := time.Now()
	for vi, ai := 0, 0; ; {
		vAt := start.Add(time.Duration(vi) * time.Second / markVideoFPS)
		aAt := start.Add(time.Duration(float64(ai) / markAudioRate * float64(time.Second)))
		next, isVideo := vAt, true
		if aAt.Before(vAt) {
			next, isVideo = aAt, false
		}
		timer.Reset(max(time.Until(next), 0))
		select {
		case <-e.stop:
			return
		case <-timer.C:
		}
		var err error
		if isVideo {
			body := inter
			if vi%markVideoFPS == 0 {
				body = key
			}
			binary.BigEndian.PutUint32(body[5:9], uint32(e.src*srcStride+vi))
			err = e.c.WriteVideo(uint32(vi*1000/markVideoFPS), body)
			if err == nil {
				e.mu.Lock()
				e.video = vi + 1
				e.mu.Unlock()
			}
			vi++
		} else {
			binary.BigEndian.PutUint32(audio[2:6], uint32(e.src*srcStride+ai))
			err = e.c.WriteAudio(uint32(float64(ai)*1000/markAudioRate), audio)
			ai++
		}
		if err != nil {
			e.mu.Lock()
			e.err = err
			e.mu.Unlock()
			return
		}
	}
}

// Stop stops sending and waits for the sending goroutine. It is safe to
// call more than once.
func (e *liveEncoder) Stop() {
	e.stopOnce.Do(func() { close(e.stop) })
	<-e.done
}

// Video returns the number of video frames written.
func (e *liveEncoder) Video() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.video
}

// Err returns why the encoder stopped writing on its own, or nil.
func (e *liveEncoder) Err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

// clusterFrame is a message a clusterPlayer received, with the encoder
// that sent it.
type clusterFrame struct {
	recvFrame
	src int // the encoder's number; 0 when the message has no marker
}

// clusterPlayer plays a stream with our client and records every message
// it receives, from its own goroutine. It also counts the messages that
// contain a marker, which must never reach it.
type clusterPlayer struct {
	c       *rtmp.ClientConn
	marker  []byte
	closing atomic.Bool
	done    chan struct{}

	mu     sync.Mutex // guards the fields below
	got    []clusterFrame
	marked int
	err    error // why reading ended other than by Close
}

// startClusterPlayer plays app/name on e until the end of the test; marker
// (if not empty) is a byte string the player must never receive.
func startClusterPlayer(t testing.TB, ctx context.Context, e *testEdge, app, name string, marker []byte) *clusterPlayer {
	t.Helper()
	c := dialClient(t, ctx, appURL(e, app))
	if err := c.Play(ctx, name); err != nil {
		t.Fatalf("play %q/%q on edge %s: %v", app, name, e.cfg.ID, err)
	}
	p := &clusterPlayer{c: c, marker: marker, done: make(chan struct{})}
	go p.run()
	t.Cleanup(p.Close)
	return p
}

func (p *clusterPlayer) run() {
	defer close(p.done)
	for {
		m, err := p.c.ReadMessage()
		if err != nil {
			if !p.closing.Load() {
				p.mu.Lock()
				p.err = err
				p.mu.Unlock()
			}
			return
		}
		f := clusterFrame{recvFrame: decodeRecv(m, time.Now())}
		switch {
		case f.idx >= 0:
			f.src = f.idx / srcStride
		case f.config && len(m.Payload) > 0:
			f.src = int(m.Payload[len(m.Payload)-1])
		}
		marked := len(p.marker) > 0 && bytes.Contains(m.Payload, p.marker)
		p.mu.Lock()
		p.got = append(p.got, f)
		if marked {
			p.marked++
		}
		p.mu.Unlock()
	}
}

// Close ends the play and waits for the reading goroutine. It is safe to
// call more than once.
func (p *clusterPlayer) Close() {
	p.closing.Store(true)
	p.c.Close()
	<-p.done
}

// Frames returns a copy of what the player has received so far.
func (p *clusterPlayer) Frames() []clusterFrame {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.got)
}

// Marked returns how many messages holding the marker the player got.
func (p *clusterPlayer) Marked() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.marked
}

// Err returns why reading ended other than by Close, or nil.
func (p *clusterPlayer) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// videoFrom returns the first video frame (keyframe when key) of encoder
// src that arrived at or after from.
func (p *clusterPlayer) videoFrom(src int, key bool, from time.Time) (clusterFrame, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range p.got {
		if f.kind == rtmp.KindVideo && f.idx >= 0 && f.src == src && (!key || f.key) && !f.at.Before(from) {
			return f, true
		}
	}
	return clusterFrame{}, false
}

// lastVideo returns the last video frame of encoder src received.
func (p *clusterPlayer) lastVideo(src int) (clusterFrame, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.got) - 1; i >= 0; i-- {
		if f := p.got[i]; f.kind == rtmp.KindVideo && f.idx >= 0 && f.src == src {
			return f, true
		}
	}
	return clusterFrame{}, false
}

// awaitVideo waits up to d for a video frame of encoder src received at
// least after from plus span (so span of its stream has arrived).
func (p *clusterPlayer) awaitVideo(t testing.TB, d time.Duration, what string, src int, from time.Time, span time.Duration) {
	t.Helper()
	awaitCond(t, d, what, func() bool { _, ok := p.videoFrom(src, false, from.Add(span)); return ok })
}

// check returns what is wrong with the player's reception as
// checkPlayback sees it, or an error if the connection ended.
func (p *clusterPlayer) check() error {
	if err := p.Err(); err != nil {
		return fmt.Errorf("connection ended: %w", err)
	}
	var frames []recvFrame
	for _, f := range p.Frames() {
		frames = append(frames, f.recvFrame)
	}
	return checkPlayback(frames)
}

// checkSwitch checks that the first video message of encoder src the
// player received is its sequence header, followed by its first
// keyframe.
func (p *clusterPlayer) checkSwitch(src int) error {
	var video []clusterFrame
	for _, f := range p.Frames() {
		if f.kind == rtmp.KindVideo && f.src == src {
			video = append(video, f)
		}
	}
	switch {
	case len(video) < 2:
		return fmt.Errorf("%d video messages of encoder %d", len(video), src)
	case !video[0].config:
		return fmt.Errorf("the first video message of encoder %d is frame %d, not its sequence header", src, video[0].idx)
	case !video[1].key || video[1].idx != src*srcStride:
		return fmt.Errorf("the video message after the sequence header of encoder %d is frame %d (key %v), not its first keyframe",
			src, video[1].idx-src*srcStride, video[1].key)
	}
	return nil
}

// epochWatch records, as any NATS client can, the frames of one stream
// that travel on the bus: per epoch, when the latest arrived and its
// highest sequence number, and how many messages hold a marker.
type epochWatch struct {
	marker []byte

	mu     sync.Mutex
	last   map[uint64]time.Time
	maxSeq map[uint64]uint64
	marked int
}

// watchEpochs subscribes to the media subject of app/name.
func watchEpochs(t testing.TB, ns *natstest.Server, app, name string, marker []byte) *epochWatch {
	t.Helper()
	w := &epochWatch{marker: marker, last: make(map[uint64]time.Time), maxSeq: make(map[uint64]uint64)}
	nc := ns.Connect(t)
	natstest.Subscribe(t, nc, bus.StreamSubject("", app, name, bus.KindMedia), w.onMsg)
	return w
}

func (w *epochWatch) onMsg(m *nats.Msg) {
	at := time.Now()
	env, err := bus.ParseEnvelope(m.Header)
	if err != nil || env.Event != "" {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.last[env.Epoch] = at
	w.maxSeq[env.Epoch] = max(w.maxSeq[env.Epoch], env.Seq)
	if len(w.marker) > 0 && bytes.Contains(m.Data, w.marker) {
		w.marked++
	}
}

// lastAt returns when the latest frame of epoch arrived.
func (w *epochWatch) lastAt(epoch uint64) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last[epoch]
}

// seq returns the highest sequence number seen in epoch.
func (w *epochWatch) seq(epoch uint64) uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.maxSeq[epoch]
}

// markedCount returns how many messages holding the marker went by.
func (w *epochWatch) markedCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.marked
}

// relayStats returns the bus statistics of the relay of key on e.
func relayStats(e *Edge, key StreamKey) (bus.SubscriberStats, bool) {
	e.mu.Lock()
	r := e.relays[key]
	e.mu.Unlock()
	if r == nil {
		return bus.SubscriberStats{}, false
	}
	r.mu.Lock()
	sub := r.sub
	r.mu.Unlock()
	return sub.Stats(), true
}

// claimOf reads the claim of app/name from etcd; ok is false when the
// stream has no owner.
func claimOf(t testing.TB, cli *clientv3.Client, app, name string) (cluster.StreamInfo, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, ok, err := cluster.GetStream(ctx, cli, "", app, name)
	if err != nil {
		t.Fatalf("read the claim of %s/%s: %v", app, name, err)
	}
	return info, ok
}

// leaseOf returns the lease the edge holds now.
func leaseOf(t testing.TB, ce *clusterEdge) clientv3.LeaseID {
	t.Helper()
	s := ce.Cluster.sess.Load()
	if s == nil {
		t.Fatalf("edge %s has no cluster session", ce.cfg.ID)
	}
	return s.Lease()
}

// dialPlain dials url with our client that ignores reconnect requests (an
// encoder without Enhanced RTMP reconnect), through dial when not nil, and
// connects. The client is closed when the test ends.
func dialPlain(t testing.TB, ctx context.Context, url string, dial func(context.Context, string, string) (net.Conn, error)) *rtmp.ClientConn {
	t.Helper()
	c, err := rtmp.Dial(ctx, url, rtmp.ClientConfig{DisableReconnect: true, DialContext: dial})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

// awaitStatusEnd waits up to d for a publishing client to end, and returns
// the status error it ended with (nil with a failure when it ended
// otherwise).
func awaitStatusEnd(t testing.TB, c *rtmp.ClientConn, d time.Duration, what string) *rtmp.StatusError {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(d):
		t.Fatalf("%s: the connection is still open after %v", what, d)
	}
	var se *rtmp.StatusError
	if !errors.As(c.Err(), &se) {
		t.Errorf("%s: the connection ended with %v, want an error status", what, c.Err())
		return nil
	}
	return se
}

// republish publishes app/name on e the way an encoder reconnects: a new
// connection for each attempt, again every 250 ms while the edge answers
// BadName. It returns the publishing client, when the publish was
// accepted and the number of attempts.
func republish(t testing.TB, ctx context.Context, e *testEdge, app, name string) (*rtmp.ClientConn, time.Time, int) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		c := dialPlain(t, ctx, appURL(e, app), nil)
		err := c.Publish(ctx, name)
		if err == nil {
			return c, time.Now(), attempt
		}
		c.Close()
		if !errors.Is(err, rtmp.ErrBadName) {
			t.Fatalf("republish on edge %s, attempt %d: %v", e.cfg.ID, attempt, err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("republish on edge %s: still BadName after %d attempts", e.cfg.ID, attempt)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// TestClusterTakeover: under the takeover policy a second publisher of a
// live stream on another edge wins at once. The first gets BadName and is
// closed; players on edges B and C carry on without a status, from the new
// encoder's sequence header and keyframe, timestamps continuing; and frames
// of the old epoch put on the bus afterwards reach no player.
func TestClusterTakeover(t *testing.T) {
	const name = "takeover"
	marker := []byte("STALE-EPOCH-FRAME")
	ns := natstest.Start(t, natstest.Options{})
	es := etcdtest.Start(t, etcdtest.Options{})
	opts := clusterOpts{Policy: PolicyTakeover}
	a := startClusterEdge(t, ns, es, "a", opts, nil)
	b := startClusterEdge(t, ns, es, "b", opts, nil)
	c := startClusterEdge(t, ns, es, "c", opts, nil)
	cli := es.Client(t)
	watch := watchEpochs(t, ns, "live", name, marker)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	p1 := publishOn(t, ctx, a.testEdge, "live", name)
	enc1 := startLiveEncoder(t, p1, 1)
	players := []*clusterPlayer{
		startClusterPlayer(t, ctx, b.testEdge, "live", name, marker),
		startClusterPlayer(t, ctx, c.testEdge, "live", name, marker),
	}
	joined := time.Now()
	for i, p := range players {
		p.awaitVideo(t, 10*time.Second, fmt.Sprintf("player %d: a second of encoder 1", i), 1, joined, time.Second)
	}
	old, ok := claimOf(t, cli, "live", name)
	if !ok || old.Edge != "a" {
		t.Fatalf("claim %+v (found %v), want edge a's", old, ok)
	}

	switchAt := time.Now()
	p2 := publishOn(t, ctx, b.testEdge, "live", name)
	accepted := time.Now()
	enc2 := startLiveEncoder(t, p2, 2)
	figure(t, "takeover_publish_ms", accepted.Sub(switchAt).Milliseconds())

	se := awaitStatusEnd(t, p1, 5*time.Second, "the first publisher")
	if se != nil && se.Code != rtmp.CodePublishBadName {
		t.Errorf("the first publisher ended with %v, want %s", se, rtmp.CodePublishBadName)
	}
	enc1.Stop()
	now, ok := claimOf(t, cli, "live", name)
	if !ok || now.Edge != "b" || now.Epoch <= old.Epoch {
		t.Errorf("claim after the takeover %+v (found %v), want edge b's with an epoch above %d", now, ok, old.Epoch)
	}
	var worstGap time.Duration
	for i, p := range players {
		p.awaitVideo(t, 10*time.Second, fmt.Sprintf("player %d: a second of encoder 2", i), 2, accepted, time.Second)
		last, ok1 := p.lastVideo(1)
		first, ok2 := p.videoFrom(2, false, time.Time{})
		if !ok1 || !ok2 {
			t.Fatalf("player %d: no video of encoder 1 (%v) or 2 (%v)", i, ok1, ok2)
		}
		gap := first.at.Sub(last.at)
		t.Logf("player %d: last frame of encoder 1 %v after the second publish started, first of encoder 2 %v after it was accepted",
			i, last.at.Sub(switchAt).Round(time.Millisecond), first.at.Sub(accepted).Round(time.Millisecond))
		worstGap = max(worstGap, gap)
		if err := p.checkSwitch(2); err != nil {
			t.Errorf("player %d: %v", i, err)
		}
	}
	figure(t, "takeover_player_gap_ms", worstGap.Milliseconds())
	if worstGap >= 2*time.Second {
		t.Errorf("players waited %v for the new publisher's video", worstGap)
	}

	// Frames of the old epoch, sent by a stale owner after the takeover:
	// five through a bus.Publisher (sequence numbers from 1) and five
	// continuing the sequence of the first publish.
	key := StreamKey{App: "live", Name: name}
	staleBefore := make([]uint64, 2)
	for i, e := range []*clusterEdge{b, c} {
		st, ok := relayStats(e.Edge, key)
		if !ok {
			t.Fatalf("no relay of %s on edge %s", key, e.cfg.ID)
		}
		staleBefore[i] = st.Stale
	}
	nc := ns.Connect(t)
	stale, err := bus.NewPublisher(nc, bus.PublisherConfig{App: "live", Name: name, Epoch: old.Epoch})
	if err != nil {
		t.Fatal(err)
	}
	const injected = 10
	for i := range injected / 2 {
		if _, err := stale.PublishFrame(flv.TagVideo, uint32(100000+40*i), avcKeyframe(string(marker)), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	stale.Close()
	lastSeq := watch.seq(old.Epoch)
	if lastSeq == 0 {
		t.Fatal("no frame of the first publish was seen on the bus")
	}
	for i := range injected / 2 {
		tag, err := flv.AppendTag(nil, flv.TagVideo, uint32(100200+40*i), avcKeyframe(string(marker)))
		if err != nil {
			t.Fatal(err)
		}
		msg := nats.NewMsg(bus.StreamSubject("", "live", name, bus.KindMedia))
		env := bus.Envelope{Epoch: old.Epoch, Seq: lastSeq + 1 + uint64(i), IngestTime: time.Now().UnixNano()}
		env.WriteHeader(msg.Header)
		msg.Data = tag
		if err := nc.PublishMsg(msg); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	awaitCond(t, 5*time.Second, "the stale frames seen on the bus", func() bool { return watch.markedCount() == injected })
	for i, e := range []*clusterEdge{b, c} {
		awaitCond(t, 5*time.Second, "edge "+e.cfg.ID+" counts the stale frames", func() bool {
			st, _ := relayStats(e.Edge, key)
			return st.Stale-staleBefore[i] >= injected
		})
	}
	// Half a second more of the new publisher, then no player may have
	// received a marked frame.
	injectedAt := time.Now()
	for i, p := range players {
		p.awaitVideo(t, 5*time.Second, fmt.Sprintf("player %d: encoder 2 after the stale frames", i), 2, injectedAt, 500*time.Millisecond)
	}
	enc2.Stop()
	if err := enc2.Err(); err != nil {
		t.Errorf("the second publisher: %v", err)
	}
	for i, p := range players {
		if n := p.Marked(); n != 0 {
			t.Errorf("player %d received %d frames of the old epoch", i, n)
		}
		if err := p.check(); err != nil {
			t.Errorf("player %d: %v", i, err)
		}
	}
}

// TestClusterEdgeCrash: the edge of a live stream dies (its lease neither
// renewed nor revoked) or drains. The encoder publishes again through
// another edge, retrying on BadName every 250 ms, and is accepted; a
// player on a third edge carries on on the same connection.
func TestClusterEdgeCrash(t *testing.T) {
	var killAccepted time.Duration
	t.Run("kill", func(t *testing.T) { killAccepted = testEdgeLoss(t, false) })
	t.Run("drain", func(t *testing.T) {
		drainAccepted := testEdgeLoss(t, true)
		if killAccepted > 0 && drainAccepted >= killAccepted {
			t.Errorf("republish accepted %v after the drain started, not faster than %v after a kill",
				drainAccepted, killAccepted)
		}
	})
}

// testEdgeLoss runs the scenario of TestClusterEdgeCrash with a crash of
// edge A, or with its drain, and returns how long after it the republish
// was accepted.
func testEdgeLoss(t *testing.T, drain bool) time.Duration {
	const name = "crash"
	ns := natstest.Start(t, natstest.Options{})
	es := etcdtest.Start(t, etcdtest.Options{})
	a := startClusterEdge(t, ns, es, "a", clusterOpts{}, nil)
	b := startClusterEdge(t, ns, es, "b", clusterOpts{}, nil)
	c := startClusterEdge(t, ns, es, "c", clusterOpts{}, nil)
	cli := es.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	p1 := dialPlain(t, ctx, appURL(a.testEdge, "live"), nil)
	if err := p1.Publish(ctx, name); err != nil {
		t.Fatal(err)
	}
	enc1 := startLiveEncoder(t, p1, 1)
	player := startClusterPlayer(t, ctx, c.testEdge, "live", name, nil)
	player.awaitVideo(t, 10*time.Second, "a second of encoder 1", 1, time.Now(), time.Second)
	aLease := leaseOf(t, a)
	if claim, ok := claimOf(t, cli, "live", name); !ok || claim.Lease != aLease {
		t.Fatalf("claim %+v (found %v), want edge a's under lease %x", claim, ok, aLease)
	}

	// Watch etcd: when the claim stops being edge A's, and when A's
	// lease is gone (its registration disappears with it).
	var claimGone, leaseGone time.Duration
	lost := time.Now()
	pollDone := make(chan struct{})
	go func() {
		defer close(pollDone)
		for ctx.Err() == nil && (claimGone == 0 || (!drain && leaseGone == 0)) {
			pctx, pcancel := context.WithTimeout(ctx, time.Second)
			s, ok, err := cluster.GetStream(pctx, cli, "", "live", name)
			if err == nil && claimGone == 0 && (!ok || s.Lease != aLease) {
				claimGone = time.Since(lost)
			}
			_, ok, err = cluster.GetEdge(pctx, cli, "", "a")
			if err == nil && leaseGone == 0 && !ok {
				leaseGone = time.Since(lost)
			}
			pcancel()
			time.Sleep(10 * time.Millisecond)
		}
	}()
	stopped := make(chan struct{})
	if drain {
		// As the edge's shutdown does: the registry says draining, then
		// the sessions are asked to move.
		if err := a.Cluster.SetDraining(context.Background()); err != nil {
			t.Fatal(err)
		}
		go func() { defer close(stopped); a.Stop() }()
	} else {
		go func() { defer close(stopped); a.Kill() }()
		enc1.Stop() // the encoder's connection died with the edge
	}
	t.Cleanup(func() { <-stopped }) // before the edge's own cleanup

	p2, accepted, attempts := republish(t, ctx, b.testEdge, "live", name)
	acceptedAfter := accepted.Sub(lost)
	enc2 := startLiveEncoder(t, p2, 2)
	what := "kill"
	if drain {
		what = "drain"
	}
	figure(t, "republish_accepted_after_"+what+"_ms", acceptedAfter.Milliseconds())
	t.Logf("republish accepted after %d attempts", attempts)

	player.awaitVideo(t, 5*time.Second, "encoder 2 after the republish", 2, accepted, 0)
	first, _ := player.videoFrom(2, false, time.Time{})
	last, _ := player.lastVideo(1)
	framesAfter := first.at.Sub(accepted)
	figure(t, "player_gap_after_"+what+"_ms", first.at.Sub(last.at).Milliseconds())
	if drain {
		figure(t, "frames_after_republish_drain_ms", framesAfter.Milliseconds())
	} else {
		figure(t, "frames_after_republish_ms", framesAfter.Milliseconds())
	}
	if framesAfter >= time.Second {
		t.Errorf("the player received video %v after the republish was accepted, want < 1s", framesAfter)
	}
	player.awaitVideo(t, 5*time.Second, "a second of encoder 2", 2, accepted, time.Second)

	if drain {
		// The encoder left on A lost the stream to the new publish.
		se := awaitStatusEnd(t, p1, 5*time.Second, "the publisher on the draining edge")
		if se != nil && se.Code != rtmp.CodePublishBadName {
			t.Errorf("the publisher on the draining edge ended with %v, want %s", se, rtmp.CodePublishBadName)
		}
		if acceptedAfter >= 2*time.Second {
			t.Errorf("republish accepted %v after the drain started: not before the drain timeout", acceptedAfter)
		}
	} else {
		select {
		case <-pollDone:
		case <-time.After(10 * time.Second):
			t.Fatal("edge a's lease did not expire")
		}
		figure(t, "claim_gone_after_kill_ms", claimGone.Milliseconds())
		figure(t, "lease_expired_after_kill_ms", leaseGone.Milliseconds())
		bound := clusterTTL + clusterKeepAlive + expirySlack
		if claimGone > bound {
			t.Errorf("edge a's claim left etcd %v after the kill, want <= %v", claimGone, bound)
		}
		if leaseGone > bound {
			t.Errorf("edge a's lease expired %v after the kill, want <= %v", leaseGone, bound)
		}
		if acceptedAfter > bound+time.Second {
			t.Errorf("republish accepted %v after the kill, want <= %v", acceptedAfter, bound+time.Second)
		}
	}
	cancel()
	<-pollDone
	if drain {
		figure(t, "claim_moved_after_drain_ms", claimGone.Milliseconds())
	}
	if claim, ok := claimOf(t, cli, "live", name); !ok || claim.Edge != "b" {
		t.Errorf("claim %+v (found %v), want edge b's", claim, ok)
	}
	enc2.Stop()
	if err := enc2.Err(); err != nil {
		t.Errorf("the republished encoder: %v", err)
	}
	if err := player.check(); err != nil {
		t.Errorf("player: %v", err)
	}
	if err := player.checkSwitch(2); err != nil {
		t.Errorf("player: %v", err)
	}
	return acceptedAfter
}

// TestClusterDrainReconnectRequest drains the edge of an Enhanced RTMP
// encoder in a cluster, the way the edge's shutdown does (registry
// draining, then the sessions asked to reconnect): the encoder follows the
// reconnect request through the load balancer to edge B, switches there
// at a keyframe, and carries on without an error; a player on edge C keeps
// playing.
func TestClusterDrainReconnectRequest(t *testing.T) {
	const name = "move"
	ns := natstest.Start(t, natstest.Options{})
	es := etcdtest.Start(t, etcdtest.Options{})
	a := startClusterEdge(t, ns, es, "a", clusterOpts{}, func(c *Config) { c.DrainTimeout = 4 * time.Second })
	b := startClusterEdge(t, ns, es, "b", clusterOpts{}, nil)
	c := startClusterEdge(t, ns, es, "c", clusterOpts{}, nil)
	cli := es.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var dialsB atomic.Int32
	lb := func(ctx context.Context, network, _ string) (net.Conn, error) {
		target := a.Addr
		if a.Ready() != nil {
			target = b.Addr
			dialsB.Add(1)
		}
		var d net.Dialer
		return d.DialContext(ctx, network, target)
	}
	pc, err := rtmp.Dial(ctx, "rtmp://lb.test/live", rtmp.ClientConfig{DialContext: lb})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	if err := pc.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := pc.Publish(ctx, name); err != nil {
		t.Fatal(err)
	}
	enc := startLiveEncoder(t, pc, 1)
	player := startClusterPlayer(t, ctx, c.testEdge, "live", name, nil)
	player.awaitVideo(t, 10*time.Second, "a second of video", 1, time.Now(), time.Second)

	drainAt := time.Now()
	if err := a.Cluster.SetDraining(context.Background()); err != nil {
		t.Fatal(err)
	}
	stopped := make(chan struct{})
	go func() { defer close(stopped); a.Stop() }()
	t.Cleanup(func() { <-stopped })
	awaitCond(t, 5*time.Second, "the publish moves to edge b", func() bool { return b.Stats().Publishers == 1 })
	moved := time.Now()
	figure(t, "drain_reconnect_moved_ms", moved.Sub(drainAt).Milliseconds())
	select {
	case <-pc.Done():
		t.Fatalf("the encoder's connection ended %v after the drain started, before it switched to edge b: %v",
			time.Since(drainAt).Round(time.Millisecond), pc.Err())
	case <-time.After(time.Second + 2*time.Second/markVideoFPS):
		// A keyframe has been sent since the move: the switch is done.
	}
	player.awaitVideo(t, 5*time.Second, "a second of video after the move", 1, moved, time.Second)
	enc.Stop()
	if err := enc.Err(); err != nil {
		t.Errorf("encoder: write failed: %v", err)
	}
	if err := pc.Err(); err != nil {
		t.Errorf("encoder: the connection ended: %v", err)
	}
	if n := dialsB.Load(); n != 1 {
		t.Errorf("the encoder dialled edge b %d times, want 1", n)
	}
	if claim, ok := claimOf(t, cli, "live", name); !ok || claim.Edge != "b" {
		t.Errorf("claim %+v (found %v), want edge b's", claim, ok)
	}
	var frames []recvFrame
	for _, f := range player.Frames() {
		frames = append(frames, f.recvFrame)
	}
	gap := maxVideoGap(frames, drainAt)
	figure(t, "drain_reconnect_player_max_gap_ms", gap.Milliseconds())
	if gap >= time.Second {
		t.Errorf("the player waited %v for video while the encoder moved", gap)
	}
	if err := player.Err(); err != nil {
		t.Errorf("player: connection ended: %v", err)
	}
}

// TestClusterPartition cuts edge A off from etcd under a live publish: A
// stops putting the stream's frames on the bus before its lease can have
// expired on the server and closes the encoder with a status; once the
// lease has expired another edge accepts the stream; when the partition
// ends A joins again with a new lease and accepts new publishes.
func TestClusterPartition(t *testing.T) {
	const name = "partition"
	ns := natstest.Start(t, natstest.Options{})
	es := etcdtest.Start(t, etcdtest.Options{})
	proxy := testutil.StartProxy(t, es.Addr())
	tpA, srA := newTracing(t)
	regA := prometheus.NewRegistry()
	a := startClusterEdge(t, ns, es, "a", clusterOpts{Endpoints: []string{proxy.Addr()}, TracerProvider: tpA},
		func(c *Config) { c.TracerProvider = tpA; c.Metrics = regA })
	b := startClusterEdge(t, ns, es, "b", clusterOpts{}, nil)
	cli := es.Client(t)
	watch := watchEpochs(t, ns, "live", name, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	p1 := dialPlain(t, ctx, appURL(a.testEdge, "live"), nil)
	if err := p1.Publish(ctx, name); err != nil {
		t.Fatal(err)
	}
	enc := startLiveEncoder(t, p1, 1)
	awaitCond(t, 5*time.Second, "a second of stream", func() bool { return enc.Video() >= markVideoFPS })
	claim, ok := claimOf(t, cli, "live", name)
	oldLease := leaseOf(t, a)
	if !ok || claim.Lease != oldLease {
		t.Fatalf("claim %+v (found %v), want edge a's under lease %x", claim, ok, oldLease)
	}
	if watch.lastAt(claim.Epoch).IsZero() {
		t.Fatal("no frame of the publish on the bus")
	}

	cut := time.Now()
	proxy.Cut()
	se := awaitStatusEnd(t, p1, clusterTTL+3*time.Second, "the publisher on the partitioned edge")
	closed := time.Since(cut)
	if se != nil && (se.Code != rtmp.CodePublishFailed || !strings.Contains(se.Description, "lost contact with the cluster")) {
		t.Errorf("the publisher ended with %v, want %s saying the edge lost contact with the cluster", se, rtmp.CodePublishFailed)
	}
	enc.Stop()
	// The lease loss as traces and metrics tell it.
	lost := awaitSpan(t, srA, spanLeaseLost, nil)
	checkAttrs(t, lost, map[attribute.Key]any{keyEdgeID: "a", keyStreamsFenced: 1})
	if st := lost.Status(); st.Code != codes.Error || !strings.Contains(st.Description, "lease lost") {
		t.Errorf("cluster.lease_lost status %+v, want an error naming the lease loss", st)
	}
	pub := awaitSpan(t, srA, spanPublish, nil)
	if ev, ok := eventOf(pub, "claim_lost"); !ok || !strings.Contains(eventAttr(ev, keyLostReason).AsString(), "lease lost") {
		t.Errorf("publish span: claim_lost event %v (found %v), want the lease loss", ev, ok)
	}
	if st := pub.Status(); st.Code != codes.Error {
		t.Errorf("publish span status %+v, want an error: the edge lost the stream", st)
	}
	fa := scrape(t, regA)
	if v := mustValue(t, fa, "tributary_edge_lease_losses_total"); v != 1 {
		t.Errorf("tributary_edge_lease_losses_total = %v, want 1", v)
	}
	if v := mustValue(t, fa, "tributary_edge_claims_lost_total", "reason", "lease_lost"); v != 1 {
		t.Errorf("tributary_edge_claims_lost_total{reason=lease_lost} = %v, want 1", v)
	}
	fenced := watch.lastAt(claim.Epoch).Sub(cut)
	figure(t, "partition_fenced_after_ms", fenced.Milliseconds())
	figure(t, "partition_publisher_closed_after_ms", closed.Milliseconds())
	if fenced >= clusterTTL {
		t.Errorf("the last frame of the partitioned owner reached the bus %v after the cut, want < the TTL %v", fenced, clusterTTL)
	}

	var gone time.Duration
	awaitCond(t, clusterTTL+clusterKeepAlive+expirySlack+5*time.Second, "the claim expires", func() bool {
		_, ok := claimOf(t, cli, "live", name)
		gone = time.Since(cut)
		return !ok
	})
	figure(t, "partition_claim_gone_after_ms", gone.Milliseconds())
	if bound := clusterTTL + clusterKeepAlive + expirySlack; gone > bound {
		t.Errorf("the claim left etcd %v after the cut, want <= %v", gone, bound)
	}
	if fenced >= gone {
		t.Errorf("the partitioned owner published until %v after the cut, after its claim expired at %v", fenced, gone)
	}
	p2 := publishOn(t, ctx, b.testEdge, "live", name)
	enc2 := startLiveEncoder(t, p2, 2)
	if claim2, ok := claimOf(t, cli, "live", name); !ok || claim2.Edge != "b" {
		t.Errorf("claim %+v (found %v), want edge b's", claim2, ok)
	}

	if err := a.Ready(); err == nil {
		t.Error("edge a is ready while cut off from etcd")
	}
	restored := time.Now()
	proxy.Restore()
	awaitCond(t, 10*time.Second, "edge a ready again", func() bool { return a.Ready() == nil })
	figure(t, "partition_rejoin_ready_ms", time.Since(restored).Milliseconds())
	newLease := leaseOf(t, a)
	if newLease == oldLease {
		t.Errorf("edge a rejoined with its old lease %x", oldLease)
	}
	p3 := publishOn(t, ctx, a.testEdge, "live", "after-partition")
	enc3 := startLiveEncoder(t, p3, 3)
	if claim3, ok := claimOf(t, cli, "live", "after-partition"); !ok || claim3.Edge != "a" || claim3.Lease != newLease {
		t.Errorf("claim %+v (found %v), want edge a's under its new lease %x", claim3, ok, newLease)
	}
	// The stream taken over during the partition stays with edge B.
	if claim2, ok := claimOf(t, cli, "live", name); !ok || claim2.Edge != "b" {
		t.Errorf("claim after the partition %+v (found %v), want edge b's", claim2, ok)
	}
	enc2.Stop()
	enc3.Stop()
	for i, e := range []*liveEncoder{enc2, enc3} {
		if err := e.Err(); err != nil {
			t.Errorf("publisher %d after the cut: %v", i+2, err)
		}
	}
}

// TestClusterRejoinAfterEtcdOutage stops etcd for longer than the lease
// TTL and starts it again with its data. etcd restores every lease with a
// fresh TTL, so the edge's registration under the lease it lost would keep
// it out for another TTL: the edge revokes its lost lease once etcd answers
// and is back at once, claiming under its new lease.
func TestClusterRejoinAfterEtcdOutage(t *testing.T) {
	ns := natstest.Start(t, natstest.Options{})
	es := etcdtest.Start(t, etcdtest.Options{})
	a := startClusterEdge(t, ns, es, "a", clusterOpts{}, nil)
	oldLease := leaseOf(t, a)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	es.Stop()
	awaitCond(t, clusterTTL+3*time.Second, "edge a unready without etcd", func() bool { return a.Ready() != nil })
	time.Sleep(clusterTTL) // the outage lasts well past the TTL
	es.Restart()
	back := time.Now()
	awaitCond(t, 10*time.Second, "edge a ready again", func() bool { return a.Ready() == nil })
	rejoin := time.Since(back)
	figure(t, "etcd_outage_rejoin_ms", rejoin.Milliseconds())
	cli := es.Client(t)
	ttl, err := cli.TimeToLive(ctx, oldLease)
	if err != nil {
		t.Fatal(err)
	}
	if ttl.TTL != -1 {
		t.Errorf("the lost lease %x is still alive (TTL %d s) after edge a rejoined; want it revoked", oldLease, ttl.TTL)
	}
	if rejoin >= clusterTTL {
		t.Errorf("edge a rejoined %v after etcd came back, want < the TTL %v (its old lease revoked, not waited out)", rejoin, clusterTTL)
	}
	newLease := leaseOf(t, a)
	if newLease == oldLease {
		t.Fatalf("edge a is ready under its old lease %x", oldLease)
	}
	p := publishOn(t, ctx, a.testEdge, "live", "after-outage")
	enc := startLiveEncoder(t, p, 1)
	defer enc.Stop()
	if claim, ok := claimOf(t, cli, "live", "after-outage"); !ok || claim.Edge != "a" || claim.Lease != newLease {
		t.Errorf("claim %+v (found %v), want edge a's under its new lease %x", claim, ok, newLease)
	}
}

// TestClusterReconnectGrace checks the reject policy against an encoder
// that reconnects to another edge after its network dropped (accepted: the
// owner receives nothing) and against a second live encoder of the same
// key (refused with BadName, the first unaffected), with our client and
// with ffmpeg as the second publisher.
func TestClusterReconnectGrace(t *testing.T) {
	ns := natstest.Start(t, natstest.Options{})
	es := etcdtest.Start(t, etcdtest.Options{})
	a := startClusterEdge(t, ns, es, "a", clusterOpts{}, nil)
	b := startClusterEdge(t, ns, es, "b", clusterOpts{}, nil)
	cli := es.Client(t)

	// ours publishes with our client on b and returns once the publish was
	// accepted (nil; the client then streams until finish) or refused.
	ours := func(t *testing.T, ctx context.Context, name string) (func(), error) {
		c := dialPlain(t, ctx, appURL(b.testEdge, "live"), nil)
		if err := c.Publish(ctx, name); err != nil {
			return nil, err
		}
		enc := startLiveEncoder(t, c, 2)
		return func() {
			enc.Stop()
			if err := enc.Err(); err != nil {
				t.Errorf("the encoder on edge b: %v", err)
			}
		}, nil
	}
	var clip string
	// ffmpeg publishes a clip with ffmpeg on b and returns once b accepted
	// it (nil; finish then waits for ffmpeg to publish the whole clip and
	// exit with status 0) or ffmpeg failed, saying why.
	ffmpeg := func(t *testing.T, ctx context.Context, name string) (func(), error) {
		if clip == "" {
			clip = testutil.GenerateFLV(t, testutil.MediaOptions{Duration: 3 * time.Second, FPS: 25, GOP: 25})
		}
		accepted := b.Stats().PublishesAccepted
		proc := testutil.FFmpegPublish(t, ctx, clip, b.URL("live", name), "-rw_timeout", ffmpegIOTimeout)
		done := make(chan error, 1)
		go func() { done <- proc.Wait(30 * time.Second) }()
		deadline := time.After(15 * time.Second)
		for b.Stats().PublishesAccepted == accepted {
			select {
			case err := <-done:
				if err == nil {
					return nil, errors.New("ffmpeg exited with status 0 without a publish accepted")
				}
				if !strings.Contains(proc.Stderr(), "already being published") {
					t.Errorf("ffmpeg failed without saying the stream is already being published: %v", err)
				}
				return nil, fmt.Errorf("%w: ffmpeg: %w", rtmp.ErrBadName, err)
			case <-deadline:
				t.Fatal("ffmpeg neither published nor failed")
			case <-time.After(5 * time.Millisecond):
			}
		}
		return func() {
			if err := <-done; err != nil {
				t.Errorf("ffmpeg publishing the accepted stream: %v", err)
			}
		}, nil
	}
	for _, pub := range []struct {
		name    string
		publish publishFunc
	}{{"client", ours}, {"ffmpeg", ffmpeg}} {
		t.Run(pub.name+"/reconnect-elsewhere", func(t *testing.T) {
			testReconnectElsewhere(t, ns, cli, a, pub.name+"-moved", pub.publish)
		})
		t.Run(pub.name+"/second-live-encoder", func(t *testing.T) {
			testSecondEncoder(t, cli, a, b, pub.name+"-dup", pub.publish)
		})
	}
}

// publishFunc publishes app "live", stream name on edge B as a second
// encoder. It returns once the publish was accepted, with a function that
// ends the publish and checks it went well, or refused.
type publishFunc func(t *testing.T, ctx context.Context, name string) (finish func(), err error)

// testReconnectElsewhere: the encoder's connection to edge A goes
// half-open (A hears nothing and notices nothing), and the encoder
// publishes again on edge B through publish within a second: B accepts,
// and A closes its stale session with BadName once B has taken the stream.
func testReconnectElsewhere(t *testing.T, ns *natstest.Server, cli *clientv3.Client, a *clusterEdge, name string, publish publishFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	watch := watchEpochs(t, ns, "live", name, nil)
	path := testutil.StartProxy(t, a.Addr)
	viaProxy := func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, path.Addr())
	}
	p1 := dialPlain(t, ctx, appURL(a.testEdge, "live"), viaProxy)
	if err := p1.Publish(ctx, name); err != nil {
		t.Fatal(err)
	}
	enc := startLiveEncoder(t, p1, 1)
	awaitCond(t, 5*time.Second, "a second of stream", func() bool { return enc.Video() >= markVideoFPS })
	old, ok := claimOf(t, cli, "live", name)
	if !ok || old.Edge != "a" {
		t.Fatalf("claim %+v (found %v), want edge a's", old, ok)
	}
	publishers := a.Stats().Publishers

	// The owner records the encoder's activity in its claim every
	// clusterTouch while media flows, and once more after the media
	// stopped. The network drops 600 ms after such a record, so that the
	// last one falls within the silence window of the reconnecting
	// encoder's publish, as it does for an encoder that reconnects at
	// once in about half of all cases.
	touched := awaitTouch(t, ctx, cli, "live", name)
	select {
	case <-time.After(time.Until(touched.Add(clusterTouch - 400*time.Millisecond))):
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
	enc.Stop() // the encoder's network is gone: it sends nothing more
	path.Cut()
	cut := time.Now()
	finish, err := publish(t, ctx, name)
	if err != nil {
		t.Fatalf("the encoder reconnecting on edge b: %v", err)
	}
	acceptedAfter := time.Since(cut)
	figure(t, "reconnect_elsewhere_accepted_after_cut_ms", acceptedAfter.Milliseconds())
	if acceptedAfter < clusterSilence {
		t.Errorf("accepted %v after the cut, before the owner could have been silent for %v", acceptedAfter, clusterSilence)
	}
	claim, ok := claimOf(t, cli, "live", name)
	if !ok || claim.Edge != "b" || claim.Epoch <= old.Epoch {
		t.Errorf("claim %+v (found %v), want edge b's with an epoch above %d", claim, ok, old.Epoch)
	}
	awaitCond(t, 5*time.Second, "frames of the new publish on the bus", func() bool { return !watch.lastAt(claim.Epoch).IsZero() })
	awaitCond(t, 5*time.Second, "edge a ends the stale publish", func() bool { return a.Stats().Publishers == publishers-1 })
	// The status A sent went into the dead path: it arrives when the path
	// comes back.
	path.Restore()
	if se := awaitStatusEnd(t, p1, 5*time.Second, "the stale publisher"); se != nil && se.Code != rtmp.CodePublishBadName {
		t.Errorf("the stale publisher ended with %v, want %s", se, rtmp.CodePublishBadName)
	}
	finish()
}

// awaitTouch waits for the owner of app/name to record media activity in
// its claim (a rewrite of the claim's key) and returns when it did.
func awaitTouch(t testing.TB, ctx context.Context, cli *clientv3.Client, app, name string) time.Time {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, 3*clusterTouch)
	defer cancel()
	for resp := range cli.Watch(wctx, cluster.StreamKey("", app, name)) {
		for _, ev := range resp.Events {
			if ev.Type == clientv3.EventTypePut {
				return time.Now()
			}
		}
	}
	t.Fatalf("the owner of %s/%s recorded no activity within %v", app, name, 3*clusterTouch)
	return time.Time{}
}

// testSecondEncoder: while the encoder streams on edge A, a second
// encoder publishing the same key on edge B through publish is refused
// with BadName, and the first carries on undisturbed.
func testSecondEncoder(t *testing.T, cli *clientv3.Client, a, b *clusterEdge, name string, publish publishFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p1 := dialPlain(t, ctx, appURL(a.testEdge, "live"), nil)
	if err := p1.Publish(ctx, name); err != nil {
		t.Fatal(err)
	}
	enc := startLiveEncoder(t, p1, 1)
	player := startClusterPlayer(t, ctx, b.testEdge, "live", name, nil)
	player.awaitVideo(t, 10*time.Second, "a second of video", 1, time.Now(), time.Second)
	old, _ := claimOf(t, cli, "live", name)
	rejected := b.Stats().PublishesRejected

	attempt := time.Now()
	_, err := publish(t, ctx, name)
	figure(t, "second_encoder_rejected_after_ms", time.Since(attempt).Milliseconds())
	if !errors.Is(err, rtmp.ErrBadName) {
		t.Fatalf("second live encoder on edge b: %v, want BadName", err)
	}
	if got := b.Stats().PublishesRejected; got != rejected+1 {
		t.Errorf("edge b rejected %d publishes, want %d", got, rejected+1)
	}
	player.awaitVideo(t, 5*time.Second, "a second of video after the rejection", 1, time.Now(), time.Second)
	enc.Stop()
	if err := enc.Err(); err != nil {
		t.Errorf("the first encoder: %v", err)
	}
	if err := p1.Err(); err != nil {
		t.Errorf("the first encoder's connection ended: %v", err)
	}
	if claim, ok := claimOf(t, cli, "live", name); !ok || claim.Edge != "a" || claim.Epoch != old.Epoch {
		t.Errorf("claim %+v (found %v), want edge a's epoch %d", claim, ok, old.Epoch)
	}
	var frames []recvFrame
	for _, f := range player.Frames() {
		frames = append(frames, f.recvFrame)
	}
	if gap := maxVideoGap(frames, attempt); gap >= 500*time.Millisecond {
		t.Errorf("the player waited %v for video while the second encoder tried", gap)
	}
	if err := player.check(); err != nil {
		t.Errorf("player: %v", err)
	}
}

// TestClusterConcurrentClaims: 20 encoders publish the same new stream at
// once through 3 edges under the reject policy, each sending frames as
// soon as it is accepted: exactly one is accepted, every other one gets
// BadName, and the winner keeps the stream.
func TestClusterConcurrentClaims(t *testing.T) {
	const (
		name     = "race"
		encoders = 20
	)
	ns := natstest.Start(t, natstest.Options{})
	es := etcdtest.Start(t, etcdtest.Options{})
	edges := []*clusterEdge{
		startClusterEdge(t, ns, es, "a", clusterOpts{}, nil),
		startClusterEdge(t, ns, es, "b", clusterOpts{}, nil),
		startClusterEdge(t, ns, es, "c", clusterOpts{}, nil),
	}
	cli := es.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	clients := make([]*rtmp.ClientConn, encoders)
	for i := range clients {
		clients[i] = dialPlain(t, ctx, appURL(edges[i%len(edges)].testEdge, "live"), nil)
	}
	start := make(chan struct{})
	stop := make(chan struct{})
	results := make([]error, encoders)
	acceptedAt := make([]time.Time, encoders)
	writeErrs := make([]error, encoders)
	var published, sending sync.WaitGroup
	for i, c := range clients {
		published.Add(1)
		sending.Go(func() {
			<-start
			err := c.Publish(ctx, name)
			results[i], acceptedAt[i] = err, time.Now()
			published.Done()
			if err != nil {
				return
			}
			// An encoder sends its headers and frames at once.
			writeErrs[i] = func() error {
				if err := c.WriteVideo(0, avcSequenceHeader("race")); err != nil {
					return err
				}
				for ts := uint32(0); ; ts += 40 {
					body := avcInterframe(fmt.Sprintf("race-%d", i))
					if ts%1000 == 0 {
						body = avcKeyframe(fmt.Sprintf("race-%d", i))
					}
					if err := c.WriteVideo(ts, body); err != nil {
						return err
					}
					select {
					case <-stop:
						return nil
					case <-time.After(40 * time.Millisecond):
					}
				}
			}()
		})
	}
	stopSending := sync.OnceFunc(func() { close(stop); sending.Wait() })
	t.Cleanup(stopSending)
	began := time.Now()
	close(start)
	published.Wait()
	figure(t, "concurrent_claims_settled_ms", time.Since(began).Milliseconds())

	winner := -1
	for i, err := range results {
		switch {
		case err == nil && winner < 0:
			winner = i
		case err == nil:
			t.Errorf("encoders %d (edge %s, accepted %v after the start) and %d (edge %s, accepted %v) were both accepted",
				winner, edges[winner%len(edges)].cfg.ID, acceptedAt[winner].Sub(began).Round(time.Millisecond),
				i, edges[i%len(edges)].cfg.ID, acceptedAt[i].Sub(began).Round(time.Millisecond))
		case !errors.Is(err, rtmp.ErrBadName):
			t.Errorf("encoder %d: %v, want BadName", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no encoder was accepted")
	}
	t.Logf("encoder %d on edge %s won, accepted %v after the start", winner, edges[winner%len(edges)].cfg.ID,
		acceptedAt[winner].Sub(began).Round(time.Millisecond))
	var accepted, rejected uint64
	for _, e := range edges {
		st := e.Stats()
		accepted += st.PublishesAccepted
		rejected += st.PublishesRejected
	}
	if accepted != 1 || rejected != encoders-1 {
		t.Errorf("edges accepted %d and rejected %d publishes, want 1 and %d", accepted, rejected, encoders-1)
	}
	// The winner keeps the stream while it streams.
	awaitCond(t, 5*time.Second, "half a second of the winner's stream", func() bool { return time.Since(acceptedAt[winner]) >= 500*time.Millisecond })
	if err := clients[winner].Err(); err != nil {
		t.Errorf("the winner's connection ended: %v", err)
	}
	claim, ok := claimOf(t, cli, "live", name)
	if want := edges[winner%len(edges)].cfg.ID; !ok || claim.Edge != want {
		t.Errorf("claim %+v (found %v), want edge %s's", claim, ok, want)
	}
	stopSending()
	if err := writeErrs[winner]; err != nil {
		t.Errorf("the winner: %v", err)
	}
}

// TestClusterDrainRequest: the drain request key of an edge in etcd makes
// that edge (and no other) run OnDrain, once, and the key is deleted; an
// edge whose key was written before it started drains as it joins.
func TestClusterDrainRequest(t *testing.T) {
	ns := natstest.Start(t, natstest.Options{})
	es := etcdtest.Start(t, etcdtest.Options{})
	cli := es.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var drains [3]atomic.Int32
	opts := func(i int) clusterOpts { return clusterOpts{OnDrain: func() { drains[i].Add(1) }} }
	key := func(id string) string { return "/" + cluster.DefaultPrefix + "/drain/" + cluster.EscapeSegment(id) }
	present := func(k string) bool {
		resp, err := cli.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		return len(resp.Kvs) > 0
	}
	request := func(id string) {
		if _, err := cli.Put(ctx, key(id), `{"by":"test"}`); err != nil {
			t.Fatal(err)
		}
	}

	startClusterEdge(t, ns, es, "a", opts(0), nil)
	startClusterEdge(t, ns, es, "b/1", opts(1), nil)
	request("b/1")
	requested := time.Now()
	awaitCond(t, 5*time.Second, "edge b/1 drains", func() bool { return drains[1].Load() > 0 })
	figure(t, "drain_request_to_ondrain_ms", time.Since(requested).Milliseconds())
	awaitCond(t, 5*time.Second, "the drain request is deleted", func() bool { return !present(key("b/1")) })

	// A request written before the edge joins.
	request("c")
	startClusterEdge(t, ns, es, "c", opts(2), nil)
	awaitCond(t, 5*time.Second, "edge c drains as it joins", func() bool { return drains[2].Load() > 0 })
	awaitCond(t, 5*time.Second, "c's drain request is deleted", func() bool { return !present(key("c")) })

	// A second request changes nothing: OnDrain ran once and does not run
	// again. Nothing can be awaited for an absence: the edge's watch
	// delivers a put within milliseconds, so a quiet half second says it.
	request("b/1")
	quiet := time.Now().Add(500 * time.Millisecond)
	for time.Now().Before(quiet) {
		if n := drains[1].Load(); n != 1 {
			t.Fatalf("OnDrain of edge b/1 ran %d times, want 1", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := drains[0].Load(); n != 0 {
		t.Errorf("OnDrain of edge a ran %d times, want 0: it was not asked", n)
	}
}

// TestUnpublishWithEtcdDown checks that a publisher leaving while etcd is
// unreachable ends its session within the release timeout (the claim's
// deletion would otherwise wait for etcd forever), and that the edge still
// shuts down promptly.
func TestUnpublishWithEtcdDown(t *testing.T) {
	ns := natstest.Start(t, natstest.Options{})
	es := etcdtest.Start(t, etcdtest.Options{})
	a := startClusterEdge(t, ns, es, "a", clusterOpts{}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p := publishOn(t, ctx, a.testEdge, "live", "etcd-down")
	enc := startLiveEncoder(t, p, 1)
	awaitCond(t, 5*time.Second, "the publisher counted", func() bool { return a.Stats().Publishers == 1 })

	es.Stop()
	enc.Stop()
	p.Close()
	left := time.Now()
	awaitCond(t, releaseTimeout+3*time.Second, "the publisher's session ended", func() bool {
		st := a.Stats()
		return st.Publishers == 0 && st.Sessions == 0
	})
	figure(t, "unpublish_etcd_down_ms", time.Since(left).Milliseconds())
	stopped := time.Now()
	a.Stop()
	if d := time.Since(stopped); d > 5*time.Second {
		t.Errorf("the edge took %v to shut down with etcd down", d)
	}
}
