package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/tributary-media/tributary/pkg/rtmp/flv"
)

var (
	// key | AVC, AVCPacketType 0 (sequence header), CTS 0, record.
	avcSeq = []byte{0x17, 0x00, 0x00, 0x00, 0x00, 0x01, 0x64}
	// key | AVC, NALUs, CTS 0, data.
	avcKey = []byte{0x17, 0x01, 0x00, 0x00, 0x00, 0x65, 0x88}
	// AAC, sequence header, AudioSpecificConfig.
	aacSeq = []byte{0xaf, 0x00, 0x12, 0x10}
	// AAC, raw frame.
	aacRaw = []byte{0xaf, 0x01, 0x21, 0x00}
	// "onMetaData" as an AMF0 string, an empty ECMA array.
	meta = []byte{0x02, 0x00, 0x0a, 'o', 'n', 'M', 'e', 't', 'a', 'D', 'a', 't', 'a', 0x08, 0, 0, 0, 0, 0, 0, 9}
)

// parse reads back an FLV file.
func parse(t *testing.T, b []byte) (flv.Header, []flv.Tag) {
	t.Helper()
	r := flv.NewReader(bytes.NewReader(b), flv.ReaderConfig{StrictPreviousTagSize: true})
	h, err := r.ReadHeader()
	if err != nil {
		t.Fatal(err)
	}
	var tags []flv.Tag
	for {
		var tag flv.Tag
		if err := r.ReadTag(&tag); err != nil {
			if errors.Is(err, io.EOF) {
				return h, tags
			}
			t.Fatal(err)
		}
		tags = append(tags, tag.Clone())
	}
}

func TestRecorderHeaderFlags(t *testing.T) {
	type in struct {
		typ  flv.TagType
		ts   uint32
		body []byte
	}
	audioOnly := make([]in, 300)
	for i := range audioOnly {
		audioOnly[i] = in{flv.TagAudio, uint32(i * 23), aacRaw}
	}
	tests := []struct {
		name  string
		tags  []in
		flags byte
		// heldAfter is how many tags are held back after all were added
		// (before finish).
		heldAfter int
	}{
		{"audio and video", []in{{flv.TagScript, 0, meta}, {flv.TagVideo, 0, avcSeq}, {flv.TagAudio, 0, aacSeq}, {flv.TagVideo, 0, avcKey}}, flagAudio | flagVideo, 0},
		{"video only, short", []in{{flv.TagVideo, 0, avcSeq}, {flv.TagVideo, 0, avcKey}}, flagVideo, 2},
		{"audio only, long", audioOnly, flagAudio, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			r := newRecorder(&buf)
			for _, tag := range tc.tags {
				if err := r.add(tag.typ, tag.ts, tag.body); err != nil {
					t.Fatal(err)
				}
			}
			if len(r.held) != tc.heldAfter {
				t.Errorf("%d tags held, want %d", len(r.held), tc.heldAfter)
			}
			if err := r.finish(); err != nil {
				t.Fatal(err)
			}
			if r.flags() != tc.flags || buf.Bytes()[flagsOffset] != tc.flags {
				t.Errorf("flags %#x, header %#x, want %#x", r.flags(), buf.Bytes()[flagsOffset], tc.flags)
			}
			_, got := parse(t, buf.Bytes())
			if len(got) != len(tc.tags) {
				t.Fatalf("%d tags written, want %d", len(got), len(tc.tags))
			}
			for i, tag := range tc.tags {
				if got[i].Type != tag.typ || got[i].Timestamp != tag.ts || !bytes.Equal(got[i].Body, tag.body) {
					t.Errorf("tag %d: %+v, want type %d ts %d body % x", i, got[i], tag.typ, tag.ts, tag.body)
				}
			}
		})
	}
}

// TestRecorderFixesFlagsOfFile records video for longer than the hold
// span, then audio: the header goes out with the video flag only and is
// corrected when the file is closed.
func TestRecorderFixesFlagsOfFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.flv")
	out, closeOut, err := openOutput(path)
	if err != nil {
		t.Fatal(err)
	}
	r := newRecorder(out)
	if err := r.add(flv.TagVideo, 0, avcKey); err != nil {
		t.Fatal(err)
	}
	if err := r.add(flv.TagVideo, 2500, avcKey); err != nil { // past holdSpan: released
		t.Fatal(err)
	}
	if r.w == nil {
		t.Fatal("tags still held after 2.5 s of media")
	}
	if err := r.add(flv.TagAudio, 2510, aacRaw); err != nil {
		t.Fatal(err)
	}
	if err := r.finish(); err != nil {
		t.Fatal(err)
	}
	if err := closeOut(r.flags()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h, tags := parse(t, b)
	if !h.Audio || !h.Video || len(tags) != 3 {
		t.Errorf("header %+v with %d tags, want audio and video flags and 3 tags", h, len(tags))
	}
	if r.first != 0 || r.last != 2510 || r.frames != 3 {
		t.Errorf("first %d last %d frames %d, want 0, 2510, 3", r.first, r.last, r.frames)
	}
}

func TestRecorderCountsFramesNotSequenceHeaders(t *testing.T) {
	r := newRecorder(bufio.NewWriter(io.Discard))
	// A late joiner: metadata and sequence headers with the timestamps
	// they were published with, then the GOP.
	for _, tag := range []struct {
		typ  flv.TagType
		ts   uint32
		body []byte
	}{{flv.TagScript, 0, meta}, {flv.TagVideo, 0, avcSeq}, {flv.TagAudio, 0, aacSeq}, {flv.TagVideo, 6000, avcKey}, {flv.TagAudio, 6010, aacRaw}} {
		if err := r.add(tag.typ, tag.ts, tag.body); err != nil {
			t.Fatal(err)
		}
	}
	if r.frames != 2 || r.first != 6000 || r.last != 6010 {
		t.Errorf("frames %d from %d to %d, want 2 from 6000 to 6010", r.frames, r.first, r.last)
	}
}
