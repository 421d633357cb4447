package flv

import (
	"fmt"
	"io"
)

// AVCDecoderConfig is an AVCDecoderConfigurationRecord (ISO/IEC 14496-15
// 5.3.3.1), the body of an AVC sequence header.
type AVCDecoderConfig struct {
	// Profile, ProfileCompatibility and Level are AVCProfileIndication,
	// profile_compatibility and AVCLevelIndication, copies of SPS bytes 1..3.
	Profile, ProfileCompatibility, Level uint8
	// LengthSize is the size of the NAL unit length prefix in coded frames:
	// 1, 2 or 4 bytes (lengthSizeMinusOne + 1).
	LengthSize uint8
	// SPS and PPS are the parameter set NAL units (with their NAL header
	// byte). They alias the parsed record.
	SPS, PPS [][]byte
	// HasExt reports the high-profile extension (profiles other than 66,
	// 77 and 88), which many writers omit: chroma_format_idc, bit depths
	// and SPS extension NAL units.
	HasExt         bool
	ChromaFormat   uint8    // chroma_format_idc
	BitDepthLuma   uint8    // bit_depth_luma_minus8 + 8
	BitDepthChroma uint8    // bit_depth_chroma_minus8 + 8
	SPSExt         [][]byte // SPS extension NAL units, aliasing the record
}

// avcHasExt reports whether the record of this profile may carry the
// high-profile extension.
func avcHasExt(profile uint8) bool {
	return profile != 66 && profile != 77 && profile != 88
}

// ParseAVCDecoderConfig parses an AVCDecoderConfigurationRecord. The
// high-profile extension is read when the profile allows it and the bytes
// are there. Parameter sets alias b.
func ParseAVCDecoderConfig(b []byte) (AVCDecoderConfig, error) {
	var c AVCDecoderConfig
	if len(b) < 6 {
		return c, fmt.Errorf("flv: AVC config needs 6 bytes, have %d: %w", len(b), io.ErrUnexpectedEOF)
	}
	if b[0] != 1 {
		return c, fmt.Errorf("%w: AVC configurationVersion %d", errMalformed, b[0])
	}
	c.Profile, c.ProfileCompatibility, c.Level = b[1], b[2], b[3]
	c.LengthSize = b[4]&0x03 + 1
	if c.LengthSize == 3 {
		return AVCDecoderConfig{}, fmt.Errorf("%w: AVC NAL length size 3", errMalformed)
	}
	var err error
	rest := b[6:]
	if c.SPS, rest, err = parseNALList(rest, int(b[5]&0x1f), "AVC SPS"); err != nil {
		return AVCDecoderConfig{}, err
	}
	if len(rest) < 1 {
		return AVCDecoderConfig{}, fmt.Errorf("flv: AVC PPS count: %w", io.ErrUnexpectedEOF)
	}
	if c.PPS, rest, err = parseNALList(rest[1:], int(rest[0]), "AVC PPS"); err != nil {
		return AVCDecoderConfig{}, err
	}
	if avcHasExt(c.Profile) && len(rest) >= 4 {
		c.HasExt = true
		c.ChromaFormat = rest[0] & 0x03
		c.BitDepthLuma = rest[1]&0x07 + 8
		c.BitDepthChroma = rest[2]&0x07 + 8
		if c.SPSExt, _, err = parseNALList(rest[4:], int(rest[3]), "AVC SPS extension"); err != nil {
			return AVCDecoderConfig{}, err
		}
	}
	return c, nil
}

// parseNALList reads n NAL units, each prefixed by a u16 length.
func parseNALList(b []byte, n int, what string) ([][]byte, []byte, error) {
	if n == 0 {
		return nil, b, nil
	}
	list := make([][]byte, 0, min(n, len(b)/2))
	for i := 0; i < n; i++ {
		if len(b) < 2 {
			return nil, nil, fmt.Errorf("flv: %s %d length: %w", what, i, io.ErrUnexpectedEOF)
		}
		l := int(be16(b))
		if len(b) < 2+l {
			return nil, nil, fmt.Errorf("flv: %s %d needs %d bytes, have %d: %w", what, i, l, len(b)-2, io.ErrUnexpectedEOF)
		}
		list = append(list, b[2:2+l:2+l])
		b = b[2+l:]
	}
	return list, b, nil
}

func appendNALList(dst []byte, list [][]byte, what string) ([]byte, error) {
	for _, n := range list {
		if len(n) > 0xFFFF {
			return dst, fmt.Errorf("%w: %s of %d bytes", errEncode, what, len(n))
		}
		dst = append(dst, byte(len(n)>>8), byte(len(n)))
		dst = append(dst, n...)
	}
	return dst, nil
}

// AppendTo appends the record to dst. Reserved bits are written as ones.
func (c *AVCDecoderConfig) AppendTo(dst []byte) ([]byte, error) {
	if c.LengthSize != 1 && c.LengthSize != 2 && c.LengthSize != 4 {
		return dst, fmt.Errorf("%w: AVC NAL length size %d", errEncode, c.LengthSize)
	}
	if len(c.SPS) > 31 || len(c.PPS) > 255 || len(c.SPSExt) > 255 {
		return dst, fmt.Errorf("%w: %d SPS, %d PPS, %d SPS extensions", errEncode, len(c.SPS), len(c.PPS), len(c.SPSExt))
	}
	dst = append(dst, 1, c.Profile, c.ProfileCompatibility, c.Level, 0xfc|(c.LengthSize-1), 0xe0|byte(len(c.SPS)))
	var err error
	if dst, err = appendNALList(dst, c.SPS, "AVC SPS"); err != nil {
		return dst, err
	}
	dst = append(dst, byte(len(c.PPS)))
	if dst, err = appendNALList(dst, c.PPS, "AVC PPS"); err != nil {
		return dst, err
	}
	if !c.HasExt {
		return dst, nil
	}
	if c.ChromaFormat > 3 || c.BitDepthLuma < 8 || c.BitDepthLuma > 15 || c.BitDepthChroma < 8 || c.BitDepthChroma > 15 {
		return dst, fmt.Errorf("%w: AVC chroma format %d, bit depths %d/%d", errEncode, c.ChromaFormat, c.BitDepthLuma, c.BitDepthChroma)
	}
	dst = append(dst, 0xfc|c.ChromaFormat, 0xf8|(c.BitDepthLuma-8), 0xf8|(c.BitDepthChroma-8), byte(len(c.SPSExt)))
	return appendNALList(dst, c.SPSExt, "AVC SPS extension")
}

// NewAVCDecoderConfig builds a record from parameter sets (NAL units
// without start codes) with 4-byte NAL lengths, as FFmpeg writes it:
// profile, compatibility and level come from the first SPS, and for
// profiles that allow it the extension carries the SPS's chroma format and
// bit depths. The record aliases the given slices.
func NewAVCDecoderConfig(sps, pps [][]byte) (AVCDecoderConfig, error) {
	if len(sps) == 0 || len(pps) == 0 {
		return AVCDecoderConfig{}, fmt.Errorf("%w: AVC needs an SPS and a PPS, have %d and %d", errNoParameterSet, len(sps), len(pps))
	}
	s, err := ParseAVCSPS(sps[0])
	if err != nil {
		return AVCDecoderConfig{}, err
	}
	c := AVCDecoderConfig{
		Profile:              sps[0][1],
		ProfileCompatibility: sps[0][2],
		Level:                sps[0][3],
		LengthSize:           4,
		SPS:                  sps,
		PPS:                  pps,
	}
	if avcHasExt(c.Profile) {
		c.HasExt = true
		c.ChromaFormat, c.BitDepthLuma, c.BitDepthChroma = s.ChromaFormatIDC, s.BitDepthLuma, s.BitDepthChroma
	}
	return c, nil
}

// AVCSPS holds the fields of an H.264 sequence parameter set that describe
// the picture.
type AVCSPS struct {
	ProfileIDC      uint8  // profile_idc: 66 Baseline, 77 Main, 100 High, ...
	ConstraintFlags uint8  // constraint_set0..5 flags and reserved bits
	LevelIDC        uint8  // level_idc: 10 times the level number
	ID              uint32 // seq_parameter_set_id
	ChromaFormatIDC uint8  // 0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4
	BitDepthLuma    uint8  // bit_depth_luma_minus8 + 8
	BitDepthChroma  uint8  // bit_depth_chroma_minus8 + 8
	FrameMBSOnly    bool   // false for field/MBAFF coding
	// Width and Height are the displayed size: the coded size minus the
	// frame cropping.
	Width, Height int
}

// maxAVCMBs bounds the picture size fields: far above the largest level
// (139264 macroblocks at level 6.2) and small enough for int arithmetic.
const maxAVCMBs = 1 << 16

// ParseAVCSPS parses an H.264 SPS NAL unit (starting with its NAL header
// byte, emulation prevention bytes included). It reads up to the frame
// cropping, including high-profile chroma format, bit depths and scaling
// lists, and computes the displayed width and height.
func ParseAVCSPS(nalu []byte) (AVCSPS, error) {
	var s AVCSPS
	if len(nalu) < 4 {
		return s, fmt.Errorf("flv: AVC SPS needs 4 bytes, have %d: %w", len(nalu), io.ErrUnexpectedEOF)
	}
	if nalu[0]&0x1f != 7 {
		return s, fmt.Errorf("%w: NAL type %d is not an AVC SPS", errMalformed, nalu[0]&0x1f)
	}
	s.ProfileIDC, s.ConstraintFlags, s.LevelIDC = nalu[1], nalu[2], nalu[3]
	r := bitReader{b: nalu[4:], rbsp: true}
	s.ID = r.ue()
	s.ChromaFormatIDC, s.BitDepthLuma, s.BitDepthChroma = 1, 8, 8
	separateColourPlane := false
	switch s.ProfileIDC {
	case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135:
		cf := r.ue()
		if cf > 3 {
			return AVCSPS{}, fmt.Errorf("%w: AVC chroma_format_idc %d", errMalformed, cf)
		}
		s.ChromaFormatIDC = uint8(cf)
		if cf == 3 {
			separateColourPlane = r.flag()
		}
		bl, bc := r.ue(), r.ue()
		if bl > 6 || bc > 6 {
			return AVCSPS{}, fmt.Errorf("%w: AVC bit depth %d/%d", errMalformed, bl+8, bc+8)
		}
		s.BitDepthLuma, s.BitDepthChroma = uint8(bl+8), uint8(bc+8)
		r.flag()      // qpprime_y_zero_transform_bypass_flag
		if r.flag() { // seq_scaling_matrix_present_flag
			lists := 8
			if cf == 3 {
				lists = 12
			}
			for i := 0; i < lists && r.ok(); i++ {
				if r.flag() { // seq_scaling_list_present_flag[i]
					size := 16
					if i >= 6 {
						size = 64
					}
					skipScalingList(&r, size)
				}
			}
		}
	}
	if r.ue() > 12 { // log2_max_frame_num_minus4
		return AVCSPS{}, fmt.Errorf("%w: AVC log2_max_frame_num", errMalformed)
	}
	switch r.ue() { // pic_order_cnt_type
	case 0:
		r.ue() // log2_max_pic_order_cnt_lsb_minus4
	case 1:
		r.flag() // delta_pic_order_always_zero_flag
		r.se()   // offset_for_non_ref_pic
		r.se()   // offset_for_top_to_bottom_field
		n := r.ue()
		if n > 255 {
			return AVCSPS{}, fmt.Errorf("%w: AVC num_ref_frames_in_pic_order_cnt_cycle %d", errMalformed, n)
		}
		for i := uint32(0); i < n && r.ok(); i++ {
			r.se() // offset_for_ref_frame[i]
		}
	case 2:
	default:
		return AVCSPS{}, fmt.Errorf("%w: AVC pic_order_cnt_type", errMalformed)
	}
	r.ue()   // max_num_ref_frames
	r.flag() // gaps_in_frame_num_value_allowed_flag
	wMBs, hMaps := r.ue()+1, r.ue()+1
	s.FrameMBSOnly = r.flag()
	if !s.FrameMBSOnly {
		r.flag() // mb_adaptive_frame_field_flag
	}
	r.flag() // direct_8x8_inference_flag
	var cropL, cropR, cropT, cropB uint32
	if r.flag() { // frame_cropping_flag
		cropL, cropR, cropT, cropB = r.ue(), r.ue(), r.ue(), r.ue()
	}
	if !r.ok() {
		return AVCSPS{}, fmt.Errorf("flv: AVC SPS: %w", io.ErrUnexpectedEOF)
	}
	if wMBs > maxAVCMBs || hMaps > maxAVCMBs {
		return AVCSPS{}, fmt.Errorf("%w: AVC picture of %dx%d macroblocks", errMalformed, wMBs, hMaps)
	}
	fieldMul := 2
	if s.FrameMBSOnly {
		fieldMul = 1
	}
	// Crop units (H.264 7.4.2.1.1, frame_crop_*_offset).
	cropX, cropY := 1, fieldMul
	if !separateColourPlane && s.ChromaFormatIDC != 0 {
		subW, subH := 2, 2
		switch s.ChromaFormatIDC {
		case 2:
			subH = 1
		case 3:
			subW, subH = 1, 1
		}
		cropX, cropY = subW, subH*fieldMul
	}
	w := int(wMBs) * 16
	h := int(hMaps) * 16 * fieldMul
	cw := int64(cropX) * (int64(cropL) + int64(cropR))
	ch := int64(cropY) * (int64(cropT) + int64(cropB))
	if cw >= int64(w) || ch >= int64(h) {
		return AVCSPS{}, fmt.Errorf("%w: AVC cropping %d/%d of %dx%d", errMalformed, cw, ch, w, h)
	}
	s.Width, s.Height = w-int(cw), h-int(ch)
	return s, nil
}

// skipScalingList reads a scaling_list() of the given size.
func skipScalingList(r *bitReader, size int) {
	last, next := int32(8), int32(8)
	for j := 0; j < size && r.ok(); j++ {
		if next != 0 {
			next = (last + r.se() + 256) % 256
		}
		if next != 0 {
			last = next
		}
	}
}
