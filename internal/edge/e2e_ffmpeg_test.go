package edge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tributary-media/tributary/internal/testutil"
	"github.com/tributary-media/tributary/internal/testutil/natstest"
	"github.com/tributary-media/tributary/pkg/bus"
	"github.com/tributary-media/tributary/pkg/rtmp"
	"github.com/tributary-media/tributary/pkg/rtmp/flv"
)

// ffmpegIOTimeout is the -rw_timeout (in microseconds) of the publishing
// ffmpeg: one whose peer goes silent gives up instead of hanging.
const ffmpegIOTimeout = "10000000"

// ffmpegClip is the media ffmpeg publishes: a keyframe every 2 s, so that
// a player joining just after a keyframe has plenty of time to ask for the
// fast start before the next one.
var ffmpegClip = testutil.MediaOptions{Duration: 6 * time.Second, FPS: 25, GOP: 50}

// TestFFmpegPublishAPlayB publishes real H.264/AAC with ffmpeg to edge A
// and records it with ffmpeg playing from edge B, once from the first
// frame and once joining mid-stream, which the fast start serves from the
// keyframe of the GOP in progress.
func TestFFmpegPublishAPlayB(t *testing.T) {
	src := testutil.GenerateFLV(t, ffmpegClip)
	sent := testutil.Probe(t, src)
	if sent.VideoCodec != "h264" || sent.AudioCodec != "aac" || sent.VideoFrames == 0 {
		t.Fatalf("generated media is %s/%s with %d video frames, want h264/aac", sent.VideoCodec, sent.AudioCodec, sent.VideoFrames)
	}
	ns := natstest.Start(t, natstest.Options{})
	a := startEdge(t, ns, "a", nil)
	b := startEdge(t, ns, "b", nil)

	t.Run("whole-stream", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		out := filepath.Join(t.TempDir(), "whole.flv")
		plays := b.Stats().PlaysAccepted
		play := testutil.FFmpegPlay(t, ctx, b.URL("live", "whole"), out, 0)
		if err := play.WaitStderr(testutil.FFmpegPlaySent, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, func() bool { return b.Stats().PlaysAccepted > plays })

		pub := testutil.FFmpegPublish(t, ctx, src, a.URL("live", "whole"), "-rw_timeout", ffmpegIOTimeout)
		if err := pub.Wait(ffmpegClip.Duration + 30*time.Second); err != nil {
			t.Fatalf("publish: %v", err)
		}
		waitPlayerExit(t, "whole", play)

		got := testutil.Probe(t, out)
		checkCodecs(t, got)
		if !got.FirstVideoPacketIsKey {
			t.Errorf("the recording does not start with a keyframe")
		}
		figure(t, "ffmpeg_whole_video_frames_published", sent.VideoFrames)
		figure(t, "ffmpeg_whole_video_frames_received", got.VideoFrames)
		figure(t, "ffmpeg_whole_audio_frames_published", sent.AudioFrames)
		figure(t, "ffmpeg_whole_audio_frames_received", got.AudioFrames)
		checkFrames(t, "video", got.VideoFrames, sent.VideoFrames)
		checkFrames(t, "audio", got.AudioFrames, sent.AudioFrames)
	})

	t.Run("join-mid-stream", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		watch := watchBus(t, ns, "live", "mid", true)
		out := filepath.Join(t.TempDir(), "mid.flv")
		pub := testutil.FFmpegPublish(t, ctx, src, a.URL("live", "mid"), "-rw_timeout", ffmpegIOTimeout)

		// Join right after the second keyframe: the GOP in progress then
		// started at most a few frames ago and the next keyframe is 2 s
		// away, so the fast start (not the next keyframe) decides where the
		// player starts.
		gop := uint32(ffmpegClip.GOP * 1000 / ffmpegClip.FPS)
		waitFor(t, 20*time.Second, func() bool { return watch.lastKeyframe() >= int64(gop) })
		plays := b.Stats().PlaysAccepted
		joined := time.Now()
		play := testutil.FFmpegPlay(t, ctx, b.URL("live", "mid"), out, 0)
		waitFor(t, 10*time.Second, func() bool { return b.Stats().PlaysAccepted > plays })

		// The fast start request of B's relay shows which GOP was in
		// progress when the player joined.
		waitFor(t, 10*time.Second, watch.initRequested)
		joinKey := watch.keyframeAtInit()
		figure(t, "ffmpeg_mid_join_gop_keyframe_ms", joinKey)
		figure(t, "ffmpeg_mid_player_start_to_init_request_ms", watch.initDelay(joined).Milliseconds())
		if joinKey < 0 {
			t.Fatal("the fast start was requested before any keyframe was published")
		}
		// The source's keyframe at that timestamp (ffmpeg may shift
		// timestamps by a few milliseconds when it publishes a file).
		from := -1
		for i, p := range sent.VideoPackets {
			d := p.DTS - time.Duration(joinKey)*time.Millisecond
			if p.Key && d.Abs() < 100*time.Millisecond {
				from = i
			}
		}
		if from < 0 {
			t.Fatalf("the source has no keyframe near %d ms, the keyframe published before the join", joinKey)
		}
		want := len(sent.VideoPackets) - from

		if err := pub.Wait(ffmpegClip.Duration + 30*time.Second); err != nil {
			t.Fatalf("publish: %v", err)
		}
		waitPlayerExit(t, "mid", play)

		got := testutil.Probe(t, out)
		checkCodecs(t, got)
		if !got.FirstVideoPacketIsKey {
			t.Errorf("the recording of a player joining mid-stream does not start with a keyframe")
		}
		figure(t, "ffmpeg_mid_video_frames_since_join_gop", want)
		figure(t, "ffmpeg_mid_video_frames_received", got.VideoFrames)
		checkFrames(t, "video since the GOP of the join", got.VideoFrames, want)
	})
}

// waitPlayerExit waits for the ffmpeg player of run to end by itself once
// its publisher has ended: the clean end reaches it as
// NetStream.Play.UnpublishNotify, on which ffmpeg finishes its recording.
func waitPlayerExit(t *testing.T, run string, play *testutil.Proc) {
	t.Helper()
	start := time.Now()
	if err := play.Wait(8 * time.Second); err != nil {
		t.Fatalf("the player did not end by itself after the publisher's clean end: %v", err)
	}
	figure(t, "ffmpeg_"+run+"_player_exit_after_publisher_ms", time.Since(start).Milliseconds())
}

// checkCodecs checks that a recording holds H.264 video and AAC audio.
func checkCodecs(t *testing.T, got testutil.ProbeResult) {
	t.Helper()
	if got.VideoCodec != "h264" || got.AudioCodec != "aac" {
		t.Errorf("recording codecs %q/%q, want h264/aac", got.VideoCodec, got.AudioCodec)
	}
	if got.Errors != "" {
		t.Errorf("ffprobe reported errors on the recording:\n%s", got.Errors)
	}
}

// checkFrames checks that got is at least 95% of want and not more.
func checkFrames(t *testing.T, what string, got, want int) {
	t.Helper()
	if want == 0 || got*100 < want*95 || got > want {
		t.Errorf("%s frames: received %d, want between 95%% of %d and %d", what, got, want, want)
	}
}

// figure logs a measurement in the format collected from `go test -v`.
func figure(t testing.TB, name string, value any) {
	t.Helper()
	t.Logf("FIGURE %s=%v", name, value)
}

// busWatch observes one stream on the bus as any NATS client can: the
// latest video keyframe published, and the first fast-start request.
type busWatch struct {
	mu        sync.Mutex
	lastKey   int64 // timestamp of the latest keyframe, -1 before any
	initSeen  bool
	initKey   int64 // lastKey when the first init request arrived
	initAt    time.Time
	frames    int // complete frames and first fragments
	fragments int // messages carrying a fragment
}

// watchBus subscribes to the media subject of the stream app/name, and
// with withInit to its init subject too. It never answers init requests,
// but while it listens to them a request made when the stream has no
// owner waits for the init timeout instead of getting NATS's immediate
// "no responders": watch init requests only where the stream is published
// before players join.
func watchBus(t testing.TB, ns *natstest.Server, app, name string, withInit bool) *busWatch {
	t.Helper()
	w := &busWatch{lastKey: -1, initKey: -1}
	nc := ns.Connect(t)
	kind := bus.KindMedia
	if withInit {
		// One subscription for both kinds: its messages are handled in
		// the order the server sent them.
		kind = "*"
	}
	natstest.Subscribe(t, nc, bus.StreamSubject("", app, name, kind), w.onMsg)
	return w
}

func (w *busWatch) onMsg(m *nats.Msg) {
	_, _, kind, err := bus.ParseStreamSubject("", m.Subject)
	if err != nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	switch kind {
	case bus.KindInit:
		if m.Reply != "" && !w.initSeen {
			w.initSeen, w.initKey, w.initAt = true, w.lastKey, time.Now()
		}
	case bus.KindMedia:
		if frag := m.Header.Get(bus.HeaderFrag); frag != "" {
			w.fragments++
			if !strings.HasPrefix(frag, "0/") {
				return
			}
		}
		// The FLV tag header (see docs/bus.md): type, size, timestamp
		// (24 bits + 8 extended), stream id, then the body.
		d := m.Data
		if len(d) < 12 {
			return
		}
		w.frames++
		ts := int64(uint32(d[7])<<24 | uint32(d[4])<<16 | uint32(d[5])<<8 | uint32(d[6]))
		if flv.TagType(d[0]&0x1f) == flv.TagVideo && flv.IsKeyframe(flv.TagVideo, d[11:]) {
			w.lastKey = ts
		}
	}
}

func (w *busWatch) lastKeyframe() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastKey
}

func (w *busWatch) initRequested() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.initSeen
}

func (w *busWatch) keyframeAtInit() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.initKey
}

func (w *busWatch) initDelay(since time.Time) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.initAt.Sub(since)
}

func (w *busWatch) counts() (frames, fragments int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.frames, w.fragments
}

// TestNamesEndToEnd publishes on edge A and plays on edge B streams whose
// application and stream names need escaping on the bus, all at once:
// every player gets exactly its own stream, from the fast start and live,
// and its end.
func TestNamesEndToEnd(t *testing.T) {
	ns := natstest.Start(t, natstest.Options{})
	a := startEdge(t, ns, "a", nil)
	b := startEdge(t, ns, "b", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	keys := []StreamKey{
		{"live", "a.b"},
		{"live", "a~2Eb"}, // the bus token of "a.b"
		{"live", "a~7E2Eb"},
		{"live", "my stream.v2"},
		{"live", "*"},
		{"live", ">"},
		{"live", "a.*.>"},
		{"live", "café ✓"},
		{"live", "~"},
		{"live", "~7E"}, // the bus token of "~"
		{"live", strings.Repeat("x.y ✓", 60)},
		{"a.b", "s"},
		{"a~2Eb", "s"},
		{"café ✓", "café ✓"},
		{"my app", "x y"},
		{"*", ">"},
		{">", "*"},
	}
	const before, after = 4, 3 // inter frames sent before and after the players join
	frame := func(k StreamKey, i int) []byte {
		tail := fmt.Sprintf("%q/%q#%d", k.App, k.Name, i)
		switch i {
		case 0:
			return avcSequenceHeader(tail)
		case 1:
			return avcKeyframe(tail)
		}
		return avcInterframe(tail)
	}
	pubs := make([]*rtmp.ClientConn, len(keys))
	for i, k := range keys {
		pubs[i] = publishOn(t, ctx, a, k.App, k.Name)
	}
	// All publishers at once: their frames interleave on the bus.
	sendAll := func(from, to int) {
		t.Helper()
		errs := make(chan error, len(keys))
		for i, k := range keys {
			go func() {
				for j := from; j < to; j++ {
					if err := pubs[i].WriteVideo(uint32(j*40), frame(k, j)); err != nil {
						errs <- fmt.Errorf("publish %s: %w", k, err)
						return
					}
				}
				errs <- nil
			}()
		}
		for range keys {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	}
	sendAll(0, 2+before)
	total := uint64(len(keys) * (2 + before))
	waitFor(t, 5*time.Second, func() bool { return a.Stats().FramesIn == total })

	// The players join the live streams: the fast start gives them all
	// frames so far (one GOP), then they follow live.
	players := make([]*testPlayer, len(keys))
	for i, k := range keys {
		players[i] = startPlayer(t, ctx, b, k.App, k.Name)
	}
	expectFrames := func(from, to int) {
		t.Helper()
		for i, k := range keys {
			for j := from; j < to; j++ {
				m := players[i].nextVideo(t, 5*time.Second)
				if want := frame(k, j); !bytes.Equal(m.Payload, want) {
					t.Fatalf("player of %s: frame %d is %q, want %q", k, j, m.Payload[5:], want[5:])
				}
			}
		}
	}
	expectFrames(0, 2+before)
	sendAll(2+before, 2+before+after)
	expectFrames(2+before, 2+before+after)

	// A clean end reaches each player after all its frames, and nothing
	// of another stream came in between.
	for i := range keys {
		if err := pubs[i].Close(); err != nil {
			t.Fatalf("close publisher of %s: %v", keys[i], err)
		}
	}
	for i, k := range keys {
		m := players[i].next(t, 5*time.Second)
		if m.Kind != rtmp.KindStatus || m.Status.Code != rtmp.CodePlayUnpublishNotify {
			t.Fatalf("player of %s: got %s after the last frame, want %s", k, describe(m), rtmp.CodePlayUnpublishNotify)
		}
	}
	if s := b.Stats(); s.PlaysAccepted != uint64(len(keys)) || s.Relays != len(keys) {
		t.Fatalf("edge b: %d plays accepted and %d relays, want %d of each", s.PlaysAccepted, s.Relays, len(keys))
	}

	t.Run("ffmpeg", func(t *testing.T) {
		testFFmpegName(t, ns, a, b, StreamKey{App: "my app ✓", Name: "café ✓ live"})
	})
}

// testFFmpegName publishes with ffmpeg to a, plays with ffmpeg from b, a
// stream whose names hold spaces and non-ASCII characters, and checks the
// stream took the bus subject of exactly those names.
func testFFmpegName(t *testing.T, ns *natstest.Server, a, b *testEdge, k StreamKey) {
	src := testutil.GenerateFLV(t, testutil.MediaOptions{Duration: 3 * time.Second})
	sent := testutil.Probe(t, src)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	watch := watchBus(t, ns, k.App, k.Name, false)
	// ffmpeg does not percent-decode the URL path, and takes a space in
	// it for the start of librtmp-style parameters: the names are given
	// with its rtmp protocol options instead, which override the URL's.
	u := func(e *testEdge) string { return "rtmp://" + e.Addr + "/app/name" }
	names := []string{"-rtmp_app", k.App, "-rtmp_playpath", k.Name}
	out := filepath.Join(t.TempDir(), "names.flv")
	plays := b.Stats().PlaysAccepted
	play := testutil.FFmpegPlay(t, ctx, u(b), out, 0, names...)
	if err := play.WaitStderr(testutil.FFmpegPlaySent, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { return b.Stats().PlaysAccepted > plays })
	pub := testutil.FFmpegPublish(t, ctx, src, u(a), append(names, "-rw_timeout", ffmpegIOTimeout)...)
	if err := pub.Wait(30 * time.Second); err != nil {
		t.Fatalf("publish: %v", err)
	}
	waitPlayerExit(t, "names", play)
	got := testutil.Probe(t, out)
	checkCodecs(t, got)
	checkFrames(t, "video", got.VideoFrames, sent.VideoFrames)
	if frames, _ := watch.counts(); frames < sent.VideoFrames {
		t.Errorf("the bus subject of %s carried %d frames, want at least %d", k, frames, sent.VideoFrames)
	}
}

// TestLargeKeyframeThroughDefaultNATS sends a 3 MB keyframe through a NATS
// server with the default 1 MiB max payload: a player that was waiting
// and a player that joins afterwards (fast start) on other edges both get
// it byte for byte.
func TestLargeKeyframeThroughDefaultNATS(t *testing.T) {
	ns := natstest.Start(t, natstest.Options{})
	a := startEdge(t, ns, "a", nil)
	b := startEdge(t, ns, "b", nil)
	c := startEdge(t, ns, "c", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	watch := watchBus(t, ns, "live", "big", false)

	seq := avcSequenceHeader("big")
	key := make([]byte, 3_000_000)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range key {
		key[i] = byte(rng.Uint32())
	}
	key[0], key[1] = 0x17, 0x01
	inter := avcInterframe("after")

	waiting := startPlayer(t, ctx, b, "live", "big")
	pub := publishOn(t, ctx, a, "live", "big")
	start := time.Now()
	for _, f := range []struct {
		ts   uint32
		body []byte
	}{{0, seq}, {0, key}, {40, inter}} {
		if err := pub.WriteVideo(f.ts, f.body); err != nil {
			t.Fatal(err)
		}
	}
	check := func(p *testPlayer, who string) {
		t.Helper()
		for i, want := range [][]byte{seq, key, inter} {
			m := p.nextVideo(t, 10*time.Second)
			if !bytes.Equal(m.Payload, want) {
				t.Fatalf("%s: video message %d is %d bytes (starts % x), want %d bytes (starts % x), identical",
					who, i, len(m.Payload), m.Payload[:min(8, len(m.Payload))], len(want), want[:8])
			}
			if i == 1 && who == "waiting player" {
				figure(t, "large_keyframe_publish_to_player_ms", time.Since(start).Milliseconds())
			}
		}
	}
	check(waiting, "waiting player")
	joining := startPlayer(t, ctx, c, "live", "big")
	check(joining, "joining player")
	// The live keyframe in fragments (the init reply to c goes to an inbox).
	_, frags := watch.counts()
	figure(t, "large_keyframe_bus_fragments", frags)
	if frags < 3 {
		t.Errorf("the bus carried %d fragments, want the 3 MB keyframe in at least 3", frags)
	}
	if s := a.Stats(); s.BusErrors != 0 {
		t.Errorf("edge a: %d frames refused by the bus", s.BusErrors)
	}
}

// TestLifecycleAcrossEdges follows one player on edge B through the ends
// and gaps of streams published on edges A and C.
func TestLifecycleAcrossEdges(t *testing.T) {
	ns := natstest.Start(t, natstest.Options{})
	a := startEdge(t, ns, "a", nil)
	b := startEdge(t, ns, "b", nil)
	c := startEdge(t, ns, "c", nil)
	const grace = 3 * time.Second // the harness's ReconnectGrace
	if a.cfg.ReconnectGrace != grace || b.cfg.ReconnectGrace != grace {
		t.Fatalf("the harness reconnect grace is %v, the test assumes %v", b.cfg.ReconnectGrace, grace)
	}

	t.Run("clean-end", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		pl := startPlayer(t, ctx, b, "live", "clean")
		pub := publishOn(t, ctx, a, "live", "clean")
		last := sendGOP(t, pub, "first", 0)
		pl.expectGOP(t, "first", 0, false)

		ended := time.Now()
		if err := pub.Close(); err != nil { // FCUnpublish, deleteStream
			t.Fatal(err)
		}
		m := pl.next(t, 2*time.Second)
		if m.Kind != rtmp.KindStatus || m.Status.Code != rtmp.CodePlayUnpublishNotify {
			t.Fatalf("after the clean end the player got %s, want %s", describe(m), rtmp.CodePlayUnpublishNotify)
		}
		figure(t, "clean_end_to_unpublish_notify_ms", time.Since(ended).Milliseconds())
		if m := pl.next(t, 2*time.Second); m.Kind != rtmp.KindStreamEOF {
			t.Fatalf("after %s the player got %s, want StreamEOF", rtmp.CodePlayUnpublishNotify, describe(m))
		}

		// Published again on a third edge: the same connection plays on.
		pub2 := publishOn(t, ctx, c, "live", "clean")
		republished := time.Now()
		sendGOP(t, pub2, "second", 0)
		var notified bool
		for {
			m := pl.next(t, 5*time.Second)
			if m.Kind == rtmp.KindVideo {
				pl.pushBack(m)
				break
			}
			switch {
			case m.Kind == rtmp.KindStreamBegin:
			case m.Kind == rtmp.KindStatus && m.Status.Code == rtmp.CodePlayPublishNotify:
				notified = true
			default:
				t.Fatalf("before the new stream's frames the player got %s", describe(m))
			}
		}
		if !notified {
			t.Errorf("the player was not told %s before the new stream", rtmp.CodePlayPublishNotify)
		}
		first := pl.expectGOP(t, "second", last, true)
		figure(t, "clean_republish_to_player_ms", time.Since(republished).Milliseconds())
		t.Logf("timestamps: last before the end %d, first after %d", last, first)
	})

	t.Run("gap", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		pl := startPlayer(t, ctx, b, "live", "gap")
		pub := publishVanishing(t, ctx, a, "live", "gap")
		last := sendGOP(t, pub.ClientConn, "one", 0)
		pl.expectGOP(t, "one", 0, false)

		// Each encoder vanishes and another takes over within the grace,
		// on another edge and then on the first one again: the player
		// hears nothing of the gaps, and plays on.
		for _, next := range []struct {
			e    *testEdge
			name string
		}{{c, "two"}, {a, "three"}} {
			pub.vanish(t)
			pl.expectQuiet(t, grace/3)
			if next.e == a {
				// A must have seen the connection go before the name is
				// free again on it.
				waitFor(t, 2*time.Second, func() bool { return a.Stats().Publishers == 0 })
			}
			pub = publishVanishing(t, ctx, next.e, "live", "gap")
			resumed := time.Now()
			ts := sendGOP(t, pub.ClientConn, next.name, 0)
			pl.expectGOP(t, next.name, last, true)
			figure(t, "gap_republish_on_"+next.e.cfg.ID+"_to_player_ms", time.Since(resumed).Milliseconds())
			last += ts + 1 // the player's timestamps continue after the last one it got
		}

		// The last encoder vanishes for good: after the grace, and not
		// before, the player is told the stream ended.
		vanished := time.Now()
		pub.vanish(t)
		m := pl.next(t, grace+3*time.Second)
		waited := time.Since(vanished)
		if m.Kind != rtmp.KindStatus || m.Status.Code != rtmp.CodePlayUnpublishNotify {
			t.Fatalf("after the last gap the player got %s, want %s", describe(m), rtmp.CodePlayUnpublishNotify)
		}
		figure(t, "gap_to_unpublish_notify_ms", waited.Milliseconds())
		if waited < grace-500*time.Millisecond {
			t.Fatalf("the player was told the stream ended %v after the encoder vanished, before the %v grace", waited, grace)
		}
		if m := pl.next(t, 2*time.Second); m.Kind != rtmp.KindStreamEOF {
			t.Fatalf("after %s the player got %s, want StreamEOF", rtmp.CodePlayUnpublishNotify, describe(m))
		}
		if err := pl.conn.Err(); err != nil {
			t.Fatalf("the player's connection ended: %v", err)
		}
	})

	t.Run("second-publisher-same-edge", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		pl := startPlayer(t, ctx, b, "live", "dup")
		pub := publishOn(t, ctx, a, "live", "dup")
		if err := pub.WriteVideo(0, avcSequenceHeader("first")); err != nil {
			t.Fatal(err)
		}
		if err := pub.WriteVideo(0, avcKeyframe("first#1")); err != nil {
			t.Fatal(err)
		}
		rejected := a.Stats().PublishesRejected
		intruder := dialClient(t, ctx, appURL(a, "live"))
		err := intruder.Publish(ctx, "dup")
		if !errors.Is(err, rtmp.ErrBadName) {
			t.Fatalf("second publish of a live name on the same edge: %v, want %s", err, rtmp.CodePublishBadName)
		}
		if got := a.Stats().PublishesRejected; got != rejected+1 {
			t.Errorf("edge a counted %d rejected publishes, want %d", got, rejected+1)
		}
		// The first publisher keeps going and the player gets it all.
		for i := 2; i < 5; i++ {
			if err := pub.WriteVideo(uint32(i*40), avcInterframe(fmt.Sprintf("first#%d", i))); err != nil {
				t.Fatal(err)
			}
		}
		want := [][]byte{avcSequenceHeader("first"), avcKeyframe("first#1")}
		for i := 2; i < 5; i++ {
			want = append(want, avcInterframe(fmt.Sprintf("first#%d", i)))
		}
		for i, w := range want {
			if m := pl.nextVideo(t, 5*time.Second); !bytes.Equal(m.Payload, w) {
				t.Fatalf("video message %d is %q, want %q", i, m.Payload, w)
			}
		}
		if err := pub.Err(); err != nil {
			t.Fatalf("the first publisher ended: %v", err)
		}
		// Once the first ends cleanly, the name is free again.
		if err := pub.Close(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 2*time.Second, func() bool { return a.Stats().Publishers == 0 })
		if err := intruder.Publish(ctx, "dup"); err != nil {
			t.Fatalf("publish after the first publisher ended: %v", err)
		}
	})
}

// gopFrames is the number of video messages sendGOP sends.
const gopFrames = 5

// sendGOP publishes a sequence header and a GOP (a keyframe and three
// inter frames, 40 ms apart from ts) tagged with tag, and returns the last
// timestamp.
func sendGOP(t *testing.T, pub *rtmp.ClientConn, tag string, ts uint32) uint32 {
	t.Helper()
	for i, body := range gopBodies(tag) {
		if i > 1 {
			ts += 40
		}
		if err := pub.WriteVideo(ts, body); err != nil {
			t.Fatalf("publish GOP %q: %v", tag, err)
		}
	}
	return ts
}

// gopBodies are the video messages of sendGOP.
func gopBodies(tag string) [][]byte {
	b := [][]byte{avcSequenceHeader(tag), avcKeyframe(tag + "#1")}
	for i := 2; i < gopFrames; i++ {
		b = append(b, avcInterframe(fmt.Sprintf("%s#%d", tag, i)))
	}
	return b
}

// expectGOP reads the video messages of sendGOP(tag): nothing else may
// come in between once the first has arrived. With resumed, the stream
// continues after an end or a gap, and the timestamps must not go back
// before last; otherwise they must be those sent from last. It returns the
// timestamp of the first message.
func (p *testPlayer) expectGOP(t *testing.T, tag string, last uint32, resumed bool) uint32 {
	t.Helper()
	var first, prev uint32
	for i, want := range gopBodies(tag) {
		var m *rtmp.Message
		if i == 0 && !resumed {
			m = p.nextVideo(t, 5*time.Second) // after Play.Start and the like
		} else {
			m = p.next(t, 5*time.Second)
		}
		if m.Kind != rtmp.KindVideo || !bytes.Equal(m.Payload, want) {
			t.Fatalf("GOP %q message %d: got %s, want video %q", tag, i, describe(m), want[5:])
		}
		switch {
		case i == 0 && resumed:
			if m.Timestamp < last {
				t.Fatalf("GOP %q starts at %d ms, before the last timestamp %d the player had", tag, m.Timestamp, last)
			}
			first = m.Timestamp
		case i == 0:
			if m.Timestamp != last {
				t.Fatalf("GOP %q starts at %d ms, want %d", tag, m.Timestamp, last)
			}
			first = m.Timestamp
		case m.Timestamp < prev:
			t.Fatalf("GOP %q message %d at %d ms, before the previous one at %d", tag, i, m.Timestamp, prev)
		}
		prev = m.Timestamp
	}
	return first
}

// avcSequenceHeader, avcKeyframe and avcInterframe are AVC video messages
// whose data is tail: the edge forwards bytes, decodable or not.
func avcSequenceHeader(tail string) []byte {
	return append([]byte{0x17, 0x00, 0, 0, 0, 0x01, 0x64, 0x00, 0x1f}, tail...)
}

func avcKeyframe(tail string) []byte { return append([]byte{0x17, 0x01, 0, 0, 0}, tail...) }

func avcInterframe(tail string) []byte { return append([]byte{0x27, 0x01, 0, 0, 0}, tail...) }

// appURL returns the connect URL of application app on e; the stream name
// is given to Publish or Play.
func appURL(e *testEdge, app string) string {
	return "rtmp://" + e.Addr + "/" + url.PathEscape(app)
}

// publishOn connects our client to e and publishes app/name.
func publishOn(t testing.TB, ctx context.Context, e *testEdge, app, name string) *rtmp.ClientConn {
	t.Helper()
	c := dialClient(t, ctx, appURL(e, app))
	if err := c.Publish(ctx, name); err != nil {
		t.Fatalf("publish %q/%q on edge %s: %v", app, name, e.cfg.ID, err)
	}
	return c
}

// vanishingPublisher is our client publishing over a TCP connection that
// the test can drop without a word (a reset, no FCUnpublish), the way an
// encoder's network fails.
type vanishingPublisher struct {
	*rtmp.ClientConn
	mu  sync.Mutex
	tcp *net.TCPConn
}

// publishVanishing publishes app/name on e with a vanishingPublisher.
func publishVanishing(t testing.TB, ctx context.Context, e *testEdge, app, name string) *vanishingPublisher {
	t.Helper()
	v := &vanishingPublisher{}
	cfg := rtmp.ClientConfig{
		DisableReconnect: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			nc, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			v.mu.Lock()
			v.tcp, _ = nc.(*net.TCPConn)
			v.mu.Unlock()
			return nc, nil
		},
	}
	c, err := rtmp.Dial(ctx, appURL(e, app), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	v.ClientConn = c
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Publish(ctx, name); err != nil {
		t.Fatalf("publish %q/%q on edge %s: %v", app, name, e.cfg.ID, err)
	}
	return v
}

// vanish resets the publisher's TCP connection.
func (v *vanishingPublisher) vanish(t testing.TB) {
	t.Helper()
	v.mu.Lock()
	tcp := v.tcp
	v.mu.Unlock()
	if tcp == nil {
		t.Fatal("the publisher's connection is not TCP")
	}
	if err := tcp.SetLinger(0); err != nil {
		t.Fatal(err)
	}
	if err := tcp.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-v.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the publisher did not notice its connection was closed")
	}
}

// testPlayer is our client playing a stream. A goroutine reads its
// messages, so that tests can wait for them with a timeout, and for the
// absence of any.
type testPlayer struct {
	conn *rtmp.ClientConn
	msgs chan *rtmp.Message
	err  error           // why reading ended; set before msgs is closed
	back []*rtmp.Message // pushed back, returned first
}

// startPlayer connects our client to e and plays app/name until the end
// of the test.
func startPlayer(t testing.TB, ctx context.Context, e *testEdge, app, name string) *testPlayer {
	t.Helper()
	c := dialClient(t, ctx, appURL(e, app))
	if err := c.Play(ctx, name); err != nil {
		t.Fatalf("play %q/%q on edge %s: %v", app, name, e.cfg.ID, err)
	}
	p := &testPlayer{conn: c, msgs: make(chan *rtmp.Message, 1024)}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(p.msgs)
		for {
			m, err := c.ReadMessage()
			if err != nil {
				p.err = err
				return
			}
			select {
			case p.msgs <- m.Clone():
			case <-stop:
				return
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		c.Close()
		<-done
	})
	return p
}

// next returns the next message, failing the test if none arrives within
// d or the connection ends.
func (p *testPlayer) next(t testing.TB, d time.Duration) *rtmp.Message {
	t.Helper()
	if n := len(p.back); n > 0 {
		m := p.back[n-1]
		p.back = p.back[:n-1]
		return m
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case m, ok := <-p.msgs:
		if !ok {
			t.Fatalf("the player's connection ended: %v", p.err)
		}
		return m
	case <-timer.C:
		t.Fatalf("the player got nothing for %v", d)
	}
	return nil
}

// pushBack makes m the next message returned.
func (p *testPlayer) pushBack(m *rtmp.Message) { p.back = append(p.back, m) }

// nextVideo returns the next video message, skipping what comes before it
// except error statuses and the stream's end, which fail the test.
func (p *testPlayer) nextVideo(t testing.TB, d time.Duration) *rtmp.Message {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		m := p.next(t, max(time.Until(deadline), time.Millisecond))
		switch {
		case m.Kind == rtmp.KindVideo:
			return m
		case m.Kind == rtmp.KindStatus && (m.Status.Level == rtmp.LevelError || m.Status.Code == rtmp.CodePlayUnpublishNotify):
			t.Fatalf("waiting for video, the player got %s", describe(m))
		}
	}
}

// expectQuiet fails the test if the player receives anything within d.
func (p *testPlayer) expectQuiet(t testing.TB, d time.Duration) {
	t.Helper()
	if len(p.back) > 0 {
		t.Fatalf("the player has %s pending, want silence", describe(p.back[len(p.back)-1]))
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case m, ok := <-p.msgs:
		if !ok {
			t.Fatalf("the player's connection ended: %v", p.err)
		}
		t.Fatalf("the player got %s, want silence for %v", describe(m), d)
	case <-timer.C:
	}
}

// describe returns a short description of m for failure messages.
func describe(m *rtmp.Message) string {
	switch m.Kind {
	case rtmp.KindStatus:
		return fmt.Sprintf("status %s (%s)", m.Status.Code, m.Status.Level)
	case rtmp.KindVideo, rtmp.KindAudio, rtmp.KindData:
		n := min(len(m.Payload), 40)
		return fmt.Sprintf("%s at %d ms, %d bytes %q", m.Kind, m.Timestamp, len(m.Payload), m.Payload[:n])
	}
	return m.Kind.String()
}
