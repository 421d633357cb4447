// Command controller is Tributary's controller: one of two or more
// replicas, one of which leads (an etcd election). The leader deletes the
// stream claims of edges that are gone and publishes stream lifecycle
// events (started, taken-over, stopped) on the bus; every replica serves
// the admin HTTP API (docs/api.md): streams, edges, kick, drain.
//
// With no -nats-url it starts an embedded NATS server, and with no
// -etcd-endpoints an embedded etcd server, so one command runs a working
// controller; edges then join it:
//
//	go run ./cmd/controller
//	go run ./cmd/edge -nats-url nats://127.0.0.1:4222 -etcd-endpoints 127.0.0.1:2379
//	curl -s localhost:8081/api/v1/streams
//
// An edge that starts the embedded etcd server runs a controller of its
// own, with its admin API on :8081; more replicas join its servers on
// other addresses:
//
//	go run ./cmd/edge
//	go run ./cmd/controller -id ctl-2 -http-addr :8083 -nats-url nats://127.0.0.1:4222 -etcd-endpoints 127.0.0.1:2379
//
// Every flag can also be set in the YAML file given by -config and in a
// TRIBUTARY_* environment variable; controller -h lists them. Variables of
// the edge's settings are ignored, so both programs can share an
// environment. Tracing is set by the standard OpenTelemetry variables:
// OTEL_EXPORTER_OTLP_ENDPOINT turns it on (docs/observability.md).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/tributary-media/tributary/internal/backend"
	"github.com/tributary-media/tributary/internal/config"
	"github.com/tributary-media/tributary/internal/controller"
	"github.com/tributary-media/tributary/internal/telemetry"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal starts the shutdown; a second one ends the process
	// at once (the default action, restored by stop).
	context.AfterFunc(ctx, stop)
	os.Exit(run(ctx, os.Args[1:], os.Environ(), os.Stderr))
}

// run is the whole program; it returns the exit status: 0 after a clean
// shutdown, 1 on a runtime failure, 2 on a configuration error.
func run(ctx context.Context, args, environ []string, stderr io.Writer) int {
	cfg, err := config.LoadController("controller", args, environ, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "controller: %v\n", err)
		return 2
	}
	log, err := config.NewLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		fmt.Fprintf(stderr, "controller: %v\n", err)
		return 2
	}
	log, tracing, err := telemetry.Setup(log, "controller", telemetry.TracingConfig{
		Environ:     environ,
		ServiceName: "tributary-controller",
		Version:     version,
		InstanceID:  cfg.ID,
	})
	if err != nil {
		fmt.Fprintf(stderr, "controller: %v\n", err)
		return 2
	}
	err = serve(ctx, cfg, log, tracing.TracerProvider())
	// The flush comes once everything has stopped, so that the spans of
	// the shutdown are exported too.
	tracing.Flush(log)
	if err != nil {
		log.Error("controller stopped", "err", err)
		return 1
	}
	log.Info("controller stopped")
	return 0
}

// serve runs the controller until ctx ends, then shuts it down in order:
// resign the leadership (Run returns), stop the HTTP server, close the
// NATS and etcd clients, stop the embedded servers. The controller traces
// with tp.
func serve(ctx context.Context, cfg config.Controller, log *slog.Logger, tp trace.TracerProvider) error {
	log.Info("controller starting", "version", version, "http_addr", cfg.HTTPAddr)

	// The bus and the cluster state: external servers, or ones in this
	// process.
	be, err := backend.Start(backend.Options{
		Name:             "tributary-controller " + cfg.ID,
		NATSURLs:         cfg.NATSURLs(),
		EmbeddedNATSAddr: cfg.EmbeddedNATSAddr,
		EtcdEndpoints:    cfg.EtcdEndpointList(),
		EmbeddedEtcdAddr: cfg.EmbeddedEtcdAddr,
		EmbeddedEtcdDir:  cfg.EmbeddedEtcdDir,
		NATSSecurity:     cfg.NATSSecurity,
		EtcdSecurity:     cfg.EtcdSecurity,
		Logger:           log,
	})
	if err != nil {
		return err
	}
	defer be.Close()
	nc, etcd := be.NATS, be.Etcd

	// NewServer opens the listener, so that a taken port fails before
	// anything runs.
	reg := telemetry.NewRegistry()
	srv, err := controller.NewServer(controller.ServerConfig{
		Config: controller.Config{
			Etcd:           etcd,
			NATS:           nc,
			Prefix:         cfg.BusPrefix,
			ID:             cfg.ID,
			LeaseTTL:       cfg.LeaseTTL,
			ReconnectGrace: cfg.ReconnectGrace,
			ReapGrace:      cfg.ReapGrace,
			Logger:         log,
			Metrics:        reg,
			TracerProvider: tp,
		},
		Addr:           cfg.HTTPAddr,
		MetricsHandler: telemetry.Handler(reg),
		Token:          cfg.AdminToken.Value(),
	})
	if err != nil {
		return err
	}
	stopNotice := context.AfterFunc(ctx, func() {
		log.Info("shutting down: resigning the leadership (a second signal exits at once)")
	})
	defer stopNotice()
	// Run resigns the leadership and stops the HTTP server before it
	// returns; the clients close after it.
	runErr := srv.Run(ctx)
	be.DrainBus(5 * time.Second)
	return runErr
}
