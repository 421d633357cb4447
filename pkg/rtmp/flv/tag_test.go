package flv_test

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/tributary-media/tributary/pkg/rtmp/flv"
)

// tagCases drive ParseTag, AppendTo/AppendTag and the FuzzTag seeds.
var tagCases = []struct {
	name  string
	bytes []byte
	value flv.Tag
}{
	{
		name: "video-avc-keyframe",
		bytes: []byte{
			0x09,             // TagType video
			0x00, 0x00, 0x05, // DataSize 5
			0x00, 0x00, 0x28, // Timestamp 40
			0x00,             // TimestampExtended
			0x00, 0x00, 0x00, // StreamID
			0x17, 0x01, 0x00, 0x00, 0x00, // body: key AVC NALU, cts 0
			0x00, 0x00, 0x00, 0x10, // PreviousTagSize 11+5
		},
		value: flv.Tag{Type: flv.TagVideo, Timestamp: 40, Body: []byte{0x17, 0x01, 0x00, 0x00, 0x00}},
	},
	{
		name: "audio-extended-timestamp",
		bytes: []byte{
			0x08,             // TagType audio
			0x00, 0x00, 0x02, // DataSize 2
			0x34, 0x56, 0x78, // Timestamp low 24 bits
			0x12,             // TimestampExtended: bits 31..24
			0x00, 0x00, 0x00, // StreamID
			0xaf, 0x01, // body: AAC raw
			0x00, 0x00, 0x00, 0x0d, // PreviousTagSize 13
		},
		value: flv.Tag{Type: flv.TagAudio, Timestamp: 0x12345678, Body: []byte{0xaf, 0x01}},
	},
	{
		name: "script-empty-body",
		bytes: []byte{
			0x12,             // TagType script data
			0x00, 0x00, 0x00, // DataSize 0
			0x00, 0x00, 0x00, // Timestamp
			0x00,             // TimestampExtended
			0x00, 0x00, 0x00, // StreamID
			0x00, 0x00, 0x00, 0x0b, // PreviousTagSize 11
		},
		value: flv.Tag{Type: flv.TagScript, Body: []byte{}},
	},
	{
		name: "filter-bit-and-stream-id-kept",
		bytes: []byte{
			0x29,             // reserved 00, Filter 1, TagType 9
			0x00, 0x00, 0x01, // DataSize 1
			0xff, 0xff, 0xff, // Timestamp 0xFFFFFF
			0xff,             // TimestampExtended
			0x00, 0x00, 0x07, // StreamID 7 (non-conforming, kept)
			0x27,                   // body
			0x00, 0x00, 0x00, 0x0c, // PreviousTagSize 12
		},
		value: flv.Tag{Type: 0x29, Timestamp: 0xffffffff, StreamID: 7, Body: []byte{0x27}},
	},
}

func TestParseTag(t *testing.T) {
	for _, c := range tagCases {
		t.Run(c.name, func(t *testing.T) {
			// Trailing bytes belong to the next tag and are not consumed.
			in := append(append([]byte(nil), c.bytes...), 0x08, 0x00)
			got, n, err := flv.ParseTag(in)
			if err != nil {
				t.Fatalf("ParseTag: %v", err)
			}
			if n != len(c.bytes) || n != got.Size() {
				t.Errorf("consumed %d, Size %d, want %d", n, got.Size(), len(c.bytes))
			}
			if got.Type != c.value.Type || got.Timestamp != c.value.Timestamp || got.StreamID != c.value.StreamID || !bytes.Equal(got.Body, c.value.Body) {
				t.Errorf("got %+v, want %+v", got, c.value)
			}
			if cap(got.Body) != len(got.Body) {
				t.Errorf("Body capacity %d reaches past the body (%d): appends would overwrite the input", cap(got.Body), len(got.Body))
			}
		})
	}
}

func TestAppendTag(t *testing.T) {
	for _, c := range tagCases {
		t.Run(c.name, func(t *testing.T) {
			prefix := []byte("keep")
			got, err := c.value.AppendTo(append([]byte(nil), prefix...))
			if err != nil {
				t.Fatalf("AppendTo: %v", err)
			}
			if !bytes.Equal(got, append(prefix, c.bytes...)) {
				t.Errorf("AppendTo\n got % x\nwant % x", got, append(prefix, c.bytes...))
			}
			if c.value.StreamID != 0 {
				return
			}
			got, err = flv.AppendTag(nil, c.value.Type, c.value.Timestamp, c.value.Body)
			if err != nil || !bytes.Equal(got, c.bytes) {
				t.Errorf("AppendTag = % x, %v; want % x", got, err, c.bytes)
			}
		})
	}
}

func TestParseTagErrors(t *testing.T) {
	valid := tagCases[0].bytes
	cases := []struct {
		name string
		in   []byte
		want error // nil: any error
	}{
		{"empty", nil, io.ErrUnexpectedEOF},
		{"short-header", valid[:10], io.ErrUnexpectedEOF},
		{"short-body", valid[:13], io.ErrUnexpectedEOF},
		{"missing-previous-tag-size", valid[:len(valid)-1], io.ErrUnexpectedEOF},
		{"previous-tag-size-mismatch", append(append([]byte(nil), valid[:len(valid)-1]...), 0x11), nil},
		{"data-size-beyond-buffer", []byte{0x09, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, io.ErrUnexpectedEOF},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := flv.ParseTag(c.in)
			if err == nil {
				t.Fatal("no error")
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Errorf("error %v, want %v", err, c.want)
			}
		})
	}
}

func TestAppendTagLimits(t *testing.T) {
	big := make([]byte, flv.MaxTagBodySize+1)
	if _, err := flv.AppendTag(nil, flv.TagVideo, 0, big); err == nil {
		t.Error("AppendTag accepted a body above MaxTagBodySize")
	}
	out, err := flv.AppendTag(nil, flv.TagVideo, 0, big[:flv.MaxTagBodySize])
	if err != nil || len(out) != flv.MaxTagBodySize+flv.TagOverhead {
		t.Errorf("AppendTag at the limit: %d bytes, %v", len(out), err)
	}
	tag := flv.Tag{Type: flv.TagVideo, StreamID: 1 << 24}
	if _, err := tag.AppendTo(nil); err == nil {
		t.Error("AppendTo accepted a stream id above 24 bits")
	}
}

func TestTagClone(t *testing.T) {
	body := []byte{1, 2, 3}
	tag := flv.Tag{Type: flv.TagAudio, Timestamp: 9, Body: body}
	c := tag.Clone()
	body[0] = 0xff
	if !reflect.DeepEqual(c, flv.Tag{Type: flv.TagAudio, Timestamp: 9, Body: []byte{1, 2, 3}}) {
		t.Errorf("clone changed with the original: %+v", c)
	}
}

// headerCases drive ParseHeader and AppendHeader.
var headerCases = []struct {
	name  string
	bytes []byte
	value flv.Header
}{
	{
		name: "audio-video",
		bytes: []byte{
			'F', 'L', 'V', // Signature
			0x01,                   // Version
			0x05,                   // TypeFlags: audio (0x04) + video (0x01)
			0x00, 0x00, 0x00, 0x09, // DataOffset
			0x00, 0x00, 0x00, 0x00, // PreviousTagSize0
		},
		value: flv.Header{Version: 1, Audio: true, Video: true},
	},
	{
		name: "video-only",
		bytes: []byte{
			'F', 'L', 'V', // Signature
			0x01,                   // Version
			0x01,                   // TypeFlags: video
			0x00, 0x00, 0x00, 0x09, // DataOffset
			0x00, 0x00, 0x00, 0x00, // PreviousTagSize0
		},
		value: flv.Header{Version: 1, Video: true},
	},
}

func TestHeader(t *testing.T) {
	for _, c := range headerCases {
		t.Run(c.name, func(t *testing.T) {
			h, n, err := flv.ParseHeader(c.bytes)
			if err != nil || n != flv.HeaderSize || h != c.value {
				t.Errorf("ParseHeader = %+v, %d, %v; want %+v, %d", h, n, err, c.value, flv.HeaderSize)
			}
			if got := flv.AppendHeader(nil, c.value); !bytes.Equal(got, c.bytes) {
				t.Errorf("AppendHeader = % x, want % x", got, c.bytes)
			}
		})
	}
	// A larger DataOffset moves the first tag; reserved flag bits are
	// ignored.
	long := []byte{'F', 'L', 'V', 1, 0xff, 0, 0, 0, 12, 0xaa, 0xbb, 0xcc, 0, 0, 0, 0}
	h, n, err := flv.ParseHeader(long)
	if err != nil || n != 16 || h != (flv.Header{Version: 1, Audio: true, Video: true}) {
		t.Errorf("ParseHeader(DataOffset 12) = %+v, %d, %v", h, n, err)
	}
	for name, in := range map[string][]byte{
		"bad-signature":   []byte("FLX\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00"),
		"offset-below-9":  {'F', 'L', 'V', 1, 5, 0, 0, 0, 8, 0, 0, 0, 0},
		"offset-huge":     {'F', 'L', 'V', 1, 5, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0},
		"truncated":       {'F', 'L', 'V', 1},
		"no-prev-size-0":  {'F', 'L', 'V', 1, 5, 0, 0, 0, 9},
		"signature-short": {'G', 'I', 'F'},
	} {
		if _, _, err := flv.ParseHeader(in); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
