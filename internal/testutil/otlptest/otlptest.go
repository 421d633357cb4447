// Package otlptest is an OpenTelemetry trace receiver for tests: the OTLP
// trace service over gRPC and OTLP/HTTP (POST /v1/traces, protobuf), on
// 127.0.0.1 random ports. It keeps every span it receives, with its
// resource's attributes, and offers helpers to wait for spans and to
// follow their parents and links.
//
// Point a process at it with OTEL_EXPORTER_OTLP_ENDPOINT=r.Endpoint()
// (gRPC), or r.HTTPEndpoint() and OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf.
package otlptest

import (
	"compress/gzip"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	_ "google.golang.org/grpc/encoding/gzip" // exporters may compress
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

// Span is a span as received.
type Span struct {
	Name string
	// Kind is "internal", "server", "client", "producer", "consumer" or
	// "unspecified".
	Kind string
	// TraceID, SpanID and ParentSpanID are lowercase hex; ParentSpanID is
	// empty for a root span.
	TraceID, SpanID, ParentSpanID string
	Start, End                    time.Time
	Attributes                    map[string]any
	Events                        []Event
	Links                         []Link
	// StatusCode is "unset", "ok" or "error".
	StatusCode    string
	StatusMessage string
	// Resource holds the attributes of the span's resource.
	Resource map[string]any
	// Scope is the instrumentation scope (the tracer's name).
	Scope string
	// Transport is "grpc" or "http": how the span was received.
	Transport string
}

// Event is a span event.
type Event struct {
	Name       string
	Time       time.Time
	Attributes map[string]any
}

// Link is a span's link to another span.
type Link struct {
	TraceID, SpanID string
	Attributes      map[string]any
}

// Attribute values are string, bool, int64, float64, []byte, []any or
// map[string]any, after OTLP's AnyValue.

// String returns the attribute key of s as a string: its value if it is
// one, its formatted value otherwise, "" when absent.
func (s Span) String(key string) string { return attrString(s.Attributes, key) }

// Int returns the attribute key of s when it is an integer.
func (s Span) Int(key string) (int64, bool) {
	v, ok := s.Attributes[key].(int64)
	return v, ok
}

// Number returns the attribute key of s when it is a number, integer or
// not.
func (s Span) Number(key string) (float64, bool) {
	switch v := s.Attributes[key].(type) {
	case int64:
		return float64(v), true
	case float64:
		return v, true
	}
	return 0, false
}

// ResourceString returns the resource attribute key of s as a string.
func (s Span) ResourceString(key string) string { return attrString(s.Resource, key) }

// IsChildOf reports whether s's parent is p.
func (s Span) IsChildOf(p Span) bool {
	return s.TraceID == p.TraceID && s.ParentSpanID != "" && s.ParentSpanID == p.SpanID
}

// LinkTo returns s's link to t, if there is one.
func (s Span) LinkTo(t Span) (Link, bool) {
	for _, l := range s.Links {
		if l.TraceID == t.TraceID && l.SpanID == t.SpanID {
			return l, true
		}
	}
	return Link{}, false
}

// Event returns s's first event named name, if there is one.
func (s Span) Event(name string) (Event, bool) {
	for _, e := range s.Events {
		if e.Name == name {
			return e, true
		}
	}
	return Event{}, false
}

// Describe returns a one-line description of s for failure messages.
func (s Span) Describe() string {
	keys := make([]string, 0, len(s.Attributes))
	for k := range s.Attributes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "%s [%s] trace=%s span=%s parent=%s service=%s", s.Name, s.Kind, s.TraceID, s.SpanID, s.ParentSpanID,
		s.ResourceString("service.name"))
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%v", k, s.Attributes[k])
	}
	for _, l := range s.Links {
		fmt.Fprintf(&b, " link=%s/%s", l.TraceID, l.SpanID)
	}
	return b.String()
}

// attrString returns attrs[key] as a string.
func attrString(attrs map[string]any, key string) string {
	switch v := attrs[key].(type) {
	case nil:
		return ""
	case string:
		return v
	default:
		return fmt.Sprint(v)
	}
}

// A Matcher selects spans.
type Matcher func(Span) bool

// Named matches the spans named name.
func Named(name string) Matcher { return func(s Span) bool { return s.Name == name } }

// Attr matches the spans whose attribute key equals value, a comparable
// value (an int matches an int64 attribute).
func Attr(key string, value any) Matcher {
	if i, ok := value.(int); ok {
		value = int64(i)
	}
	return func(s Span) bool { return s.Attributes[key] == value }
}

// HasAttr matches the spans that have the attribute key.
func HasAttr(key string) Matcher {
	return func(s Span) bool {
		_, ok := s.Attributes[key]
		return ok
	}
}

// ResourceAttr matches the spans whose resource attribute key equals
// value.
func ResourceAttr(key string, value any) Matcher {
	return func(s Span) bool { return s.Resource[key] == value }
}

// Service matches the spans of the service named name (the resource's
// service.name).
func Service(name string) Matcher { return ResourceAttr("service.name", name) }

// InTrace matches the spans of the trace id (hex).
func InTrace(id string) Matcher { return func(s Span) bool { return s.TraceID == id } }

// ChildOf matches the children of p.
func ChildOf(p Span) Matcher { return func(s Span) bool { return s.IsChildOf(p) } }

// match reports whether s matches every matcher of ms.
func match(s Span, ms []Matcher) bool {
	for _, m := range ms {
		if !m(s) {
			return false
		}
	}
	return true
}

// Receiver is an OTLP trace receiver.
type Receiver struct {
	grpcSrv  *grpc.Server
	grpcAddr string
	httpSrv  *http.Server
	httpAddr string
	done     sync.WaitGroup

	mu       sync.Mutex
	spans    []Span
	requests int
	headers  map[string]string // of the last request
	changed  chan struct{}     // closed and replaced when spans arrive
	closed   bool
}

// Start starts a receiver; it stops when the test ends.
func Start(tb testing.TB) *Receiver {
	tb.Helper()
	r := &Receiver{changed: make(chan struct{})}
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("otlptest: %v", err)
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		gl.Close()
		tb.Fatalf("otlptest: %v", err)
	}
	r.grpcAddr, r.httpAddr = gl.Addr().String(), hl.Addr().String()
	r.grpcSrv = grpc.NewServer()
	collectortrace.RegisterTraceServiceServer(r.grpcSrv, traceService{r: r})
	mux := http.NewServeMux()
	mux.Handle("POST /v1/traces", r.HTTPHandler())
	r.httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	r.done.Add(2)
	go func() {
		defer r.done.Done()
		r.grpcSrv.Serve(gl)
	}()
	go func() {
		defer r.done.Done()
		r.httpSrv.Serve(hl)
	}()
	tb.Cleanup(r.Close)
	return r
}

// Endpoint returns the gRPC receiver's URL, for OTEL_EXPORTER_OTLP_ENDPOINT
// (http://127.0.0.1:port: no TLS).
func (r *Receiver) Endpoint() string { return "http://" + r.grpcAddr }

// HTTPEndpoint returns the OTLP/HTTP receiver's base URL, for
// OTEL_EXPORTER_OTLP_ENDPOINT with OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf
// (spans are posted to its /v1/traces).
func (r *Receiver) HTTPEndpoint() string { return "http://" + r.httpAddr }

// Close stops both servers at once, dropping their connections (a
// collector gone); the spans received stay readable. Close may be called
// more than once.
func (r *Receiver) Close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	r.mu.Unlock()
	r.grpcSrv.Stop()
	r.httpSrv.Close()
	r.done.Wait()
}

// Requests returns the number of export requests received.
func (r *Receiver) Requests() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests
}

// LastHeaders returns the headers (gRPC metadata) of the last export
// request, keys in lowercase.
func (r *Receiver) LastHeaders() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.headers
}

// Spans returns the spans received so far, in the order received.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Span(nil), r.spans...)
}

// Find returns the spans received so far that match all of ms.
func (r *Receiver) Find(ms ...Matcher) []Span {
	var found []Span
	for _, s := range r.Spans() {
		if match(s, ms) {
			found = append(found, s)
		}
	}
	return found
}

// WaitSpans waits until at least n spans matching all of ms have arrived
// and returns them all; the test fails after within, listing the spans
// received.
func (r *Receiver) WaitSpans(tb testing.TB, within time.Duration, n int, ms ...Matcher) []Span {
	tb.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		changed := r.changed
		r.mu.Unlock()
		if found := r.Find(ms...); len(found) >= n {
			return found
		}
		select {
		case <-changed:
		case <-deadline.C:
			tb.Fatalf("otlptest: %d matching span(s) not received within %v; received:\n%s", n, within, r.Dump())
			return nil
		}
	}
}

// WaitSpan waits for a span matching all of ms and returns the first one.
func (r *Receiver) WaitSpan(tb testing.TB, within time.Duration, ms ...Matcher) Span {
	tb.Helper()
	return r.WaitSpans(tb, within, 1, ms...)[0]
}

// Parent returns the parent of s, if it has arrived.
func (r *Receiver) Parent(s Span) (Span, bool) {
	if s.ParentSpanID == "" {
		return Span{}, false
	}
	for _, p := range r.Spans() {
		if p.TraceID == s.TraceID && p.SpanID == s.ParentSpanID {
			return p, true
		}
	}
	return Span{}, false
}

// Children returns the children of p that have arrived.
func (r *Receiver) Children(p Span) []Span { return r.Find(ChildOf(p)) }

// Linked returns the spans s links to that have arrived.
func (r *Receiver) Linked(s Span) []Span {
	var found []Span
	for _, t := range r.Spans() {
		if _, ok := s.LinkTo(t); ok {
			found = append(found, t)
		}
	}
	return found
}

// Dump returns one line per span received, for failure messages.
func (r *Receiver) Dump() string {
	var b strings.Builder
	for _, s := range r.Spans() {
		b.WriteString("  ")
		b.WriteString(s.Describe())
		b.WriteByte('\n')
	}
	if b.Len() == 0 {
		return "  (none)\n"
	}
	return b.String()
}

// HTTPHandler returns the OTLP/HTTP handler: it takes a protobuf
// ExportTraceServiceRequest (optionally gzip-compressed) and answers a
// protobuf ExportTraceServiceResponse.
func (r *Receiver) HTTPHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if ct := req.Header.Get("Content-Type"); ct != "application/x-protobuf" {
			http.Error(w, "otlptest: want Content-Type application/x-protobuf, got "+ct, http.StatusUnsupportedMediaType)
			return
		}
		var body io.Reader = req.Body
		if req.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(req.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			defer zr.Close()
			body = zr
		}
		b, err := io.ReadAll(io.LimitReader(body, 64<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var msg collectortrace.ExportTraceServiceRequest
		if err := proto.Unmarshal(b, &msg); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h := make(map[string]string, len(req.Header))
		for k, v := range req.Header {
			h[strings.ToLower(k)] = strings.Join(v, ",")
		}
		r.add(&msg, "http", h)
		out, err := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(out)
	})
}

// traceService is the gRPC OTLP trace service.
type traceService struct {
	collectortrace.UnimplementedTraceServiceServer
	r *Receiver
}

// Export implements collectortrace.TraceServiceServer.
func (s traceService) Export(ctx context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	if req == nil {
		return nil, errors.New("otlptest: empty request")
	}
	md, _ := metadata.FromIncomingContext(ctx)
	h := make(map[string]string, len(md))
	for k, v := range md {
		h[k] = strings.Join(v, ",")
	}
	s.r.add(req, "grpc", h)
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

// add stores the spans of req.
func (r *Receiver) add(req *collectortrace.ExportTraceServiceRequest, transport string, headers map[string]string) {
	var spans []Span
	for _, rs := range req.GetResourceSpans() {
		res := attrMap(rs.GetResource().GetAttributes())
		for _, ss := range rs.GetScopeSpans() {
			scope := ss.GetScope().GetName()
			for _, sp := range ss.GetSpans() {
				spans = append(spans, convert(sp, res, scope, transport))
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	r.headers = headers
	r.spans = append(r.spans, spans...)
	close(r.changed)
	r.changed = make(chan struct{})
}

// convert returns the Span of sp.
func convert(sp *tracepb.Span, res map[string]any, scope, transport string) Span {
	s := Span{
		Name:          sp.GetName(),
		Kind:          kindName(sp.GetKind()),
		TraceID:       hexID(sp.GetTraceId()),
		SpanID:        hexID(sp.GetSpanId()),
		ParentSpanID:  hexID(sp.GetParentSpanId()),
		Start:         unixNano(sp.GetStartTimeUnixNano()),
		End:           unixNano(sp.GetEndTimeUnixNano()),
		Attributes:    attrMap(sp.GetAttributes()),
		StatusMessage: sp.GetStatus().GetMessage(),
		Resource:      res,
		Scope:         scope,
		Transport:     transport,
	}
	switch sp.GetStatus().GetCode() {
	case tracepb.Status_STATUS_CODE_OK:
		s.StatusCode = "ok"
	case tracepb.Status_STATUS_CODE_ERROR:
		s.StatusCode = "error"
	default:
		s.StatusCode = "unset"
	}
	for _, e := range sp.GetEvents() {
		s.Events = append(s.Events, Event{Name: e.GetName(), Time: unixNano(e.GetTimeUnixNano()), Attributes: attrMap(e.GetAttributes())})
	}
	for _, l := range sp.GetLinks() {
		s.Links = append(s.Links, Link{TraceID: hexID(l.GetTraceId()), SpanID: hexID(l.GetSpanId()), Attributes: attrMap(l.GetAttributes())})
	}
	return s
}

// kindName returns the lowercase name of k.
func kindName(k tracepb.Span_SpanKind) string {
	switch k {
	case tracepb.Span_SPAN_KIND_INTERNAL:
		return "internal"
	case tracepb.Span_SPAN_KIND_SERVER:
		return "server"
	case tracepb.Span_SPAN_KIND_CLIENT:
		return "client"
	case tracepb.Span_SPAN_KIND_PRODUCER:
		return "producer"
	case tracepb.Span_SPAN_KIND_CONSUMER:
		return "consumer"
	}
	return "unspecified"
}

// hexID returns id in lowercase hex; "" for an absent or all-zero id.
func hexID(id []byte) string {
	for _, b := range id {
		if b != 0 {
			return hex.EncodeToString(id)
		}
	}
	return ""
}

// unixNano returns the time of n nanoseconds since the epoch; zero for 0.
func unixNano(n uint64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(n))
}

// attrMap returns kvs as a map.
func attrMap(kvs []*commonpb.KeyValue) map[string]any {
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		m[kv.GetKey()] = anyValue(kv.GetValue())
	}
	return m
}

// anyValue returns the Go value of v.
func anyValue(v *commonpb.AnyValue) any {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_BoolValue:
		return x.BoolValue
	case *commonpb.AnyValue_IntValue:
		return x.IntValue
	case *commonpb.AnyValue_DoubleValue:
		return x.DoubleValue
	case *commonpb.AnyValue_BytesValue:
		return x.BytesValue
	case *commonpb.AnyValue_ArrayValue:
		var a []any
		for _, e := range x.ArrayValue.GetValues() {
			a = append(a, anyValue(e))
		}
		return a
	case *commonpb.AnyValue_KvlistValue:
		return attrMap(x.KvlistValue.GetValues())
	}
	return nil
}
