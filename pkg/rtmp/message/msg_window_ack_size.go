package message

import (
	"encoding/binary"

	"github.com/tributary-media/tributary/pkg/rtmp/amf"
)

// WindowAckSize (type 5, "Server BW" in Adobe-lineage code) asks the
// receiver to send an [Acknowledgement] after every Size bytes it receives.
//
//	payload: window size u32
type WindowAckSize struct {
	// Size is the acknowledgement window in bytes.
	Size uint32
}

// Type returns [TypeWindowAckSize].
func (*WindowAckSize) Type() uint8 { return TypeWindowAckSize }

// AppendPayload appends the 4-byte payload to dst.
func (m *WindowAckSize) AppendPayload(dst []byte) ([]byte, error) {
	return binary.BigEndian.AppendUint32(dst, m.Size), nil
}

// Unmarshal decodes a payload; bytes after the first four are ignored.
func (m *WindowAckSize) Unmarshal(b []byte) error { return m.unmarshal(amf.Decoder{}, b) }

func (m *WindowAckSize) unmarshal(_ amf.Decoder, b []byte) error {
	if err := need(b, 4, "window acknowledgement size"); err != nil {
		return err
	}
	m.Size = binary.BigEndian.Uint32(b)
	return nil
}
