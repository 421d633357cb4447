package edge

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tributary-media/tributary/internal/testutil/natstest"
	"github.com/tributary-media/tributary/pkg/bus"
	"github.com/tributary-media/tributary/pkg/rtmp"
)

// revocableOwnership grants claims that the test can revoke, the way the
// cluster revokes them on a takeover, a kick or a lost lease.
type revocableOwnership struct {
	mu     sync.Mutex
	claims []*revocableClaim
	epoch  uint64
}

type revocableClaim struct {
	epoch    uint64
	lost     chan struct{}
	reason   atomic.Pointer[error]
	active   atomic.Int64
	released atomic.Bool
}

func (o *revocableOwnership) Claim(ctx context.Context, key StreamKey, info ClaimInfo) (Claim, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.epoch++
	c := &revocableClaim{epoch: o.epoch, lost: make(chan struct{})}
	o.claims = append(o.claims, c)
	return c, nil
}

func (o *revocableOwnership) last() *revocableClaim {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.claims) == 0 {
		return nil
	}
	return o.claims[len(o.claims)-1]
}

func (c *revocableClaim) Epoch() uint64         { return c.epoch }
func (c *revocableClaim) Lost() <-chan struct{} { return c.lost }
func (c *revocableClaim) LostReason() error {
	if p := c.reason.Load(); p != nil {
		return *p
	}
	return nil
}
func (c *revocableClaim) Active(t time.Time)                { c.active.Store(t.UnixNano()) }
func (c *revocableClaim) Release(ctx context.Context) error { c.released.Store(true); return nil }
func (c *revocableClaim) revoke(why error) {
	c.reason.Store(&why)
	close(c.lost)
}

// TestLostClaimFencesPublisher checks what the edge does when the
// ownership of a stream it publishes is lost: not one more frame of that
// publish reaches the bus, the encoder gets an error status saying why,
// and its connection is closed.
func TestLostClaimFencesPublisher(t *testing.T) {
	for _, tc := range []struct {
		why  error
		code string
	}{
		{ErrTakenOver, rtmp.CodePublishBadName},
		{ErrKicked, rtmp.CodePublishFailed},
		{ErrOwnershipLost, rtmp.CodePublishFailed},
	} {
		t.Run(tc.why.Error(), func(t *testing.T) {
			ns := natstest.Start(t, natstest.Options{})
			own := &revocableOwnership{}
			a := startEdge(t, ns, "a", func(c *Config) { c.Ownership = own })
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()

			var onBus atomic.Int64
			watcher := ns.Connect(t)
			if _, err := watcher.Subscribe(bus.StreamSubject("", "live", "x", bus.KindMedia), func(*nats.Msg) { onBus.Add(1) }); err != nil {
				t.Fatal(err)
			}
			if err := watcher.Flush(); err != nil {
				t.Fatal(err)
			}
			pub := dialClient(t, ctx, a.URL("live", "x"))
			if err := pub.Publish(ctx, "x"); err != nil {
				t.Fatal(err)
			}
			if err := pub.WriteVideo(0, avcKeyframe("k")); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 2*time.Second, func() bool { return onBus.Load() == 1 })
			c := own.last()
			if c.active.Load() == 0 {
				t.Fatal("the claim was not told that media arrived")
			}
			c.revoke(tc.why)
			// Whatever the encoder still sends must not reach the bus; the
			// error status ends the client's conn.
			for i := 1; ; i++ {
				select {
				case <-pub.Done():
				case <-time.After(5 * time.Millisecond):
					if i > 400 {
						t.Fatal("the edge did not end the publisher's connection")
					}
					pub.WriteVideo(uint32(40*i), avcInterframe("late"))
					continue
				}
				break
			}
			var se *rtmp.StatusError
			if err := pub.Err(); !errors.As(err, &se) || se.Code != tc.code {
				t.Fatalf("publisher ended with %v, want an error status %s", err, tc.code)
			}
			if err := watcher.Flush(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)
			if n := onBus.Load(); n != 1 {
				t.Fatalf("%d messages on the bus, want only the frame sent before the claim was lost", n)
			}
			waitFor(t, 2*time.Second, func() bool { return c.released.Load() && a.Stats().Publishers == 0 })
		})
	}
}
