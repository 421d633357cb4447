package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tributary-media/tributary/internal/testutil"
	"github.com/tributary-media/tributary/pkg/rtmp"
	"github.com/tributary-media/tributary/pkg/token"
)

// TestAuthFromConfigFile runs the edge with an auth section: a keys file
// that is missing stops the start with a clear error; with the file, a
// bound key publishes its stream, a signed token its own, and a publish
// without credentials is refused; the metric counts them.
func TestAuthFromConfigFile(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	const secret = "cmd-edge-secret-0123456789"
	conf := filepath.Join(dir, "edge.yaml")
	if err := os.WriteFile(conf, []byte(`
auth:
  default:
    publish:
      keys_file: `+keys+`
      token: {secrets: [`+secret+`]}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	natsAddr, etcdAddr, rtmpAddr, httpAddr := testutil.FreeAddr(t), testutil.FreeAddr(t), testutil.FreeAddr(t), testutil.FreeAddr(t)
	args := []string{"-config", conf, "-id", "edge-auth", "-rtmp-addr", rtmpAddr, "-http-addr", httpAddr,
		"-embedded-nats-addr", natsAddr, "-embedded-etcd-addr", etcdAddr, "-embedded-etcd-dir", t.TempDir(), "-controller-addr="}

	failed := testutil.StartCommand(t, nil, "edge-no-keys", edgeBin, args...)
	if err := failed.Wait(30 * time.Second); err == nil || !strings.Contains(failed.Stderr(), "keys file") {
		t.Fatalf("the edge started without its keys file: %v", err)
	}

	if err := os.WriteFile(keys, []byte("k-cmd-edge-4f9a0c2e alice\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := testutil.StartCommand(t, nil, "edge", edgeBin, args...)
	waitReady(t, httpAddr)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	publish := func(name string) error {
		c, err := rtmp.Dial(ctx, "rtmp://"+rtmpAddr+"/live", rtmp.ClientConfig{})
		if err != nil {
			return err
		}
		defer c.Close()
		if err := c.Connect(ctx); err != nil {
			return err
		}
		return c.Publish(ctx, name)
	}
	if err := publish("k-cmd-edge-4f9a0c2e"); err != nil {
		t.Fatalf("publish with the bound key: %v", err)
	}
	if err := publish("m?" + token.Query([]byte(secret), token.Publish, "live", "m", time.Now().Add(time.Minute))); err != nil {
		t.Fatalf("publish with a token: %v", err)
	}
	if err := publish("alice"); !errors.Is(err, rtmp.ErrBadName) || !strings.Contains(err.Error(), "Not authorized to publish") {
		t.Fatalf("publish without credentials: %v", err)
	}
	fams := scrapeMetrics(t, httpAddr)
	var allowed, denied float64
	for _, m := range fams["tributary_edge_auth_total"].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["action"] == "publish" && labels["result"] == "allowed" {
			allowed += m.Counter.GetValue()
		}
		if labels["action"] == "publish" && labels["result"] == "denied" {
			denied += m.Counter.GetValue()
		}
	}
	if allowed != 2 || denied != 1 {
		t.Errorf("tributary_edge_auth_total: %v allowed, %v denied publishes; want 2 and 1", allowed, denied)
	}
	if err := e.Stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(e.Stderr(), "k-cmd-edge") || strings.Contains(e.Stderr(), "sig=") {
		t.Errorf("the edge's log holds a key or a signature:\n%s", e.Stderr())
	}
}
