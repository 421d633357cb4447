package chunk_test

import (
	"fmt"
	"io"
	"testing"

	"github.com/tributary-media/tributary/pkg/rtmp/chunk"
)

// TestSteadyStateAllocations enforces that reading into a reused Message
// and writing messages allocate nothing once buffers have grown.
func TestSteadyStateAllocations(t *testing.T) {
	for _, cs := range []uint32{128, 4096, 1 << 20} {
		for _, size := range []int{100, 4 << 10, 64 << 10, 1 << 20} {
			t.Run(fmt.Sprintf("chunk%d/%d", cs, size), func(t *testing.T) {
				r := videoReader(t, cs, size)
				var m chunk.Message
				read := func() {
					if err := r.ReadMessage(&m); err != nil {
						t.Fatal(err)
					}
				}
				read() // first message grows the buffer
				if n := testing.AllocsPerRun(20, read); n != 0 {
					t.Errorf("ReadMessage: %v allocations per message", n)
				}

				w := chunk.NewWriter(io.Discard, chunk.Config{})
				msg := chunk.Message{CSID: 6, Type: 9, StreamID: 1, Payload: m.Payload}
				write := func() {
					msg.Timestamp += 40
					if err := w.WriteMessage(&msg); err != nil {
						t.Fatal(err)
					}
					if err := w.Flush(); err != nil {
						t.Fatal(err)
					}
				}
				write() // first message creates the chunk stream state
				if n := testing.AllocsPerRun(20, write); n != 0 {
					t.Errorf("WriteMessage: %v allocations per message", n)
				}
			})
		}
	}
}
