package chunk_test

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/tributary-media/tributary/pkg/rtmp/chunk"
)

// cat concatenates byte groups; vectors are written one field per group.
func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// b is shorthand for a byte group.
func b(v ...byte) []byte { return v }

// pat returns n payload bytes: seed, seed+7, seed+14, ... Consecutive bytes
// always differ, so a pattern never contains a repeated extended timestamp
// such as 01 00 00 00.
func pat(n int, seed byte) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = seed + byte(i*7)
	}
	return p
}

// streamCase is a chunk stream and the messages it carries.
type streamCase struct {
	name  string
	cfg   chunk.Config
	bytes []byte
	msgs  []chunk.Message
	// encode is set when a Writer given msgs produces exactly bytes.
	encode bool
}

// errorCase is a chunk stream the Reader must reject after reading msgs.
type errorCase struct {
	name    string
	cfg     chunk.Config
	bytes   []byte
	msgs    int   // messages returned before the error
	wantErr error // matched with errors.Is
}

var (
	p307 = pat(307, 1)
	p200 = pat(200, 2)
	p300 = pat(300, 3)
	p32  = [4][]byte{pat(32, 10), pat(32, 20), pat(32, 30), pat(32, 40)}
)

var streamCases = []streamCase{
	{
		name: "case09/csid-2-and-63-one-byte-form",
		bytes: cat(
			b(0x02),             // fmt 0, csid 2
			b(0x00, 0x00, 0x00), // timestamp 0
			b(0x00, 0x00, 0x01), // length 1
			b(0x04),             // type 4
			b(0, 0, 0, 0),       // msid 0
			b(0xAA),             // payload
			b(0x3F),             // fmt 0, csid 63
			b(0x00, 0x00, 0x05), // timestamp 5
			b(0x00, 0x00, 0x01), // length 1
			b(0x12),             // type 18
			b(1, 0, 0, 0),       // msid 1
			b(0xBB),             // payload
		),
		msgs: []chunk.Message{
			{CSID: 2, Timestamp: 0, Type: 4, StreamID: 0, Payload: b(0xAA)},
			{CSID: 63, Timestamp: 5, Type: 18, StreamID: 1, Payload: b(0xBB)},
		},
		encode: true,
	},
	{
		name: "case09/csid-64-and-319-two-byte-form",
		bytes: cat(
			b(0x00, 0x00),       // fmt 0, marker 0, csid 64+0
			b(0x00, 0x00, 0x00), // timestamp 0
			b(0x00, 0x00, 0x01), // length 1
			b(0x09),             // type 9
			b(1, 0, 0, 0),       // msid 1
			b(0x11),             // payload
			b(0x00, 0xFF),       // fmt 0, marker 0, csid 64+255
			b(0x00, 0x00, 0x00), // timestamp 0
			b(0x00, 0x00, 0x01), // length 1
			b(0x08),             // type 8
			b(1, 0, 0, 0),       // msid 1
			b(0x22),             // payload
		),
		msgs: []chunk.Message{
			{CSID: 64, Type: 9, StreamID: 1, Payload: b(0x11)},
			{CSID: 319, Type: 8, StreamID: 1, Payload: b(0x22)},
		},
		encode: true,
	},
	{
		name: "case09/csid-320-and-65599-three-byte-form",
		bytes: cat(
			b(0x01, 0x00, 0x01), // fmt 0, marker 1, csid-64 = 256 little-endian
			b(0x00, 0x00, 0x00), // timestamp 0
			b(0x00, 0x00, 0x01), // length 1
			b(0x09),             // type 9
			b(1, 0, 0, 0),       // msid 1
			b(0x33),             // payload
			b(0x01, 0xFF, 0xFF), // fmt 0, marker 1, csid-64 = 65535
			b(0x00, 0x00, 0x00), // timestamp 0
			b(0x00, 0x00, 0x01), // length 1
			b(0x09),             // type 9
			b(1, 0, 0, 0),       // msid 1
			b(0x44),             // payload
		),
		msgs: []chunk.Message{
			{CSID: 320, Type: 9, StreamID: 1, Payload: b(0x33)},
			{CSID: 65599, Type: 9, StreamID: 1, Payload: b(0x44)},
		},
		encode: true,
	},
	{
		name: "case10/csid-64-and-319-three-byte-form",
		bytes: cat(
			b(0x01, 0x00, 0x00), // fmt 0, marker 1, csid 64 in the long form
			b(0x00, 0x00, 0x00), // timestamp 0
			b(0x00, 0x00, 0x01), // length 1
			b(0x09),             // type 9
			b(1, 0, 0, 0),       // msid 1
			b(0x55),             // payload
			b(0xC0, 0x00),       // fmt 3, csid 64 in the short form: same stream
			b(0x66),             // payload of a new message (same length, delta 0)
			b(0x01, 0xFF, 0x00), // fmt 0, marker 1, csid 319 in the long form
			b(0x00, 0x00, 0x00), // timestamp 0
			b(0x00, 0x00, 0x01), // length 1
			b(0x09),             // type 9
			b(1, 0, 0, 0),       // msid 1
			b(0x77),             // payload
		),
		msgs: []chunk.Message{
			{CSID: 64, Type: 9, StreamID: 1, Payload: b(0x55)},
			{CSID: 64, Type: 9, StreamID: 1, Payload: b(0x66)},
			{CSID: 319, Type: 9, StreamID: 1, Payload: b(0x77)},
		},
	},
	{
		name: "case11/fmt0-byte-order",
		bytes: cat(
			b(0x03),             // fmt 0, csid 3
			b(0x01, 0x02, 0x03), // timestamp 0x010203, big-endian
			b(0x00, 0x00, 0x02), // length 2, big-endian
			b(0x14),             // type 20 (AMF0 command)
			b(0x01, 0, 0, 0),    // msid 1, little-endian
			b(0xDE, 0xAD),       // payload
		),
		msgs: []chunk.Message{
			{CSID: 3, Timestamp: 0x010203, Type: 20, StreamID: 1, Payload: b(0xDE, 0xAD)},
		},
		encode: true,
	},
	{
		name: "case12/307-bytes-at-chunk-size-128",
		bytes: cat(
			b(0x06),             // fmt 0, csid 6
			b(0x00, 0x00, 0x00), // timestamp 0
			b(0x00, 0x01, 0x33), // length 307
			b(0x09),             // type 9
			b(1, 0, 0, 0),       // msid 1
			p307[:128],          // chunk 1: 128 bytes
			b(0xC6),             // fmt 3, csid 6
			p307[128:256],       // chunk 2: 128 bytes
			b(0xC6),             // fmt 3, csid 6
			p307[256:],          // chunk 3: 51 bytes
		),
		msgs:   []chunk.Message{{CSID: 6, Type: 9, StreamID: 1, Payload: p307}},
		encode: true,
	},
	{
		name: "case13/spec-example-1-audio",
		bytes: cat(
			b(0x03),             // fmt 0, csid 3
			b(0x00, 0x03, 0xE8), // timestamp 1000
			b(0x00, 0x00, 0x20), // length 32
			b(0x08),             // type 8
			b(0x39, 0x30, 0, 0), // msid 12345, little-endian
			p32[0],              // payload
			b(0x83),             // fmt 2, csid 3
			b(0x00, 0x00, 0x14), // delta 20
			p32[1],              // payload
			b(0xC3), p32[2],     // fmt 3: delta 20 again
			b(0xC3), p32[3], // fmt 3: delta 20 again
		),
		msgs: []chunk.Message{
			{CSID: 3, Timestamp: 1000, Type: 8, StreamID: 12345, Payload: p32[0]},
			{CSID: 3, Timestamp: 1020, Type: 8, StreamID: 12345, Payload: p32[1]},
			{CSID: 3, Timestamp: 1040, Type: 8, StreamID: 12345, Payload: p32[2]},
			{CSID: 3, Timestamp: 1060, Type: 8, StreamID: 12345, Payload: p32[3]},
		},
		encode: true,
	},
	{
		name:  "case14/fmt3-after-fmt0-uses-timestamp-as-delta",
		bytes: case14Bytes,
		msgs: []chunk.Message{
			{CSID: 4, Timestamp: 26, Type: 8, StreamID: 1, Payload: b(1, 2, 3, 4)},
			{CSID: 4, Timestamp: 52, Type: 8, StreamID: 1, Payload: b(5, 6, 7, 8)},
		},
	},
	{
		name:  "case14/fmt3-after-fmt0-zero-delta-option",
		cfg:   chunk.Config{Fmt3AfterFmt0ZeroDelta: true},
		bytes: case14Bytes,
		msgs: []chunk.Message{
			{CSID: 4, Timestamp: 26, Type: 8, StreamID: 1, Payload: b(1, 2, 3, 4)},
			{CSID: 4, Timestamp: 26, Type: 8, StreamID: 1, Payload: b(5, 6, 7, 8)},
		},
	},
	{
		name: "case15/fmt2-and-fmt3-messages-start-empty",
		bytes: cat(
			b(0x04),                 // fmt 0, csid 4
			b(0x00, 0x00, 0x00),     // timestamp 0
			b(0x00, 0x00, 0x04),     // length 4
			b(0x08),                 // type 8
			b(1, 0, 0, 0),           // msid 1
			[]byte("AAAA"),          // payload
			b(0x84),                 // fmt 2, csid 4
			b(0x00, 0x00, 0x0A),     // delta 10
			[]byte("BBBB"),          // payload: all of the message
			b(0xC4), []byte("CCCC"), // fmt 3 new message, delta 10
		),
		msgs: []chunk.Message{
			{CSID: 4, Timestamp: 0, Type: 8, StreamID: 1, Payload: []byte("AAAA")},
			{CSID: 4, Timestamp: 10, Type: 8, StreamID: 1, Payload: []byte("BBBB")},
			{CSID: 4, Timestamp: 20, Type: 8, StreamID: 1, Payload: []byte("CCCC")},
		},
		encode: true,
	},
	{
		name: "case16/timestamp-0xffffff-is-extended",
		bytes: cat(
			b(0x04),                   // fmt 0, csid 4
			b(0xFF, 0xFF, 0xFF),       // timestamp field: extended follows
			b(0x00, 0x00, 0x02),       // length 2
			b(0x08),                   // type 8
			b(1, 0, 0, 0),             // msid 1
			b(0x00, 0xFF, 0xFF, 0xFF), // extended timestamp 0x00FFFFFF
			b(0x01, 0x02),             // payload
		),
		msgs: []chunk.Message{
			{CSID: 4, Timestamp: 0xFFFFFF, Type: 8, StreamID: 1, Payload: b(1, 2)},
		},
		encode: true,
	},
	{
		name: "case17/continuation-repeats-extended-timestamp",
		bytes: cat(
			b(0x06),                   // fmt 0, csid 6
			b(0xFF, 0xFF, 0xFF),       // timestamp field: extended follows
			b(0x00, 0x00, 0xC8),       // length 200
			b(0x09),                   // type 9
			b(1, 0, 0, 0),             // msid 1
			b(0x01, 0x00, 0x00, 0x00), // extended timestamp 0x01000000
			p200[:128],                // chunk 1
			b(0xC6),                   // fmt 3, csid 6
			b(0x01, 0x00, 0x00, 0x00), // extended timestamp repeated
			p200[128:],                // chunk 2: 72 bytes
		),
		msgs: []chunk.Message{
			{CSID: 6, Timestamp: 0x01000000, Type: 9, StreamID: 1, Payload: p200},
		},
		encode: true,
	},
	{
		name: "case18/continuation-omits-extended-timestamp",
		bytes: cat(
			b(0x06),                   // fmt 0, csid 6
			b(0xFF, 0xFF, 0xFF),       // timestamp field: extended follows
			b(0x00, 0x00, 0xC8),       // length 200
			b(0x09),                   // type 9
			b(1, 0, 0, 0),             // msid 1
			b(0x01, 0x00, 0x00, 0x00), // extended timestamp 0x01000000
			p200[:128],                // chunk 1
			b(0xC6),                   // fmt 3, csid 6, no extended timestamp
			p200[128:],                // chunk 2: 72 bytes
		),
		msgs: []chunk.Message{
			{CSID: 6, Timestamp: 0x01000000, Type: 9, StreamID: 1, Payload: p200},
		},
	},
	{
		name: "case19/extended-absolute-on-fmt0-delta-on-fmt1-and-fmt2",
		bytes: cat(
			b(0x06),                   // fmt 0, csid 6
			b(0xFF, 0xFF, 0xFF),       // timestamp field: extended follows
			b(0x00, 0x00, 0x01),       // length 1
			b(0x09),                   // type 9
			b(1, 0, 0, 0),             // msid 1
			b(0x01, 0x00, 0x00, 0x00), // absolute timestamp 0x01000000
			b(0xA0),                   // payload
			b(0x46),                   // fmt 1, csid 6
			b(0xFF, 0xFF, 0xFF),       // delta field: extended follows
			b(0x00, 0x00, 0x02),       // length 2
			b(0x09),                   // type 9
			b(0x01, 0x00, 0x00, 0x00), // delta 0x01000000
			b(0xA1, 0xA2),             // payload
			b(0x86),                   // fmt 2, csid 6
			b(0xFF, 0xFF, 0xFF),       // delta field: extended follows
			b(0x01, 0x00, 0x00, 0x05), // delta 0x01000005
			b(0xA3, 0xA4),             // payload
		),
		msgs: []chunk.Message{
			{CSID: 6, Timestamp: 0x01000000, Type: 9, StreamID: 1, Payload: b(0xA0)},
			{CSID: 6, Timestamp: 0x02000000, Type: 9, StreamID: 1, Payload: b(0xA1, 0xA2)},
			{CSID: 6, Timestamp: 0x03000005, Type: 9, StreamID: 1, Payload: b(0xA3, 0xA4)},
		},
		encode: true,
	},
	{
		name: "case20/timestamp-wraps",
		bytes: cat(
			b(0x06),                   // fmt 0, csid 6
			b(0xFF, 0xFF, 0xFF),       // timestamp field: extended follows
			b(0x00, 0x00, 0x01),       // length 1
			b(0x09),                   // type 9
			b(1, 0, 0, 0),             // msid 1
			b(0xFF, 0xFF, 0xFF, 0xF0), // absolute timestamp 0xFFFFFFF0
			b(0xB0),                   // payload
			b(0x86),                   // fmt 2, csid 6
			b(0x00, 0x00, 0x20),       // delta 0x20
			b(0xB1),                   // payload
		),
		msgs: []chunk.Message{
			{CSID: 6, Timestamp: 0xFFFFFFF0, Type: 9, StreamID: 1, Payload: b(0xB0)},
			{CSID: 6, Timestamp: 0x10, Type: 9, StreamID: 1, Payload: b(0xB1)},
		},
	},
	{
		name: "case21/interleaved-csid-4-and-6",
		bytes: cat(
			b(0x04),             // fmt 0, csid 4
			b(0x00, 0x00, 0x0A), // timestamp 10
			b(0x00, 0x00, 0xC8), // length 200
			b(0x08),             // type 8
			b(1, 0, 0, 0),       // msid 1
			p200[:128],          // csid 4, chunk 1
			b(0x06),             // fmt 0, csid 6
			b(0x00, 0x00, 0x14), // timestamp 20
			b(0x00, 0x01, 0x2C), // length 300
			b(0x09),             // type 9
			b(1, 0, 0, 0),       // msid 1
			p300[:128],          // csid 6, chunk 1
			b(0xC4),             // fmt 3, csid 4
			p200[128:],          // csid 4, chunk 2 (72 bytes): message complete
			b(0xC6),             // fmt 3, csid 6
			p300[128:256],       // csid 6, chunk 2
			b(0xC6),             // fmt 3, csid 6
			p300[256:],          // csid 6, chunk 3 (44 bytes): message complete
		),
		msgs: []chunk.Message{
			{CSID: 4, Timestamp: 10, Type: 8, StreamID: 1, Payload: p200},
			{CSID: 6, Timestamp: 20, Type: 9, StreamID: 1, Payload: p300},
		},
	},
	{
		name: "case22/set-chunk-size-applies-to-half-received-message",
		bytes: cat(
			b(0x06),                // fmt 0, csid 6
			b(0x00, 0x00, 0x00),    // timestamp 0
			b(0x00, 0x01, 0x2C),    // length 300
			b(0x09),                // type 9
			b(1, 0, 0, 0),          // msid 1
			p300[:128],             // chunk 1 at size 128
			b(0x02),                // fmt 0, csid 2
			b(0x00, 0x00, 0x00),    // timestamp 0
			b(0x00, 0x00, 0x04),    // length 4
			b(0x01),                // type 1: Set Chunk Size
			b(0, 0, 0, 0),          // msid 0
			b(0x00, 0x00, 0x01, 0), // chunk size 256
			b(0xC6),                // fmt 3, csid 6
			p300[128:],             // chunk 2: the remaining 172 bytes at size 256
		),
		msgs: []chunk.Message{
			{CSID: 2, Type: 1, Payload: b(0, 0, 1, 0)},
			{CSID: 6, Type: 9, StreamID: 1, Payload: p300},
		},
	},
	{
		name: "case23/set-chunk-size-then-larger-chunks",
		bytes: cat(
			b(0x02),                // fmt 0, csid 2
			b(0x00, 0x00, 0x00),    // timestamp 0
			b(0x00, 0x00, 0x04),    // length 4
			b(0x01),                // type 1: Set Chunk Size
			b(0, 0, 0, 0),          // msid 0
			b(0x00, 0x00, 0x10, 0), // chunk size 4096
			b(0x06),                // fmt 0, csid 6
			b(0x00, 0x00, 0x00),    // timestamp 0
			b(0x00, 0x01, 0x33),    // length 307
			b(0x09),                // type 9
			b(1, 0, 0, 0),          // msid 1
			p307,                   // one chunk at size 4096
		),
		msgs: []chunk.Message{
			{CSID: 2, Type: 1, Payload: b(0, 0, 0x10, 0)},
			{CSID: 6, Type: 9, StreamID: 1, Payload: p307},
		},
		encode: true,
	},
	{
		name: "case24/chunk-size-below-128-when-lenient",
		cfg:  chunk.Config{LenientChunkSize: true},
		bytes: cat(
			b(0x02),             // fmt 0, csid 2
			b(0x00, 0x00, 0x00), // timestamp 0
			b(0x00, 0x00, 0x04), // length 4
			b(0x01),             // type 1: Set Chunk Size
			b(0, 0, 0, 0),       // msid 0
			b(0, 0, 0, 0x02),    // chunk size 2
			b(0x06),             // fmt 0, csid 6
			b(0x00, 0x00, 0x00), // timestamp 0
			b(0x00, 0x00, 0x05), // length 5
			b(0x09),             // type 9
			b(1, 0, 0, 0),       // msid 1
			b(0x01, 0x02),       // chunk 1: 2 bytes
			b(0xC6), b(3, 4),    // chunk 2: 2 bytes
			b(0xC6), b(5), // chunk 3: 1 byte
		),
		msgs: []chunk.Message{
			{CSID: 2, Type: 1, Payload: b(0, 0, 0, 2)},
			{CSID: 6, Type: 9, StreamID: 1, Payload: b(1, 2, 3, 4, 5)},
		},
		encode: true,
	},
	{
		name: "case25/fresh-fmt1-accepted-when-lenient",
		cfg:  chunk.Config{LenientFreshFmt1: true},
		bytes: cat(
			b(0x42),                   // fmt 1, csid 2, never used before
			b(0x00, 0x00, 0x00),       // delta 0
			b(0x00, 0x00, 0x06),       // length 6
			b(0x04),                   // type 4: user control
			b(0, 7, 0, 0, 0x03, 0xE8), // PingResponse 1000
		),
		msgs: []chunk.Message{
			{CSID: 2, Timestamp: 0, Type: 4, StreamID: 0, Payload: b(0, 7, 0, 0, 0x03, 0xE8)},
		},
	},
	{
		name: "case26/abort-discards-partial-message",
		bytes: cat(
			b(0x06),                // fmt 0, csid 6
			b(0x00, 0x00, 0x00),    // timestamp 0
			b(0x00, 0x01, 0x2C),    // length 300
			b(0x09),                // type 9
			b(1, 0, 0, 0),          // msid 1
			p300[:128],             // chunk 1 of 3, then abandoned
			b(0x02),                // fmt 0, csid 2
			b(0x00, 0x00, 0x00),    // timestamp 0
			b(0x00, 0x00, 0x04),    // length 4
			b(0x02),                // type 2: Abort
			b(0, 0, 0, 0),          // msid 0
			b(0x00, 0x00, 0x00, 6), // csid 6
			b(0x06),                // fmt 0, csid 6: a new message
			b(0x00, 0x00, 0x28),    // timestamp 40
			b(0x00, 0x00, 0x03),    // length 3
			b(0x09),                // type 9
			b(1, 0, 0, 0),          // msid 1
			b(7, 8, 9),             // payload
		),
		msgs: []chunk.Message{
			{CSID: 2, Type: 2, Payload: b(0, 0, 0, 6)},
			{CSID: 6, Timestamp: 40, Type: 9, StreamID: 1, Payload: b(7, 8, 9)},
		},
	},
	{
		name: "empty-message",
		bytes: cat(
			b(0x05),             // fmt 0, csid 5
			b(0x00, 0x00, 0x07), // timestamp 7
			b(0x00, 0x00, 0x00), // length 0
			b(0x12),             // type 18
			b(1, 0, 0, 0),       // msid 1
		),
		msgs:   []chunk.Message{{CSID: 5, Timestamp: 7, Type: 18, StreamID: 1, Payload: b()}},
		encode: true,
	},
	{
		name: "fmt2-inside-message-is-a-continuation",
		bytes: cat(
			b(0x06),             // fmt 0, csid 6
			b(0x00, 0x00, 0x05), // timestamp 5
			b(0x00, 0x00, 0xC8), // length 200
			b(0x09),             // type 9
			b(1, 0, 0, 0),       // msid 1
			p200[:128],          // chunk 1
			b(0x86),             // fmt 2, csid 6, where fmt 3 belongs
			b(0x00, 0x00, 0x21), // delta 33: ignored inside a message
			p200[128:],          // chunk 2
		),
		msgs: []chunk.Message{{CSID: 6, Timestamp: 5, Type: 9, StreamID: 1, Payload: p200}},
	},
}

var case14Bytes = cat(
	b(0x04),             // fmt 0, csid 4
	b(0x00, 0x00, 0x1A), // timestamp 26
	b(0x00, 0x00, 0x04), // length 4
	b(0x08),             // type 8
	b(1, 0, 0, 0),       // msid 1
	b(1, 2, 3, 4),       // payload
	b(0xC4),             // fmt 3, csid 4: new message, everything inherited
	b(5, 6, 7, 8),       // payload
)

// setChunkSize is a Set Chunk Size message on csid 2 announcing v.
func setChunkSize(v ...byte) []byte {
	return cat(
		b(0x02),             // fmt 0, csid 2
		b(0x00, 0x00, 0x00), // timestamp 0
		b(0x00, 0x00, 0x04), // length 4
		b(0x01),             // type 1: Set Chunk Size
		b(0, 0, 0, 0),       // msid 0
		v,                   // chunk size
	)
}

var errorCases = []errorCase{
	{
		name:    "case24/chunk-size-bit-31",
		bytes:   setChunkSize(0x80, 0x00, 0x10, 0x00),
		wantErr: chunk.ErrProtocol,
	},
	{
		name:    "case24/chunk-size-zero",
		bytes:   setChunkSize(0, 0, 0, 0),
		wantErr: chunk.ErrProtocol,
	},
	{
		name:    "case24/chunk-size-above-maximum",
		cfg:     chunk.Config{MaxChunkSize: 65536},
		bytes:   setChunkSize(0x00, 0x01, 0x00, 0x01), // 65537
		wantErr: chunk.ErrLimit,
	},
	{
		name:    "case24/chunk-size-above-default-maximum",
		bytes:   setChunkSize(0x01, 0x00, 0x00, 0x00), // 16777216
		wantErr: chunk.ErrLimit,
	},
	{
		name:    "case24/chunk-size-127-strict",
		bytes:   setChunkSize(0, 0, 0, 127),
		wantErr: chunk.ErrProtocol,
	},
	{
		name: "case24/chunk-size-short-payload",
		bytes: cat(
			b(0x02),             // fmt 0, csid 2
			b(0x00, 0x00, 0x00), // timestamp 0
			b(0x00, 0x00, 0x02), // length 2
			b(0x01),             // type 1: Set Chunk Size
			b(0, 0, 0, 0),       // msid 0
			b(0x10, 0x00),       // two bytes only
		),
		wantErr: chunk.ErrProtocol,
	},
	{
		name: "case25/fresh-fmt2",
		bytes: cat(
			b(0x83),             // fmt 2, csid 3, never used before
			b(0x00, 0x00, 0x00), // delta 0
		),
		wantErr: chunk.ErrProtocol,
	},
	{
		name:    "case25/fresh-fmt3",
		bytes:   b(0xC3), // fmt 3, csid 3, never used before
		wantErr: chunk.ErrProtocol,
	},
	{
		name: "case25/fresh-fmt1-strict",
		bytes: cat(
			b(0x42),                   // fmt 1, csid 2, never used before
			b(0x00, 0x00, 0x00),       // delta 0
			b(0x00, 0x00, 0x06),       // length 6
			b(0x04),                   // type 4
			b(0, 7, 0, 0, 0x03, 0xE8), // payload
		),
		wantErr: chunk.ErrProtocol,
	},
	{
		name: "case26/abort-short-payload",
		bytes: cat(
			b(0x02),             // fmt 0, csid 2
			b(0x00, 0x00, 0x00), // timestamp 0
			b(0x00, 0x00, 0x01), // length 1
			b(0x02),             // type 2: Abort
			b(0, 0, 0, 0),       // msid 0
			b(0x06),             // one byte only
		),
		wantErr: chunk.ErrProtocol,
	},
	{
		name: "case27/length-above-maximum",
		cfg:  chunk.Config{MaxMessageLength: 1 << 20},
		bytes: cat(
			b(0x06),             // fmt 0, csid 6
			b(0x00, 0x00, 0x00), // timestamp 0
			b(0x10, 0x00, 0x01), // length 1 MiB + 1
			b(0x09),             // type 9
			b(1, 0, 0, 0),       // msid 1
		),
		wantErr: chunk.ErrLimit,
	},
	{
		name: "case27/fmt1-length-above-maximum",
		cfg:  chunk.Config{MaxMessageLength: 1000},
		bytes: cat(
			b(0x06),             // fmt 0, csid 6
			b(0x00, 0x00, 0x00), // timestamp 0
			b(0x00, 0x00, 0x01), // length 1
			b(0x09),             // type 9
			b(1, 0, 0, 0),       // msid 1
			b(0xEE),             // payload
			b(0x46),             // fmt 1, csid 6
			b(0x00, 0x00, 0x01), // delta 1
			b(0x00, 0x03, 0xE9), // length 1001
			b(0x09),             // type 9
		),
		msgs:    1,
		wantErr: chunk.ErrLimit,
	},
	{
		name: "case28/too-many-chunk-streams",
		cfg:  chunk.Config{MaxChunkStreams: 2},
		bytes: cat(
			b(0x03), b(0, 0, 0), b(0, 0, 1), b(0x14), b(0, 0, 0, 0), b(0x05), // csid 3: 1-byte message
			b(0x04), b(0, 0, 0), b(0, 0, 1), b(0x08), b(1, 0, 0, 0), b(0x05), // csid 4: 1-byte message
			b(0x05), b(0, 0, 0), b(0, 0, 1), b(0x09), b(1, 0, 0, 0), b(0x05), // csid 5: one too many
		),
		msgs:    2,
		wantErr: chunk.ErrLimit,
	},
	{
		name: "pending-bytes-above-maximum",
		cfg:  chunk.Config{MaxPendingBytes: 200},
		bytes: cat(
			b(0x04), b(0, 0, 0), b(0, 0, 0xC8), b(0x08), b(1, 0, 0, 0), p200[:128], // csid 4: 128 of 200
			b(0x06), b(0, 0, 0), b(0, 0, 0xC8), b(0x09), b(1, 0, 0, 0), p200[:128], // csid 6: 256 pending
		),
		wantErr: chunk.ErrLimit,
	},
	{
		name: "fmt0-inside-message",
		bytes: cat(
			b(0x06), b(0, 0, 0), b(0, 0, 0xC8), b(0x09), b(1, 0, 0, 0), p200[:128], // csid 6: 128 of 200
			b(0x06), b(0, 0, 0), b(0, 0, 0x10), b(0x09), b(1, 0, 0, 0), // fmt 0 again on csid 6
		),
		wantErr: chunk.ErrProtocol,
	},
	{
		name: "fmt1-changes-unfinished-message",
		bytes: cat(
			b(0x06), b(0, 0, 0), b(0, 0, 0xC8), b(0x09), b(1, 0, 0, 0), p200[:128], // csid 6: 128 of 200
			b(0x46), b(0, 0, 0), b(0, 0, 0x10), b(0x09), // fmt 1 with length 16
		),
		wantErr: chunk.ErrProtocol,
	},
	{
		name: "truncated-inside-message",
		bytes: cat(
			b(0x06), b(0, 0, 0), b(0, 0, 0xC8), b(0x09), b(1, 0, 0, 0), p200[:128], // csid 6: 128 of 200
		),
		wantErr: io.ErrUnexpectedEOF,
	},
	{
		name:    "truncated-header",
		bytes:   b(0x06, 0, 0, 0, 0, 0), // fmt 0, csid 6, 5 of 11 header bytes
		wantErr: io.ErrUnexpectedEOF,
	},
	{
		name:    "truncated-extended-timestamp",
		bytes:   cat(b(0x06), b(0xFF, 0xFF, 0xFF), b(0, 0, 1), b(0x09), b(1, 0, 0, 0), b(0x01, 0x00)),
		wantErr: io.ErrUnexpectedEOF,
	},
}

// readAll reads messages from data until the Reader fails, cloning each.
// It returns the messages and the error that ended the stream (nil for a
// clean io.EOF).
func readAll(cfg chunk.Config, data []byte) ([]chunk.Message, error) {
	r := chunk.NewReader(bytes.NewReader(data), cfg)
	var out []chunk.Message
	for {
		var m chunk.Message
		err := r.ReadMessage(&m)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, *m.Clone())
	}
}

// writeAll encodes msgs with a fresh Writer and returns the chunk stream.
func writeAll(t testing.TB, cfg chunk.Config, msgs []chunk.Message) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := chunk.NewWriter(&buf, cfg)
	for i := range msgs {
		if err := w.WriteMessage(&msgs[i]); err != nil {
			t.Fatalf("WriteMessage %d: %v", i, err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if got := w.BytesWritten(); got != uint64(buf.Len()) {
		t.Errorf("BytesWritten = %d, flushed %d bytes", got, buf.Len())
	}
	return buf.Bytes()
}

func equalMessages(t testing.TB, got, want []chunk.Message) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d messages, want %d:\n got  %s\n want %s", len(got), len(want), describe(got), describe(want))
	}
	for i := range want {
		if !equalMessage(&got[i], &want[i]) {
			t.Errorf("message %d:\n got  %s\n want %s", i, describe(got[i:i+1]), describe(want[i:i+1]))
		}
	}
}

func equalMessage(a, b *chunk.Message) bool {
	return a.CSID == b.CSID && a.Timestamp == b.Timestamp && a.Type == b.Type &&
		a.StreamID == b.StreamID && bytes.Equal(a.Payload, b.Payload)
}

// describe formats messages for failure output, abbreviating payloads.
func describe(msgs []chunk.Message) string {
	var sb strings.Builder
	for i, m := range msgs {
		if i > 0 {
			sb.WriteString(", ")
		}
		p := m.Payload
		suffix := ""
		if len(p) > 8 {
			p, suffix = p[:8], "..."
		}
		fmt.Fprintf(&sb, "{csid %d ts %d type %d msid %d len %d % x%s}",
			m.CSID, m.Timestamp, m.Type, m.StreamID, len(m.Payload), p, suffix)
	}
	return sb.String()
}
