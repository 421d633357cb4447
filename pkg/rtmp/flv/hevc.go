package flv

import (
	"fmt"
	"io"
)

// HEVC NAL unit types used here.
const (
	hevcNALVPS       = 32
	hevcNALSPS       = 33
	hevcNALPPS       = 34
	hevcNALAUD       = 35
	hevcNALPrefixSEI = 39
)

// HEVCDecoderConfig is an HEVCDecoderConfigurationRecord (ISO/IEC 14496-15
// 8.3.3.1), the body of an hvc1 SequenceStart.
type HEVCDecoderConfig struct {
	// The general profile, tier and level of the stream, as in the SPS's
	// profile_tier_level().
	ProfileSpace              uint8  // general_profile_space, 2 bits
	TierFlag                  bool   // general_tier_flag: High tier
	ProfileIDC                uint8  // general_profile_idc: 1 Main, 2 Main 10, 4 RExt, ...
	ProfileCompatibilityFlags uint32 // general_profile_compatibility_flag[0..31], flag 0 in bit 31
	ConstraintIndicatorFlags  uint64 // the 48 bits after the compatibility flags
	LevelIDC                  uint8  // general_level_idc: 30 times the level number

	MinSpatialSegmentationIDC uint16 // 12 bits
	ParallelismType           uint8  // 2 bits
	ChromaFormatIDC           uint8  // 2 bits
	BitDepthLuma              uint8  // 8..15
	BitDepthChroma            uint8  // 8..15
	AvgFrameRate              uint16 // frames per 256 s, 0 = unspecified
	ConstantFrameRate         uint8  // 2 bits
	NumTemporalLayers         uint8  // 3 bits
	TemporalIDNested          bool   // temporalIdNested
	// LengthSize is the NAL unit length prefix size in coded frames: 1, 2
	// or 4 bytes.
	LengthSize uint8
	// Arrays holds the NAL units of the record (VPS, SPS, PPS, SEI), one
	// array per NAL unit type.
	Arrays []HEVCNALArray
}

// HEVCNALArray is one array of an HEVCDecoderConfigurationRecord.
type HEVCNALArray struct {
	// Complete is array_completeness: all NAL units of this type are in
	// the array and none in the stream.
	Complete bool
	// Type is the NAL unit type (32 VPS, 33 SPS, 34 PPS, 39/40 SEI).
	Type uint8
	// NALUs are the NAL units with their 2-byte header; they alias the
	// parsed record.
	NALUs [][]byte
}

// NALUs returns the NAL units of the given type from every array.
func (c *HEVCDecoderConfig) NALUs(typ uint8) [][]byte {
	var out [][]byte
	for _, a := range c.Arrays {
		if a.Type == typ {
			out = append(out, a.NALUs...)
		}
	}
	return out
}

// ParseHEVCDecoderConfig parses an HEVCDecoderConfigurationRecord. NAL
// units alias b.
func ParseHEVCDecoderConfig(b []byte) (HEVCDecoderConfig, error) {
	var c HEVCDecoderConfig
	if len(b) < 23 {
		return c, fmt.Errorf("flv: HEVC config needs 23 bytes, have %d: %w", len(b), io.ErrUnexpectedEOF)
	}
	if b[0] != 1 {
		return c, fmt.Errorf("%w: HEVC configurationVersion %d", errMalformed, b[0])
	}
	c.ProfileSpace = b[1] >> 6
	c.TierFlag = b[1]&0x20 != 0
	c.ProfileIDC = b[1] & 0x1f
	c.ProfileCompatibilityFlags = be32(b[2:])
	c.ConstraintIndicatorFlags = uint64(be16(b[6:]))<<32 | uint64(be32(b[8:]))
	c.LevelIDC = b[12]
	c.MinSpatialSegmentationIDC = be16(b[13:]) & 0x0fff
	c.ParallelismType = b[15] & 0x03
	c.ChromaFormatIDC = b[16] & 0x03
	c.BitDepthLuma = b[17]&0x07 + 8
	c.BitDepthChroma = b[18]&0x07 + 8
	c.AvgFrameRate = be16(b[19:])
	c.ConstantFrameRate = b[21] >> 6
	c.NumTemporalLayers = b[21] >> 3 & 0x07
	c.TemporalIDNested = b[21]&0x04 != 0
	c.LengthSize = b[21]&0x03 + 1
	if c.LengthSize == 3 {
		return HEVCDecoderConfig{}, fmt.Errorf("%w: HEVC NAL length size 3", errMalformed)
	}
	n := int(b[22])
	rest := b[23:]
	if n > 0 {
		c.Arrays = make([]HEVCNALArray, 0, min(n, len(rest)/3))
	}
	for i := 0; i < n; i++ {
		if len(rest) < 3 {
			return HEVCDecoderConfig{}, fmt.Errorf("flv: HEVC array %d header: %w", i, io.ErrUnexpectedEOF)
		}
		a := HEVCNALArray{Complete: rest[0]&0x80 != 0, Type: rest[0] & 0x3f}
		var err error
		if a.NALUs, rest, err = parseNALList(rest[3:], int(be16(rest[1:])), "HEVC NAL unit"); err != nil {
			return HEVCDecoderConfig{}, err
		}
		c.Arrays = append(c.Arrays, a)
	}
	return c, nil
}

// AppendTo appends the record to dst. Reserved bits are written as ones.
func (c *HEVCDecoderConfig) AppendTo(dst []byte) ([]byte, error) {
	switch {
	case c.LengthSize != 1 && c.LengthSize != 2 && c.LengthSize != 4:
		return dst, fmt.Errorf("%w: HEVC NAL length size %d", errEncode, c.LengthSize)
	case c.ProfileSpace > 3 || c.ProfileIDC > 31 || c.ConstraintIndicatorFlags >= 1<<48:
		return dst, fmt.Errorf("%w: HEVC profile space %d, idc %d", errEncode, c.ProfileSpace, c.ProfileIDC)
	case c.MinSpatialSegmentationIDC > 0x0fff || c.ParallelismType > 3 || c.ChromaFormatIDC > 3:
		return dst, fmt.Errorf("%w: HEVC segmentation/parallelism/chroma field", errEncode)
	case c.BitDepthLuma < 8 || c.BitDepthLuma > 15 || c.BitDepthChroma < 8 || c.BitDepthChroma > 15:
		return dst, fmt.Errorf("%w: HEVC bit depths %d/%d", errEncode, c.BitDepthLuma, c.BitDepthChroma)
	case c.ConstantFrameRate > 3 || c.NumTemporalLayers > 7 || len(c.Arrays) > 255:
		return dst, fmt.Errorf("%w: HEVC frame rate/temporal layers/array count", errEncode)
	}
	b1 := c.ProfileSpace<<6 | c.ProfileIDC
	if c.TierFlag {
		b1 |= 0x20
	}
	f, ci := c.ProfileCompatibilityFlags, c.ConstraintIndicatorFlags
	b21 := c.ConstantFrameRate<<6 | c.NumTemporalLayers<<3 | (c.LengthSize - 1)
	if c.TemporalIDNested {
		b21 |= 0x04
	}
	dst = append(dst,
		1, b1, // configurationVersion, profile space/tier/idc
		byte(f>>24), byte(f>>16), byte(f>>8), byte(f),
		byte(ci>>40), byte(ci>>32), byte(ci>>24), byte(ci>>16), byte(ci>>8), byte(ci),
		c.LevelIDC,
		0xf0|byte(c.MinSpatialSegmentationIDC>>8), byte(c.MinSpatialSegmentationIDC),
		0xfc|c.ParallelismType,
		0xfc|c.ChromaFormatIDC,
		0xf8|(c.BitDepthLuma-8),
		0xf8|(c.BitDepthChroma-8),
		byte(c.AvgFrameRate>>8), byte(c.AvgFrameRate),
		b21,
		byte(len(c.Arrays)),
	)
	for _, a := range c.Arrays {
		if a.Type > 63 || len(a.NALUs) > 0xFFFF {
			return dst, fmt.Errorf("%w: HEVC array of type %d with %d NAL units", errEncode, a.Type, len(a.NALUs))
		}
		h := a.Type
		if a.Complete {
			h |= 0x80
		}
		dst = append(dst, h, byte(len(a.NALUs)>>8), byte(len(a.NALUs)))
		var err error
		if dst, err = appendNALList(dst, a.NALUs, "HEVC NAL unit"); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// NewHEVCDecoderConfig builds a record from parameter sets (NAL units with
// their 2-byte header, without start codes) with 4-byte NAL lengths and
// complete VPS/SPS/PPS arrays, as required for hvc1. Profile, tier, level,
// chroma format, bit depths and temporal layering come from the first SPS.
// The record aliases the given slices.
func NewHEVCDecoderConfig(vps, sps, pps [][]byte) (HEVCDecoderConfig, error) {
	if len(vps) == 0 || len(sps) == 0 || len(pps) == 0 {
		return HEVCDecoderConfig{}, fmt.Errorf("%w: HEVC needs VPS, SPS and PPS, have %d, %d, %d", errNoParameterSet, len(vps), len(sps), len(pps))
	}
	s, err := ParseHEVCSPS(sps[0])
	if err != nil {
		return HEVCDecoderConfig{}, err
	}
	return HEVCDecoderConfig{
		ProfileSpace:              s.ProfileSpace,
		TierFlag:                  s.TierFlag,
		ProfileIDC:                s.ProfileIDC,
		ProfileCompatibilityFlags: s.ProfileCompatibilityFlags,
		ConstraintIndicatorFlags:  s.ConstraintIndicatorFlags,
		LevelIDC:                  s.LevelIDC,
		ChromaFormatIDC:           s.ChromaFormatIDC,
		BitDepthLuma:              s.BitDepthLuma,
		BitDepthChroma:            s.BitDepthChroma,
		NumTemporalLayers:         s.MaxSubLayers,
		TemporalIDNested:          s.TemporalIDNesting,
		LengthSize:                4,
		Arrays: []HEVCNALArray{
			{Complete: true, Type: hevcNALVPS, NALUs: vps},
			{Complete: true, Type: hevcNALSPS, NALUs: sps},
			{Complete: true, Type: hevcNALPPS, NALUs: pps},
		},
	}, nil
}

// HEVCSPS holds the fields of an H.265 sequence parameter set that describe
// the stream and the picture.
type HEVCSPS struct {
	MaxSubLayers              uint8  // sps_max_sub_layers_minus1 + 1
	TemporalIDNesting         bool   // sps_temporal_id_nesting_flag
	ProfileSpace              uint8  // general_profile_space
	TierFlag                  bool   // general_tier_flag
	ProfileIDC                uint8  // general_profile_idc
	ProfileCompatibilityFlags uint32 // general_profile_compatibility_flag[0..31], flag 0 in bit 31
	ConstraintIndicatorFlags  uint64 // the 48 bits after the compatibility flags
	LevelIDC                  uint8  // general_level_idc
	ID                        uint32 // sps_seq_parameter_set_id
	ChromaFormatIDC           uint8  // 0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4
	BitDepthLuma              uint8  // bit_depth_luma_minus8 + 8
	BitDepthChroma            uint8  // bit_depth_chroma_minus8 + 8
	// Width and Height are the displayed size: pic_width/height_in_luma_
	// samples minus the conformance window.
	Width, Height int
}

// maxHEVCDimension bounds pic_width/height_in_luma_samples, far above any
// level's limit (8192 x 4320 at level 6.2 is 35.6 M samples).
const maxHEVCDimension = 1 << 16

// ParseHEVCSPS parses an H.265 SPS NAL unit (with its 2-byte NAL header,
// emulation prevention bytes included) up to the bit depths.
func ParseHEVCSPS(nalu []byte) (HEVCSPS, error) {
	var s HEVCSPS
	if len(nalu) < 3 {
		return s, fmt.Errorf("flv: HEVC SPS needs 3 bytes, have %d: %w", len(nalu), io.ErrUnexpectedEOF)
	}
	if t := nalu[0] >> 1 & 0x3f; t != hevcNALSPS {
		return s, fmt.Errorf("%w: NAL type %d is not an HEVC SPS", errMalformed, t)
	}
	r := bitReader{b: nalu[2:], rbsp: true}
	r.u(4) // sps_video_parameter_set_id
	s.MaxSubLayers = uint8(r.u(3)) + 1
	s.TemporalIDNesting = r.flag()
	if s.MaxSubLayers > 7 {
		return HEVCSPS{}, fmt.Errorf("%w: HEVC sps_max_sub_layers_minus1 7", errMalformed)
	}
	// profile_tier_level(1, sps_max_sub_layers_minus1)
	s.ProfileSpace = uint8(r.u(2))
	s.TierFlag = r.flag()
	s.ProfileIDC = uint8(r.u(5))
	s.ProfileCompatibilityFlags = r.u(32)
	s.ConstraintIndicatorFlags = r.u64(48)
	s.LevelIDC = uint8(r.u(8))
	sub := int(s.MaxSubLayers) - 1
	var profilePresent, levelPresent [8]bool
	for i := 0; i < sub; i++ {
		profilePresent[i] = r.flag()
		levelPresent[i] = r.flag()
	}
	if sub > 0 {
		for i := sub; i < 8; i++ {
			r.u(2) // reserved_zero_2bits
		}
	}
	for i := 0; i < sub; i++ {
		if profilePresent[i] {
			r.skip(88) // sub_layer profile space .. constraint flags
		}
		if levelPresent[i] {
			r.u(8) // sub_layer_level_idc
		}
	}
	s.ID = r.ue()
	cf := r.ue()
	if cf > 3 {
		return HEVCSPS{}, fmt.Errorf("%w: HEVC chroma_format_idc %d", errMalformed, cf)
	}
	s.ChromaFormatIDC = uint8(cf)
	separateColourPlane := false
	if cf == 3 {
		separateColourPlane = r.flag()
	}
	w, h := r.ue(), r.ue()
	var cropL, cropR, cropT, cropB uint32
	if r.flag() { // conformance_window_flag
		cropL, cropR, cropT, cropB = r.ue(), r.ue(), r.ue(), r.ue()
	}
	bl, bc := r.ue(), r.ue()
	if !r.ok() {
		return HEVCSPS{}, fmt.Errorf("flv: HEVC SPS: %w", io.ErrUnexpectedEOF)
	}
	if bl > 8 || bc > 8 {
		return HEVCSPS{}, fmt.Errorf("%w: HEVC bit depth %d/%d", errMalformed, bl+8, bc+8)
	}
	s.BitDepthLuma, s.BitDepthChroma = uint8(bl+8), uint8(bc+8)
	if w == 0 || h == 0 || w > maxHEVCDimension || h > maxHEVCDimension {
		return HEVCSPS{}, fmt.Errorf("%w: HEVC picture of %dx%d", errMalformed, w, h)
	}
	subW, subH := int64(1), int64(1)
	if !separateColourPlane {
		switch cf {
		case 1:
			subW, subH = 2, 2
		case 2:
			subW = 2
		}
	}
	cw := subW * (int64(cropL) + int64(cropR))
	ch := subH * (int64(cropT) + int64(cropB))
	if cw >= int64(w) || ch >= int64(h) {
		return HEVCSPS{}, fmt.Errorf("%w: HEVC conformance window %d/%d of %dx%d", errMalformed, cw, ch, w, h)
	}
	s.Width, s.Height = int(w)-int(cw), int(h)-int(ch)
	return s, nil
}
