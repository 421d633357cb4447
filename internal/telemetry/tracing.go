package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// TracingConfig is what NewTracing needs besides the OTEL_* variables.
type TracingConfig struct {
	// Environ is the process environment in the form of os.Environ; only
	// its OTEL_* variables, POD_NAME and POD_NAMESPACE are read.
	Environ []string
	// ServiceName is the service.name resource attribute unless
	// OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES set one.
	ServiceName string
	// Version is the service.version resource attribute.
	Version string
	// InstanceID is the service.instance.id resource attribute: the
	// edge's or the controller replica's id.
	InstanceID string
	// EdgeID, when set, is the tributary.edge.id resource attribute.
	EdgeID string
	// Logger gets one line saying whether tracing is on and where spans
	// go, export failures (at most one a minute while they last), and the
	// spans of the console exporter. Nil discards.
	Logger *slog.Logger
}

// Tracing is a process's tracer provider: an OpenTelemetry SDK exporting
// spans when the environment configures it, a no-op provider otherwise.
type Tracing struct {
	provider trace.TracerProvider
	sdk      *sdktrace.TracerProvider // nil when tracing is off
	desc     string
}

// NewTracing sets tracing up from the standard OpenTelemetry variables of
// cfg.Environ (docs/observability.md lists those it reads). The process
// environment itself is not read: the SDK's and exporters' own
// environment lookups are overridden by explicit options.
//
// Without an OTLP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) and without the console exporter,
// or with OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none, the
// provider is a no-op one: no goroutine, no connection. An error names the
// variable whose value is not valid; nothing is started then.
//
// NewTracing sets no global: the provider is passed to the components that
// trace, and Propagator carries the trace context between processes.
func NewTracing(cfg TracingConfig) (*Tracing, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	env := newEnviron(cfg.Environ)
	s, err := parseTracingSettings(env)
	if err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	off := func(why string) *Tracing {
		log.Info("tracing is off: " + why)
		return &Tracing{provider: noop.NewTracerProvider(), desc: "off"}
	}
	switch {
	case s.disabled:
		return off("OTEL_SDK_DISABLED=true"), nil
	case !s.otlp && !s.console:
		return off("OTEL_TRACES_EXPORTER=none"), nil
	case s.endpoint == "" && !s.console:
		return off("no OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) set"), nil
	}

	res, err := newResource(cfg, env, s)
	if err != nil {
		return nil, err
	}
	opts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(res),
		sdktrace.WithSampler(s.sampler),
		// Explicit limits, so that the SDK does not read OTEL_SPAN_* from
		// the process environment.
		sdktrace.WithRawSpanLimits(sdktrace.SpanLimits{
			AttributeValueLengthLimit:   sdktrace.DefaultAttributeValueLengthLimit,
			AttributeCountLimit:         sdktrace.DefaultAttributeCountLimit,
			EventCountLimit:             sdktrace.DefaultEventCountLimit,
			LinkCountLimit:              sdktrace.DefaultLinkCountLimit,
			AttributePerEventCountLimit: sdktrace.DefaultAttributePerEventCountLimit,
			AttributePerLinkCountLimit:  sdktrace.DefaultAttributePerLinkCountLimit,
		}),
	}
	batch := []sdktrace.BatchSpanProcessorOption{
		sdktrace.WithBatchTimeout(s.scheduleDelay),
		sdktrace.WithExportTimeout(s.exportTimeout),
		sdktrace.WithMaxQueueSize(s.maxQueueSize),
		sdktrace.WithMaxExportBatchSize(s.maxExportBatch),
	}
	desc := ""
	if s.otlp && s.endpoint != "" {
		exp, err := newOTLPExporter(s)
		if err != nil {
			return nil, fmt.Errorf("telemetry: OTLP exporter (%s): %w", s.endpointVar, err)
		}
		what := fmt.Sprintf("OTLP %s to %s", s.protocol, s.endpoint)
		opts = append(opts, sdktrace.WithBatcher(&reportingExporter{SpanExporter: exp, log: log, what: what}, batch...))
		desc = what
	}
	if s.console {
		opts = append(opts, sdktrace.WithBatcher(&consoleExporter{log: log}, batch...))
		if desc != "" {
			desc += " and "
		}
		desc += "the log (console exporter)"
	}
	tp := sdktrace.NewTracerProvider(opts...)
	name, _ := res.Set().Value("service.name")
	log.Info("tracing is on", "exporter", desc, "sampler", s.samplerDesc, "service_name", name.AsString())
	return &Tracing{provider: tp, sdk: tp, desc: desc}, nil
}

// TracerProvider returns the provider to pass to the components that
// trace; a no-op one when tracing is off.
func (t *Tracing) TracerProvider() trace.TracerProvider { return t.provider }

// Enabled reports whether spans are exported.
func (t *Tracing) Enabled() bool { return t.sdk != nil }

// Shutdown exports the spans that have ended and not been exported yet
// and stops the exporters. It returns when that is done or when ctx ends,
// whichever comes first (with ctx's error then: the spans left are lost).
// Spans ended after Shutdown are dropped.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t.sdk == nil {
		return nil
	}
	done := make(chan error, 1)
	go func() { done <- t.sdk.Shutdown(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Propagator returns the W3C Trace Context propagator (the traceparent
// and tracestate headers) that carries the trace context across HTTP
// requests and NATS messages.
func Propagator() propagation.TextMapPropagator { return propagation.TraceContext{} }

// newOTLPExporter returns the OTLP exporter s describes. Every setting is
// passed as an option, which overrides what the exporter would read from
// the process environment.
func newOTLPExporter(s tracingSettings) (sdktrace.SpanExporter, error) {
	ctx := context.Background()
	if s.protocol == protocolHTTP {
		opts := []otlptracehttp.Option{
			otlptracehttp.WithEndpointURL(s.endpoint),
			otlptracehttp.WithHeaders(s.headers),
			otlptracehttp.WithTimeout(s.timeout),
			otlptracehttp.WithCompression(otlptracehttp.NoCompression),
		}
		if s.gzip {
			opts = append(opts, otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
		}
		if s.tlsConfig != nil {
			opts = append(opts, otlptracehttp.WithTLSClientConfig(s.tlsConfig))
		}
		return otlptracehttp.New(ctx, opts...)
	}
	opts := []otlptracegrpc.Option{
		otlptracegrpc.WithEndpoint(s.endpoint),
		otlptracegrpc.WithHeaders(s.headers),
		otlptracegrpc.WithTimeout(s.timeout),
	}
	if s.gzip {
		opts = append(opts, otlptracegrpc.WithCompressor("gzip"))
	}
	if s.tlsConfig != nil {
		opts = append(opts, otlptracegrpc.WithTLSCredentials(credentials.NewTLS(s.tlsConfig)))
	} else {
		// A dial option rather than WithInsecure: it also wins over
		// credentials the exporter would build from the process
		// environment's OTEL_EXPORTER_OTLP_CERTIFICATE.
		opts = append(opts, otlptracegrpc.WithInsecure(),
			otlptracegrpc.WithDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	}
	// The client connects lazily, on the first export.
	return otlptracegrpc.New(ctx, opts...)
}

// newResource returns the resource describing the process: the service,
// the host, the Kubernetes pod when POD_NAME and POD_NAMESPACE are set (as
// the chart does from the downward API), then OTEL_RESOURCE_ATTRIBUTES and
// OTEL_SERVICE_NAME, which override the attributes before them.
func newResource(cfg TracingConfig, env environ, s tracingSettings) (*resource.Resource, error) {
	attrs := []attribute.KeyValue{attribute.String("service.name", cfg.ServiceName)}
	if cfg.Version != "" {
		attrs = append(attrs, attribute.String("service.version", cfg.Version))
	}
	if cfg.InstanceID != "" {
		attrs = append(attrs, attribute.String("service.instance.id", cfg.InstanceID))
	}
	if cfg.EdgeID != "" {
		attrs = append(attrs, attribute.String("tributary.edge.id", cfg.EdgeID))
	}
	if h, err := os.Hostname(); err == nil {
		attrs = append(attrs, attribute.String("host.name", h))
	}
	if v := env["POD_NAME"]; v != "" {
		attrs = append(attrs, attribute.String("k8s.pod.name", v))
	}
	if v := env["POD_NAMESPACE"]; v != "" {
		attrs = append(attrs, attribute.String("k8s.namespace.name", v))
	}
	attrs = append(attrs, s.resource...)
	if s.serviceName != "" {
		attrs = append(attrs, attribute.String("service.name", s.serviceName))
	}
	// A set keeps the last value of a key.
	res, err := resource.New(context.Background(), resource.WithTelemetrySDK(), resource.WithAttributes(attrs...))
	if err != nil {
		return nil, fmt.Errorf("telemetry: resource: %w", err)
	}
	return res, nil
}

// exportFailureLogEvery is how often a lasting export failure is logged.
const exportFailureLogEvery = time.Minute

// reportingExporter logs the failures of the exporter it wraps, at most
// once every exportFailureLogEvery while they last, and the recovery.
// It returns no error to the SDK, which would report it again through the
// process-wide OpenTelemetry error handler.
type reportingExporter struct {
	sdktrace.SpanExporter
	log  *slog.Logger
	what string

	mu      sync.Mutex
	failing bool
	lastLog time.Time
	lost    int // spans lost since the last log line
}

// ExportSpans implements sdktrace.SpanExporter.
func (e *reportingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := e.SpanExporter.ExportSpans(ctx, spans)
	e.mu.Lock()
	defer e.mu.Unlock()
	now := time.Now()
	switch {
	case err != nil:
		e.lost += len(spans)
		if !e.failing || now.Sub(e.lastLog) >= exportFailureLogEvery {
			e.log.Warn("traces not exported", "to", e.what, "spans_lost", e.lost, "err", err)
			e.lastLog, e.lost = now, 0
		}
		e.failing = true
	case e.failing:
		e.log.Info("traces exported again", "to", e.what, "spans_lost", e.lost)
		e.failing, e.lost = false, 0
	}
	return nil
}

// consoleExporter writes every span as one log line (the console
// exporter, for debugging).
type consoleExporter struct {
	log *slog.Logger
}

// ExportSpans implements sdktrace.SpanExporter.
func (e *consoleExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	for _, s := range spans {
		sc := s.SpanContext()
		args := []any{
			"name", s.Name(),
			"kind", s.SpanKind().String(),
			"trace_id", sc.TraceID().String(),
			"span_id", sc.SpanID().String(),
		}
		if p := s.Parent(); p.IsValid() {
			args = append(args, "parent_span_id", p.SpanID().String())
		}
		args = append(args, "start", s.StartTime(), "duration", s.EndTime().Sub(s.StartTime()),
			"status", s.Status().Code.String())
		if d := s.Status().Description; d != "" {
			args = append(args, "status_message", d)
		}
		attrs := make([]any, 0, len(s.Attributes()))
		for _, kv := range s.Attributes() {
			attrs = append(attrs, slog.Any(string(kv.Key), kv.Value.AsInterface()))
		}
		args = append(args, slog.Group("attributes", attrs...))
		for i, ev := range s.Events() {
			args = append(args, fmt.Sprintf("event.%d", i), ev.Name)
		}
		for i, l := range s.Links() {
			args = append(args, fmt.Sprintf("link.%d", i), l.SpanContext.TraceID().String()+"-"+l.SpanContext.SpanID().String())
		}
		// The line is about the span, not written inside it: ctx holds
		// no span.
		e.log.LogAttrs(ctx, slog.LevelInfo, "span", argsToAttrs(args)...)
	}
	return nil
}

// Shutdown implements sdktrace.SpanExporter.
func (e *consoleExporter) Shutdown(context.Context) error { return nil }

// argsToAttrs turns alternating keys and values, or slog.Attrs, into
// attributes.
func argsToAttrs(args []any) []slog.Attr {
	var r slog.Record
	r.Add(args...)
	attrs := make([]slog.Attr, 0, r.NumAttrs())
	r.Attrs(func(a slog.Attr) bool {
		attrs = append(attrs, a)
		return true
	})
	return attrs
}
