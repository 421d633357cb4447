package flv

import (
	"fmt"
	"io"
)

// VideoFrameType is the frame type of a video tag (legacy bits 7..4, E-RTMP
// bits 6..4 of the first byte).
type VideoFrameType uint8

// Video frame types; 0, 6 and 7 are reserved.
const (
	VideoFrameKey             VideoFrameType = 1 // seekable frame
	VideoFrameInter           VideoFrameType = 2 // non-seekable frame
	VideoFrameDisposableInter VideoFrameType = 3 // H.263 only
	VideoFrameGeneratedKey    VideoFrameType = 4 // server-generated key frame
	VideoFrameCommand         VideoFrameType = 5 // video info/command frame
)

// VideoPacketType is the E-RTMP VideoPacketType. Legacy AVC (and CodecID 12
// HEVC) AVCPacketType values 0, 1, 2 map to SequenceStart, CodedFrames and
// SequenceEnd; other legacy codecs carry CodedFrames.
type VideoPacketType uint8

// Video packet types; 8..15 are reserved.
const (
	VideoPacketSequenceStart        VideoPacketType = 0 // decoder configuration record
	VideoPacketCodedFrames          VideoPacketType = 1 // coded frames (AVC/HEVC/VVC: after an SI24 composition time)
	VideoPacketSequenceEnd          VideoPacketType = 2 // end of sequence
	VideoPacketCodedFramesX         VideoPacketType = 3 // coded frames, composition time 0 implied
	VideoPacketMetadata             VideoPacketType = 4 // AMF-encoded metadata such as colorInfo
	VideoPacketMPEG2TSSequenceStart VideoPacketType = 5 // AV1 MPEG-2 TS video descriptor
	VideoPacketMultitrack           VideoPacketType = 6 // multitrack message (never a track's packet type)
	VideoPacketModEx                VideoPacketType = 7 // ModEx block follows (never left after parsing)
)

// VideoCommand is the UI8 of a command frame.
type VideoCommand uint8

// Video commands.
const (
	VideoCommandStartSeek VideoCommand = 0 // start of client-side seeking
	VideoCommandEndSeek   VideoCommand = 1 // end of client-side seeking
)

// VideoTrack is one track of a video message; a message that is not
// multitrack has exactly one, with ID 0.
type VideoTrack struct {
	// ID is the E-RTMP track id (0 is the default track).
	ID uint8
	// FourCC is the codec FourCC: as signalled for E-RTMP, "avc1" for
	// legacy AVC, "hvc1" for legacy CodecID 12, 0 for other legacy codecs.
	FourCC FourCC
	// Codec is the codec.
	Codec Codec
	// CompositionTime is the signed composition time offset in
	// milliseconds (PTS = DTS + CompositionTime), present on the wire for
	// AVC/HEVC/VVC CodedFrames (and any legacy AVC packet); 0 otherwise.
	CompositionTime int32
	// Data is the payload after the header: a configuration record for
	// SequenceStart, NAL units (length-prefixed), OBUs or frames for coded
	// frames, AMF data for Metadata. It aliases the parsed body.
	Data []byte
}

// VideoHeader is the parsed header of a video tag body (an RTMP type-9
// message payload), legacy or Enhanced RTMP.
type VideoHeader struct {
	// Enhanced reports the E-RTMP form (IsExHeader, bit 7 of the first byte).
	Enhanced bool
	// FrameType is the frame type. Ignored by receivers for Metadata.
	FrameType VideoFrameType
	// PacketType is the packet type common to all tracks, after ModEx and
	// Multitrack signalling are resolved. Meaningless when HasCommand.
	PacketType VideoPacketType
	// HasCommand reports a command frame: FrameType Command and a packet
	// type other than Metadata. Command holds the command and the message
	// has no track (NumTracks 0); a legacy command frame still names its
	// CodecID in Codec, an E-RTMP one has no FourCC.
	HasCommand bool
	// Command is the command of a command frame.
	Command VideoCommand
	// TimestampOffsetNano is the ModEx TimestampOffsetNano (0..999999 ns to
	// add to the message timestamp), 0 when absent.
	TimestampOffsetNano uint32
	// Multitrack reports an E-RTMP multitrack message, laid out as
	// MultitrackType (meaningful only when Multitrack).
	Multitrack     bool
	MultitrackType MultitrackType // OneTrack, ManyTracks or ManyTracksManyCodecs
	// NumTracks is the number of tracks in the message (1 unless
	// Multitrack; 0 for command frames).
	NumTracks int
	// VideoTrack is the first (or only) track. Tracks iterates over all.
	VideoTrack

	tracks []byte // multitrack: the bytes from the first track on
}

// ParseVideoHeader parses the header of a video tag body. It walks every
// track of a multitrack message, so an unknown FourCC or a bad track size
// anywhere fails the whole message. It does not allocate unless it fails;
// all slices alias body.
//
// Errors: a truncated body wraps io.ErrUnexpectedEOF, an unknown codec wraps
// ErrUnknownCodec; reserved frame types, packet types and multitrack types
// are errors too.
func ParseVideoHeader(body []byte) (VideoHeader, error) {
	var h VideoHeader
	if len(body) == 0 {
		return h, fmt.Errorf("flv: empty video body: %w", io.ErrUnexpectedEOF)
	}
	b0 := body[0]
	if b0&0x80 == 0 {
		return parseLegacyVideo(body)
	}
	h.Enhanced = true
	h.FrameType = VideoFrameType(b0 >> 4 & 0x07)
	pkt := b0 & 0x0f
	rest := body[1:]
	if pkt == packetTypeModEx {
		var err error
		if pkt, h.TimestampOffsetNano, rest, err = parseModEx(rest); err != nil {
			return VideoHeader{}, err
		}
	}
	if pkt > uint8(VideoPacketModEx) {
		return VideoHeader{}, fmt.Errorf("%w: video packet type %d", errReserved, pkt)
	}
	h.PacketType = VideoPacketType(pkt)
	if h.PacketType != VideoPacketMetadata && (h.FrameType == 0 || h.FrameType > VideoFrameCommand) {
		return VideoHeader{}, fmt.Errorf("%w: video frame type %d", errReserved, h.FrameType)
	}
	if h.FrameType == VideoFrameCommand && h.PacketType != VideoPacketMetadata {
		if len(rest) < 1 {
			return VideoHeader{}, fmt.Errorf("flv: video command: %w", io.ErrUnexpectedEOF)
		}
		h.HasCommand, h.Command = true, VideoCommand(rest[0])
		return h, nil
	}
	var shared FourCC
	if h.PacketType == VideoPacketMultitrack {
		if len(rest) < 1 {
			return VideoHeader{}, fmt.Errorf("flv: video multitrack type: %w", io.ErrUnexpectedEOF)
		}
		h.Multitrack = true
		h.MultitrackType = MultitrackType(rest[0] >> 4)
		h.PacketType = VideoPacketType(rest[0] & 0x0f)
		rest = rest[1:]
		if h.MultitrackType > ManyTracksManyCodecs {
			return VideoHeader{}, fmt.Errorf("%w: multitrack type %d", errReserved, h.MultitrackType)
		}
		if h.PacketType >= VideoPacketMultitrack {
			return VideoHeader{}, fmt.Errorf("%w: video track packet type %d", errReserved, h.PacketType)
		}
	}
	if !h.Multitrack || h.MultitrackType != ManyTracksManyCodecs {
		if len(rest) < 4 {
			return VideoHeader{}, fmt.Errorf("flv: video FourCC: %w", io.ErrUnexpectedEOF)
		}
		shared = FourCC(be32(rest))
		if videoFourCCCodec(shared) == CodecUnknown {
			return VideoHeader{}, unknownFourCC("video", shared)
		}
		rest = rest[4:]
	}
	if !h.Multitrack {
		t, _, err := parseVideoTrack(rest, false, 0, h.PacketType, shared)
		if err != nil {
			return VideoHeader{}, err
		}
		h.NumTracks, h.VideoTrack = 1, t
		return h, nil
	}
	h.tracks = rest
	for len(rest) > 0 || h.NumTracks == 0 {
		t, r, err := parseVideoTrack(rest, true, h.MultitrackType, h.PacketType, shared)
		if err != nil {
			return VideoHeader{}, err
		}
		if h.NumTracks == 0 {
			h.VideoTrack = t
		}
		h.NumTracks++
		rest = r
	}
	return h, nil
}

func parseLegacyVideo(body []byte) (VideoHeader, error) {
	var h VideoHeader
	h.FrameType = VideoFrameType(body[0] >> 4)
	id := body[0] & 0x0f
	if h.FrameType == 0 || h.FrameType > VideoFrameCommand {
		return h, fmt.Errorf("%w: video frame type %d", errReserved, h.FrameType)
	}
	h.Codec = legacyVideoCodecs[id]
	if h.Codec == CodecUnknown {
		return VideoHeader{}, fmt.Errorf("%w: video CodecID %d", ErrUnknownCodec, id)
	}
	h.FourCC = h.Codec.FourCC()
	rest := body[1:]
	if h.FrameType == VideoFrameCommand {
		if len(rest) < 1 {
			return VideoHeader{}, fmt.Errorf("flv: video command: %w", io.ErrUnexpectedEOF)
		}
		h.HasCommand, h.Command = true, VideoCommand(rest[0])
		return h, nil
	}
	h.NumTracks = 1
	if h.Codec != CodecAVC && h.Codec != CodecHEVC {
		h.PacketType = VideoPacketCodedFrames
		h.Data = rest
		return h, nil
	}
	if len(rest) < 4 {
		return VideoHeader{}, fmt.Errorf("flv: AVC packet type and composition time: %w", io.ErrUnexpectedEOF)
	}
	if rest[0] > 2 {
		return VideoHeader{}, fmt.Errorf("%w: AVCPacketType %d", errReserved, rest[0])
	}
	h.PacketType = VideoPacketType(rest[0])
	h.CompositionTime = si24(rest[1:])
	h.Data = rest[4:]
	return h, nil
}

// hasCompositionTime reports whether CodedFrames of this FourCC start with
// an SI24 composition time.
func hasCompositionTime(f FourCC) bool {
	return f == FourCCAVC || f == FourCCHEVC || f == FourCCVVC
}

// parseVideoTrack parses one track of an E-RTMP message.
func parseVideoTrack(b []byte, multitrack bool, mt MultitrackType, pkt VideoPacketType, shared FourCC) (VideoTrack, []byte, error) {
	t := VideoTrack{FourCC: shared}
	body, rest := b, []byte(nil)
	if multitrack {
		var err error
		if t.FourCC, t.ID, body, rest, err = splitTrack(b, mt, shared); err != nil {
			return VideoTrack{}, nil, err
		}
	}
	t.Codec = videoFourCCCodec(t.FourCC)
	if t.Codec == CodecUnknown {
		return VideoTrack{}, nil, unknownFourCC("video", t.FourCC)
	}
	if pkt == VideoPacketCodedFrames && hasCompositionTime(t.FourCC) {
		if len(body) < 3 {
			return VideoTrack{}, nil, fmt.Errorf("flv: video composition time: %w", io.ErrUnexpectedEOF)
		}
		t.CompositionTime = si24(body)
		body = body[3:]
	}
	t.Data = body
	return t, rest, nil
}

// VideoTracks iterates over the tracks of a parsed video message. It holds
// copies of what it needs, not the header, so iterating never moves the
// header to the heap.
type VideoTracks struct {
	first  VideoTrack
	rest   []byte
	multi  bool
	mt     MultitrackType
	pkt    VideoPacketType
	shared FourCC
	left   int
}

// Tracks returns an iterator over the tracks of h, the first one included:
//
//	var t flv.VideoTrack
//	for it := h.Tracks(); it.Next(&t); {
//		// use t.ID, t.Codec, t.Data
//	}
//
// It does not allocate.
func (h *VideoHeader) Tracks() VideoTracks {
	return VideoTracks{first: h.VideoTrack, rest: h.tracks, multi: h.Multitrack, mt: h.MultitrackType,
		pkt: h.PacketType, shared: h.FourCC, left: h.NumTracks}
}

// Next stores the next track in t and reports whether there was one.
func (it *VideoTracks) Next(t *VideoTrack) bool {
	if it.left <= 0 {
		return false
	}
	it.left--
	if !it.multi {
		*t = it.first
		return true
	}
	tr, rest, err := parseVideoTrack(it.rest, true, it.mt, it.pkt, it.shared)
	if err != nil {
		it.left = 0
		return false
	}
	*t, it.rest = tr, rest
	return true
}

// AppendVideo appends a video tag body described by h to dst: the header
// and then the tracks. With no tracks given it writes h.VideoTrack as the
// only track; a multitrack header takes its tracks from the arguments (in
// ManyTracks/OneTrack layouts they must share one FourCC). A track's FourCC
// may be left 0 when its Codec is set. TimestampOffsetNano other than 0 is
// written as a ModEx block (E-RTMP only). It does not allocate when dst has
// room.
func AppendVideo(dst []byte, h *VideoHeader, tracks ...VideoTrack) ([]byte, error) {
	if len(tracks) == 0 {
		tracks = []VideoTrack{h.VideoTrack}
	}
	if !h.Enhanced {
		return appendLegacyVideo(dst, h, tracks)
	}
	if h.FrameType > 7 || (h.PacketType != VideoPacketMetadata && (h.FrameType == 0 || h.FrameType > VideoFrameCommand)) {
		return dst, fmt.Errorf("%w: video frame type %d", errEncode, h.FrameType)
	}
	// A command frame's packet type only has to differ from Metadata (and
	// cannot be ModEx); other messages need a track packet type.
	command := h.FrameType == VideoFrameCommand && h.PacketType != VideoPacketMetadata
	if h.PacketType > VideoPacketMultitrack || (!command && h.PacketType == VideoPacketMultitrack) {
		return dst, fmt.Errorf("%w: video packet type %d", errEncode, h.PacketType)
	}
	next := uint8(h.PacketType)
	if h.Multitrack && !command {
		next = uint8(VideoPacketMultitrack)
	}
	first := 0x80 | byte(h.FrameType)<<4
	var err error
	if h.TimestampOffsetNano != 0 {
		if dst, err = appendTimestampOffsetNano(append(dst, first|packetTypeModEx), h.TimestampOffsetNano, next); err != nil {
			return dst, err
		}
	} else {
		dst = append(dst, first|next)
	}
	if command {
		return append(dst, byte(h.Command)), nil
	}
	if !h.Multitrack {
		if len(tracks) != 1 {
			return dst, fmt.Errorf("%w: %d tracks in a single-track message", errEncode, len(tracks))
		}
		t := &tracks[0]
		f := trackFourCC(t.FourCC, t.Codec)
		if videoFourCCCodec(f) == CodecUnknown {
			return dst, unknownFourCC("video", f)
		}
		return appendVideoTrackBody(appendFourCC(dst, f), h.PacketType, f, t)
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
		if videoFourCCCodec(f) == CodecUnknown {
			return dst, unknownFourCC("video", f)
		}
		if h.MultitrackType != ManyTracksManyCodecs && f != shared {
			return dst, fmt.Errorf("%w: track %d FourCC %s in a one-codec message of %s", errEncode, t.ID, f, shared)
		}
		size := len(t.Data)
		if h.PacketType == VideoPacketCodedFrames && hasCompositionTime(f) {
			size += 3
		}
		if dst, err = appendTrackPrefix(dst, h.MultitrackType, f, t.ID, size); err != nil {
			return dst, err
		}
		if dst, err = appendVideoTrackBody(dst, h.PacketType, f, t); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

func appendVideoTrackBody(dst []byte, pkt VideoPacketType, f FourCC, t *VideoTrack) ([]byte, error) {
	if pkt == VideoPacketCodedFrames && hasCompositionTime(f) {
		var err error
		if dst, err = appendSI24(dst, t.CompositionTime); err != nil {
			return dst, err
		}
	}
	return append(dst, t.Data...), nil
}

func appendLegacyVideo(dst []byte, h *VideoHeader, tracks []VideoTrack) ([]byte, error) {
	if h.Multitrack || h.TimestampOffsetNano != 0 || len(tracks) != 1 {
		return dst, fmt.Errorf("%w: multitrack or ModEx in a legacy video header", errEncode)
	}
	if h.FrameType == 0 || h.FrameType > VideoFrameCommand {
		return dst, fmt.Errorf("%w: video frame type %d", errEncode, h.FrameType)
	}
	t := &tracks[0]
	c := t.Codec
	if c == CodecUnknown {
		c = videoFourCCCodec(t.FourCC)
	}
	id := legacyVideoCodecID(c)
	if id == 0 {
		if !h.HasCommand {
			return dst, fmt.Errorf("%w: codec %s has no legacy CodecID", errEncode, c)
		}
		id = 7 // a command frame names no codec; AVC is the common choice
	}
	dst = append(dst, byte(h.FrameType)<<4|id)
	if h.FrameType == VideoFrameCommand {
		return append(dst, byte(h.Command)), nil
	}
	if c == CodecAVC || c == CodecHEVC {
		if h.PacketType > VideoPacketSequenceEnd {
			return dst, fmt.Errorf("%w: legacy AVC packet type %d", errEncode, h.PacketType)
		}
		var err error
		if dst, err = appendSI24(append(dst, byte(h.PacketType)), t.CompositionTime); err != nil {
			return dst, err
		}
	}
	return append(dst, t.Data...), nil
}

func trackFourCC(f FourCC, c Codec) FourCC {
	if f != 0 {
		return f
	}
	return c.FourCC()
}
