// Package telemetry sets up what every Tributary process exports about
// itself: a private Prometheus registry with the Go runtime and process
// collectors, and the HTTP handler that serves it on /metrics
// (telemetry.go); OpenTelemetry tracing configured by the standard OTEL_*
// variables (tracing.go, otelenv.go); and the slog handler that adds
// trace and span ids to log records written inside a span (logs.go).
//
// Nothing here sets a global: the programs pass the registry, the tracer
// provider and the logger to the components.
//
// The registry is private on purpose: the default one also holds whatever
// libraries register at init (the embedded etcd server alone adds dozens
// of families), which are not part of Tributary's metric catalogue.
// Libraries of the project take a prometheus.Registerer as an option; only
// the programs create the registry and serve it.
package telemetry

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewRegistry returns a new private registry holding the Go runtime
// collector (go_*) and the process collector (process_*).
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// Handler returns the handler that serves the metrics of reg in the
// Prometheus text exposition format. A collector that fails does not fail
// the scrape: the families that could be gathered are served.
func Handler(reg prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorHandling:     promhttp.ContinueOnError,
		EnableOpenMetrics: false,
	})
}
