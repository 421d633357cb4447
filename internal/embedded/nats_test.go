package embedded

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func TestStartNATS(t *testing.T) {
	n, err := StartNATS(NATSOptions{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown(context.Background())
	if !strings.HasPrefix(n.URL(), "nats://127.0.0.1:") || strings.HasSuffix(n.URL(), ":4222") {
		t.Fatalf("URL() = %q, want a random loopback port", n.URL())
	}
	nc, err := nats.Connect(n.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync("x")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("x", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	m, err := sub.NextMsg(2 * time.Second)
	if err != nil || string(m.Data) != "hello" {
		t.Fatalf("NextMsg = %v, %v", m, err)
	}

	// A second server on the same address fails with a hint.
	addr := strings.TrimPrefix(n.URL(), "nats://")
	if _, err := StartNATS(NATSOptions{Addr: addr}); err == nil || !strings.Contains(err.Error(), "-nats-url nats://"+addr) {
		t.Fatalf("second server on %s: %v, want an error naming -nats-url", addr, err)
	}
	if _, err := StartNATS(NATSOptions{Addr: "nonsense"}); err == nil {
		t.Fatal("bad address accepted")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if nc.Publish("x", nil); nc.Flush() == nil {
		t.Fatal("connection still flushes after Shutdown")
	}
}
