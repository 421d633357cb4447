package flv

import (
	"bytes"
	"fmt"
	"slices"
)

// BuiltVideo is what a tag builder makes of one access unit or temporal
// unit: the video tag bodies to send, in order. The slices alias the
// builder's buffers and are valid until its next Build call.
type BuiltVideo struct {
	// SequenceStart is a sequence header body (decoder configuration) to
	// send before Frame, set on the first unit and whenever the parameter
	// sets change; nil otherwise.
	SequenceStart []byte
	// Frame is the coded frame body, nil when the unit held no picture
	// (only parameter sets or SEI, for example).
	Frame []byte
	// Keyframe reports a random access point: an IDR picture (AVC), an
	// IRAP picture (HEVC) or a key frame (AV1).
	Keyframe bool
}

// nalClass is what an Annex-B builder does with one NAL unit.
type nalClass struct {
	paramSet int  // index of the parameter set kind, or -1
	drop     bool // left out of the frame (access unit delimiter)
	vcl      bool // a slice: the unit holds a picture
	key      bool // a slice of a random access picture
}

// annexBBuilder holds what AVCTagBuilder and HEVCTagBuilder share: owned
// copies of the current parameter sets per kind, the NAL units of the unit
// being built (aliasing the caller's access unit), and the output buffers.
type annexBBuilder struct {
	sets       [3][][]byte
	found      [3][][]byte
	nals       [][]byte
	seq, frame []byte
}

// split sorts the NAL units of au with classify, updates the parameter
// sets and reports whether they changed and whether au holds a picture
// and a random access point.
func (b *annexBBuilder) split(au []byte, classify func(nal []byte) nalClass) (changed, vcl, key bool) {
	for i := range b.found {
		b.found[i] = b.found[i][:0]
	}
	b.nals = b.nals[:0]
	for nal, rest := NextNALU(au); nal != nil; nal, rest = NextNALU(rest) {
		c := classify(nal)
		switch {
		case c.paramSet >= 0:
			b.found[c.paramSet] = append(b.found[c.paramSet], nal)
		case !c.drop:
			b.nals = append(b.nals, nal)
			vcl = vcl || c.vcl
			key = key || c.key
		}
	}
	// A unit that carries parameter sets of a kind replaces that list.
	for i, found := range b.found {
		if len(found) == 0 || slices.EqualFunc(found, b.sets[i], bytes.Equal) {
			continue
		}
		b.sets[i] = b.sets[i][:0]
		for _, f := range found {
			b.sets[i] = append(b.sets[i], bytes.Clone(f))
		}
		changed = true
	}
	return changed, vcl, key
}

// ready reports whether the first n kinds of parameter sets are known.
func (b *annexBBuilder) ready(n int) bool {
	for _, s := range b.sets[:n] {
		if len(s) == 0 {
			return false
		}
	}
	return true
}

// sequenceStart builds the sequence header body: h's header, then record.
func (b *annexBBuilder) sequenceStart(h *VideoHeader, record interface {
	AppendTo([]byte) ([]byte, error)
}) ([]byte, error) {
	var err error
	if b.seq, err = AppendVideo(b.seq[:0], h); err != nil {
		return nil, err
	}
	if b.seq, err = record.AppendTo(b.seq); err != nil {
		return nil, err
	}
	return b.seq, nil
}

// codedFrame builds the frame body: h's header, then the NAL units with
// 4-byte length prefixes.
func (b *annexBBuilder) codedFrame(h *VideoHeader) ([]byte, error) {
	var err error
	if b.frame, err = AppendVideo(b.frame[:0], h); err != nil {
		return nil, err
	}
	for _, n := range b.nals {
		l := len(n)
		b.frame = append(b.frame, byte(l>>24), byte(l>>16), byte(l>>8), byte(l))
		b.frame = append(b.frame, n...)
	}
	return b.frame, nil
}

// AVCTagBuilder turns H.264 access units in Annex-B form (as an encoder
// writes them, see NextAVCAccessUnit) into legacy FLV AVC video tag bodies:
// an AVC sequence header (AVCDecoderConfigurationRecord with 4-byte NAL
// lengths) whenever the SPS/PPS change, and AVC NALU packets with 4-byte
// length prefixes. SPS, PPS and access unit delimiters are left out of the
// frames. An access unit that carries SPS (or PPS) NAL units replaces the
// whole SPS (or PPS) list, which fits encoders that repeat their parameter
// sets on key frames. The zero value is ready to use; a builder is not safe
// for concurrent use.
type AVCTagBuilder struct {
	b annexBBuilder
}

func avcClass(nal []byte) nalClass {
	switch t := nal[0] & 0x1f; {
	case t == 7, t == 8: // SPS, PPS
		return nalClass{paramSet: int(t) - 7}
	case t == 9: // access unit delimiter
		return nalClass{paramSet: -1, drop: true}
	case t >= 1 && t <= 5: // slices; 5 is IDR
		return nalClass{paramSet: -1, vcl: true, key: t == 5}
	}
	return nalClass{paramSet: -1}
}

// Build converts one access unit. cts is the composition time offset in
// milliseconds (PTS - DTS). Units before the first SPS and PPS fail with an
// error and should be dropped.
func (b *AVCTagBuilder) Build(au []byte, cts int32) (BuiltVideo, error) {
	changed, vcl, key := b.b.split(au, avcClass)
	ready := b.b.ready(2)
	out := BuiltVideo{Keyframe: key}
	if changed && ready {
		cfg, err := NewAVCDecoderConfig(b.b.sets[0], b.b.sets[1])
		if err != nil {
			return BuiltVideo{}, err
		}
		h := VideoHeader{FrameType: VideoFrameKey, PacketType: VideoPacketSequenceStart, VideoTrack: VideoTrack{Codec: CodecAVC}}
		if out.SequenceStart, err = b.b.sequenceStart(&h, &cfg); err != nil {
			return BuiltVideo{}, err
		}
	}
	if !vcl {
		return out, nil
	}
	if !ready {
		return BuiltVideo{}, fmt.Errorf("%w: H.264 access unit before SPS and PPS", errNoParameterSet)
	}
	h := VideoHeader{FrameType: VideoFrameInter, PacketType: VideoPacketCodedFrames, VideoTrack: VideoTrack{Codec: CodecAVC, CompositionTime: cts}}
	if key {
		h.FrameType = VideoFrameKey
	}
	var err error
	if out.Frame, err = b.b.codedFrame(&h); err != nil {
		return BuiltVideo{}, err
	}
	return out, nil
}

// HEVCTagBuilder turns H.265 access units in Annex-B form (see
// NextHEVCAccessUnit) into E-RTMP hvc1 video tag bodies: a SequenceStart
// with an HEVCDecoderConfigurationRecord (complete VPS/SPS/PPS arrays,
// 4-byte NAL lengths) whenever the parameter sets change, and CodedFrames
// (CodedFramesX when the composition time is 0) with 4-byte length
// prefixes. VPS, SPS, PPS and access unit delimiters are left out of the
// frames; parameter set lists are replaced as AVCTagBuilder describes. The
// zero value is ready to use; a builder is not safe for concurrent use.
type HEVCTagBuilder struct {
	b annexBBuilder
}

func hevcClass(nal []byte) nalClass {
	if len(nal) < 2 {
		return nalClass{paramSet: -1, drop: true} // not even a NAL unit header
	}
	switch t := nal[0] >> 1 & 0x3f; {
	case t >= hevcNALVPS && t <= hevcNALPPS:
		return nalClass{paramSet: int(t) - hevcNALVPS}
	case t == hevcNALAUD:
		return nalClass{paramSet: -1, drop: true}
	case t < 32: // slice segments; 16..23 are IRAP
		return nalClass{paramSet: -1, vcl: true, key: t >= 16 && t <= 23}
	}
	return nalClass{paramSet: -1}
}

// Build converts one access unit. cts is the composition time offset in
// milliseconds (PTS - DTS). Units before the first VPS, SPS and PPS fail
// with an error and should be dropped.
func (b *HEVCTagBuilder) Build(au []byte, cts int32) (BuiltVideo, error) {
	changed, vcl, key := b.b.split(au, hevcClass)
	ready := b.b.ready(3)
	out := BuiltVideo{Keyframe: key}
	if changed && ready {
		cfg, err := NewHEVCDecoderConfig(b.b.sets[0], b.b.sets[1], b.b.sets[2])
		if err != nil {
			return BuiltVideo{}, err
		}
		h := VideoHeader{Enhanced: true, FrameType: VideoFrameKey, PacketType: VideoPacketSequenceStart, VideoTrack: VideoTrack{Codec: CodecHEVC}}
		if out.SequenceStart, err = b.b.sequenceStart(&h, &cfg); err != nil {
			return BuiltVideo{}, err
		}
	}
	if !vcl {
		return out, nil
	}
	if !ready {
		return BuiltVideo{}, fmt.Errorf("%w: H.265 access unit before VPS, SPS and PPS", errNoParameterSet)
	}
	h := VideoHeader{Enhanced: true, FrameType: VideoFrameInter, PacketType: VideoPacketCodedFramesX, VideoTrack: VideoTrack{Codec: CodecHEVC}}
	if cts != 0 {
		h.PacketType, h.CompositionTime = VideoPacketCodedFrames, cts
	}
	if key {
		h.FrameType = VideoFrameKey
	}
	var err error
	if out.Frame, err = b.b.codedFrame(&h); err != nil {
		return BuiltVideo{}, err
	}
	return out, nil
}

// AV1TagBuilder turns AV1 temporal units in the low-overhead bitstream
// format (see NextAV1TemporalUnit) into E-RTMP av01 video tag bodies: a
// SequenceStart with an AV1CodecConfigurationRecord whenever the sequence
// header changes, and CodedFrames holding the temporal unit's OBUs, each
// with a size field, without temporal delimiters and padding. The zero
// value is ready to use; a builder is not safe for concurrent use.
type AV1TagBuilder struct {
	seqHdr     []byte // payload of the current sequence header OBU
	reduced    bool   // its reduced_still_picture_header
	seq, frame []byte
}

// Build converts one temporal unit. Units before the first sequence header
// fail with an error and should be dropped.
func (b *AV1TagBuilder) Build(tu []byte) (BuiltVideo, error) {
	var out BuiltVideo
	h := VideoHeader{Enhanced: true, FrameType: VideoFrameInter, PacketType: VideoPacketCodedFrames, VideoTrack: VideoTrack{Codec: CodecAV1}}
	var err error
	if b.frame, err = AppendVideo(b.frame[:0], &h); err != nil {
		return BuiltVideo{}, err
	}
	frames := false
	for rest := tu; len(rest) > 0; {
		o, n, err := ParseOBU(rest)
		if err != nil {
			return BuiltVideo{}, err
		}
		rest = rest[n:]
		switch o.Type {
		case OBUTemporalDelimiter, OBUPadding:
			continue
		case OBUSequenceHeader:
			if b.seqHdr == nil || !bytes.Equal(o.Payload, b.seqHdr) {
				if out.SequenceStart, err = b.sequenceStart(&o); err != nil {
					return BuiltVideo{}, err
				}
			}
		case OBUFrame, OBUFrameHeader:
			if b.seqHdr == nil {
				return BuiltVideo{}, fmt.Errorf("%w: AV1 frame before a sequence header", errNoParameterSet)
			}
			frames = true
			out.Keyframe = out.Keyframe || av1FrameIsKey(o.Payload, b.reduced)
		}
		b.frame = appendOBU(b.frame, &o)
	}
	if !frames {
		return out, nil
	}
	if out.Keyframe {
		// The header was written before the OBUs told the frame type; its
		// first byte holds IsExHeader, the frame type and the packet type.
		b.frame[0] = 0x80 | byte(VideoFrameKey)<<4 | byte(VideoPacketCodedFrames)
	}
	out.Frame = b.frame
	return out, nil
}

func (b *AV1TagBuilder) sequenceStart(o *OBU) ([]byte, error) {
	s, err := ParseAV1SequenceHeader(o.Payload)
	if err != nil {
		return nil, err
	}
	cfg, err := NewAV1CodecConfig(o.Raw)
	if err != nil {
		return nil, err
	}
	h := VideoHeader{Enhanced: true, FrameType: VideoFrameKey, PacketType: VideoPacketSequenceStart, VideoTrack: VideoTrack{Codec: CodecAV1}}
	if b.seq, err = AppendVideo(b.seq[:0], &h); err != nil {
		return nil, err
	}
	if b.seq, err = cfg.AppendTo(b.seq); err != nil {
		return nil, err
	}
	b.seqHdr = append(b.seqHdr[:0], o.Payload...)
	b.reduced = s.ReducedStillPictureHeader
	return b.seq, nil
}
