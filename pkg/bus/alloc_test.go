package bus_test

import (
	"math"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/tributary-media/tributary/internal/testutil/natstest"
	"github.com/tributary-media/tributary/pkg/bus"
	"github.com/tributary-media/tributary/pkg/rtmp/flv"
)

// TestPublishAllocations measures the steady-state publish path against a
// real server in another process (so that the server's own allocations are
// not counted): a frame, whole or in fragments, is published with no
// allocation at all (nats.go from v1.56.0 encodes the header block into a
// pooled buffer; v1.55.0 allocated twice per message there). The test also
// measures a plain PublishMsg of a constant header map, for the log and the
// race build: the race detector empties sync.Pools at random, so there each
// NATS message may cost one allocation, nats.go's pooled header buffer.
func TestPublishAllocations(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation measurements publish thousands of frames")
	}
	nc := natstest.StartProcess(t, natstest.Options{}).Connect(t)
	floorTemplate := &nats.Msg{
		Subject: bus.StreamSubject("", "live", "floor", bus.KindMedia),
		Header: nats.Header{
			bus.HeaderEpoch:      {"1"},
			bus.HeaderSeq:        {"123456"},
			bus.HeaderIngestTime: {"1767225600000000000"},
		},
	}
	const traceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for _, c := range []struct {
		name     string
		bodySize int
		messages float64 // NATS messages per frame
		runs     int
		traced   bool // the publish has a traceparent
	}{
		{"1KiB", 1 << 10, 1, 200, false},
		{"1KiB traced", 1 << 10, 1, 200, true},
		{"64KiB", 64 << 10, 1, 50, false},
		{"2MiB in 3 fragments", 2 << 20, 3, 10, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			tag := mustTag(t, flv.TagVideo, 0, interBody(c.bodySize, 1))
			p, err := bus.NewPublisher(nc, bus.PublisherConfig{App: "live", Name: "alloc", Epoch: 1})
			if err != nil {
				t.Fatal(err)
			}
			floorMsg := &nats.Msg{Subject: floorTemplate.Subject, Header: nats.Header{}}
			for k, v := range floorTemplate.Header {
				floorMsg.Header[k] = v
			}
			if c.traced {
				if err := p.SetTraceParent(traceParent); err != nil {
					t.Fatal(err)
				}
				floorMsg.Header[bus.HeaderTraceParent] = []string{traceParent}
			}
			// Warm up: buffers grow to the frame size, the cache to its GOP.
			key := mustTag(t, flv.TagVideo, 0, keyBody(c.bodySize, 1))
			for range 2 {
				if _, err := p.Publish(key); err != nil {
					t.Fatal(err)
				}
				for range 8 {
					if _, err := p.Publish(tag); err != nil {
						t.Fatal(err)
					}
				}
			}
			floorMsg.Data = tag[:min(len(tag), 1<<19)]
			// Other goroutines of the process (nats.go's, the runtime's)
			// allocate now and then, which a busy machine makes visible:
			// the lowest of a few measurements is the path's own figure.
			floor, got := math.Inf(1), math.Inf(1)
			n := 0
			for range 3 {
				floor = min(floor, testing.AllocsPerRun(c.runs, func() {
					if err := nc.PublishMsg(floorMsg); err != nil {
						t.Fatal(err)
					}
				}))
				// The GOP grows with every frame; restart it regularly
				// with a keyframe so the cache's buffers are reused, as in
				// a stream.
				got = min(got, testing.AllocsPerRun(c.runs, func() {
					frame := tag
					if n%20 == 0 {
						frame = key
					}
					n++
					if _, err := p.Publish(frame); err != nil {
						t.Fatal(err)
					}
				}))
			}
			t.Logf("Publish: %.2f allocs/frame; nats.go PublishMsg with headers: %.2f allocs/message", got, floor)
			switch {
			case !raceEnabled && got != 0:
				t.Errorf("Publish allocates %.2f times per frame, want 0", got)
			case raceEnabled && got > c.messages:
				t.Errorf("Publish allocates %.2f times per frame under the race detector, more than one per NATS message (%v)", got, c.messages)
			}
		})
	}
}

// TestReceiverAllocations checks that pushing a whole frame allocates
// nothing in the Receiver (nats.go has already allocated the message).
func TestReceiverAllocations(t *testing.T) {
	tag := mustTag(t, flv.TagVideo, 0, interBody(1000, 1))
	headers := make([]nats.Header, 1000)
	for i := range headers {
		headers[i] = hdr(bus.Envelope{Epoch: 1, Seq: uint64(i + 1), IngestTime: 5})
	}
	r := bus.NewReceiver(bus.ReceiverConfig{})
	i := 0
	got := testing.AllocsPerRun(500, func() {
		_, ok, err := r.Push(headers[i], tag)
		i++
		if err != nil || !ok {
			t.Fatalf("Push: %v, %v", ok, err)
		}
	})
	if got != 0 {
		t.Fatalf("Receiver.Push allocates %.2f times per frame", got)
	}
}
