package flv

import (
	"fmt"
	"io"
)

// MultitrackType is the E-RTMP AvMultitrackType: how the tracks of a
// multitrack audio or video message are laid out.
type MultitrackType uint8

// Multitrack layouts.
const (
	// OneTrack is a single track with a track id and no size field.
	OneTrack MultitrackType = 0
	// ManyTracks is several tracks of one codec, each with a track id and
	// a UI24 size.
	ManyTracks MultitrackType = 1
	// ManyTracksManyCodecs is several tracks, each with its own FourCC, a
	// track id and a UI24 size.
	ManyTracksManyCodecs MultitrackType = 2
)

// packetTypeModEx is the packet type value (audio and video) announcing a
// ModEx block.
const packetTypeModEx = 7

// modExTimestampOffsetNano is the ModEx type carrying a UI24 nanosecond
// offset to add to the message timestamp.
const modExTimestampOffsetNano = 0

// maxTimestampOffsetNano is the largest valid TimestampOffsetNano.
const maxTimestampOffsetNano = 999_999

// modExBlock consumes one ModEx block: the size (UI8 + 1, or UI16 + 1
// after an escape of 255), the data and the byte holding the ModEx type and
// the next packet type. ok is false when b is too short. It never allocates.
func modExBlock(b []byte) (data []byte, typ, next uint8, rest []byte, ok bool) {
	if len(b) < 1 {
		return nil, 0, 0, nil, false
	}
	size := int(b[0]) + 1
	b = b[1:]
	if size == 256 {
		if len(b) < 2 {
			return nil, 0, 0, nil, false
		}
		size = int(be16(b)) + 1
		b = b[2:]
	}
	if len(b) < size+1 {
		return nil, 0, 0, nil, false
	}
	return b[:size], b[size] >> 4, b[size] & 0x0f, b[size+1:], true
}

// parseModEx consumes the ModEx blocks that follow a packet type of ModEx
// and returns the packet type that ends the chain, the TimestampOffsetNano
// (0 when absent; the last one wins) and the bytes after the chain. ModEx
// types other than TimestampOffsetNano are skipped, as the specification
// defines no other.
func parseModEx(b []byte) (pkt uint8, nano uint32, rest []byte, err error) {
	for {
		data, typ, next, r, ok := modExBlock(b)
		if !ok {
			return 0, 0, nil, fmt.Errorf("flv: ModEx block: %w", io.ErrUnexpectedEOF)
		}
		if typ == modExTimestampOffsetNano {
			if len(data) < 3 {
				return 0, 0, nil, fmt.Errorf("%w: TimestampOffsetNano with %d data bytes", errModEx, len(data))
			}
			nano = be24(data)
			if nano > maxTimestampOffsetNano {
				return 0, 0, nil, fmt.Errorf("%w: TimestampOffsetNano %d above %d", errModEx, nano, maxTimestampOffsetNano)
			}
		}
		if next != packetTypeModEx {
			return next, nano, r, nil
		}
		b = r
	}
}

// appendTimestampOffsetNano appends one ModEx block carrying nano, followed
// by the byte (ModEx type 0, next packet type).
func appendTimestampOffsetNano(dst []byte, nano uint32, next uint8) ([]byte, error) {
	if nano > maxTimestampOffsetNano {
		return dst, fmt.Errorf("%w: TimestampOffsetNano %d above %d", errEncode, nano, maxTimestampOffsetNano)
	}
	return append(dst,
		3-1,                                       // modExDataSize - 1
		byte(nano>>16), byte(nano>>8), byte(nano), // UI24 nanoseconds
		modExTimestampOffsetNano<<4|next, // ModEx type, next packet type
	), nil
}

// splitTrack takes the per-track prefix of a multitrack message: the FourCC
// for ManyTracksManyCodecs, the track id, and for layouts other than
// OneTrack the UI24 size. It returns the FourCC (shared unless the layout
// has one per track), the id, the track body and what follows it.
func splitTrack(b []byte, mt MultitrackType, shared FourCC) (fourcc FourCC, id uint8, body, rest []byte, err error) {
	fourcc = shared
	if mt == ManyTracksManyCodecs {
		if len(b) < 4 {
			return 0, 0, nil, nil, fmt.Errorf("flv: track FourCC: %w", io.ErrUnexpectedEOF)
		}
		fourcc = FourCC(be32(b))
		b = b[4:]
	}
	if len(b) < 1 {
		return 0, 0, nil, nil, fmt.Errorf("flv: track id: %w", io.ErrUnexpectedEOF)
	}
	id = b[0]
	b = b[1:]
	if mt == OneTrack {
		return fourcc, id, b, nil, nil
	}
	if len(b) < 3 {
		return 0, 0, nil, nil, fmt.Errorf("flv: track size: %w", io.ErrUnexpectedEOF)
	}
	size := int(be24(b))
	b = b[3:]
	if size > len(b) {
		return 0, 0, nil, nil, fmt.Errorf("%w: track %d says %d bytes, %d left", errTrackSize, id, size, len(b))
	}
	return fourcc, id, b[:size:size], b[size:], nil
}

// appendTrackPrefix appends the per-track prefix splitTrack reads; size is
// the length of the track body that will follow.
func appendTrackPrefix(dst []byte, mt MultitrackType, fourcc FourCC, id uint8, size int) ([]byte, error) {
	if mt == ManyTracksManyCodecs {
		dst = appendFourCC(dst, fourcc)
	}
	dst = append(dst, id)
	if mt == OneTrack {
		return dst, nil
	}
	if size > 0xFFFFFF {
		return dst, fmt.Errorf("%w: track %d of %d bytes exceeds UI24", errEncode, id, size)
	}
	return append(dst, byte(size>>16), byte(size>>8), byte(size)), nil
}

func appendFourCC(dst []byte, f FourCC) []byte {
	return append(dst, byte(f>>24), byte(f>>16), byte(f>>8), byte(f))
}

func appendSI24(dst []byte, v int32) ([]byte, error) {
	if v < -1<<23 || v >= 1<<23 {
		return dst, fmt.Errorf("%w: composition time %d does not fit SI24", errEncode, v)
	}
	return append(dst, byte(v>>16), byte(v>>8), byte(v)), nil
}

func unknownFourCC(kind string, f FourCC) error {
	return fmt.Errorf("%w: %s FourCC %s", ErrUnknownCodec, kind, f)
}
