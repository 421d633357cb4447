package message

import (
	"encoding/binary"

	"github.com/tributary-media/tributary/pkg/rtmp/amf"
)

// Abort (type 2) tells the receiver to discard the partially received
// message on a chunk stream. The chunk reader acts on it.
//
//	payload: chunk stream id u32
type Abort struct {
	// CSID is the chunk stream whose partial message is discarded.
	CSID uint32
}

// Type returns [TypeAbort].
func (*Abort) Type() uint8 { return TypeAbort }

// AppendPayload appends the 4-byte payload to dst.
func (m *Abort) AppendPayload(dst []byte) ([]byte, error) {
	return binary.BigEndian.AppendUint32(dst, m.CSID), nil
}

// Unmarshal decodes a payload; bytes after the first four are ignored.
func (m *Abort) Unmarshal(b []byte) error { return m.unmarshal(amf.Decoder{}, b) }

func (m *Abort) unmarshal(_ amf.Decoder, b []byte) error {
	if err := need(b, 4, "abort"); err != nil {
		return err
	}
	m.CSID = binary.BigEndian.Uint32(b)
	return nil
}
