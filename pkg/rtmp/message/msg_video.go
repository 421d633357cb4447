package message

import "github.com/tributary-media/tributary/pkg/rtmp/amf"

// Video (type 9) carries one FLV video tag body: the legacy VideoTagHeader
// or an Enhanced RTMP header followed by codec data. The flv package parses
// it.
type Video struct {
	// Payload is the tag body. A decoded Video aliases the chunk
	// message's payload; nothing is copied.
	Payload []byte
}

// Type returns [TypeVideo].
func (*Video) Type() uint8 { return TypeVideo }

// AppendPayload appends Payload to dst.
func (m *Video) AppendPayload(dst []byte) ([]byte, error) { return append(dst, m.Payload...), nil }

// Unmarshal makes Payload alias b. It never fails and never allocates.
func (m *Video) Unmarshal(b []byte) error { return m.unmarshal(amf.Decoder{}, b) }

func (m *Video) unmarshal(_ amf.Decoder, b []byte) error {
	m.Payload = b
	return nil
}
