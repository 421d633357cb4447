package natstest_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tributary-media/tributary/internal/testutil/natstest"
)

func TestMain(m *testing.M) {
	natstest.ServeIfChild()
	m.Run()
}

// roundTrip checks that a message published on nc comes back.
func roundTrip(t *testing.T, nc *nats.Conn, subject string) {
	t.Helper()
	sub, err := nc.SubscribeSync(subject)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.Publish(subject, []byte("ping")); err != nil {
		t.Fatal(err)
	}
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil || string(m.Data) != "ping" {
		t.Fatalf("round trip on %s: %v", subject, err)
	}
}

func TestStartRestart(t *testing.T) {
	srv := natstest.Start(t, natstest.Options{MaxPayload: 64 << 10})
	url := srv.URL()
	reconnected := make(chan struct{}, 1)
	nc := srv.Connect(t, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond),
		nats.ReconnectHandler(func(*nats.Conn) {
			select {
			case reconnected <- struct{}{}:
			default:
			}
		}))
	if nc.MaxPayload() != 64<<10 {
		t.Fatalf("max payload %d", nc.MaxPayload())
	}
	roundTrip(t, nc, "a")
	if srv.NumClients() != 1 {
		t.Fatalf("%d clients", srv.NumClients())
	}
	srv.Restart()
	if srv.URL() != url {
		t.Fatalf("URL changed from %s to %s", url, srv.URL())
	}
	select {
	case <-reconnected:
	case <-time.After(10 * time.Second):
		t.Fatal("client did not reconnect")
	}
	roundTrip(t, nc, "b")
	srv.Shutdown()
	if srv.NumClients() != 0 {
		t.Fatal("clients after shutdown")
	}
}

func TestStartProcess(t *testing.T) {
	p := natstest.StartProcess(t, natstest.Options{})
	nc := p.Connect(t)
	if nc.MaxPayload() != 1<<20 {
		t.Fatalf("max payload %d, want the default", nc.MaxPayload())
	}
	roundTrip(t, nc, "c")
}
