package flv_test

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/tributary-media/tributary/pkg/rtmp/flv"
)

func TestParseAVCSPS(t *testing.T) {
	for _, v := range avcVectors {
		t.Run(v.name, func(t *testing.T) {
			s, err := flv.ParseAVCSPS(unhex(t, v.sps))
			if err != nil {
				t.Fatal(err)
			}
			if s.Width != v.width || s.Height != v.height || s.ProfileIDC != v.profile || s.ChromaFormatIDC != v.chroma ||
				s.BitDepthLuma != v.bitDepth || s.BitDepthChroma != v.bitDepth || s.FrameMBSOnly != v.frameMBSOnly {
				t.Errorf("got %+v, want %dx%d profile %d chroma %d depth %d frame_mbs_only %v",
					s, v.width, v.height, v.profile, v.chroma, v.bitDepth, v.frameMBSOnly)
			}
		})
	}
}

// The record NewAVCDecoderConfig builds equals the one FFmpeg wrote into the
// FLV sequence header of the same stream, byte for byte.
func TestAVCDecoderConfigMatchesFFmpeg(t *testing.T) {
	v := avcVectors[1]
	sps, pps := unhex(t, v.sps), unhex(t, v.pps)
	ffmpeg := cat(
		[]byte{0x01, 0x64, 0x00, 0x0d}, // version, profile 100, compatibility, level 13
		[]byte{0xff},                   // reserved + lengthSizeMinusOne 3
		[]byte{0xe1, 0x00, 0x19}, sps,  // one SPS of 25 bytes
		[]byte{0x01, 0x00, 0x06}, pps, // one PPS of 6 bytes
		[]byte{0xfd, 0xf8, 0xf8, 0x00}, // chroma 4:2:0, 8-bit luma and chroma, no SPS extensions
	)
	cfg, err := flv.NewAVCDecoderConfig([][]byte{sps}, [][]byte{pps})
	if err != nil {
		t.Fatal(err)
	}
	got, err := cfg.AppendTo(nil)
	if err != nil || !bytes.Equal(got, ffmpeg) {
		t.Fatalf("AppendTo = % x, %v\nwant         % x", got, err, ffmpeg)
	}
	back, err := flv.ParseAVCDecoderConfig(ffmpeg)
	if err != nil {
		t.Fatal(err)
	}
	if back.Profile != 100 || back.Level != 13 || back.LengthSize != 4 || len(back.SPS) != 1 || len(back.PPS) != 1 ||
		!bytes.Equal(back.SPS[0], sps) || !bytes.Equal(back.PPS[0], pps) || !back.HasExt || back.ChromaFormat != 1 ||
		back.BitDepthLuma != 8 || back.BitDepthChroma != 8 || len(back.SPSExt) != 0 {
		t.Errorf("parsed %+v", back)
	}
	vc, err := flv.ParseVideoConfig(flv.CodecAVC, ffmpeg)
	if err != nil || vc != (flv.VideoConfig{Codec: flv.CodecAVC, Width: 320, Height: 240, Profile: 100, Level: 13}) {
		t.Errorf("ParseVideoConfig = %+v, %v", vc, err)
	}
	// Baseline records carry no extension.
	base := avcVectors[0]
	cfg, err = flv.NewAVCDecoderConfig([][]byte{unhex(t, base.sps)}, [][]byte{unhex(t, base.pps)})
	if err != nil || cfg.HasExt {
		t.Errorf("baseline config %+v, %v", cfg, err)
	}
}

func TestParseAVCErrors(t *testing.T) {
	good := unhex(t, avcVectors[1].sps)
	records := map[string][]byte{
		"short":           {0x01, 0x64, 0x00},
		"version-0":       {0x00, 0x64, 0x00, 0x0d, 0xff, 0xe0, 0x00},
		"length-size-3":   {0x01, 0x64, 0x00, 0x0d, 0xfe, 0xe0, 0x00},
		"sps-truncated":   {0x01, 0x64, 0x00, 0x0d, 0xff, 0xe1, 0x00, 0x19, 0x67},
		"pps-count-lost":  {0x01, 0x64, 0x00, 0x0d, 0xff, 0xe0},
		"pps-truncated":   {0x01, 0x64, 0x00, 0x0d, 0xff, 0xe0, 0x01, 0x00, 0x05, 0x68},
		"ext-list-broken": {0x01, 0x64, 0x00, 0x0d, 0xff, 0xe0, 0x00, 0xfd, 0xf8, 0xf8, 0x01, 0x00, 0x09},
	}
	for name, b := range records {
		if _, err := flv.ParseAVCDecoderConfig(b); err == nil {
			t.Errorf("record %s: no error", name)
		}
	}
	sps := map[string][]byte{
		"short":          good[:3],
		"not-sps":        append([]byte{0x68}, good[1:]...),
		"truncated":      good[:8],
		"huge-width":     {0x67, 0x42, 0x00, 0x1e, 0xf4, 0x00, 0x00, 0x00, 0x01, 0xff}, // pic_width_in_mbs_minus1 of 31 bits
		"bad-chroma-idc": {0x67, 0x64, 0x00, 0x1e, 0x88, 0x30},                         // sps id 0, chroma_format_idc 4
	}
	for name, b := range sps {
		if _, err := flv.ParseAVCSPS(b); err == nil {
			t.Errorf("SPS %s: no error", name)
		}
	}
	if _, err := flv.NewAVCDecoderConfig(nil, [][]byte{{0x68}}); err == nil {
		t.Error("NewAVCDecoderConfig without SPS: no error")
	}
	if _, err := flv.ParseVideoConfig(flv.CodecVP9, []byte{1}); err == nil {
		t.Error("ParseVideoConfig(VP9): no error")
	}
	if _, err := flv.ParseVideoConfig(flv.CodecAVC, []byte{0x01, 0x64, 0x00, 0x0d, 0xff, 0xe0, 0x00}); err == nil {
		t.Error("ParseVideoConfig of a record without SPS: no error")
	}
}

func TestParseHEVCSPS(t *testing.T) {
	for _, v := range hevcVectors {
		t.Run(v.name, func(t *testing.T) {
			s, err := flv.ParseHEVCSPS(unhex(t, v.sps))
			if err != nil {
				t.Fatal(err)
			}
			if s.Width != v.width || s.Height != v.height || s.ProfileIDC != v.profile || s.LevelIDC != v.level ||
				s.ChromaFormatIDC != v.chroma || s.BitDepthLuma != v.bitDepth || s.MaxSubLayers != v.subLayers {
				t.Errorf("got %+v, want %dx%d profile %d level %d chroma %d depth %d sub-layers %d",
					s, v.width, v.height, v.profile, v.level, v.chroma, v.bitDepth, v.subLayers)
			}
			// Bytes 4..7 of the NAL unit hold the compatibility flags with
			// an emulation prevention byte (60 00 00 03 00 ...): the parser
			// must drop it to see flags 1 and 2 (Main) or 4 (RExt).
			if s.ProfileCompatibilityFlags != v.compat {
				t.Errorf("compatibility flags %#x, want %#x", s.ProfileCompatibilityFlags, v.compat)
			}
		})
	}
}

func TestHEVCDecoderConfigRoundTrip(t *testing.T) {
	for _, v := range hevcVectors {
		t.Run(v.name, func(t *testing.T) {
			vps, sps, pps := unhex(t, v.vps), unhex(t, v.sps), unhex(t, v.pps)
			cfg, err := flv.NewHEVCDecoderConfig([][]byte{vps}, [][]byte{sps}, [][]byte{pps})
			if err != nil {
				t.Fatal(err)
			}
			rec, err := cfg.AppendTo(nil)
			if err != nil {
				t.Fatal(err)
			}
			// Fixed part: 23 bytes, then three arrays of one NAL unit each.
			if want := 23 + 3*(3+2) + len(vps) + len(sps) + len(pps); len(rec) != want {
				t.Errorf("record of %d bytes, want %d", len(rec), want)
			}
			back, err := flv.ParseHEVCDecoderConfig(rec)
			if err != nil {
				t.Fatal(err)
			}
			if back.ProfileIDC != v.profile || back.LevelIDC != v.level || back.ChromaFormatIDC != v.chroma ||
				back.BitDepthLuma != v.bitDepth || back.NumTemporalLayers != v.subLayers || back.LengthSize != 4 {
				t.Errorf("parsed %+v", back)
			}
			for typ, want := range map[uint8][]byte{32: vps, 33: sps, 34: pps} {
				if got := back.NALUs(typ); len(got) != 1 || !bytes.Equal(got[0], want) {
					t.Errorf("NAL units of type %d: % x", typ, got)
				}
			}
			again, err := back.AppendTo(nil)
			if err != nil || !bytes.Equal(again, rec) {
				t.Errorf("re-encoding changed the record: %v", err)
			}
			vc, err := flv.ParseVideoConfig(flv.CodecHEVC, rec)
			if err != nil || vc.Width != v.width || vc.Height != v.height || vc.Profile != int(v.profile) || vc.Level != int(v.level) {
				t.Errorf("ParseVideoConfig = %+v, %v", vc, err)
			}
		})
	}
}

func TestParseHEVCErrors(t *testing.T) {
	rec := hevcRecord240(t)
	for name, b := range map[string][]byte{
		"short":           rec[:22],
		"version-2":       append([]byte{2}, rec[1:]...),
		"array-truncated": rec[:30],
		"length-size-3":   append(append(append([]byte(nil), rec[:21]...), rec[21]&0xfc|0x02), rec[22:]...),
	} {
		if _, err := flv.ParseHEVCDecoderConfig(b); err == nil {
			t.Errorf("record %s: no error", name)
		}
	}
	sps := unhex(t, hevcVectors[0].sps)
	for name, b := range map[string][]byte{
		"short":     sps[:2],
		"not-sps":   append([]byte{0x40, 0x01}, sps[2:]...),
		"truncated": sps[:12],
	} {
		if _, err := flv.ParseHEVCSPS(b); err == nil {
			t.Errorf("SPS %s: no error", name)
		}
	}
	if _, err := flv.NewHEVCDecoderConfig(nil, [][]byte{sps}, nil); err == nil {
		t.Error("NewHEVCDecoderConfig without VPS/PPS: no error")
	}
	noSPS := flv.HEVCDecoderConfig{LengthSize: 4, BitDepthLuma: 8, BitDepthChroma: 8}
	b, err := noSPS.AppendTo(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := flv.ParseVideoConfig(flv.CodecHEVC, b); err == nil {
		t.Error("ParseVideoConfig of a record without SPS: no error")
	}
}

func TestParseAV1SequenceHeader(t *testing.T) {
	for _, v := range av1Vectors {
		t.Run(v.name, func(t *testing.T) {
			raw := unhex(t, v.obu)
			o, n, err := flv.ParseOBU(raw)
			if err != nil || n != len(raw) || o.Type != flv.OBUSequenceHeader || !o.HasSize {
				t.Fatalf("ParseOBU = %+v, %d, %v", o, n, err)
			}
			s, err := flv.ParseAV1SequenceHeader(o.Payload)
			if err != nil {
				t.Fatal(err)
			}
			if s.Width != v.width || s.Height != v.height || s.SeqProfile != v.profile || s.BitDepth != v.bitDepth ||
				s.Monochrome != v.mono || s.SubsamplingX != v.ssx || s.SubsamplingY != v.ssy {
				t.Errorf("got %+v", s)
			}
			cfg, err := flv.NewAV1CodecConfig(raw)
			if err != nil {
				t.Fatal(err)
			}
			rec, err := cfg.AppendTo(nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(rec[4:], raw) {
				t.Errorf("configOBUs % x, want the sequence header % x", rec[4:], raw)
			}
			back, err := flv.ParseAV1CodecConfig(rec)
			if err != nil {
				t.Fatal(err)
			}
			if back.SeqProfile != v.profile || back.HighBitdepth != (v.bitDepth > 8) || back.Monochrome != v.mono ||
				back.SubsamplingX != v.ssx || back.SubsamplingY != v.ssy || back.SeqLevelIdx0 != s.SeqLevelIdx0 {
				t.Errorf("record %+v", back)
			}
			vc, err := flv.ParseVideoConfig(flv.CodecAV1, rec)
			if err != nil || vc.Width != v.width || vc.Height != v.height || vc.Profile != int(v.profile) {
				t.Errorf("ParseVideoConfig = %+v, %v", vc, err)
			}
		})
	}
}

func TestAV1CodecConfigFields(t *testing.T) {
	rec := []byte{
		0x81,       // marker 1, version 1
		0x4d,       // seq_profile 2, seq_level_idx_0 13
		0xee,       // tier 1, high_bitdepth, twelve_bit, mono 0, ssx 1, ssy 1, chroma_sample_position 2
		0x1a,       // initial_presentation_delay_present, minus_one 10
		0x0a, 0x00, // configOBUs: an empty sequence header OBU
	}
	c, err := flv.ParseAV1CodecConfig(rec)
	if err != nil {
		t.Fatal(err)
	}
	want := flv.AV1CodecConfig{SeqProfile: 2, SeqLevelIdx0: 13, SeqTier0: 1, HighBitdepth: true, TwelveBit: true,
		SubsamplingX: true, SubsamplingY: true, ChromaSamplePosition: 2,
		InitialPresentationDelayPresent: true, InitialPresentationDelayMinusOne: 10, ConfigOBUs: []byte{0x0a, 0x00}}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got %+v\nwant %+v", c, want)
	}
	c.ConfigOBUs = []byte{0x0a, 0x00}
	if out, err := c.AppendTo(nil); err != nil || !bytes.Equal(out, rec) {
		t.Errorf("AppendTo = % x, %v", out, err)
	}
	if _, err := c.SequenceHeader(); err == nil {
		t.Error("an empty sequence header parsed")
	}
	for name, b := range map[string][]byte{"short": rec[:3], "bad-marker": {0x01, 0, 0, 0}} {
		if _, err := flv.ParseAV1CodecConfig(b); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	noSeq := flv.AV1CodecConfig{ConfigOBUs: []byte{0x2a, 0x00}} // a metadata OBU only
	if _, err := noSeq.SequenceHeader(); err == nil {
		t.Error("config without sequence header: no error")
	}
}

func TestParseOBU(t *testing.T) {
	cases := []struct {
		name  string
		bytes []byte
		want  flv.OBU
		n     int
	}{
		{"temporal-delimiter", []byte{0x12, 0x00}, flv.OBU{Type: flv.OBUTemporalDelimiter, HasSize: true}, 2},
		{"extension-and-2-byte-size", cat([]byte{0x36, 0x48, 0x80, 0x01}, make([]byte, 128)), // frame, ext tid 2 sid 1, leb128 128
			flv.OBU{Type: flv.OBUFrame, HasExtension: true, TemporalID: 2, SpatialID: 1, HasSize: true}, 132},
		{"no-size-runs-to-end", []byte{0x30, 0xaa, 0xbb}, flv.OBU{Type: flv.OBUFrame}, 3},
	}
	for _, c := range cases {
		o, n, err := flv.ParseOBU(c.bytes)
		if err != nil || n != c.n {
			t.Errorf("%s: n %d, %v", c.name, n, err)
			continue
		}
		if len(o.Raw) != n || len(o.Payload) != n-(len(o.Raw)-len(o.Payload)) {
			t.Errorf("%s: raw %d payload %d", c.name, len(o.Raw), len(o.Payload))
		}
		o.Raw, o.Payload = nil, nil
		if !reflect.DeepEqual(o, c.want) {
			t.Errorf("%s: %+v, want %+v", c.name, o, c.want)
		}
	}
	for name, b := range map[string][]byte{
		"empty":                nil,
		"forbidden-bit":        {0x92, 0x00},
		"ext-missing":          {0x34},
		"size-truncated":       {0x32, 0x80},
		"size-too-big":         {0x32, 0x05, 0x00},
		"leb128-9-bytes":       {0x32, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00},
		"leb128-above-32-bits": {0x32, 0x80, 0x80, 0x80, 0x80, 0x10},
	} {
		if _, _, err := flv.ParseOBU(b); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestNextAV1TemporalUnit(t *testing.T) {
	seq := unhex(t, av1Vectors[0].obu)
	frame := []byte{0x32, 0x02, 0x10, 0x00} // frame OBU, 2 bytes
	stream := cat([]byte{0x12, 0x00}, seq, frame, []byte{0x12, 0x00}, frame, []byte{0x12, 0x00})
	var units [][]byte
	for rest := stream; ; {
		tu, r, err := flv.NextAV1TemporalUnit(rest)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		units = append(units, tu)
		rest = r
	}
	want := [][]byte{cat([]byte{0x12, 0x00}, seq, frame), cat([]byte{0x12, 0x00}, frame), {0x12, 0x00}}
	if len(units) != len(want) {
		t.Fatalf("%d units, want %d", len(units), len(want))
	}
	for i := range want {
		if !bytes.Equal(units[i], want[i]) {
			t.Errorf("unit %d = % x, want % x", i, units[i], want[i])
		}
	}
	if _, _, err := flv.NextAV1TemporalUnit([]byte{0x12, 0x00, 0x30, 0x01}); err == nil {
		t.Error("an OBU without size field in a low-overhead stream: no error")
	}
	if _, _, err := flv.NextAV1TemporalUnit([]byte{0x12, 0x05}); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated OBU: %v", err)
	}
}

func TestParseAudioSpecificConfig(t *testing.T) {
	cases := []struct {
		name  string
		bytes []byte
		want  flv.AudioSpecificConfig
	}{
		{"lc-44100-stereo", []byte{0x12, 0x10}, flv.AudioSpecificConfig{ObjectType: 2, SampleRate: 44100, ChannelConfig: 2, Channels: 2}},
		// FFmpeg's encoder output: LC, 44.1 kHz mono, then a 0x2b7 sync extension (not read).
		{"ffmpeg-lc-mono-sync-extension", []byte{0x12, 0x08, 0x56, 0xe5, 0x00}, flv.AudioSpecificConfig{ObjectType: 2, SampleRate: 44100, ChannelConfig: 1, Channels: 1}},
		// 00101 0110 0010 0011 00010: SBR, 24 kHz core, stereo, 48 kHz output, LC.
		{"he-aac-explicit", []byte{0x2b, 0x11, 0x88}, flv.AudioSpecificConfig{ObjectType: 5, SampleRate: 24000, ChannelConfig: 2, Channels: 2, SBR: true, ExtensionSampleRate: 48000, ExtensionObjectType: 2}},
		// 11101 0111 0001 0011 00010: PS, 22.05 kHz core, mono, 48 kHz output, LC.
		{"he-aac-v2-ps", []byte{0xeb, 0x89, 0x88}, flv.AudioSpecificConfig{ObjectType: 29, SampleRate: 22050, ChannelConfig: 1, Channels: 1, SBR: true, ExtensionSampleRate: 48000, ExtensionObjectType: 2}},
		// 11111 001010 0011 0010: escaped object type 42 (USAC), 48 kHz, stereo.
		{"escaped-object-type", []byte{0xf9, 0x46, 0x40}, flv.AudioSpecificConfig{ObjectType: 42, SampleRate: 48000, ChannelConfig: 2, Channels: 2}},
		// 00010 1111 <24-bit 44100> 0001: explicit frequency.
		{"explicit-frequency", []byte{0x17, 0x80, 0x56, 0x22, 0x08}, flv.AudioSpecificConfig{ObjectType: 2, SampleRate: 44100, ChannelConfig: 1, Channels: 1}},
		// channelConfiguration 7 is 8 channels.
		{"7.1", []byte{0x11, 0xb8}, flv.AudioSpecificConfig{ObjectType: 2, SampleRate: 48000, ChannelConfig: 7, Channels: 8}},
	}
	for _, c := range cases {
		got, err := flv.ParseAudioSpecificConfig(c.bytes)
		if err != nil || got != c.want {
			t.Errorf("%s: %+v, %v; want %+v", c.name, got, err, c.want)
		}
	}
	for name, b := range map[string][]byte{
		"empty":              nil,
		"one-byte":           {0x12},
		"object-type-0":      {0x00, 0x10},
		"reserved-frequency": {0x16, 0x90}, // index 13
	} {
		if _, err := flv.ParseAudioSpecificConfig(b); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
