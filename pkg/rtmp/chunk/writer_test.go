package chunk_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/tributary-media/tributary/pkg/rtmp/chunk"
)

// TestWriterHeaderChoice checks the fmt of each message's first header.
func TestWriterHeaderChoice(t *testing.T) {
	steps := []struct {
		why string
		msg chunk.Message
		fmt uint8
	}{
		{"fresh chunk stream", chunk.Message{CSID: 6, Timestamp: 100, Type: 9, StreamID: 1, Payload: pat(10, 0)}, 0},
		{"same type and length after fmt 0, delta 100: delta not yet established", chunk.Message{CSID: 6, Timestamp: 200, Type: 9, StreamID: 1, Payload: pat(10, 0)}, 2},
		{"delta repeats", chunk.Message{CSID: 6, Timestamp: 300, Type: 9, StreamID: 1, Payload: pat(10, 0)}, 3},
		{"length changes", chunk.Message{CSID: 6, Timestamp: 400, Type: 9, StreamID: 1, Payload: pat(11, 0)}, 1},
		{"type changes", chunk.Message{CSID: 6, Timestamp: 500, Type: 8, StreamID: 1, Payload: pat(11, 0)}, 1},
		{"delta changes", chunk.Message{CSID: 6, Timestamp: 550, Type: 8, StreamID: 1, Payload: pat(11, 0)}, 2},
		{"delta repeats again", chunk.Message{CSID: 6, Timestamp: 600, Type: 8, StreamID: 1, Payload: pat(11, 0)}, 3},
		{"message stream changes", chunk.Message{CSID: 6, Timestamp: 650, Type: 8, StreamID: 2, Payload: pat(11, 0)}, 0},
		{"time goes backwards", chunk.Message{CSID: 6, Timestamp: 10, Type: 8, StreamID: 2, Payload: pat(11, 0)}, 0},
		{"other chunk stream is fresh", chunk.Message{CSID: 4, Timestamp: 0, Type: 8, StreamID: 1, Payload: pat(3, 0)}, 0},
		{"same everything after fmt 0 at time 0: fmt 3 is unambiguous", chunk.Message{CSID: 4, Timestamp: 0, Type: 8, StreamID: 1, Payload: pat(3, 0)}, 3},
		{"extended delta", chunk.Message{CSID: 4, Timestamp: 0x01000000, Type: 8, StreamID: 1, Payload: pat(3, 0)}, 2},
		{"extended delta repeats", chunk.Message{CSID: 4, Timestamp: 0x02000000, Type: 8, StreamID: 1, Payload: pat(3, 0)}, 3},
	}
	var buf bytes.Buffer
	w := chunk.NewWriter(&buf, chunk.Config{})
	var all []chunk.Message
	for _, s := range steps {
		buf.Reset()
		if err := w.WriteMessage(&s.msg); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if got := buf.Bytes()[0] >> 6; got != s.fmt {
			t.Errorf("%s: fmt %d, want %d (% x)", s.why, got, s.fmt, buf.Bytes())
		}
		all = append(all, s.msg)
	}
	// Both readings of fmt 3 after fmt 0 agree on the Writer's output.
	data := writeAll(t, chunk.Config{}, all)
	for _, cfg := range []chunk.Config{{}, {Fmt3AfterFmt0ZeroDelta: true}} {
		got, err := readAll(cfg, data)
		if err != nil {
			t.Fatal(err)
		}
		equalMessages(t, got, all)
	}
}

// TestWriterExtendedFmt3 checks that a fmt 3 new message and its
// continuation chunks repeat an extended delta.
func TestWriterExtendedFmt3(t *testing.T) {
	msgs := []chunk.Message{
		{CSID: 320, Timestamp: 0, Type: 9, StreamID: 1, Payload: pat(1, 0)},
		{CSID: 320, Timestamp: 0x01000000, Type: 9, StreamID: 1, Payload: pat(130, 1)},
		{CSID: 320, Timestamp: 0x02000000, Type: 9, StreamID: 1, Payload: pat(130, 2)},
	}
	data := writeAll(t, chunk.Config{}, msgs)
	ext := b(0x01, 0x00, 0x00, 0x00)
	want := cat(
		b(0x01, 0x00, 0x01), b(0, 0, 0), b(0, 0, 1), b(0x09), b(1, 0, 0, 0), pat(1, 0), // fmt 0, csid 320
		b(0x41, 0x00, 0x01), b(0xFF, 0xFF, 0xFF), b(0, 0, 130), b(0x09), ext, // fmt 1, extended delta
		pat(130, 1)[:128], b(0xC1, 0x00, 0x01), ext, pat(130, 1)[128:], // continuation repeats it
		b(0xC1, 0x00, 0x01), ext, // fmt 3 new message repeats it
		pat(130, 2)[:128], b(0xC1, 0x00, 0x01), ext, pat(130, 2)[128:],
	)
	if !bytes.Equal(data, want) {
		t.Errorf("output\n got  % x\n want % x", data, want)
	}
	got, err := readAll(chunk.Config{}, data)
	if err != nil {
		t.Fatal(err)
	}
	equalMessages(t, got, msgs)
}

// recordingWriter records the size of every Write.
type recordingWriter struct {
	bytes.Buffer
	writes []int
}

func (w *recordingWriter) Write(p []byte) (int, error) {
	w.writes = append(w.writes, len(p))
	return w.Buffer.Write(p)
}

// TestWriterBuffering checks that small chunks are coalesced into full
// buffer writes and that chunks larger than the buffer go out directly.
func TestWriterBuffering(t *testing.T) {
	for _, c := range []struct {
		name       string
		chunkSize  []byte
		payload    int
		maxWrites  int
		wantDirect bool // a write longer than the buffer: payload not copied
	}{
		{"chunk-size-128", nil, 256 << 10, (256<<10+2048+12)/chunk.WriteBufSize + 1, false},
		{"chunk-size-4096", b(0, 0, 0x10, 0), 256 << 10, (256<<10+64+12+16)/chunk.WriteBufSize + 1, false},
		// Per chunk: one full buffer, then the rest of the chunk directly.
		{"chunk-size-262144", b(0, 4, 0, 0), 1 << 20, 2*4 + 1, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var rw recordingWriter
			w := chunk.NewWriter(&rw, chunk.Config{})
			msgs := []chunk.Message{{CSID: 6, Type: 9, StreamID: 1, Payload: pat(c.payload, 3)}}
			if c.chunkSize != nil {
				msgs = append([]chunk.Message{{CSID: 2, Type: 1, Payload: c.chunkSize}}, msgs...)
			}
			for i := range msgs {
				if err := w.WriteMessage(&msgs[i]); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if len(rw.writes) > c.maxWrites {
				t.Errorf("%d writes %v, want at most %d", len(rw.writes), rw.writes, c.maxWrites)
			}
			direct := false
			for _, n := range rw.writes {
				direct = direct || n > chunk.WriteBufSize
			}
			if direct != c.wantDirect {
				t.Errorf("writes %v: direct payload writes %v, want %v", rw.writes, direct, c.wantDirect)
			}
			if w.BytesWritten() != uint64(rw.Len()) {
				t.Errorf("BytesWritten = %d, wrote %d", w.BytesWritten(), rw.Len())
			}
			got, err := readAll(chunk.Config{}, rw.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			equalMessages(t, got, msgs)
		})
	}
}

func TestWriterRejectsUnencodable(t *testing.T) {
	for _, m := range []chunk.Message{
		{CSID: 0, Type: 9},
		{CSID: 1, Type: 9},
		{CSID: 65600, Type: 9},
		{CSID: 6, Type: 9, Payload: make([]byte, 1<<24)},
		{CSID: 2, Type: 1, Payload: b(0, 0, 0)},
		{CSID: 2, Type: 2, Payload: b(0, 0, 6)},
	} {
		var buf bytes.Buffer
		w := chunk.NewWriter(&buf, chunk.Config{})
		err := w.WriteMessage(&m)
		if err == nil || !strings.HasPrefix(err.Error(), "chunk: ") {
			t.Errorf("WriteMessage(csid %d, %d bytes) = %v, want a chunk: error", m.CSID, len(m.Payload), err)
		}
		if errors.Is(err, chunk.ErrProtocol) {
			t.Errorf("caller error %v matches ErrProtocol", err)
		}
		if err := w.WriteMessage(&chunk.Message{CSID: 3, Type: 20, Payload: b(1)}); err != nil {
			t.Errorf("Writer unusable after a refused message: %v", err)
		}
		if err := w.Flush(); err != nil || buf.Len() != 13 {
			t.Errorf("Flush = %v with %d bytes, want the one 13-byte message", err, buf.Len())
		}
	}
}

type failingWriter struct{ n int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.n <= 0 {
		return 0, io.ErrClosedPipe
	}
	w.n--
	return len(p), nil
}

type shortWriter struct{}

func (shortWriter) Write(p []byte) (int, error) { return len(p) / 2, nil }

func TestWriterErrorsAreSticky(t *testing.T) {
	msg := &chunk.Message{CSID: 6, Type: 9, StreamID: 1, Payload: pat(3*chunk.WriteBufSize, 1)}

	w := chunk.NewWriter(&failingWriter{n: 1}, chunk.Config{})
	err := w.WriteMessage(msg)
	if !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("WriteMessage = %v, want io.ErrClosedPipe", err)
	}
	if again := w.WriteMessage(msg); again != err {
		t.Errorf("WriteMessage after failure = %v, want the same error", again)
	}
	if again := w.Flush(); again != err {
		t.Errorf("Flush after failure = %v, want the same error", again)
	}

	w = chunk.NewWriter(shortWriter{}, chunk.Config{})
	if err := w.WriteMessage(&chunk.Message{CSID: 3, Type: 20, Payload: b(1, 2, 3)}); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); !errors.Is(err, io.ErrShortWrite) {
		t.Errorf("Flush to a short writer = %v, want io.ErrShortWrite", err)
	}
}
