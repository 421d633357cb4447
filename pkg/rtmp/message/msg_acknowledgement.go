package message

import (
	"encoding/binary"

	"github.com/tributary-media/tributary/pkg/rtmp/amf"
)

// Acknowledgement (type 3) reports the number of bytes received so far,
// modulo 2^32. [AckTracker] says when one is due.
//
//	payload: sequence number u32
type Acknowledgement struct {
	// Sequence is the total number of bytes received, modulo 2^32.
	Sequence uint32
}

// Type returns [TypeAcknowledgement].
func (*Acknowledgement) Type() uint8 { return TypeAcknowledgement }

// AppendPayload appends the 4-byte payload to dst.
func (m *Acknowledgement) AppendPayload(dst []byte) ([]byte, error) {
	return binary.BigEndian.AppendUint32(dst, m.Sequence), nil
}

// Unmarshal decodes a payload; bytes after the first four are ignored.
func (m *Acknowledgement) Unmarshal(b []byte) error { return m.unmarshal(amf.Decoder{}, b) }

func (m *Acknowledgement) unmarshal(_ amf.Decoder, b []byte) error {
	if err := need(b, 4, "acknowledgement"); err != nil {
		return err
	}
	m.Sequence = binary.BigEndian.Uint32(b)
	return nil
}
