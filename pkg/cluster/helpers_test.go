package cluster_test

import (
	"context"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tributary-media/tributary/internal/testutil/etcdtest"
	"github.com/tributary-media/tributary/pkg/cluster"
)

// TestMain fails the run when goroutines of the package outlive the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leak := leakedGoroutines(5 * time.Second); leak != "" {
			os.Stderr.WriteString("goroutines of pkg/cluster left running:\n" + leak)
			code = 1
		}
	}
	os.Exit(code)
}

// leakedGoroutines waits up to wait for every goroutine running code of
// this package to end, and returns the stacks of those that did not.
func leakedGoroutines(wait time.Duration) string {
	deadline := time.Now().Add(wait)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "tributary/pkg/cluster.") && !strings.Contains(g, "leakedGoroutines") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// testCtx returns a context that bounds a test's etcd calls.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// session is a running Session of a test.
type session struct {
	*cluster.Session
	runErr chan error
}

// startSession creates a session of edge id on cli with TTL ttl and runs
// it until the test ends, when it is closed.
func startSession(t *testing.T, cli *clientv3.Client, id string, ttl time.Duration) *session {
	t.Helper()
	return startSessionConfig(t, cluster.Config{Client: cli, EdgeID: id, TTL: ttl, Prefix: "test"})
}

func startSessionConfig(t *testing.T, cfg cluster.Config) *session {
	t.Helper()
	s, err := cluster.NewSession(testCtx(t), cfg)
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	rs := &session{Session: s, runErr: make(chan error, 1)}
	go func() { rs.runErr <- s.Run(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Close(ctx)
		select {
		case <-rs.runErr:
		case <-time.After(10 * time.Second):
			t.Errorf("Run of session %s did not return after Close", cfg.EdgeID)
		}
	})
	return rs
}

// waitRun waits for Run to return and returns its error.
func (s *session) waitRun(t *testing.T, within time.Duration) error {
	t.Helper()
	select {
	case err := <-s.runErr:
		s.runErr <- err // for the cleanup
		return err
	case <-time.After(within):
		t.Fatalf("Run did not return within %v", within)
		return nil
	}
}

// waitClosed waits for ch to be closed.
func waitClosed(t *testing.T, ch <-chan struct{}, within time.Duration, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(within):
		t.Fatalf("%s: not closed within %v", what, within)
	}
}

// notClosed checks that ch is not closed.
func notClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
		t.Fatalf("%s: closed", what)
	default:
	}
}

// newServer starts a test etcd and returns it with a client.
func newServer(t *testing.T) (*etcdtest.Server, *clientv3.Client) {
	t.Helper()
	srv := etcdtest.Start(t, etcdtest.Options{})
	return srv, srv.Client(t)
}

// mustGet reads a stream that must exist.
func mustGet(t *testing.T, cli *clientv3.Client, app, name string) cluster.StreamInfo {
	t.Helper()
	info, ok, err := cluster.GetStream(testCtx(t), cli, "test", app, name)
	if err != nil || !ok {
		t.Fatalf("GetStream(%q, %q) = %v, %v", app, name, ok, err)
	}
	return info
}
