package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/tributary-media/tributary/internal/telemetry"
)

// logLines decodes the JSON lines of buf.
func logLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		lines = append(lines, m)
	}
	return lines
}

// TestLogHandlerAddsIDs checks that records logged with a context inside
// a span carry its ids, at the top level also in a group, and that the
// others carry none.
func TestLogHandlerAddsIDs(t *testing.T) {
	var buf bytes.Buffer
	log := telemetry.WithTraceIDs(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	log = log.With("edge", "edge-a")

	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(context.Background())
	ctx, span := tp.Tracer("test").Start(context.Background(), "rtmp.session")
	traceID, spanID := span.SpanContext().TraceID().String(), span.SpanContext().SpanID().String()

	log.InfoContext(ctx, "inside", "k", 1)
	log.Info("outside, no context")
	log.InfoContext(context.Background(), "outside, empty context")
	log.WithGroup("rtmp").With("conn", 7).InfoContext(ctx, "inside a group", "stream", "live/a")
	log.DebugContext(ctx, "below the level")
	log.With("trace_id", "given").InfoContext(ctx, "ids given by the logger")
	log.InfoContext(ctx, "ids given by the record", "trace_id", "given")
	span.End()

	lines := logLines(t, &buf)
	if len(lines) != 6 {
		t.Fatalf("%d lines, want 6 (the debug one filtered):\n%s", len(lines), buf.String())
	}
	for _, l := range lines[4:] {
		if l["trace_id"] != "given" || l["span_id"] != nil {
			t.Errorf("ids added to a record that has a trace id: %v", l)
		}
	}
	if n := strings.Count(buf.String(), `"trace_id"`); n != 4 {
		t.Errorf("%d trace_id keys in the output, want 4 (none twice in a line):\n%s", n, buf.String())
	}
	for i, l := range lines {
		if l["edge"] != "edge-a" {
			t.Errorf("line %d lost the logger's attributes: %v", i, l)
		}
	}
	if l := lines[0]; l["trace_id"] != traceID || l["span_id"] != spanID || l["k"] != 1.0 {
		t.Errorf("inside a span: %v, want trace_id %s span_id %s", l, traceID, spanID)
	}
	for _, l := range lines[1:3] {
		if _, ok := l["trace_id"]; ok {
			t.Errorf("outside a span: %v carries a trace id", l)
		}
		if _, ok := l["span_id"]; ok {
			t.Errorf("outside a span: %v carries a span id", l)
		}
	}
	l := lines[3]
	g, _ := l["rtmp"].(map[string]any)
	if l["trace_id"] != traceID || l["span_id"] != spanID || g["conn"] != 7.0 || g["stream"] != "live/a" {
		t.Errorf("inside a group: %v, want the ids at the top level and conn, stream in the group", l)
	}
	if _, ok := g["trace_id"]; ok {
		t.Errorf("inside a group: the ids are in the group too: %v", l)
	}
}

// TestLogHandlerEnabled checks that the wrapper keeps the wrapped
// handler's level.
func TestLogHandlerEnabled(t *testing.T) {
	h := telemetry.NewLogHandler(slog.NewTextHandler(&bytes.Buffer{}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	for _, h := range []slog.Handler{h, h.WithAttrs([]slog.Attr{slog.Int("a", 1)}), h.WithGroup("g")} {
		if h.Enabled(context.Background(), slog.LevelInfo) || !h.Enabled(context.Background(), slog.LevelError) {
			t.Fatal("level not kept")
		}
	}
	if telemetry.NewLogHandler(h) != h {
		t.Fatal("a wrapped handler is wrapped twice")
	}
}
