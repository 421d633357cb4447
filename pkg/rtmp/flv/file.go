package flv

import (
	"fmt"
	"io"
)

// HeaderSize is the size of the file header as written by AppendHeader: the
// 9-byte header plus PreviousTagSize0.
const HeaderSize = 13

// Header is the FLV file header.
type Header struct {
	// Version is the file version, 1 for every FLV file in use.
	Version uint8
	// Audio and Video are the TypeFlags: whether audio and video tags are
	// present. Players treat them as hints.
	Audio, Video bool
}

// AppendHeader appends the 13-byte file header (signature "FLV", version,
// type flags, DataOffset 9, PreviousTagSize0 0) to dst. A Version of 0 is
// written as 1.
func AppendHeader(dst []byte, h Header) []byte {
	v := h.Version
	if v == 0 {
		v = 1
	}
	var flags byte
	if h.Audio {
		flags |= 0x04
	}
	if h.Video {
		flags |= 0x01
	}
	return append(dst,
		'F', 'L', 'V', v, flags,
		0, 0, 0, 9, // DataOffset
		0, 0, 0, 0, // PreviousTagSize0
	)
}

// ParseHeader parses the file header at the start of b and returns it with
// the number of bytes up to the first tag (DataOffset plus the 4-byte
// PreviousTagSize0, normally HeaderSize). Reserved flag bits and the value
// of PreviousTagSize0 are ignored. A b too short for the header gives an
// error wrapping io.ErrUnexpectedEOF.
func ParseHeader(b []byte) (Header, int, error) {
	if len(b) < 9 {
		if len(b) >= 3 && string(b[:3]) != "FLV" {
			return Header{}, 0, fmt.Errorf("%w: signature %q", errSignature, b[:3])
		}
		return Header{}, 0, fmt.Errorf("flv: file header needs 9 bytes, have %d: %w", len(b), io.ErrUnexpectedEOF)
	}
	h, off, err := parseFileHeader((*[9]byte)(b))
	if err != nil {
		return Header{}, 0, err
	}
	n := int(off) + PreviousTagSizeLen
	if len(b) < n {
		return Header{}, 0, fmt.Errorf("flv: file header needs %d bytes, have %d: %w", n, len(b), io.ErrUnexpectedEOF)
	}
	return h, n, nil
}

// parseFileHeader checks the 9-byte header and returns it with DataOffset.
func parseFileHeader(b *[9]byte) (Header, uint32, error) {
	if b[0] != 'F' || b[1] != 'L' || b[2] != 'V' {
		return Header{}, 0, fmt.Errorf("%w: signature %q", errSignature, b[:3])
	}
	off := be32(b[5:])
	if off < 9 || off > maxDataOffset {
		return Header{}, 0, fmt.Errorf("%w: data offset %d", errSignature, off)
	}
	return Header{Version: b[3], Audio: b[4]&0x04 != 0, Video: b[4]&0x01 != 0}, off, nil
}

// maxDataOffset bounds the DataOffset field, which only ever is 9; a larger
// value would make a reader skip bytes it has no reason to skip.
const maxDataOffset = 1 << 16
