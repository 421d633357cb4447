package edge

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.opentelemetry.io/otel/trace"

	"github.com/tributary-media/tributary/internal/testutil/etcdtest"
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

// clusterOpts configures startClusterEdge.
type clusterOpts struct {
	// Endpoints are the etcd endpoints the edge's client uses (a Proxy's
	// address to cut it off); empty means the server's.
	Endpoints []string
	// TTL is the lease TTL; zero means 2 s.
	TTL time.Duration
	// Policy is the publish policy.
	Policy Policy
	// OnDrain is called when a drain is requested through etcd.
	OnDrain func()
	// RegistryInterval is how often the edge rewrites its registration;
	// zero means DefaultRegistryInterval.
	RegistryInterval time.Duration
	// TracerProvider receives the spans of the cluster operations; nil
	// means none. Give the edge's spans to mod (Config.TracerProvider).
	TracerProvider trace.TracerProvider
}

// clusterEdge is a testEdge that is a member of a cluster.
type clusterEdge struct {
	*testEdge
	Cluster *Cluster
	Etcd    *clientv3.Client
	stopRun func()
}

// Kill stops the edge the way a crash does: its lease is neither renewed
// nor revoked, its connections drop. The claims it held expire with the
// lease.
func (ce *clusterEdge) Kill() {
	ce.stopRun()
	ce.Etcd.Close()
	ce.NC.Close()
	ce.Stop()
}

// startClusterEdge starts an edge on the NATS server ns that claims
// streams in the etcd server es, and waits until it has joined the
// cluster.
func startClusterEdge(t testing.TB, ns *natstest.Server, es *etcdtest.Server, name string, o clusterOpts, mod func(*Config)) *clusterEdge {
	t.Helper()
	eps := o.Endpoints
	if len(eps) == 0 {
		eps = es.Endpoints()
	}
	cli := etcdtest.NewClient(t, eps...)
	if o.TTL == 0 {
		o.TTL = 2 * time.Second
	}
	cl, err := NewCluster(ClusterConfig{
		Client: cli, EdgeID: name, Address: name + ":1935", TTL: o.TTL, Policy: o.Policy,
		NATS: ns.Connect(t), SilenceWindow: 500 * time.Millisecond,
		ReconnectGrace: 3 * time.Second, OnDrain: o.OnDrain, Logger: testLogger(t, name),
		RegistryInterval: o.RegistryInterval, TracerProvider: o.TracerProvider,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		cl.Run(ctx)
	}()
	var once sync.Once
	stopRun := func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
	t.Cleanup(stopRun)
	te := startEdge(t, ns, name, func(c *Config) {
		c.Ownership = cl
		c.ReadyCheck = cl.Ready
		if mod != nil {
			mod(c)
		}
	})
	cl.Attach(te.Edge)
	return &clusterEdge{testEdge: te, Cluster: cl, Etcd: cli, stopRun: stopRun}
}
