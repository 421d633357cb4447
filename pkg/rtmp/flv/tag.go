package flv

import (
	"fmt"
	"io"
)

// TagType is the first byte of an FLV tag header. Conforming files use
// TagAudio, TagVideo and TagScript, the same numbers as the RTMP message
// types that carry them. The byte is kept whole, so the Filter bit (0x20,
// encrypted tags) and the reserved bits survive a parse/encode round trip.
type TagType uint8

// Tag types.
const (
	TagAudio  TagType = 8
	TagVideo  TagType = 9
	TagScript TagType = 18
)

// Sizes of the fixed parts of an FLV file.
const (
	// TagHeaderSize is the size of a tag header: type, 24-bit data size,
	// 24-bit timestamp, 8-bit timestamp extension, 24-bit stream id.
	TagHeaderSize = 11
	// PreviousTagSizeLen is the size of the big-endian uint32 that follows
	// every tag and holds TagHeaderSize plus the body length.
	PreviousTagSizeLen = 4
	// TagOverhead is what AppendTag adds around a body.
	TagOverhead = TagHeaderSize + PreviousTagSizeLen
	// MaxTagBodySize is the largest body the 24-bit DataSize field holds.
	MaxTagBodySize = 1<<24 - 1
)

// Tag is one FLV tag.
type Tag struct {
	// Type is the tag header's first byte.
	Type TagType
	// Timestamp is the decode time in milliseconds: the 24-bit field with
	// the extension byte as bits 31..24.
	Timestamp uint32
	// StreamID is the 24-bit stream id, always 0 in conforming files.
	StreamID uint32
	// Body is the tag data (an audio/video message payload, or AMF0 script
	// data). It aliases the buffer it was parsed from.
	Body []byte
}

// Size returns the number of bytes the tag occupies in a file, including
// its header and the previous-tag-size field that follows it.
func (t *Tag) Size() int { return TagOverhead + len(t.Body) }

// Clone returns a copy of t whose Body does not alias t.Body.
func (t *Tag) Clone() Tag {
	c := *t
	c.Body = append([]byte(nil), t.Body...)
	return c
}

// AppendTo appends the tag as a file holds it (header, body, previous tag
// size) to dst, like AppendTag but with t.StreamID in the header.
func (t *Tag) AppendTo(dst []byte) ([]byte, error) {
	if t.StreamID > 0xFFFFFF {
		return dst, fmt.Errorf("%w: stream id %d does not fit 24 bits", errEncode, t.StreamID)
	}
	return appendTag(dst, t.Type, t.Timestamp, t.StreamID, t.Body)
}

// AppendTag appends the bytes an FLV file holds for one tag to dst: the
// 11-byte header (stream id 0), body and the 4-byte previous tag size. The
// media bus carries exactly these bytes as a frame payload, so a file header
// followed by such payloads in order is a playable FLV file. It does not
// allocate when dst has room for len(body)+TagOverhead bytes. It fails only
// when body is longer than MaxTagBodySize.
func AppendTag(dst []byte, typ TagType, ts uint32, body []byte) ([]byte, error) {
	return appendTag(dst, typ, ts, 0, body)
}

func appendTag(dst []byte, typ TagType, ts, streamID uint32, body []byte) ([]byte, error) {
	n := len(body)
	if n > MaxTagBodySize {
		return dst, fmt.Errorf("%w: body of %d bytes exceeds %d", errTagTooLarge, n, MaxTagBodySize)
	}
	size := uint32(n + TagHeaderSize)
	dst = append(dst,
		byte(typ),
		byte(n>>16), byte(n>>8), byte(n), // DataSize
		byte(ts>>16), byte(ts>>8), byte(ts), byte(ts>>24), // Timestamp, TimestampExtended
		byte(streamID>>16), byte(streamID>>8), byte(streamID), // StreamID
	)
	dst = append(dst, body...)
	return append(dst, byte(size>>24), byte(size>>16), byte(size>>8), byte(size)), nil
}

// ParseTag parses one tag from the start of b, as AppendTag writes it, and
// returns it with the number of bytes consumed (its Size). Body aliases b.
// The previous tag size must equal TagHeaderSize plus the body length. When
// b is shorter than the tag the error wraps io.ErrUnexpectedEOF.
func ParseTag(b []byte) (Tag, int, error) {
	if len(b) < TagHeaderSize {
		return Tag{}, 0, fmt.Errorf("flv: tag header needs %d bytes, have %d: %w", TagHeaderSize, len(b), io.ErrUnexpectedEOF)
	}
	t, n := parseTagHeader(b)
	end := TagHeaderSize + n
	if len(b) < end+PreviousTagSizeLen {
		return Tag{}, 0, fmt.Errorf("flv: tag needs %d bytes, have %d: %w", end+PreviousTagSizeLen, len(b), io.ErrUnexpectedEOF)
	}
	t.Body = b[TagHeaderSize:end:end]
	if prev := be32(b[end:]); prev != uint32(end) {
		return Tag{}, 0, fmt.Errorf("%w: field says %d, tag is %d bytes", errPrevTagSize, prev, end)
	}
	return t, end + PreviousTagSizeLen, nil
}

// parseTagHeader decodes an 11-byte tag header and returns the tag without
// body and the body length.
func parseTagHeader(h []byte) (Tag, int) {
	_ = h[10]
	return Tag{
		Type:      TagType(h[0]),
		Timestamp: uint32(h[7])<<24 | be24(h[4:]),
		StreamID:  be24(h[8:]),
	}, int(be24(h[1:]))
}

func be16(b []byte) uint16 { return uint16(b[0])<<8 | uint16(b[1]) }

func be24(b []byte) uint32 { return uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2]) }

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// si24 decodes a signed 24-bit big-endian integer.
func si24(b []byte) int32 { return int32(be24(b)<<8) >> 8 }
