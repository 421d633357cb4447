package embedded

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// etcdRoundTrip connects to endpoints, writes key = want unless want is
// empty, and checks that key can be read.
func etcdRoundTrip(t *testing.T, endpoints []string, key, want string) {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if want != "" {
		if _, err := cli.Put(ctx, key, want); err != nil {
			t.Fatalf("put: %v", err)
		}
	}
	resp, err := cli.Get(ctx, key)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if len(resp.Kvs) != 1 {
		t.Fatalf("get %s: %d keys", key, len(resp.Kvs))
	}
}

func TestStartEtcd(t *testing.T) {
	e, err := StartEtcd(EtcdOptions{Addr: "127.0.0.1:0", Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	eps := e.Endpoints()
	if len(eps) != 1 || !strings.HasPrefix(eps[0], "http://127.0.0.1:") || strings.HasSuffix(eps[0], ":2379") || strings.HasSuffix(eps[0], ":0") {
		t.Fatalf("Endpoints() = %v, want one random loopback port", eps)
	}
	etcdRoundTrip(t, eps, "/a", "1")
	dir := e.tempDir
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("data dir: %v", err)
	}

	// A second server on the same address fails with a hint.
	addr := strings.TrimPrefix(eps[0], "http://")
	if _, err := StartEtcd(EtcdOptions{Addr: addr, Fast: true}); err == nil || !strings.Contains(err.Error(), "-etcd-endpoints http://"+addr) {
		t.Fatalf("second server on %s: %v, want an error naming -etcd-endpoints", addr, err)
	}
	for _, bad := range []string{"nonsense", "127.0.0.1:x", "127.0.0.1:70000"} {
		if _, err := StartEtcd(EtcdOptions{Addr: bad}); err == nil {
			t.Errorf("address %q accepted", bad)
		}
	}
	if _, err := StartEtcd(EtcdOptions{Addr: "127.0.0.1:0", PeerAddr: "bad"}); err == nil {
		t.Error("bad peer address accepted")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("temporary data dir %s still there after Close: %v", dir, err)
	}
}

// TestEtcdDataDir checks that a caller's data dir keeps the data across a
// restart on the same addresses and survives Close.
func TestEtcdDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "etcd")
	e, err := StartEtcd(EtcdOptions{Addr: "127.0.0.1:0", DataDir: dir, Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	etcdRoundTrip(t, e.Endpoints(), "/kept", "yes")
	addr := strings.TrimPrefix(e.Endpoints()[0], "http://")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.Close(ctx); err != nil {
		t.Fatal(err)
	}
	e, err = StartEtcd(EtcdOptions{Addr: addr, DataDir: dir, Fast: true})
	if err != nil {
		t.Fatalf("restart on %s: %v", addr, err)
	}
	defer e.Close(ctx)
	etcdRoundTrip(t, e.Endpoints(), "/kept", "")
}

// TestStartEtcdDefaults starts a server with production timing.
func TestStartEtcdDefaults(t *testing.T) {
	e, err := StartEtcd(EtcdOptions{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	etcdRoundTrip(t, e.Endpoints(), "/slow", "1")
}

func TestErrorCore(t *testing.T) {
	var buf strings.Builder
	lg := zap.New(errorCore{log: slog.New(slog.NewTextHandler(&buf, nil))}).With(zap.String("member", "m1"))
	lg.Info("quiet")
	lg.Warn("quiet too")
	lg.Error("it broke", zap.Int("code", 7), zap.Error(errors.New("disk full")))
	got := buf.String()
	if strings.Contains(got, "quiet") {
		t.Errorf("info or warning passed: %q", got)
	}
	for _, want := range []string{"level=ERROR", `msg="it broke"`, "code=7", `error="disk full"`, "member=m1"} {
		if !strings.Contains(got, want) {
			t.Errorf("log %q lacks %q", got, want)
		}
	}
}
