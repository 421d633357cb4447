package flv_test

import (
	"encoding/hex"
	"testing"

	"github.com/tributary-media/tributary/pkg/rtmp/flv"
)

// Parameter sets and headers produced by real encoders, so the parsers are
// checked against bitstreams they did not write. Each came from FFmpeg 5.1
// writing one frame of testsrc2 at the given size into a raw elementary
// stream (-f h264, -f hevc, -f obu); the expected sizes and profiles are
// what ffprobe reports for the same streams.

// H.264 SPS/PPS from libx264 (core 164).
var avcVectors = []struct {
	name          string
	sps, pps      string
	width, height int
	profile       uint8
	chroma        uint8
	bitDepth      uint8
	frameMBSOnly  bool
}{
	// -profile:v baseline at 1920x1080: 1088 coded lines, frame_crop_bottom 4.
	{"baseline-1080p-cropped", "6742c028d900780227e5c044000003000400000300c83c60c920", "68cb83cb20", 1920, 1080, 66, 1, 8, true},
	// Default high profile at 320x240 (the sequence header of the FLV test).
	{"high-320x240", "6764000dacd94141fb011000000300100000030320f1429960", "68ebe3cb22c0", 320, 240, 100, 1, 8, true},
	// -x264-params interlaced=1: frame_mbs_only_flag 0, 68 map units of 32 lines, crop 8 lines.
	{"interlaced-1080i", "67640028acd94078044fde0220000003002000000643e2c5b2c0", "68fba3cb22c0", 1920, 1080, 100, 1, 8, false},
	// -pix_fmt yuv444p -x264-params cqm=jvt: High 4:4:4 with scaling lists, odd crop in 1-sample units.
	{"high444-cqm-322x242", "67f4000d919b282a10f1f1f808800000030080000019078a14cb", "68ebe3c44c000440", 322, 242, 244, 3, 8, true},
	// -pix_fmt yuv422p10le: High 4:2:2, 10 bits.
	{"high422-10bit-352x288", "677a000db6cd9416096c0440000003004000000c83c50a6580", "68ebe3cb22c0", 352, 288, 122, 2, 10, true},
}

// H.265 VPS/SPS/PPS from libx265 3.5.
var hevcVectors = []struct {
	name          string
	vps, sps, pps string
	width, height int
	profile       uint8
	level         uint8
	chroma        uint8
	bitDepth      uint8
	subLayers     uint8
	compat        uint32 // general_profile_compatibility_flags
}{
	{"main-320x240", "40010c01ffff01600000030090000003000003003c959809",
		"42010101600000030090000003000003003ca00a080f165959a4932bc05a020000030002000003003210",
		"4401c172b46240", 320, 240, 1, 60, 1, 8, 1, 0x60000000},
	// 1920x1080: 1088 coded lines, conformance window bottom offset 4 (8 lines).
	{"main-1080p-window", "40010c01ffff016000000300900000030000030078959809",
		"420101016000000300900000030000030078a003c08010e596566924caf0168080000003008000000c84",
		"4401c172b46240", 1920, 1080, 1, 120, 1, 8, 1, 0x60000000},
	// -pix_fmt yuv422p10le: RExt profile.
	{"rext-422-10bit", "40010c01ffff0408000003009d0800000300003c959809",
		"4201010408000003009d0800000300003cb00b080484d96566924caf016808000003000800000300c840",
		"4401c172b46240", 352, 288, 4, 60, 2, 10, 1, 0x08000000},
	// -pix_fmt gray: 4:0:0.
	{"rext-monochrome", "40010c01ffff0408000003009fc800000300003c959809",
		"4201010408000003009fc800000300003cc058809165959a4932bc05b02000000300200000030321",
		"4401c172b46240", 176, 144, 4, 60, 0, 8, 1, 0x08000000},
	// -x265-params temporal-layers=1: two sub-layers, so sub-layer PTL fields.
	{"main-two-sub-layers", "40010c02ffff01600000030090000003000003003c00009598acc048",
		"42010201600000030090000003000003003c0000a00a080f1659598acd24995e02d0100000030010000003019080",
		"4401c172b46240", 320, 240, 1, 60, 1, 8, 2, 0x60000000},
}

// AV1 sequence header OBUs (header and size field included).
var av1Vectors = []struct {
	name          string
	obu           string
	width, height int
	profile       uint8
	bitDepth      uint8
	mono          bool
	ssx, ssy      bool
}{
	{"libaom-320x240", "0a0b000000043cffbcdaf90040", 320, 240, 0, 8, false, true, true},
	{"svtav1-320x240", "0a0b000000043cffbcfbf90040", 320, 240, 0, 8, false, true, true},
	{"libaom-444-200x100", "0a0a20000003b63e336be408", 200, 100, 1, 8, false, false, false},
	{"libaom-10bit-200x100", "0a0a00000003b63e336be501", 200, 100, 0, 10, false, true, true},
	{"libaom-gray-200x100", "0a0a00000003b63e336be4a8", 200, 100, 0, 8, true, true, true},
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// hevcRecord240 is the HEVCDecoderConfigurationRecord of the 320x240 x265
// stream.
func hevcRecord240(t testing.TB) []byte {
	t.Helper()
	v := hevcVectors[0]
	cfg, err := flv.NewHEVCDecoderConfig([][]byte{unhex(t, v.vps)}, [][]byte{unhex(t, v.sps)}, [][]byte{unhex(t, v.pps)})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := cfg.AppendTo(nil)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}
