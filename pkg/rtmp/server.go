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
	"syscall"
	"time"

	"github.com/tributary-media/tributary/pkg/rtmp/chunk"
	"github.com/tributary-media/tributary/pkg/rtmp/handshake"
	"github.com/tributary-media/tributary/pkg/rtmp/message"
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
	// DefaultNotSentLowWater caps the bytes the kernel holds unsent for
	// one connection (TCP_NOTSENT_LOWAT).
	DefaultNotSentLowWater = 128 << 10
)

// Handler serves one connection. It runs on the connection's own goroutine
// after the handshake; ctx is cancelled when the server shuts down. The
// returned error is logged as the reason the connection closed: nil,
// ErrClosed, io.EOF, a peer that reset or closed the connection,
// context.Canceled and a *StatusError (such as a rejected connect) are a
// normal end, logged at Info; timeouts, protocol errors, exceeded limits
// and any other error are logged at Warn, a panic at Error. The server
// closes c when the handler returns, then calls the function given to
// c.OnClose, if any, with what it logged.
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
	// Logger receives one line per connection close ("rtmp: connection
	// closed" with the reason, remote address, duration and bytes read
	// and written; at Info for a normal end, at Warn for a timeout, a
	// protocol error or an exceeded limit) and server-level events; nil
	// uses Config.Logger, and if that is nil too logs are discarded.
	Logger *slog.Logger
	// HandshakeTimeout bounds the handshake (the TLS handshake included,
	// for RTMPS), and the wait for the connect command unless
	// ConnectTimeout is set; 0 means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// ConnectTimeout, when positive, bounds the wait for the connect
	// command from the end of the handshake; 0 means the handshake's
	// deadline bounds both.
	ConnectTimeout time.Duration
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
	// OnClose, when set, is called once for every connection after it is
	// closed, on the connection's goroutine, with how it ended; the
	// "rtmp: connection closed" line is logged only if it returns true. A
	// server under a flood of bad connections can count them and log a
	// summary instead of a line each.
	OnClose func(CloseInfo) (log bool)
	// ShutdownGrace is how long Serve waits after its context ends for
	// handlers to return before closing their connections; 0 means
	// DefaultShutdownGrace.
	ShutdownGrace time.Duration
	// NotSentLowWater caps, where the platform supports it (Linux, macOS:
	// TCP_NOTSENT_LOWAT), the bytes written to a connection that the
	// kernel holds but has not sent yet. Without it the kernel grows a
	// connection's send buffer up to its maximum (4 MiB by default on
	// Linux) before a write blocks, so a player that stops reading costs
	// that much kernel memory and is noticed (WriteTimeout, a lagging
	// player's queue) only seconds later. The cap does not limit
	// throughput: it counts unsent bytes only, not bytes in flight. 0
	// means DefaultNotSentLowWater; negative leaves the kernel default.
	NotSentLowWater int
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
		sc, tc := s.newConn(nc)
		mu.Lock()
		conns[sc] = struct{}{}
		mu.Unlock()
		wg.Add(1)
		// release runs when the connection has ended: on this goroutine,
		// or on the last one of a parked handler (ServerConn.ReadOrPark).
		release := func() {
			mu.Lock()
			delete(conns, sc)
			mu.Unlock()
			active.Add(-1)
			wg.Done()
		}
		go s.serveConn(hctx, sc, tc, log, release)
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

// errHandlerPanic is the close reason of a connection whose handler
// panicked.
var errHandlerPanic = errors.New("rtmp: handler panic")

// newConn wraps a network connection with the server's timeouts.
func (s *Server) newConn(nc net.Conn) (*ServerConn, *timeoutConn) {
	if lw := s.NotSentLowWater; lw >= 0 {
		if lw == 0 {
			lw = DefaultNotSentLowWater
		}
		if err := setNotSentLowWater(nc, lw); err != nil {
			s.logger().Debug("rtmp: TCP_NOTSENT_LOWAT not set", "remote", nc.RemoteAddr().String(), "err", err)
		}
	}
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
	sc := NewServerConn(tc, cfg)
	// The conn's few logs name the peer; no logger clone per conn.
	sc.logRemote = nc.RemoteAddr().String()
	sc.onConnect = func() { tc.setConnectDeadline(time.Time{}) }
	sc.park = newParker(sc, tc)
	return sc, tc
}

// serveConn runs the handshake, the ping loop and the handler for one
// connection, ends it and calls release. A handler that parked
// (ServerConn.ReadOrPark) ends it later, from the goroutine it resumed on.
func (s *Server) serveConn(ctx context.Context, sc *ServerConn, tc *timeoutConn, log *slog.Logger, release func()) {
	start := time.Now()
	stopPings := func() {}
	end := func(reason error) {
		sc.Close()
		stopPings()
		s.endConn(ctx, sc, tc, log, start, reason)
		release()
	}
	if err := sc.Handshake(); err != nil {
		end(err)
		return
	}
	if s.ConnectTimeout > 0 {
		tc.setConnectDeadline(time.Now().Add(s.ConnectTimeout))
	}
	if iv := s.pingInterval(); iv > 0 {
		stopPings = startPings(sc, iv)
	}
	if sc.park != nil {
		sc.park.end = end
	}
	reason := s.runHandler(ctx, sc)
	if reason == ErrParked && sc.park != nil {
		return
	}
	end(reason)
}

// endConn logs the end of a closed connection and tells its OnClose
// callbacks.
func (s *Server) endConn(ctx context.Context, sc *ServerConn, tc *timeoutConn, log *slog.Logger, start time.Time, reason error) {
	remote := tc.RemoteAddr().String()
	if reason == nil || errors.Is(reason, ErrClosed) {
		if err := sc.Err(); err != nil && !errors.Is(err, ErrClosed) {
			reason = err
		} else if ctx.Err() != nil {
			// The handler closed the conn because the server is shutting
			// down.
			reason = errShutdown
		}
	}
	phase := phaseConnected
	switch {
	case !sc.hsDone:
		phase = phaseHandshake
	case sc.ConnectRequest() == nil:
		phase = phaseConnect
	}
	level, desc := classifyClose(reason, phase)
	info := CloseInfo{Reason: desc, Level: level, BytesIn: tc.bytesIn.Load(), BytesOut: tc.bytesOut.Load(),
		Duration: time.Since(sc.created), Remote: remote, Connected: phase == phaseConnected,
		Timeout: timeoutOf(reason, phase)}
	if reason != nil && !errors.Is(reason, ErrClosed) {
		info.Err = reason
	}
	attrs := []any{"remote", remote, "reason", desc, "duration", time.Since(start).Round(time.Millisecond),
		"bytes_in", info.BytesIn, "bytes_out", info.BytesOut}
	if req := sc.ConnectRequest(); req != nil {
		attrs = append(attrs, "app", req.App)
	}
	if s.OnClose == nil || s.OnClose(info) {
		log.Log(context.Background(), level, "rtmp: connection closed", attrs...)
	}
	sc.mu.Lock()
	onClose := sc.onClose
	sc.onClose = nil
	sc.mu.Unlock()
	if onClose != nil {
		onClose(info)
	}
}

// connPhase is how far a connection got before it ended.
type connPhase int

const (
	phaseHandshake connPhase = iota // during the handshake
	phaseConnect                    // waiting for the connect command
	phaseConnected                  // after the connect command
)

// Timeout names the timeout that ended a connection served by a Server.
type Timeout int

// The timeouts of a Server.
const (
	// NoTimeout: the connection did not end on a timeout.
	NoTimeout Timeout = iota
	// TimeoutHandshake: the handshake did not complete within
	// HandshakeTimeout.
	TimeoutHandshake
	// TimeoutConnect: the connect command did not arrive within
	// ConnectTimeout (or HandshakeTimeout).
	TimeoutConnect
	// TimeoutIdle: nothing arrived for IdleTimeout, or a write did not
	// complete within WriteTimeout.
	TimeoutIdle
)

// timeoutOf returns the timeout that reason, the reason a connection
// ended in phase, stands for, as classifyClose sees it.
func timeoutOf(reason error, phase connPhase) Timeout {
	if reason == nil || isViolation(reason) || !isTimeout(reason) {
		return NoTimeout
	}
	switch phase {
	case phaseHandshake:
		return TimeoutHandshake
	case phaseConnect:
		return TimeoutConnect
	}
	return TimeoutIdle
}

// isViolation reports whether err is a protocol violation or an exceeded
// limit.
func isViolation(err error) bool {
	return errors.Is(err, chunk.ErrProtocol) || errors.Is(err, chunk.ErrLimit) ||
		errors.Is(err, errProtocol) || errors.Is(err, errLimit) ||
		errors.Is(err, handshake.ErrUnsupportedVersion) || errors.Is(err, message.ErrMalformed)
}

// isTimeout reports whether err is a deadline or a TCP timeout.
func isTimeout(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, syscall.ETIMEDOUT)
}

// classifyClose returns the log level and the description of the reason a
// connection ended, reason being what the handler returned or, when that
// says nothing more, what ended the conn:
//   - a normal end is logged at Info: the handler or the server closed the
//     conn (nil, ErrClosed, net.ErrClosed), the server shut down
//     (context.Canceled), the peer closed or reset the connection, even in
//     the middle of a message or after we wrote to it (io.EOF,
//     io.ErrUnexpectedEOF, ECONNRESET, ECONNABORTED, EPIPE), or the
//     application ended it with a status (a *StatusError, such as a
//     rejected connect);
//   - a protocol violation, an exceeded limit or a timeout is logged at
//     Warn, with the phase the timeout hit in;
//   - a handler panic is logged at Error;
//   - any other error is logged at Warn.
//
// Errors are told apart with errors.Is and errors.As, never by their text.
func classifyClose(reason error, phase connPhase) (slog.Level, string) {
	var status *StatusError
	switch {
	case reason == nil, errors.Is(reason, ErrClosed), errors.Is(reason, net.ErrClosed):
		return slog.LevelInfo, "closed by the handler"
	case isViolation(reason):
		return slog.LevelWarn, reason.Error()
	case isTimeout(reason):
		what := "idle or write timeout"
		switch phase {
		case phaseHandshake:
			what = "handshake timeout"
		case phaseConnect:
			what = "connect timeout"
		}
		return slog.LevelWarn, what + ": " + reason.Error()
	case errors.Is(reason, errShutdown), errors.Is(reason, context.Canceled):
		return slog.LevelInfo, "server shutdown"
	case errors.Is(reason, io.EOF):
		return slog.LevelInfo, "closed by the peer"
	case errors.Is(reason, io.ErrUnexpectedEOF), errors.Is(reason, syscall.ECONNRESET),
		errors.Is(reason, syscall.ECONNABORTED), errors.Is(reason, syscall.EPIPE):
		return slog.LevelInfo, "closed by the peer: " + reason.Error()
	case errors.As(reason, &status):
		return slog.LevelInfo, reason.Error()
	case errors.Is(reason, errHandlerPanic):
		return slog.LevelError, reason.Error()
	}
	return slog.LevelWarn, reason.Error()
}

// runHandler calls the handler, turning a panic into an error so that one
// connection cannot take the server down.
func (s *Server) runHandler(ctx context.Context, sc *ServerConn) (err error) {
	defer recoverHandler(&err)
	return s.Handler(ctx, sc)
}

// recoverHandler, deferred, turns a panic of a handler into the error
// *err.
func recoverHandler(err *error) {
	if p := recover(); p != nil {
		*err = fmt.Errorf("%w: %v", errHandlerPanic, p)
	}
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

// startPings sends a PingRequest every interval once the client is
// connected, until the returned stop is called or a ping fails. A timer
// rather than a goroutine per connection waits between pings: an idle
// connection costs no stack for it. stop waits for a ping being sent.
func startPings(sc *ServerConn, interval time.Duration) (stop func()) {
	var (
		mu      sync.Mutex // held while a ping is sent; guards the fields below
		stopped bool
		t       *time.Timer
	)
	mu.Lock()
	defer mu.Unlock()
	t = time.AfterFunc(interval, func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		sc.mu.Lock()
		connected := sc.connected
		sc.mu.Unlock()
		if connected && sc.Ping() != nil {
			return
		}
		t.Reset(interval)
	})
	return func() {
		mu.Lock()
		defer mu.Unlock()
		stopped = true
		t.Stop()
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

	// bytesIn and bytesOut count what was read and written, handshake
	// included.
	bytesIn, bytesOut atomic.Uint64

	connectDeadline atomic.Int64 // UnixNano; 0 when none

	// readErr is returned by the next Read: a parked connection's wait
	// for input timed out. Only the reading goroutine uses it.
	readErr error
}

func (t *timeoutConn) setConnectDeadline(d time.Time) {
	if d.IsZero() {
		t.connectDeadline.Store(0)
		return
	}
	t.connectDeadline.Store(d.UnixNano())
}

// readDeadline returns the deadline of a read starting now: the idle or
// connect deadline, whichever comes first; zero for none.
func (t *timeoutConn) readDeadline() time.Time {
	var d time.Time
	if cd := t.connectDeadline.Load(); cd != 0 {
		d = time.Unix(0, cd)
	}
	if t.idle > 0 {
		if id := time.Now().Add(t.idle); d.IsZero() || id.Before(d) {
			d = id
		}
	}
	return d
}

// Read reads from the connection under the idle (or connect) deadline.
func (t *timeoutConn) Read(p []byte) (int, error) {
	if err := t.readErr; err != nil {
		t.readErr = nil
		return 0, err
	}
	if d := t.readDeadline(); !d.IsZero() {
		if err := t.Conn.SetReadDeadline(d); err != nil {
			return 0, err
		}
	}
	n, err := t.Conn.Read(p)
	t.bytesIn.Add(uint64(n))
	return n, err
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
	n, err := t.Conn.Write(p)
	t.bytesOut.Add(uint64(n))
	return n, err
}
