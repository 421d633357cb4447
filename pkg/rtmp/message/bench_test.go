package message_test

import (
	"testing"

	"github.com/tributary-media/tributary/pkg/rtmp/chunk"
	"github.com/tributary-media/tributary/pkg/rtmp/message"
)

func caseBytes(b *testing.B, name string) (uint8, []byte) {
	b.Helper()
	for _, c := range decodeCases() {
		if c.name == name {
			return c.typ, c.bytes
		}
	}
	b.Fatalf("no case %q", name)
	return 0, nil
}

// BenchmarkDecodeCommand decodes ffmpeg-style connect and publish commands.
func BenchmarkDecodeCommand(b *testing.B) {
	for _, name := range []string{"command-connect", "command-publish", "command-connect-amf3"} {
		typ, payload := caseBytes(b, name)
		m := &chunk.Message{Type: typ, Payload: payload}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(payload)))
			var d message.Decoder
			for b.Loop() {
				if _, err := d.Decode(m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeVideo decodes video messages of several sizes: through a
// Decoder (its own storage, no allocation), through the package Decode (a
// new *Video each time) and with Video.Unmarshal on a caller's value.
func BenchmarkDecodeVideo(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int
	}{{"1KiB", 1 << 10}, {"64KiB", 64 << 10}, {"2MiB", 2 << 20}} {
		m := &chunk.Message{Type: message.TypeVideo, StreamID: 1, Payload: make([]byte, size.n)}
		b.Run("Decoder/"+size.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size.n))
			var d message.Decoder
			for b.Loop() {
				if _, err := d.Decode(m); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("Decode/"+size.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size.n))
			for b.Loop() {
				if _, err := message.Decode(m); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("Unmarshal/"+size.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size.n))
			var v message.Video
			for b.Loop() {
				if err := v.Unmarshal(m.Payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEncodeOnStatus builds and encodes an onStatus reply into a
// reused buffer.
func BenchmarkEncodeOnStatus(b *testing.B) {
	buf := make([]byte, 0, 256)
	cmd := message.OnStatus(message.LevelStatus, message.CodePublishStart, "Start publishing")
	p, _ := cmd.AppendPayload(nil)
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		var err error
		if buf, err = cmd.AppendPayload(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSplitAggregate splits the three-tag aggregate.
func BenchmarkSplitAggregate(b *testing.B) {
	m := &chunk.Message{Type: message.TypeAggregate, Timestamp: 1000, Payload: aggregateThree}
	fn := func(*chunk.Message) error { return nil }
	b.ReportAllocs()
	b.SetBytes(int64(len(aggregateThree)))
	for b.Loop() {
		if err := message.SplitAggregate(m, fn); err != nil {
			b.Fatal(err)
		}
	}
}
