package chunk_test

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/tributary-media/tributary/pkg/rtmp/chunk"
)

// runStreamCases checks every stream case whose name starts with prefix:
// the Reader decodes the bytes to the messages and counts every byte, the
// Writer encodes the messages to the bytes where the case says so, and the
// messages survive a Writer -> Reader round trip.
func runStreamCases(t *testing.T, prefix string) {
	t.Helper()
	ran := 0
	for _, c := range streamCases {
		if !strings.HasPrefix(c.name, prefix) {
			continue
		}
		ran++
		t.Run(strings.TrimPrefix(c.name, prefix), func(t *testing.T) {
			t.Run("decode", func(t *testing.T) {
				r := chunk.NewReader(bytes.NewReader(c.bytes), c.cfg)
				var got []chunk.Message
				for range c.msgs {
					var m chunk.Message
					if err := r.ReadMessage(&m); err != nil {
						t.Fatalf("ReadMessage after %d messages: %v", len(got), err)
					}
					got = append(got, *m.Clone())
				}
				equalMessages(t, got, c.msgs)
				if n := r.BytesRead(); n != uint64(len(c.bytes)) {
					t.Errorf("BytesRead = %d, want %d", n, len(c.bytes))
				}
				var m chunk.Message
				if err := r.ReadMessage(&m); err != io.EOF {
					t.Errorf("ReadMessage at the end = %v, want io.EOF", err)
				}
			})
			if c.encode {
				t.Run("encode", func(t *testing.T) {
					got := writeAll(t, c.cfg, c.msgs)
					if !bytes.Equal(got, c.bytes) {
						t.Errorf("Writer output differs\n got  % x\n want % x", got, c.bytes)
					}
				})
			}
			t.Run("round-trip", func(t *testing.T) {
				got, err := readAll(c.cfg, writeAll(t, c.cfg, c.msgs))
				if err != nil {
					t.Fatalf("reading the Writer's output: %v", err)
				}
				equalMessages(t, got, c.msgs)
			})
		})
	}
	if ran == 0 {
		t.Fatalf("no stream case named %s*", prefix)
	}
}

// runErrorCases checks every error case whose name starts with prefix.
func runErrorCases(t *testing.T, prefix string) {
	t.Helper()
	ran := 0
	for _, c := range errorCases {
		if !strings.HasPrefix(c.name, prefix) {
			continue
		}
		ran++
		t.Run(strings.TrimPrefix(c.name, prefix), func(t *testing.T) {
			r := chunk.NewReader(bytes.NewReader(c.bytes), c.cfg)
			var m chunk.Message
			for i := range c.msgs {
				if err := r.ReadMessage(&m); err != nil {
					t.Fatalf("ReadMessage %d: %v", i, err)
				}
			}
			err := r.ReadMessage(&m)
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("ReadMessage = %v, want an error matching %v", err, c.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "chunk: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
			if again := r.ReadMessage(&m); again != err {
				t.Errorf("second ReadMessage = %v, want the same error %v", again, err)
			}
		})
	}
	if ran == 0 {
		t.Fatalf("no error case named %s*", prefix)
	}
}

func TestCase09BasicHeaderForms(t *testing.T) {
	runHeaderCases(t, "case09/")
	runStreamCases(t, "case09/")
}

func TestCase10LongFormOfShortCSID(t *testing.T) {
	runHeaderCases(t, "case10/")
	runStreamCases(t, "case10/")
}

func TestCase11Fmt0ByteOrder(t *testing.T) {
	runHeaderCases(t, "case11/")
	runStreamCases(t, "case11/")
}

func TestCase12FragmentAndReassemble(t *testing.T) {
	runStreamCases(t, "case12/")
}

func TestCase13SpecExample1(t *testing.T) {
	runStreamCases(t, "case13/")
}

func TestCase14Fmt3AfterFmt0(t *testing.T) {
	runStreamCases(t, "case14/")

	// The Writer never relies on either reading: after a fmt 0 message it
	// establishes the delta with a fmt 2 header, which both read the same.
	msgs := []chunk.Message{
		{CSID: 4, Timestamp: 26, Type: 8, StreamID: 1, Payload: b(1, 2, 3, 4)},
		{CSID: 4, Timestamp: 52, Type: 8, StreamID: 1, Payload: b(5, 6, 7, 8)},
	}
	data := writeAll(t, chunk.Config{}, msgs)
	if got := data[12+4]; got != 0x84 {
		t.Errorf("second header byte = %#x, want 0x84 (fmt 2, csid 4)", got)
	}
	for _, cfg := range []chunk.Config{{}, {Fmt3AfterFmt0ZeroDelta: true}} {
		got, err := readAll(cfg, data)
		if err != nil {
			t.Fatal(err)
		}
		equalMessages(t, got, msgs)
	}
}

func TestCase15NoInheritedPayload(t *testing.T) {
	runStreamCases(t, "case15/")
}

func TestCase16TimestampFFFFFF(t *testing.T) {
	runHeaderCases(t, "case16/")
	runStreamCases(t, "case16/")
}

func TestCase17ExtendedTimestampOnContinuation(t *testing.T) {
	runStreamCases(t, "case17/")
}

func TestCase18ExtendedTimestampOmittedOnContinuation(t *testing.T) {
	runStreamCases(t, "case18/")
}

func TestCase19ExtendedAbsoluteAndDelta(t *testing.T) {
	runStreamCases(t, "case19/")
}

func TestCase20TimestampWrap(t *testing.T) {
	runStreamCases(t, "case20/")
}

func TestCase21Interleaving(t *testing.T) {
	runStreamCases(t, "case21/")
}

func TestCase22SetChunkSizeMidMessage(t *testing.T) {
	runStreamCases(t, "case22/")

	r := chunk.NewReader(bytes.NewReader(streamCaseBytes(t, "case22/")), chunk.Config{})
	var m chunk.Message
	if err := r.ReadMessage(&m); err != nil {
		t.Fatal(err)
	}
	if got := r.ChunkSize(); got != 256 {
		t.Errorf("ChunkSize after Set Chunk Size 256 = %d", got)
	}
}

func TestCase23SetChunkSizeOutgoing(t *testing.T) {
	runStreamCases(t, "case23/")

	// Going down to 2 bytes makes the switch visible on the Set Chunk Size
	// message itself: it must still travel in one 128-byte chunk.
	var buf bytes.Buffer
	w := chunk.NewWriter(&buf, chunk.Config{LenientChunkSize: true})
	if got := w.ChunkSize(); got != 128 {
		t.Fatalf("initial ChunkSize = %d", got)
	}
	if err := w.WriteMessage(&chunk.Message{CSID: 2, Type: 1, Payload: b(0, 0, 0, 2)}); err != nil {
		t.Fatal(err)
	}
	if got := w.ChunkSize(); got != 2 {
		t.Errorf("ChunkSize after writing Set Chunk Size 2 = %d", got)
	}
	if err := w.WriteMessage(&chunk.Message{CSID: 6, Type: 9, StreamID: 1, Payload: b(1, 2, 3)}); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	want := cat(
		setChunkSize(0, 0, 0, 2),                                         // one chunk, old size
		b(0x06), b(0, 0, 0), b(0, 0, 3), b(0x09), b(1, 0, 0, 0), b(1, 2), // chunk 1 at size 2
		b(0xC6), b(3), // chunk 2
	)
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("output\n got  % x\n want % x", buf.Bytes(), want)
	}

	// A Set Chunk Size on another message stream would desynchronise the
	// peer, so the Writer refuses it and stays usable.
	if err := w.WriteMessage(&chunk.Message{CSID: 2, Type: 1, StreamID: 1, Payload: b(0, 0, 1, 0)}); err == nil {
		t.Error("Set Chunk Size on message stream 1 was accepted")
	}
	if got := w.ChunkSize(); got != 2 {
		t.Errorf("ChunkSize changed by a refused message: %d", got)
	}
}

func TestCase24SetChunkSizeValidation(t *testing.T) {
	runErrorCases(t, "case24/")
	runStreamCases(t, "case24/")

	// The Writer refuses to send what a Reader with the same Config rejects.
	for _, v := range [][]byte{{0x80, 0, 0x10, 0}, {0, 0, 0, 0}, {0, 0, 0, 127}, {1, 0, 0, 0}, {0, 0x10}} {
		w := chunk.NewWriter(&bytes.Buffer{}, chunk.Config{})
		if err := w.WriteMessage(&chunk.Message{CSID: 2, Type: 1, Payload: v}); err == nil {
			t.Errorf("Writer accepted Set Chunk Size % x", v)
		}
		if err := w.WriteMessage(&chunk.Message{CSID: 2, Type: 1, Payload: b(0, 0, 0x10, 0)}); err != nil {
			t.Errorf("Writer unusable after refusing % x: %v", v, err)
		}
	}
}

func TestCase25FreshChunkStream(t *testing.T) {
	runErrorCases(t, "case25/")
	runStreamCases(t, "case25/")
}

func TestCase26Abort(t *testing.T) {
	runStreamCases(t, "case26/")
	runErrorCases(t, "case26/")

	// Abort for a chunk stream with nothing pending, or never used, is a
	// no-op.
	data := cat(
		b(0x02), b(0, 0, 0), b(0, 0, 4), b(0x02), b(0, 0, 0, 0), b(0, 0, 0, 9), // abort csid 9 (unknown)
		b(0x02), b(0, 0, 0), b(0, 0, 4), b(0x02), b(0, 0, 0, 0), b(0, 0, 0, 2), // abort csid 2 (idle)
		b(0x02), b(0, 0, 0), b(0, 0, 4), b(0x02), b(0, 0, 0, 0), b(0, 1, 0, 0), // abort csid 65536
	)
	got, err := readAll(chunk.Config{}, data)
	if err != nil || len(got) != 3 {
		t.Fatalf("read %d messages, err %v; want 3, nil", len(got), err)
	}
}

func TestCase27MessageLengthLimit(t *testing.T) {
	runErrorCases(t, "case27/")

	// The rejection happens on the header, before any payload memory.
	data := streamErrorBytes(t, "case27/length-above-maximum")
	allocated := measureAlloc(t, func() {
		r := chunk.NewReader(bytes.NewReader(data), chunk.Config{MaxMessageLength: 1 << 20})
		var m chunk.Message
		if err := r.ReadMessage(&m); !errors.Is(err, chunk.ErrLimit) {
			t.Errorf("ReadMessage = %v, want ErrLimit", err)
		}
	})
	if allocated > 64<<10 {
		t.Errorf("rejecting the header allocated %d bytes", allocated)
	}
}

func TestCase28ChunkStreamLimit(t *testing.T) {
	runErrorCases(t, "case28/")

	// A peer cycling through every chunk stream id is stopped at the limit
	// with the memory of 64 small streams.
	var data []byte
	for csid := 320; csid <= 65599; csid++ {
		id := csid - 64
		data = append(data,
			0x01, byte(id), byte(id>>8), // fmt 0, 3-byte form
			0, 0, 0, // timestamp 0
			0, 0, 1, // length 1
			0x09,       // type 9
			1, 0, 0, 0, // msid 1
			0xAB, // payload
		)
	}
	var n int
	allocated := measureAlloc(t, func() {
		r := chunk.NewReader(bytes.NewReader(data), chunk.Config{})
		var m chunk.Message
		var err error
		for err == nil {
			if err = r.ReadMessage(&m); err == nil {
				n++
			}
		}
		if !errors.Is(err, chunk.ErrLimit) || !errors.Is(err, chunk.ErrProtocol) {
			t.Errorf("ReadMessage = %v, want ErrLimit matching ErrProtocol", err)
		}
	})
	if n != chunk.DefaultMaxChunkStreams {
		t.Errorf("read %d messages before the limit, want %d", n, chunk.DefaultMaxChunkStreams)
	}
	if allocated > 1<<20 {
		t.Errorf("allocated %d bytes for %d chunk streams", allocated, n)
	}
}

func streamCaseBytes(t *testing.T, prefix string) []byte {
	t.Helper()
	for _, c := range streamCases {
		if strings.HasPrefix(c.name, prefix) {
			return c.bytes
		}
	}
	t.Fatalf("no stream case %s", prefix)
	return nil
}

func streamErrorBytes(t *testing.T, name string) []byte {
	t.Helper()
	for _, c := range errorCases {
		if c.name == name {
			return c.bytes
		}
	}
	t.Fatalf("no error case %s", name)
	return nil
}

// measureAlloc returns the bytes f allocated on the heap.
func measureAlloc(t *testing.T, f func()) uint64 {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestStreamCases(t *testing.T) {
	runStreamCases(t, "")
}

func TestErrorCases(t *testing.T) {
	runErrorCases(t, "")
}
