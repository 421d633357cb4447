package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/tributary-media/tributary/pkg/rtmp/flv"
)

// Tag bodies of a tiny H.264/AAC file.
var (
	// "onMetaData", ECMA array with no entries.
	bodyMeta = []byte{
		0x02, 0x00, 0x0a, 'o', 'n', 'M', 'e', 't', 'a', 'D', 'a', 't', 'a', // string "onMetaData"
		0x08, 0x00, 0x00, 0x00, 0x00, // ECMA array, count 0
		0x00, 0x00, 0x09, // object end
	}
	bodyAVCSeq = []byte{
		0x17,             // keyframe, AVC
		0x00,             // AVC sequence header
		0x00, 0x00, 0x00, // composition time
		0x01, 0x42, 0xc0, 0x1e, 0xff, 0xe0, 0x00, 0x01, 0xce, // record: version 1, profile 66, no SPS, 1 PPS...
	}
	bodyAACSeq = []byte{
		0xaf,       // AAC, 44 kHz, 16-bit, stereo
		0x00,       // AAC sequence header
		0x12, 0x10, // AudioSpecificConfig: LC, 44.1 kHz, 2 channels
	}
	bodyEOS = []byte{
		0x17,             // keyframe, AVC
		0x02,             // AVC end of sequence
		0x00, 0x00, 0x00, // composition time
	}
)

// videoFrame returns a coded AVC frame body whose NAL unit carries id.
func videoFrame(key bool, id byte) []byte {
	first := byte(0x27) // inter frame, AVC
	nal := byte(0x41)   // non-IDR slice
	if key {
		first, nal = 0x17, 0x65 // keyframe, IDR slice
	}
	return []byte{first, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, nal, id}
}

func audioFrame(id byte) []byte { return []byte{0xaf, 0x01, 0x21, id} }

type testTag struct {
	typ  flv.TagType
	ts   uint32
	body []byte
}

func flvFile(t *testing.T, tags []testTag) []byte {
	t.Helper()
	b := flv.AppendHeader(nil, flv.Header{Audio: true, Video: true})
	for _, tg := range tags {
		var err error
		if b, err = flv.AppendTag(b, tg.typ, tg.ts, tg.body); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// tinyFile is 25 fps video with a keyframe every 3 frames and AAC every
// 23 ms, starting at 1000 ms (timestamps are rebased to 0), ending with an
// end-of-sequence tag as ffmpeg writes it.
func tinyFile() []testTag {
	return []testTag{
		{flv.TagScript, 1000, bodyMeta},
		{flv.TagVideo, 1000, bodyAVCSeq},
		{flv.TagAudio, 1000, bodyAACSeq},
		{flv.TagVideo, 1000, videoFrame(true, 0)},
		{flv.TagAudio, 1000, audioFrame(0)},
		{flv.TagAudio, 1023, audioFrame(1)},
		{flv.TagVideo, 1040, videoFrame(false, 1)},
		{flv.TagAudio, 1046, audioFrame(2)},
		{flv.TagAudio, 1069, audioFrame(3)},
		{flv.TagVideo, 1080, videoFrame(false, 2)},
		{flv.TagVideo, 1120, videoFrame(true, 3)},
		{flv.TagVideo, 1120, bodyEOS},
	}
}

func TestReadMedia(t *testing.T) {
	m, err := readMedia("tiny.flv", bytes.NewReader(flvFile(t, tinyFile())))
	if err != nil {
		t.Fatal(err)
	}
	if m.videoFrames != 4 || m.frameInterval != 40 || m.keyInterval != 120 {
		t.Errorf("videoFrames %d, frameInterval %d, keyInterval %d; want 4, 40, 120", m.videoFrames, m.frameInterval, m.keyInterval)
	}
	// The last video frame is at 120 ms: the next pass starts one frame
	// interval later (audio ends earlier, at 69 + 23 ms).
	if m.loop != 160 {
		t.Errorf("loop = %d ms, want 160", m.loop)
	}
	var got []string
	for _, tg := range m.tags {
		kind := map[flv.TagType]string{flv.TagAudio: "a", flv.TagVideo: "v", flv.TagScript: "s"}[tg.typ]
		switch {
		case tg.setup:
			kind += "-setup"
		case tg.frame:
			kind += "-frame"
		}
		got = append(got, kind)
		if tg.ts > 120 {
			t.Errorf("tag at %d ms: timestamps are not rebased to the first tag", tg.ts)
		}
	}
	// The end-of-sequence tag is dropped: the stream goes on looping.
	want := "s-setup v-setup a-setup v-frame a a v-frame a a v-frame v-frame"
	if g := strings.Join(got, " "); g != want {
		t.Errorf("tags:\n got %s\nwant %s", g, want)
	}
	if m.fps() != 25 {
		t.Errorf("fps = %v, want 25", m.fps())
	}
}

func TestReadMediaErrors(t *testing.T) {
	tests := []struct {
		name string
		tags []testTag
		want string
	}{
		{"no video frames", []testTag{{flv.TagAudio, 0, audioFrame(0)}}, "no coded video frames"},
		{"video timestamps go back", []testTag{
			{flv.TagVideo, 40, videoFrame(true, 0)},
			{flv.TagVideo, 0, videoFrame(false, 1)},
		}, "strictly increasing"},
		{"repeated video timestamp", []testTag{
			{flv.TagVideo, 0, videoFrame(true, 0)},
			{flv.TagVideo, 0, videoFrame(false, 1)},
		}, "strictly increasing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readMedia("bad.flv", bytes.NewReader(flvFile(t, tt.tags)))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
	if _, err := readMedia("truncated.flv", bytes.NewReader(flvFile(t, tinyFile())[:40])); err == nil {
		t.Error("a truncated file was accepted")
	}
}

// TestCursorLoops checks what publishers send: setup tags never (they go
// out separately on each connection), every other tag once per pass with
// timestamps that keep increasing across passes.
func TestCursorLoops(t *testing.T) {
	m, err := readMedia("tiny.flv", bytes.NewReader(flvFile(t, tinyFile())))
	if err != nil {
		t.Fatal(err)
	}
	c := cursor{m: m}
	var ts []uint32
	for range 16 {
		tag, at := c.next()
		if tag.setup {
			t.Fatalf("cursor returned a setup tag at %d ms", at)
		}
		ts = append(ts, at)
	}
	want := []uint32{0, 0, 23, 40, 46, 69, 80, 120, 160, 160, 183, 200, 206, 229, 240, 280}
	for i := range want {
		if ts[i] != want[i] {
			t.Fatalf("timestamps %v, want %v", ts, want)
		}
	}
	c.skipUntil(450)
	if got := c.ts(); got != 480 {
		t.Fatalf("after skipUntil(450) the next tag is at %d ms, want 480 (pass 3 starts at 480)", got)
	}
}
