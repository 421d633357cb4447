package rtmp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Server defaults.
const (
	// DefaultHandshakeTimeout bounds the handshake and the connect
	// command.
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultIdleTimeout is how long a conn may receive nothing before it
	// is closed.
	DefaultIdleTimeout = 60 * time.Second
	// DefaultWriteTimeout bounds one write to a peer.
	DefaultWriteTimeout = 10 * time.Second
	// DefaultShutdownGrace is how long Serve waits, after its context is
	// cancelled, for handlers to return before it closes their conns.
	DefaultShutdownGrace = 5 * time.Second
)

// Handler serves one connection. It runs on the connection's own goroutine
// after the handshake; ctx is cancelled when the server shuts down. The
// returned error is logged as the reason the connection closed (nil,
// io.EOF and ErrClosed mean a normal close). The server closes c when the
// handler returns.
type Handler func(ctx context.Context, c *ServerConn) error

// Server accepts RTMP connections from a listener and runs a Handler for
// each one on its own goroutine. A tls.NewListener passed to Serve gives
// RTMPS. Fields must not change once Serve has been called; the zero value
// of each field selects its default.
type Server struct {
	// Handler serves each connection; it is required.
	Handler Handler
	// Config configures every ServerConn.
	Config ServerConfig
	// Logger receives one line per connection close (with the reason)
	// and server-level events; nil uses Config.Logger, and if that is nil
	// too logs are discarded.
	Logger *slog.Logger
	// HandshakeTimeout bounds the handshake, and the wait for the connect
	// command; 0 means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// IdleTimeout closes a connection on which nothing arrived for this
	// long (a silent or half-open peer); 0 means DefaultIdleTimeout,
	// negative disables it.
	IdleTimeout time.Duration
	// PingInterval is how often the server sends a PingRequest so that
	// idle but healthy clients answer and stay under IdleTimeout; 0 means
	// IdleTimeout/3, negative disables pings.
	PingInterval time.Duration
	// WriteTimeout bounds each write to a peer, so a stuck player cannot
	// block a writer forever; 0 means DefaultWriteTimeout, negative
	// disables it.
	WriteTimeout time.Duration
	// MaxConns is the most connections served at once; more are closed
	// right after accept. 0 means no limit.
	MaxConns int
	// ShutdownGrace is how long Serve waits after its context ends for
	// handlers to return before closing their connections; 0 means
	// DefaultShutdownGrace.
	ShutdownGrace time.Duration
}

func durOr(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

func (s *Server) logger() *slog.Logger {
	switch {
	case s.Logger != nil:
		return s.Logger
	case s.Config.Logger != nil:
		return s.Config.Logger
	}
	return discardLogger
}

// Serve accepts connections on ln until ctx is cancelled or ln fails. On
// cancellation it stops accepting, cancels the handlers' context, waits up
// to ShutdownGrace for them, closes the connections that remain and waits
// for every goroutine it started. It returns nil after a shutdown caused
// by ctx and the listener's error otherwise. Serve closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.Handler == nil {
		ln.Close()
		return errors.New("rtmp: Server.Handler is nil")
	}
	log := s.logger()
	hctx, cancelHandlers := context.WithCancel(ctx)
	defer cancelHandlers()

	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		conns  = make(map[*ServerConn]struct{})
		active atomic.Int64
	)
	stopAccept := context.AfterFunc(ctx, func() { ln.Close() })
	defer stopAccept()

	var serveErr error
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				log.Warn("rtmp: accept failed, retrying", "err", err, "retry_in", backoff)
				select {
				case <-time.After(backoff):
					continue
				case <-ctx.Done():
				}
				break
			}
			serveErr = fmt.Errorf("rtmp: accept: %w", err)
			break
		}
		backoff = 0
		if s.MaxConns > 0 && active.Load() >= int64(s.MaxConns) {
			log.Warn("rtmp: connection refused", "remote", nc.RemoteAddr().String(), "reason", "too many connections", "max_conns", s.MaxConns)
			nc.Close()
			continue
		}
		active.Add(1)
		sc := s.newConn(nc)
		mu.Lock()
		conns[sc] = struct{}{}
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer active.Add(-1)
			s.serveConn(hctx, sc, nc, log)
			mu.Lock()
			delete(conns, sc)
			mu.Unlock()
		}()
	}
	ln.Close()
	cancelHandlers()

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(durOr(s.ShutdownGrace, DefaultShutdownGrace)):
		mu.Lock()
		n := len(conns)
		for sc := range conns {
			sc.fail(errShutdown)
		}
		mu.Unlock()
		log.Info("rtmp: closing connections after the shutdown grace period", "conns", n)
		<-done
	}
	return serveErr
}

// errShutdown is the close reason of connections closed by a shutdown.
var errShutdown = errors.New("rtmp: server shutting down")

// newConn wraps a network connection with the server's timeouts.
func (s *Server) newConn(nc net.Conn) *ServerConn {
	idle := durOr(s.IdleTimeout, DefaultIdleTimeout)
	tc := &timeoutConn{Conn: nc, write: durOr(s.WriteTimeout, DefaultWriteTimeout)}
	if idle > 0 {
		tc.idle = idle
	}
	hs := durOr(s.HandshakeTimeout, DefaultHandshakeTimeout)
	if hs > 0 {
		tc.setConnectDeadline(time.Now().Add(hs))
	}
	cfg := s.Config
	if cfg.Logger == nil {
		cfg.Logger = s.logger()
	}
	cfg.Logger = cfg.Logger.With("remote", nc.RemoteAddr().String())
	sc := NewServerConn(tc, cfg)
	sc.onConnect = func() { tc.setConnectDeadline(time.Time{}) }
	return sc
}

// serveConn runs the handshake, the ping loop and the handler for one
// connection and logs its end.
func (s *Server) serveConn(ctx context.Context, sc *ServerConn, nc net.Conn, log *slog.Logger) {
	start := time.Now()
	remote := nc.RemoteAddr().String()
	var reason error
	if err := sc.Handshake(); err != nil {
		reason = err
	} else {
		var pingWG sync.WaitGroup
		if iv := s.pingInterval(); iv > 0 {
			pingWG.Add(1)
			go func() {
				defer pingWG.Done()
				s.pingLoop(sc, iv)
			}()
		}
		reason = s.runHandler(ctx, sc)
		sc.Close()
		pingWG.Wait()
	}
	sc.Close()
	if reason == nil || errors.Is(reason, ErrClosed) {
		if err := sc.Err(); err != nil && !errors.Is(err, ErrClosed) {
			reason = err
		}
	}
	level := slog.LevelInfo
	var desc string
	switch {
	case reason == nil, errors.Is(reason, ErrClosed):
		desc = "closed by the handler"
	case errors.Is(reason, io.EOF):
		desc = "closed by the peer"
	case errors.Is(reason, os.ErrDeadlineExceeded):
		switch {
		case !sc.hsDone:
			desc = "handshake timeout: " + reason.Error()
		case sc.ConnectRequest() == nil:
			desc = "connect timeout: " + reason.Error()
		default:
			desc = "idle or write timeout: " + reason.Error()
		}
		level = slog.LevelWarn
	default:
		desc = reason.Error()
		level = slog.LevelWarn
	}
	attrs := []any{"remote", remote, "reason", desc, "duration", time.Since(start).Round(time.Millisecond)}
	if req := sc.ConnectRequest(); req != nil {
		attrs = append(attrs, "app", req.App)
	}
	log.Log(context.Background(), level, "rtmp: connection closed", attrs...)
}

// runHandler calls the handler, turning a panic into an error so that one
// connection cannot take the server down.
func (s *Server) runHandler(ctx context.Context, sc *ServerConn) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("rtmp: handler panic: %v", p)
		}
	}()
	return s.Handler(ctx, sc)
}

func (s *Server) pingInterval() time.Duration {
	if s.PingInterval < 0 {
		return 0
	}
	if s.PingInterval > 0 {
		return s.PingInterval
	}
	idle := durOr(s.IdleTimeout, DefaultIdleTimeout)
	if idle <= 0 {
		return 0
	}
	return idle / 3
}

// pingLoop sends a PingRequest every interval once the client is
// connected, until the conn ends.
func (s *Server) pingLoop(sc *ServerConn, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-sc.closed:
			return
		case <-t.C:
			sc.mu.Lock()
			connected := sc.connected
			sc.mu.Unlock()
			if !connected {
				continue
			}
			if err := sc.Ping(); err != nil {
				return
			}
		}
	}
}

// ListenAndServe listens on the TCP address addr (":1935" when empty) and
// calls Serve.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	if addr == "" {
		addr = ":1935"
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("rtmp: %w", err)
	}
	return s.Serve(ctx, ln)
}

// ListenAndServeTLS listens on the TCP address addr (":443" when empty),
// wraps the listener with tls.NewListener(cfg) and calls Serve (RTMPS).
func (s *Server) ListenAndServeTLS(ctx context.Context, addr string, cfg *tls.Config) error {
	if addr == "" {
		addr = ":443"
	}
	if cfg == nil {
		return errors.New("rtmp: ListenAndServeTLS needs a tls.Config")
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("rtmp: %w", err)
	}
	return s.Serve(ctx, tls.NewListener(ln, cfg))
}

// timeoutConn applies the server's timeouts to a network connection: every
// Read gets a deadline of now+idle (or the connect deadline, if earlier,
// while the client has not sent connect), every Write one of now+write.
type timeoutConn struct {
	net.Conn
	idle, write time.Duration

	connectDeadline atomic.Int64 // UnixNano; 0 when none
}

func (t *timeoutConn) setConnectDeadline(d time.Time) {
	if d.IsZero() {
		t.connectDeadline.Store(0)
		return
	}
	t.connectDeadline.Store(d.UnixNano())
}

// Read reads from the connection under the idle (or connect) deadline.
func (t *timeoutConn) Read(p []byte) (int, error) {
	var d time.Time
	if cd := t.connectDeadline.Load(); cd != 0 {
		d = time.Unix(0, cd)
	}
	if t.idle > 0 {
		if id := time.Now().Add(t.idle); d.IsZero() || id.Before(d) {
			d = id
		}
	}
	if !d.IsZero() {
		if err := t.Conn.SetReadDeadline(d); err != nil {
			return 0, err
		}
	}
	return t.Conn.Read(p)
}

// Write writes to the connection under the write deadline.
func (t *timeoutConn) Write(p []byte) (int, error) {
	if t.write > 0 {
		if err := t.Conn.SetWriteDeadline(time.Now().Add(t.write)); err != nil {
			return 0, err
		}
	} else if cd := t.connectDeadline.Load(); cd != 0 {
		if err := t.Conn.SetWriteDeadline(time.Unix(0, cd)); err != nil {
			return 0, err
		}
	}
	return t.Conn.Write(p)
}
