package backend

import (
	"context"
	"testing"
	"time"

	"github.com/tributary-media/tributary/internal/testutil"
)

// TestEmbeddedThenJoined starts a process's backends with nothing
// configured (embedded NATS and etcd), then a second set that joins them,
// and checks both talk to the same servers.
func TestEmbeddedThenJoined(t *testing.T) {
	natsAddr, etcdAddr := testutil.FreeAddr(t), testutil.FreeAddr(t)
	a, err := Start(Options{Name: "a", EmbeddedNATSAddr: natsAddr, EmbeddedEtcdAddr: etcdAddr, EmbeddedEtcdDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if !a.EmbeddedEtcd {
		t.Fatal("EmbeddedEtcd is false with no endpoints configured")
	}
	b, err := Start(Options{Name: "b", NATSURLs: []string{"nats://" + natsAddr}, EtcdEndpoints: []string{etcdAddr}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.EmbeddedEtcd {
		t.Fatal("EmbeddedEtcd is true with endpoints configured")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := a.Etcd.Put(ctx, "/k", "v"); err != nil {
		t.Fatal(err)
	}
	resp, err := b.Etcd.Get(ctx, "/k")
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v" {
		t.Fatalf("b does not see a's etcd: %v %v", resp, err)
	}
	sub, err := b.NATS.SubscribeSync("x")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.NATS.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := a.NATS.Publish("x", []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if m, err := sub.NextMsg(5 * time.Second); err != nil || string(m.Data) != "hi" {
		t.Fatalf("b does not see a's NATS: %v %v", m, err)
	}
	b.DrainBus(5 * time.Second)
	if !b.NATS.IsClosed() {
		t.Fatal("DrainBus left the connection open")
	}
	// A second embedded server on the same address fails, and cleans up.
	if _, err := Start(Options{EmbeddedNATSAddr: natsAddr, EmbeddedEtcdAddr: testutil.FreeAddr(t)}); err == nil {
		t.Fatal("a second embedded NATS server on a taken address started")
	}
}
