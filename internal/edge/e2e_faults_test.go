package edge

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tributary-media/tributary/internal/testutil/natstest"
	"github.com/tributary-media/tributary/pkg/rtmp"
	"github.com/tributary-media/tributary/pkg/rtmp/amf"
	"github.com/tributary-media/tributary/pkg/rtmp/flv"
)

// The tests of this file publish a synthetic live stream in real time with
// our client: 25 video frames per second and AAC-sized audio frames at
// 44100/1024 per second. Every audio and video frame carries its index in
// the stream, so a player can tell exactly which frames it received, which
// it lost and whether a decoder could decode what it got.

// markVideoFPS is the video frame rate of a marked stream.
const markVideoFPS = 25

// markAudioRate is the audio frame rate of a marked stream (AAC frames of
// 1024 samples at 44.1 kHz).
const markAudioRate = 44100.0 / 1024

// Sequence headers of a marked stream: an AVC decoder configuration record
// (High profile, level 3.1, one SPS and one PPS) and an AAC LC stereo
// AudioSpecificConfig.
var (
	markAVCConfig = []byte{0x17, 0x00, 0, 0, 0,
		0x01, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0x00, 0x04, 0x67, 0x64, 0x00, 0x1f, 0x01, 0x00, 0x04, 0x68, 0xee, 0x3c, 0x80}
	markAACConfig = []byte{0xaf, 0x00, 0x12, 0x10}
)

// markedStreamConfig shapes the stream of a markedPublisher.
type markedStreamConfig struct {
	// GOP is the number of video frames from one keyframe to the next.
	GOP int
	// InterBytes and KeyBytes are the body sizes of inter frames and
	// keyframes (at least 9: the AVC header and the marker).
	InterBytes, KeyBytes int
	// AudioBytes is the body size of an audio frame (at least 6); 0 sends
	// no audio.
	AudioBytes int
}

// markedPublisher sends a marked stream in real time on a publishing
// client conn, from its own goroutine.
type markedPublisher struct {
	c   *rtmp.ClientConn
	cfg markedStreamConfig

	mu        sync.Mutex // guards the fields below
	video     int        // video frames written (the next video index)
	audio     int        // audio frames written (the next audio index)
	lastKey   int        // index of the latest keyframe written
	lastKeyAt time.Time  // when it was written
	err       error      // why writing stopped early

	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

// startMarkedPublisher writes metadata and sequence headers on c, which
// must be publishing, then starts sending frames in real time until Stop
// (called at the latest when the test ends).
func startMarkedPublisher(t testing.TB, c *rtmp.ClientConn, cfg markedStreamConfig) *markedPublisher {
	t.Helper()
	if cfg.GOP <= 0 || cfg.InterBytes < 9 || cfg.KeyBytes < 9 || (cfg.AudioBytes != 0 && cfg.AudioBytes < 6) {
		t.Fatalf("bad marked stream configuration %+v", cfg)
	}
	p := &markedPublisher{c: c, cfg: cfg, lastKey: -1, stop: make(chan struct{}), done: make(chan struct{})}
	meta := amf.ECMAArray{
		{Key: "width", Value: float64(1280)},
		{Key: "height", Value: float64(720)},
		{Key: "framerate", Value: float64(markVideoFPS)},
		{Key: "videocodecid", Value: float64(7)},
	}
	if cfg.AudioBytes > 0 {
		meta = append(meta, amf.Property{Key: "audiocodecid", Value: float64(10)})
	}
	if err := c.WriteMetadata(meta); err != nil {
		t.Fatalf("publisher: metadata: %v", err)
	}
	if err := c.WriteVideo(0, markAVCConfig); err != nil {
		t.Fatalf("publisher: video sequence header: %v", err)
	}
	if cfg.AudioBytes > 0 {
		if err := c.WriteAudio(0, markAACConfig); err != nil {
			t.Fatalf("publisher: audio sequence header: %v", err)
		}
	}
	go p.run()
	t.Cleanup(p.Stop)
	return p
}

// run paces the frames: video frame i at i/25 s, audio frame j at
// j*1024/44100 s from the start.
func (p *markedPublisher) run() {
	defer close(p.done)
	inter := make([]byte, p.cfg.InterBytes)
	key := make([]byte, p.cfg.KeyBytes)
	copy(inter, []byte{0x27, 0x01, 0, 0, 0})
	copy(key, []byte{0x17, 0x01, 0, 0, 0})
	audio := make([]byte, max(p.cfg.AudioBytes, 6))
	copy(audio, []byte{0xaf, 0x01})
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	start := time.Now()
	for vi, ai := 0, 0; ; {
		vAt := start.Add(time.Duration(vi) * time.Second / markVideoFPS)
		aAt := start.Add(time.Duration(float64(ai) / markAudioRate * float64(time.Second)))
		next, isVideo := vAt, true
		if p.cfg.AudioBytes > 0 && aAt.Before(vAt) {
			next, isVideo = aAt, false
		}
		if d := time.Until(next); d > 0 {
			timer.Reset(d)
			select {
			case <-p.stop:
				return
			case <-timer.C:
			}
		} else {
			select {
			case <-p.stop:
				return
			default:
			}
		}
		var err error
		if isVideo {
			isKey := vi%p.cfg.GOP == 0
			body := inter
			if isKey {
				body = key
			}
			binary.BigEndian.PutUint32(body[5:9], uint32(vi))
			err = p.c.WriteVideo(uint32(vi*1000/markVideoFPS), body)
			p.mu.Lock()
			if err == nil {
				p.video = vi + 1
				if isKey {
					p.lastKey, p.lastKeyAt = vi, time.Now()
				}
			}
			p.mu.Unlock()
			vi++
		} else {
			binary.BigEndian.PutUint32(audio[2:6], uint32(ai))
			err = p.c.WriteAudio(uint32(float64(ai)*1000/markAudioRate), audio[:p.cfg.AudioBytes])
			p.mu.Lock()
			if err == nil {
				p.audio = ai + 1
			}
			p.mu.Unlock()
			ai++
		}
		if err != nil {
			p.mu.Lock()
			p.err = err
			p.mu.Unlock()
			return
		}
	}
}

// Stop stops sending and waits for the sending goroutine. It is safe to
// call more than once.
func (p *markedPublisher) Stop() {
	p.stopOnce.Do(func() { close(p.stop) })
	<-p.done
}

// Sent returns the numbers of video and audio frames written.
func (p *markedPublisher) Sent() (video, audio int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.video, p.audio
}

// LastKey returns the index of the latest keyframe written and when it was
// written (-1 before the first).
func (p *markedPublisher) LastKey() (int, time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastKey, p.lastKeyAt
}

// Err returns why the publisher stopped writing on its own, or nil.
func (p *markedPublisher) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// recvFrame is one message a markedPlayer received.
type recvFrame struct {
	at     time.Time
	kind   rtmp.Kind
	ts     uint32
	idx    int  // marker of an audio or video frame; -1 otherwise
	key    bool // video keyframe
	config bool // sequence header
	meta   bool // onMetaData
	status string
}

// markedPlayer plays a marked stream with our client and records every
// message it receives, from its own goroutine.
type markedPlayer struct {
	c       *rtmp.ClientConn
	closing atomic.Bool
	done    chan struct{}

	mu  sync.Mutex // guards got and err
	got []recvFrame
	err error // why reading ended other than by Close
}

// startMarkedPlayer connects to url, plays name and reads until Close
// (called at the latest when the test ends).
func startMarkedPlayer(t testing.TB, ctx context.Context, url, name string) *markedPlayer {
	t.Helper()
	c := dialClient(t, ctx, url)
	if err := c.Play(ctx, name); err != nil {
		t.Fatalf("play %s: %v", url, err)
	}
	p := &markedPlayer{c: c, done: make(chan struct{})}
	go p.run()
	t.Cleanup(p.Close)
	return p
}

// decodeRecv describes a message read from a player conn.
func decodeRecv(m *rtmp.Message, at time.Time) recvFrame {
	r := recvFrame{at: at, kind: m.Kind, ts: m.Timestamp, idx: -1}
	switch m.Kind {
	case rtmp.KindVideo:
		r.config = flv.IsSequenceHeader(flv.TagVideo, m.Payload)
		if !r.config && len(m.Payload) >= 9 {
			r.idx = int(binary.BigEndian.Uint32(m.Payload[5:9]))
			r.key = flv.IsKeyframe(flv.TagVideo, m.Payload)
		}
	case rtmp.KindAudio:
		r.config = flv.IsSequenceHeader(flv.TagAudio, m.Payload)
		if !r.config && len(m.Payload) >= 6 {
			r.idx = int(binary.BigEndian.Uint32(m.Payload[2:6]))
		}
	case rtmp.KindData:
		r.meta = m.Data != nil && m.Data.Name == "onMetaData"
	case rtmp.KindStatus:
		r.status = m.Status.Code
	}
	return r
}

func (p *markedPlayer) run() {
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
		r := decodeRecv(m, time.Now())
		p.mu.Lock()
		p.got = append(p.got, r)
		p.mu.Unlock()
	}
}

// Close ends the play and waits for the reading goroutine. It is safe to
// call more than once.
func (p *markedPlayer) Close() {
	p.closing.Store(true)
	p.c.Close()
	<-p.done
}

// Frames returns a copy of what the player has received so far.
func (p *markedPlayer) Frames() []recvFrame {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.got)
}

// Err returns why reading ended other than by Close, or nil.
func (p *markedPlayer) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// hasVideo reports whether the player has received a video frame (a
// keyframe when key) for which ok holds.
func (p *markedPlayer) hasVideo(key bool, ok func(recvFrame) bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range p.got {
		if f.kind == rtmp.KindVideo && f.idx >= 0 && (!key || f.key) && ok(f) {
			return true
		}
	}
	return false
}

// delivery counts the distinct frames a player received out of video and
// audio frames published, and names the first missing ones.
type delivery struct {
	video, audio, gotVideo, gotAudio int
	missing                          []string
}

// Got and Want return the frames received and published, audio and video
// together.
func (d delivery) Got() int  { return d.gotVideo + d.gotAudio }
func (d delivery) Want() int { return d.video + d.audio }

// Complete reports whether at least 99.9% of the frames arrived.
func (d delivery) Complete() bool { return d.Got()*1000 >= d.Want()*999 }

func (d delivery) String() string {
	return fmt.Sprintf("%d of %d frames (video %d/%d, audio %d/%d; missing %v)",
		d.Got(), d.Want(), d.gotVideo, d.video, d.gotAudio, d.audio, d.missing)
}

// received returns which of the first video and audio frames published
// are in frames.
func received(frames []recvFrame, video, audio int) delivery {
	d := delivery{video: video, audio: audio}
	seenV := make([]bool, video)
	seenA := make([]bool, audio)
	for _, f := range frames {
		switch {
		case f.idx < 0:
		case f.kind == rtmp.KindVideo && f.idx < video && !seenV[f.idx]:
			seenV[f.idx] = true
			d.gotVideo++
		case f.kind == rtmp.KindAudio && f.idx < audio && !seenA[f.idx]:
			seenA[f.idx] = true
			d.gotAudio++
		}
	}
	for kind, seen := range map[string][]bool{"video": seenV, "audio": seenA} {
		for i, ok := range seen {
			if !ok && len(d.missing) < 10 {
				d.missing = append(d.missing, fmt.Sprintf("%s %d", kind, i))
			}
		}
	}
	slices.Sort(d.missing)
	return d
}

// awaitDelivery waits up to d for the player to receive every frame the
// stopped publisher sent, and returns what it received.
func awaitDelivery(p *markedPlayer, pub *markedPublisher, d time.Duration) delivery {
	pub.Stop()
	video, audio := pub.Sent()
	deadline := time.Now().Add(d)
	for {
		got := received(p.Frames(), video, audio)
		if got.Got() == got.Want() || time.Now().After(deadline) {
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkPlayback returns what is wrong with a player's reception: a status
// message once media flowed (a gap or a new publish must be silent), video
// before its sequence header, an inter frame whose reference frames were
// not all received (a decoder would show garbage until the next
// keyframe), a duplicate, or video timestamps that go backwards.
func checkPlayback(frames []recvFrame) error {
	media, config := false, false
	prev := -1
	var lastTS uint32
	for _, f := range frames {
		switch f.kind {
		case rtmp.KindStatus:
			if media {
				return fmt.Errorf("status %s after media had started", f.status)
			}
		case rtmp.KindAudio:
			media = true
		case rtmp.KindVideo:
			media = true
			if f.config {
				config = true
				continue
			}
			if !config {
				return fmt.Errorf("video frame %d before any video sequence header", f.idx)
			}
			if !f.key && f.idx != prev+1 {
				return fmt.Errorf("inter frame %d received after frame %d: its reference frames are missing", f.idx, prev)
			}
			if f.key && f.idx <= prev {
				return fmt.Errorf("keyframe %d received after frame %d", f.idx, prev)
			}
			if prev >= 0 && f.ts < lastTS {
				return fmt.Errorf("video timestamp %d of frame %d after %d", f.ts, f.idx, lastTS)
			}
			prev, lastTS = f.idx, f.ts
		}
	}
	return nil
}

// maxVideoGap returns the longest time between two consecutive video
// frames received at or after from.
func maxVideoGap(frames []recvFrame, from time.Time) time.Duration {
	var last time.Time
	var gap time.Duration
	for _, f := range frames {
		if f.kind != rtmp.KindVideo || f.at.Before(from) {
			continue
		}
		if !last.IsZero() {
			gap = max(gap, f.at.Sub(last))
		}
		last = f.at
	}
	return gap
}

// awaitCond polls cond until it holds, failing the test with what after d.
func awaitCond(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// dialRaw dials url with our client, keeping the TCP connection so that
// the test can set deadlines on it. The client is closed when the test
// ends.
func dialRaw(t testing.TB, ctx context.Context, url string) (*rtmp.ClientConn, net.Conn) {
	t.Helper()
	var raw net.Conn
	c, err := rtmp.Dial(ctx, url, rtmp.ClientConfig{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			nc, err := d.DialContext(ctx, network, addr)
			raw = nc
			return nc, err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	return c, raw
}

// TestNATSRestartMidStream restarts the NATS server twice under a live
// stream published on edge A and played by two players on edge B: the
// publisher and the players keep their connections, hear no status, and
// receive decodable video again within 2 s of each restart.
func TestNATSRestartMidStream(t *testing.T) {
	ns := natstest.Start(t, natstest.Options{})
	a := startEdge(t, ns, "a", nil)
	b := startEdge(t, ns, "b", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	pc := dialClient(t, ctx, a.URL("live", "restart"))
	if err := pc.Publish(ctx, "restart"); err != nil {
		t.Fatal(err)
	}
	pub := startMarkedPublisher(t, pc, markedStreamConfig{GOP: 25, InterBytes: 2000, KeyBytes: 12000, AudioBytes: 300})
	awaitCond(t, 5*time.Second, "publisher started", func() bool { v, _ := pub.Sent(); return v >= 5 })
	players := []*markedPlayer{
		startMarkedPlayer(t, ctx, b.URL("live", "restart"), "restart"),
		startMarkedPlayer(t, ctx, b.URL("live", "restart"), "restart"),
	}
	anyFrame := func(recvFrame) bool { return true }
	for _, p := range players {
		awaitCond(t, 5*time.Second, "player on b receives a keyframe", func() bool { return p.hasVideo(true, anyFrame) })
	}

	const restarts = 2
	var worst time.Duration
	since := time.Now()
	for r := 1; r <= restarts; r++ {
		// A second of stream before the restart.
		for _, p := range players {
			awaitCond(t, 5*time.Second, "a second of video", func() bool {
				return p.hasVideo(false, func(f recvFrame) bool { return f.at.Sub(since) >= time.Second })
			})
		}
		before, _ := pub.Sent()
		ns.Restart()
		back := time.Now()
		for i, p := range players {
			after := func(f recvFrame) bool { return !f.at.Before(back) }
			awaitCond(t, 10*time.Second, fmt.Sprintf("restart %d: player %d receives a keyframe", r, i), func() bool {
				return p.hasVideo(true, after)
			})
			var firstAny, firstKey time.Duration = -1, -1
			keyIdx := -1
			seen := make(map[int]bool)
			for _, f := range p.Frames() {
				if f.kind != rtmp.KindVideo || f.idx < 0 {
					continue
				}
				seen[f.idx] = true
				if f.at.Before(back) {
					continue
				}
				if firstAny < 0 {
					firstAny = f.at.Sub(back)
				}
				if f.key && firstKey < 0 {
					firstKey, keyIdx = f.at.Sub(back), f.idx
				}
			}
			missing := 0
			for k := max(0, before-markVideoFPS); k < keyIdx; k++ {
				if !seen[k] {
					missing++
				}
			}
			t.Logf("restart %d, player %d: first video frame %v and first keyframe %v after the restart; %d video frames lost or skipped before that keyframe",
				r, i, firstAny.Round(time.Millisecond), firstKey.Round(time.Millisecond), missing)
			if firstKey >= 2*time.Second {
				t.Errorf("restart %d, player %d: first keyframe %v after the restart, want < 2s", r, i, firstKey)
			}
			worst = max(worst, firstKey)
		}
		since = time.Now()
	}
	t.Logf("FIGURE nats_restart_resume_ms=%d", worst.Milliseconds())

	// One more second of stream, then check everything.
	for _, p := range players {
		awaitCond(t, 5*time.Second, "a second of video after the last restart", func() bool {
			return p.hasVideo(false, func(f recvFrame) bool { return f.at.Sub(since) >= time.Second })
		})
	}
	pub.Stop()
	if err := pub.Err(); err != nil {
		t.Errorf("publisher: write failed: %v", err)
	}
	if err := pc.Err(); err != nil {
		t.Errorf("publisher conn ended: %v", err)
	}
	if s := a.Stats(); s.PublishesAccepted != 1 || s.Publishers != 1 || s.BusErrors != 0 {
		t.Errorf("edge a stats %+v: want the one publish still running and no bus errors", s)
	}
	if s := b.Stats(); s.PlaysAccepted != 2 || s.Players != 2 || s.Connects != 2 {
		t.Errorf("edge b stats %+v: want the two players connected once each", s)
	}
	for _, nc := range []struct {
		edge string
		n    uint64
	}{{"a", a.NC.Stats().Reconnects}, {"b", b.NC.Stats().Reconnects}} {
		if nc.n < restarts {
			t.Errorf("edge %s reconnected to NATS %d times, want %d: the restarts did not cut it off", nc.edge, nc.n, restarts)
		}
	}
	for i, p := range players {
		if err := p.Err(); err != nil {
			t.Errorf("player %d: connection ended: %v", i, err)
		}
		if err := checkPlayback(p.Frames()); err != nil {
			t.Errorf("player %d: %v", i, err)
		}
	}
}

// TestStalledPlayer plays a 3 Mbit/s stream to a healthy player and to a
// player that stops reading: the stalled one is disconnected once it has
// lagged for PlayerMaxLag (plus the time its queue and socket take to
// fill), memory stays bounded, and the healthy one gets every frame
// without a hiccup.
func TestStalledPlayer(t *testing.T) {
	const (
		queueBytes = 1 << 20
		maxLag     = 2 * time.Second
		// fillSlack is how long the stream may take to fill what lies
		// between the edge and a player that stopped reading (its queue,
		// a socket buffer) before the lag clock starts: a megabyte takes
		// under 3 s at this bitrate.
		fillSlack = 3 * time.Second
		heapBound = 64 << 20
	)
	ns := natstest.Start(t, natstest.Options{})
	a := startEdge(t, ns, "a", func(c *Config) {
		c.PlayerQueueBytes = queueBytes
		c.PlayerMaxLag = maxLag
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// The healthy player waits for the stream, so it can get all of it.
	healthy := startMarkedPlayer(t, ctx, a.URL("live", "stall"), "stall")
	awaitCond(t, 5*time.Second, "relay for the healthy player", func() bool { return a.Stats().Relays == 1 })

	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	baseHeap := ms.HeapInuse
	var peakHeap atomic.Uint64
	peakHeap.Store(baseHeap)
	samplerStop := make(chan struct{})
	samplerDone := make(chan struct{})
	go func() {
		defer close(samplerDone)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		for {
			select {
			case <-samplerStop:
				return
			case <-tick.C:
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peakHeap.Load() {
					peakHeap.Store(ms.HeapInuse)
				}
			}
		}
	}()
	stopSampler := sync.OnceFunc(func() { close(samplerStop); <-samplerDone })
	t.Cleanup(stopSampler)

	pc := dialClient(t, ctx, a.URL("live", "stall"))
	if err := pc.Publish(ctx, "stall"); err != nil {
		t.Fatal(err)
	}
	// 24 inter frames of 14 kB, a 40 kB keyframe and 43 audio frames of
	// 400 B per second: about 3 Mbit/s.
	pub := startMarkedPublisher(t, pc, markedStreamConfig{GOP: 25, InterBytes: 14000, KeyBytes: 40000, AudioBytes: 400})
	awaitCond(t, 5*time.Second, "a second of stream", func() bool { v, _ := pub.Sent(); return v >= markVideoFPS })

	// The stalled player: a playing ClientConn reads only inside
	// ReadMessage (no goroutine of its own), so once Play has returned
	// and nobody calls ReadMessage it reads nothing at all.
	stalled, raw := dialRaw(t, ctx, a.URL("live", "stall"))
	playSent := time.Now()
	if err := stalled.Play(ctx, "stall"); err != nil {
		t.Fatal(err)
	}
	awaitCond(t, maxLag+30*time.Second, "stalled player disconnected", func() bool { return a.Stats().PlayersKicked >= 1 })
	kickedAfter := time.Since(playSent)
	t.Logf("FIGURE stalled_player_kicked_after_ms=%d", kickedAfter.Milliseconds())
	if kickedAfter < maxLag {
		t.Errorf("stalled player disconnected %v after its play, before the lag limit %v", kickedAfter, maxLag)
	}
	if kickedAfter > maxLag+fillSlack {
		t.Errorf("stalled player disconnected %v after it stopped reading, want within %v (PlayerMaxLag %v + %v): "+
			"the edge's socket send buffer, which the kernel grows up to net.ipv4.tcp_wmem's maximum, takes the stream "+
			"for seconds before the lag clock starts", kickedAfter, maxLag+fillSlack, maxLag, fillSlack)
	}
	// The edge has closed its connection: what the socket still holds
	// is read, then the connection ends.
	if err := raw.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	for {
		_, err := stalled.ReadMessage()
		if err == nil {
			continue
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("stalled player: connection still open after the edge disconnected it")
		}
		break
	}

	// The rest of 10 s of stream.
	awaitCond(t, 15*time.Second, "10 s of stream", func() bool { v, _ := pub.Sent(); return v >= 10*markVideoFPS })
	got := awaitDelivery(healthy, pub, 5*time.Second)
	stopSampler()
	frames := healthy.Frames()
	t.Logf("FIGURE healthy_player_frames=%d/%d", got.Got(), got.Want())
	if !got.Complete() {
		t.Errorf("healthy player received %v, want >= 99.9%%", got)
	}
	gap := maxVideoGap(frames, playSent)
	t.Logf("FIGURE healthy_player_max_gap_ms=%d", gap.Milliseconds())
	if gap > time.Second {
		t.Errorf("healthy player waited %v for a video frame while the other player stalled", gap)
	}
	if err := checkPlayback(frames); err != nil {
		t.Errorf("healthy player: %v", err)
	}
	if err := healthy.Err(); err != nil {
		t.Errorf("healthy player: connection ended: %v", err)
	}
	growth := int64(peakHeap.Load()) - int64(baseHeap)
	t.Logf("FIGURE stalled_heap_growth_bytes=%d", growth)
	if growth > heapBound {
		t.Errorf("heap in use grew by %d bytes, want at most %d", growth, heapBound)
	}
	if s := a.Stats(); s.PlayersKicked != 1 || s.Players != 1 {
		t.Errorf("edge stats %+v: want exactly one player kicked and the healthy one still playing", s)
	}
}

// TestTimeToFirstFrameOtherEdge joins a stream published on edge A from
// edge B, with no relay on B: the player starts at once from the GOP the
// owner sends on the bus, not at the next keyframe 2 s later.
func TestTimeToFirstFrameOtherEdge(t *testing.T) {
	const (
		gop   = 2 * markVideoFPS // a keyframe every 2 s
		joins = 5
	)
	ns := natstest.Start(t, natstest.Options{})
	a := startEdge(t, ns, "a", nil)
	b := startEdge(t, ns, "b", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	pc := dialClient(t, ctx, a.URL("live", "ttff"))
	if err := pc.Publish(ctx, "ttff"); err != nil {
		t.Fatal(err)
	}
	pub := startMarkedPublisher(t, pc, markedStreamConfig{GOP: gop, InterBytes: 3000, KeyBytes: 30000, AudioBytes: 300})
	awaitCond(t, 10*time.Second, "2.5 s of stream", func() bool { v, _ := pub.Sent(); return v >= 5*markVideoFPS/2 })

	// joinWindow waits until the latest keyframe is 100 to 900 ms old:
	// a player that had to wait for the next keyframe would wait more
	// than a second.
	joinWindow := func() int {
		t.Helper()
		var key int
		awaitCond(t, 5*time.Second, "a join window after a keyframe", func() bool {
			var at time.Time
			key, at = pub.LastKey()
			age := time.Since(at)
			return key >= 0 && age >= 100*time.Millisecond && age <= 900*time.Millisecond
		})
		return key
	}
	// join plays the stream on b and returns the times from dialing and
	// from sending play to the first keyframe.
	join := func(what string, wantKey int) (fromDial, fromPlay time.Duration) {
		t.Helper()
		start := time.Now()
		c, raw := dialRaw(t, ctx, b.URL("live", "ttff"))
		defer c.Close()
		playAt := time.Now()
		if err := c.Play(ctx, "ttff"); err != nil {
			t.Fatalf("%s: play: %v", what, err)
		}
		// After Play, which clears the deadlines it sets.
		if err := raw.SetReadDeadline(start.Add(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
		meta, seq := false, false
		for {
			m, err := c.ReadMessage()
			if err != nil {
				t.Fatalf("%s: no keyframe: %v", what, err)
			}
			r := decodeRecv(m, time.Now())
			switch {
			case r.meta:
				meta = true
			case r.kind != rtmp.KindVideo:
			case !seq:
				if !r.config {
					t.Fatalf("%s: first video message is not the sequence header (frame %d)", what, r.idx)
				}
				seq = true
			case !r.key:
				t.Fatalf("%s: first video frame after the sequence header is not a keyframe (frame %d)", what, r.idx)
			default:
				if r.idx != wantKey {
					t.Fatalf("%s: first keyframe is frame %d, want %d, the one published before the join: no fast start", what, r.idx, wantKey)
				}
				if !meta {
					t.Errorf("%s: no onMetaData before the first keyframe", what)
				}
				return r.at.Sub(start), r.at.Sub(playAt)
			}
		}
	}

	var cold, coldPlay []time.Duration
	for i := range joins {
		key := joinWindow()
		d, p := join(fmt.Sprintf("cold join %d", i), key)
		cold, coldPlay = append(cold, d), append(coldPlay, p)
		awaitCond(t, 5*time.Second, "the relay on b closes after the player leaves", func() bool { return b.Stats().Relays == 0 })
	}
	t.Logf("cold joins on b, dial to first keyframe: %v", cold)
	slices.Sort(cold)
	slices.Sort(coldPlay)
	t.Logf("FIGURE ttff_other_edge_ms=%d", cold[joins/2].Milliseconds())
	t.Logf("FIGURE ttff_other_edge_from_play_ms=%d", coldPlay[joins/2].Milliseconds())
	if worst := cold[joins-1]; worst >= time.Second {
		t.Errorf("slowest cold join took %v to its first keyframe, want < 1s (keyframes every 2 s)", worst)
	}
	if s := b.Stats(); s.PlaysAccepted != joins {
		t.Errorf("edge b stats %+v: want %d plays", s, joins)
	}

	// A warm join: the relay exists because another player is there.
	other := startMarkedPlayer(t, ctx, b.URL("live", "ttff"), "ttff")
	awaitCond(t, 5*time.Second, "the other player on b receives a keyframe", func() bool {
		return other.hasVideo(true, func(recvFrame) bool { return true })
	})
	key := joinWindow()
	warm, _ := join("warm join", key)
	t.Logf("FIGURE ttff_other_edge_warm_ms=%d", warm.Milliseconds())
	if warm >= time.Second {
		t.Errorf("warm join took %v to its first keyframe, want < 1s", warm)
	}
}

// TestDrainAsksEncodersToReconnect drains edge A under an Enhanced RTMP
// encoder that supports reconnect requests: the encoder is asked to
// reconnect, the load balancer (which follows readiness) sends it to edge
// B, and a player of the stream carries on; A's readiness fails during the
// drain while its liveness does not.
func TestDrainAsksEncodersToReconnect(t *testing.T) {
	const drainTimeout = 4 * time.Second
	ns := natstest.Start(t, natstest.Options{})
	a := startEdge(t, ns, "a", func(c *Config) { c.DrainTimeout = drainTimeout })
	b := startEdge(t, ns, "b", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	probe := func(te *testEdge, path string) (int, string) {
		rec := httptest.NewRecorder()
		te.HealthHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code, strings.TrimSpace(rec.Body.String())
	}
	// The encoder knows only the load balancer's name; the balancer
	// sends each new connection to a ready edge, A first.
	var (
		lbMu          sync.Mutex
		lbDials       []string
		readyzAtRedir = -1
	)
	lb := func(ctx context.Context, network, _ string) (net.Conn, error) {
		target, name := a, "a"
		if a.Ready() != nil {
			target, name = b, "b"
		}
		lbMu.Lock()
		lbDials = append(lbDials, name)
		if name == "b" && readyzAtRedir < 0 {
			readyzAtRedir, _ = probe(a, "/readyz")
		}
		lbMu.Unlock()
		var d net.Dialer
		return d.DialContext(ctx, network, target.Addr)
	}
	dials := func() []string {
		lbMu.Lock()
		defer lbMu.Unlock()
		return slices.Clone(lbDials)
	}
	pc, err := rtmp.Dial(ctx, "rtmp://lb.test/live/drain", rtmp.ClientConfig{DialContext: lb})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	if err := pc.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := pc.Publish(ctx, "drain"); err != nil {
		t.Fatal(err)
	}
	pub := startMarkedPublisher(t, pc, markedStreamConfig{GOP: 25, InterBytes: 2000, KeyBytes: 12000, AudioBytes: 300})
	player := startMarkedPlayer(t, ctx, b.URL("live", "drain"), "drain")
	awaitCond(t, 5*time.Second, "player on b receives a keyframe", func() bool {
		return player.hasVideo(true, func(recvFrame) bool { return true })
	})
	if s := a.Stats(); s.PublishesAccepted != 1 {
		t.Fatalf("edge a stats %+v: the encoder should publish there first", s)
	}
	for _, c := range []struct {
		path string
		code int
	}{{"/readyz", http.StatusOK}, {"/healthz", http.StatusOK}} {
		if code, body := probe(a, c.path); code != c.code {
			t.Errorf("before the drain: GET %s = %d %q, want %d", c.path, code, body, c.code)
		}
	}

	drainStart := time.Now()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		a.Stop()
	}()
	// The edge's own cleanup must not run while this Stop does.
	t.Cleanup(func() { <-stopped })

	awaitCond(t, 5*time.Second, "the encoder reconnects through the load balancer", func() bool {
		return slices.Contains(dials(), "b")
	})
	t.Logf("FIGURE drain_reconnect_request_ms=%d", time.Since(drainStart).Milliseconds())
	lbMu.Lock()
	if readyzAtRedir != http.StatusServiceUnavailable {
		t.Errorf("during the drain: GET /readyz = %d, want 503", readyzAtRedir)
	}
	lbMu.Unlock()
	if code, body := probe(a, "/healthz"); code != http.StatusOK {
		t.Errorf("during the drain: GET /healthz = %d %q, want 200", code, body)
	}
	select {
	case <-stopped:
	case <-time.After(drainTimeout + 10*time.Second):
		t.Fatal("edge a did not stop")
	}
	drained := time.Since(drainStart)
	t.Logf("FIGURE drain_ms=%d", drained.Milliseconds())
	if drained >= drainTimeout {
		t.Errorf("drain took %v: the encoder's session was closed at the drain timeout instead of moving away", drained)
	}
	if code, body := probe(a, "/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "draining") {
		t.Errorf("after the drain: GET /readyz = %d %q, want 503 draining", code, body)
	}
	if code, _ := probe(a, "/healthz"); code != http.StatusOK {
		t.Errorf("after the drain: GET /healthz = %d, want 200", code)
	}

	// The stream now comes from b: one more second of it.
	awaitCond(t, 5*time.Second, "the publish moves to edge b", func() bool { return b.Stats().Publishers == 1 })
	moved := time.Now()
	awaitCond(t, 5*time.Second, "a second of video from edge b", func() bool {
		return player.hasVideo(false, func(f recvFrame) bool { return f.at.Sub(moved) >= time.Second })
	})
	pub.Stop()
	if got := dials(); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("load balancer dials %v, want [a b]", got)
	}
	if err := pub.Err(); err != nil {
		t.Errorf("publisher: write failed: %v", err)
	}
	if err := pc.Err(); err != nil {
		t.Errorf("publisher conn ended: %v", err)
	}
	if s := b.Stats(); s.PublishesAccepted != 1 || s.Publishers != 1 {
		t.Errorf("edge b stats %+v: want the moved publish running", s)
	}
	frames := player.Frames()
	gap := maxVideoGap(frames, drainStart)
	t.Logf("FIGURE drain_player_max_gap_ms=%d", gap.Milliseconds())
	if gap >= 2*time.Second {
		t.Errorf("player waited %v for video while the encoder moved", gap)
	}
	if err := checkPlayback(frames); err != nil {
		t.Errorf("player: %v", err)
	}
	if err := player.Err(); err != nil {
		t.Errorf("player: connection ended: %v", err)
	}
}

// lockedConn serialises writes to a connection shared by our client and
// raw chunk writes of the test, at chunk boundaries.
type lockedConn struct {
	net.Conn
	mu sync.Mutex
}

func (c *lockedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Conn.Write(p)
}

// chunkBasicHeader returns the basic header of a chunk of format fmt on
// chunk stream csid (2 to 319).
func chunkBasicHeader(fmtType byte, csid int) []byte {
	if csid < 64 {
		return []byte{fmtType<<6 | byte(csid)}
	}
	return []byte{fmtType << 6, byte(csid - 64)}
}

// writeRawMessage writes a message of type typ on chunk stream csid and
// message stream sid that announces length bytes and carries body (which
// may be shorter), in chunks of chunkSize.
func (c *lockedConn) writeRawMessage(csid int, typ byte, sid uint32, length int, body []byte, chunkSize int) error {
	h := chunkBasicHeader(0, csid)
	h = append(h, 0, 0, 0, byte(length>>16), byte(length>>8), byte(length), typ)
	h = binary.LittleEndian.AppendUint32(h, sid)
	for first := true; first || len(body) > 0; first = false {
		n := min(chunkSize, len(body))
		c.mu.Lock()
		_, err := c.Conn.Write(append(h, body[:n]...))
		c.mu.Unlock()
		if err != nil {
			return err
		}
		body = body[n:]
		h = chunkBasicHeader(3, csid)
	}
	return nil
}

// awaitServerClose reads and discards what the server sends until it
// closes the connection, or fails after d.
func awaitServerClose(nc net.Conn, d time.Duration) error {
	if err := nc.SetReadDeadline(time.Now().Add(d)); err != nil {
		return err
	}
	_, err := io.Copy(io.Discard, nc)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("still open after %v", d)
	}
	return nil // EOF or a reset: closed
}

// TestBadInputDoesNotHarmOthers throws 20 misbehaving connections at edge
// B while a stream plays from A to B: each is closed, and the player loses
// nothing.
func TestBadInputDoesNotHarmOthers(t *testing.T) {
	const (
		handshakeTimeout = 2 * time.Second
		closeWithin      = handshakeTimeout + 8*time.Second
		rawChunkSize     = 64 << 10
		hugeLength       = 1<<24 - 1 // the largest length a chunk header can announce
	)
	ns := natstest.Start(t, natstest.Options{})
	a := startEdge(t, ns, "a", nil)
	b := startEdge(t, ns, "b", func(c *Config) { c.HandshakeTimeout = handshakeTimeout })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	player := startMarkedPlayer(t, ctx, b.URL("live", "good"), "good")
	awaitCond(t, 5*time.Second, "relay on b", func() bool { return b.Stats().Relays == 1 })
	pc := dialClient(t, ctx, a.URL("live", "good"))
	if err := pc.Publish(ctx, "good"); err != nil {
		t.Fatal(err)
	}
	pub := startMarkedPublisher(t, pc, markedStreamConfig{GOP: 25, InterBytes: 3000, KeyBytes: 15000, AudioBytes: 300})
	awaitCond(t, 5*time.Second, "player on b receives a keyframe", func() bool {
		return player.hasVideo(true, func(recvFrame) bool { return true })
	})

	seed := time.Now().UnixNano()
	t.Logf("random seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0x7e57))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	// handshake writes C0 and C1 and reads S0, S1 and S2.
	c0c1 := append([]byte{3}, random(1536)...)
	handshake := func(nc net.Conn) error {
		if _, err := nc.Write(c0c1); err != nil {
			return err
		}
		_, err := io.ReadFull(nc, make([]byte, 1+2*1536))
		return err
	}
	type badClient struct {
		name string
		run  func(nc net.Conn) error // misbehaves, then waits for the close
	}
	var bad []badClient
	// Garbage from the first byte: not an RTMP version.
	for _, n := range []int{1, 100, 1537, 5000, 20000, 65536} {
		junk := random(n)
		junk[0] = byte(7 + rng.IntN(249))
		bad = append(bad, badClient{fmt.Sprintf("random %d bytes", n), func(nc net.Conn) error {
			_, _ = nc.Write(junk) // the edge may close before it has read everything
			return awaitServerClose(nc, closeWithin)
		}})
	}
	// A valid version byte followed by garbage: a handshake and chunks
	// made of noise.
	for _, n := range []int{1537, 3073, 8192, 65536} {
		junk := append([]byte{3}, random(n-1)...)
		bad = append(bad, badClient{fmt.Sprintf("version 3 and %d random bytes", n-1), func(nc net.Conn) error {
			_, _ = nc.Write(junk)
			return awaitServerClose(nc, closeWithin)
		}})
	}
	// Truncated handshakes, then silence.
	for _, n := range []int{1, 700, 1536} {
		part := append([]byte{3}, random(n-1)...)
		bad = append(bad, badClient{fmt.Sprintf("handshake cut after %d bytes", n), func(nc net.Conn) error {
			if _, err := nc.Write(part); err != nil {
				return err
			}
			return awaitServerClose(nc, closeWithin)
		}})
	}
	c2part := random(1000)
	bad = append(bad, badClient{"handshake with half a C2", func(nc net.Conn) error {
		if err := handshake(nc); err != nil {
			return err
		}
		if _, err := nc.Write(c2part); err != nil {
			return err
		}
		return awaitServerClose(nc, closeWithin)
	}})
	c2 := random(1536)
	bad = append(bad, badClient{"handshake then no connect", func(nc net.Conn) error {
		if err := handshake(nc); err != nil {
			return err
		}
		if _, err := nc.Write(c2); err != nil {
			return err
		}
		return awaitServerClose(nc, closeWithin)
	}})
	garbage := random(200)
	bad = append(bad, badClient{"connect made of garbage", func(nc net.Conn) error {
		if err := handshake(nc); err != nil {
			return err
		}
		if _, err := nc.Write(c2); err != nil {
			return err
		}
		lc := &lockedConn{Conn: nc}
		_ = lc.writeRawMessage(3, 20, 0, len(garbage), garbage, 128) // the edge may close first
		return awaitServerClose(nc, closeWithin)
	}})
	// Publishers that misbehave after a proper publish: a publish-stream
	// command message announcing 16 MiB, and a flood of chunk streams.
	misbehavingPublisher := func(i int, after func(lc *lockedConn, sid uint32) error) func(nc net.Conn) error {
		return func(nc net.Conn) error {
			lc := &lockedConn{Conn: nc}
			c, err := rtmp.NewClientConn(lc, b.URL("live", fmt.Sprintf("bad-%d", i)), rtmp.ClientConfig{ChunkSize: rawChunkSize, DisableReconnect: true})
			if err != nil {
				return err
			}
			defer c.Close()
			if err := c.Connect(ctx); err != nil {
				return fmt.Errorf("connect: %w", err)
			}
			if err := c.Publish(ctx, ""); err != nil {
				return fmt.Errorf("publish: %w", err)
			}
			_ = after(lc, c.StreamID()) // the edge may close before it has read everything
			select {
			case <-c.Done():
				return nil
			case <-time.After(closeWithin):
				return fmt.Errorf("still open after %v", closeWithin)
			}
		}
	}
	zeros := make([]byte, hugeLength)
	for i := range 3 {
		bad = append(bad, badClient{"publish then a 16 MiB command", misbehavingPublisher(i, func(lc *lockedConn, sid uint32) error {
			return lc.writeRawMessage(8, 20, sid, hugeLength, zeros, rawChunkSize)
		})})
	}
	bad = append(bad, badClient{"publish then 200 chunk streams", misbehavingPublisher(3, func(lc *lockedConn, sid uint32) error {
		for csid := 10; csid < 210; csid++ {
			if err := lc.writeRawMessage(csid, 9, sid, 5, []byte{0x27, 0x01, 0, 0, 0}, rawChunkSize); err != nil {
				return err
			}
		}
		return nil
	})})
	if len(bad) != 20 {
		t.Fatalf("%d bad clients, want 20", len(bad))
	}

	start := time.Now()
	errs := make([]error, len(bad))
	var wg sync.WaitGroup
	for i, bc := range bad {
		wg.Go(func() {
			nc, err := net.DialTimeout("tcp", b.Addr, 5*time.Second)
			if err != nil {
				errs[i] = err
				return
			}
			defer nc.Close()
			errs[i] = bc.run(nc)
		})
	}
	wg.Wait()
	t.Logf("20 bad clients closed within %v", time.Since(start).Round(time.Millisecond))
	for i, err := range errs {
		if err != nil {
			t.Errorf("bad client %q: %v", bad[i].name, err)
		}
	}
	awaitCond(t, 5*time.Second, "only the player's session left on b", func() bool {
		s := b.Stats()
		return s.Sessions == 1 && s.Players == 1 && s.Publishers == 0
	})
	if err := b.Ready(); err != nil {
		t.Errorf("edge b not ready after the bad clients: %v", err)
	}

	// One more second of stream, then count.
	v0, _ := pub.Sent()
	awaitCond(t, 5*time.Second, "a second of stream after the bad clients", func() bool { v, _ := pub.Sent(); return v >= v0+markVideoFPS })
	got := awaitDelivery(player, pub, 5*time.Second)
	frames := player.Frames()
	t.Logf("FIGURE badinput_player_frames=%d/%d", got.Got(), got.Want())
	if !got.Complete() {
		t.Errorf("player received %v, want >= 99.9%%", got)
	}
	if err := checkPlayback(frames); err != nil {
		t.Errorf("player: %v", err)
	}
	if err := player.Err(); err != nil {
		t.Errorf("player: connection ended: %v", err)
	}
}
