package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// Timing of a Server's HTTP side.
const (
	// readHeaderTimeout bounds how long a client may take to send a
	// request's headers.
	readHeaderTimeout = 10 * time.Second
	// shutdownTimeout bounds how long the requests in flight get to
	// finish when a Server stops; the connections left are then closed.
	shutdownTimeout = 2 * time.Second
)

// ServerConfig configures a Server: the controller, and where its admin
// API listens.
type ServerConfig struct {
	// Config configures the controller, as for New.
	Config
	// Addr is the TCP listen address of the admin API and the health
	// endpoints (Handler), such as ":8081"; required. Port 0 picks a free
	// port (see Server.Addr).
	Addr string
	// MetricsHandler, when set, is served on /metrics next to the admin
	// API (telemetry.Handler of the process's registry).
	MetricsHandler http.Handler
	// Token, when set, is the bearer token every request must carry but
	// those for /healthz, /readyz and /metrics; others get 401. Empty
	// leaves the API open, with a warning at start when Addr is not a
	// loopback address.
	Token string
}

// Server is a controller replica that serves its admin API on a TCP
// listener: what a program that runs a controller puts together, whether
// the controller is the program or runs inside an edge.
//
// Create it with NewServer and run it with Run. Close releases the
// listener of a Server that will not be run.
type Server struct {
	ctl   *Controller
	ln    net.Listener
	http  *http.Server
	log   *slog.Logger
	token bool // the API requires a token
	// claimed is set by the first of Run and Close.
	claimed atomic.Bool
}

// NewServer creates the controller of cfg and opens the admin API's
// listener, so that a taken address fails before anything runs. It starts
// no goroutine.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Addr == "" {
		return nil, errors.New("controller: ServerConfig.Addr is required")
	}
	ctl, err := New(cfg.Config)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("controller: admin API listener: %w", err)
	}
	h := ctl.Handler()
	if mh := cfg.MetricsHandler; mh != nil {
		api := h
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/metrics" {
				mh.ServeHTTP(w, r)
				return
			}
			api.ServeHTTP(w, r)
		})
	}
	h = requireToken(cfg.Token, h, ctl.log)
	return &Server{
		ctl:   ctl,
		ln:    ln,
		http:  &http.Server{Handler: h, ReadHeaderTimeout: readHeaderTimeout},
		log:   ctl.log,
		token: cfg.Token != "",
	}, nil
}

// Controller returns the server's controller.
func (s *Server) Controller() *Controller { return s.ctl }

// Addr returns the address the admin API listens on, with the port chosen
// when the configured one was 0.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Run serves the admin API and runs the controller (Controller.Run) until
// ctx ends or the HTTP server fails. It then stops in order: the
// controller resigns its leadership and leaves the election, while the
// API still answers; then the HTTP server stops, giving the requests in
// flight a moment to finish. Run returns once everything it started has
// ended: nil after a stop asked for through ctx, otherwise the failure.
// Run may be called once, and not after Close. The etcd client and the
// NATS connection of the Config must stay open until Run returns.
func (s *Server) Run(ctx context.Context) error {
	if !s.claimed.CompareAndSwap(false, true) {
		return errors.New("controller: Server.Run called twice or after Close")
	}
	httpDone := make(chan error, 1)
	go func() {
		err := s.http.Serve(s.ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		httpDone <- err
	}()
	s.log.Info("admin API started", "addr", s.ln.Addr().String(),
		"try", "curl -s http://"+dialAddr(s.ln.Addr())+"/api/v1/streams")
	logAuth(s.log, s.ln.Addr(), s.token)

	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	runDone := make(chan error, 1)
	go func() { runDone <- s.ctl.Run(runCtx) }()

	var failed error
	select {
	case <-ctx.Done():
	case err := <-httpDone:
		// Serve returns before Shutdown only when it fails.
		if err == nil {
			err = errors.New("stopped serving")
		}
		failed = fmt.Errorf("controller: admin API: %w", err)
		httpDone <- nil
	case err := <-runDone:
		// Controller.Run returns only when its context ends.
		if err == nil {
			err = errors.New("returned")
		}
		failed = fmt.Errorf("controller: ended early: %w", err)
		runDone <- nil
	}
	stopRun()
	if err := <-runDone; err != nil && failed == nil {
		failed = err
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := s.http.Shutdown(sctx); err != nil {
		s.log.Debug("admin API requests cut short", "err", err)
		s.http.Close()
	}
	if err := <-httpDone; err != nil && failed == nil {
		failed = fmt.Errorf("controller: admin API: %w", err)
	}
	return failed
}

// Close closes the listener of a Server whose Run has not been called, and
// makes a later Run fail. It does nothing once Run has been called: to
// stop a running Server, end Run's context.
func (s *Server) Close() error {
	if !s.claimed.CompareAndSwap(false, true) {
		return nil
	}
	if err := s.ln.Close(); err != nil {
		return fmt.Errorf("controller: close the admin API listener: %w", err)
	}
	return nil
}

// dialAddr returns a host:port clients on this machine can dial for a
// listen address: an unspecified host becomes 127.0.0.1.
func dialAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
