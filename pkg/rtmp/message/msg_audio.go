package message

import "github.com/tributary-media/tributary/pkg/rtmp/amf"

// Audio (type 8) carries one FLV audio tag body: the legacy AudioTagHeader
// or an Enhanced RTMP header followed by codec data. The flv package parses
// it. An empty payload is legal (Enhanced RTMP v2: silence).
type Audio struct {
	// Payload is the tag body. A decoded Audio aliases the chunk
	// message's payload; nothing is copied.
	Payload []byte
}

// Type returns [TypeAudio].
func (*Audio) Type() uint8 { return TypeAudio }

// AppendPayload appends Payload to dst.
func (m *Audio) AppendPayload(dst []byte) ([]byte, error) { return append(dst, m.Payload...), nil }

// Unmarshal makes Payload alias b. It never fails and never allocates.
func (m *Audio) Unmarshal(b []byte) error { return m.unmarshal(amf.Decoder{}, b) }

func (m *Audio) unmarshal(_ amf.Decoder, b []byte) error {
	m.Payload = b
	return nil
}
