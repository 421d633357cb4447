package flv_test

import (
	"errors"
	"testing"

	"github.com/tributary-media/tributary/pkg/rtmp/flv"
)

// TestCase48EnhancedRTMP is PROTOCOL.md section 9 case 48.
func TestCase48EnhancedRTMP(t *testing.T) {
	t.Run("video-0x90-hvc1-sequence-start-is-hevc-config", func(t *testing.T) {
		record := hevcRecord240(t)
		body := cat([]byte{0x90}, fourCC("hvc1"), record) // ex, key, SequenceStart
		h, err := flv.ParseVideoHeader(body)
		if err != nil {
			t.Fatal(err)
		}
		if !h.Enhanced || h.FrameType != flv.VideoFrameKey || h.PacketType != flv.VideoPacketSequenceStart || h.Codec != flv.CodecHEVC {
			t.Fatalf("header %+v", h)
		}
		if !flv.IsSequenceHeader(flv.TagVideo, body) || flv.IsKeyframe(flv.TagVideo, body) || flv.TagCodec(flv.TagVideo, body) != flv.CodecHEVC {
			t.Error("hot-path checks disagree with the header")
		}
		vc, err := flv.ParseVideoConfig(h.Codec, h.Data)
		if err != nil {
			t.Fatalf("the SequenceStart body is not an HEVC configuration record: %v", err)
		}
		if vc.Width != 320 || vc.Height != 240 {
			t.Errorf("config %+v, want 320x240", vc)
		}
	})
	t.Run("video-0x93-coded-frames-x-has-no-composition-time", func(t *testing.T) {
		nalus := []byte{0x00, 0x00, 0x00, 0x03, 0x02, 0x01, 0xd0}
		body := cat([]byte{0x93}, fourCC("hvc1"), nalus) // ex, key, CodedFramesX
		h, err := flv.ParseVideoHeader(body)
		if err != nil {
			t.Fatal(err)
		}
		if h.PacketType != flv.VideoPacketCodedFramesX || h.CompositionTime != 0 || string(h.Data) != string(nalus) {
			t.Errorf("CodedFramesX: packet type %d, cts %d, data % x; want the NALUs right after the FourCC", h.PacketType, h.CompositionTime, h.Data)
		}
		if !flv.IsKeyframe(flv.TagVideo, body) || flv.IsSequenceHeader(flv.TagVideo, body) {
			t.Error("key CodedFramesX not reported as a key frame")
		}
		// The same bytes as CodedFrames (0x91) lose their first three bytes
		// to the SI24 composition time.
		h1, err := flv.ParseVideoHeader(cat([]byte{0x91}, fourCC("hvc1"), nalus))
		if err != nil || h1.CompositionTime != 0 || string(h1.Data) != string(nalus[3:]) {
			t.Errorf("CodedFrames: cts %d, %d data bytes, %v", h1.CompositionTime, len(h1.Data), err)
		}
	})
	t.Run("multitrack-many-tracks-split-by-size", func(t *testing.T) {
		body := cat(
			[]byte{0xa6},                   // ex, inter, Multitrack
			[]byte{0x13},                   // ManyTracks, CodedFramesX
			fourCC("hvc1"),                 // shared FourCC
			[]byte{0x00, 0x00, 0x00, 0x03}, // trackId 0, sizeOfTrack 3
			[]byte{0xa0, 0xa1, 0xa2},       // track 0 data
			[]byte{0x05, 0x00, 0x00, 0x02}, // trackId 5, sizeOfTrack 2
			[]byte{0xb0, 0xb1},             // track 5 data
		)
		h, err := flv.ParseVideoHeader(body)
		if err != nil {
			t.Fatal(err)
		}
		if !h.Multitrack || h.MultitrackType != flv.ManyTracks || h.NumTracks != 2 {
			t.Fatalf("header %+v", h)
		}
		var got []flv.VideoTrack
		var tr flv.VideoTrack
		for it := h.Tracks(); it.Next(&tr); {
			got = append(got, tr)
		}
		if len(got) != 2 || got[0].ID != 0 || string(got[0].Data) != "\xa0\xa1\xa2" || got[1].ID != 5 || string(got[1].Data) != "\xb0\xb1" {
			t.Errorf("tracks %+v", got)
		}
		for _, tr := range got {
			if tr.Codec != flv.CodecHEVC {
				t.Errorf("track %d codec %v", tr.ID, tr.Codec)
			}
		}
	})
	t.Run("audio-0x90-opus-sequence-start", func(t *testing.T) {
		opusHead := []byte{'O', 'p', 'u', 's', 'H', 'e', 'a', 'd', 1, 2, 0x38, 0x01, 0x80, 0xbb, 0, 0, 0, 0, 0}
		body := cat([]byte{0x90}, fourCC("Opus"), opusHead) // ExHeader, SequenceStart
		h, err := flv.ParseAudioHeader(body)
		if err != nil {
			t.Fatal(err)
		}
		if !h.Enhanced || h.PacketType != flv.AudioPacketSequenceStart || h.Codec != flv.CodecOpus || string(h.Data) != string(opusHead) {
			t.Errorf("header %+v", h)
		}
		if !flv.IsSequenceHeader(flv.TagAudio, body) || flv.TagCodec(flv.TagAudio, body) != flv.CodecOpus {
			t.Error("hot-path checks disagree with the header")
		}
	})
	t.Run("unknown-fourcc-fails-cleanly", func(t *testing.T) {
		for _, body := range [][]byte{
			cat([]byte{0x90}, fourCC("xvid")),                                 // video
			cat([]byte{0x96, 0x10}, fourCC("xvid"), []byte{0x00, 0, 0, 0}),    // video multitrack
			cat([]byte{0x90}, fourCC("vorb")),                                 // audio
			cat([]byte{0x95, 0x20}, fourCC("vorb"), []byte{0x00, 0x00, 0, 0}), // audio many codecs
		} {
			var err error
			typ := flv.TagVideo
			if len(body) > 5 && (string(body[1:5]) == "vorb" || string(body[2:6]) == "vorb") {
				typ = flv.TagAudio
				_, err = flv.ParseAudioHeader(body)
			} else {
				_, err = flv.ParseVideoHeader(body)
			}
			if !errors.Is(err, flv.ErrUnknownCodec) {
				t.Errorf("% x: error %v, want ErrUnknownCodec", body, err)
			}
			if c := flv.TagCodec(typ, body); c != flv.CodecUnknown {
				t.Errorf("% x: TagCodec %v", body, c)
			}
		}
	})
}
