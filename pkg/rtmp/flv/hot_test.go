package flv_test

import (
	"testing"

	"github.com/tributary-media/tributary/pkg/rtmp/flv"
)

var hotCases = []struct {
	name  string
	typ   flv.TagType
	body  []byte
	key   bool
	seq   bool
	codec flv.Codec
}{
	{"legacy-avc-key-nalu", flv.TagVideo, []byte{0x17, 0x01, 0, 0, 0}, true, false, flv.CodecAVC},
	{"legacy-avc-inter-nalu", flv.TagVideo, []byte{0x27, 0x01, 0, 0, 0}, false, false, flv.CodecAVC},
	{"legacy-avc-sequence-header", flv.TagVideo, []byte{0x17, 0x00, 0, 0, 0, 1}, false, true, flv.CodecAVC},
	{"legacy-avc-end-of-sequence", flv.TagVideo, []byte{0x17, 0x02, 0, 0, 0}, false, false, flv.CodecAVC},
	{"legacy-avc-generated-key", flv.TagVideo, []byte{0x47, 0x01, 0, 0, 0}, true, false, flv.CodecAVC},
	{"legacy-avc-command", flv.TagVideo, []byte{0x57, 0x00}, false, false, flv.CodecAVC},
	{"legacy-avc-one-byte", flv.TagVideo, []byte{0x17}, false, false, flv.CodecAVC},
	{"legacy-hevc-12-sequence-header", flv.TagVideo, []byte{0x1c, 0x00, 0, 0, 0}, false, true, flv.CodecHEVC},
	{"legacy-vp6-key", flv.TagVideo, []byte{0x14, 0x00}, true, false, flv.CodecVP6},
	{"legacy-h263-inter", flv.TagVideo, []byte{0x22, 0x00}, false, false, flv.CodecH263},
	{"legacy-unknown-codec-key", flv.TagVideo, []byte{0x1f, 0x00}, false, false, flv.CodecUnknown},
	{"ex-hvc1-sequence-start", flv.TagVideo, cat([]byte{0x90}, fourCC("hvc1"), []byte{1}), false, true, flv.CodecHEVC},
	{"ex-hvc1-key-coded-frames", flv.TagVideo, cat([]byte{0x91}, fourCC("hvc1"), []byte{0, 0, 0}), true, false, flv.CodecHEVC},
	{"ex-av01-key-coded-frames-x", flv.TagVideo, cat([]byte{0x93}, fourCC("av01")), true, false, flv.CodecAV1},
	{"ex-vp09-inter", flv.TagVideo, cat([]byte{0xa1}, fourCC("vp09")), false, false, flv.CodecVP9},
	{"ex-av01-mpeg2ts-sequence-start", flv.TagVideo, cat([]byte{0x95}, fourCC("av01")), false, true, flv.CodecAV1},
	{"ex-metadata", flv.TagVideo, cat([]byte{0xd4}, fourCC("hvc1")), false, false, flv.CodecHEVC},
	{"ex-command", flv.TagVideo, []byte{0xd1, 0x00}, false, false, flv.CodecUnknown},
	{"ex-command-packet-type-0", flv.TagVideo, []byte{0xd0, 0x00}, false, false, flv.CodecUnknown},
	{"ex-modex-key-coded-frames", flv.TagVideo, cat([]byte{0x97, 0x02, 0, 0, 1, 0x01}, fourCC("hvc1"), []byte{0, 0, 0}), true, false, flv.CodecHEVC},
	{"ex-modex-sequence-start", flv.TagVideo, cat([]byte{0x97, 0x02, 0, 0, 1, 0x00}, fourCC("av01")), false, true, flv.CodecAV1},
	{"ex-multitrack-sequence-start", flv.TagVideo, cat([]byte{0x96, 0x10}, fourCC("hvc1"), []byte{0, 0, 0, 1, 1}), false, true, flv.CodecHEVC},
	{"ex-multitrack-key-frames", flv.TagVideo, cat([]byte{0x96, 0x13}, fourCC("hvc1"), []byte{0, 0, 0, 0}), true, false, flv.CodecHEVC},
	{"ex-many-codecs-first-track", flv.TagVideo, cat([]byte{0x96, 0x20}, fourCC("av01"), []byte{0, 0, 0, 0}), false, true, flv.CodecAV1},
	{"ex-truncated-modex", flv.TagVideo, []byte{0x97, 0x05}, false, false, flv.CodecUnknown},
	{"ex-unknown-fourcc", flv.TagVideo, cat([]byte{0x91}, fourCC("xxxx")), true, false, flv.CodecUnknown},
	{"ex-truncated-fourcc", flv.TagVideo, []byte{0x91, 'h'}, false, false, flv.CodecUnknown},
	{"legacy-aac-sequence-header", flv.TagAudio, []byte{0xaf, 0x00, 0x12, 0x10}, false, true, flv.CodecAAC},
	{"legacy-aac-raw", flv.TagAudio, []byte{0xaf, 0x01, 0x21}, false, false, flv.CodecAAC},
	{"legacy-aac-one-byte", flv.TagAudio, []byte{0xaf}, false, false, flv.CodecAAC},
	{"legacy-mp3", flv.TagAudio, []byte{0x2f, 0xff}, false, false, flv.CodecMP3},
	{"audio-silence", flv.TagAudio, []byte{}, false, false, flv.CodecUnknown},
	{"ex-opus-sequence-start", flv.TagAudio, cat([]byte{0x90}, fourCC("Opus")), false, true, flv.CodecOpus},
	{"ex-opus-coded-frames", flv.TagAudio, cat([]byte{0x91}, fourCC("Opus"), []byte{0xfc}), false, false, flv.CodecOpus},
	{"ex-flac-modex-sequence-start", flv.TagAudio, cat([]byte{0x97, 0x02, 0, 0, 1, 0x00}, fourCC("fLaC")), false, true, flv.CodecFLAC},
	{"ex-audio-multitrack-sequence-start", flv.TagAudio, cat([]byte{0x95, 0x20}, fourCC("mp4a"), []byte{0, 0, 0, 0}), false, true, flv.CodecAAC},
	{"ex-audio-multichannel", flv.TagAudio, cat([]byte{0x94}, fourCC("Opus"), []byte{0, 2}), false, false, flv.CodecOpus},
	{"script", flv.TagScript, []byte{0x02, 0x00, 0x0a}, false, false, flv.CodecUnknown},
	{"same-byte-as-audio-is-adpcm", flv.TagAudio, []byte{0x17, 0x00, 0, 0, 0}, false, false, flv.CodecADPCM},
}

func TestHotPathChecks(t *testing.T) {
	for _, c := range hotCases {
		t.Run(c.name, func(t *testing.T) {
			if got := flv.IsKeyframe(c.typ, c.body); got != c.key {
				t.Errorf("IsKeyframe = %v, want %v", got, c.key)
			}
			if got := flv.IsSequenceHeader(c.typ, c.body); got != c.seq {
				t.Errorf("IsSequenceHeader = %v, want %v", got, c.seq)
			}
			if got := flv.TagCodec(c.typ, c.body); got != c.codec {
				t.Errorf("TagCodec = %v, want %v", got, c.codec)
			}
		})
	}
}

// The hot-path checks must agree with the full parsers on every valid header case.
func TestHotPathChecksAgreeWithParsers(t *testing.T) {
	for _, c := range videoCases {
		h, err := flv.ParseVideoHeader(c.bytes)
		if err != nil {
			t.Fatal(err)
		}
		coded := h.PacketType == flv.VideoPacketCodedFrames || h.PacketType == flv.VideoPacketCodedFramesX
		key := !h.HasCommand && coded && (h.FrameType == flv.VideoFrameKey || h.FrameType == flv.VideoFrameGeneratedKey)
		seq := !h.HasCommand && (h.PacketType == flv.VideoPacketSequenceStart || h.PacketType == flv.VideoPacketMPEG2TSSequenceStart)
		if got := flv.IsKeyframe(flv.TagVideo, c.bytes); got != key {
			t.Errorf("%s: IsKeyframe %v, parser says %v", c.name, got, key)
		}
		if got := flv.IsSequenceHeader(flv.TagVideo, c.bytes); got != seq {
			t.Errorf("%s: IsSequenceHeader %v, parser says %v", c.name, got, seq)
		}
		if got := flv.TagCodec(flv.TagVideo, c.bytes); got != h.Codec && !(h.HasCommand && h.Enhanced) {
			t.Errorf("%s: TagCodec %v, parser says %v", c.name, got, h.Codec)
		}
	}
	for _, c := range audioCases {
		h, err := flv.ParseAudioHeader(c.bytes)
		if err != nil {
			t.Fatal(err)
		}
		if got := flv.IsSequenceHeader(flv.TagAudio, c.bytes); got != (!h.Silence && h.PacketType == flv.AudioPacketSequenceStart) {
			t.Errorf("%s: IsSequenceHeader %v, parser says packet type %d", c.name, got, h.PacketType)
		}
		if got := flv.TagCodec(flv.TagAudio, c.bytes); got != h.Codec {
			t.Errorf("%s: TagCodec %v, parser says %v", c.name, got, h.Codec)
		}
	}
}

// TestZeroAllocs enforces the zero-allocation contract of the per-message
// paths: tag framing, the hot-path checks and single- and multitrack header
// parsing with track iteration.
func TestZeroAllocs(t *testing.T) {
	body := cat([]byte{0x91}, fourCC("hvc1"), []byte{0, 0, 0x28}, make([]byte, 1000))
	multi := videoBytes("ex-vp08-and-vvc1")
	audio := audioBytes("ex-multitrack-many-tracks")
	tag, err := flv.AppendTag(nil, flv.TagVideo, 40, body)
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]byte, 0, 2048)
	checks := map[string]func(){
		"AppendTag": func() {
			if _, err := flv.AppendTag(dst[:0], flv.TagVideo, 40, body); err != nil {
				t.Fatal(err)
			}
		},
		"ParseTag": func() {
			if _, _, err := flv.ParseTag(tag); err != nil {
				t.Fatal(err)
			}
		},
		"IsKeyframe":       func() { flv.IsKeyframe(flv.TagVideo, body) },
		"IsSequenceHeader": func() { flv.IsSequenceHeader(flv.TagVideo, body) },
		"TagCodec":         func() { flv.TagCodec(flv.TagVideo, body) },
		"ParseVideoHeader": func() {
			if _, err := flv.ParseVideoHeader(body); err != nil {
				t.Fatal(err)
			}
		},
		"ParseVideoHeader-multitrack-iterate": func() {
			h, err := flv.ParseVideoHeader(multi)
			if err != nil {
				t.Fatal(err)
			}
			var tr flv.VideoTrack
			for it := h.Tracks(); it.Next(&tr); {
			}
		},
		"ParseAudioHeader-multitrack-iterate": func() {
			h, err := flv.ParseAudioHeader(audio)
			if err != nil {
				t.Fatal(err)
			}
			var tr flv.AudioTrack
			for it := h.Tracks(); it.Next(&tr); {
			}
		},
		"AppendVideo": func() {
			h := flv.VideoHeader{Enhanced: true, FrameType: flv.VideoFrameKey, PacketType: flv.VideoPacketCodedFrames,
				VideoTrack: flv.VideoTrack{Codec: flv.CodecHEVC, CompositionTime: 40, Data: body[8:]}}
			if _, err := flv.AppendVideo(dst[:0], &h); err != nil {
				t.Fatal(err)
			}
		},
		"AppendAudio": func() {
			h := flv.AudioHeader{Enhanced: true, PacketType: flv.AudioPacketCodedFrames, AudioTrack: flv.AudioTrack{Codec: flv.CodecOpus, Data: body[8:]}}
			if _, err := flv.AppendAudio(dst[:0], &h); err != nil {
				t.Fatal(err)
			}
		},
	}
	for name, f := range checks {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocations per run, want 0", name, n)
		}
	}
}

// onMetaData codec ids (PROTOCOL.md 7.4): legacy numbers or FourCCs as
// numbers.
func TestMetadataCodecIDs(t *testing.T) {
	cases := []struct {
		id    float64
		video bool
		codec flv.Codec
	}{
		{7, true, flv.CodecAVC},
		{2, true, flv.CodecH263},
		{1635135537, true, flv.CodecAV1},  // "av01"
		{1752589105, true, flv.CodecHEVC}, // "hvc1"
		{10, false, flv.CodecAAC},
		{2, false, flv.CodecMP3},
		{0, false, flv.CodecPCM},
		{1332770163, false, flv.CodecOpus}, // "Opus"
		{1716281667, false, flv.CodecFLAC}, // "fLaC"
	}
	for _, c := range cases {
		got := flv.AudioCodecFromID(c.id)
		if c.video {
			got = flv.VideoCodecFromID(c.id)
		}
		if got != c.codec {
			t.Errorf("id %v (video %v) = %v, want %v", c.id, c.video, got, c.codec)
		}
		if id := c.codec.MetadataID(); id != c.id && !(c.codec == flv.CodecHEVC && id == 1752589105) {
			t.Errorf("%v.MetadataID() = %v, want %v", c.codec, id, c.id)
		}
	}
	for _, id := range []float64{-1, 7.5, 9, 1e12, 1635135538} {
		if c := flv.VideoCodecFromID(id); c != flv.CodecUnknown {
			t.Errorf("VideoCodecFromID(%v) = %v", id, c)
		}
	}
	if c := flv.AudioCodecFromID(1635135537); c != flv.CodecUnknown {
		t.Errorf("a video FourCC as audiocodecid gave %v", c)
	}
	if flv.CodecHEVC.MetadataID() != 1752589105 || flv.CodecUnknown.MetadataID() != 0 {
		t.Error("MetadataID of HEVC or unknown")
	}
	if flv.MakeFourCC("av01") != flv.FourCCAV1 || flv.MakeFourCC("toolong") != 0 || flv.FourCCOpus.String() != "Opus" || flv.FourCC(1).String() != `"\x00\x00\x00\x01"` {
		t.Error("FourCC functions")
	}
}
