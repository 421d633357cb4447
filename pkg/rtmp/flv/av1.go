package flv

import (
	"fmt"
	"io"
)

// AV1 OBU types (AV1 specification 6.2.2).
const (
	OBUSequenceHeader       = 1
	OBUTemporalDelimiter    = 2
	OBUFrameHeader          = 3
	OBUTileGroup            = 4
	OBUMetadata             = 5
	OBUFrame                = 6
	OBURedundantFrameHeader = 7
	OBUTileList             = 8
	OBUPadding              = 15
)

// OBU is one AV1 open bitstream unit.
type OBU struct {
	// Type is obu_type (OBUSequenceHeader, OBUFrame, ...).
	Type uint8
	// HasExtension reports the extension header; TemporalID and SpatialID
	// come from it.
	HasExtension bool
	TemporalID   uint8 // temporal_id from the extension header
	SpatialID    uint8 // spatial_id from the extension header
	// HasSize reports obu_has_size_field; without it the OBU runs to the
	// end of the buffer.
	HasSize bool
	// Payload is the OBU payload; Raw is the whole OBU, header included.
	// Both alias the parsed buffer.
	Payload, Raw []byte
}

// ParseOBU parses the OBU at the start of b and returns it with its length.
func ParseOBU(b []byte) (OBU, int, error) {
	var o OBU
	if len(b) < 1 {
		return o, 0, fmt.Errorf("flv: OBU header: %w", io.ErrUnexpectedEOF)
	}
	if b[0]&0x80 != 0 {
		return o, 0, fmt.Errorf("%w: OBU forbidden bit set", errMalformed)
	}
	o.Type = b[0] >> 3 & 0x0f
	o.HasExtension = b[0]&0x04 != 0
	o.HasSize = b[0]&0x02 != 0
	n := 1
	if o.HasExtension {
		if len(b) < 2 {
			return OBU{}, 0, fmt.Errorf("flv: OBU extension header: %w", io.ErrUnexpectedEOF)
		}
		o.TemporalID, o.SpatialID = b[1]>>5, b[1]>>3&0x03
		n = 2
	}
	size := len(b) - n
	if o.HasSize {
		v, m, err := readLEB128(b[n:])
		if err != nil {
			return OBU{}, 0, err
		}
		n += m
		if v > uint64(len(b)-n) {
			return OBU{}, 0, fmt.Errorf("flv: OBU of %d bytes, %d left: %w", v, len(b)-n, io.ErrUnexpectedEOF)
		}
		size = int(v)
	}
	o.Payload = b[n : n+size : n+size]
	o.Raw = b[: n+size : n+size]
	return o, n + size, nil
}

// readLEB128 reads an AV1 leb128 (at most 8 bytes, below 2^32).
func readLEB128(b []byte) (uint64, int, error) {
	var v uint64
	for i := 0; i < 8; i++ {
		if i >= len(b) {
			return 0, 0, fmt.Errorf("flv: leb128: %w", io.ErrUnexpectedEOF)
		}
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i]&0x80 == 0 {
			if v > 1<<32-1 {
				return 0, 0, fmt.Errorf("%w: leb128 value %d", errMalformed, v)
			}
			return v, i + 1, nil
		}
	}
	return 0, 0, fmt.Errorf("%w: leb128 longer than 8 bytes", errMalformed)
}

func appendLEB128(dst []byte, v uint64) []byte {
	for {
		b := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(dst, b)
		}
		dst = append(dst, b|0x80)
	}
}

// NextAV1TemporalUnit splits the first temporal unit off an AV1 stream in
// the low-overhead bitstream format (OBUs with size fields, each temporal
// unit starting with a temporal delimiter, as FFmpeg's "obu" muxer writes
// it). tu runs from its temporal delimiter up to the next one and aliases
// stream. An empty stream returns io.EOF.
func NextAV1TemporalUnit(stream []byte) (tu, rest []byte, err error) {
	if len(stream) == 0 {
		return nil, nil, io.EOF
	}
	off := 0
	for off < len(stream) {
		o, n, err := ParseOBU(stream[off:])
		if err != nil {
			return nil, nil, err
		}
		if !o.HasSize {
			return nil, nil, fmt.Errorf("%w: OBU without size field in a low-overhead stream", errMalformed)
		}
		if o.Type == OBUTemporalDelimiter && off > 0 {
			break
		}
		off += n
	}
	return stream[:off:off], stream[off:], nil
}

// AV1SequenceHeader holds the fields of an AV1 sequence header OBU that
// describe the stream and the picture, and what av1C needs.
type AV1SequenceHeader struct {
	SeqProfile                uint8 // seq_profile: 0 Main, 1 High, 2 Professional
	StillPicture              bool  // still_picture
	ReducedStillPictureHeader bool  // reduced_still_picture_header
	SeqLevelIdx0              uint8 // seq_level_idx[0] of the first operating point
	SeqTier0                  uint8 // seq_tier[0]
	// Width and Height are max_frame_width/height_minus_1 + 1.
	Width, Height int
	HighBitdepth  bool  // high_bitdepth
	TwelveBit     bool  // twelve_bit
	BitDepth      uint8 // 8, 10 or 12
	Monochrome    bool  // mono_chrome
	SubsamplingX  bool  // subsampling_x
	SubsamplingY  bool  // subsampling_y
	// ChromaSamplePosition is 0 unknown, 1 vertical, 2 colocated.
	ChromaSamplePosition uint8
	FilmGrainParams      bool // film_grain_params_present
}

// ParseAV1SequenceHeader parses the payload of a sequence header OBU (AV1
// specification 5.5).
func ParseAV1SequenceHeader(payload []byte) (AV1SequenceHeader, error) {
	var s AV1SequenceHeader
	r := bitReader{b: payload}
	s.SeqProfile = uint8(r.u(3))
	s.StillPicture = r.flag()
	s.ReducedStillPictureHeader = r.flag()
	if s.SeqProfile > 2 {
		return s, fmt.Errorf("%w: AV1 seq_profile %d", errMalformed, s.SeqProfile)
	}
	if s.ReducedStillPictureHeader {
		s.SeqLevelIdx0 = uint8(r.u(5))
	} else {
		decoderModelInfo := false
		bufferDelayLength := uint(0)
		if r.flag() { // timing_info_present_flag
			r.u(32)       // num_units_in_display_tick
			r.u(32)       // time_scale
			if r.flag() { // equal_picture_interval
				r.uvlc() // num_ticks_per_picture_minus_1
			}
			decoderModelInfo = r.flag()
			if decoderModelInfo {
				bufferDelayLength = uint(r.u(5)) + 1
				r.u(32) // num_units_in_decoding_tick
				r.u(5)  // buffer_removal_time_length_minus_1
				r.u(5)  // frame_presentation_time_length_minus_1
			}
		}
		initialDisplayDelay := r.flag()
		points := int(r.u(5)) + 1
		for i := 0; i < points && r.ok(); i++ {
			r.u(12) // operating_point_idc
			level := uint8(r.u(5))
			tier := uint8(0)
			if level > 7 {
				tier = uint8(r.u(1))
			}
			if i == 0 {
				s.SeqLevelIdx0, s.SeqTier0 = level, tier
			}
			if decoderModelInfo && r.flag() { // decoder_model_present_for_this_op
				r.u(bufferDelayLength) // decoder_buffer_delay
				r.u(bufferDelayLength) // encoder_buffer_delay
				r.flag()               // low_delay_mode_flag
			}
			if initialDisplayDelay && r.flag() {
				r.u(4) // initial_display_delay_minus_1
			}
		}
	}
	wBits, hBits := uint(r.u(4))+1, uint(r.u(4))+1
	s.Width, s.Height = int(r.u(wBits))+1, int(r.u(hBits))+1
	if !s.ReducedStillPictureHeader && r.flag() { // frame_id_numbers_present_flag
		r.u(4) // delta_frame_id_length_minus_2
		r.u(3) // additional_frame_id_length_minus_1
	}
	r.flag() // use_128x128_superblock
	r.flag() // enable_filter_intra
	r.flag() // enable_intra_edge_filter
	if !s.ReducedStillPictureHeader {
		r.flag() // enable_interintra_compound
		r.flag() // enable_masked_compound
		r.flag() // enable_warped_motion
		r.flag() // enable_dual_filter
		orderHint := r.flag()
		if orderHint {
			r.flag() // enable_jnt_comp
			r.flag() // enable_ref_frame_mvs
		}
		forceScreenContentTools := uint32(2) // SELECT_SCREEN_CONTENT_TOOLS
		if !r.flag() {                       // seq_choose_screen_content_tools
			forceScreenContentTools = r.u(1)
		}
		if forceScreenContentTools > 0 && !r.flag() { // seq_choose_integer_mv
			r.flag() // seq_force_integer_mv
		}
		if orderHint {
			r.u(3) // order_hint_bits_minus_1
		}
	}
	r.flag() // enable_superres
	r.flag() // enable_cdef
	r.flag() // enable_restoration
	// color_config()
	s.HighBitdepth = r.flag()
	s.BitDepth = 8
	if s.SeqProfile == 2 && s.HighBitdepth {
		s.TwelveBit = r.flag()
		s.BitDepth = 10
		if s.TwelveBit {
			s.BitDepth = 12
		}
	} else if s.HighBitdepth {
		s.BitDepth = 10
	}
	if s.SeqProfile != 1 {
		s.Monochrome = r.flag()
	}
	// Primaries, transfer and matrix are "unspecified" (2) unless
	// color_description_present_flag.
	cp, tc, mc := uint32(2), uint32(2), uint32(2)
	if r.flag() { // color_description_present_flag
		cp, tc, mc = r.u(8), r.u(8), r.u(8)
	}
	switch {
	case s.Monochrome:
		r.flag() // color_range
		s.SubsamplingX, s.SubsamplingY = true, true
	case cp == 1 && tc == 13 && mc == 0: // BT.709 primaries, sRGB, identity
	default:
		r.flag() // color_range
		switch s.SeqProfile {
		case 0:
			s.SubsamplingX, s.SubsamplingY = true, true
		case 1:
		default:
			if s.BitDepth == 12 {
				s.SubsamplingX = r.flag()
				if s.SubsamplingX {
					s.SubsamplingY = r.flag()
				}
			} else {
				s.SubsamplingX = true
			}
		}
		if s.SubsamplingX && s.SubsamplingY {
			s.ChromaSamplePosition = uint8(r.u(2))
		}
	}
	if !s.Monochrome {
		r.flag() // separate_uv_delta_q
	}
	s.FilmGrainParams = r.flag()
	if !r.ok() {
		return AV1SequenceHeader{}, fmt.Errorf("flv: AV1 sequence header: %w", io.ErrUnexpectedEOF)
	}
	return s, nil
}

// AV1CodecConfig is an AV1CodecConfigurationRecord ("av1C"), the body of an
// av01 SequenceStart.
type AV1CodecConfig struct {
	SeqProfile           uint8 // 3 bits
	SeqLevelIdx0         uint8 // 5 bits
	SeqTier0             uint8 // 1 bit
	HighBitdepth         bool  // high_bitdepth
	TwelveBit            bool  // twelve_bit
	Monochrome           bool  // monochrome
	SubsamplingX         bool  // chroma_subsampling_x
	SubsamplingY         bool  // chroma_subsampling_y
	ChromaSamplePosition uint8 // 2 bits
	// InitialPresentationDelayMinusOne is meaningful when
	// InitialPresentationDelayPresent.
	InitialPresentationDelayPresent  bool
	InitialPresentationDelayMinusOne uint8 // 4 bits
	// ConfigOBUs are the configuration OBUs (normally one sequence header
	// OBU with a size field). They alias the parsed record.
	ConfigOBUs []byte
}

// ParseAV1CodecConfig parses an AV1CodecConfigurationRecord.
func ParseAV1CodecConfig(b []byte) (AV1CodecConfig, error) {
	var c AV1CodecConfig
	if len(b) < 4 {
		return c, fmt.Errorf("flv: AV1 config needs 4 bytes, have %d: %w", len(b), io.ErrUnexpectedEOF)
	}
	if b[0] != 0x81 {
		return c, fmt.Errorf("%w: AV1 config marker/version %#x", errMalformed, b[0])
	}
	c.SeqProfile, c.SeqLevelIdx0 = b[1]>>5, b[1]&0x1f
	c.SeqTier0 = b[2] >> 7
	c.HighBitdepth = b[2]&0x40 != 0
	c.TwelveBit = b[2]&0x20 != 0
	c.Monochrome = b[2]&0x10 != 0
	c.SubsamplingX = b[2]&0x08 != 0
	c.SubsamplingY = b[2]&0x04 != 0
	c.ChromaSamplePosition = b[2] & 0x03
	c.InitialPresentationDelayPresent = b[3]&0x10 != 0
	if c.InitialPresentationDelayPresent {
		c.InitialPresentationDelayMinusOne = b[3] & 0x0f
	}
	c.ConfigOBUs = b[4:len(b):len(b)]
	return c, nil
}

// AppendTo appends the record to dst.
func (c *AV1CodecConfig) AppendTo(dst []byte) ([]byte, error) {
	if c.SeqProfile > 7 || c.SeqLevelIdx0 > 31 || c.SeqTier0 > 1 || c.ChromaSamplePosition > 3 || c.InitialPresentationDelayMinusOne > 15 {
		return dst, fmt.Errorf("%w: AV1 config field out of range", errEncode)
	}
	b2 := c.SeqTier0<<7 | c.ChromaSamplePosition
	for i, f := range [...]bool{c.HighBitdepth, c.TwelveBit, c.Monochrome, c.SubsamplingX, c.SubsamplingY} {
		if f {
			b2 |= 0x40 >> i
		}
	}
	var b3 byte
	if c.InitialPresentationDelayPresent {
		b3 = 0x10 | c.InitialPresentationDelayMinusOne
	}
	dst = append(dst, 0x81, c.SeqProfile<<5|c.SeqLevelIdx0, b2, b3)
	return append(dst, c.ConfigOBUs...), nil
}

// SequenceHeader parses the sequence header among c.ConfigOBUs.
func (c *AV1CodecConfig) SequenceHeader() (AV1SequenceHeader, error) {
	for b := c.ConfigOBUs; len(b) > 0; {
		o, n, err := ParseOBU(b)
		if err != nil {
			return AV1SequenceHeader{}, err
		}
		if o.Type == OBUSequenceHeader {
			return ParseAV1SequenceHeader(o.Payload)
		}
		b = b[n:]
	}
	return AV1SequenceHeader{}, fmt.Errorf("%w: no AV1 sequence header in the config OBUs", errNoParameterSet)
}

// NewAV1CodecConfig builds a record from a sequence header OBU (header
// included). The OBU is stored with a size field, as the record requires,
// in a new buffer.
func NewAV1CodecConfig(seqHeaderOBU []byte) (AV1CodecConfig, error) {
	o, n, err := ParseOBU(seqHeaderOBU)
	if err != nil {
		return AV1CodecConfig{}, err
	}
	if o.Type != OBUSequenceHeader || n != len(seqHeaderOBU) {
		return AV1CodecConfig{}, fmt.Errorf("%w: want one sequence header OBU, got type %d", errMalformed, o.Type)
	}
	s, err := ParseAV1SequenceHeader(o.Payload)
	if err != nil {
		return AV1CodecConfig{}, err
	}
	return AV1CodecConfig{
		SeqProfile:           s.SeqProfile,
		SeqLevelIdx0:         s.SeqLevelIdx0,
		SeqTier0:             s.SeqTier0,
		HighBitdepth:         s.HighBitdepth,
		TwelveBit:            s.TwelveBit,
		Monochrome:           s.Monochrome,
		SubsamplingX:         s.SubsamplingX,
		SubsamplingY:         s.SubsamplingY,
		ChromaSamplePosition: s.ChromaSamplePosition,
		ConfigOBUs:           appendOBU(nil, &o),
	}, nil
}

// appendOBU appends o with a size field (and without trailing bytes).
func appendOBU(dst []byte, o *OBU) []byte {
	h := o.Raw[0] | 0x02
	dst = append(dst, h)
	if o.HasExtension {
		dst = append(dst, o.Raw[1])
	}
	dst = appendLEB128(dst, uint64(len(o.Payload)))
	return append(dst, o.Payload...)
}

// av1FrameIsKey reports whether a frame header or frame OBU payload starts a
// key frame that is not a repeat of an earlier frame (show_existing_frame).
func av1FrameIsKey(payload []byte, reducedStillPictureHeader bool) bool {
	if reducedStillPictureHeader {
		return true
	}
	r := bitReader{b: payload}
	if r.flag() { // show_existing_frame
		return false
	}
	return r.u(2) == 0 && r.ok() // frame_type KEY_FRAME
}
