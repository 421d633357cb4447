package message_test

import (
	"testing"

	"github.com/tributary-media/tributary/pkg/rtmp/chunk"
	"github.com/tributary-media/tributary/pkg/rtmp/message"
)

// Media and control messages decode without allocation through a Decoder
// (or the Unmarshal methods); this is the per-message hot path of every
// connection.
func TestDecoderZeroAlloc(t *testing.T) {
	var d message.Decoder
	for _, c := range decodeCases() {
		switch c.typ {
		case message.TypeDataAMF0, message.TypeDataAMF3, message.TypeCommandAMF0, message.TypeCommandAMF3,
			message.TypeSharedObjectAMF0, message.TypeSharedObjectAMF3:
			continue // AMF values and names are allocated
		}
		m := chunkOf(c.typ, c.bytes)
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := d.Decode(m); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: Decoder.Decode allocates %.1f times per message", c.name, allocs)
		}
	}
	payload := make([]byte, 64<<10)
	var v message.Video
	if allocs := testing.AllocsPerRun(100, func() { _ = v.Unmarshal(payload) }); allocs != 0 {
		t.Errorf("Video.Unmarshal allocates %.1f times", allocs)
	}
	agg := &chunk.Message{Type: message.TypeAggregate, Payload: aggregateThree}
	fn := func(*chunk.Message) error { return nil }
	// The sub-message handed to the callback escapes: one allocation per
	// aggregate, however many sub-messages it holds.
	if allocs := testing.AllocsPerRun(100, func() { _ = message.SplitAggregate(agg, fn) }); allocs > 1 {
		t.Errorf("SplitAggregate allocates %.1f times", allocs)
	}
	var ack message.AckTracker
	ack.SetWindow(100)
	total := uint64(0)
	if allocs := testing.AllocsPerRun(100, func() { total += 60; ack.Update(total) }); allocs != 0 {
		t.Errorf("AckTracker.Update allocates %.1f times", allocs)
	}
}

// A Decoder's result for a fixed-layout type is its own storage: the next
// Decode overwrites it, as documented.
func TestDecoderReusesStorage(t *testing.T) {
	var d message.Decoder
	a, _ := d.Decode(chunkOf(message.TypeVideo, []byte{1}))
	b, _ := d.Decode(chunkOf(message.TypeVideo, []byte{2}))
	if a != b || a.(*message.Video).Payload[0] != 2 {
		t.Fatalf("Decoder returned distinct values %p %p", a, b)
	}
	x, _ := message.Decode(chunkOf(message.TypeVideo, []byte{1}))
	y, _ := message.Decode(chunkOf(message.TypeVideo, []byte{2}))
	if x == y || x.(*message.Video).Payload[0] != 1 {
		t.Fatal("package Decode shares storage between calls")
	}
	// A reused UserControl does not keep fields from the previous event.
	_, _ = d.Decode(chunkOf(message.TypeUserControl, []byte{0x00, 0x03, 0, 0, 0, 1, 0, 0, 0, 9}))
	m, _ := d.Decode(chunkOf(message.TypeUserControl, []byte{0x00, 0x06, 0, 0, 0, 5}))
	if uc := m.(*message.UserControl); uc.StreamID != 0 || uc.BufferLength != 0 || uc.Timestamp != 5 {
		t.Fatalf("reused UserControl = %+v", uc)
	}
}
