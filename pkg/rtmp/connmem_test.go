package rtmp_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/tributary-media/tributary/pkg/rtmp"
	"github.com/tributary-media/tributary/pkg/rtmp/amf"
	"github.com/tributary-media/tributary/pkg/rtmp/handshake"
	"github.com/tributary-media/tributary/pkg/rtmp/message"
)

// connMemPlayers is how many player connections BenchmarkConnMemory holds
// open at once.
const connMemPlayers = 1000

// connMemUsage is the memory a set of connections holds, per connection.
type connMemUsage struct {
	heap  float64 // HeapInuse delta per connection
	stack float64 // StackInuse delta per connection
}

func (u connMemUsage) total() float64 { return u.heap + u.stack }

// BenchmarkConnMemory measures the memory a Server holds per idle player:
// connMemPlayers clients connect over loopback TCP, play, receive
// metadata, sequence headers and a few frames, and then stay connected
// without sending anything, while each server handler waits in
// ReadMessage (as a player's read loop does between its rare commands).
// The figures are the growth of HeapInuse and StackInuse between before
// the clients connect and after all of them are idle, each taken after
// two garbage collections, divided by the number of players. They include
// the server's accepted socket, the handler and ping goroutines, the
// ServerConn, its chunk reader and writer and the decoded connect request;
// the clients are raw scripted sockets whose only heap share is their
// net.Conn (a few hundred bytes each). ns/op is the time to set up and
// tear down connMemPlayers players.
//
// Sub-benchmarks: "player" uses the Server's defaults; "player-no-ping"
// disables pings; "player-parked" reads with ReadOrPark; "bare-tcp" is the
// floor to compare with, an accepted loopback socket read by a goroutine
// blocked in Read, plus the client's socket.
func BenchmarkConnMemory(b *testing.B) {
	for _, c := range []struct {
		name    string
		measure func(*testing.B) connMemUsage
	}{
		{"player", func(b *testing.B) connMemUsage { return measurePlayers(b, connMemPlayers, 0, false) }},
		{"player-no-ping", func(b *testing.B) connMemUsage { return measurePlayers(b, connMemPlayers, -1, false) }},
		{"player-parked", func(b *testing.B) connMemUsage { return measurePlayers(b, connMemPlayers, 0, true) }},
		{"bare-tcp", func(b *testing.B) connMemUsage { return measureBareTCP(b, connMemPlayers) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			var sum connMemUsage
			n := 0
			for b.Loop() {
				u := c.measure(b)
				sum.heap += u.heap
				sum.stack += u.stack
				n++
			}
			b.ReportMetric(sum.total()/float64(n), "B/conn")
			b.ReportMetric(sum.heap/float64(n), "heap-B/conn")
			b.ReportMetric(sum.stack/float64(n), "stack-B/conn")
		})
	}
}

// maxPlayerHeap bounds the heap a Server holds per idle player in
// TestConnMemory: about 7 KiB are expected (the ServerConn, its chunk
// reader's 1 KiB input buffer and state, the decoded connect request, the
// socket, the goroutines' descriptors). A 16 KiB buffer kept per
// connection fails it.
const maxPlayerHeap = 12 << 10

// TestConnMemory keeps the heap held per idle player connection bounded.
func TestConnMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("opens hundreds of connections")
	}
	u := measurePlayers(t, 200, 0, false)
	t.Logf("per idle player: %.0f B heap, %.0f B goroutine stacks", u.heap, u.stack)
	if u.heap > maxPlayerHeap {
		t.Errorf("an idle player holds %.0f B of heap, want at most %d", u.heap, maxPlayerHeap)
	}
	// A parked handler leaves only a waiting goroutine with a short call
	// chain (the runtime's smallest stack, 2 KiB), and no input buffer.
	p := measurePlayers(t, 200, 0, true)
	t.Logf("per parked player: %.0f B heap, %.0f B goroutine stacks", p.heap, p.stack)
	if p.stack > maxParkedStack {
		t.Errorf("a parked player holds %.0f B of goroutine stacks, want at most %d", p.stack, maxParkedStack)
	}
	if p.heap > u.heap-512 {
		t.Errorf("a parked player holds %.0f B of heap, want at least 512 B less than a reading one (%.0f B)", p.heap, u.heap)
	}
}

// maxParkedStack bounds the goroutine stack a parked player holds: 2 KiB
// expected, a handler's 8 KiB stack fails it.
const maxParkedStack = 4 << 10

// memInUse returns HeapInuse and StackInuse after two collections (the
// second one also empties sync.Pool victim caches).
func memInUse() (heap, stack uint64) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse, ms.StackInuse
}

// perConn divides the growth from (h0, s0) to now by n.
func perConn(h0, s0 uint64, n int) connMemUsage {
	h1, s1 := memInUse()
	return connMemUsage{
		heap:  (float64(h1) - float64(h0)) / float64(n),
		stack: (float64(s1) - float64(s0)) / float64(n),
	}
}

// playerScript returns what a raw player sends after the handshake:
// connect, createStream, play on stream 1 and SetBufferLength, as
// ffmpeg does.
func playerScript(tb testing.TB) []byte {
	tb.Helper()
	connect := &message.Command{Name: "connect", TransactionID: 1, Object: amf.Object{
		{Key: "app", Value: "live"}, {Key: "flashVer", Value: "LNX 9,0,124,2"},
		{Key: "tcUrl", Value: "rtmp://127.0.0.1:1935/live"}, {Key: "fpad", Value: false},
		{Key: "capabilities", Value: float64(15)}, {Key: "audioCodecs", Value: float64(4071)},
		{Key: "videoCodecs", Value: float64(252)}, {Key: "videoFunction", Value: float64(1)},
	}}
	p := chunkBytes(tb, 0, 0, connect,
		&message.WindowAckSize{Size: 2_500_000},
		&message.Command{Name: "createStream", TransactionID: 2})
	p = append(p, chunkBytes(tb, 0, 1,
		&message.Command{Name: "play", TransactionID: 3, Args: []any{"stream", float64(-2000)}})...)
	return append(p, chunkBytes(tb, 0, 0,
		&message.UserControl{Event: message.EventSetBufferLength, StreamID: 1, BufferLength: 3000})...)
}

// measurePlayers runs a Server with the given PingInterval, connects n
// players to it and returns the memory held per player once all of them
// are idle. With park, the handler reads with ReadOrPark.
func measurePlayers(b testing.TB, n int, pingInterval time.Duration, park bool) connMemUsage {
	b.Helper()
	meta := []byte{0x02, 0x00, 0x0A, 'o', 'n', 'M', 'e', 't', 'a', 'D', 'a', 't', 'a', 0x08, 0, 0, 0, 0, 0, 0, 9}
	key, inter := videoFrame(0, true, 16<<10), videoFrame(1, false, 2<<10)
	ready := make(chan error, n)
	srv := &rtmp.Server{PingInterval: pingInterval, Handler: func(ctx context.Context, c *rtmp.ServerConn) error {
		if _, err := c.ReadConnect(); err != nil {
			ready <- err
			return err
		}
		if err := c.AcceptConnect(nil); err != nil {
			ready <- err
			return err
		}
		signalled := false
		var loop func() error
		loop = func() error {
			for {
				var m *rtmp.Message
				var err error
				if park {
					m, err = c.ReadOrPark(loop)
					if err == rtmp.ErrParked {
						return err
					}
				} else {
					m, err = c.ReadMessage()
				}
				if err != nil {
					if !signalled {
						ready <- err
					}
					return err
				}
				if m.Kind != rtmp.KindPlay {
					continue
				}
				err = firstErr(
					func() error { return c.AcceptPlay(m.Play) },
					func() error { return c.WriteData(1, 0, meta) },
					func() error { return c.WriteVideo(1, 0, avcSeqHeader) },
					func() error { return c.WriteAudio(1, 0, aacSeqHeader) },
					func() error { return c.WriteVideo(1, 0, key) },
				)
				for i := 1; err == nil && i < 5; i++ {
					err = firstErr(
						func() error { return c.WriteAudio(1, uint32(i*40), audioFrame(i)) },
						func() error { return c.WriteVideo(1, uint32(i*40), inter) },
					)
				}
				signalled = true
				ready <- err
			}
		}
		return loop()
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				b.Errorf("Serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			b.Errorf("Serve did not return after cancel")
		}
	}()

	script := playerScript(b)
	c0c1 := append([]byte{handshake.RTMPVersion}, make([]byte, handshake.PacketSize)...)
	s0s1s2 := make([]byte, 1+2*handshake.PacketSize)
	c2 := make([]byte, handshake.PacketSize)

	// Warm the server (first conn's one-time allocations) outside the
	// measurement.
	warm := dialPlayer(b, ln.Addr().String(), c0c1, s0s1s2, c2, script, ready)
	defer warm.Close()

	h0, s0 := memInUse()
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, nc := range conns {
			nc.Close()
		}
	}()
	for range n {
		conns = append(conns, dialPlayer(b, ln.Addr().String(), c0c1, s0s1s2, c2, script, ready))
	}
	return perConn(h0, s0, n)
}

// dialPlayer connects a raw player: handshake (simple, C2 echoing S1),
// the play script, then waits until the server handler has written the
// media. The player never reads past the handshake: the kernel's socket
// buffers absorb what the server sends.
func dialPlayer(b testing.TB, addr string, c0c1, s0s1s2, c2, script []byte, ready <-chan error) net.Conn {
	b.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := nc.Write(c0c1); err != nil {
		b.Fatal(err)
	}
	if _, err := io.ReadFull(nc, s0s1s2); err != nil {
		b.Fatal(err)
	}
	copy(c2, s0s1s2[1:1+handshake.PacketSize])
	if _, err := nc.Write(append(c2, script...)); err != nil {
		b.Fatal(err)
	}
	select {
	case err := <-ready:
		if err != nil {
			b.Fatalf("player handler: %v", err)
		}
	case <-time.After(30 * time.Second):
		b.Fatal("player handler did not finish writing")
	}
	nc.SetDeadline(time.Time{})
	return nc
}

// measureBareTCP accepts n loopback connections, each read by a goroutine
// blocked in Read, and returns the memory held per connection.
func measureBareTCP(b *testing.B, n int) connMemUsage {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, n)
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- nc
			go func() {
				var one [1]byte
				nc.Read(one[:])
				nc.Close()
			}()
		}
	}()
	h0, s0 := memInUse()
	conns := make([]net.Conn, 0, 2*n)
	defer func() {
		for _, nc := range conns {
			nc.Close()
		}
	}()
	for range n {
		nc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, nc, <-accepted)
	}
	return perConn(h0, s0, n)
}

// firstErr calls fs in order until one fails.
func firstErr(fs ...func() error) error {
	for _, f := range fs {
		if err := f(); err != nil {
			return fmt.Errorf("write: %w", err)
		}
	}
	return nil
}
