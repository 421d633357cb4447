package main

import (
	"bufio"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tributary-media/tributary/internal/testutil"
	"github.com/tributary-media/tributary/internal/testutil/otlptest"
)

// inProcessEdge is an edge started through run in this process.
type inProcessEdge struct {
	log    *testutil.SyncBuffer
	cancel context.CancelFunc
	done   chan int
}

// startEdge runs the edge program in-process with args and environ; it is
// stopped when the test ends if the test has not stopped it.
func startEdge(t *testing.T, args, environ []string) *inProcessEdge {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e := &inProcessEdge{log: new(testutil.SyncBuffer), cancel: cancel, done: make(chan int, 1)}
	go func() { e.done <- run(ctx, args, environ, e.log) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-e.done:
		case <-time.After(30 * time.Second):
			t.Error("edge did not stop")
		}
	})
	return e
}

// stop stops the edge like a SIGTERM and checks it exits with status 0.
func (e *inProcessEdge) stop(t *testing.T) {
	t.Helper()
	e.cancel()
	select {
	case code := <-e.done:
		e.done <- code // for the clean-up
		if code != 0 {
			t.Fatalf("edge exited with status %d; log:\n%s", code, e.log.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("edge did not stop; log:\n%s", e.log.String())
	}
}

// TestTracesAcrossEdges runs two edges in-process, sharing edge a's
// embedded NATS and etcd, configured for tracing by nothing but
// OTEL_EXPORTER_OTLP_ENDPOINT pointing at a real OTLP/gRPC receiver.
// ffmpeg publishes to a and plays from b. The receiver gets each edge's
// rtmp.session span with its children, b's rtmp.play is linked through the
// bus to a's rtmp.publish, the in-process controller's API request spans
// honour an incoming traceparent, and b's log lines written inside the
// play carry its trace id.
func TestTracesAcrossEdges(t *testing.T) {
	testutil.RequireTool(t, "ffmpeg")
	media := testutil.GenerateFLV(t, testutil.MediaOptions{Duration: 3 * time.Second})
	recv := otlptest.Start(t)
	environ := []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + recv.Endpoint()}

	natsAddr, etcdAddr, ctlAddr := testutil.FreeAddr(t), testutil.FreeAddr(t), testutil.FreeAddr(t)
	rtmpA, httpA := testutil.FreeAddr(t), testutil.FreeAddr(t)
	rtmpB, httpB := testutil.FreeAddr(t), testutil.FreeAddr(t)
	a := startEdge(t, []string{"-id", "edge-a", "-rtmp-addr", rtmpA, "-http-addr", httpA,
		"-embedded-nats-addr", natsAddr, "-embedded-etcd-addr", etcdAddr, "-embedded-etcd-dir", t.TempDir(),
		"-controller-addr", ctlAddr, "-log-format", "json"}, environ)
	waitReady(t, httpA)
	b := startEdge(t, []string{"-id", "edge-b", "-rtmp-addr", rtmpB, "-http-addr", httpB,
		"-nats-url", "nats://" + natsAddr, "-etcd-endpoints", etcdAddr, "-log-format", "json"}, environ)
	waitReady(t, httpB)
	for _, e := range []*inProcessEdge{a, b} {
		if !strings.Contains(e.log.String(), `"msg":"tracing is on"`) {
			t.Fatalf("the edge does not say tracing is on:\n%s", e.log.String())
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out := filepath.Join(t.TempDir(), "played.flv")
	player := testutil.FFmpegPlay(t, ctx, "rtmp://"+rtmpB+"/live/test", out, 0)
	if err := player.WaitStderr(testutil.FFmpegPlaySent, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	pub := testutil.FFmpegPublish(t, ctx, media, "rtmp://"+rtmpA+"/live/test")
	if err := pub.Wait(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := player.Wait(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	if got := testutil.Probe(t, out); got.VideoCodec != "h264" || got.AudioCodec != "aac" || got.VideoFrames == 0 {
		t.Fatalf("played %s/%s, %d video frames; want h264/aac frames", got.VideoCodec, got.AudioCodec, got.VideoFrames)
	}

	// An admin API request carrying a trace context.
	const parentTrace, parentSpan = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
	otlptest.GetTraced(t, "http://"+ctlAddr+"/api/v1/streams", parentTrace, parentSpan)

	// The spans arrive on their own (the batch's delay is 5 s by default);
	// stopping the edges afterwards flushes the rest.
	const within = 20 * time.Second
	sessA := checkSession(t, recv, recv.WaitSpan(t, within, otlptest.Named("rtmp.session"), otlptest.ResourceAttr("tributary.edge.id", "edge-a")),
		"edge-a", rtmpA)
	sessB := checkSession(t, recv, recv.WaitSpan(t, within, otlptest.Named("rtmp.session"), otlptest.ResourceAttr("tributary.edge.id", "edge-b")),
		"edge-b", rtmpB)

	publish := recv.WaitSpan(t, within, otlptest.Named("rtmp.publish"), otlptest.ChildOf(sessA))
	if epoch, _ := publish.Int("tributary.epoch"); publish.String("rtmp.stream") != "test" || publish.String("tributary.stream") != "live/test" ||
		epoch <= 0 || publish.String("media.video.codec") != "avc" || publish.String("media.audio.codec") != "aac" {
		t.Errorf("publish span: %s\nwant rtmp.stream test, tributary.stream live/test, an epoch, codecs avc and aac", publish.Describe())
	}
	if claims := recv.WaitSpans(t, within, 1, otlptest.Named("cluster.claim"), otlptest.ChildOf(publish)); len(claims) != 1 {
		t.Errorf("%d cluster.claim spans under the publish, want 1", len(claims))
	}

	play := recv.WaitSpan(t, within, otlptest.Named("rtmp.play"), otlptest.ChildOf(sessB))
	if ttff, ok := play.Number("tributary.ttff_ms"); !ok || ttff <= 0 || play.String("rtmp.stream") != "test" || play.String("tributary.stream") != "live/test" {
		t.Errorf("play span: %s\nwant rtmp.stream test, tributary.stream live/test, tributary.ttff_ms", play.Describe())
	}
	if link, ok := play.LinkTo(publish); !ok {
		t.Errorf("edge b's play is not linked to edge a's publish %s/%s:\n%s", publish.TraceID, publish.SpanID, play.Describe())
	} else if link.Attributes["tributary.link"] != "bus" {
		t.Errorf("the play's link to the publish has attributes %v, want tributary.link=bus", link.Attributes)
	}
	if play.TraceID == publish.TraceID {
		t.Error("the player's session is in the publisher's trace; it should be a trace of its own, linked")
	}

	// Edge b's log lines written inside its play carry the play's trace.
	if line := traceLine(b.log.String(), "edge-b", play.TraceID, play.SpanID); line == "" {
		t.Errorf("no log line of edge b carries the play's trace id %s and span id %s:\n%s", play.TraceID, play.SpanID, b.log.String())
	} else {
		t.Logf("edge b, inside its play: %s", line)
	}
	if line := traceLine(a.log.String(), "edge-a", publish.TraceID, publish.SpanID); line == "" {
		t.Errorf("no log line of edge a carries the publish's trace id %s and span id %s:\n%s", publish.TraceID, publish.SpanID, a.log.String())
	}

	b.stop(t)
	a.stop(t)
	for _, e := range []*inProcessEdge{a, b} {
		if strings.Contains(e.log.String(), "traces not") {
			t.Errorf("an export failed:\n%s", e.log.String())
		}
	}
	// Stopping flushed what was left: the controller's request span is
	// there.
	api := recv.WaitSpan(t, 5*time.Second, otlptest.Named("GET /api/v1/streams"), otlptest.InTrace(parentTrace))
	if api.ParentSpanID != parentSpan || api.Kind != "server" || api.String("http.route") != "/api/v1/streams" ||
		api.String("http.request.method") != "GET" || api.String("http.response.status_code") != "200" {
		t.Errorf("admin API span: %s\nwant a server span child of %s, http.route /api/v1/streams, status 200", api.Describe(), parentSpan)
	}
}

// checkSession checks an rtmp.session span of edge, whose RTMP listener
// is rtmpAddr, and returns it.
func checkSession(t *testing.T, recv *otlptest.Receiver, s otlptest.Span, edge, rtmpAddr string) otlptest.Span {
	t.Helper()
	if s.Kind != "server" || s.ResourceString("service.name") != "tributary-edge" || s.ResourceString("service.instance.id") != edge {
		t.Errorf("%s session: %s, want a server span of service tributary-edge, instance %s", edge, s.Describe(), edge)
	}
	port, _ := s.Int("client.port")
	bytesIn, _ := s.Int("rtmp.bytes_in")
	bytesOut, _ := s.Int("rtmp.bytes_out")
	_, enhanced := s.Attributes["rtmp.enhanced"].(bool)
	if s.String("client.address") != "127.0.0.1" || port <= 0 || s.String("rtmp.app") != "live" ||
		!strings.HasPrefix(s.String("rtmp.tc_url"), "rtmp://"+rtmpAddr+"/live") || s.String("rtmp.flash_ver") == "" ||
		(s.String("rtmp.handshake") != "simple" && s.String("rtmp.handshake") != "digest") || !enhanced ||
		s.String("tributary.edge.id") != edge || s.String("rtmp.close_reason") == "" || bytesIn <= 0 || bytesOut <= 0 {
		t.Errorf("%s session attributes: %s", edge, s.Describe())
	}
	if s.StatusCode == "error" {
		t.Errorf("%s session ended in error (%s) after a clean stream", edge, s.StatusMessage)
	}
	for _, name := range []string{"rtmp.handshake", "rtmp.connect"} {
		c := recv.WaitSpan(t, 5*time.Second, otlptest.Named(name), otlptest.ChildOf(s))
		if c.Start.Before(s.Start) || c.End.After(s.End) || c.End.Before(c.Start) {
			t.Errorf("%s %s: %v..%v, outside its session %v..%v", edge, name, c.Start, c.End, s.Start, s.End)
		}
	}
	return s
}

// traceLine returns the first JSON log line of log written by edge that
// carries the trace id traceID and the span id spanID; "" when there is
// none.
func traceLine(log, edge, traceID, spanID string) string {
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) != nil {
			continue
		}
		if line["trace_id"] == traceID && line["span_id"] == spanID && line["edge"] == edge {
			return sc.Text()
		}
	}
	return ""
}

// TestTracingConfigErrors checks that a bad OTEL_* value is a
// configuration error (exit status 2) naming the variable, before
// anything starts.
func TestTracingConfigErrors(t *testing.T) {
	for _, env := range []string{"OTEL_TRACES_SAMPLER=sometimes", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=udp",
		"OTEL_EXPORTER_OTLP_ENDPOINT=ftp://x", "OTEL_BSP_MAX_QUEUE_SIZE=-3"} {
		var stderr strings.Builder
		code := run(context.Background(), []string{"-rtmp-addr", testutil.FreeAddr(t), "-http-addr", testutil.FreeAddr(t)},
			[]string{env}, &stderr)
		name, _, _ := strings.Cut(env, "=")
		if code != 2 || !strings.Contains(stderr.String(), name) || strings.Contains(stderr.String(), "embedded") {
			t.Errorf("%s: exit %d, output:\n%s\nwant exit 2 naming %s, nothing started", env, code, stderr.String(), name)
		}
	}
}
