package edge

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tributary-media/tributary/internal/testutil/etcdtest"
	"github.com/tributary-media/tributary/internal/testutil/natstest"
	"github.com/tributary-media/tributary/pkg/rtmp"
)

// TestClusterDuplicatePublish: with etcd ownership, a second publisher of
// a stream whose owner is receiving media is rejected with BadName, and
// after the first ends the stream can be published on the other edge.
func TestClusterDuplicatePublish(t *testing.T) {
	ns := natstest.Start(t, natstest.Options{})
	es := etcdtest.Start(t, etcdtest.Options{})
	a := startClusterEdge(t, ns, es, "a", clusterOpts{}, nil)
	b := startClusterEdge(t, ns, es, "b", clusterOpts{}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p1 := dialClient(t, ctx, a.URL("live", "x"))
	if err := p1.Publish(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	// A live encoder: frames every 20 ms.
	stop := make(chan struct{})
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if p1.WriteVideo(uint32(20*i), avcKeyframe("k")) != nil {
				return
			}
		}
	}()
	p2 := dialClient(t, ctx, b.URL("live", "x"))
	if err := p2.Publish(ctx, "x"); !errors.Is(err, rtmp.ErrBadName) {
		t.Fatalf("second publisher on another edge: %v, want BadName", err)
	}
	close(stop)
	<-sent
	p1.Close()
	waitFor(t, 5*time.Second, func() bool { return a.Stats().Publishers == 0 })
	p3 := dialClient(t, ctx, b.URL("live", "x"))
	if err := p3.Publish(ctx, "x"); err != nil {
		t.Fatalf("publish after the first ended: %v", err)
	}
}
