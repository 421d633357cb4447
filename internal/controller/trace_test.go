package controller_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/tributary-media/tributary/internal/controller"
	"github.com/tributary-media/tributary/pkg/cluster"
)

// newTracing returns a tracer provider that records every span in the
// returned recorder.
func newTracing(t *testing.T) (*sdktrace.TracerProvider, *tracetest.SpanRecorder) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	return tp, sr
}

// endedSpans returns the ended spans named name.
func endedSpans(sr *tracetest.SpanRecorder, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range sr.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

// spanAttr returns the value of attribute key of s.
func spanAttr(s sdktrace.ReadOnlySpan, key string) attribute.Value {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value
		}
	}
	return attribute.Value{}
}

// eventNames returns the names of the events of s.
func eventNames(s sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, ev := range s.Events() {
		out = append(out, ev.Name)
	}
	return out
}

// syncBuffer is a buffer safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// line returns the first JSON log line whose message is msg, decoded.
func (b *syncBuffer) line(t *testing.T, msg string) map[string]any {
	t.Helper()
	b.mu.Lock()
	data := append([]byte(nil), b.buf.Bytes()...)
	b.mu.Unlock()
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err == nil && m["msg"] == msg {
			return m
		}
	}
	t.Fatalf("no log line %q", msg)
	return nil
}

// TestAPITrace checks the server spans of admin API requests: named after
// the method and the route, in the trace of the request's traceparent,
// with the response status; health probes are not traced; the logs of a
// request carry its trace id.
func TestAPITrace(t *testing.T) {
	env := newEnv(t)
	tp, sr := newTracing(t)
	logs := &syncBuffer{}
	r := env.newReplica(t, "ctl-a", func(c *controller.Config) {
		c.TracerProvider = tp
		c.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	})
	ed := env.startEdge(t, "edge-1")
	ed.claim(t, "live", "kicked")

	const (
		traceID  = "4bf92f3577b34da6a3ce929d0e0e4736"
		parentID = "00f067aa0ba902b7"
	)
	for _, c := range []struct {
		method, path string
		traceparent  bool
		span         string // "" when not traced
		route        string
		status       int
	}{
		{"GET", "/api/v1/streams", true, "GET /api/v1/streams", "/api/v1/streams", 200},
		{"GET", "/api/v1/streams/live/none", false, "GET /api/v1/streams/{app}/{name}", "/api/v1/streams/{app}/{name}", 404},
		{"POST", "/api/v1/streams/live/kicked/kick", true, "POST /api/v1/streams/{app}/{name}/kick", "/api/v1/streams/{app}/{name}/kick", 202},
		{"DELETE", "/api/v1/edges/edge-1", false, "DELETE /api/v1/edges/{id}", "/api/v1/edges/{id}", 405},
		{"GET", "/api/v1/nothing", false, "GET", "", 404},
		{"GET", "/healthz", true, "", "", 200},
	} {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			sr.Reset()
			req, err := http.NewRequest(c.method, r.api.URL+c.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if c.traceparent {
				req.Header.Set("traceparent", "00-"+traceID+"-"+parentID+"-01")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, c.status)
			}
			spans := sr.Ended()
			for deadline := time.Now().Add(2 * time.Second); c.span != "" && len(spans) == 0 && time.Now().Before(deadline); {
				time.Sleep(5 * time.Millisecond)
				spans = sr.Ended()
			}
			if c.span == "" {
				if len(spans) != 0 {
					t.Fatalf("%d spans for an untraced request", len(spans))
				}
				return
			}
			if len(spans) != 1 {
				t.Fatalf("%d spans, want 1", len(spans))
			}
			s := spans[0]
			if s.Name() != c.span || s.SpanKind() != trace.SpanKindServer {
				t.Errorf("span %q of kind %v, want server span %q", s.Name(), s.SpanKind(), c.span)
			}
			if got := spanAttr(s, "http.route").AsString(); got != c.route {
				t.Errorf("http.route %q, want %q", got, c.route)
			}
			if got := spanAttr(s, "http.request.method").AsString(); got != c.method {
				t.Errorf("http.request.method %q, want %q", got, c.method)
			}
			if got := spanAttr(s, "http.response.status_code").AsInt64(); got != int64(c.status) {
				t.Errorf("http.response.status_code %d, want %d", got, c.status)
			}
			if s.Status().Code != codes.Unset {
				t.Errorf("span status %v for a %d answer, want unset", s.Status(), c.status)
			}
			if c.traceparent {
				if s.SpanContext().TraceID().String() != traceID || s.Parent().SpanID().String() != parentID || !s.Parent().IsRemote() {
					t.Errorf("span in trace %s with parent %s, want trace %s, remote parent %s",
						s.SpanContext().TraceID(), s.Parent().SpanID(), traceID, parentID)
				}
			} else if s.Parent().IsValid() {
				t.Errorf("span has parent %v without a traceparent", s.Parent())
			}
			if c.route == "/api/v1/streams/{app}/{name}/kick" {
				m := logs.line(t, "kicked a publisher")
				if m["trace_id"] != traceID || m["span_id"] != s.SpanContext().SpanID().String() {
					t.Errorf("kick log line: trace_id %v span_id %v, want %s %s", m["trace_id"], m["span_id"], traceID, s.SpanContext().SpanID())
				}
			}
		})
	}
}

// TestLeadershipTrace checks the span of a leadership term, with its
// elected and resigned events, and the span of a reap in its trace.
func TestLeadershipTrace(t *testing.T) {
	env := newEnv(t)
	ctx := testCtx(t)
	tp, sr := newTracing(t)
	gone := env.startEdge(t, "edge-gone")
	orphan := gone.claim(t, "live", "orphan")
	r := env.startReplica(t, "ctl-a", func(c *controller.Config) { c.TracerProvider = tp })
	leaderOf(t, 10*time.Second, r)
	if _, err := env.cli.Delete(ctx, cluster.EdgeKey(env.prefix, "edge-gone")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-orphan.Lost():
	case <-time.After(testReap + 5*time.Second):
		t.Fatal("orphaned claim not reaped")
	}
	waitFor(t, 5*time.Second, "the reap span", func() bool { return len(endedSpans(sr, "controller.reap")) == 1 })
	r.stop(t)
	terms := endedSpans(sr, "controller.leadership")
	if len(terms) != 1 {
		t.Fatalf("%d leadership spans, want 1", len(terms))
	}
	term := terms[0]
	if got := eventNames(term); len(got) != 2 || got[0] != "elected" || got[1] != "resigned" {
		t.Errorf("leadership events %v, want elected, resigned", got)
	}
	if got := spanAttr(term, "tributary.controller.id").AsString(); got != "ctl-a" {
		t.Errorf("tributary.controller.id %q, want ctl-a", got)
	}
	if got := spanAttr(term, "tributary.leadership.end").AsString(); got != "resigned" {
		t.Errorf("tributary.leadership.end %q, want resigned", got)
	}
	reap := endedSpans(sr, "controller.reap")[0]
	if reap.Parent().SpanID() != term.SpanContext().SpanID() {
		t.Errorf("reap span's parent %v, want the leadership span", reap.Parent())
	}
	if got := spanAttr(reap, "tributary.stream").AsString(); got != "live/orphan" {
		t.Errorf("reap span: tributary.stream %q, want live/orphan", got)
	}
	if got := spanAttr(reap, "tributary.edge.id").AsString(); got != "edge-gone" {
		t.Errorf("reap span: tributary.edge.id %q, want edge-gone", got)
	}
}
