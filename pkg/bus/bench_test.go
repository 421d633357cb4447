package bus_test

import (
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/tributary-media/tributary/internal/testutil/natstest"
	"github.com/tributary-media/tributary/pkg/bus"
	"github.com/tributary-media/tributary/pkg/rtmp/flv"
)

var benchSizes = []struct {
	name string
	size int
}{
	{"1KiB", 1 << 10},
	{"64KiB", 64 << 10},
	{"2MiB", 2 << 20},
}

// BenchmarkPublish measures Publisher.Publish of one video frame per op
// (a keyframe every 25 frames, so the fast-start cache works as in a
// stream) against a default NATS server: "embedded" runs the server in the
// benchmark's process, as the tests do, so its CPU time and allocations
// are counted too; "process" runs it in a child process, so the figures
// are the client side alone (Publisher plus nats.go). 2 MiB frames go out
// as 3 messages. MB/s counts tag bytes.
func BenchmarkPublish(b *testing.B) {
	servers := []struct {
		name    string
		connect func(b *testing.B) *nats.Conn
	}{
		{"embedded", func(b *testing.B) *nats.Conn {
			return natstest.Start(b, natstest.Options{}).Connect(b)
		}},
		{"process", func(b *testing.B) *nats.Conn {
			return natstest.StartProcess(b, natstest.Options{}).Connect(b)
		}},
	}
	for _, srv := range servers {
		b.Run(srv.name, func(b *testing.B) {
			nc := srv.connect(b)
			for _, sz := range benchSizes {
				b.Run(sz.name, func(b *testing.B) {
					p, err := bus.NewPublisher(nc, bus.PublisherConfig{App: "live", Name: "bench", Epoch: 1})
					if err != nil {
						b.Fatal(err)
					}
					key := mustTag(b, flv.TagVideo, 0, keyBody(sz.size, 1))
					inter := mustTag(b, flv.TagVideo, 40, interBody(sz.size, 2))
					b.SetBytes(int64(len(inter)))
					b.ReportAllocs()
					i := 0
					for b.Loop() {
						tag := inter
						if i%25 == 0 {
							tag = key
						}
						i++
						if _, err := p.Publish(tag); err != nil {
							b.Fatal(err)
						}
					}
					if err := nc.Flush(); err != nil {
						b.Fatal(err)
					}
				})
			}
		})
	}
}

// BenchmarkReceiverPush measures the subscriber side without NATS: header
// parsing, fencing, sequence checks, reassembly (2 MiB frames arrive in 3
// fragments) and the tag check, one frame per op.
func BenchmarkReceiverPush(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			tag := mustTag(b, flv.TagVideo, 0, interBody(sz.size, 1))
			const fragSize = 1<<20 - 1024
			type message struct {
				h    nats.Header
				data []byte
			}
			// Headers for a run of sequence numbers, prepared up front as
			// nats.go hands them over.
			const frames = 4096
			msgs := make([][]message, frames)
			for i := range msgs {
				seq := uint64(i + 1)
				if len(tag) <= fragSize {
					msgs[i] = []message{{hdr(bus.Envelope{Epoch: 1, Seq: seq, IngestTime: 1}), tag}}
					continue
				}
				for off := 0; off < len(tag); off += fragSize {
					end := min(off+fragSize, len(tag))
					env := bus.Envelope{Epoch: 1, Seq: seq, IngestTime: 1, FragOffset: off, FragTotal: len(tag)}
					msgs[i] = append(msgs[i], message{hdr(env), tag[off:end]})
				}
			}
			r := bus.NewReceiver(bus.ReceiverConfig{})
			b.SetBytes(int64(len(tag)))
			b.ReportAllocs()
			i, epoch := 0, uint64(1)
			for b.Loop() {
				if i == frames {
					// Start over in a newer epoch so the sequence numbers
					// are fresh again (not measured).
					b.StopTimer()
					i = 0
					epoch++
					e := itoa(epoch)
					for _, ms := range msgs {
						for _, m := range ms {
							m.h[bus.HeaderEpoch][0] = e
						}
					}
					b.StartTimer()
				}
				for _, m := range msgs[i] {
					if _, _, err := r.Push(m.h, m.data); err != nil {
						b.Fatal(err)
					}
				}
				i++
			}
			if st := r.Stats(); st.Frames == 0 || st.Malformed != 0 || st.Gaps != 0 {
				b.Fatalf("stats %+v", st)
			}
		})
	}
}

// BenchmarkNATSPublishMsg is the baseline for BenchmarkPublish/process:
// nats.go's PublishMsg of the same bytes with a constant header set of the
// same size, split into the same messages, without the Publisher (no
// numbering, tag check or fast-start cache).
func BenchmarkNATSPublishMsg(b *testing.B) {
	nc := natstest.StartProcess(b, natstest.Options{}).Connect(b)
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			tag := mustTag(b, flv.TagVideo, 40, interBody(sz.size, 2))
			size := int(nc.MaxPayload()) - 1024
			m := &nats.Msg{
				Subject: bus.StreamSubject("", "live", "bench", bus.KindMedia),
				Header: nats.Header{
					bus.HeaderEpoch:      {"1"},
					bus.HeaderSeq:        {"123456"},
					bus.HeaderIngestTime: {"1767225600000000000"},
				},
			}
			if len(tag) > size {
				m.Header[bus.HeaderFrag] = []string{"1047552/2097167"}
			}
			b.SetBytes(int64(len(tag)))
			b.ReportAllocs()
			for b.Loop() {
				for off := 0; off < len(tag); off += size {
					m.Data = tag[off:min(off+size, len(tag))]
					if err := nc.PublishMsg(m); err != nil {
						b.Fatal(err)
					}
				}
			}
			if err := nc.Flush(); err != nil {
				b.Fatal(err)
			}
		})
	}
}
