package edge

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tributary-media/tributary/internal/testutil/natstest"
	"github.com/tributary-media/tributary/pkg/bus"
)

// testEdge is an Edge serving RTMP on a random loopback port for one test,
// with its own NATS connection, the way separate edge processes run.
type testEdge struct {
	*Edge
	Addr string // host:port of the RTMP listener
	NC   *nats.Conn
	stop func()
}

// URL returns the RTMP URL of app/name on the edge.
func (te *testEdge) URL(app, name string) string {
	return fmt.Sprintf("rtmp://%s/%s/%s", te.Addr, app, name)
}

// Stop shuts the edge down (draining) and waits for it; it is also done
// at the end of the test.
func (te *testEdge) Stop() { te.stop() }

// testLogger returns a logger that writes to the test log when -v is given
// (or TRIBUTARY_TEST_LOG is set), and discards otherwise.
func testLogger(t testing.TB, name string) *slog.Logger {
	if !testing.Verbose() && os.Getenv("TRIBUTARY_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})).With("edge", name)
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// startEdge starts an edge named name on the NATS server ns. mod may
// change the configuration before the edge is created.
func startEdge(t testing.TB, ns *natstest.Server, name string, mod func(*Config)) *testEdge {
	t.Helper()
	nc := ns.Connect(t, append(bus.ReconnectOptions(), nats.Name(name))...)
	cfg := Config{
		ID:             name,
		NATS:           nc,
		ReconnectGrace: 3 * time.Second,
		DrainTimeout:   2 * time.Second,
		Logger:         testLogger(t, name),
	}
	if mod != nil {
		mod(&cfg)
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Serve(ctx, ln) }()
	var stopped bool
	te := &testEdge{Edge: e, Addr: ln.Addr().String(), NC: nc}
	te.stop = func() {
		if stopped {
			return
		}
		stopped = true
		e.SetDraining()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("edge %s: Serve: %v", name, err)
			}
		case <-time.After(cfg.DrainTimeout + 10*time.Second):
			t.Errorf("edge %s: Serve did not return after the drain timeout", name)
		}
	}
	t.Cleanup(te.stop)
	// Ready once Serve runs.
	deadline := time.Now().Add(5 * time.Second)
	for e.Ready() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("edge %s not ready: %v", name, e.Ready())
		}
		time.Sleep(5 * time.Millisecond)
	}
	return te
}
