package rtmp_test

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tributary-media/tributary/pkg/rtmp"
)

// startPair runs two Servers (A and B) sharing one hub whose second
// publisher of a name is a standby that takes over on its first media.
func startPair(t *testing.T) (addrA, addrB string, h *hub) {
	t.Helper()
	h = newHub()
	h.standby = true
	h.takeovers = make(chan string, 4)
	addrA = startServer(t, &rtmp.Server{Handler: h.handle})
	addrB = startServer(t, &rtmp.Server{Handler: h.handle})
	return addrA, addrB, h
}

// TestCase50ReconnectPublisher: case 50, client half, publishing. Server A
// asks the publisher to reconnect to B; the client keeps sending to A,
// publishes on B in the background, switches at the next keyframe
// (re-sending metadata and sequence headers) and drops A. A player on the
// shared hub sees the frames in order across the switch.
func TestCase50ReconnectPublisher(t *testing.T) {
	addrA, addrB, h := startPair(t)
	pubConns := make(chan *rtmp.ServerConn, 2)
	h.onPublish = func(c *rtmp.ServerConn, _ *rtmp.PublishRequest) { pubConns <- c }
	player := dialPlay(t, "rtmp://"+addrA+"/live/cam", rtmp.ClientConfig{DisableReconnect: true})
	h.waitPlayers(t, "cam", 1)
	logs := &logBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("client log:\n%s", logs)
		}
	})
	pub := dialPublish(t, "rtmp://"+addrA+"/live/cam", rtmp.ClientConfig{Logger: logs.logger()})
	connA := <-pubConns

	const gop, size = 10, 500
	publishFrames(t, pub, 0, 25, gop, size)
	if err := connA.RequestReconnect("rtmp://"+addrB+"/live", "moving to B"); err != nil {
		t.Fatalf("RequestReconnect: %v", err)
	}
	// Keep publishing in real-time-ish steps until the takeover happened
	// and two more GOPs were sent.
	var switchedAt, cur atomic.Int64
	switchedAt.Store(-1)
	done := make(chan int)
	go func() {
		i := 25
		defer func() { done <- i }()
		for ; ; i++ {
			cur.Store(int64(i))
			if s := switchedAt.Load(); s >= 0 && i >= int(s)+2*gop {
				return
			}
			ts := uint32(i * 40)
			if err := pub.WriteVideo(ts, videoFrame(i, i%gop == 0, size)); err != nil {
				t.Errorf("WriteVideo %d: %v", i, err)
				return
			}
			if err := pub.WriteAudio(ts, audioFrame(i)); err != nil {
				t.Errorf("WriteAudio %d: %v", i, err)
				return
			}
			time.Sleep(2 * time.Millisecond)
			if i > 2000 {
				t.Error("no takeover after 2000 frames")
				return
			}
		}
	}()
	select {
	case <-h.takeovers:
	case <-time.After(10 * time.Second):
		t.Fatal("the publisher did not switch to B")
	}
	// The switch happens at a keyframe; the writer is at or past it now.
	switchedAt.Store(cur.Load())
	last := <-done
	select {
	case connB := <-pubConns:
		if connB.ConnectRequest().TCURL != "rtmp://"+addrB+"/live" {
			t.Errorf("new connection's tcUrl %q", connB.ConnectRequest().TCURL)
		}
	default:
		t.Fatal("no publish on B")
	}
	if err := pub.Err(); err != nil {
		t.Fatalf("publisher ended: %v", err)
	}

	// The player: frames strictly increasing up to the last one; at most the
	// frames in flight on A at the switch may be missing.
	prev, count, metas, seqs := -1, 0, 0, 0
	for prev < last-1 {
		m, err := player.ReadMessage()
		if err != nil {
			t.Fatalf("player after frame %d: %v", prev, err)
		}
		switch m.Kind {
		case rtmp.KindData:
			if m.Data.Name == "onMetaData" {
				metas++
			}
		case rtmp.KindVideo:
			if m.Payload[1] == 0 {
				seqs++
				continue
			}
			i := frameIndex(m.Payload)
			if i <= prev {
				t.Fatalf("frame %d after %d", i, prev)
			}
			prev = i
			count++
		}
	}
	if metas != 2 || seqs != 2 {
		t.Errorf("player saw %d metadata and %d sequence headers, want 2 each (re-sent on the new connection)", metas, seqs)
	}
	if count < last-gop {
		t.Errorf("player got %d of %d frames", count, last)
	}
	t.Logf("player got %d of %d frames across the switch", count, last)

	// A was dropped without an unpublish.
	select {
	case <-connA.Done():
	case <-time.After(5 * time.Second):
		t.Error("old connection still open")
	}
}

// TestCase50ReconnectPlayer: case 50, client half, playing. Server A asks
// the player to reconnect to B; the player plays the same name there and
// keeps receiving the stream. A player with DisableReconnect does not
// advertise the capability, so the request is refused.
func TestCase50ReconnectPlayer(t *testing.T) {
	addrA, addrB, h := startPair(t)
	playConns := make(chan *rtmp.ServerConn, 4)
	h.onPlay = func(c *rtmp.ServerConn, _ *rtmp.PlayRequest) { playConns <- c }
	pub := dialPublish(t, "rtmp://"+addrA+"/live/cam", rtmp.ClientConfig{})
	player := dialPlay(t, "rtmp://"+addrA+"/live/cam", rtmp.ClientConfig{})
	connA := <-playConns

	noReconnect := dialPlay(t, "rtmp://"+addrA+"/live/cam", rtmp.ClientConfig{DisableReconnect: true})
	if err := (<-playConns).RequestReconnect("rtmp://"+addrB+"/live", ""); err == nil {
		t.Error("RequestReconnect accepted for a client with DisableReconnect")
	}
	noReconnect.Close()

	stop := make(chan struct{})
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		publishFramesUntil(pub, stop, 10, 300)
	}()
	defer func() { close(stop); <-writerDone }()

	// Receive some frames from A, then ask for the move.
	readFrames(t, player, 15)
	if err := connA.RequestReconnect("", "same place, new connection"); err != nil {
		t.Fatal(err)
	}
	readFrames(t, player, 30) // the reconnect happens inside ReadMessage
	var connB *rtmp.ServerConn
	select {
	case connB = <-playConns:
	default:
		t.Fatal("player did not reconnect")
	}
	select {
	case <-connA.Done():
	case <-time.After(5 * time.Second):
		t.Error("old player connection still open")
	}
	if tc := connB.ConnectRequest().TCURL; !strings.HasSuffix(tc, "/live") {
		t.Errorf("reconnect tcUrl %q", tc)
	}
	_ = addrB
}

// publishFramesUntil publishes sequence headers and frames until stop.
func publishFramesUntil(c *rtmp.ClientConn, stop chan struct{}, gop, size int) {
	if c.WriteVideo(0, avcSeqHeader) != nil {
		return
	}
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-time.After(2 * time.Millisecond):
		}
		if c.WriteVideo(uint32(i*40), videoFrame(i, i%gop == 0, size)) != nil {
			return
		}
	}
}

// readFrames reads until n coded video frames arrived, checking they
// increase.
func readFrames(t *testing.T, c *rtmp.ClientConn, n int) {
	t.Helper()
	prev := -1
	for got := 0; got < n; {
		m, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("ReadMessage: %v", err)
		}
		if m.Kind != rtmp.KindVideo || m.Payload[1] != 1 {
			continue
		}
		i := frameIndex(m.Payload)
		if i <= prev {
			t.Fatalf("frame %d after %d", i, prev)
		}
		prev = i
		got++
	}
}
