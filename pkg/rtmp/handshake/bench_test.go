package handshake_test

import (
	"io"
	"testing"

	"github.com/tributary-media/tributary/pkg/rtmp/handshake"
)

// benchRW replays a fixed script and discards writes, without locking.
type benchRW struct {
	in  []byte
	pos int
}

func (b *benchRW) Read(p []byte) (int, error) {
	if b.pos == len(b.in) {
		return 0, io.EOF
	}
	n := copy(p, b.in[b.pos:])
	b.pos += n
	return n, nil
}

func (b *benchRW) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkServer measures a complete server handshake (read C0+C1, answer
// S0+S1+S2 with crypto/rand bytes and, for digest, five HMAC-SHA256
// computations, read C2). SetBytes counts the bytes read from the client.
func BenchmarkServer(b *testing.B) {
	for _, name := range []string{"digest-schema1-valid", "simple-valid"} {
		var in []byte
		for _, c := range serverCases() {
			if c.name == name {
				in = c.bytes
			}
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			rw := &benchRW{in: in}
			for b.Loop() {
				rw.pos = 0
				if _, err := handshake.Server(rw, handshake.ServerConfig{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkClient measures a complete digest client handshake against a
// recorded digest server reply.
func BenchmarkClient(b *testing.B) {
	var in []byte
	for _, c := range clientCases() {
		if c.name == "digest-server-schema1" {
			in = c.bytes
		}
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	rw := &benchRW{in: in}
	for b.Loop() {
		rw.pos = 0
		if _, err := handshake.Client(rw, handshake.ClientConfig{}); err != nil {
			b.Fatal(err)
		}
	}
}
