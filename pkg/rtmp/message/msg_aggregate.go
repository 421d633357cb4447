package message

import (
	"encoding/binary"
	"fmt"

	"github.com/tributary-media/tributary/pkg/rtmp/amf"
	"github.com/tributary-media/tributary/pkg/rtmp/chunk"
)

// aggregateHeaderLen is the size of an aggregate sub-message header.
const aggregateHeaderLen = 11

// Aggregate (type 22) carries a sequence of sub-messages in FLV tag form.
// [SplitAggregate] turns it into ordinary messages.
//
//	payload: { type u8 · length u24 · timestamp u24 (low bits) ·
//	           timestamp u8 (high bits) · stream id u24 ·
//	           data (length bytes) · back pointer u32 (11 + length) } ...
type Aggregate struct {
	// Payload is the raw aggregate body; a decoded Aggregate aliases the
	// chunk message's payload.
	Payload []byte
}

// Type returns [TypeAggregate].
func (*Aggregate) Type() uint8 { return TypeAggregate }

// AppendPayload appends Payload to dst.
func (m *Aggregate) AppendPayload(dst []byte) ([]byte, error) {
	return append(dst, m.Payload...), nil
}

// Unmarshal makes Payload alias b; the sub-messages are checked only when
// split.
func (m *Aggregate) Unmarshal(b []byte) error { return m.unmarshal(amf.Decoder{}, b) }

func (m *Aggregate) unmarshal(_ amf.Decoder, b []byte) error {
	m.Payload = b
	return nil
}

// SplitAggregate calls fn for each sub-message of the aggregate message m,
// in order, and stops at the first error fn returns (which it returns).
//
// Each sub-message gets the aggregate's chunk stream and message stream id
// (the sub-header's stream id is ignored, as the specification asks) and
// the timestamp m.Timestamp + (its own timestamp - the first sub-message's
// timestamp), in 32-bit wrapping arithmetic. Its Payload aliases
// m.Payload. The *chunk.Message passed to fn is reused for every call: it
// is valid only during the call (use Clone to keep it).
//
// A sub-message whose header or data runs past the end of the payload is an
// error wrapping [ErrMalformed], returned after the complete sub-messages
// before it have been delivered. A missing or short back pointer after the
// last sub-message ends the split without error (nginx-rtmp stops there
// quietly); back pointer values are not checked.
func SplitAggregate(m *chunk.Message, fn func(sub *chunk.Message) error) error {
	b := m.Payload
	var sub chunk.Message
	var first uint32
	for i := 0; len(b) > 0; i++ {
		if len(b) < aggregateHeaderLen {
			return fmt.Errorf("%w: aggregate sub-message %d: header of %d bytes, want %d",
				ErrMalformed, i, len(b), aggregateHeaderLen)
		}
		typ := b[0]
		size := uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		ts := uint32(b[7])<<24 | uint32(b[4])<<16 | uint32(b[5])<<8 | uint32(b[6])
		b = b[aggregateHeaderLen:]
		if uint64(size) > uint64(len(b)) {
			return fmt.Errorf("%w: aggregate sub-message %d: %d data bytes with %d left",
				ErrMalformed, i, size, len(b))
		}
		if i == 0 {
			first = ts
		}
		sub = chunk.Message{
			CSID:      m.CSID,
			Timestamp: m.Timestamp + (ts - first),
			Type:      typ,
			StreamID:  m.StreamID,
			Payload:   b[:size:size],
		}
		if err := fn(&sub); err != nil {
			return err
		}
		b = b[size:]
		if len(b) < 4 {
			return nil // no (complete) trailing back pointer: done
		}
		b = b[4:]
	}
	return nil
}

// AppendAggregateTag appends one sub-message to an aggregate payload in
// construction: the 11-byte header with sub's type, length, timestamp and
// stream id (low 24 bits), the payload, and the back pointer.
func AppendAggregateTag(dst []byte, sub *chunk.Message) ([]byte, error) {
	n := len(sub.Payload)
	if n > 0xFFFFFF {
		return dst, fmt.Errorf("%w: aggregate sub-message of %d bytes, max %d", errInvalid, n, 0xFFFFFF)
	}
	ts := sub.Timestamp
	dst = append(dst,
		sub.Type,
		byte(n>>16), byte(n>>8), byte(n),
		byte(ts>>16), byte(ts>>8), byte(ts), byte(ts>>24),
		byte(sub.StreamID>>16), byte(sub.StreamID>>8), byte(sub.StreamID),
	)
	dst = append(dst, sub.Payload...)
	return binary.BigEndian.AppendUint32(dst, uint32(aggregateHeaderLen+n)), nil
}
