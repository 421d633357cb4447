package chunk_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/tributary-media/tributary/pkg/rtmp/chunk"
)

// TestReaderSourceShapes reads every stream case through sources that
// return data in awkward pieces: one byte at a time, half of each request,
// and the last bytes together with io.EOF.
func TestReaderSourceShapes(t *testing.T) {
	shapes := []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{"one-byte", iotest.OneByteReader},
		{"half", iotest.HalfReader},
		{"data-with-eof", iotest.DataErrReader},
	}
	for _, s := range shapes {
		for _, c := range streamCases {
			t.Run(s.name+"/"+c.name, func(t *testing.T) {
				r := chunk.NewReader(s.wrap(bytes.NewReader(c.bytes)), c.cfg)
				var got []chunk.Message
				for {
					var m chunk.Message
					err := r.ReadMessage(&m)
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatalf("after %d messages: %v", len(got), err)
					}
					got = append(got, *m.Clone())
				}
				equalMessages(t, got, c.msgs)
				if n := r.BytesRead(); n != uint64(len(c.bytes)) {
					t.Errorf("BytesRead = %d, want %d", n, len(c.bytes))
				}
			})
		}
	}
}

func TestReaderBytesReadPerMessage(t *testing.T) {
	data := streamCaseBytes(t, "case13/")
	r := chunk.NewReader(bytes.NewReader(data), chunk.Config{})
	// fmt 0 message: 12 header + 32 payload; fmt 2: 4 + 32; fmt 3: 1 + 32.
	for i, want := range []uint64{44, 80, 113, 146} {
		var m chunk.Message
		if err := r.ReadMessage(&m); err != nil {
			t.Fatal(err)
		}
		if got := r.BytesRead(); got != want {
			t.Errorf("BytesRead after message %d = %d, want %d", i, got, want)
		}
	}
}

func TestReaderEOF(t *testing.T) {
	// Nothing at all: a clean end.
	var m chunk.Message
	r := chunk.NewReader(bytes.NewReader(nil), chunk.Config{})
	if err := r.ReadMessage(&m); err != io.EOF {
		t.Errorf("empty stream: %v, want io.EOF", err)
	}
	// A message on csid 4 is complete, but csid 6 is half-received: the end
	// is unexpected even though it falls on a chunk boundary.
	data := cat(
		b(0x06), b(0, 0, 0), b(0, 0, 0xC8), b(0x09), b(1, 0, 0, 0), p200[:128], // csid 6: 128 of 200
		b(0x04), b(0, 0, 0), b(0, 0, 1), b(0x08), b(1, 0, 0, 0), b(0x01), // csid 4: complete
	)
	r = chunk.NewReader(bytes.NewReader(data), chunk.Config{})
	if err := r.ReadMessage(&m); err != nil || m.CSID != 4 {
		t.Fatalf("ReadMessage = %v, csid %d; want the csid 4 message", err, m.CSID)
	}
	if err := r.ReadMessage(&m); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("end with a message unfinished: %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestReaderSourceErrors(t *testing.T) {
	data := streamCaseBytes(t, "case12/")
	var m chunk.Message

	// An error from the source is returned wrapped and stays.
	r := chunk.NewReader(iotest.TimeoutReader(iotest.OneByteReader(bytes.NewReader(data))), chunk.Config{})
	err := r.ReadMessage(&m)
	if !errors.Is(err, iotest.ErrTimeout) || !strings.HasPrefix(err.Error(), "chunk: ") {
		t.Fatalf("ReadMessage = %v, want a chunk: error wrapping iotest.ErrTimeout", err)
	}
	if again := r.ReadMessage(&m); again != err {
		t.Errorf("second ReadMessage = %v, want the same error", again)
	}

	// A source that never makes progress does not hang the Reader.
	r = chunk.NewReader(emptyReader{}, chunk.Config{})
	if err := r.ReadMessage(&m); !errors.Is(err, io.ErrNoProgress) {
		t.Errorf("ReadMessage from a stuck source = %v, want io.ErrNoProgress", err)
	}

	// A source that claims more bytes than it was asked for is an error,
	// not a panic.
	r = chunk.NewReader(liarReader{}, chunk.Config{})
	if err := r.ReadMessage(&m); err == nil {
		t.Error("ReadMessage from a lying source succeeded")
	}
}

type emptyReader struct{}

func (emptyReader) Read([]byte) (int, error) { return 0, nil }

type liarReader struct{}

func (liarReader) Read(p []byte) (int, error) { return len(p) + 1, nil }

// TestReaderMemoryFollowsBytesReceived checks that announcing a large
// message costs memory only for the bytes that arrive.
func TestReaderMemoryFollowsBytesReceived(t *testing.T) {
	header16MiB := cat(
		b(0x06),             // fmt 0, csid 6
		b(0x00, 0x00, 0x00), // timestamp 0
		b(0xFF, 0xFF, 0xFF), // length 16,777,215
		b(0x09),             // type 9
		b(1, 0, 0, 0),       // msid 1
	)
	bigChunks := setChunkSize(0x00, 0xFF, 0xFF, 0xFF) // chunk size 16,777,215: one chunk per message

	for _, c := range []struct {
		name     string
		prefix   []byte
		received int
		maxAlloc uint64 // total bytes allocated while reading
		maxHeld  int    // payload buffer capacity held at the end (incl. the 4-byte Set Chunk Size)
	}{
		{"10-bytes-chunk-size-128", header16MiB, 10, 64 << 10, 4<<10 + 4},
		{"10-bytes-one-chunk", cat(bigChunks, header16MiB), 10, 64 << 10, 4<<10 + 4},
		{"100-KiB-one-chunk", cat(bigChunks, header16MiB), 100 << 10, 600 << 10, 256 << 10},
		{"1-MiB-one-chunk", cat(bigChunks, header16MiB), 1 << 20, 6 << 20, 2<<20 + 4<<10},
	} {
		t.Run(c.name, func(t *testing.T) {
			data := cat(c.prefix, pat(c.received, 9))
			var r *chunk.Reader
			allocated := measureAlloc(t, func() {
				r = chunk.NewReader(bytes.NewReader(data), chunk.Config{})
				var m chunk.Message
				for {
					err := r.ReadMessage(&m)
					if errors.Is(err, io.ErrUnexpectedEOF) {
						return
					}
					if err != nil || m.Type != 1 {
						t.Errorf("ReadMessage = %v (type %d), want io.ErrUnexpectedEOF", err, m.Type)
						return
					}
				}
			})
			if allocated > c.maxAlloc {
				t.Errorf("allocated %d bytes for %d received, want at most %d", allocated, c.received, c.maxAlloc)
			}
			if held := chunk.HeldBytes(r); held > c.maxHeld || held < c.received {
				t.Errorf("holding %d bytes of buffer for %d received, want %d..%d", held, c.received, c.received, c.maxHeld)
			}
			if err := chunk.CheckAccounting(r); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestReaderBufferReuse checks that a chunk stream's buffer is reused for
// the next message, and that a very large one is not kept.
func TestReaderBufferReuse(t *testing.T) {
	big := pat(6<<20, 5)
	small := pat(1000, 6)
	msgs := []chunk.Message{
		{CSID: 6, Type: 9, StreamID: 1, Payload: small},
		{CSID: 6, Timestamp: 40, Type: 9, StreamID: 1, Payload: small},
		{CSID: 6, Timestamp: 80, Type: 9, StreamID: 1, Payload: big},
		{CSID: 6, Timestamp: 120, Type: 9, StreamID: 1, Payload: small},
	}
	data := writeAll(t, chunk.Config{}, msgs)
	r := chunk.NewReader(bytes.NewReader(data), chunk.Config{})
	var m chunk.Message
	if err := r.ReadMessage(&m); err != nil {
		t.Fatal(err)
	}
	first := &m.Payload[0]
	if err := r.ReadMessage(&m); err != nil {
		t.Fatal(err)
	}
	if &m.Payload[0] != first {
		t.Error("the second message on a chunk stream did not reuse the first one's buffer")
	}
	if err := r.ReadMessage(&m); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.Payload, big) {
		t.Fatal("large message corrupted")
	}
	if held := chunk.HeldBytes(r); held != 0 {
		t.Errorf("after a 6 MiB message the Reader still holds %d bytes of buffer", held)
	}
	if err := r.ReadMessage(&m); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.Payload, small) {
		t.Fatal("message after the large one corrupted")
	}
	if err := chunk.CheckAccounting(r); err != nil {
		t.Error(err)
	}
}

// TestReaderPayloadIsBounded checks that appending to a returned payload
// cannot write into the Reader's spare buffer capacity.
func TestReaderPayloadIsBounded(t *testing.T) {
	data := streamCaseBytes(t, "case15/")
	r := chunk.NewReader(bytes.NewReader(data), chunk.Config{})
	var m chunk.Message
	if err := r.ReadMessage(&m); err != nil {
		t.Fatal(err)
	}
	if cap(m.Payload) != len(m.Payload) {
		t.Errorf("payload has spare capacity %d", cap(m.Payload)-len(m.Payload))
	}
}

// TestReaderExtendedHeuristic covers the fmt 3 extended timestamp rule
// beyond cases 17 and 18.
func TestReaderExtendedHeuristic(t *testing.T) {
	ext := b(0x01, 0x00, 0x00, 0x00) // 0x01000000
	for _, c := range []struct {
		name  string
		bytes []byte
		want  []chunk.Message
	}{
		{
			name: "fmt3-new-message-after-extended-fmt1-uses-the-repeated-delta",
			bytes: cat(
				b(0x06), b(0, 0, 0), b(0, 0, 1), b(0x09), b(1, 0, 0, 0), b(0xA0), // fmt 0 at 0
				b(0x46), b(0xFF, 0xFF, 0xFF), b(0, 0, 1), b(0x09), ext, b(0xA1), // fmt 1, delta 0x01000000
				b(0xC6), ext, b(0xA2), // fmt 3 new message: delta repeated
			),
			want: []chunk.Message{
				{CSID: 6, Type: 9, StreamID: 1, Payload: b(0xA0)},
				{CSID: 6, Timestamp: 0x01000000, Type: 9, StreamID: 1, Payload: b(0xA1)},
				{CSID: 6, Timestamp: 0x02000000, Type: 9, StreamID: 1, Payload: b(0xA2)},
			},
		},
		{
			name: "fmt3-new-message-after-extended-fmt0-spec-delta",
			bytes: cat(
				b(0x06), b(0xFF, 0xFF, 0xFF), b(0, 0, 1), b(0x09), b(1, 0, 0, 0), ext, b(0xA0), // fmt 0 at 0x01000000
				b(0xC6), ext, b(0xA1), // fmt 3 new message: the fmt 0 timestamp is the delta
			),
			want: []chunk.Message{
				{CSID: 6, Timestamp: 0x01000000, Type: 9, StreamID: 1, Payload: b(0xA0)},
				{CSID: 6, Timestamp: 0x02000000, Type: 9, StreamID: 1, Payload: b(0xA1)},
			},
		},
		{
			name: "continuation-payload-unlike-the-stored-value-is-payload",
			bytes: cat(
				b(0x06), b(0xFF, 0xFF, 0xFF), b(0, 0, 0x84), b(0x09), b(1, 0, 0, 0), ext, // fmt 0, length 132
				pat(128, 1),                  // chunk 1
				b(0xC6), b(0x01, 0, 0, 0x01), // fmt 3, then 4 payload bytes that differ from the stored value
			),
			want: []chunk.Message{
				{CSID: 6, Timestamp: 0x01000000, Type: 9, StreamID: 1, Payload: cat(pat(128, 1), b(0x01, 0, 0, 0x01))},
			},
		},
		{
			name: "not-extended-after-a-plain-header",
			bytes: cat(
				b(0x06), b(0xFF, 0xFF, 0xFF), b(0, 0, 4), b(0x09), b(1, 0, 0, 0), ext, b(1, 2, 3, 4), // extended fmt 0
				b(0x86), b(0, 0, 5), b(5, 6, 7, 8), // fmt 2, plain delta 5
				b(0xC6), b(0x01, 0, 0, 0), // fmt 3 new message: the 4 bytes are payload
			),
			want: []chunk.Message{
				{CSID: 6, Timestamp: 0x01000000, Type: 9, StreamID: 1, Payload: b(1, 2, 3, 4)},
				{CSID: 6, Timestamp: 0x01000005, Type: 9, StreamID: 1, Payload: b(5, 6, 7, 8)},
				{CSID: 6, Timestamp: 0x0100000A, Type: 9, StreamID: 1, Payload: b(1, 0, 0, 0)},
			},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := readAll(chunk.Config{}, c.bytes)
			if err != nil {
				t.Fatal(err)
			}
			equalMessages(t, got, c.want)
		})
	}
}

// segments returns one segment per Read, as a socket returns what has
// arrived.
type segments [][]byte

func (s *segments) Read(p []byte) (int, error) {
	if len(*s) == 0 {
		return 0, io.EOF
	}
	n := copy(p, (*s)[0])
	if (*s)[0] = (*s)[0][n:]; len((*s)[0]) == 0 {
		*s = (*s)[1:]
	}
	return n, nil
}

// TestReaderRelease checks that an idle Reader gives back its buffers and
// reads on correctly, keeping the payload of a message still in progress
// on another chunk stream.
func TestReaderRelease(t *testing.T) {
	fmt0 := func(csid byte, length int, typ byte) []byte {
		return []byte{csid, 0, 0, 0, 0, byte(length >> 8), byte(length), typ, 1, 0, 0, 0}
	}
	long := bytes.Repeat([]byte("0123456789abcdef"), 19)[:300] // 3 chunks of 128, 128, 44
	short := []byte("short msg")
	var seg1, seg2 []byte
	seg1 = append(append(seg1, fmt0(4, len(long), 9)...), long[:128]...)
	seg1 = append(append(seg1, fmt0(3, len(short), 20)...), short...)
	seg2 = append(append(seg2, 0xc4), long[128:256]...)
	seg2 = append(append(seg2, 0xc4), long[256:]...)
	seg3 := append(fmt0(3, len(short), 20), short...)
	src := &segments{seg1, seg2, seg3}
	r := chunk.NewReader(src, chunk.Config{})
	var m chunk.Message
	if err := r.ReadMessage(&m); err != nil || !bytes.Equal(m.Payload, short) {
		t.Fatalf("first message %q, %v; want %q", m.Payload, err, short)
	}
	if !r.Idle() {
		t.Fatal("Reader not idle after its input was parsed")
	}
	r.Release()
	if err := r.ReadMessage(&m); err != nil || m.CSID != 4 || !bytes.Equal(m.Payload, long) {
		t.Fatalf("message in progress at Release: csid %d %q, %v; want csid 4 %q", m.CSID, m.Payload, err, long)
	}
	r.Release()
	r.Release()
	if err := r.ReadMessage(&m); err != nil || !bytes.Equal(m.Payload, short) {
		t.Fatalf("message after Release %q, %v; want %q", m.Payload, err, short)
	}
	if err := r.ReadMessage(&m); err != io.EOF {
		t.Fatalf("after the last message: %v, want io.EOF", err)
	}
	if r.Idle() {
		t.Fatal("Reader idle with an error to report")
	}
}
