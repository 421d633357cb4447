package controller_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tributary-media/tributary/internal/controller"
	"github.com/tributary-media/tributary/internal/testutil/etcdtest"
)

// newServerConfig returns the configuration of a Server of env with id,
// listening on addr.
func (e *testEnv) newServerConfig(t *testing.T, id, addr string) controller.ServerConfig {
	t.Helper()
	return controller.ServerConfig{
		Config: controller.Config{
			Etcd: etcdtest.NewClient(t, e.etcd.Endpoints()...), NATS: e.nats.Connect(t), Prefix: e.prefix, ID: id,
			LeaseTTL: testTTL, ReconnectGrace: testGrace, ReapGrace: testReap, Logger: testLogger(t, id),
		},
		Addr: addr,
	}
}

// TestServer runs a Server: its API answers on the chosen port while it
// leads, and when its context ends it resigns (no replica leads at once,
// not after the lease TTL), stops serving and returns nil.
func TestServer(t *testing.T) {
	env := newEnv(t)
	srv, err := controller.NewServer(env.newServerConfig(t, "ctl-1", "127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	api := "http://" + srv.Addr().String()
	if strings.HasSuffix(api, ":0") {
		t.Fatalf("Addr() = %s, want the chosen port", srv.Addr())
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()

	waitFor(t, 10*time.Second, "ctl-1 to lead through its API", func() bool {
		var st controller.LeaderStatus
		return getJSON(t, api+"/api/v1/leader", &st) == http.StatusOK && st.IsLeader && st.ID != nil && *st.ID == "ctl-1"
	})
	if !srv.Controller().IsLeader() {
		t.Fatal("the API says ctl-1 leads, its Controller does not")
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return")
	}
	// Resigned: the election is empty well before the lease TTL.
	_, leads, err := srv.Controller().Leader(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if leads {
		t.Fatal("a replica still leads after Run returned: the leadership was not resigned")
	}
	if _, err := http.Get(api + "/healthz"); err == nil {
		t.Fatal("the API still answers after Run returned")
	}
	if err := srv.Run(context.Background()); err == nil {
		t.Fatal("a second Run succeeded")
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("Close after Run: %v", err)
	}
}

// TestServerAddrTaken checks that NewServer fails on a taken address,
// before anything runs.
func TestServerAddrTaken(t *testing.T) {
	env := newEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = controller.NewServer(env.newServerConfig(t, "ctl-1", ln.Addr().String()))
	if err == nil || !strings.HasPrefix(err.Error(), "controller: admin API listener: ") {
		t.Fatalf("NewServer on a taken address: %v", err)
	}
	cfg := env.newServerConfig(t, "ctl-1", "")
	if _, err := controller.NewServer(cfg); err == nil || !strings.Contains(err.Error(), "Addr is required") {
		t.Fatalf("NewServer without an address: %v", err)
	}
	cfg.Addr, cfg.ID = "127.0.0.1:0", ""
	if _, err := controller.NewServer(cfg); err == nil || !strings.Contains(err.Error(), "Config.ID is required") {
		t.Fatalf("NewServer without an id: %v", err)
	}
}

// TestServerClose checks that Close releases the listener of a Server
// never run, and that Run then fails instead of serving.
func TestServerClose(t *testing.T) {
	env := newEnv(t)
	srv, err := controller.NewServer(env.newServerConfig(t, "ctl-1", "127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	addr := srv.Addr().String()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("%s still taken after Close: %v", addr, err)
	}
	ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Run(ctx); err == nil || !strings.Contains(err.Error(), "after Close") {
		t.Fatalf("Run after Close: %v", err)
	}
	if srv.Controller().IsLeader() {
		t.Fatal("the controller of a closed Server leads")
	}
}
