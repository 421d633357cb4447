package flv

// The functions below look only at the bytes they need (first byte, ModEx
// chain, multitrack byte, first FourCC) and never allocate, so a server can
// call them on every message. They do not validate the whole header: use
// ParseVideoHeader/ParseAudioHeader for that.

// IsKeyframe reports whether a tag carries a key frame of coded video: a
// video tag with frame type Key (or server-generated key) whose packet is
// coded frames (legacy AVC NALUs, E-RTMP CodedFrames/CodedFramesX, or any
// frame of a legacy codec without packet types). Sequence headers,
// metadata and command frames are not key frames.
func IsKeyframe(typ TagType, body []byte) bool {
	if typ != TagVideo || len(body) == 0 {
		return false
	}
	b0 := body[0]
	if b0&0x80 == 0 {
		ft, id := VideoFrameType(b0>>4), b0&0x0f
		if ft != VideoFrameKey && ft != VideoFrameGeneratedKey {
			return false
		}
		switch legacyVideoCodecs[id] {
		case CodecUnknown:
			return false
		case CodecAVC, CodecHEVC:
			return len(body) >= 2 && body[1] == byte(VideoPacketCodedFrames)
		}
		return true
	}
	ft := VideoFrameType(b0 >> 4 & 0x07)
	if ft != VideoFrameKey && ft != VideoFrameGeneratedKey {
		return false
	}
	pkt, _, ok := exVideoPacket(body)
	return ok && (pkt == VideoPacketCodedFrames || pkt == VideoPacketCodedFramesX)
}

// IsSequenceHeader reports whether a tag carries decoder configuration that
// a server must keep for players that join later: the legacy AVC (or
// CodecID 12 HEVC) sequence header, the legacy AAC sequence header, an
// E-RTMP audio or video SequenceStart (single track or multitrack) or an
// E-RTMP video MPEG2TSSequenceStart.
func IsSequenceHeader(typ TagType, body []byte) bool {
	if len(body) == 0 {
		return false
	}
	b0 := body[0]
	switch typ {
	case TagVideo:
		if b0&0x80 == 0 {
			if b0>>4 == byte(VideoFrameCommand) {
				return false
			}
			c := legacyVideoCodecs[b0&0x0f]
			return (c == CodecAVC || c == CodecHEVC) && len(body) >= 2 && body[1] == byte(VideoPacketSequenceStart)
		}
		pkt, _, ok := exVideoPacket(body)
		return ok && (pkt == VideoPacketSequenceStart || pkt == VideoPacketMPEG2TSSequenceStart)
	case TagAudio:
		switch b0 >> 4 {
		case 10: // AAC
			return len(body) >= 2 && body[1] == byte(AudioPacketSequenceStart)
		case soundFormatExHeader:
			pkt, _, ok := exAudioPacket(body)
			return ok && pkt == AudioPacketSequenceStart
		}
	}
	return false
}

// TagCodec returns the codec of an audio or video tag: the legacy CodecID or
// SoundFormat, or the E-RTMP FourCC (of the first track when tracks have
// their own). It returns CodecUnknown for other tags, E-RTMP command frames,
// unknown codecs and bodies too short to tell.
func TagCodec(typ TagType, body []byte) Codec {
	if len(body) == 0 {
		return CodecUnknown
	}
	b0 := body[0]
	switch typ {
	case TagVideo:
		if b0&0x80 == 0 {
			return legacyVideoCodecs[b0&0x0f]
		}
		_, f, ok := exVideoPacket(body)
		if !ok {
			return CodecUnknown
		}
		return videoFourCCCodec(f)
	case TagAudio:
		if b0>>4 != soundFormatExHeader {
			return legacyAudioCodecs[b0>>4]
		}
		_, f, ok := exAudioPacket(body)
		if !ok {
			return CodecUnknown
		}
		return audioFourCCCodec(f)
	}
	return CodecUnknown
}

// exVideoPacket resolves the packet type of an E-RTMP video body through
// ModEx and Multitrack signalling and returns it with the first FourCC. ok
// is false for command frames and bodies too short or malformed.
func exVideoPacket(body []byte) (VideoPacketType, FourCC, bool) {
	ft := VideoFrameType(body[0] >> 4 & 0x07)
	pkt, rest, ok := skipModEx(body)
	if !ok || pkt > uint8(VideoPacketModEx) {
		return 0, 0, false
	}
	p := VideoPacketType(pkt)
	if ft == VideoFrameCommand && p != VideoPacketMetadata {
		return 0, 0, false // a command frame: no packet, no codec
	}
	if p == VideoPacketMultitrack {
		if len(rest) < 1 {
			return 0, 0, false
		}
		p = VideoPacketType(rest[0] & 0x0f)
		rest = rest[1:]
		// The FourCC comes first for every layout: shared, or the first
		// track's for ManyTracksManyCodecs.
	}
	if len(rest) < 4 {
		return 0, 0, false
	}
	return p, FourCC(be32(rest)), true
}

// exAudioPacket is exVideoPacket for E-RTMP audio bodies.
func exAudioPacket(body []byte) (AudioPacketType, FourCC, bool) {
	pkt, rest, ok := skipModEx(body)
	if !ok {
		return 0, 0, false
	}
	p := AudioPacketType(pkt)
	if p == AudioPacketMultitrack {
		if len(rest) < 1 {
			return 0, 0, false
		}
		p = AudioPacketType(rest[0] & 0x0f)
		rest = rest[1:]
	}
	if len(rest) < 4 {
		return 0, 0, false
	}
	return p, FourCC(be32(rest)), true
}

// skipModEx returns the packet type in the low nibble of body[0], following
// a ModEx chain if there is one, and the bytes after it. It allocates
// nothing, valid or not.
func skipModEx(body []byte) (uint8, []byte, bool) {
	pkt, b := body[0]&0x0f, body[1:]
	for pkt == packetTypeModEx {
		var ok bool
		if _, _, pkt, b, ok = modExBlock(b); !ok {
			return 0, nil, false
		}
	}
	return pkt, b, true
}
