package telemetry_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/tributary-media/tributary/internal/telemetry"
	"github.com/tributary-media/tributary/internal/testutil"
	"github.com/tributary-media/tributary/internal/testutil/otlptest"
)

// newTracing sets tracing up from environ for the service "tributary-test"
// and shuts it down when the test ends; log receives its log lines.
func newTracing(t *testing.T, environ []string, log *testutil.SyncBuffer) *telemetry.Tracing {
	t.Helper()
	if log == nil {
		log = new(testutil.SyncBuffer)
	}
	tr, err := telemetry.NewTracing(telemetry.TracingConfig{
		Environ:     environ,
		ServiceName: "tributary-test",
		Version:     "1.2.3",
		InstanceID:  "edge-7",
		EdgeID:      "edge-7",
		Logger:      slog.New(slog.NewTextHandler(log, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		tr.Shutdown(ctx)
	})
	return tr
}

// endSpan starts and ends a server span named name with the attribute
// rtmp.app=live, and returns its context.
func endSpan(tp trace.TracerProvider, name string) trace.SpanContext {
	_, span := tp.Tracer("github.com/tributary-media/tributary/internal/telemetry").Start(context.Background(), name,
		trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attribute.String("rtmp.app", "live")))
	span.End()
	return span.SpanContext()
}

// shutdown shuts tr down within the given time.
func shutdown(t *testing.T, tr *telemetry.Tracing, within time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	return tr.Shutdown(ctx)
}

// TestTracingGRPC configures nothing but OTEL_EXPORTER_OTLP_ENDPOINT: the
// spans reach the gRPC receiver on their own (the batch's default 5 s
// delay), with the resource describing the process.
func TestTracingGRPC(t *testing.T) {
	r := otlptest.Start(t)
	var log testutil.SyncBuffer
	tr := newTracing(t, []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + r.Endpoint()}, &log)
	if !tr.Enabled() {
		t.Fatal("tracing is off with an endpoint set")
	}
	sc := endSpan(tr.TracerProvider(), "rtmp.session")
	s := r.WaitSpan(t, 15*time.Second, otlptest.Named("rtmp.session"))
	if s.TraceID != sc.TraceID().String() || s.SpanID != sc.SpanID().String() || s.Kind != "server" ||
		s.String("rtmp.app") != "live" || s.Transport != "grpc" {
		t.Fatalf("received %s over %s", s.Describe(), s.Transport)
	}
	host, _ := os.Hostname()
	for k, want := range map[string]string{
		"service.name": "tributary-test", "service.version": "1.2.3", "service.instance.id": "edge-7",
		"tributary.edge.id": "edge-7", "host.name": host, "telemetry.sdk.language": "go",
	} {
		if got := s.ResourceString(k); got != want {
			t.Errorf("resource %s = %q, want %q", k, got, want)
		}
	}
	if _, ok := s.Resource["k8s.pod.name"]; ok {
		t.Error("k8s.pod.name set without POD_NAME")
	}
	if !strings.Contains(log.String(), "tracing is on") || !strings.Contains(log.String(), "OTLP grpc to "+strings.TrimPrefix(r.Endpoint(), "http://")) {
		t.Errorf("log does not say where spans go:\n%s", log.String())
	}
	if err := shutdown(t, tr, 5*time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestTracingHTTP exports over OTLP/HTTP, to the base endpoint (which gets
// /v1/traces) and to a signal endpoint used as it is, with headers and
// compression.
func TestTracingHTTP(t *testing.T) {
	r := otlptest.Start(t)
	for _, tc := range []struct {
		name    string
		environ []string
	}{
		{"base endpoint", []string{"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf", "OTEL_EXPORTER_OTLP_ENDPOINT=" + r.HTTPEndpoint()}},
		{"traces endpoint", []string{"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf", "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:1",
			"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=" + r.HTTPEndpoint() + "/v1/traces"}},
		{"traces protocol", []string{"OTEL_EXPORTER_OTLP_PROTOCOL=grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/protobuf",
			"OTEL_EXPORTER_OTLP_ENDPOINT=" + r.HTTPEndpoint(), "OTEL_EXPORTER_OTLP_COMPRESSION=gzip"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			environ := append(tc.environ, "OTEL_BSP_SCHEDULE_DELAY=20", "OTEL_EXPORTER_OTLP_HEADERS=x-tenant=a%20b,x-other=1")
			tr := newTracing(t, environ, nil)
			sc := endSpan(tr.TracerProvider(), "http "+tc.name)
			s := r.WaitSpan(t, 10*time.Second, otlptest.Named("http "+tc.name))
			if s.SpanID != sc.SpanID().String() || s.Transport != "http" {
				t.Fatalf("received %s over %s", s.Describe(), s.Transport)
			}
			if h := r.LastHeaders(); h["x-tenant"] != "a b" || h["x-other"] != "1" {
				t.Fatalf("headers %v, want x-tenant: a b and x-other: 1", h)
			}
		})
	}
}

// TestTracingResource checks the resource attributes from the pod's
// variables, OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME.
func TestTracingResource(t *testing.T) {
	r := otlptest.Start(t)
	tr := newTracing(t, []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=" + r.HTTPEndpoint(), "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf", "OTEL_BSP_SCHEDULE_DELAY=20",
		"POD_NAME=edge-0", "POD_NAMESPACE=media",
		"OTEL_RESOURCE_ATTRIBUTES=deployment.environment.name=staging,service.name=ignored,team=a%2Cb",
		"OTEL_SERVICE_NAME=edge-east",
	}, nil)
	endSpan(tr.TracerProvider(), "resource")
	s := r.WaitSpan(t, 10*time.Second, otlptest.Named("resource"))
	for k, want := range map[string]string{
		"service.name": "edge-east", "service.version": "1.2.3", "service.instance.id": "edge-7", "tributary.edge.id": "edge-7",
		"k8s.pod.name": "edge-0", "k8s.namespace.name": "media", "deployment.environment.name": "staging", "team": "a,b",
	} {
		if got := s.ResourceString(k); got != want {
			t.Errorf("resource %s = %q, want %q", k, got, want)
		}
	}
}

// TestTracingSamplerAlwaysOff exports nothing: the spans do not record.
func TestTracingSamplerAlwaysOff(t *testing.T) {
	r := otlptest.Start(t)
	tr := newTracing(t, []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + r.Endpoint(), "OTEL_TRACES_SAMPLER=always_off",
		"OTEL_BSP_SCHEDULE_DELAY=10"}, nil)
	_, span := tr.TracerProvider().Tracer("test").Start(context.Background(), "off")
	if span.IsRecording() || span.SpanContext().IsSampled() {
		t.Fatal("a span records with always_off")
	}
	span.End()
	if err := shutdown(t, tr, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if n := r.Requests(); n != 0 {
		t.Fatalf("%d export requests with always_off:\n%s", n, r.Dump())
	}
}

// TestTracingSamplerRatio checks that parentbased_traceidratio follows a
// sampled parent whatever the ratio, and samples no root at ratio 0.
func TestTracingSamplerRatio(t *testing.T) {
	tr := newTracing(t, []string{"OTEL_TRACES_EXPORTER=console", "OTEL_TRACES_SAMPLER=parentbased_traceidratio",
		"OTEL_TRACES_SAMPLER_ARG=0"}, nil)
	tracer := tr.TracerProvider().Tracer("test")
	_, root := tracer.Start(context.Background(), "root")
	if root.SpanContext().IsSampled() {
		t.Fatal("root span sampled at ratio 0")
	}
	root.End()
	ctx := propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier{
		"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	})
	_, child := tracer.Start(ctx, "child")
	if !child.SpanContext().IsSampled() || child.SpanContext().TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Fatal("a sampled remote parent's child is not sampled in its trace")
	}
	child.End()
}

// TestTracingOff checks that tracing is a no-op, starting nothing and
// saying so in one line, when no endpoint is set, when the SDK is
// disabled and when the exporter is none.
func TestTracingOff(t *testing.T) {
	for _, tc := range []struct {
		name    string
		environ []string
		why     string
	}{
		{"nothing set", nil, "no OTEL_EXPORTER_OTLP_ENDPOINT"},
		{"only a protocol", []string{"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf", "OTEL_SERVICE_NAME=x"}, "no OTEL_EXPORTER_OTLP_ENDPOINT"},
		{"disabled", []string{"OTEL_SDK_DISABLED=true", "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317"}, "OTEL_SDK_DISABLED=true"},
		{"exporter none", []string{"OTEL_TRACES_EXPORTER=none", "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317"}, "OTEL_TRACES_EXPORTER=none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			var log testutil.SyncBuffer
			tr := newTracing(t, tc.environ, &log)
			if tr.Enabled() {
				t.Fatal("tracing is on")
			}
			_, span := tr.TracerProvider().Tracer("test").Start(context.Background(), "nothing")
			if span.IsRecording() || span.SpanContext().IsValid() {
				t.Fatal("the no-op provider made a real span")
			}
			span.End()
			if after := runtime.NumGoroutine(); after > before {
				t.Fatalf("%d goroutines before, %d after", before, after)
			}
			lines := strings.Split(strings.TrimSpace(log.String()), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], "level=INFO") || !strings.Contains(lines[0], "tracing is off") ||
				!strings.Contains(lines[0], tc.why) {
				t.Fatalf("log:\n%s\nwant one info line saying tracing is off: %s", log.String(), tc.why)
			}
			if err := shutdown(t, tr, time.Second); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestTracingIgnoresProcessEnvironment checks that only the given
// environment counts: the process's OTEL_* variables neither turn tracing
// on nor change its settings.
func TestTracingIgnoresProcessEnvironment(t *testing.T) {
	r := otlptest.Start(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", r.Endpoint())
	t.Setenv("OTEL_TRACES_SAMPLER", "always_off")
	t.Setenv("OTEL_SERVICE_NAME", "from-the-process")
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-process=1")
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "3600000")
	if newTracing(t, nil, nil).Enabled() {
		t.Fatal("tracing is on from the process environment")
	}
	tr := newTracing(t, []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + r.HTTPEndpoint(), "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
		"OTEL_BSP_SCHEDULE_DELAY=20"}, nil)
	endSpan(tr.TracerProvider(), "explicit")
	s := r.WaitSpan(t, 10*time.Second, otlptest.Named("explicit"))
	if s.ResourceString("service.name") != "tributary-test" || s.Transport != "http" {
		t.Fatalf("received %s over %s", s.Describe(), s.Transport)
	}
	if _, ok := r.LastHeaders()["x-process"]; ok {
		t.Fatal("the process environment's headers were sent")
	}
}

// TestTracingShutdownFlushes checks that Shutdown exports the spans that
// the batch holds.
func TestTracingShutdownFlushes(t *testing.T) {
	r := otlptest.Start(t)
	tr := newTracing(t, []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + r.Endpoint(), "OTEL_BSP_SCHEDULE_DELAY=3600000"}, nil)
	for range 3 {
		endSpan(tr.TracerProvider(), "pending")
	}
	if n := r.Requests(); n != 0 {
		t.Fatalf("%d export requests before Shutdown", n)
	}
	if err := shutdown(t, tr, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := r.Find(otlptest.Named("pending")); len(got) != 3 {
		t.Fatalf("%d spans after Shutdown, want 3:\n%s", len(got), r.Dump())
	}
	// Spans ended after Shutdown are dropped, quietly.
	endSpan(tr.TracerProvider(), "late")
	if err := shutdown(t, tr, time.Second); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
}

// TestTracingShutdownReceiverGone checks that Shutdown returns within its
// context's timeout when the receiver is gone, and that failed exports
// are logged.
func TestTracingShutdownReceiverGone(t *testing.T) {
	r := otlptest.Start(t)
	// A receiver that accepts connections and never answers.
	hole, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	go func() {
		for {
			c, err := hole.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	for _, tc := range []struct {
		name    string
		environ []string
	}{
		{"grpc", []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + r.Endpoint()}},
		{"http", []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + r.HTTPEndpoint(), "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf"}},
		{"grpc unresponsive", []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + hole.Addr().String()}},
		{"http unresponsive", []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + hole.Addr().String(), "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTracing(t, append(tc.environ, "OTEL_BSP_SCHEDULE_DELAY=3600000"), nil)
			r.Close()
			endSpan(tr.TracerProvider(), "lost")
			start := time.Now()
			err := shutdown(t, tr, 500*time.Millisecond)
			if took := time.Since(start); took > 1500*time.Millisecond {
				t.Fatalf("Shutdown took %v with a 500ms timeout", took)
			}
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Shutdown: %v", err)
			}
		})
	}
	// An endpoint nobody listens on: the export fails at once and is
	// logged, and tracing goes on.
	var log testutil.SyncBuffer
	tr := newTracing(t, []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + r.HTTPEndpoint(), "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
		"OTEL_BSP_SCHEDULE_DELAY=10", "OTEL_EXPORTER_OTLP_TIMEOUT=200"}, &log)
	endSpan(tr.TracerProvider(), "lost")
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(log.String(), "traces not exported") {
		if time.Now().After(deadline) {
			t.Fatalf("no export failure logged:\n%s", log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTracingConsoleExporter checks that the console exporter writes each
// span as a log line.
func TestTracingConsoleExporter(t *testing.T) {
	var log testutil.SyncBuffer
	tr := newTracing(t, []string{"OTEL_TRACES_EXPORTER=console", "OTEL_BSP_SCHEDULE_DELAY=10"}, &log)
	if !tr.Enabled() {
		t.Fatal("console exporter: tracing is off")
	}
	sc := endSpan(tr.TracerProvider(), "to the console")
	if err := shutdown(t, tr, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{`msg=span name="to the console" kind=server trace_id=` + sc.TraceID().String(), "attributes.rtmp.app=live"} {
		if !strings.Contains(log.String(), w) {
			t.Fatalf("log lacks %q:\n%s", w, log.String())
		}
	}
}

// TestTracingConfigErrors checks that bad values are refused, naming the
// variable.
func TestTracingConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		environ []string
		want    string
	}{
		{[]string{"OTEL_SDK_DISABLED=yes"}, "OTEL_SDK_DISABLED"},
		{[]string{"OTEL_TRACES_EXPORTER=jaeger"}, "OTEL_TRACES_EXPORTER"},
		{[]string{"OTEL_TRACES_EXPORTER=none,otlp"}, "OTEL_TRACES_EXPORTER"},
		{[]string{"OTEL_EXPORTER_OTLP_PROTOCOL=udp"}, "OTEL_EXPORTER_OTLP_PROTOCOL"},
		{[]string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/json"}, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"},
		{[]string{"OTEL_EXPORTER_OTLP_ENDPOINT=ftp://collector:4317"}, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{[]string{"OTEL_EXPORTER_OTLP_ENDPOINT=collector"}, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{[]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=collector:4318", "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf"}, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"},
		{[]string{"OTEL_EXPORTER_OTLP_ENDPOINT=collector:4317", "OTEL_EXPORTER_OTLP_INSECURE=maybe"}, "OTEL_EXPORTER_OTLP_INSECURE"},
		{[]string{"OTEL_EXPORTER_OTLP_ENDPOINT=https://collector:4317", "OTEL_EXPORTER_OTLP_CERTIFICATE=/nonexistent/ca.pem"}, "OTEL_EXPORTER_OTLP_CERTIFICATE"},
		{[]string{"OTEL_EXPORTER_OTLP_HEADERS=novalue"}, "OTEL_EXPORTER_OTLP_HEADERS"},
		{[]string{"OTEL_EXPORTER_OTLP_TIMEOUT=10s"}, "OTEL_EXPORTER_OTLP_TIMEOUT"},
		{[]string{"OTEL_EXPORTER_OTLP_COMPRESSION=zstd"}, "OTEL_EXPORTER_OTLP_COMPRESSION"},
		{[]string{"OTEL_RESOURCE_ATTRIBUTES=a=%zz"}, "OTEL_RESOURCE_ATTRIBUTES"},
		{[]string{"OTEL_TRACES_SAMPLER=sometimes"}, "OTEL_TRACES_SAMPLER"},
		{[]string{"OTEL_TRACES_SAMPLER=traceidratio", "OTEL_TRACES_SAMPLER_ARG=2"}, "OTEL_TRACES_SAMPLER_ARG"},
		{[]string{"OTEL_TRACES_SAMPLER=parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG=half"}, "OTEL_TRACES_SAMPLER_ARG"},
		{[]string{"OTEL_BSP_SCHEDULE_DELAY=-1"}, "OTEL_BSP_SCHEDULE_DELAY"},
		{[]string{"OTEL_BSP_MAX_QUEUE_SIZE=0"}, "OTEL_BSP_MAX_QUEUE_SIZE"},
		{[]string{"OTEL_BSP_MAX_QUEUE_SIZE=10", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE=20"}, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE"},
	} {
		_, err := telemetry.NewTracing(telemetry.TracingConfig{Environ: tc.environ, ServiceName: "x"})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one naming %s", tc.environ, err, tc.want)
		}
	}
}

// TestPropagator checks the propagator speaks W3C Trace Context.
func TestPropagator(t *testing.T) {
	tr := newTracing(t, []string{"OTEL_TRACES_EXPORTER=console"}, nil)
	ctx, span := tr.TracerProvider().Tracer("test").Start(context.Background(), "out")
	defer span.End()
	carrier := propagation.MapCarrier{}
	telemetry.Propagator().Inject(ctx, carrier)
	want := "00-" + span.SpanContext().TraceID().String() + "-" + span.SpanContext().SpanID().String() + "-01"
	if carrier["traceparent"] != want {
		t.Fatalf("traceparent %q, want %q", carrier["traceparent"], want)
	}
	got := trace.SpanContextFromContext(telemetry.Propagator().Extract(context.Background(), carrier))
	if got.TraceID() != span.SpanContext().TraceID() || !got.IsRemote() {
		t.Fatalf("extracted %v", got)
	}
}
