package edge

import (
	"context"
	"testing"
	"time"

	"github.com/tributary-media/tributary/internal/testutil/natstest"
	"github.com/tributary-media/tributary/pkg/rtmp"
	"github.com/tributary-media/tributary/pkg/rtmp/flv"
)

// TestPublishOnePlayOther is the edge's basic promise with our own client:
// publish on edge A, play on edge B, frames arrive in order starting with
// the sequence header and a keyframe.
func TestPublishOnePlayOther(t *testing.T) {
	ns := natstest.Start(t, natstest.Options{})
	a := startEdge(t, ns, "a", nil)
	b := startEdge(t, ns, "b", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	pub := dialClient(t, ctx, a.URL("live", "x"))
	if err := pub.Publish(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	seq := []byte{0x17, 0x00, 0, 0, 0, 0x01, 0x64, 0x00, 0x1f}
	key := []byte{0x17, 0x01, 0, 0, 0, 0xaa}
	inter := []byte{0x27, 0x01, 0, 0, 0, 0xbb}
	if err := pub.WriteVideo(0, seq); err != nil {
		t.Fatal(err)
	}
	if err := pub.WriteVideo(0, key); err != nil {
		t.Fatal(err)
	}
	if err := pub.WriteVideo(40, inter); err != nil {
		t.Fatal(err)
	}
	// Wait until A's publisher has put them on the bus before B joins.
	waitFor(t, time.Second, func() bool { return a.Stats().FramesIn == 3 })

	play := dialClient(t, ctx, b.URL("live", "x"))
	if err := play.Play(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	var got []uint32
	for len(got) < 4 {
		m, err := play.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if m.Kind != rtmp.KindVideo {
			continue
		}
		got = append(got, m.Timestamp)
		if len(got) == 1 && !flv.IsSequenceHeader(flv.TagVideo, m.Payload) {
			t.Fatalf("first video message is not the sequence header: % x", m.Payload)
		}
		if len(got) == 2 && !flv.IsKeyframe(flv.TagVideo, m.Payload) {
			t.Fatalf("second video message is not the keyframe: % x", m.Payload)
		}
		if len(got) == 3 {
			if err := pub.WriteVideo(80, inter); err != nil {
				t.Fatal(err)
			}
		}
	}
	if want := []uint32{0, 0, 40, 80}; !equal(got, want) {
		t.Fatalf("timestamps %v, want %v", got, want)
	}
	if s := b.Stats(); s.Relays != 1 || s.Players != 1 {
		t.Fatalf("edge b stats %+v: want one relay and one player", s)
	}
	play.Close()
	waitFor(t, 2*time.Second, func() bool { return b.Stats().Relays == 0 })
}

func equal(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// waitFor polls cond until it holds or d passes, then fails the test.
func waitFor(t testing.TB, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// dialClient dials and connects our RTMP client; it is closed at the end
// of the test.
func dialClient(t testing.TB, ctx context.Context, url string) *rtmp.ClientConn {
	t.Helper()
	c, err := rtmp.Dial(ctx, url, rtmp.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}
