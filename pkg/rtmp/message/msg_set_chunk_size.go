package message

import (
	"encoding/binary"
	"fmt"

	"github.com/tributary-media/tributary/pkg/rtmp/amf"
)

// MaxChunkSize is the largest value a Set Chunk Size message can carry: bit
// 31 of the field must be zero.
const MaxChunkSize = 0x7FFFFFFF

// SetChunkSize (type 1) announces the maximum chunk size the sender uses
// for every chunk after this message.
//
//	payload: size u32, bit 31 zero, 1..0x7FFFFFFF
//
// The chunk layer applies it; this type only carries the value. Decoding
// rejects 0 and values with bit 31 set as malformed; range policy beyond
// that (minimum 128, a configured maximum) is the chunk reader's.
type SetChunkSize struct {
	// Size is the new chunk size in bytes.
	Size uint32
}

// Type returns [TypeSetChunkSize].
func (*SetChunkSize) Type() uint8 { return TypeSetChunkSize }

// AppendPayload appends the 4-byte payload to dst.
func (m *SetChunkSize) AppendPayload(dst []byte) ([]byte, error) {
	if m.Size == 0 || m.Size > MaxChunkSize {
		return dst, fmt.Errorf("%w: set chunk size %#x: must be 1..0x7fffffff", errInvalid, m.Size)
	}
	return binary.BigEndian.AppendUint32(dst, m.Size), nil
}

// Unmarshal decodes a payload; bytes after the first four are ignored.
func (m *SetChunkSize) Unmarshal(b []byte) error { return m.unmarshal(amf.Decoder{}, b) }

func (m *SetChunkSize) unmarshal(_ amf.Decoder, b []byte) error {
	if err := need(b, 4, "set chunk size"); err != nil {
		return err
	}
	v := binary.BigEndian.Uint32(b)
	if v == 0 || v > MaxChunkSize {
		return fmt.Errorf("%w: set chunk size %#x: must be 1..0x7fffffff", ErrMalformed, v)
	}
	m.Size = v
	return nil
}
