package controller

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// tracerName names the tracer of the controller's spans.
const tracerName = "github.com/tributary-media/tributary/internal/controller"

// Span names (docs/observability.md); an API request's span is named
// "<METHOD> <route>".
const (
	spanLeadership = "controller.leadership"
	spanReap       = "controller.reap"
)

// Attribute keys of the controller's spans.
const (
	keyMethod       = attribute.Key("http.request.method")
	keyRoute        = attribute.Key("http.route")
	keyStatus       = attribute.Key("http.response.status_code")
	keyURLPath      = attribute.Key("url.path")
	keyClient       = attribute.Key("client.address")
	keyClientPort   = attribute.Key("client.port")
	keyControllerID = attribute.Key("tributary.controller.id")
	keyElectionKey  = attribute.Key("tributary.election.key")
	keyElectionRev  = attribute.Key("tributary.election.revision")
	keyTermEnd      = attribute.Key("tributary.leadership.end")
	keyStream       = attribute.Key("tributary.stream")
	keyEdgeID       = attribute.Key("tributary.edge.id")
	keyEpoch        = attribute.Key("tributary.epoch")
	keyRegistered   = attribute.Key("tributary.edge.registered")
)

// knownMethods are the request methods a span names as they are; others
// are "_OTHER", so that a client cannot make up span names.
var knownMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
	http.MethodConnect: true, http.MethodTrace: true,
}

// statusWriter records the status of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// logKey is the context key of a request's logger.
type logKey struct{}

// reqLog returns the logger of the request of ctx: the controller's, with
// the trace and span ids of the request's span when it is traced.
func (c *Controller) reqLog(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(logKey{}).(*slog.Logger); ok {
		return l
	}
	return c.log
}

// withIDs returns log with the trace and span ids of sc, when valid.
func withIDs(log *slog.Logger, sc trace.SpanContext) *slog.Logger {
	if !sc.IsValid() {
		return log
	}
	return log.With("trace_id", sc.TraceID().String(), "span_id", sc.SpanID().String())
}

// serveTraced serves an API request in a server span named "<METHOD>
// <route>", a child of the trace context the request carries (W3C
// traceparent). The health endpoints are not traced: probes would drown
// the requests of operators.
func (c *Controller) serveTraced(w http.ResponseWriter, r *http.Request) {
	switch r.URL.EscapedPath() {
	case routeHealthz, routeReadyz:
		c.serveHTTP(w, r)
		return
	}
	method := r.Method
	if !knownMethods[method] {
		method = "_OTHER"
	}
	ctx := propagation.TraceContext{}.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	attrs := []attribute.KeyValue{keyMethod.String(method), keyURLPath.String(r.URL.EscapedPath())}
	if host, port, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		attrs = append(attrs, keyClient.String(host))
		if n, err := strconv.Atoi(port); err == nil {
			attrs = append(attrs, keyClientPort.Int(n))
		}
	}
	ctx, span := c.tr.Start(ctx, method, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
	defer span.End()
	ctx = context.WithValue(ctx, logKey{}, withIDs(c.log, span.SpanContext()))
	sw := &statusWriter{ResponseWriter: w}
	route := c.serveHTTP(sw, r.WithContext(ctx))
	if route != "" {
		span.SetName(method + " " + route)
		span.SetAttributes(keyRoute.String(route))
	}
	status := sw.status
	if status == 0 {
		status = http.StatusOK
	}
	span.SetAttributes(keyStatus.Int(status))
	if status >= 500 {
		span.SetStatus(codes.Error, http.StatusText(status))
	}
}

// startTerm starts the span of a leadership term won with the election
// key key at revision rev, with an "elected" event.
func (c *Controller) startTerm(key string, rev int64) trace.Span {
	_, span := c.tr.Start(context.Background(), spanLeadership, trace.WithAttributes(
		keyControllerID.String(c.cfg.ID), keyElectionKey.String(key), keyElectionRev.Int64(rev)))
	span.AddEvent("elected")
	return span
}

// endTerm ends the span of a leadership term with an event named how
// ("resigned" or "lost") that says why.
func endTerm(span trace.Span, how, why string) {
	span.AddEvent(how, trace.WithAttributes(attribute.String("reason", why)))
	span.SetAttributes(keyTermEnd.String(how))
	span.End()
}
