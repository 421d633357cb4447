package chunk_test

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/tributary-media/tributary/pkg/rtmp/chunk"
)

// replay plays prefix once, then body over and over, like a socket that
// never runs dry. Each Read copies exactly the bytes asked for.
type replay struct {
	prefix, body []byte
	off          int
}

func (r *replay) Read(p []byte) (int, error) {
	n := 0
	if len(r.prefix) > 0 {
		n = copy(p, r.prefix)
		r.prefix = r.prefix[n:]
	}
	for n < len(p) {
		k := copy(p[n:], r.body[r.off:])
		n += k
		if r.off += k; r.off == len(r.body) {
			r.off = 0
		}
	}
	return n, nil
}

// videoStream returns a chunk stream that sets the chunk size (prefix) and
// one video message of size bytes that can be replayed forever (body: its
// first header is fmt 0).
func videoStream(tb testing.TB, chunkSize uint32, size int) (prefix, body []byte) {
	tb.Helper()
	var buf bytes.Buffer
	w := chunk.NewWriter(&buf, chunk.Config{LenientChunkSize: true})
	cs := []byte{byte(chunkSize >> 24), byte(chunkSize >> 16), byte(chunkSize >> 8), byte(chunkSize)}
	if err := w.WriteMessage(&chunk.Message{CSID: 2, Type: 1, Payload: cs}); err != nil {
		tb.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	prefix = bytes.Clone(buf.Bytes())
	buf.Reset()
	if err := w.WriteMessage(&chunk.Message{CSID: 6, Timestamp: 1000, Type: 9, StreamID: 1, Payload: pat(size, 7)}); err != nil {
		tb.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	return prefix, buf.Bytes()
}

// videoReader returns a Reader over an endless video stream, past the Set
// Chunk Size message.
func videoReader(tb testing.TB, chunkSize uint32, size int) *chunk.Reader {
	tb.Helper()
	prefix, body := videoStream(tb, chunkSize, size)
	r := chunk.NewReader(&replay{prefix: prefix, body: body}, chunk.Config{})
	var m chunk.Message
	if err := r.ReadMessage(&m); err != nil || m.Type != 1 {
		tb.Fatalf("priming read: %v, type %d", err, m.Type)
	}
	return r
}

var benchSizes = []struct {
	name string
	size int
}{{"4KiB", 4 << 10}, {"64KiB", 64 << 10}, {"1MiB", 1 << 20}}

var benchChunkSizes = []uint32{128, 4096}

func BenchmarkRead(b *testing.B) {
	for _, cs := range benchChunkSizes {
		for _, s := range benchSizes {
			b.Run(fmt.Sprintf("chunk%d/%s", cs, s.name), func(b *testing.B) {
				r := videoReader(b, cs, s.size)
				var m chunk.Message
				if err := r.ReadMessage(&m); err != nil { // grow the buffer outside the timing
					b.Fatal(err)
				}
				b.SetBytes(int64(s.size))
				b.ReportAllocs()
				for b.Loop() {
					if err := r.ReadMessage(&m); err != nil {
						b.Fatal(err)
					}
				}
				if len(m.Payload) != s.size {
					b.Fatalf("read %d bytes, want %d", len(m.Payload), s.size)
				}
			})
		}
	}
}

func BenchmarkWrite(b *testing.B) {
	for _, cs := range benchChunkSizes {
		for _, s := range benchSizes {
			b.Run(fmt.Sprintf("chunk%d/%s", cs, s.name), func(b *testing.B) {
				w := chunk.NewWriter(io.Discard, chunk.Config{})
				csMsg := chunk.Message{CSID: 2, Type: 1, Payload: []byte{0, 0, byte(cs >> 8), byte(cs)}}
				if err := w.WriteMessage(&csMsg); err != nil {
					b.Fatal(err)
				}
				m := chunk.Message{CSID: 6, Type: 9, StreamID: 1, Payload: pat(s.size, 7)}
				b.SetBytes(int64(s.size))
				b.ReportAllocs()
				for b.Loop() {
					m.Timestamp += 33
					if err := w.WriteMessage(&m); err != nil {
						b.Fatal(err)
					}
					if err := w.Flush(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
