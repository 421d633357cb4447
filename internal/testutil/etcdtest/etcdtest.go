// Package etcdtest runs a real etcd server inside the test process, so tests
// of code that talks to etcd exercise the real protocol instead of a mock.
// It is a package of its own so that tests that do not need etcd do not
// link the etcd server.
//
// [Start] starts an embedded single-member etcd on 127.0.0.1 and a random
// client port, with test timing (ready in about 100 ms, no fsync) and no
// logging; it is stopped by tb.Cleanup. Clients reach it through a
// [testutil.Proxy] (the address [Server.Endpoints] gives), which lets Stop
// drop every client connection at once, as a killed process would, instead
// of waiting seconds for etcd's graceful stop to give up on open watches. [Server.Client] and [NewClient] open
// clients that are closed at the end of the test as well, and
// [Server.Restart] stops the server and starts it again on the same port
// and data, the way an operator restarts an etcd process, so reconnects
// and watch recovery can be tested.
//
// # Concurrency
//
// The methods of a [Server] may be called from any goroutine, but Stop and
// Restart must not run at the same time as each other.
package etcdtest

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/tributary-media/tributary/internal/embedded"
	"github.com/tributary-media/tributary/internal/testutil"
)

// Timeouts of the helpers.
const (
	readyTimeout = 20 * time.Second
	stopTimeout  = 30 * time.Second
	dialTimeout  = 5 * time.Second
)

// Options configures a test server. The zero value is a silent server.
type Options struct {
	// Log passes the server's errors to the test log.
	Log bool
}

// Server is an embedded etcd bound to a test.
type Server struct {
	tb   testing.TB
	opts Options
	dir  string

	proxy *testutil.Proxy // what clients connect to
	addr  string          // the server's own client address, kept across restarts

	mu   sync.Mutex
	etcd *embedded.Etcd
}

// Start starts an embedded etcd on 127.0.0.1 and a random port, with its
// data in a directory of the test, and returns once it serves clients. The
// test fails if it cannot start. The server is stopped when the test ends.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s := &Server{tb: tb, opts: opts, dir: tb.TempDir()}
	e, err := s.start("127.0.0.1:0", readyTimeout)
	if err != nil {
		tb.Fatalf("etcdtest: %v", err)
	}
	s.etcd = e
	s.addr = strings.TrimPrefix(e.Endpoints()[0], "http://")
	tb.Cleanup(s.Stop) // after the proxy's own clean-up, which runs first
	s.proxy = testutil.StartProxy(tb, s.addr)
	return s
}

// start starts the server on addr with the test's data directory.
func (s *Server) start(addr string, ready time.Duration) (*embedded.Etcd, error) {
	log := slog.New(slog.DiscardHandler)
	if s.opts.Log {
		log = slog.New(slog.NewTextHandler(tbWriter{s.tb}, nil))
	}
	return embedded.StartEtcd(embedded.EtcdOptions{
		Addr:         addr,
		DataDir:      s.dir,
		Logger:       log,
		Fast:         true,
		ReadyTimeout: ready,
	})
}

// Endpoints returns the client URLs, ["http://127.0.0.1:PORT"]. They stay
// the same across restarts.
func (s *Server) Endpoints() []string { return []string{"http://" + s.Addr()} }

// Addr returns the client address, "127.0.0.1:PORT", for instance for
// another proxy to forward to.
func (s *Server) Addr() string { return s.proxy.Addr() }

// Client returns a client of the server, closed when the test ends.
func (s *Server) Client(tb testing.TB) *clientv3.Client {
	tb.Helper()
	return NewClient(tb, s.Endpoints()...)
}

// NewClient returns a silent client of the etcd at endpoints (a server's,
// or a proxy's in front of it), closed when the test ends. The test fails
// if the client cannot be made.
func NewClient(tb testing.TB, endpoints ...string) *clientv3.Client {
	tb.Helper()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: dialTimeout,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		tb.Fatalf("etcdtest: client of %v: %v", endpoints, err)
	}
	tb.Cleanup(func() { cli.Close() })
	return cli
}

// Stop stops the server and waits until it has stopped. Clients see their
// connections close; their attempts to connect again stall until Restart.
// It does nothing when the server is already stopped.
func (s *Server) Stop() {
	s.mu.Lock()
	e := s.etcd
	s.etcd = nil
	s.mu.Unlock()
	if e == nil {
		return
	}
	if s.proxy != nil {
		s.proxy.Cut()
		s.proxy.Reset()
	}
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	if err := e.Close(ctx); err != nil {
		s.tb.Errorf("etcdtest: stop: %v", err)
	}
}

// Restart stops the server (if it is running) and starts it again on the
// same port with the same data, returning once it serves clients. Clients
// reconnect to it by themselves; connections they opened meanwhile go
// through now. The port may be briefly unavailable after
// the old listener closes, so binding is retried for a few seconds; the
// test fails if it never succeeds.
func (s *Server) Restart() {
	s.tb.Helper()
	s.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for {
		e, err := s.start(s.addr, readyTimeout)
		if err == nil {
			s.mu.Lock()
			s.etcd = e
			s.mu.Unlock()
			s.proxy.Restore()
			return
		}
		if time.Now().After(deadline) {
			s.tb.Fatalf("etcdtest: restart on %s: %v", s.addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tbWriter writes log lines to the test log.
type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
