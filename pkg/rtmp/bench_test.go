package rtmp_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/tributary-media/tributary/pkg/rtmp"
)

var benchSizes = []int{1 << 10, 64 << 10, 2 << 20}

func sizeName(n int) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%dMiB", n>>20)
	}
	return fmt.Sprintf("%dKiB", n>>10)
}

// BenchmarkServerReadVideo measures ServerConn.ReadMessage of video
// messages from a publishing client over an in-memory transport
// (reassembly at chunk size 4096, dispatch, acknowledgements).
func BenchmarkServerReadVideo(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(sizeName(size), func(b *testing.B) {
			c, _ := publishingServerConn(b, videoCycle(b, 4, size))
			defer c.Close()
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, err := c.ReadMessage(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkServerWriteVideo measures ServerConn.WriteVideo to a player
// over an in-memory transport that discards (fragmentation, header
// compression, flush).
func BenchmarkServerWriteVideo(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(sizeName(size), func(b *testing.B) {
			c, _ := publishingServerConn(b, nil)
			defer c.Close()
			frame := videoFrame(1, false, size)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			var ts uint32
			for b.Loop() {
				ts += 40
				if err := c.WriteVideo(1, ts, frame); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkClientWriteVideo measures ClientConn.WriteVideo of a publisher
// over an in-memory transport that discards.
func BenchmarkClientWriteVideo(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(sizeName(size), func(b *testing.B) {
			c := publishingClientConn(b)
			defer c.Close()
			frame := videoFrame(1, false, size)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			var ts uint32
			for b.Loop() {
				ts += 40
				if err := c.WriteVideo(ts, frame); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLoopbackPublish measures the whole path through a loopback TCP
// connection: ClientConn.WriteVideo on one side, a Server handler reading
// every message on the other. Throughput is bounded by the reader.
func BenchmarkLoopbackPublish(b *testing.B) {
	for _, size := range benchSizes[:2] {
		b.Run(sizeName(size), func(b *testing.B) {
			got := make(chan int, 1)
			srv := &rtmp.Server{Handler: func(ctx context.Context, c *rtmp.ServerConn) error {
				if _, err := c.ReadConnect(); err != nil {
					return err
				}
				if err := c.AcceptConnect(nil); err != nil {
					return err
				}
				n := 0
				defer func() { got <- n }()
				for {
					m, err := c.ReadMessage()
					if err != nil {
						return err
					}
					switch m.Kind {
					case rtmp.KindPublish:
						if err := c.AcceptPublish(m.Publish); err != nil {
							return err
						}
					case rtmp.KindVideo:
						n++
					case rtmp.KindUnpublish:
						return nil
					}
				}
			}}
			addr := startServerB(b, srv)
			ctx := context.Background()
			c, err := rtmp.Dial(ctx, "rtmp://"+addr+"/live/bench", rtmp.ClientConfig{})
			if err != nil {
				b.Fatal(err)
			}
			if err := c.Connect(ctx); err != nil {
				b.Fatal(err)
			}
			if err := c.Publish(ctx, ""); err != nil {
				b.Fatal(err)
			}
			frame := videoFrame(1, false, size)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			var ts uint32
			sent := 0
			for b.Loop() {
				ts += 40
				if err := c.WriteVideo(ts, frame); err != nil {
					b.Fatal(err)
				}
				sent++
			}
			c.Close()
			if n := <-got; n != sent {
				b.Fatalf("server read %d of %d messages", n, sent)
			}
		})
	}
}
