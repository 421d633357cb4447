package chunk

import (
	"errors"
	"fmt"
	"io"
)

// extendedField is the 3-byte timestamp field value that announces a 4-byte
// extended timestamp.
const extendedField = 0xFFFFFF

// msgHeaderLen is the message header length after the basic header, by fmt.
var msgHeaderLen = [4]int{11, 7, 3, 0}

var errFmt = errors.New("chunk: fmt out of range 0..3")

// Header is one chunk header as it appears on the wire:
//
//	basic header     fmt (2 bits) + chunk stream id, 1 to 3 bytes
//	message header   fmt 0: timestamp (3) length (3) type (1) stream id (4, little-endian)
//	                 fmt 1: timestamp delta (3) length (3) type (1)
//	                 fmt 2: timestamp delta (3)
//	                 fmt 3: nothing
//	extended time    4 bytes, when the 3-byte timestamp field is 0xFFFFFF
//
// Header is the stateless view of one chunk; [Reader] and [Writer] keep the
// per-chunk-stream state that gives fmt 1..3 headers their meaning.
type Header struct {
	// Fmt is the header format, 0..3.
	Fmt uint8
	// CSID is the chunk stream id, 2..65599.
	CSID uint32
	// Timestamp is the absolute timestamp (fmt 0) or the timestamp delta
	// (fmt 1 and 2). Values of 0xFFFFFF and more travel in the extended
	// timestamp field. For fmt 3 it is the value of the extended timestamp
	// field when Extended is set.
	Timestamp uint32
	// Length is the message length (fmt 0 and 1).
	Length uint32
	// Type is the message type id (fmt 0 and 1).
	Type uint8
	// StreamID is the message stream id (fmt 0).
	StreamID uint32
	// Extended reports whether the 4-byte extended timestamp field is
	// present. Unmarshal sets it for fmt 0..2 from the 3-byte field;
	// MarshalTo writes the field when Extended is set or Timestamp needs
	// it. Whether a fmt 3 header carries the field depends on the chunk
	// stream's previous header, so for fmt 3 the caller sets Extended before
	// calling Unmarshal.
	Extended bool
}

// basicHeaderLen returns the length of the smallest basic header for csid.
func basicHeaderLen(csid uint32) int {
	switch {
	case csid < 64:
		return 1
	case csid < 320:
		return 2
	default:
		return 3
	}
}

// putBasicHeader writes the smallest basic header for a valid csid and
// returns its length.
func putBasicHeader(b []byte, fmtBits uint8, csid uint32) int {
	switch {
	case csid < 64:
		b[0] = fmtBits<<6 | byte(csid)
		return 1
	case csid < 320:
		b[0] = fmtBits << 6
		b[1] = byte(csid - 64)
		return 2
	default:
		b[0] = fmtBits<<6 | 1
		b[1] = byte(csid - 64)
		b[2] = byte((csid - 64) >> 8)
		return 3
	}
}

func (h *Header) extended() bool {
	if h.Fmt == 3 {
		return h.Extended
	}
	return h.Extended || h.Timestamp >= extendedField
}

// MarshalSize returns the number of bytes MarshalTo writes.
func (h *Header) MarshalSize() int {
	n := basicHeaderLen(h.CSID) + msgHeaderLen[h.Fmt&3]
	if h.extended() {
		n += 4
	}
	return n
}

// MarshalTo writes h into b using the smallest basic header form and returns
// the number of bytes written. It returns an error wrapping
// io.ErrShortBuffer if b is shorter than MarshalSize.
func (h *Header) MarshalTo(b []byte) (int, error) {
	switch {
	case h.Fmt > 3:
		return 0, fmt.Errorf("%w: %d", errFmt, h.Fmt)
	case h.CSID < 2 || h.CSID > maxCSID:
		return 0, fmt.Errorf("%w: %d", errCSID, h.CSID)
	case h.Fmt <= 1 && h.Length > MaxWireMessageLength:
		return 0, fmt.Errorf("%w: length %d above %d", errTooLong, h.Length, MaxWireMessageLength)
	}
	size := h.MarshalSize()
	if len(b) < size {
		return 0, fmt.Errorf("chunk: header needs %d bytes, buffer has %d: %w", size, len(b), io.ErrShortBuffer)
	}
	n := putBasicHeader(b, h.Fmt, h.CSID)
	ext := h.extended()
	if h.Fmt <= 2 {
		if ext {
			put24(b[n:], extendedField)
		} else {
			put24(b[n:], h.Timestamp)
		}
		n += 3
	}
	if h.Fmt <= 1 {
		put24(b[n:], h.Length)
		b[n+3] = h.Type
		n += 4
	}
	if h.Fmt == 0 {
		putLE32(b[n:], h.StreamID)
		n += 4
	}
	if ext {
		put32(b[n:], h.Timestamp)
		n += 4
	}
	return n, nil
}

// Unmarshal parses one chunk header from the start of b and returns the
// number of bytes it used. Fields the header's fmt does not carry are set to
// zero; for fmt 3, Extended is read as input (see [Header.Extended]). It
// returns an error wrapping io.ErrShortBuffer if b ends inside the header.
func (h *Header) Unmarshal(b []byte) (int, error) {
	if len(b) < 1 {
		return 0, fmt.Errorf("chunk: empty header: %w", io.ErrShortBuffer)
	}
	f := b[0] >> 6
	csid := uint32(b[0] & 0x3f)
	n := 1
	switch csid {
	case 0:
		n = 2
	case 1:
		n = 3
	}
	size := n + msgHeaderLen[f]
	if len(b) < size {
		return 0, fmt.Errorf("chunk: fmt %d header needs %d bytes, have %d: %w", f, size, len(b), io.ErrShortBuffer)
	}
	switch csid {
	case 0:
		csid = 64 + uint32(b[1])
	case 1:
		csid = 64 + uint32(b[1]) + uint32(b[2])<<8
	}
	ext := f == 3 && h.Extended
	*h = Header{Fmt: f, CSID: csid}
	p := b[n:size]
	if f <= 2 {
		h.Timestamp = be24(p)
		ext = h.Timestamp == extendedField
	}
	if f <= 1 {
		h.Length = be24(p[3:])
		h.Type = p[6]
	}
	if f == 0 {
		h.StreamID = le32(p[7:])
	}
	if ext {
		if len(b) < size+4 {
			return 0, fmt.Errorf("chunk: extended timestamp needs %d bytes, have %d: %w", size+4, len(b), io.ErrShortBuffer)
		}
		h.Extended = true
		h.Timestamp = be32(b[size:])
		size += 4
	}
	return size, nil
}
