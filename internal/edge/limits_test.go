package edge

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/tributary-media/tributary/internal/testutil"
	"github.com/tributary-media/tributary/internal/testutil/natstest"
	"github.com/tributary-media/tributary/pkg/rtmp"
	"github.com/tributary-media/tributary/pkg/rtmp/handshake"
)

// dialFrom dials and connects our client to url from the loopback address
// local; the connection is closed at the end of the test.
func dialFrom(t testing.TB, ctx context.Context, local, url string) (*rtmp.ClientConn, error) {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	c, err := rtmp.Dial(ctx, url, rtmp.ClientConfig{DialContext: d.DialContext})
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Connect(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// limitRefusals returns the edge's tributary_edge_limit_refusals_total
// for limit.
func limitRefusals(t testing.TB, reg *prometheus.Registry, limit string) float64 {
	t.Helper()
	return mustValue(t, scrape(t, reg), "tributary_edge_limit_refusals_total", "limit", limit)
}

// keepPlaying checks that the frames pub writes reach play, in order.
func keepPlaying(pub, play *rtmp.ClientConn, from, n int) error {
	errc := make(chan error, 1)
	go func() {
		for i := from; i < from+n; i++ {
			if err := pub.WriteVideo(uint32(i*40), []byte{0x27, 0x01, 0, 0, 0, byte(i)}); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	for i := from; i < from+n; {
		m, err := play.ReadMessage()
		if err != nil {
			return fmt.Errorf("player: %w", err)
		}
		if m.Kind != rtmp.KindVideo || m.Payload[0] != 0x27 {
			continue
		}
		if got := int(m.Payload[5]); got != i%256 {
			return fmt.Errorf("player got frame %d, want %d", got, i%256)
		}
		i++
	}
	if err := <-errc; err != nil {
		return fmt.Errorf("publisher: %w", err)
	}
	return nil
}

// startStream publishes name on te from local with a sequence header and
// a keyframe, and plays it from local on another connection, once the
// keyframe has arrived.
func startStream(t *testing.T, ctx context.Context, te *testEdge, local, name string) (pub, play *rtmp.ClientConn) {
	t.Helper()
	pub, err := dialFrom(t, ctx, local, te.URL("live", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(ctx, name); err != nil {
		t.Fatal(err)
	}
	for _, f := range testVideoFrames(2) {
		if err := pub.WriteVideo(0, f); err != nil {
			t.Fatal(err)
		}
	}
	play, err = dialFrom(t, ctx, local, te.URL("live", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := play.Play(ctx, name); err != nil {
		t.Fatal(err)
	}
	readVideoN(t, play, 2)
	return pub, play
}

// TestConnLimits: connections over the per-address limit (127.0.0.1 and
// 127.0.0.2 are two addresses of the loopback) and over the total are
// closed at accept, counted and logged with their reason, while the
// sessions already open keep streaming; a slot freed is taken again.
func TestConnLimits(t *testing.T) {
	ns := natstest.Start(t, natstest.Options{})
	reg := prometheus.NewRegistry()
	logs := &jsonLogs{}
	te := startEdge(t, ns, "a", func(c *Config) {
		c.MaxConns = 4
		c.MaxConnsPerIP = 2
		c.Metrics = reg
		c.Logger = logs.logger()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url := te.URL("live", "x")

	pub, play := startStream(t, ctx, te, "127.0.0.1", "x")
	if _, err := dialFrom(t, ctx, "127.0.0.1", url); err == nil {
		t.Fatal("a third connection from 127.0.0.1 was served with -max-conns-per-ip 2")
	}
	other, err := dialFrom(t, ctx, "127.0.0.2", url)
	if err != nil {
		t.Fatalf("a connection from 127.0.0.2 was refused: %v", err)
	}
	if _, err := dialFrom(t, ctx, "127.0.0.2", url); err != nil {
		t.Fatalf("a second connection from 127.0.0.2 was refused: %v", err)
	}
	if _, err := dialFrom(t, ctx, "127.0.0.3", url); err == nil {
		t.Fatal("a fifth connection was served with -max-conns 4")
	}
	if err := keepPlaying(pub, play, 2, 50); err != nil {
		t.Fatal(err)
	}

	if got := limitRefusals(t, reg, "max_conns_per_ip"); got != 1 {
		t.Errorf("max_conns_per_ip refusals = %v, want 1", got)
	}
	if got := limitRefusals(t, reg, "max_conns"); got != 1 {
		t.Errorf("max_conns refusals = %v, want 1", got)
	}
	lines := logs.lines(t, "connection refused")
	if len(lines) != 2 || lines[0]["limit"] != "max_conns_per_ip" || lines[0]["reason"] != "too many connections from this client address" ||
		lines[1]["limit"] != "max_conns" || !strings.HasPrefix(fmt.Sprint(lines[1]["remote"]), "127.0.0.3:") {
		t.Errorf("refusal log lines: %v", lines)
	}

	// A connection that ends frees its slot.
	other.Close()
	waitFor(t, 10*time.Second, func() bool {
		_, err := dialFrom(t, ctx, "127.0.0.3", url)
		return err == nil
	})
}

// TestStreamLimits: a publish over -max-publishers gets
// NetStream.Publish.Failed and a play over -max-players-per-stream
// NetStream.Play.Failed, on connections that stay usable, while the
// stream keeps playing; a slot freed is taken again.
func TestStreamLimits(t *testing.T) {
	ns := natstest.Start(t, natstest.Options{})
	reg := prometheus.NewRegistry()
	logs := &jsonLogs{}
	te := startEdge(t, ns, "a", func(c *Config) {
		c.MaxPublishers = 1
		c.MaxPlayersPerStream = 2
		c.Metrics = reg
		c.Logger = logs.logger()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	pub, play := startStream(t, ctx, te, "127.0.0.1", "x")
	second := dialClient(t, ctx, te.URL("live", "y"))
	err := second.Publish(ctx, "y")
	var se *rtmp.StatusError
	if !errors.Is(err, rtmp.ErrPublishFailed) || !errors.As(err, &se) || !strings.Contains(se.Description, "too many publishers") {
		t.Fatalf("second publish: %v, want NetStream.Publish.Failed saying there are too many publishers", err)
	}

	play2 := dialClient(t, ctx, te.URL("live", "x"))
	if err := play2.Play(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	play3 := dialClient(t, ctx, te.URL("live", "x"))
	err = play3.Play(ctx, "x")
	if !errors.Is(err, rtmp.ErrPlayFailed) || !errors.As(err, &se) || !strings.Contains(se.Description, "too many players") {
		t.Fatalf("third play: %v, want NetStream.Play.Failed saying there are too many players", err)
	}
	// Another stream has players of its own.
	if err := dialClient(t, ctx, te.URL("live", "z")).Play(ctx, "z"); err != nil {
		t.Fatalf("play of another stream: %v", err)
	}
	if err := keepPlaying(pub, play, 2, 50); err != nil {
		t.Fatal(err)
	}
	if got, want := te.Stats(), (Stats{Publishers: 1, Players: 3}); got.Publishers != want.Publishers || got.Players != want.Players {
		t.Fatalf("publishers %d players %d, want %d and %d", got.Publishers, got.Players, want.Publishers, want.Players)
	}
	fams := scrape(t, reg)
	for _, c := range []struct {
		name  string
		value float64
		lv    []string
	}{
		{"tributary_edge_limit_refusals_total", 1, []string{"limit", "max_publishers"}},
		{"tributary_edge_limit_refusals_total", 1, []string{"limit", "max_players_per_stream"}},
		{"tributary_edge_publishes_total", 1, []string{"result", "rejected"}},
		{"tributary_edge_plays_total", 1, []string{"result", "rejected"}},
	} {
		if got := mustValue(t, fams, c.name, c.lv...); got != c.value {
			t.Errorf("%s%v = %v, want %v", c.name, c.lv, got, c.value)
		}
	}
	if l := logs.lines(t, "publish rejected"); len(l) != 1 || l[0]["limit"] != "max_publishers" || l[0]["stream"] != "live/y" {
		t.Errorf("publish refusal log lines: %v", l)
	}
	if l := logs.lines(t, "play rejected"); len(l) != 1 || l[0]["limit"] != "max_players_per_stream" || l[0]["stream"] != "live/x" {
		t.Errorf("play refusal log lines: %v", l)
	}

	// The refused connections retry once slots are free.
	pub.Close()
	waitFor(t, 10*time.Second, func() bool { return te.Stats().Publishers == 0 })
	if err := second.Publish(ctx, "y"); err != nil {
		t.Fatalf("publish after the first publisher left: %v", err)
	}
	play2.Close()
	waitFor(t, 10*time.Second, func() bool { return te.StreamStats()[StreamKey{App: "live", Name: "x"}].Players == 1 })
	if err := play3.Play(ctx, "x"); err != nil {
		t.Fatalf("play after a player left: %v", err)
	}
}

// TestSlowLoris: peers that stall in the handshake, or complete it and
// never send connect, are closed by the handshake and connect timeouts,
// counted, and logged at most once a second per timeout with the count of
// the others, while a stream plays through the same edge.
func TestSlowLoris(t *testing.T) {
	const (
		handshakeTimeout = time.Second
		connectTimeout   = 500 * time.Millisecond
		peers            = 15 // of each kind
	)
	ns := natstest.Start(t, natstest.Options{})
	reg := prometheus.NewRegistry()
	logs := &jsonLogs{}
	te := startEdge(t, ns, "a", func(c *Config) {
		c.HandshakeTimeout = handshakeTimeout
		c.ConnectTimeout = connectTimeout
		c.Metrics = reg
		c.Logger = logs.logger()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pub, play := startStream(t, ctx, te, "127.0.0.1", "x")

	// The stream plays throughout.
	playing := make(chan struct{})
	go func() {
		defer close(playing)
		for i := 2; i < 102; i += 10 {
			if err := keepPlaying(pub, play, i, 10); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(25 * time.Millisecond)
		}
	}()

	var wg sync.WaitGroup
	for i := range 2 * peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nc, err := net.Dial("tcp", te.Addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer nc.Close()
			start, bound := time.Now(), handshakeTimeout
			if i%2 == 0 {
				nc.Write([]byte{3}) // C0, then nothing
			} else {
				nc.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := handshake.Client(nc, handshake.ClientConfig{}); err != nil {
					t.Errorf("handshake: %v", err)
					return
				}
				start, bound = time.Now(), connectTimeout
			}
			nc.SetDeadline(time.Now().Add(bound + 5*time.Second))
			buf := make([]byte, 4096)
			for {
				if _, err := nc.Read(buf); err != nil {
					var ne net.Error
					if errors.As(err, &ne) && ne.Timeout() {
						t.Errorf("peer %d still open %v after its timeout", i, 5*time.Second)
					}
					break
				}
			}
			if d := time.Since(start); d < bound-50*time.Millisecond {
				t.Errorf("peer %d closed after %v, before its timeout of %v", i, d, bound)
			}
		}()
	}
	wg.Wait()
	<-playing

	for _, limit := range []string{"handshake_timeout", "connect_timeout"} {
		waitFor(t, 5*time.Second, func() bool { return limitRefusals(t, reg, limit) == peers })
		// The first close is logged alone, the others counted in one or
		// two lines at the end of the second (the closes may straddle
		// two).
		var lines, total int
		count := func() bool {
			lines, total = 0, 0
			for _, l := range logs.lines(t, "connection closed") {
				if l["limit"] != limit {
					continue
				}
				lines++
				if n, ok := l["more"].(float64); ok {
					total += int(n)
				} else {
					total++
				}
			}
			return total == peers
		}
		deadline := time.Now().Add(3 * limitLogPeriod)
		for !count() && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if lines < 2 || lines > 4 || total != peers {
			t.Errorf("%s: %d log lines for %d closes, want 2 to 4 lines for %d:\n%v", limit, lines, total, peers,
				logs.lines(t, "connection closed"))
		}
	}
	if l := logs.lines(t, "rtmp: connection closed"); len(l) > 0 {
		t.Errorf("%d closes logged one by one: %v", len(l), l)
	}
}

// TestPublishBitrateLimit: our client publishing far over
// -max-publish-bitrate is disconnected with NetStream.Publish.Failed, a
// logged reason and an Error status on its publish span; ffmpeg
// publishing a real stream in real time under the same limit is not, and
// its player gets every frame.
func TestPublishBitrateLimit(t *testing.T) {
	const limit = 1_000_000 // bit/s; the clip is some 400 kbit/s
	ns := natstest.Start(t, natstest.Options{})
	reg := prometheus.NewRegistry()
	logs := &jsonLogs{}
	tp, sr := newTracing(t)
	te := startEdge(t, ns, "a", func(c *Config) {
		c.MaxPublishBitrate = limit
		c.Metrics = reg
		c.Logger = logs.logger()
		c.TracerProvider = tp
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	t.Run("fast", func(t *testing.T) {
		pub := dialClient(t, ctx, te.URL("live", "fast"))
		if err := pub.Publish(ctx, "fast"); err != nil {
			t.Fatal(err)
		}
		frame := make([]byte, 32<<10)
		frame[0], frame[1] = 0x17, 0x01
		start := time.Now()
		var werr error
		for i := 0; werr == nil && time.Since(start) < 10*time.Second; i++ {
			werr = pub.WriteVideo(uint32(i), frame)
		}
		if werr == nil {
			t.Fatal("the publisher was not disconnected within 10 s")
		}
		select {
		case <-pub.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("the client did not end")
		}
		// The status precedes the close by closeLinger, while the edge
		// goes on reading: the client reads it before any reset.
		t.Logf("the publisher ended with %v after %v", pub.Err(), time.Since(start))
		if se := (*rtmp.StatusError)(nil); !errors.As(pub.Err(), &se) || se.Code != rtmp.CodePublishFailed ||
			!strings.Contains(se.Description, "bit rate is over this server's limit of 1Mbps") {
			t.Errorf("the publisher ended with %v, want NetStream.Publish.Failed naming the limit", pub.Err())
		}
		span := awaitSpan(t, sr, spanPublish, func(s sdktrace.ReadOnlySpan) bool {
			v, _ := attrOf(s, keyRTMPStream)
			return v.AsString() == "fast"
		})
		if span.Status().Code != codes.Error || !strings.Contains(span.Status().Description, "bit rate over the limit of 1Mbps") {
			t.Errorf("publish span status %v, want an Error naming the limit", span.Status())
		}
		if got := limitRefusals(t, reg, "max_publish_bitrate"); got != 1 {
			t.Errorf("max_publish_bitrate refusals = %v, want 1", got)
		}
		l := logs.lines(t, "publisher disconnected")
		if len(l) != 1 || l[0]["limit"] != "max_publish_bitrate" || l[0]["stream"] != "live/fast" ||
			!strings.Contains(fmt.Sprint(l[0]["reason"]), "publish bit rate over the limit of 1Mbps") {
			t.Errorf("log lines: %v", l)
		}
	})

	t.Run("ffmpeg", func(t *testing.T) {
		src := testutil.GenerateFLV(t, ffmpegClip)
		sent := testutil.Probe(t, src)
		out := t.TempDir() + "/played.flv"
		play := testutil.FFmpegPlay(t, ctx, te.URL("live", "real"), out, 0)
		if err := play.WaitStderr(testutil.FFmpegPlaySent, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, func() bool { return te.Stats().PlaysAccepted > 0 })
		pub := testutil.FFmpegPublish(t, ctx, src, te.URL("live", "real"), "-rw_timeout", ffmpegIOTimeout)
		if err := pub.Wait(ffmpegClip.Duration + 30*time.Second); err != nil {
			t.Fatalf("ffmpeg publish: %v", err)
		}
		waitPlayerExit(t, "real", play)
		got := testutil.Probe(t, out)
		checkFrames(t, "video", got.VideoFrames, sent.VideoFrames)
		if n := limitRefusals(t, reg, "max_publish_bitrate"); n != 1 {
			t.Errorf("max_publish_bitrate refusals = %v after the ffmpeg publish, want the fast publisher's 1", n)
		}
	})
}

// TestRateMeter: a publisher at the limit is never over it; one at 1.25
// times the limit is once the window is full; a keyframe of most of the
// burst allowance on top of a steady stream at the limit is not.
func TestRateMeter(t *testing.T) {
	const bps = 8_000_000 // 1 MB/s
	e := &Edge{cfg: Config{MaxPublishBitrate: bps}}
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	e.now = func() time.Time { return t0 }
	// run feeds 25 frames a second of rate bytes/s for d and returns
	// when the meter first said over, or -1.
	run := func(m *rateMeter, rate float64, d time.Duration, extra map[int]int) time.Duration {
		frame := int(rate / 25)
		for i := 0; time.Duration(i)*40*time.Millisecond < d; i++ {
			at := time.Duration(i) * 40 * time.Millisecond
			if !m.add(t0.Add(at), frame+extra[i]) {
				return at
			}
		}
		return -1
	}
	if at := run(e.newRateMeter(), 1e6, time.Minute, nil); at >= 0 {
		t.Errorf("a publisher at the limit was over it at %v", at)
	}
	at := run(e.newRateMeter(), 1.25e6, time.Minute, nil)
	if at < bitrateWindow-time.Second || at > bitrateWindow+time.Second {
		t.Errorf("a publisher at 1.25 times the limit was over it at %v, want about %v", at, bitrateWindow)
	}
	// A keyframe of 0.9 s of the limit every 2 s on top of the stream
	// at 0.5 times the limit.
	keys := map[int]int{}
	for i := 0; i < 25*60; i += 50 {
		keys[i] = 900_000
	}
	if at := run(e.newRateMeter(), 0.5e6, time.Minute, keys); at >= 0 {
		t.Errorf("a stream with large keyframes was over the limit at %v", at)
	}
	if at := run(e.newRateMeter(), 10e6, time.Minute, nil); at < 0 || at > time.Second {
		t.Errorf("a publisher at 10 times the limit was over it at %v, want within 1 s", at)
	}
	if (&Edge{}).newRateMeter() != nil {
		t.Error("a meter without a limit")
	}
}

// TestRateLog: a burst of events of one key is logged as its first event
// and one summary with the count of the others at the end of the period;
// another key is logged on its own; flush logs a pending summary at once.
func TestRateLog(t *testing.T) {
	var (
		mu    sync.Mutex
		lines []string
	)
	logf := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, fmt.Sprintf(format, args...))
	}
	get := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), lines...)
	}
	var r rateLog
	event := func(key string, i int) {
		r.event(key, func() { logf("%s %d", key, i) }, func(n int) { logf("%s +%d", key, n) })
	}
	for i := range 10 {
		event("a", i)
	}
	event("b", 0)
	if got := get(); len(got) != 2 || got[0] != "a 0" || got[1] != "b 0" {
		t.Fatalf("lines %q, want the first of each key", got)
	}
	waitFor(t, 3*limitLogPeriod, func() bool { return len(get()) == 3 })
	if got := get(); got[2] != "a +9" {
		t.Fatalf("summary %q, want a +9", got[2])
	}
	// Within the period after the summary, events wait for the next one.
	event("a", 10)
	event("a", 11)
	r.flush()
	if got := get(); len(got) != 4 || got[3] != "a +2" {
		t.Fatalf("lines after flush %q, want a +2 last", got)
	}
	r.flush()
	time.Sleep(limitLogPeriod + 100*time.Millisecond)
	if got := get(); len(got) != 4 {
		t.Fatalf("lines %q after the flush, want no more", got)
	}
}
