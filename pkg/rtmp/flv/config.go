package flv

import "fmt"

// VideoConfig summarises a video decoder configuration: what a server shows
// about a stream or writes into onMetaData.
type VideoConfig struct {
	Codec Codec // the codec the record belongs to
	// Width and Height are the displayed picture size in pixels.
	Width, Height int
	// Profile and Level are the codec's own numbers: profile_idc and
	// level_idc for AVC, general_profile_idc and general_level_idc for
	// HEVC, seq_profile and seq_level_idx[0] for AV1.
	Profile, Level int
}

// ParseVideoConfig parses the configuration record of a sequence header
// (VideoTrack.Data of a SequenceStart) for AVC, HEVC and AV1 and returns the
// picture size, profile and level from its first SPS or sequence header.
func ParseVideoConfig(c Codec, record []byte) (VideoConfig, error) {
	out := VideoConfig{Codec: c}
	switch c {
	case CodecAVC:
		cfg, err := ParseAVCDecoderConfig(record)
		if err != nil {
			return out, err
		}
		if len(cfg.SPS) == 0 {
			return out, fmt.Errorf("%w: AVC config without SPS", errNoParameterSet)
		}
		s, err := ParseAVCSPS(cfg.SPS[0])
		if err != nil {
			return out, err
		}
		out.Width, out.Height, out.Profile, out.Level = s.Width, s.Height, int(s.ProfileIDC), int(s.LevelIDC)
	case CodecHEVC:
		cfg, err := ParseHEVCDecoderConfig(record)
		if err != nil {
			return out, err
		}
		sps := cfg.NALUs(hevcNALSPS)
		if len(sps) == 0 {
			return out, fmt.Errorf("%w: HEVC config without SPS", errNoParameterSet)
		}
		s, err := ParseHEVCSPS(sps[0])
		if err != nil {
			return out, err
		}
		out.Width, out.Height, out.Profile, out.Level = s.Width, s.Height, int(s.ProfileIDC), int(s.LevelIDC)
	case CodecAV1:
		cfg, err := ParseAV1CodecConfig(record)
		if err != nil {
			return out, err
		}
		s, err := cfg.SequenceHeader()
		if err != nil {
			return out, err
		}
		out.Width, out.Height, out.Profile, out.Level = s.Width, s.Height, int(s.SeqProfile), int(s.SeqLevelIdx0)
	default:
		return out, fmt.Errorf("%w: video configuration of %s", errUnsupported, c)
	}
	return out, nil
}
