package edge

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/tributary-media/tributary/internal/testutil/etcdtest"
	"github.com/tributary-media/tributary/internal/testutil/natstest"
	"github.com/tributary-media/tributary/pkg/rtmp"
	"github.com/tributary-media/tributary/pkg/rtmp/flv"
)

// newTracing returns a tracer provider that records every span in the
// returned recorder.
func newTracing(t testing.TB) (*sdktrace.TracerProvider, *tracetest.SpanRecorder) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	return tp, sr
}

// awaitSpan waits until a span named name that match accepts (nil accepts
// any) has ended, and returns it.
func awaitSpan(t testing.TB, sr *tracetest.SpanRecorder, name string, match func(sdktrace.ReadOnlySpan) bool) sdktrace.ReadOnlySpan {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, s := range sr.Ended() {
			if s.Name() == name && (match == nil || match(s)) {
				return s
			}
		}
		if time.Now().After(deadline) {
			var names []string
			for _, s := range sr.Ended() {
				names = append(names, s.Name())
			}
			t.Fatalf("no ended span %s; ended: %v", name, names)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startedSpan returns the started span named name that match accepts.
func startedSpan(t testing.TB, sr *tracetest.SpanRecorder, name string, match func(sdktrace.ReadOnlySpan) bool) sdktrace.ReadOnlySpan {
	t.Helper()
	for _, s := range sr.Started() {
		if s.Name() == name && (match == nil || match(s)) {
			return s
		}
	}
	t.Fatalf("no span %s started", name)
	return nil
}

// childOf returns a matcher of the spans whose parent is p.
func childOf(p sdktrace.ReadOnlySpan) func(sdktrace.ReadOnlySpan) bool {
	return func(s sdktrace.ReadOnlySpan) bool { return s.Parent().SpanID() == p.SpanContext().SpanID() }
}

// attrOf returns the value of the attribute key of s.
func attrOf(s sdktrace.ReadOnlySpan, key attribute.Key) (attribute.Value, bool) {
	for _, kv := range s.Attributes() {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

// checkAttrs checks attributes of s: each want value is a string, an
// int, an int64, a bool, or a func(attribute.Value) bool.
func checkAttrs(t testing.TB, s sdktrace.ReadOnlySpan, want map[attribute.Key]any) {
	t.Helper()
	for k, w := range want {
		v, ok := attrOf(s, k)
		if !ok {
			t.Errorf("span %s: no attribute %s", s.Name(), k)
			continue
		}
		var good bool
		switch w := w.(type) {
		case string:
			good = v.Type() == attribute.STRING && v.AsString() == w
		case int:
			good = v.Type() == attribute.INT64 && v.AsInt64() == int64(w)
		case int64:
			good = v.Type() == attribute.INT64 && v.AsInt64() == w
		case bool:
			good = v.Type() == attribute.BOOL && v.AsBool() == w
		case func(attribute.Value) bool:
			good = w(v)
		}
		if !good {
			t.Errorf("span %s: attribute %s = %s (%v), want %v", s.Name(), k, v.Emit(), v.Type(), w)
		}
	}
}

// positive accepts a positive integer attribute.
func positive(v attribute.Value) bool { return v.Type() == attribute.INT64 && v.AsInt64() > 0 }

// contains accepts a string attribute containing sub.
func contains(sub string) func(attribute.Value) bool {
	return func(v attribute.Value) bool {
		return v.Type() == attribute.STRING && strings.Contains(v.AsString(), sub)
	}
}

// eventOf returns the first event of s named name.
func eventOf(s sdktrace.ReadOnlySpan, name string) (sdktrace.Event, bool) {
	for _, ev := range s.Events() {
		if ev.Name == name {
			return ev, true
		}
	}
	return sdktrace.Event{}, false
}

// eventAttr returns the value of attribute key of ev.
func eventAttr(ev sdktrace.Event, key attribute.Key) attribute.Value {
	for _, kv := range ev.Attributes {
		if kv.Key == key {
			return kv.Value
		}
	}
	return attribute.Value{}
}

// traceParentOf returns the W3C traceparent of a sampled span context.
func traceParentOf(sc trace.SpanContext) string {
	return "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-01"
}

// jsonLogs collects the lines of a slog JSON handler.
type jsonLogs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *jsonLogs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// logger returns a logger writing JSON lines to l.
func (l *jsonLogs) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// lines returns the log lines whose message is msg, decoded.
func (l *jsonLogs) lines(t testing.TB, msg string) []map[string]any {
	t.Helper()
	l.mu.Lock()
	data := append([]byte(nil), l.buf.Bytes()...)
	l.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// checkLogIDs checks that the log lines msg carry the trace and span ids
// of span, and that there is at least one.
func (l *jsonLogs) checkLogIDs(t testing.TB, msg string, span sdktrace.ReadOnlySpan) {
	t.Helper()
	lines := l.lines(t, msg)
	if len(lines) == 0 {
		t.Errorf("no log line %q", msg)
	}
	sc := span.SpanContext()
	for _, m := range lines {
		if m["trace_id"] != sc.TraceID().String() || m["span_id"] != sc.SpanID().String() {
			t.Errorf("log line %q: trace_id %v span_id %v, want those of span %s: %s %s",
				msg, m["trace_id"], m["span_id"], span.Name(), sc.TraceID(), sc.SpanID())
		}
	}
}

// Frames of a test stream: AVC sequence header, a keyframe, inter frames.
func testVideoFrames(n int) [][]byte {
	frames := [][]byte{{0x17, 0x00, 0, 0, 0, 0x01, 0x64, 0x00, 0x1f}, {0x17, 0x01, 0, 0, 0, 0xaa}}
	for len(frames) < n {
		frames = append(frames, []byte{0x27, 0x01, 0, 0, 0, 0xbb, byte(len(frames))})
	}
	return frames
}

// aacSequenceHeader is a legacy AAC sequence header (AAC-LC, 44.1 kHz,
// stereo).
var aacSequenceHeader = []byte{0xaf, 0x00, 0x12, 0x10}

// TestTraceSessionsAcrossEdges publishes on edge A and plays on edge B,
// each with its own tracer provider, and checks the spans of both
// sessions: the tree, the attributes, the play's link to the publish
// through the bus, the fast start served, the close reasons, and the
// trace and span ids of the session's log lines.
func TestTraceSessionsAcrossEdges(t *testing.T) {
	ns := natstest.Start(t, natstest.Options{})
	tpA, srA := newTracing(t)
	tpB, srB := newTracing(t)
	logsA, logsB := &jsonLogs{}, &jsonLogs{}
	a := startEdge(t, ns, "a", func(c *Config) { c.TracerProvider = tpA; c.Logger = logsA.logger() })
	b := startEdge(t, ns, "b", func(c *Config) { c.TracerProvider = tpB; c.Logger = logsB.logger() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	const n = 12
	pub := dialClient(t, ctx, a.URL("live", "m"))
	if err := pub.Publish(ctx, "m"); err != nil {
		t.Fatal(err)
	}
	if err := pub.WriteAudio(0, aacSequenceHeader); err != nil {
		t.Fatal(err)
	}
	for i, f := range testVideoFrames(n) {
		if err := pub.WriteVideo(uint32(i*40), f); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, func() bool { return a.Stats().FramesIn == n+1 })

	play := dialClient(t, ctx, b.URL("live", "m"))
	if err := play.Play(ctx, "m"); err != nil {
		t.Fatal(err)
	}
	readVideoN(t, play, n)
	play.Close()
	bPlay := awaitSpan(t, srB, spanPlay, nil)
	bSession := awaitSpan(t, srB, spanSession, nil)
	pub.Close()
	aSession := awaitSpan(t, srA, spanSession, nil)
	aPublish := awaitSpan(t, srA, spanPublish, nil)

	// Edge A: the publisher's session.
	if aSession.SpanKind() != trace.SpanKindServer || aSession.Parent().IsValid() {
		t.Errorf("A's session span: kind %v, parent %v; want a server span at the root", aSession.SpanKind(), aSession.Parent())
	}
	checkAttrs(t, aSession, map[attribute.Key]any{
		keyClientAddress: "127.0.0.1", keyClientPort: positive, keyApp: "live",
		keyTCURL: "rtmp://" + a.Addr + "/live", keyFlashVer: contains(""), keyHandshake: contains(""),
		keyEnhanced: func(v attribute.Value) bool { return v.Type() == attribute.BOOL },
		keyEdgeID:   "a", keyCloseReason: contains("closed by the peer"),
		keyBytesIn: positive, keyBytesOut: positive,
	})
	if v, _ := attrOf(aSession, keyHandshake); v.AsString() != "simple" && v.AsString() != "digest" {
		t.Errorf("rtmp.handshake = %q, want simple or digest", v.AsString())
	}
	if st := aSession.Status(); st.Code != codes.Unset {
		t.Errorf("A's session span status %v, want unset for a normal close", st)
	}
	hs := awaitSpan(t, srA, spanHandshake, childOf(aSession))
	conn := awaitSpan(t, srA, spanConnect, childOf(aSession))
	if hs.StartTime().Before(aSession.StartTime()) || hs.EndTime().Before(hs.StartTime()) ||
		conn.StartTime().Before(hs.EndTime()) || conn.EndTime().After(aPublish.StartTime()) {
		t.Errorf("span times out of order: session from %v, handshake %v to %v, connect %v to %v, publish from %v",
			aSession.StartTime(), hs.StartTime(), hs.EndTime(), conn.StartTime(), conn.EndTime(), aPublish.StartTime())
	}
	checkAttrs(t, conn, map[attribute.Key]any{keyStatusCode: rtmp.CodeConnectSuccess, keyApp: "live"})
	if !childOf(aSession)(aPublish) {
		t.Errorf("A's publish span's parent is %v, want the session span", aPublish.Parent())
	}
	checkAttrs(t, aPublish, map[attribute.Key]any{
		keyRTMPStream: "m", keyStream: "live/m", keyEpoch: positive,
		keyVideoCodec: "avc", keyAudioCodec: "aac",
		keyFramesIn: n + 1, keyBytesInStream: positive, keyEndReason: "unpublished", keyClean: true,
		keyInitServed: 1,
	})
	epoch, _ := attrOf(aPublish, keyEpoch)
	if ev, ok := eventOf(aPublish, "claim"); !ok || eventAttr(ev, keyEpoch) != epoch {
		t.Errorf("A's publish span: claim event %v (found %v), want one with the epoch %d", ev, ok, epoch.AsInt64())
	}
	served, ok := eventOf(aPublish, "bus.init_served")
	if !ok {
		t.Error("A's publish span has no bus.init_served event")
	} else if got, want := eventAttr(served, keyTraceParent).AsString(), traceParentOf(bPlay.SpanContext()); got != want {
		t.Errorf("bus.init_served: subscriber traceparent %q, want B's play span %q", got, want)
	}

	// Edge B: the player's session, its play linked to A's publish.
	checkAttrs(t, bSession, map[attribute.Key]any{keyEdgeID: "b", keyApp: "live", keyCloseReason: contains("closed by the peer")})
	if !childOf(bSession)(bPlay) {
		t.Errorf("B's play span's parent is %v, want the session span", bPlay.Parent())
	}
	if bPlay.SpanContext().TraceID() == aPublish.SpanContext().TraceID() {
		t.Error("B's play is in the trace of A's publish: each session is its own trace")
	}
	checkAttrs(t, bPlay, map[attribute.Key]any{
		keyRTMPStream: "m", keyStream: "live/m", keyFramesSent: func(v attribute.Value) bool { return v.AsInt64() >= n },
		keyTTFF:      func(v attribute.Value) bool { return v.Type() == attribute.FLOAT64 && v.AsFloat64() > 0 },
		keyEndReason: "player left",
	})
	links := bPlay.Links()
	if len(links) != 1 {
		t.Fatalf("B's play span has %d links, want 1", len(links))
	}
	l := links[0]
	if l.SpanContext.TraceID() != aPublish.SpanContext().TraceID() || l.SpanContext.SpanID() != aPublish.SpanContext().SpanID() {
		t.Errorf("B's play links to %s/%s, want A's publish span %s/%s", l.SpanContext.TraceID(), l.SpanContext.SpanID(),
			aPublish.SpanContext().TraceID(), aPublish.SpanContext().SpanID())
	}
	linkAttrs := attribute.NewSet(l.Attributes...)
	if v, _ := linkAttrs.Value(keyLink); v.AsString() != "bus" {
		t.Errorf("link attribute tributary.link = %q, want bus", v.AsString())
	}
	if v, _ := linkAttrs.Value(keyEpoch); v != epoch {
		t.Errorf("link attribute tributary.epoch = %d, want the publish's %d", v.AsInt64(), epoch.AsInt64())
	}

	// The logs of a session carry its trace id, and the span id of what
	// they tell.
	logsA.checkLogIDs(t, "client connected", aSession)
	logsA.checkLogIDs(t, "publish started", aPublish)
	logsA.checkLogIDs(t, "publish ended", aPublish)
	logsB.checkLogIDs(t, "client connected", bSession)
	logsB.checkLogIDs(t, "play started", bPlay)
	logsB.checkLogIDs(t, "play ended", bPlay)
}

// TestTraceAbnormalClose checks that a session that ends abnormally (a
// protocol violation) ends its span with an error status and the server's
// close reason.
func TestTraceAbnormalClose(t *testing.T) {
	ns := natstest.Start(t, natstest.Options{})
	tp, sr := newTracing(t)
	e := startEdge(t, ns, "a", func(c *Config) { c.TracerProvider = tp })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	_, raw := dialRaw(t, ctx, e.URL("live", "x"))
	local := raw.LocalAddr().String()
	raw.Write([]byte{0xC9, 1, 2, 3}) // fmt 3 on chunk stream 9, which never had a header
	if err := awaitServerClose(raw, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	s := awaitSpan(t, sr, spanSession, func(s sdktrace.ReadOnlySpan) bool {
		v, _ := attrOf(s, keyClientPort)
		return strings.HasSuffix(local, ":"+v.Emit())
	})
	checkAttrs(t, s, map[attribute.Key]any{keyCloseReason: contains("protocol error")})
	if st := s.Status(); st.Code != codes.Error || !strings.Contains(st.Description, "protocol error") {
		t.Errorf("session span status %+v, want an error naming the protocol error", st)
	}
}

// TestTraceClusterTakeover publishes a stream on edge A, then on edge B
// under the takeover policy, and checks the cluster spans (claim,
// takeover, release as children of the publish spans), the events on the
// publish spans, and the claim counters.
func TestTraceClusterTakeover(t *testing.T) {
	ns := natstest.Start(t, natstest.Options{})
	es := etcdtest.Start(t, etcdtest.Options{})
	tpA, srA := newTracing(t)
	tpB, srB := newTracing(t)
	regA, regB := prometheus.NewRegistry(), prometheus.NewRegistry()
	a := startClusterEdge(t, ns, es, "a", clusterOpts{Policy: PolicyTakeover, TracerProvider: tpA},
		func(c *Config) { c.TracerProvider = tpA; c.Metrics = regA })
	b := startClusterEdge(t, ns, es, "b", clusterOpts{Policy: PolicyTakeover, TracerProvider: tpB},
		func(c *Config) { c.TracerProvider = tpB; c.Metrics = regB })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	p1 := dialClient(t, ctx, a.URL("live", "t"))
	if err := p1.Publish(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	aPublishLive := startedSpan(t, srA, spanPublish, nil)
	aClaim := awaitSpan(t, srA, spanClaim, childOf(aPublishLive))
	checkAttrs(t, aClaim, map[attribute.Key]any{keyClaimResult: "granted", keyStream: "live/t", keyEdgeID: "a", keyEpoch: positive})
	epochA, _ := attrOf(aClaim, keyEpoch)

	p2 := dialClient(t, ctx, b.URL("live", "t"))
	if err := p2.Publish(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	bPublishLive := startedSpan(t, srB, spanPublish, nil)
	bClaim := awaitSpan(t, srB, spanClaim, childOf(bPublishLive))
	checkAttrs(t, bClaim, map[attribute.Key]any{keyClaimResult: "owned", keyOwnerEdge: "a", keyOwnerEpoch: epochA.AsInt64()})
	bTakeover := awaitSpan(t, srB, spanTakeover, childOf(bPublishLive))
	checkAttrs(t, bTakeover, map[attribute.Key]any{keyTakeoverResult: "granted", keyTakeoverReason: "takeover policy",
		keyOwnerEdge: "a", keyEpoch: positive})
	if ev, ok := eventOf(bPublishLive, "takeover"); !ok || eventAttr(ev, keyOwnerEdge).AsString() != "a" {
		t.Errorf("B's publish span: takeover event %v (found %v), want one naming edge a", ev, ok)
	}

	// A's publisher is closed: its publish span tells why, and releases
	// the claim in a child span.
	aPublish := awaitSpan(t, srA, spanPublish, nil)
	if ev, ok := eventOf(aPublish, "claim_lost"); !ok || !strings.Contains(eventAttr(ev, keyLostReason).AsString(), "taken over") {
		t.Errorf("A's publish span: claim_lost event %v (found %v), want a takeover", ev, ok)
	}
	awaitSpan(t, srA, spanRelease, childOf(aPublish))
	aSession := awaitSpan(t, srA, spanSession, nil)
	if st := aSession.Status(); st.Code != codes.Error || !strings.Contains(st.Description, "taken over") {
		t.Errorf("A's session span status %+v, want an error naming the takeover", st)
	}

	fa, fb := scrape(t, regA), scrape(t, regB)
	for _, c := range []struct {
		fams   string
		name   string
		labels []string
		want   float64
	}{
		{"a", "tributary_edge_claims_total", []string{"result", "granted"}, 1},
		{"a", "tributary_edge_claims_total", []string{"result", "busy"}, 0},
		{"a", "tributary_edge_claims_lost_total", []string{"reason", "taken_over"}, 1},
		{"a", "tributary_edge_claims_lost_total", []string{"reason", "lease_lost"}, 0},
		{"a", "tributary_edge_takeovers_total", nil, 0},
		{"b", "tributary_edge_claims_total", []string{"result", "granted"}, 1},
		{"b", "tributary_edge_takeovers_total", nil, 1},
		{"b", "tributary_edge_lease_losses_total", nil, 0},
	} {
		fams := fa
		if c.fams == "b" {
			fams = fb
		}
		if v := mustValue(t, fams, c.name, c.labels...); v != c.want {
			t.Errorf("%s: %s%v = %v, want %v", c.fams, c.name, c.labels, v, c.want)
		}
	}
	p2.Close()
	awaitSpan(t, srB, spanRelease, childOf(bPublishLive))
}

// TestTracedFramePathAllocations checks that tracing adds no allocation
// per frame: the publish path looks for codecs, the play path for a new
// publish to link to, and neither allocates while nothing changes.
func TestTracedFramePathAllocations(t *testing.T) {
	tp, _ := newTracing(t)
	_, span := tp.Tracer("test").Start(context.Background(), "frames")
	defer span.End()
	inter := []byte{0x27, 0x01, 0, 0, 0, 0xbb, 0xcc}
	aacRaw := []byte{0xaf, 0x01, 0x21, 0x10}
	p := &publication{span: span, traced: true}
	p.noteCodecs(flv.TagVideo, testVideoFrames(1)[0])
	p.noteCodecs(flv.TagAudio, aacSequenceHeader)
	if got := testing.AllocsPerRun(1000, func() {
		p.noteCodecs(flv.TagVideo, inter)
		p.noteCodecs(flv.TagAudio, aacRaw)
	}); got != 0 {
		t.Errorf("the publish path allocates %.2f times per frame for tracing", got)
	}
	if p.vcodec != flv.CodecAVC || p.acodec != flv.CodecAAC {
		t.Errorf("codecs %v and %v, want avc and aac", p.vcodec, p.acodec)
	}

	r := &relay{}
	r.noteTrace(7, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	k := &playSink{r: r, span: span, written: true}
	k.traceFrame()
	if got := testing.AllocsPerRun(1000, k.traceFrame); got != 0 {
		t.Errorf("the play path allocates %.2f times per frame for tracing", got)
	}
	if k.links != 1 {
		t.Errorf("%d links after frames of one publish, want 1", k.links)
	}
}
