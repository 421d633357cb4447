package message

import "github.com/tributary-media/tributary/pkg/rtmp/amf"

// Unknown is a message of a type this package does not model (7, 10..14,
// 21, 23 and above). Decoding never fails for it: a connection ignores such
// messages instead of closing.
type Unknown struct {
	// TypeID is the message type id.
	TypeID uint8
	// Payload is the raw payload; a decoded Unknown aliases the chunk
	// message's payload.
	Payload []byte
}

// Type returns TypeID.
func (m *Unknown) Type() uint8 { return m.TypeID }

// AppendPayload appends Payload to dst.
func (m *Unknown) AppendPayload(dst []byte) ([]byte, error) { return append(dst, m.Payload...), nil }

// Unmarshal makes Payload alias b; TypeID is left as it is.
func (m *Unknown) Unmarshal(b []byte) error { return m.unmarshal(amf.Decoder{}, b) }

func (m *Unknown) unmarshal(_ amf.Decoder, b []byte) error {
	m.Payload = b
	return nil
}
