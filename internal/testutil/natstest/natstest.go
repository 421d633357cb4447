// Package natstest runs a real NATS server inside the test process, so tests
// of code that talks to NATS exercise the real protocol instead of a mock.
//
// [Start] starts an embedded nats-server on 127.0.0.1 and a random port, bound
// to the test: it is shut down by tb.Cleanup. [Server.Connect] opens client
// connections that are closed at the end of the test as well, and
// [Server.Restart] stops the server and starts a new one on the same port, the
// way an operator restarts a NATS process, so reconnect behaviour can be
// tested.
//
// [StartProcess] runs the server in a child process instead (the test binary
// run again; the package's TestMain must call [ServeIfChild] first), for
// measurements of allocations and CPU time that must not include the
// server's own work.
//
// # Concurrency
//
// The methods of a [Server] may be called from any goroutine, but Restart and
// Shutdown must not run at the same time as each other.
package natstest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// readyTimeout bounds how long a freshly started server may take to accept
// connections.
const readyTimeout = 10 * time.Second

// Options configures an embedded server. The zero value is a default NATS
// server (1 MiB max payload) on a random port of 127.0.0.1.
type Options struct {
	// MaxPayload is the largest message (headers and data) the server
	// accepts, in bytes; zero means the NATS default of 1 MiB.
	MaxPayload int32
}

// Server is an embedded nats-server bound to a test.
type Server struct {
	tb   testing.TB
	opts Options

	mu   sync.Mutex
	srv  *server.Server
	port int
}

// Start starts an embedded NATS server on 127.0.0.1 and a random port and
// returns once it accepts connections. The test fails if it cannot start.
// The server is shut down when the test ends.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s := &Server{tb: tb, opts: opts}
	srv, err := s.start(server.RANDOM_PORT, readyTimeout)
	if err != nil {
		tb.Fatalf("natstest: %v", err)
	}
	s.srv = srv
	s.port = srv.Addr().(*net.TCPAddr).Port
	tb.Cleanup(s.Shutdown)
	return s
}

// start starts a server on port and waits up to ready for it to accept
// connections. A server whose listener cannot bind never becomes ready.
func (s *Server) start(port int, ready time.Duration) (*server.Server, error) {
	o := &server.Options{
		Host:       "127.0.0.1",
		Port:       port,
		NoLog:      true,
		NoSigs:     true,
		MaxPayload: s.opts.MaxPayload,
	}
	srv, err := server.NewServer(o)
	if err != nil {
		return nil, fmt.Errorf("new server: %w", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(ready) {
		srv.Shutdown()
		return nil, fmt.Errorf("server on port %d not ready within %v", port, ready)
	}
	return srv, nil
}

// URL returns the client URL, "nats://127.0.0.1:PORT". It stays the same
// across restarts.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("nats://127.0.0.1:%d", s.port)
}

// Connect opens a client connection to the server with opts and closes it
// when the test ends. The test fails if the connection cannot be made.
func (s *Server) Connect(tb testing.TB, opts ...nats.Option) *nats.Conn {
	tb.Helper()
	nc, err := nats.Connect(s.URL(), opts...)
	if err != nil {
		tb.Fatalf("natstest: connect to %s: %v", s.URL(), err)
	}
	tb.Cleanup(nc.Close)
	return nc
}

// NumClients returns the number of client connections the running server
// has, or 0 when it is shut down.
func (s *Server) NumClients() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv == nil {
		return 0
	}
	return s.srv.NumClients()
}

// Shutdown stops the server and waits until it has stopped. Clients see the
// connection close. It does nothing when the server is already down.
func (s *Server) Shutdown() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
	}
}

// Restart shuts the server down (if it is running) and starts a new one on
// the same port, with the same options, returning once it accepts
// connections. Clients configured to reconnect find it at the same URL. The
// port may be briefly unavailable after the old listener closes, so binding
// is retried for a few seconds; the test fails if it never succeeds.
func (s *Server) Restart() {
	s.tb.Helper()
	s.Shutdown()
	s.mu.Lock()
	port := s.port
	s.mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for {
		srv, err := s.start(port, time.Second)
		if err == nil {
			s.mu.Lock()
			s.srv = srv
			s.mu.Unlock()
			return
		}
		if time.Now().After(deadline) {
			s.tb.Fatalf("natstest: restart on port %d: %v", port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Subscribe subscribes cb to subject on nc with no limit on pending
// messages (a test observer must not miss any because it is slow), and
// returns once the server has the subscription. The test fails if it
// cannot subscribe.
func Subscribe(tb testing.TB, nc *nats.Conn, subject string, cb nats.MsgHandler) *nats.Subscription {
	tb.Helper()
	sub, err := nc.Subscribe(subject, cb)
	if err != nil {
		tb.Fatalf("natstest: subscribe to %s: %v", subject, err)
	}
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		tb.Fatalf("natstest: pending limits of %s: %v", subject, err)
	}
	if err := nc.Flush(); err != nil {
		tb.Fatalf("natstest: flush after subscribing to %s: %v", subject, err)
	}
	return sub
}

// childEnv is set in the environment of a server process started by
// StartProcess.
const childEnv = "NATSTEST_CHILD_SERVER"

// ServeIfChild turns the current process into a NATS server when it was
// started by StartProcess, and never returns then; otherwise it returns at
// once. A package that uses StartProcess calls it first thing in TestMain.
//
// The child server listens on a random port of 127.0.0.1, writes
// "ADDR <host:port>" to standard output and runs until its standard input
// is closed, which happens when the parent exits.
func ServeIfChild() {
	if os.Getenv(childEnv) == "" {
		return
	}
	var maxPayload int32
	if v, err := strconv.ParseInt(os.Getenv(childEnv), 10, 32); err == nil && v > 0 {
		maxPayload = int32(v)
	}
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true, MaxPayload: maxPayload})
	if err != nil {
		fmt.Fprintln(os.Stderr, "natstest child:", err)
		os.Exit(2)
	}
	srv.Start()
	if !srv.ReadyForConnections(readyTimeout) {
		fmt.Fprintln(os.Stderr, "natstest child: server not ready")
		os.Exit(2)
	}
	fmt.Printf("ADDR %s\n", srv.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	srv.Shutdown()
	os.Exit(0)
}

// Process is a NATS server running in a child process.
type Process struct {
	url string
}

// URL returns the client URL of the server.
func (p *Process) URL() string { return p.url }

// Connect opens a client connection to the server with opts and closes it
// when the test ends.
func (p *Process) Connect(tb testing.TB, opts ...nats.Option) *nats.Conn {
	tb.Helper()
	nc, err := nats.Connect(p.url, opts...)
	if err != nil {
		tb.Fatalf("natstest: connect to %s: %v", p.url, err)
	}
	tb.Cleanup(nc.Close)
	return nc
}

// StartProcess starts a NATS server in a separate process (the test binary
// run again, see ServeIfChild), so that measurements of the client side,
// allocations and CPU time, do not include the server's work. The process
// ends with the test.
func StartProcess(tb testing.TB, opts Options) *Process {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", childEnv, opts.MaxPayload))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatalf("natstest: start server process: %v", err)
	}
	tb.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() {
			_ = cmd.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "ADDR ")
	if err != nil || !ok {
		tb.Fatalf("natstest: server process said %q: %v", line, err)
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	return &Process{url: "nats://" + addr}
}
