package flv_test

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/tributary-media/tributary/pkg/rtmp/flv"
)

// videoView is everything ParseVideoHeader reports, tracks included.
type videoView struct {
	Enhanced            bool
	FrameType           flv.VideoFrameType
	PacketType          flv.VideoPacketType
	HasCommand          bool
	Command             flv.VideoCommand
	TimestampOffsetNano uint32
	Multitrack          bool
	MultitrackType      flv.MultitrackType
	Codec               flv.Codec // the CodecID of a legacy command frame
	Tracks              []flv.VideoTrack
}

func viewVideo(h *flv.VideoHeader) videoView {
	v := videoView{
		Enhanced: h.Enhanced, FrameType: h.FrameType, PacketType: h.PacketType,
		HasCommand: h.HasCommand, Command: h.Command, TimestampOffsetNano: h.TimestampOffsetNano,
		Multitrack: h.Multitrack, MultitrackType: h.MultitrackType,
	}
	if h.HasCommand {
		v.Codec = h.Codec
	}
	var t flv.VideoTrack
	for it := h.Tracks(); it.Next(&t); {
		v.Tracks = append(v.Tracks, t)
	}
	return v
}

// fourCC spells a FourCC as bytes for the vectors below.
func fourCC(s string) []byte { return []byte(s) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func vtrack(id uint8, f flv.FourCC, c flv.Codec, cts int32, data ...byte) flv.VideoTrack {
	if data == nil {
		data = []byte{}
	}
	return flv.VideoTrack{ID: id, FourCC: f, Codec: c, CompositionTime: cts, Data: data}
}

// videoCases drive ParseVideoHeader, AppendVideo and the FuzzVideoHeader
// seeds. canonical cases re-encode to the same bytes.
var videoCases = []struct {
	name      string
	bytes     []byte
	value     videoView
	canonical bool
}{
	{
		name: "legacy-avc-sequence-header",
		bytes: []byte{
			0x17,             // FrameType 1 key, CodecID 7 AVC
			0x00,             // AVCPacketType 0 sequence header
			0x00, 0x00, 0x00, // CompositionTime 0
			0x01, 0x64, 0x00, 0x1f, // AVCDecoderConfigurationRecord (start)
		},
		value: videoView{FrameType: flv.VideoFrameKey, PacketType: flv.VideoPacketSequenceStart,
			Tracks: []flv.VideoTrack{vtrack(0, flv.FourCCAVC, flv.CodecAVC, 0, 0x01, 0x64, 0x00, 0x1f)}},
		canonical: true,
	},
	{
		name: "legacy-avc-nalu-cts-80",
		bytes: []byte{
			0x27,             // FrameType 2 inter, CodecID 7 AVC
			0x01,             // AVCPacketType 1 NALUs
			0x00, 0x00, 0x50, // CompositionTime 80
			0x00, 0x00, 0x00, 0x01, 0x41, // one length-prefixed NALU
		},
		value: videoView{FrameType: flv.VideoFrameInter, PacketType: flv.VideoPacketCodedFrames,
			Tracks: []flv.VideoTrack{vtrack(0, flv.FourCCAVC, flv.CodecAVC, 80, 0x00, 0x00, 0x00, 0x01, 0x41)}},
		canonical: true,
	},
	{
		name: "legacy-avc-negative-cts",
		bytes: []byte{
			0x17,             // key AVC
			0x01,             // NALUs
			0xff, 0xff, 0xfe, // CompositionTime -2 (SI24)
		},
		value: videoView{FrameType: flv.VideoFrameKey, PacketType: flv.VideoPacketCodedFrames,
			Tracks: []flv.VideoTrack{vtrack(0, flv.FourCCAVC, flv.CodecAVC, -2)}},
		canonical: true,
	},
	{
		name: "legacy-avc-end-of-sequence",
		bytes: []byte{
			0x17,             // key AVC
			0x02,             // AVCPacketType 2 end of sequence
			0x00, 0x00, 0x00, // CompositionTime
		},
		value: videoView{FrameType: flv.VideoFrameKey, PacketType: flv.VideoPacketSequenceEnd,
			Tracks: []flv.VideoTrack{vtrack(0, flv.FourCCAVC, flv.CodecAVC, 0)}},
		canonical: true,
	},
	{
		name: "legacy-h263-disposable",
		bytes: []byte{
			0x32,       // FrameType 3 disposable inter, CodecID 2 Sorenson H.263
			0x00, 0x00, // picture data
		},
		value: videoView{FrameType: flv.VideoFrameDisposableInter, PacketType: flv.VideoPacketCodedFrames,
			Tracks: []flv.VideoTrack{vtrack(0, 0, flv.CodecH263, 0, 0x00, 0x00)}},
		canonical: true,
	},
	{
		name: "legacy-vp6-key",
		bytes: []byte{
			0x14,       // key, CodecID 4 On2 VP6
			0x00,       // VP6 size adjustment byte (part of Data)
			0xde, 0xad, // frame
		},
		value: videoView{FrameType: flv.VideoFrameKey, PacketType: flv.VideoPacketCodedFrames,
			Tracks: []flv.VideoTrack{vtrack(0, 0, flv.CodecVP6, 0, 0x00, 0xde, 0xad)}},
		canonical: true,
	},
	{
		name: "legacy-command-end-seek",
		bytes: []byte{
			0x57, // FrameType 5 command, CodecID 7
			0x01, // VideoCommand 1 end of seek
		},
		value:     videoView{FrameType: flv.VideoFrameCommand, HasCommand: true, Command: flv.VideoCommandEndSeek, Codec: flv.CodecAVC},
		canonical: true,
	},
	{
		name: "legacy-hevc-codecid-12",
		bytes: []byte{
			0x1c,             // key, CodecID 12 (de-facto HEVC)
			0x00,             // packet type 0 sequence header
			0x00, 0x00, 0x00, // CompositionTime
			0x01, // HEVCDecoderConfigurationRecord (start)
		},
		value: videoView{FrameType: flv.VideoFrameKey, PacketType: flv.VideoPacketSequenceStart,
			Tracks: []flv.VideoTrack{vtrack(0, flv.FourCCHEVC, flv.CodecHEVC, 0, 0x01)}},
		canonical: true,
	},
	{
		name: "ex-hvc1-sequence-start",
		bytes: cat(
			[]byte{0x90},       // IsExHeader, FrameType 1 key, PacketType 0 SequenceStart
			fourCC("hvc1"),     // FourCC
			[]byte{0x01, 0x01}, // HEVCDecoderConfigurationRecord (start)
		),
		value: videoView{Enhanced: true, FrameType: flv.VideoFrameKey, PacketType: flv.VideoPacketSequenceStart,
			Tracks: []flv.VideoTrack{vtrack(0, flv.FourCCHEVC, flv.CodecHEVC, 0, 0x01, 0x01)}},
		canonical: true,
	},
	{
		name: "ex-hvc1-coded-frames-cts-40",
		bytes: cat(
			[]byte{0x91},             // ex, key, CodedFrames
			fourCC("hvc1"),           // FourCC
			[]byte{0x00, 0x00, 0x28}, // CompositionTime 40
			[]byte{0x00, 0x00, 0x00, 0x02, 0x26, 0x01}, // length-prefixed NALU
		),
		value: videoView{Enhanced: true, FrameType: flv.VideoFrameKey, PacketType: flv.VideoPacketCodedFrames,
			Tracks: []flv.VideoTrack{vtrack(0, flv.FourCCHEVC, flv.CodecHEVC, 40, 0x00, 0x00, 0x00, 0x02, 0x26, 0x01)}},
		canonical: true,
	},
	{
		name: "ex-hvc1-coded-frames-x",
		bytes: cat(
			[]byte{0xa3},   // ex, FrameType 2 inter, CodedFramesX
			fourCC("hvc1"), // FourCC, then NALUs at once
			[]byte{0x00, 0x00, 0x00, 0x01, 0x02},
		),
		value: videoView{Enhanced: true, FrameType: flv.VideoFrameInter, PacketType: flv.VideoPacketCodedFramesX,
			Tracks: []flv.VideoTrack{vtrack(0, flv.FourCCHEVC, flv.CodecHEVC, 0, 0x00, 0x00, 0x00, 0x01, 0x02)}},
		canonical: true,
	},
	{
		name: "ex-av01-coded-frames-no-cts",
		bytes: cat(
			[]byte{0x91},   // ex, key, CodedFrames
			fourCC("av01"), // FourCC; AV1 has no composition time
			[]byte{0x12, 0x00},
		),
		value: videoView{Enhanced: true, FrameType: flv.VideoFrameKey, PacketType: flv.VideoPacketCodedFrames,
			Tracks: []flv.VideoTrack{vtrack(0, flv.FourCCAV1, flv.CodecAV1, 0, 0x12, 0x00)}},
		canonical: true,
	},
	{
		name: "ex-avc1-coded-frames",
		bytes: cat(
			[]byte{0xa1},             // ex, inter, CodedFrames
			fourCC("avc1"),           // FourCC
			[]byte{0xff, 0xff, 0xd8}, // CompositionTime -40
		),
		value: videoView{Enhanced: true, FrameType: flv.VideoFrameInter, PacketType: flv.VideoPacketCodedFrames,
			Tracks: []flv.VideoTrack{vtrack(0, flv.FourCCAVC, flv.CodecAVC, -40)}},
		canonical: true,
	},
	{
		name:  "ex-vp09-sequence-end",
		bytes: cat([]byte{0x92}, fourCC("vp09")), // ex, key, SequenceEnd, FourCC
		value: videoView{Enhanced: true, FrameType: flv.VideoFrameKey, PacketType: flv.VideoPacketSequenceEnd,
			Tracks: []flv.VideoTrack{vtrack(0, flv.FourCCVP9, flv.CodecVP9, 0)}},
		canonical: true,
	},
	{
		name: "ex-vp08-and-vvc1",
		bytes: cat(
			[]byte{0x96, 0x21},           // ex, key, Multitrack; ManyTracksManyCodecs, CodedFrames
			fourCC("vp08"), []byte{0x00}, // track 0: FourCC, id
			[]byte{0x00, 0x00, 0x01, 0xaa}, // size 1, frame
			fourCC("vvc1"), []byte{0x01},   // track 1: FourCC, id
			[]byte{0x00, 0x00, 0x04},       // size 4
			[]byte{0x00, 0x00, 0x21, 0xbb}, // CompositionTime 33, NALU byte
		),
		value: videoView{Enhanced: true, FrameType: flv.VideoFrameKey, PacketType: flv.VideoPacketCodedFrames,
			Multitrack: true, MultitrackType: flv.ManyTracksManyCodecs,
			Tracks: []flv.VideoTrack{
				vtrack(0, flv.FourCCVP8, flv.CodecVP8, 0, 0xaa),
				vtrack(1, flv.FourCCVVC, flv.CodecVVC, 33, 0xbb),
			}},
		canonical: true,
	},
	{
		name: "ex-metadata-colorinfo",
		bytes: cat(
			[]byte{0xd4},   // ex, FrameType 5 (ignored for Metadata), PacketType 4 Metadata
			fourCC("hvc1"), // FourCC
			[]byte{0x02, 0x00, 0x09, 'c', 'o', 'l', 'o', 'r', 'I', 'n', 'f', 'o'}, // AMF0 "colorInfo"
		),
		value: videoView{Enhanced: true, FrameType: flv.VideoFrameCommand, PacketType: flv.VideoPacketMetadata,
			Tracks: []flv.VideoTrack{vtrack(0, flv.FourCCHEVC, flv.CodecHEVC, 0, 0x02, 0x00, 0x09, 'c', 'o', 'l', 'o', 'r', 'I', 'n', 'f', 'o')}},
		canonical: true,
	},
	{
		name: "ex-command-start-seek",
		bytes: []byte{
			0xd1, // ex, FrameType 5 command, PacketType 1 (not Metadata): no FourCC
			0x00, // VideoCommand 0 start of seek
		},
		value:     videoView{Enhanced: true, FrameType: flv.VideoFrameCommand, PacketType: flv.VideoPacketCodedFrames, HasCommand: true, Command: flv.VideoCommandStartSeek},
		canonical: true,
	},
	{
		name: "ex-modex-timestamp-offset-nano",
		bytes: cat(
			[]byte{0x97},             // ex, key, PacketType 7 ModEx
			[]byte{0x02},             // modExDataSize - 1 = 2
			[]byte{0x00, 0x03, 0xe8}, // TimestampOffsetNano 1000
			[]byte{0x01},             // ModExType 0, next PacketType 1 CodedFrames
			fourCC("hvc1"),           // FourCC
			[]byte{0x00, 0x00, 0x00}, // CompositionTime 0
		),
		value: videoView{Enhanced: true, FrameType: flv.VideoFrameKey, PacketType: flv.VideoPacketCodedFrames, TimestampOffsetNano: 1000,
			Tracks: []flv.VideoTrack{vtrack(0, flv.FourCCHEVC, flv.CodecHEVC, 0)}},
		canonical: true,
	},
	{
		name: "ex-modex-chain-16bit-size-unknown-type",
		bytes: cat(
			[]byte{0xa7},                   // ex, inter, ModEx
			[]byte{0xff, 0x01, 0x00},       // size escape: UI16 256 + 1 = 257 bytes
			make([]byte, 257),              // data of an unknown ModEx type (skipped)
			[]byte{0x57},                   // ModExType 5 (unknown), next PacketType 7 ModEx again
			[]byte{0x03},                   // modExDataSize - 1 = 3 (4 bytes, more than needed)
			[]byte{0x00, 0x00, 0x01, 0xff}, // TimestampOffsetNano 1, extra byte
			[]byte{0x03},                   // ModExType 0, next PacketType 3 CodedFramesX
			fourCC("av01"),
		),
		value: videoView{Enhanced: true, FrameType: flv.VideoFrameInter, PacketType: flv.VideoPacketCodedFramesX, TimestampOffsetNano: 1,
			Tracks: []flv.VideoTrack{vtrack(0, flv.FourCCAV1, flv.CodecAV1, 0)}},
	},
	{
		name: "ex-multitrack-one-track",
		bytes: cat(
			[]byte{0x96},   // ex, key, Multitrack
			[]byte{0x03},   // AvMultitrackType 0 OneTrack, PacketType 3 CodedFramesX
			fourCC("hvc1"), // shared FourCC
			[]byte{0x02},   // trackId 2, no size: the rest is the track
			[]byte{0x00, 0x00, 0x00, 0x01, 0x26},
		),
		value: videoView{Enhanced: true, FrameType: flv.VideoFrameKey, PacketType: flv.VideoPacketCodedFramesX,
			Multitrack: true, MultitrackType: flv.OneTrack,
			Tracks: []flv.VideoTrack{vtrack(2, flv.FourCCHEVC, flv.CodecHEVC, 0, 0x00, 0x00, 0x00, 0x01, 0x26)}},
		canonical: true,
	},
	{
		name: "ex-multitrack-many-tracks-sequence-start",
		bytes: cat(
			[]byte{0x96},             // ex, key, Multitrack
			[]byte{0x10},             // ManyTracks, SequenceStart
			fourCC("av01"),           // shared FourCC
			[]byte{0x00},             // trackId 0
			[]byte{0x00, 0x00, 0x02}, // sizeOfTrack 2
			[]byte{0x81, 0x00},       // av1C (start)
			[]byte{0x01},             // trackId 1
			[]byte{0x00, 0x00, 0x01}, // sizeOfTrack 1
			[]byte{0x81},             // av1C (start)
		),
		value: videoView{Enhanced: true, FrameType: flv.VideoFrameKey, PacketType: flv.VideoPacketSequenceStart,
			Multitrack: true, MultitrackType: flv.ManyTracks,
			Tracks: []flv.VideoTrack{
				vtrack(0, flv.FourCCAV1, flv.CodecAV1, 0, 0x81, 0x00),
				vtrack(1, flv.FourCCAV1, flv.CodecAV1, 0, 0x81),
			}},
		canonical: true,
	},
	{
		name: "ex-modex-then-multitrack",
		bytes: cat(
			[]byte{0xa7},                                   // ex, inter, ModEx
			[]byte{0x02, 0x0f, 0x42, 0x3f, 0x06},           // TimestampOffsetNano 999999, next PacketType Multitrack
			[]byte{0x20},                                   // ManyTracksManyCodecs, SequenceStart
			fourCC("avc1"), []byte{0x00, 0x00, 0x00, 0x00}, // track 0: empty
		),
		value: videoView{Enhanced: true, FrameType: flv.VideoFrameInter, PacketType: flv.VideoPacketSequenceStart, TimestampOffsetNano: 999999,
			Multitrack: true, MultitrackType: flv.ManyTracksManyCodecs,
			Tracks: []flv.VideoTrack{vtrack(0, flv.FourCCAVC, flv.CodecAVC, 0)}},
		canonical: true,
	},
}

// videoBytes returns the bytes of the named video case.
func videoBytes(name string) []byte {
	for _, c := range videoCases {
		if c.name == name {
			return c.bytes
		}
	}
	panic("no video case " + name)
}

func TestParseVideoHeader(t *testing.T) {
	for _, c := range videoCases {
		t.Run(c.name, func(t *testing.T) {
			h, err := flv.ParseVideoHeader(c.bytes)
			if err != nil {
				t.Fatalf("ParseVideoHeader: %v", err)
			}
			got := viewVideo(&h)
			if !reflect.DeepEqual(got, c.value) {
				t.Errorf("got  %+v\nwant %+v", got, c.value)
			}
			if h.NumTracks != len(c.value.Tracks) {
				t.Errorf("NumTracks %d, want %d", h.NumTracks, len(c.value.Tracks))
			}
			if len(c.value.Tracks) > 0 && !reflect.DeepEqual(h.VideoTrack, c.value.Tracks[0]) {
				t.Errorf("first track %+v, want %+v", h.VideoTrack, c.value.Tracks[0])
			}
		})
	}
}

func TestAppendVideo(t *testing.T) {
	for _, c := range videoCases {
		t.Run(c.name, func(t *testing.T) {
			h, err := flv.ParseVideoHeader(c.bytes)
			if err != nil {
				t.Fatal(err)
			}
			tracks := viewVideo(&h).Tracks
			out, err := flv.AppendVideo([]byte("x"), &h, tracks...)
			if err != nil {
				t.Fatalf("AppendVideo: %v", err)
			}
			if out[0] != 'x' {
				t.Fatal("AppendVideo overwrote dst")
			}
			out = out[1:]
			if c.canonical && !bytes.Equal(out, c.bytes) {
				t.Errorf("AppendVideo\n got % x\nwant % x", out, c.bytes)
			}
			h2, err := flv.ParseVideoHeader(out)
			if err != nil {
				t.Fatalf("re-parse: %v", err)
			}
			if got := viewVideo(&h2); !reflect.DeepEqual(got, c.value) {
				t.Errorf("re-parsed %+v\nwant      %+v", got, c.value)
			}
		})
	}
}

func TestAppendVideoFromFields(t *testing.T) {
	// A single-track header built by hand, FourCC left to the codec.
	h := flv.VideoHeader{Enhanced: true, FrameType: flv.VideoFrameKey, PacketType: flv.VideoPacketCodedFrames,
		VideoTrack: flv.VideoTrack{Codec: flv.CodecHEVC, CompositionTime: 40, Data: []byte{0xaa}}}
	out, err := flv.AppendVideo(nil, &h)
	want := cat([]byte{0x91}, fourCC("hvc1"), []byte{0x00, 0x00, 0x28, 0xaa})
	if err != nil || !bytes.Equal(out, want) {
		t.Errorf("AppendVideo = % x, %v; want % x", out, err, want)
	}
	bad := []struct {
		name   string
		h      flv.VideoHeader
		tracks []flv.VideoTrack
	}{
		{"legacy-without-codec-id", flv.VideoHeader{FrameType: flv.VideoFrameKey, VideoTrack: flv.VideoTrack{Codec: flv.CodecAV1}}, nil},
		{"legacy-multitrack", flv.VideoHeader{FrameType: flv.VideoFrameKey, Multitrack: true, VideoTrack: flv.VideoTrack{Codec: flv.CodecAVC}}, nil},
		{"legacy-avc-packet-type-3", flv.VideoHeader{FrameType: flv.VideoFrameKey, PacketType: 3, VideoTrack: flv.VideoTrack{Codec: flv.CodecAVC}}, nil},
		{"ex-unknown-fourcc", flv.VideoHeader{Enhanced: true, FrameType: flv.VideoFrameKey, VideoTrack: flv.VideoTrack{FourCC: flv.MakeFourCC("h264")}}, nil},
		{"ex-frame-type-0", flv.VideoHeader{Enhanced: true, VideoTrack: flv.VideoTrack{Codec: flv.CodecAV1}}, nil},
		{"ex-packet-type-multitrack", flv.VideoHeader{Enhanced: true, FrameType: 1, PacketType: flv.VideoPacketMultitrack, VideoTrack: flv.VideoTrack{Codec: flv.CodecAV1}}, nil},
		{"ex-nano-too-big", flv.VideoHeader{Enhanced: true, FrameType: 1, TimestampOffsetNano: 1_000_000, VideoTrack: flv.VideoTrack{Codec: flv.CodecAV1}}, nil},
		{"ex-cts-too-big", flv.VideoHeader{Enhanced: true, FrameType: 1, PacketType: flv.VideoPacketCodedFrames, VideoTrack: flv.VideoTrack{Codec: flv.CodecAVC, CompositionTime: 1 << 23}}, nil},
		{"ex-two-tracks-single", flv.VideoHeader{Enhanced: true, FrameType: 1}, []flv.VideoTrack{{Codec: flv.CodecAV1}, {Codec: flv.CodecAV1}}},
		{"ex-one-track-layout-two-tracks", flv.VideoHeader{Enhanced: true, FrameType: 1, Multitrack: true, MultitrackType: flv.OneTrack}, []flv.VideoTrack{{Codec: flv.CodecAV1}, {Codec: flv.CodecAV1}}},
		{"ex-many-tracks-mixed-codecs", flv.VideoHeader{Enhanced: true, FrameType: 1, Multitrack: true, MultitrackType: flv.ManyTracks}, []flv.VideoTrack{{Codec: flv.CodecAV1}, {Codec: flv.CodecVP9}}},
		{"ex-multitrack-type-3", flv.VideoHeader{Enhanced: true, FrameType: 1, Multitrack: true, MultitrackType: 3}, []flv.VideoTrack{{Codec: flv.CodecAV1}}},
	}
	for _, c := range bad {
		if out, err := flv.AppendVideo(nil, &c.h, c.tracks...); err == nil {
			t.Errorf("%s: encoded % x", c.name, out)
		}
	}
}

func TestParseVideoHeaderErrors(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		want error // nil: any error
	}{
		{"empty", nil, io.ErrUnexpectedEOF},
		{"legacy-frame-type-0", []byte{0x07, 0x01, 0, 0, 0}, nil},
		{"legacy-frame-type-6", []byte{0x67, 0x01, 0, 0, 0}, nil},
		{"legacy-codec-id-0", []byte{0x10}, flv.ErrUnknownCodec},
		{"legacy-codec-id-15", []byte{0x1f, 0x00}, flv.ErrUnknownCodec},
		{"legacy-avc-short", []byte{0x17, 0x00, 0x00}, io.ErrUnexpectedEOF},
		{"legacy-avc-packet-type-3", []byte{0x17, 0x03, 0, 0, 0}, nil},
		{"legacy-command-without-byte", []byte{0x57}, io.ErrUnexpectedEOF},
		{"ex-unknown-fourcc", cat([]byte{0x90}, fourCC("h264")), flv.ErrUnknownCodec},
		{"ex-truncated-fourcc", []byte{0x90, 'h', 'v'}, io.ErrUnexpectedEOF},
		{"ex-reserved-packet-type-8", cat([]byte{0x98}, fourCC("hvc1")), nil},
		{"ex-reserved-frame-type-0", cat([]byte{0x80}, fourCC("hvc1")), nil},
		{"ex-reserved-frame-type-6", cat([]byte{0xe0}, fourCC("hvc1")), nil},
		{"ex-command-without-byte", []byte{0xd1}, io.ErrUnexpectedEOF},
		{"ex-hvc1-coded-frames-without-cts", cat([]byte{0x91}, fourCC("hvc1"), []byte{0x00, 0x00}), io.ErrUnexpectedEOF},
		{"ex-modex-truncated-size", []byte{0x97}, io.ErrUnexpectedEOF},
		{"ex-modex-truncated-16bit-size", []byte{0x97, 0xff, 0x01}, io.ErrUnexpectedEOF},
		{"ex-modex-truncated-data", []byte{0x97, 0x02, 0x00, 0x00}, io.ErrUnexpectedEOF},
		{"ex-modex-nano-too-short", cat([]byte{0x97, 0x01, 0x00, 0x00, 0x01}, fourCC("hvc1")), nil},
		{"ex-modex-nano-above-999999", cat([]byte{0x97, 0x02, 0x0f, 0x42, 0x40, 0x01}, fourCC("hvc1"), []byte{0, 0, 0}), nil},
		{"ex-multitrack-truncated", []byte{0x96}, io.ErrUnexpectedEOF},
		{"ex-multitrack-type-3", cat([]byte{0x96, 0x31}, fourCC("hvc1"), []byte{0x00, 0x00, 0x00, 0x00}), nil},
		{"ex-multitrack-nested", cat([]byte{0x96, 0x16}, fourCC("hvc1")), nil},
		{"ex-multitrack-modex-inside", cat([]byte{0x96, 0x17}, fourCC("hvc1")), nil},
		{"ex-multitrack-no-track", cat([]byte{0x96, 0x13}, fourCC("hvc1")), io.ErrUnexpectedEOF},
		{"ex-multitrack-size-overflow", cat([]byte{0x96, 0x13}, fourCC("hvc1"), []byte{0x00, 0x00, 0x00, 0x10, 0x01, 0x02}), nil},
		{"ex-multitrack-truncated-size", cat([]byte{0x96, 0x13}, fourCC("hvc1"), []byte{0x00, 0x00}), io.ErrUnexpectedEOF},
		{"ex-multitrack-unknown-second-fourcc", cat([]byte{0x96, 0x23}, fourCC("hvc1"), []byte{0x00, 0x00, 0x00, 0x00}, fourCC("xxxx"), []byte{0x01, 0x00, 0x00, 0x00}), flv.ErrUnknownCodec},
		{"ex-multitrack-truncated-track-fourcc", cat([]byte{0x96, 0x23}, fourCC("hvc1"), []byte{0x00, 0x00, 0x00, 0x00}, []byte("av")), io.ErrUnexpectedEOF},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, err := flv.ParseVideoHeader(c.in)
			if err == nil {
				t.Fatalf("no error, got %+v", h)
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Errorf("error %v, want %v", err, c.want)
			}
		})
	}
}
