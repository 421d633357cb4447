package flv

import (
	"fmt"
	"io"
)

// AudioPacketType is the E-RTMP AudioPacketType. The legacy AACPacketType
// values 0 (sequence header) and 1 (raw) map to SequenceStart and
// CodedFrames; other legacy formats carry CodedFrames.
type AudioPacketType uint8

// Audio packet types; 3, 6 and 8..15 are reserved.
const (
	AudioPacketSequenceStart      AudioPacketType = 0 // codec configuration (AudioSpecificConfig, Opus ID header, FLAC STREAMINFO)
	AudioPacketCodedFrames        AudioPacketType = 1 // coded frames
	AudioPacketSequenceEnd        AudioPacketType = 2 // end of sequence
	AudioPacketMultichannelConfig AudioPacketType = 4 // channel order and count
	AudioPacketMultitrack         AudioPacketType = 5 // multitrack message (never a track's packet type)
	AudioPacketModEx              AudioPacketType = 7 // ModEx block follows (never left after parsing)
)

// AudioChannelOrder is the channel order of an E-RTMP MultichannelConfig.
type AudioChannelOrder uint8

// Channel orders; 3..255 are reserved.
const (
	AudioChannelOrderUnspecified AudioChannelOrder = 0 // only the count is known
	AudioChannelOrderNative      AudioChannelOrder = 1 // ChannelFlags says which channels are present
	AudioChannelOrderCustom      AudioChannelOrder = 2 // ChannelMapping gives one speaker per channel
)

// soundFormatExHeader is the SoundFormat announcing an E-RTMP audio header.
const soundFormatExHeader = 9

// AudioTrack is one track of an audio message; a message that is not
// multitrack has exactly one, with ID 0.
type AudioTrack struct {
	// ID is the E-RTMP track id (0 is the default track).
	ID uint8
	// FourCC is the codec FourCC: as signalled for E-RTMP, or the
	// equivalent of a legacy SoundFormat when one exists ("mp4a" for AAC,
	// ".mp3" for MP3), else 0.
	FourCC FourCC
	// Codec is the codec.
	Codec Codec
	// ChannelOrder, ChannelCount, ChannelFlags and ChannelMapping hold a
	// MultichannelConfig packet: Flags for the Native order (a mask of
	// speaker positions), Mapping (one speaker id per channel, aliasing the
	// body) for the Custom order.
	ChannelOrder   AudioChannelOrder
	ChannelCount   uint8  // channelCount
	ChannelFlags   uint32 // AudioChannelMask bits: 0x1 front left, 0x2 front right, ...
	ChannelMapping []byte // AudioChannel ids: 0 front left, 1 front right, ...
	// Data is the payload after the header: the configuration for
	// SequenceStart (AAC AudioSpecificConfig, Opus ID header, FLAC
	// "fLaC"+STREAMINFO), codec frames for CodedFrames. It aliases the
	// parsed body.
	Data []byte
}

// AudioHeader is the parsed header of an audio tag body (an RTMP type-8
// message payload), legacy or Enhanced RTMP.
type AudioHeader struct {
	// Silence reports an empty body, the RTMP "audio silence" message. All
	// other fields are zero.
	Silence bool
	// Enhanced reports the E-RTMP form (SoundFormat 9, ExHeader).
	Enhanced bool
	// SoundRate (0 = 5.5 kHz, 1 = 11, 2 = 22, 3 = 44), SoundSize (0 = 8-bit,
	// 1 = 16-bit) and SoundType (0 mono, 1 stereo) are the legacy header
	// bits as sent; for AAC the real values are in the AudioSpecificConfig.
	SoundRate, SoundSize, SoundType uint8
	// PacketType is the packet type common to all tracks, after ModEx and
	// Multitrack signalling are resolved.
	PacketType AudioPacketType
	// TimestampOffsetNano is the ModEx TimestampOffsetNano, 0 when absent.
	TimestampOffsetNano uint32
	// Multitrack reports an E-RTMP multitrack message, laid out as
	// MultitrackType.
	Multitrack     bool
	MultitrackType MultitrackType // OneTrack, ManyTracks or ManyTracksManyCodecs
	// NumTracks is the number of tracks in the message (1 unless Multitrack
	// or Silence).
	NumTracks int
	// AudioTrack is the first (or only) track. Tracks iterates over all.
	AudioTrack

	tracks []byte
}

// SampleRate returns the sampling rate a legacy header announces, in Hz:
// the fixed rate of the codecs that have one (Nellymoser 8/16 kHz, MP3
// 8 kHz, G.711 8 kHz, Speex 16 kHz) or the SoundRate (5512, 11025, 22050,
// 44100). It returns 0 for E-RTMP headers and silence; for AAC the real
// rate is in the AudioSpecificConfig.
func (h *AudioHeader) SampleRate() int {
	if h.Enhanced || h.Silence {
		return 0
	}
	switch h.Codec {
	case CodecNellymoser8k, CodecMP3At8kHz, CodecG711ALaw, CodecG711MuLaw:
		return 8000
	case CodecNellymoser16k, CodecSpeex:
		return 16000
	}
	return [4]int{5512, 11025, 22050, 44100}[h.SoundRate&3]
}

// Channels returns the channel count a legacy header announces (SoundType
// mono or stereo), or 0 for E-RTMP headers and silence.
func (h *AudioHeader) Channels() int {
	if h.Enhanced || h.Silence {
		return 0
	}
	return int(h.SoundType&1) + 1
}

// ParseAudioHeader parses the header of an audio tag body. It walks every
// track of a multitrack message, so an unknown FourCC or a bad track size
// anywhere fails the whole message. An empty body is the silence message
// (Silence set, no error). It does not allocate unless it fails; all slices
// alias body.
//
// Errors: a truncated body wraps io.ErrUnexpectedEOF, an unknown codec wraps
// ErrUnknownCodec; reserved packet types, channel orders and multitrack types
// are errors too.
func ParseAudioHeader(body []byte) (AudioHeader, error) {
	var h AudioHeader
	if len(body) == 0 {
		h.Silence = true
		return h, nil
	}
	b0 := body[0]
	if b0>>4 != soundFormatExHeader {
		return parseLegacyAudio(body)
	}
	h.Enhanced = true
	pkt := b0 & 0x0f
	rest := body[1:]
	if pkt == packetTypeModEx {
		var err error
		if pkt, h.TimestampOffsetNano, rest, err = parseModEx(rest); err != nil {
			return AudioHeader{}, err
		}
	}
	h.PacketType = AudioPacketType(pkt)
	if h.PacketType == AudioPacketMultitrack {
		if len(rest) < 1 {
			return AudioHeader{}, fmt.Errorf("flv: audio multitrack type: %w", io.ErrUnexpectedEOF)
		}
		h.Multitrack = true
		h.MultitrackType = MultitrackType(rest[0] >> 4)
		h.PacketType = AudioPacketType(rest[0] & 0x0f)
		rest = rest[1:]
		if h.MultitrackType > ManyTracksManyCodecs {
			return AudioHeader{}, fmt.Errorf("%w: multitrack type %d", errReserved, h.MultitrackType)
		}
	}
	if !audioTrackPacketType(h.PacketType) {
		return AudioHeader{}, fmt.Errorf("%w: audio packet type %d", errReserved, h.PacketType)
	}
	var shared FourCC
	if !h.Multitrack || h.MultitrackType != ManyTracksManyCodecs {
		if len(rest) < 4 {
			return AudioHeader{}, fmt.Errorf("flv: audio FourCC: %w", io.ErrUnexpectedEOF)
		}
		shared = FourCC(be32(rest))
		if audioFourCCCodec(shared) == CodecUnknown {
			return AudioHeader{}, unknownFourCC("audio", shared)
		}
		rest = rest[4:]
	}
	if !h.Multitrack {
		t, _, err := parseAudioTrack(rest, false, 0, h.PacketType, shared)
		if err != nil {
			return AudioHeader{}, err
		}
		h.NumTracks, h.AudioTrack = 1, t
		return h, nil
	}
	h.tracks = rest
	for len(rest) > 0 || h.NumTracks == 0 {
		t, r, err := parseAudioTrack(rest, true, h.MultitrackType, h.PacketType, shared)
		if err != nil {
			return AudioHeader{}, err
		}
		if h.NumTracks == 0 {
			h.AudioTrack = t
		}
		h.NumTracks++
		rest = r
	}
	return h, nil
}

// audioTrackPacketType reports whether p may be the packet type of a track.
func audioTrackPacketType(p AudioPacketType) bool {
	switch p {
	case AudioPacketSequenceStart, AudioPacketCodedFrames, AudioPacketSequenceEnd, AudioPacketMultichannelConfig:
		return true
	}
	return false
}

func parseLegacyAudio(body []byte) (AudioHeader, error) {
	var h AudioHeader
	b0 := body[0]
	h.Codec = legacyAudioCodecs[b0>>4]
	if h.Codec == CodecUnknown {
		return h, fmt.Errorf("%w: SoundFormat %d", ErrUnknownCodec, b0>>4)
	}
	h.FourCC = h.Codec.FourCC()
	h.SoundRate, h.SoundSize, h.SoundType = b0>>2&3, b0>>1&1, b0&1
	h.NumTracks = 1
	if h.Codec != CodecAAC {
		h.PacketType = AudioPacketCodedFrames
		h.Data = body[1:]
		return h, nil
	}
	if len(body) < 2 {
		return AudioHeader{}, fmt.Errorf("flv: AACPacketType: %w", io.ErrUnexpectedEOF)
	}
	if body[1] > 1 {
		return AudioHeader{}, fmt.Errorf("%w: AACPacketType %d", errReserved, body[1])
	}
	h.PacketType = AudioPacketType(body[1])
	h.Data = body[2:]
	return h, nil
}

// parseAudioTrack parses one track of an E-RTMP message.
func parseAudioTrack(b []byte, multitrack bool, mt MultitrackType, pkt AudioPacketType, shared FourCC) (AudioTrack, []byte, error) {
	t := AudioTrack{FourCC: shared}
	body, rest := b, []byte(nil)
	if multitrack {
		var err error
		if t.FourCC, t.ID, body, rest, err = splitTrack(b, mt, shared); err != nil {
			return AudioTrack{}, nil, err
		}
	}
	t.Codec = audioFourCCCodec(t.FourCC)
	if t.Codec == CodecUnknown {
		return AudioTrack{}, nil, unknownFourCC("audio", t.FourCC)
	}
	if pkt == AudioPacketMultichannelConfig {
		if len(body) < 2 {
			return AudioTrack{}, nil, fmt.Errorf("flv: audio channel order and count: %w", io.ErrUnexpectedEOF)
		}
		t.ChannelOrder, t.ChannelCount = AudioChannelOrder(body[0]), body[1]
		body = body[2:]
		switch t.ChannelOrder {
		case AudioChannelOrderUnspecified:
		case AudioChannelOrderNative:
			if len(body) < 4 {
				return AudioTrack{}, nil, fmt.Errorf("flv: audio channel flags: %w", io.ErrUnexpectedEOF)
			}
			t.ChannelFlags = be32(body)
			body = body[4:]
		case AudioChannelOrderCustom:
			n := int(t.ChannelCount)
			if len(body) < n {
				return AudioTrack{}, nil, fmt.Errorf("flv: audio channel mapping needs %d bytes, have %d: %w", n, len(body), io.ErrUnexpectedEOF)
			}
			t.ChannelMapping = body[:n:n]
			body = body[n:]
		default:
			return AudioTrack{}, nil, fmt.Errorf("%w: audio channel order %d", errReserved, t.ChannelOrder)
		}
	}
	t.Data = body
	return t, rest, nil
}

// AudioTracks iterates over the tracks of a parsed audio message; like
// VideoTracks it holds copies, not the header.
type AudioTracks struct {
	first  AudioTrack
	rest   []byte
	multi  bool
	mt     MultitrackType
	pkt    AudioPacketType
	shared FourCC
	left   int
}

// Tracks returns an iterator over the tracks of h, the first one included,
// used like VideoHeader.Tracks. It does not allocate.
func (h *AudioHeader) Tracks() AudioTracks {
	return AudioTracks{first: h.AudioTrack, rest: h.tracks, multi: h.Multitrack, mt: h.MultitrackType,
		pkt: h.PacketType, shared: h.FourCC, left: h.NumTracks}
}

// Next stores the next track in t and reports whether there was one.
func (it *AudioTracks) Next(t *AudioTrack) bool {
	if it.left <= 0 {
		return false
	}
	it.left--
	if !it.multi {
		*t = it.first
		return true
	}
	tr, rest, err := parseAudioTrack(it.rest, true, it.mt, it.pkt, it.shared)
	if err != nil {
		it.left = 0
		return false
	}
	*t, it.rest = tr, rest
	return true
}

// AppendAudio appends an audio tag body described by h to dst, with the
// same track rules as AppendVideo. A legacy header writes SoundFormat from
// the track's Codec and the SoundRate/SoundSize/SoundType bits; Silence
// appends nothing. It does not allocate when dst has room.
func AppendAudio(dst []byte, h *AudioHeader, tracks ...AudioTrack) ([]byte, error) {
	if h.Silence {
		return dst, nil
	}
	if len(tracks) == 0 {
		tracks = []AudioTrack{h.AudioTrack}
	}
	if !h.Enhanced {
		return appendLegacyAudio(dst, h, tracks)
	}
	if !audioTrackPacketType(h.PacketType) {
		return dst, fmt.Errorf("%w: audio packet type %d", errEncode, h.PacketType)
	}
	next := uint8(h.PacketType)
	if h.Multitrack {
		next = uint8(AudioPacketMultitrack)
	}
	first := byte(soundFormatExHeader << 4)
	var err error
	if h.TimestampOffsetNano != 0 {
		if dst, err = appendTimestampOffsetNano(append(dst, first|packetTypeModEx), h.TimestampOffsetNano, next); err != nil {
			return dst, err
		}
	} else {
		dst = append(dst, first|next)
	}
	if !h.Multitrack {
		if len(tracks) != 1 {
			return dst, fmt.Errorf("%w: %d tracks in a single-track message", errEncode, len(tracks))
		}
		t := &tracks[0]
		f := trackFourCC(t.FourCC, t.Codec)
		if audioFourCCCodec(f) == CodecUnknown {
			return dst, unknownFourCC("audio", f)
		}
		return appendAudioTrackBody(appendFourCC(dst, f), h.PacketType, t)
	}
	if h.MultitrackType > ManyTracksManyCodecs || (h.MultitrackType == OneTrack && len(tracks) != 1) {
		return dst, fmt.Errorf("%w: %d tracks in multitrack type %d", errEncode, len(tracks), h.MultitrackType)
	}
	dst = append(dst, byte(h.MultitrackType)<<4|byte(h.PacketType))
	shared := trackFourCC(tracks[0].FourCC, tracks[0].Codec)
	if h.MultitrackType != ManyTracksManyCodecs {
		dst = appendFourCC(dst, shared)
	}
	for i := range tracks {
		t := &tracks[i]
		f := trackFourCC(t.FourCC, t.Codec)
		if audioFourCCCodec(f) == CodecUnknown {
			return dst, unknownFourCC("audio", f)
		}
		if h.MultitrackType != ManyTracksManyCodecs && f != shared {
			return dst, fmt.Errorf("%w: track %d FourCC %s in a one-codec message of %s", errEncode, t.ID, f, shared)
		}
		if dst, err = appendTrackPrefix(dst, h.MultitrackType, f, t.ID, audioTrackBodySize(h.PacketType, t)); err != nil {
			return dst, err
		}
		if dst, err = appendAudioTrackBody(dst, h.PacketType, t); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

func audioTrackBodySize(pkt AudioPacketType, t *AudioTrack) int {
	n := len(t.Data)
	if pkt == AudioPacketMultichannelConfig {
		n += 2
		switch t.ChannelOrder {
		case AudioChannelOrderNative:
			n += 4
		case AudioChannelOrderCustom:
			n += len(t.ChannelMapping)
		}
	}
	return n
}

func appendAudioTrackBody(dst []byte, pkt AudioPacketType, t *AudioTrack) ([]byte, error) {
	if pkt == AudioPacketMultichannelConfig {
		switch t.ChannelOrder {
		case AudioChannelOrderUnspecified:
			dst = append(dst, byte(t.ChannelOrder), t.ChannelCount)
		case AudioChannelOrderNative:
			f := t.ChannelFlags
			dst = append(dst, byte(t.ChannelOrder), t.ChannelCount, byte(f>>24), byte(f>>16), byte(f>>8), byte(f))
		case AudioChannelOrderCustom:
			if len(t.ChannelMapping) != int(t.ChannelCount) {
				return dst, fmt.Errorf("%w: %d channel ids for %d channels", errEncode, len(t.ChannelMapping), t.ChannelCount)
			}
			dst = append(append(dst, byte(t.ChannelOrder), t.ChannelCount), t.ChannelMapping...)
		default:
			return dst, fmt.Errorf("%w: audio channel order %d", errEncode, t.ChannelOrder)
		}
	}
	return append(dst, t.Data...), nil
}

func appendLegacyAudio(dst []byte, h *AudioHeader, tracks []AudioTrack) ([]byte, error) {
	if h.Multitrack || h.TimestampOffsetNano != 0 || len(tracks) != 1 {
		return dst, fmt.Errorf("%w: multitrack or ModEx in a legacy audio header", errEncode)
	}
	t := &tracks[0]
	c := t.Codec
	if c == CodecUnknown {
		c = audioFourCCCodec(t.FourCC)
	}
	sf, ok := legacySoundFormat(c)
	if !ok {
		return dst, fmt.Errorf("%w: codec %s has no legacy SoundFormat", errEncode, c)
	}
	if h.SoundRate > 3 || h.SoundSize > 1 || h.SoundType > 1 {
		return dst, fmt.Errorf("%w: sound rate/size/type %d/%d/%d", errEncode, h.SoundRate, h.SoundSize, h.SoundType)
	}
	dst = append(dst, sf<<4|h.SoundRate<<2|h.SoundSize<<1|h.SoundType)
	if c == CodecAAC {
		if h.PacketType > AudioPacketCodedFrames {
			return dst, fmt.Errorf("%w: AACPacketType %d", errEncode, h.PacketType)
		}
		dst = append(dst, byte(h.PacketType))
	}
	return append(dst, t.Data...), nil
}
