package fanout

import (
	"context"
	"fmt"
	"testing"

	"github.com/tributary-media/tributary/pkg/rtmp/flv"
)

// discardSink accepts everything at once.
type discardSink struct{}

func (discardSink) WriteFrame(*Frame) error { return nil }
func (discardSink) Notify(Event) error      { return nil }
func (discardSink) Flush() error            { return nil }
func (discardSink) Close()                  {}

// BenchmarkHubPublish measures what a publisher pays per message: the
// copy into a shared frame, the cache update and the append to every
// player's queue, while the players drain their queues concurrently.
func BenchmarkHubPublish(b *testing.B) {
	for _, players := range []int{0, 1, 10, 100} {
		for _, size := range []int{1 << 10, 64 << 10} {
			b.Run(fmt.Sprintf("players=%d/size=%d", players, size), func(b *testing.B) {
				h := New(Config{PlayerQueueMessages: 1 << 20, PlayerQueueBytes: 1 << 40})
				p, err := h.Publish("live/bench")
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{}, players)
				for range players {
					pl := h.Play("live/bench", discardSink{})
					go func() {
						pl.Run(ctx)
						done <- struct{}{}
					}()
				}
				key, inter := avcKey(size), avcInter(size)
				b.ReportAllocs()
				b.SetBytes(int64(size))
				i := 0
				for b.Loop() {
					body := inter
					if i%60 == 0 {
						body = key
					}
					if err := p.Write(NewFrame(flv.TagVideo, uint32(i*33), body, false)); err != nil {
						b.Fatal(err)
					}
					i++
				}
				b.StopTimer()
				cancel()
				for range players {
					<-done
				}
			})
		}
	}
}
