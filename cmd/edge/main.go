// Command edge is a Tributary edge node: it accepts RTMP publishes and puts
// their frames on the NATS media bus, and serves players of any stream from
// the bus, whichever edge the stream is published on.
//
// With no -nats-url it starts an embedded NATS server, and with no
// -etcd-endpoints an embedded etcd server and, in the same process, a
// controller (leader election, reaper, stream events) whose admin API is
// on -controller-addr (:8081), so one command runs the whole system:
//
//	go run ./cmd/edge
//	ffmpeg -re -i input.mp4 -c copy -f flv rtmp://127.0.0.1:1935/live/test
//	ffplay rtmp://127.0.0.1:1935/live/test
//	curl -s localhost:8081/api/v1/streams
//
// A second edge on the same machine joins the first one's bus and etcd
// (an edge given -etcd-endpoints runs no controller; cmd/controller runs
// them on their own):
//
//	go run ./cmd/edge -id edge-b -rtmp-addr :1936 -http-addr :8082 \
//	    -nats-url nats://127.0.0.1:4222 -etcd-endpoints 127.0.0.1:2379
//
// Every flag can also be set in the YAML file given by -config and in a
// TRIBUTARY_* environment variable; edge -h lists them. Tracing is set
// by the standard OpenTelemetry variables: OTEL_EXPORTER_OTLP_ENDPOINT
// (e.g. http://127.0.0.1:4317) turns it on (docs/observability.md).
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/tributary-media/tributary/internal/auth"
	"github.com/tributary-media/tributary/internal/backend"
	"github.com/tributary-media/tributary/internal/config"
	"github.com/tributary-media/tributary/internal/controller"
	"github.com/tributary-media/tributary/internal/edge"
	"github.com/tributary-media/tributary/internal/fanout"
	"github.com/tributary-media/tributary/internal/telemetry"
	"github.com/tributary-media/tributary/internal/tlsreload"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// defaultGOGC is the edge's garbage collection target unless the GOGC
// environment variable sets another. An edge's heap is mostly per-player
// state that lives as long as the player, and it allocates little per
// frame (frames are shared by all players), so a heap headroom of 15%
// instead of the runtime's 100% costs no CPU that could be measured and
// takes about 40% off the memory per player (docs/performance.md). The
// runtime also keeps fewer freed pages: it returns what exceeds the heap
// goal by 10%, so after a burst of joins the resident memory settles
// closer to the live heap.
const defaultGOGC = 15

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGOGC)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal starts the drain; a second one ends the process at
	// once (the default action, restored by stop).
	context.AfterFunc(ctx, stop)
	os.Exit(run(ctx, os.Args[1:], os.Environ(), os.Stderr))
}

// run is the whole program; it returns the exit status: 0 after a clean
// shutdown, 1 on a runtime failure, 2 on a configuration error.
func run(ctx context.Context, args, environ []string, stderr io.Writer) int {
	cfg, err := config.LoadEdge("edge", args, environ, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "edge: %v\n", err)
		return 2
	}
	log, err := config.NewLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		fmt.Fprintf(stderr, "edge: %v\n", err)
		return 2
	}
	log, tracing, err := telemetry.Setup(log, "edge", telemetry.TracingConfig{
		Environ:     environ,
		ServiceName: "tributary-edge",
		Version:     version,
		InstanceID:  cfg.ID,
		EdgeID:      cfg.ID,
	})
	if err != nil {
		fmt.Fprintf(stderr, "edge: %v\n", err)
		return 2
	}
	err = serve(ctx, cfg, log, tracing.TracerProvider())
	// The flush comes once everything has stopped, so that the spans of
	// the shutdown are exported too.
	tracing.Flush(log)
	if err != nil {
		log.Error("edge stopped", "err", err)
		return 1
	}
	log.Info("edge stopped")
	return 0
}

// serve runs the edge until ctx ends, then shuts it down in order:
// readiness false, stop accepting and drain the sessions, stop the
// in-process controller (it resigns the leadership), drain the bus, revoke
// the lease (releasing the claims left), stop the HTTP server, stop the
// embedded etcd and NATS servers. The edge, its cluster membership and
// the in-process controller trace with tp.
func serve(ctx context.Context, cfg config.Edge, log *slog.Logger, tp trace.TracerProvider) error {
	log.Info("edge starting", "version", version, "rtmp_addr", cfg.RTMPAddr, "rtmps_addr", cfg.RTMPSAddr, "http_addr", cfg.HTTPAddr)

	// The publish and play rules (docs/security.md). Their keys and
	// secrets files are read now: one missing or malformed stops the start.
	authz, err := auth.New(auth.Config{Rules: cfg.AuthRules(), EdgeID: cfg.ID, Logger: log})
	if err != nil {
		return err
	}
	defer authz.Close()

	// The bus and the cluster state: external servers, or ones in this
	// process.
	be, err := backend.Start(backend.Options{
		Name:             "tributary-edge " + cfg.ID,
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
	nc, etcd, embeddedEtcd := be.NATS, be.Etcd, be.EmbeddedEtcd
	policy, err := edge.ParsePolicy(cfg.PublishPolicy)
	if err != nil {
		return err
	}

	// A drain asked for through the cluster (the controller's API) runs
	// like a SIGTERM.
	ctx, drainNow := context.WithCancel(ctx)
	defer drainNow()
	cl, err := edge.NewCluster(edge.ClusterConfig{
		Client:         etcd,
		Prefix:         cfg.BusPrefix,
		EdgeID:         cfg.ID,
		Address:        advertise(cfg),
		Version:        version,
		TTL:            cfg.LeaseTTL,
		Policy:         policy,
		ReconnectGrace: cfg.ReconnectGrace,
		NATS:           nc,
		BusPrefix:      cfg.BusPrefix,
		OnDrain:        drainNow,
		Logger:         log,
		TracerProvider: tp,
	})
	if err != nil {
		return err
	}
	// One private registry for the process: the edge's, the in-process
	// controller's, the Go runtime's and the process's metrics.
	reg := telemetry.NewRegistry()
	e, err := edge.New(edge.Config{
		ID:               cfg.ID,
		NATS:             nc,
		Prefix:           cfg.BusPrefix,
		Ownership:        cl,
		ReadyCheck:       cl.Ready,
		ReconnectGrace:   cfg.ReconnectGrace,
		InitCacheBytes:   int(cfg.GOPCache),
		PlayerQueueBytes: int(cfg.PlayerQueue),
		PlayerMaxLag:     cfg.PlayerMaxLag,
		AudioHold:        fanout.AudioHoldSetting(cfg.AudioHold),
		MaxConns:         cfg.MaxConns,
		DrainTimeout:     cfg.DrainTimeout,
		Logger:           log,
		Metrics:          reg,
		TracerProvider:   tp,
		Auth:             authz,

		// Limits and timeouts: docs/security.md.
		MaxConnsPerIP:       cfg.MaxConnsPerIP,
		MaxPublishers:       cfg.MaxPublishers,
		MaxPlayersPerStream: cfg.MaxPlayersPerStream,
		MaxPublishBitrate:   int64(cfg.MaxPublishBitrate),
		HandshakeTimeout:    cfg.HandshakeTimeout,
		ConnectTimeout:      cfg.ConnectTimeout,
		IdleTimeout:         idleTimeout(cfg.IdleTimeout),
	})
	if err != nil {
		return err
	}
	cl.Attach(e)
	clusterCtx, stopCluster := context.WithCancel(context.Background())
	clusterDone := make(chan struct{})
	go func() {
		defer close(clusterDone)
		cl.Run(clusterCtx)
	}()
	defer func() {
		stopCluster()
		<-clusterDone
	}()

	// Listeners first, so that a taken port fails before anything runs.
	var lns []net.Listener
	closeAll := func() {
		for _, ln := range lns {
			ln.Close()
		}
	}
	if cfg.RTMPAddr != "" {
		ln, err := net.Listen("tcp", cfg.RTMPAddr)
		if err != nil {
			return fmt.Errorf("rtmp listener: %w", err)
		}
		lns = append(lns, ln)
	}
	if cfg.RTMPSAddr != "" {
		// The certificate follows its files: a renewed one is served
		// without a restart.
		certs, err := tlsreload.New(tlsreload.Config{CertFile: cfg.TLSCert, KeyFile: cfg.TLSKey, Logger: log})
		if err != nil {
			closeAll()
			return fmt.Errorf("rtmps: %w", err)
		}
		ln, err := net.Listen("tcp", cfg.RTMPSAddr)
		if err != nil {
			closeAll()
			return fmt.Errorf("rtmps listener: %w", err)
		}
		lns = append(lns, tls.NewListener(ln, certs.TLSConfig()))
		reloadCtx, stopReload := context.WithCancel(context.Background())
		reloadDone := make(chan struct{})
		go func() {
			defer close(reloadDone)
			certs.Run(reloadCtx)
		}()
		defer func() {
			stopReload()
			<-reloadDone
		}()
	}
	// With the embedded etcd, this process is the whole system: it runs a
	// controller too. It shares the edge's etcd client and bus connection.
	var ctlSrv *controller.Server
	if embeddedEtcd && cfg.ControllerAddr != "" {
		ctlSrv, err = controller.NewServer(controller.ServerConfig{
			Config: controller.Config{
				Etcd:           etcd,
				NATS:           nc,
				Prefix:         cfg.BusPrefix,
				ID:             cfg.ID + "-controller",
				LeaseTTL:       cfg.LeaseTTL,
				ReconnectGrace: cfg.ReconnectGrace,
				Logger:         log,
				Metrics:        reg,
				TracerProvider: tp,
			},
			Addr:           cfg.ControllerAddr,
			MetricsHandler: telemetry.Handler(reg),
			Token:          cfg.AdminToken.Value(),
		})
		if err != nil {
			closeAll()
			return fmt.Errorf("in-process controller (-controller-addr %s; -controller-addr= runs none): %w", cfg.ControllerAddr, err)
		}
		// Close releases the listener if Run is never reached.
		defer ctlSrv.Close()
	}
	var httpSrv *http.Server
	if cfg.HTTPAddr != "" {
		hl, err := net.Listen("tcp", cfg.HTTPAddr)
		if err != nil {
			closeAll()
			return fmt.Errorf("http listener: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", telemetry.Handler(reg))
		mux.Handle("/", e.HealthHandler())
		httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := httpSrv.Serve(hl); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("http server failed", "err", err)
			}
		}()
		log.Info("http listener started", "addr", hl.Addr().String(), "endpoints", "/healthz /readyz /metrics")
	}

	// Serve until ctx ends or a listener fails.
	serveCtx, stopServing := context.WithCancel(context.Background())
	defer stopServing()
	errc := make(chan error, len(lns))
	var wg sync.WaitGroup
	for _, ln := range lns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := e.Serve(serveCtx, ln); err != nil {
				errc <- err
			}
		}()
	}
	// The controller has its own context: it stops after the sessions are
	// drained, not with them.
	ctlCtx, stopCtl := context.WithCancel(context.Background())
	defer stopCtl()
	var ctlDone chan error
	if ctlSrv != nil {
		ctlDone = make(chan error, 1)
		go func() { ctlDone <- ctlSrv.Run(ctlCtx) }()
	}
	if cfg.RTMPAddr != "" {
		log.Info("ready: publish with ffmpeg -re -i input.mp4 -c copy -f flv rtmp://" + hostPort(lns[0].Addr()) + "/live/test; play with ffplay rtmp://" + hostPort(lns[0].Addr()) + "/live/test")
	} else {
		log.Info("ready: RTMPS only, on rtmps://" + hostPort(lns[0].Addr()) + "/live/test")
	}
	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down: draining sessions (a second signal exits at once)", "drain_timeout", cfg.DrainTimeout)
	case runErr = <-errc:
		log.Error("listener failed, shutting down", "err", runErr)
	case runErr = <-ctlDone:
		// Run returns before its context ends only when it fails.
		ctlDone = nil
		log.Error("in-process controller failed, shutting down", "err", runErr)
	}
	e.SetDraining()
	dctx, cancelDrain := context.WithTimeout(context.Background(), 2*time.Second)
	if err := cl.SetDraining(dctx); err != nil {
		log.Warn("registry not marked draining", "err", err)
	}
	cancelDrain()
	stopServing()
	wg.Wait()
	// The controller resigns the leadership while etcd and the bus are
	// still up and before the lease is revoked, so that another replica
	// (or the next run) leads at once, from where this one stopped.
	if ctlDone != nil {
		stopCtl()
		if err := <-ctlDone; err != nil && runErr == nil {
			runErr = err
		}
	}
	be.DrainBus(5 * time.Second)
	// Revoking the lease releases whatever claims are left at once.
	stopCluster()
	<-clusterDone
	rctx, cancelRevoke := context.WithTimeout(context.Background(), 5*time.Second)
	if err := cl.Close(rctx); err != nil {
		log.Warn("lease not revoked; it expires by itself", "err", err)
	}
	cancelRevoke()
	if httpSrv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		httpSrv.Shutdown(sctx)
		cancel()
	}
	return runErr
}

// idleTimeout returns the rtmp.Server idle timeout for the -idle-timeout
// setting, where 0 disables it.
func idleTimeout(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// advertise returns the RTMP address the registry shows for this edge.
func advertise(cfg config.Edge) string {
	addr := cfg.RTMPAddr
	if addr == "" {
		addr = cfg.RTMPSAddr
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		if h, err := os.Hostname(); err == nil {
			host = h
		}
	}
	return net.JoinHostPort(host, port)
}

// hostPort returns a dialable host:port for a listen address.
func hostPort(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
