package telemetry

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// The OTLP protocols the exporter speaks.
const (
	protocolGRPC = "grpc"
	protocolHTTP = "http/protobuf"
)

// environ is a process environment in the "KEY=value" form of os.Environ,
// looked up like os.Getenv: the last assignment of a key wins, and an
// empty value counts as unset (as the OpenTelemetry specification says).
type environ map[string]string

func newEnviron(kv []string) environ {
	env := make(environ, len(kv))
	for _, s := range kv {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			continue
		}
		env[k] = strings.TrimSpace(v)
	}
	return env
}

// get returns the value of the first of keys that is set, and that key.
func (env environ) get(keys ...string) (value, key string) {
	for _, k := range keys {
		if v := env[k]; v != "" {
			return v, k
		}
	}
	return "", keys[len(keys)-1]
}

// tracingSettings is what the OTEL_* variables say about tracing.
type tracingSettings struct {
	// disabled: OTEL_SDK_DISABLED=true.
	disabled bool
	// otlp and console: the exporters OTEL_TRACES_EXPORTER names (otlp
	// alone by default; none names neither).
	otlp, console bool

	// endpoint is the OTLP endpoint: for gRPC a host:port, for HTTP the
	// full URL spans are posted to; empty when none is configured.
	endpoint    string
	endpointVar string // the variable endpoint comes from
	protocol    string
	insecure    bool
	tlsConfig   *tls.Config // nil when insecure
	headers     map[string]string
	timeout     time.Duration
	gzip        bool

	serviceName string
	resource    []attribute.KeyValue // OTEL_RESOURCE_ATTRIBUTES

	sampler     sdktrace.Sampler
	samplerDesc string

	// The batch span processor's settings (OTEL_BSP_*).
	scheduleDelay  time.Duration
	exportTimeout  time.Duration
	maxQueueSize   int
	maxExportBatch int
}

// Defaults of the OpenTelemetry specification.
const (
	defaultOTLPTimeout    = 10 * time.Second
	defaultScheduleDelay  = 5 * time.Second
	defaultExportTimeout  = 30 * time.Second
	defaultMaxQueueSize   = 2048
	defaultMaxExportBatch = 512
)

// parseTracingSettings reads the tracing settings from env; an error names
// the variable at fault and what it accepts.
func parseTracingSettings(env environ) (tracingSettings, error) {
	var s tracingSettings
	var err error
	if s.disabled, err = parseBool(env, "OTEL_SDK_DISABLED"); err != nil || s.disabled {
		return s, err
	}
	if err := s.parseExporters(env); err != nil {
		return s, err
	}
	if err := s.parseEndpoint(env); err != nil {
		return s, err
	}
	if s.headers, err = parseHeaders(env); err != nil {
		return s, err
	}
	if s.timeout, err = parseMillis(env, defaultOTLPTimeout, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"); err != nil {
		return s, err
	}
	switch v, k := env.get("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION"); strings.ToLower(v) {
	case "", "none":
	case "gzip":
		s.gzip = true
	default:
		return s, fmt.Errorf("%s=%q: want gzip or none", k, v)
	}
	s.serviceName = env["OTEL_SERVICE_NAME"]
	if s.resource, err = parseResourceAttributes(env); err != nil {
		return s, err
	}
	if s.sampler, s.samplerDesc, err = parseSampler(env); err != nil {
		return s, err
	}
	return s, s.parseBatch(env)
}

// parseExporters reads OTEL_TRACES_EXPORTER: a comma-separated list of
// otlp and console, or none.
func (s *tracingSettings) parseExporters(env environ) error {
	v := env["OTEL_TRACES_EXPORTER"]
	if v == "" {
		s.otlp = true
		return nil
	}
	names := strings.Split(strings.ToLower(v), ",")
	for _, name := range names {
		switch strings.TrimSpace(name) {
		case "otlp":
			s.otlp = true
		case "console":
			s.console = true
		case "none":
			if len(names) > 1 {
				return fmt.Errorf("OTEL_TRACES_EXPORTER=%q: none cannot be combined with other exporters", v)
			}
		default:
			return fmt.Errorf("OTEL_TRACES_EXPORTER=%q: want otlp, console (or both, comma-separated) or none", v)
		}
	}
	return nil
}

// parseEndpoint reads the OTLP endpoint, protocol and transport security.
func (s *tracingSettings) parseEndpoint(env environ) error {
	proto, protoVar := env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
	switch strings.ToLower(proto) {
	case "", protocolGRPC:
		s.protocol = protocolGRPC
	case protocolHTTP:
		s.protocol = protocolHTTP
	case "http/json":
		return fmt.Errorf("%s=%q: not supported; want grpc or http/protobuf", protoVar, proto)
	default:
		return fmt.Errorf("%s=%q: want grpc or http/protobuf", protoVar, proto)
	}
	raw, key := env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
	if raw == "" || !s.otlp {
		return nil
	}
	s.endpointVar = key
	insecure, err := parseBool(env, "OTEL_EXPORTER_OTLP_TRACES_INSECURE", "OTEL_EXPORTER_OTLP_INSECURE")
	if err != nil {
		return err
	}
	if !strings.Contains(raw, "://") {
		// A bare host:port, which only gRPC accepts: TLS unless
		// OTEL_EXPORTER_OTLP_INSECURE=true.
		if s.protocol != protocolGRPC {
			return fmt.Errorf("%s=%q: want an http:// or https:// URL for the http/protobuf protocol", key, raw)
		}
		if _, port, err := net.SplitHostPort(raw); err != nil || port == "" {
			return fmt.Errorf("%s=%q: want a URL such as http://collector:4317, or host:port", key, raw)
		}
		s.endpoint, s.insecure = raw, insecure
	} else {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%s=%q: want an http:// or https:// URL such as http://collector:4317", key, raw)
		}
		s.insecure = u.Scheme == "http"
		switch {
		case s.protocol == protocolGRPC:
			// gRPC has no path: the service name is the route.
			s.endpoint = u.Host
			if u.Port() == "" {
				s.endpoint = net.JoinHostPort(u.Hostname(), "4317")
			}
		case key == "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT":
			// The signal's own endpoint is used as it is.
			if u.Path == "" {
				u.Path = "/"
			}
			s.endpoint = u.String()
		default:
			// The base endpoint gets the signal's path.
			u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/traces"
			s.endpoint = u.String()
		}
	}
	if !s.insecure {
		s.tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		if file, k := env.get("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "OTEL_EXPORTER_OTLP_CERTIFICATE"); file != "" {
			pem, err := os.ReadFile(file)
			if err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return fmt.Errorf("%s=%q: no PEM certificate in the file", k, file)
			}
			s.tlsConfig.RootCAs = pool
		}
	}
	return nil
}

// parseBatch reads the batch span processor's settings.
func (s *tracingSettings) parseBatch(env environ) error {
	var err error
	if s.scheduleDelay, err = parseMillis(env, defaultScheduleDelay, "OTEL_BSP_SCHEDULE_DELAY"); err != nil {
		return err
	}
	if s.exportTimeout, err = parseMillis(env, defaultExportTimeout, "OTEL_BSP_EXPORT_TIMEOUT"); err != nil {
		return err
	}
	if s.maxQueueSize, err = parsePositive(env, defaultMaxQueueSize, "OTEL_BSP_MAX_QUEUE_SIZE"); err != nil {
		return err
	}
	if s.maxExportBatch, err = parsePositive(env, defaultMaxExportBatch, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE"); err != nil {
		return err
	}
	if s.maxExportBatch > s.maxQueueSize {
		return fmt.Errorf("OTEL_BSP_MAX_EXPORT_BATCH_SIZE=%d: above OTEL_BSP_MAX_QUEUE_SIZE=%d", s.maxExportBatch, s.maxQueueSize)
	}
	return nil
}

// parseBool reads the first of keys that is set as true or false (in any
// case); unset is false.
func parseBool(env environ, keys ...string) (bool, error) {
	v, k := env.get(keys...)
	switch strings.ToLower(v) {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	}
	return false, fmt.Errorf("%s=%q: want true or false", k, v)
}

// parseMillis reads the first of keys that is set as a whole number of
// milliseconds.
func parseMillis(env environ, def time.Duration, keys ...string) (time.Duration, error) {
	v, k := env.get(keys...)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > int64(24*time.Hour/time.Millisecond) {
		return 0, fmt.Errorf("%s=%q: want a number of milliseconds", k, v)
	}
	return time.Duration(n) * time.Millisecond, nil
}

// parsePositive reads key as a number above 0.
func parsePositive(env environ, def int, key string) (int, error) {
	v := env[key]
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s=%q: want a number above 0", key, v)
	}
	return n, nil
}

// parseList parses the W3C-baggage-like "key=value,key=value" lists of
// OTEL_EXPORTER_OTLP_HEADERS and OTEL_RESOURCE_ATTRIBUTES; values are
// percent-decoded.
func parseList(key, v string) ([][2]string, error) {
	var kvs [][2]string
	for item := range strings.SplitSeq(v, ",") {
		if strings.TrimSpace(item) == "" {
			continue
		}
		name, value, ok := strings.Cut(item, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("%s: %q is not key=value", key, item)
		}
		dec, err := url.PathUnescape(strings.TrimSpace(value))
		if err != nil {
			return nil, fmt.Errorf("%s: value of %q: %w", key, name, err)
		}
		kvs = append(kvs, [2]string{name, dec})
	}
	return kvs, nil
}

// parseHeaders reads the headers sent with every export: those of
// OTEL_EXPORTER_OTLP_HEADERS, overridden by
// OTEL_EXPORTER_OTLP_TRACES_HEADERS.
func parseHeaders(env environ) (map[string]string, error) {
	h := map[string]string{}
	for _, key := range []string{"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"} {
		kvs, err := parseList(key, env[key])
		if err != nil {
			return nil, err
		}
		for _, kv := range kvs {
			h[kv[0]] = kv[1]
		}
	}
	return h, nil
}

// parseResourceAttributes reads OTEL_RESOURCE_ATTRIBUTES; every value is a
// string.
func parseResourceAttributes(env environ) ([]attribute.KeyValue, error) {
	kvs, err := parseList("OTEL_RESOURCE_ATTRIBUTES", env["OTEL_RESOURCE_ATTRIBUTES"])
	if err != nil {
		return nil, err
	}
	attrs := make([]attribute.KeyValue, 0, len(kvs))
	for _, kv := range kvs {
		attrs = append(attrs, attribute.String(kv[0], kv[1]))
	}
	return attrs, nil
}

// parseSampler reads OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG; the
// default samples every trace that is not already decided by its parent
// (parentbased_always_on).
func parseSampler(env environ) (sdktrace.Sampler, string, error) {
	name := strings.ToLower(env["OTEL_TRACES_SAMPLER"])
	arg := env["OTEL_TRACES_SAMPLER_ARG"]
	ratio := func() (float64, error) {
		if arg == "" {
			return 1, nil
		}
		r, err := strconv.ParseFloat(arg, 64)
		if err != nil || r < 0 || r > 1 {
			return 0, fmt.Errorf("OTEL_TRACES_SAMPLER_ARG=%q: want a ratio from 0 to 1 for %s", arg, name)
		}
		return r, nil
	}
	switch name {
	case "", "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), "parentbased_always_on", nil
	case "always_on":
		return sdktrace.AlwaysSample(), name, nil
	case "always_off":
		return sdktrace.NeverSample(), name, nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), name, nil
	case "traceidratio":
		r, err := ratio()
		return sdktrace.TraceIDRatioBased(r), fmt.Sprintf("%s(%g)", name, r), err
	case "parentbased_traceidratio":
		r, err := ratio()
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(r)), fmt.Sprintf("%s(%g)", name, r), err
	}
	return nil, "", fmt.Errorf("OTEL_TRACES_SAMPLER=%q: want always_on, always_off, traceidratio, parentbased_always_on, "+
		"parentbased_always_off or parentbased_traceidratio", env["OTEL_TRACES_SAMPLER"])
}
