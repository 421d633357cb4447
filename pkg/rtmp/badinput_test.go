package rtmp_test

import (
	"math/rand"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tributary-media/tributary/pkg/rtmp"
	"github.com/tributary-media/tributary/pkg/rtmp/amf"
	"github.com/tributary-media/tributary/pkg/rtmp/chunk"
	"github.com/tributary-media/tributary/pkg/rtmp/handshake"
	"github.com/tributary-media/tributary/pkg/rtmp/message"
)

// TestBadInput runs hostile and broken peers against a Server while a
// healthy publish -> play goes through the same server; each bad peer is
// closed with a logged reason within the configured timeouts and the
// player keeps every frame.
func TestBadInput(t *testing.T) {
	const (
		handshakeTimeout = time.Second
		idleTimeout      = 2 * time.Second
		// Limit and protocol errors close as soon as the offending bytes
		// are read (the reason says so); the time bound is the configured
		// timeout, which leaves room for a loaded machine.
		promptly = idleTimeout
	)
	addr, h, logs := startHub(t, func(s *rtmp.Server, _ *hub) {
		s.HandshakeTimeout = handshakeTimeout
		s.IdleTimeout = idleTimeout
		s.WriteTimeout = 2 * time.Second
		s.Config.Chunk.MaxMessageLength = 8 << 20
	})

	// The healthy pair.
	player := dialPlay(t, "rtmp://"+addr+"/live/healthy", rtmp.ClientConfig{})
	h.waitPlayers(t, "healthy", 1)
	pub := dialPublish(t, "rtmp://"+addr+"/live/healthy", rtmp.ClientConfig{})
	const frames, gop, size = 400, 25, 2000
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if pub.WriteVideo(0, avcSeqHeader) != nil {
			t.Error("write sequence header")
			return
		}
		for i := 0; i < frames; i++ {
			if err := pub.WriteVideo(uint32(i*40), videoFrame(i, i%gop == 0, size)); err != nil {
				t.Errorf("WriteVideo %d: %v", i, err)
				return
			}
			time.Sleep(10 * time.Millisecond) // 4 s: longer than every bad case
		}
	}()
	received := make(chan int, 1)
	go func() {
		n, prev := 0, -1
		defer func() { received <- n }()
		for n < frames {
			m, err := player.ReadMessage()
			if err != nil {
				t.Errorf("player: %v", err)
				return
			}
			if m.Kind != rtmp.KindVideo || m.Payload[1] != 1 {
				continue
			}
			if i := frameIndex(m.Payload); i != prev+1 {
				t.Errorf("player got frame %d after %d", i, prev)
				return
			} else {
				prev = i
			}
			n++
		}
	}()

	hsClient := func(t *testing.T) net.Conn {
		nc := dialTCP(t, addr)
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := handshake.Client(nc, handshake.ClientConfig{}); err != nil {
			t.Fatalf("handshake: %v", err)
		}
		return nc
	}
	cases := []struct {
		name   string
		run    func(t *testing.T) net.Conn
		within time.Duration
		reason string
	}{
		{"garbage after handshake", func(t *testing.T) net.Conn {
			nc := hsClient(t)
			junk := make([]byte, 4096)
			rand.New(rand.NewSource(1)).Read(junk)
			junk[0] = 0xFF // fmt 3 on a fresh chunk stream
			nc.Write(junk)
			return nc
		}, promptly, "chunk: protocol error"},
		{"truncated handshake", func(t *testing.T) net.Conn {
			nc := dialTCP(t, addr)
			nc.Write(append([]byte{3}, make([]byte, 700)...)) // C0 and half a C1
			return nc
		}, handshakeTimeout + time.Second, "handshake timeout"},
		{"16 MiB declared message", func(t *testing.T) net.Conn {
			hdr := chunk.Header{Fmt: 0, CSID: 3, Length: 0xFFFFFF, Type: 20}
			b := make([]byte, hdr.MarshalSize())
			hdr.MarshalTo(b)
			b = append(b, make([]byte, 128)...)
			nc := hsClient(t)
			nc.Write(b)
			return nc
		}, promptly, "limit"},
		{"ten thousand chunk streams", func(t *testing.T) net.Conn {
			var buf []byte
			for csid := uint32(3); csid < 10003; csid++ {
				hdr := chunk.Header{Fmt: 0, CSID: csid, Length: 200, Type: 9, StreamID: 1}
				b := make([]byte, hdr.MarshalSize())
				hdr.MarshalTo(b)
				buf = append(append(buf, b...), make([]byte, 128)...) // first chunk only: stays pending
			}
			nc := hsClient(t)
			go nc.Write(buf) // the server stops reading early
			return nc
		}, promptly, "limit"},
		{"connect with a 1 MB string", func(t *testing.T) net.Conn {
			cmd := &message.Command{Name: "connect", TransactionID: 1, Object: amf.Object{
				{Key: "app", Value: strings.Repeat("a", 1<<20)}}}
			cm, err := message.ToChunk(cmd, 0, 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			nc := hsClient(t)
			w := chunk.NewWriter(nc, chunk.Config{})
			go func() { w.WriteMessage(&cm); w.Flush() }()
			return nc
		}, promptly, "command message of"},
		{"silent peer", func(t *testing.T) net.Conn {
			return dialTCP(t, addr)
		}, handshakeTimeout + time.Second, "handshake timeout"},
		{"silent after connect", func(t *testing.T) net.Conn {
			nc := hsClient(t)
			w := chunk.NewWriter(nc, chunk.Config{})
			cm, _ := message.ToChunk(&message.Command{Name: "connect", TransactionID: 1,
				Object: amf.Object{{Key: "app", Value: "live"}}}, 0, 0, nil)
			w.WriteMessage(&cm)
			w.Flush()
			// Never answer pings: a half-open peer.
			return nc
		}, idleTimeout + time.Second, "idle or write timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			nc := tc.run(t)
			local := nc.LocalAddr().String()
			expectClosed(t, nc, tc.within+time.Second)
			if d := time.Since(start); d > tc.within {
				t.Errorf("closed after %v, want within %v", d, tc.within)
			}
			line := logs.waitLog(t, 2*time.Second, "connection closed", "remote="+local)
			if !strings.Contains(line, tc.reason) {
				t.Errorf("log line %q does not give the reason %q", line, tc.reason)
			}
			t.Log(line)
		})
	}
	wg.Wait()
	select {
	case n := <-received:
		if n != frames {
			t.Errorf("healthy player got %d of %d frames", n, frames)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("healthy player did not get every frame")
	}
}

func dialTCP(t *testing.T, addr string) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}
