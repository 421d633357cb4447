package flv_test

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/tributary-media/tributary/pkg/rtmp/flv"
)

// audioView is everything ParseAudioHeader reports, tracks included.
type audioView struct {
	Silence                         bool
	Enhanced                        bool
	SoundRate, SoundSize, SoundType uint8
	PacketType                      flv.AudioPacketType
	TimestampOffsetNano             uint32
	Multitrack                      bool
	MultitrackType                  flv.MultitrackType
	Tracks                          []flv.AudioTrack
}

func viewAudio(h *flv.AudioHeader) audioView {
	v := audioView{
		Silence: h.Silence, Enhanced: h.Enhanced,
		SoundRate: h.SoundRate, SoundSize: h.SoundSize, SoundType: h.SoundType,
		PacketType: h.PacketType, TimestampOffsetNano: h.TimestampOffsetNano,
		Multitrack: h.Multitrack, MultitrackType: h.MultitrackType,
	}
	var t flv.AudioTrack
	for it := h.Tracks(); it.Next(&t); {
		v.Tracks = append(v.Tracks, t)
	}
	return v
}

func atrack(id uint8, f flv.FourCC, c flv.Codec, data ...byte) flv.AudioTrack {
	if data == nil {
		data = []byte{}
	}
	return flv.AudioTrack{ID: id, FourCC: f, Codec: c, Data: data}
}

// audioCases drive ParseAudioHeader, AppendAudio and the FuzzAudioHeader
// seeds. canonical cases re-encode to the same bytes.
var audioCases = []struct {
	name      string
	bytes     []byte
	value     audioView
	canonical bool
}{
	{
		name: "legacy-aac-sequence-header",
		bytes: []byte{
			0xaf,       // SoundFormat 10 AAC, 44 kHz, 16-bit, stereo
			0x00,       // AACPacketType 0 sequence header
			0x12, 0x10, // AudioSpecificConfig: LC, 44.1 kHz, stereo
		},
		value: audioView{SoundRate: 3, SoundSize: 1, SoundType: 1, PacketType: flv.AudioPacketSequenceStart,
			Tracks: []flv.AudioTrack{atrack(0, flv.FourCCAAC, flv.CodecAAC, 0x12, 0x10)}},
		canonical: true,
	},
	{
		name: "legacy-aac-raw",
		bytes: []byte{
			0xaf,       // AAC
			0x01,       // AACPacketType 1 raw
			0x21, 0x10, // raw frame
		},
		value: audioView{SoundRate: 3, SoundSize: 1, SoundType: 1, PacketType: flv.AudioPacketCodedFrames,
			Tracks: []flv.AudioTrack{atrack(0, flv.FourCCAAC, flv.CodecAAC, 0x21, 0x10)}},
		canonical: true,
	},
	{
		name: "legacy-mp3",
		bytes: []byte{
			0x2e,       // SoundFormat 2 MP3, 44 kHz, 16-bit, mono
			0xff, 0xfb, // frame sync
		},
		value: audioView{SoundRate: 3, SoundSize: 1, PacketType: flv.AudioPacketCodedFrames,
			Tracks: []flv.AudioTrack{atrack(0, flv.FourCCMP3, flv.CodecMP3, 0xff, 0xfb)}},
		canonical: true,
	},
	{
		name: "legacy-pcm-le-8bit-mono-5khz",
		bytes: []byte{
			0x30,       // SoundFormat 3 PCM LE, 5.5 kHz, 8-bit, mono
			0x80, 0x81, // samples
		},
		value: audioView{PacketType: flv.AudioPacketCodedFrames,
			Tracks: []flv.AudioTrack{atrack(0, 0, flv.CodecPCMLE, 0x80, 0x81)}},
		canonical: true,
	},
	{
		name:  "legacy-nellymoser-8k",
		bytes: []byte{0x52}, // SoundFormat 5, 11 kHz bits, 8-bit, mono; empty frame
		value: audioView{SoundRate: 0, SoundSize: 1, PacketType: flv.AudioPacketCodedFrames,
			Tracks: []flv.AudioTrack{atrack(0, 0, flv.CodecNellymoser8k)}},
		canonical: true,
	},
	{
		name:  "legacy-mp3-8khz",
		bytes: []byte{0xe2, 0xff}, // SoundFormat 14 MP3 8 kHz
		value: audioView{SoundSize: 1, PacketType: flv.AudioPacketCodedFrames,
			Tracks: []flv.AudioTrack{atrack(0, 0, flv.CodecMP3At8kHz, 0xff)}},
		canonical: true,
	},
	{
		name:  "legacy-g711-ulaw",
		bytes: []byte{0x82, 0x7f}, // SoundFormat 8 µ-law, 16-bit bit set
		value: audioView{SoundSize: 1, PacketType: flv.AudioPacketCodedFrames,
			Tracks: []flv.AudioTrack{atrack(0, 0, flv.CodecG711MuLaw, 0x7f)}},
		canonical: true,
	},
	{
		name:      "silence",
		bytes:     []byte{},
		value:     audioView{Silence: true},
		canonical: true,
	},
	{
		name: "ex-opus-sequence-start",
		bytes: cat(
			[]byte{0x90},   // SoundFormat 9 ExHeader, AudioPacketType 0 SequenceStart
			fourCC("Opus"), // FourCC
			[]byte("OpusHead"),
		),
		value: audioView{Enhanced: true, PacketType: flv.AudioPacketSequenceStart,
			Tracks: []flv.AudioTrack{atrack(0, flv.FourCCOpus, flv.CodecOpus, []byte("OpusHead")...)}},
		canonical: true,
	},
	{
		name:  "ex-flac-coded-frames",
		bytes: cat([]byte{0x91}, fourCC("fLaC"), []byte{0xff, 0xf8}), // CodedFrames, FourCC, frame
		value: audioView{Enhanced: true, PacketType: flv.AudioPacketCodedFrames,
			Tracks: []flv.AudioTrack{atrack(0, flv.FourCCFLAC, flv.CodecFLAC, 0xff, 0xf8)}},
		canonical: true,
	},
	{
		name:  "ex-ac3-sequence-end",
		bytes: cat([]byte{0x92}, fourCC("ac-3")), // SequenceEnd
		value: audioView{Enhanced: true, PacketType: flv.AudioPacketSequenceEnd,
			Tracks: []flv.AudioTrack{atrack(0, flv.FourCCAC3, flv.CodecAC3)}},
		canonical: true,
	},
	{
		name: "ex-eac3-and-mp3-many-codecs",
		bytes: cat(
			[]byte{0x95, 0x21},                          // Multitrack; ManyTracksManyCodecs, CodedFrames
			fourCC("ec-3"), []byte{0x00, 0, 0, 1, 0x0b}, // track 0: FourCC, id, size 1, frame
			fourCC(".mp3"), []byte{0x01, 0, 0, 2, 0xff, 0xfb}, // track 1
		),
		value: audioView{Enhanced: true, PacketType: flv.AudioPacketCodedFrames, Multitrack: true, MultitrackType: flv.ManyTracksManyCodecs,
			Tracks: []flv.AudioTrack{
				atrack(0, flv.FourCCEAC3, flv.CodecEAC3, 0x0b),
				atrack(1, flv.FourCCMP3, flv.CodecMP3, 0xff, 0xfb),
			}},
		canonical: true,
	},
	{
		name: "ex-multichannel-native",
		bytes: cat(
			[]byte{0x94},                   // MultichannelConfig
			fourCC("Opus"),                 // FourCC
			[]byte{0x01},                   // AudioChannelOrder 1 Native
			[]byte{0x06},                   // channelCount 6
			[]byte{0x00, 0x00, 0x00, 0x3f}, // AudioChannelFlags: FL FR FC LFE1 BL BR
		),
		value: audioView{Enhanced: true, PacketType: flv.AudioPacketMultichannelConfig,
			Tracks: []flv.AudioTrack{{FourCC: flv.FourCCOpus, Codec: flv.CodecOpus, ChannelOrder: flv.AudioChannelOrderNative, ChannelCount: 6, ChannelFlags: 0x3f, Data: []byte{}}}},
		canonical: true,
	},
	{
		name: "ex-multichannel-custom",
		bytes: cat(
			[]byte{0x94},             // MultichannelConfig
			fourCC("Opus"),           // FourCC
			[]byte{0x02, 0x03},       // AudioChannelOrder 2 Custom, channelCount 3
			[]byte{0x00, 0x01, 0x03}, // AudioChannelMapping: FL, FR, LFE1
		),
		value: audioView{Enhanced: true, PacketType: flv.AudioPacketMultichannelConfig,
			Tracks: []flv.AudioTrack{{FourCC: flv.FourCCOpus, Codec: flv.CodecOpus, ChannelOrder: flv.AudioChannelOrderCustom, ChannelCount: 3, ChannelMapping: []byte{0, 1, 3}, Data: []byte{}}}},
		canonical: true,
	},
	{
		name:  "ex-multichannel-unspecified",
		bytes: cat([]byte{0x94}, fourCC("mp4a"), []byte{0x00, 0x02}), // Unspecified order, 2 channels
		value: audioView{Enhanced: true, PacketType: flv.AudioPacketMultichannelConfig,
			Tracks: []flv.AudioTrack{{FourCC: flv.FourCCAAC, Codec: flv.CodecAAC, ChannelCount: 2, Data: []byte{}}}},
		canonical: true,
	},
	{
		name: "ex-modex-timestamp-offset-nano",
		bytes: cat(
			[]byte{0x97},                   // ExHeader, ModEx
			[]byte{0x02, 0x0f, 0x42, 0x3f}, // size-1 = 2, TimestampOffsetNano 999999
			[]byte{0x01},                   // ModExType 0, next AudioPacketType 1 CodedFrames
			fourCC("Opus"), []byte{0xfc},
		),
		value: audioView{Enhanced: true, PacketType: flv.AudioPacketCodedFrames, TimestampOffsetNano: 999999,
			Tracks: []flv.AudioTrack{atrack(0, flv.FourCCOpus, flv.CodecOpus, 0xfc)}},
		canonical: true,
	},
	{
		name: "ex-multitrack-many-tracks",
		bytes: cat(
			[]byte{0x95},   // ExHeader, Multitrack
			[]byte{0x11},   // ManyTracks, CodedFrames
			fourCC("Opus"), // shared FourCC
			[]byte{0x00, 0x00, 0x00, 0x02, 0xaa, 0xbb}, // trackId 0, size 2, data
			[]byte{0x01, 0x00, 0x00, 0x01, 0xcc},       // trackId 1, size 1, data
		),
		value: audioView{Enhanced: true, PacketType: flv.AudioPacketCodedFrames, Multitrack: true, MultitrackType: flv.ManyTracks,
			Tracks: []flv.AudioTrack{atrack(0, flv.FourCCOpus, flv.CodecOpus, 0xaa, 0xbb), atrack(1, flv.FourCCOpus, flv.CodecOpus, 0xcc)}},
		canonical: true,
	},
	{
		name: "ex-multitrack-many-codecs-sequence-start",
		bytes: cat(
			[]byte{0x95, 0x20},                                         // Multitrack; ManyTracksManyCodecs, SequenceStart
			fourCC("mp4a"), []byte{0x00, 0x00, 0x00, 0x02, 0x12, 0x10}, // AAC track 0
			fourCC("Opus"), []byte{0x01, 0x00, 0x00, 0x00}, // Opus track 1, empty ID header
		),
		value: audioView{Enhanced: true, PacketType: flv.AudioPacketSequenceStart, Multitrack: true, MultitrackType: flv.ManyTracksManyCodecs,
			Tracks: []flv.AudioTrack{atrack(0, flv.FourCCAAC, flv.CodecAAC, 0x12, 0x10), atrack(1, flv.FourCCOpus, flv.CodecOpus)}},
		canonical: true,
	},
	{
		name: "ex-multitrack-one-track-multichannel",
		bytes: cat(
			[]byte{0x95, 0x04},       // Multitrack; OneTrack, MultichannelConfig
			fourCC("Opus"),           // shared FourCC
			[]byte{0x07},             // trackId 7
			[]byte{0x02, 0x01, 0x02}, // Custom, 1 channel, FrontCenter
		),
		value: audioView{Enhanced: true, PacketType: flv.AudioPacketMultichannelConfig, Multitrack: true, MultitrackType: flv.OneTrack,
			Tracks: []flv.AudioTrack{{ID: 7, FourCC: flv.FourCCOpus, Codec: flv.CodecOpus, ChannelOrder: flv.AudioChannelOrderCustom, ChannelCount: 1, ChannelMapping: []byte{2}, Data: []byte{}}}},
		canonical: true,
	},
}

// audioBytes returns the bytes of the named audio case.
func audioBytes(name string) []byte {
	for _, c := range audioCases {
		if c.name == name {
			return c.bytes
		}
	}
	panic("no audio case " + name)
}

func TestParseAudioHeader(t *testing.T) {
	for _, c := range audioCases {
		t.Run(c.name, func(t *testing.T) {
			h, err := flv.ParseAudioHeader(c.bytes)
			if err != nil {
				t.Fatalf("ParseAudioHeader: %v", err)
			}
			got := viewAudio(&h)
			if !reflect.DeepEqual(got, c.value) {
				t.Errorf("got  %+v\nwant %+v", got, c.value)
			}
			if h.NumTracks != len(c.value.Tracks) {
				t.Errorf("NumTracks %d, want %d", h.NumTracks, len(c.value.Tracks))
			}
		})
	}
}

func TestAppendAudio(t *testing.T) {
	for _, c := range audioCases {
		t.Run(c.name, func(t *testing.T) {
			h, err := flv.ParseAudioHeader(c.bytes)
			if err != nil {
				t.Fatal(err)
			}
			out, err := flv.AppendAudio(nil, &h, viewAudio(&h).Tracks...)
			if err != nil {
				t.Fatalf("AppendAudio: %v", err)
			}
			if c.canonical && !bytes.Equal(out, c.bytes) {
				t.Errorf("AppendAudio\n got % x\nwant % x", out, c.bytes)
			}
			h2, err := flv.ParseAudioHeader(out)
			if err != nil {
				t.Fatalf("re-parse: %v", err)
			}
			if got := viewAudio(&h2); !reflect.DeepEqual(got, c.value) {
				t.Errorf("re-parsed %+v\nwant      %+v", got, c.value)
			}
		})
	}
	bad := []struct {
		name   string
		h      flv.AudioHeader
		tracks []flv.AudioTrack
	}{
		{"legacy-opus", flv.AudioHeader{AudioTrack: flv.AudioTrack{Codec: flv.CodecOpus}}, nil},
		{"legacy-rate-4", flv.AudioHeader{SoundRate: 4, AudioTrack: flv.AudioTrack{Codec: flv.CodecMP3}}, nil},
		{"legacy-aac-packet-type-2", flv.AudioHeader{PacketType: 2, AudioTrack: flv.AudioTrack{Codec: flv.CodecAAC}}, nil},
		{"ex-packet-type-3", flv.AudioHeader{Enhanced: true, PacketType: 3, AudioTrack: flv.AudioTrack{Codec: flv.CodecOpus}}, nil},
		{"ex-no-fourcc", flv.AudioHeader{Enhanced: true, AudioTrack: flv.AudioTrack{Codec: flv.CodecPCM}}, nil},
		{"ex-custom-mapping-count", flv.AudioHeader{Enhanced: true, PacketType: flv.AudioPacketMultichannelConfig,
			AudioTrack: flv.AudioTrack{Codec: flv.CodecOpus, ChannelOrder: flv.AudioChannelOrderCustom, ChannelCount: 2, ChannelMapping: []byte{1}}}, nil},
		{"ex-channel-order-3", flv.AudioHeader{Enhanced: true, PacketType: flv.AudioPacketMultichannelConfig,
			AudioTrack: flv.AudioTrack{Codec: flv.CodecOpus, ChannelOrder: 3}}, nil},
		{"ex-many-tracks-mixed", flv.AudioHeader{Enhanced: true, Multitrack: true, MultitrackType: flv.ManyTracks},
			[]flv.AudioTrack{{Codec: flv.CodecOpus}, {Codec: flv.CodecAAC}}},
	}
	for _, c := range bad {
		if out, err := flv.AppendAudio(nil, &c.h, c.tracks...); err == nil {
			t.Errorf("%s: encoded % x", c.name, out)
		}
	}
}

func TestParseAudioHeaderErrors(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		want error // nil: any error
	}{
		{"legacy-sound-format-12", []byte{0xc0, 0x00}, flv.ErrUnknownCodec},
		{"legacy-sound-format-13", []byte{0xd0, 0x00}, flv.ErrUnknownCodec},
		{"legacy-aac-short", []byte{0xaf}, io.ErrUnexpectedEOF},
		{"legacy-aac-packet-type-2", []byte{0xaf, 0x02}, nil},
		{"ex-unknown-fourcc", cat([]byte{0x90}, fourCC("opus")), flv.ErrUnknownCodec},
		{"ex-video-fourcc", cat([]byte{0x90}, fourCC("hvc1")), flv.ErrUnknownCodec},
		{"ex-truncated-fourcc", []byte{0x91, 'O'}, io.ErrUnexpectedEOF},
		{"ex-reserved-packet-type-3", cat([]byte{0x93}, fourCC("Opus")), nil},
		{"ex-reserved-packet-type-6", cat([]byte{0x96}, fourCC("Opus")), nil},
		{"ex-reserved-packet-type-15", cat([]byte{0x9f}, fourCC("Opus")), nil},
		{"ex-channel-order-3", cat([]byte{0x94}, fourCC("Opus"), []byte{0x03, 0x02}), nil},
		{"ex-channel-count-missing", cat([]byte{0x94}, fourCC("Opus"), []byte{0x01}), io.ErrUnexpectedEOF},
		{"ex-native-flags-short", cat([]byte{0x94}, fourCC("Opus"), []byte{0x01, 0x02, 0x00, 0x00}), io.ErrUnexpectedEOF},
		{"ex-custom-mapping-short", cat([]byte{0x94}, fourCC("Opus"), []byte{0x02, 0x03, 0x00}), io.ErrUnexpectedEOF},
		{"ex-modex-truncated", []byte{0x97, 0x05, 0x00}, io.ErrUnexpectedEOF},
		{"ex-multitrack-nested", cat([]byte{0x95, 0x15}, fourCC("Opus")), nil},
		{"ex-multitrack-type-3", cat([]byte{0x95, 0x31}, fourCC("Opus"), []byte{0, 0, 0, 0}), nil},
		{"ex-multitrack-size-overflow", cat([]byte{0x95, 0x11}, fourCC("Opus"), []byte{0x00, 0x00, 0x00, 0x05, 0xaa}), nil},
		{"ex-multitrack-empty", []byte{0x95, 0x11, 'O', 'p', 'u', 's'}, io.ErrUnexpectedEOF},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, err := flv.ParseAudioHeader(c.in)
			if err == nil {
				t.Fatalf("no error, got %+v", h)
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Errorf("error %v, want %v", err, c.want)
			}
		})
	}
}
