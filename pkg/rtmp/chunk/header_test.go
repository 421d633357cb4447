package chunk_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/tributary-media/tributary/pkg/rtmp/chunk"
)

// headerCase is one chunk header on the wire and its value. decodeOnly marks
// a non-canonical encoding that MarshalTo does not produce.
type headerCase struct {
	name       string
	bytes      []byte
	value      chunk.Header
	decodeOnly bool
}

var headerCases = []headerCase{
	{
		name:  "case09/csid-2-fmt3",
		bytes: b(0xC2), // fmt 3, csid 2
		value: chunk.Header{Fmt: 3, CSID: 2},
	},
	{
		name:  "case09/csid-63-fmt3",
		bytes: b(0xFF), // fmt 3, csid 63
		value: chunk.Header{Fmt: 3, CSID: 63},
	},
	{
		name:  "case09/csid-64-fmt3",
		bytes: b(0xC0, 0x00), // fmt 3, marker 0, csid 64+0
		value: chunk.Header{Fmt: 3, CSID: 64},
	},
	{
		name:  "case09/csid-319-fmt3",
		bytes: b(0xC0, 0xFF), // fmt 3, marker 0, csid 64+255
		value: chunk.Header{Fmt: 3, CSID: 319},
	},
	{
		name:  "case09/csid-320-fmt3",
		bytes: b(0xC1, 0x00, 0x01), // fmt 3, marker 1, csid-64 = 0x0100 little-endian
		value: chunk.Header{Fmt: 3, CSID: 320},
	},
	{
		name:  "case09/csid-65599-fmt3",
		bytes: b(0xC1, 0xFF, 0xFF), // fmt 3, marker 1, csid-64 = 0xFFFF
		value: chunk.Header{Fmt: 3, CSID: 65599},
	},
	{
		name: "case09/csid-300-fmt2",
		bytes: cat(
			b(0x80, 0xEC),       // fmt 2, marker 0, csid 64+236
			b(0x00, 0x00, 0x21), // delta 33
		),
		value: chunk.Header{Fmt: 2, CSID: 300, Timestamp: 33},
	},
	{
		name:       "case10/csid-64-in-three-byte-form",
		bytes:      b(0xC1, 0x00, 0x00), // fmt 3, marker 1, csid-64 = 0
		value:      chunk.Header{Fmt: 3, CSID: 64},
		decodeOnly: true,
	},
	{
		name:       "case10/csid-319-in-three-byte-form",
		bytes:      b(0x41, 0xFF, 0x00, 0, 0, 1, 0, 0, 2, 9), // fmt 1, marker 1, csid-64 = 255; delta 1, length 2, type 9
		value:      chunk.Header{Fmt: 1, CSID: 319, Timestamp: 1, Length: 2, Type: 9},
		decodeOnly: true,
	},
	{
		name: "case11/fmt0-msid-little-endian",
		bytes: cat(
			b(0x03),             // fmt 0, csid 3
			b(0x00, 0x0B, 0xB8), // timestamp 3000
			b(0x00, 0x01, 0x00), // length 256
			b(0x14),             // type 20
			b(0x01, 0, 0, 0),    // msid 1, little-endian
		),
		value: chunk.Header{Fmt: 0, CSID: 3, Timestamp: 3000, Length: 256, Type: 20, StreamID: 1},
	},
	{
		name: "case11/fmt0-msid-0x01020304",
		bytes: cat(
			b(0x04),                   // fmt 0, csid 4
			b(0x00, 0x00, 0x00),       // timestamp 0
			b(0x00, 0x00, 0x00),       // length 0
			b(0x08),                   // type 8
			b(0x04, 0x03, 0x02, 0x01), // msid 0x01020304, little-endian
		),
		value: chunk.Header{Fmt: 0, CSID: 4, Type: 8, StreamID: 0x01020304},
	},
	{
		name: "case16/fmt0-timestamp-0xffffff",
		bytes: cat(
			b(0x04),                   // fmt 0, csid 4
			b(0xFF, 0xFF, 0xFF),       // extended timestamp follows
			b(0x00, 0x00, 0x10),       // length 16
			b(0x08),                   // type 8
			b(0x01, 0, 0, 0),          // msid 1
			b(0x00, 0xFF, 0xFF, 0xFF), // timestamp 0x00FFFFFF
		),
		value: chunk.Header{Fmt: 0, CSID: 4, Timestamp: 0xFFFFFF, Length: 16, Type: 8, StreamID: 1, Extended: true},
	},
	{
		name: "case16/fmt0-timestamp-0xfffffe-not-extended",
		bytes: cat(
			b(0x04),             // fmt 0, csid 4
			b(0xFF, 0xFF, 0xFE), // timestamp 0xFFFFFE
			b(0x00, 0x00, 0x10), // length 16
			b(0x08),             // type 8
			b(0x01, 0, 0, 0),    // msid 1
		),
		value: chunk.Header{Fmt: 0, CSID: 4, Timestamp: 0xFFFFFE, Length: 16, Type: 8, StreamID: 1},
	},
	{
		name: "fmt1-extended-delta",
		bytes: cat(
			b(0x46),                   // fmt 1, csid 6
			b(0xFF, 0xFF, 0xFF),       // extended delta follows
			b(0x00, 0x10, 0x00),       // length 4096
			b(0x09),                   // type 9
			b(0x12, 0x34, 0x56, 0x78), // delta 0x12345678
		),
		value: chunk.Header{Fmt: 1, CSID: 6, Timestamp: 0x12345678, Length: 4096, Type: 9, Extended: true},
	},
	{
		name: "fmt3-with-extended-timestamp",
		bytes: cat(
			b(0xC6),                   // fmt 3, csid 6
			b(0x01, 0x00, 0x00, 0x00), // repeated extended timestamp
		),
		value: chunk.Header{Fmt: 3, CSID: 6, Timestamp: 0x01000000, Extended: true},
	},
	{
		name: "fmt2-extended-field-with-small-value",
		bytes: cat(
			b(0x86),                   // fmt 2, csid 6
			b(0xFF, 0xFF, 0xFF),       // extended delta follows
			b(0x00, 0x00, 0x00, 0x05), // delta 5, needlessly extended
		),
		value: chunk.Header{Fmt: 2, CSID: 6, Timestamp: 5, Extended: true},
	},
}

func runHeaderCases(t *testing.T, prefix string) {
	t.Helper()
	ran := 0
	for _, c := range headerCases {
		if !strings.HasPrefix(c.name, prefix) {
			continue
		}
		ran++
		t.Run(strings.TrimPrefix(c.name, prefix), func(t *testing.T) {
			t.Run("decode", func(t *testing.T) {
				// Trailing bytes must be left alone.
				in := append(append([]byte(nil), c.bytes...), 0xEE, 0xEE, 0xEE, 0xEE)
				h := chunk.Header{Extended: c.value.Fmt == 3 && c.value.Extended}
				n, err := h.Unmarshal(in)
				if err != nil {
					t.Fatal(err)
				}
				if n != len(c.bytes) || h != c.value {
					t.Errorf("Unmarshal = %d, %+v; want %d, %+v", n, h, len(c.bytes), c.value)
				}
			})
			if c.decodeOnly {
				return
			}
			t.Run("encode", func(t *testing.T) {
				if got := c.value.MarshalSize(); got != len(c.bytes) {
					t.Errorf("MarshalSize = %d, want %d", got, len(c.bytes))
				}
				out := make([]byte, 32)
				n, err := c.value.MarshalTo(out)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(out[:n], c.bytes) {
					t.Errorf("MarshalTo = % x, want % x", out[:n], c.bytes)
				}
				if _, err := c.value.MarshalTo(out[:len(c.bytes)-1]); !errors.Is(err, io.ErrShortBuffer) {
					t.Errorf("MarshalTo into a short buffer = %v, want io.ErrShortBuffer", err)
				}
			})
			t.Run("truncated", func(t *testing.T) {
				for i := range len(c.bytes) {
					h := chunk.Header{Extended: c.value.Fmt == 3 && c.value.Extended}
					if _, err := h.Unmarshal(c.bytes[:i]); !errors.Is(err, io.ErrShortBuffer) {
						t.Errorf("Unmarshal of %d bytes = %v, want io.ErrShortBuffer", i, err)
					}
				}
			})
		})
	}
	if ran == 0 {
		t.Fatalf("no header case named %s*", prefix)
	}
}

func TestHeaderCases(t *testing.T) {
	runHeaderCases(t, "")
}

func TestHeaderMarshalErrors(t *testing.T) {
	out := make([]byte, 32)
	for _, h := range []chunk.Header{
		{Fmt: 4, CSID: 3},
		{Fmt: 0, CSID: 0},
		{Fmt: 0, CSID: 1},
		{Fmt: 3, CSID: 65600},
		{Fmt: 1, CSID: 3, Length: 1 << 24},
	} {
		if n, err := h.MarshalTo(out); err == nil {
			t.Errorf("MarshalTo(%+v) = %d, nil; want an error", h, n)
		} else if !strings.HasPrefix(err.Error(), "chunk: ") {
			t.Errorf("error %q lacks the package prefix", err)
		}
	}
}

// FuzzHeader checks that any header that parses encodes to the same value.
func FuzzHeader(f *testing.F) {
	for _, c := range headerCases {
		f.Add(c.bytes, c.value.Fmt == 3 && c.value.Extended)
	}
	f.Fuzz(func(t *testing.T, data []byte, fmt3Extended bool) {
		h := chunk.Header{Extended: fmt3Extended}
		n, err := h.Unmarshal(data)
		if err != nil {
			if !errors.Is(err, io.ErrShortBuffer) {
				t.Fatalf("Unmarshal error %v does not wrap io.ErrShortBuffer", err)
			}
			return
		}
		canonical := basicLen(data) == canonicalBasicLen(h.CSID)
		if n > len(data) || canonical && n != h.MarshalSize() {
			t.Fatalf("Unmarshal used %d of %d bytes, MarshalSize %d", n, len(data), h.MarshalSize())
		}
		out := make([]byte, h.MarshalSize())
		m, err := h.MarshalTo(out)
		if err != nil {
			t.Fatalf("MarshalTo(%+v): %v", h, err)
		}
		var back chunk.Header
		back.Extended = h.Fmt == 3 && h.Extended
		if k, err := back.Unmarshal(out[:m]); err != nil || k != m || back != h {
			t.Fatalf("re-decoded %+v (%d bytes, %v), want %+v", back, k, err, h)
		}
		// Canonical inputs re-encode byte for byte.
		if canonical && !bytes.Equal(out[:m], data[:n]) {
			t.Fatalf("MarshalTo = % x, input % x", out[:m], data[:n])
		}
	})
}

func basicLen(data []byte) int {
	switch data[0] & 0x3f {
	case 0:
		return 2
	case 1:
		return 3
	}
	return 1
}

func canonicalBasicLen(csid uint32) int {
	switch {
	case csid < 64:
		return 1
	case csid < 320:
		return 2
	}
	return 3
}
