package message

import (
	"encoding/binary"
	"fmt"
	"strconv"

	"github.com/tributary-media/tributary/pkg/rtmp/amf"
)

// Event is a user control event type (RTMP 1.0 section 7.1.7; PROTOCOL.md
// section 4.3).
type Event uint16

// User control events.
const (
	EventStreamBegin      Event = 0  // stream id: the stream is usable
	EventStreamEOF        Event = 1  // stream id: playback finished
	EventStreamDry        Event = 2  // stream id: no data for a while
	EventSetBufferLength  Event = 3  // stream id, buffer length in ms (client to server)
	EventStreamIsRecorded Event = 4  // stream id: the stream is recorded
	EventPingRequest      Event = 6  // timestamp: answer with EventPingResponse
	EventPingResponse     Event = 7  // timestamp echoed from the request
	EventSWFVerifyRequest Event = 26 // not in the specification: SWF verification request
	EventSWFVerifyReply   Event = 27 // not in the specification: SWF verification data
	EventBufferEmpty      Event = 31 // not in the specification: stream id (FMS-style servers)
	EventBufferReady      Event = 32 // not in the specification: stream id (FMS-style servers)
)

// String returns the event's name or its number.
func (e Event) String() string {
	switch e {
	case EventStreamBegin:
		return "StreamBegin"
	case EventStreamEOF:
		return "StreamEOF"
	case EventStreamDry:
		return "StreamDry"
	case EventSetBufferLength:
		return "SetBufferLength"
	case EventStreamIsRecorded:
		return "StreamIsRecorded"
	case EventPingRequest:
		return "PingRequest"
	case EventPingResponse:
		return "PingResponse"
	case EventSWFVerifyRequest:
		return "SWFVerifyRequest"
	case EventSWFVerifyReply:
		return "SWFVerifyReply"
	case EventBufferEmpty:
		return "BufferEmpty"
	case EventBufferReady:
		return "BufferReady"
	default:
		return "Event(" + strconv.Itoa(int(e)) + ")"
	}
}

// UserControl (type 4) carries one user control event.
//
//	payload: event type u16 · event data
//	  StreamBegin, StreamEOF, StreamDry, StreamIsRecorded,
//	  BufferEmpty, BufferReady:  stream id u32               (6 bytes)
//	  SetBufferLength:           stream id u32 · length u32   (10 bytes)
//	  PingRequest, PingResponse: timestamp u32               (6 bytes)
//	  any other event:           raw data, kept in Raw
//
// Only the fields of the event's layout are encoded and decoded; the rest
// stay zero. A payload shorter than its event's layout is malformed (a
// connection should ignore it, as nginx-rtmp does); bytes beyond the layout
// are ignored. Unknown events decode without error.
type UserControl struct {
	// Event is the event type.
	Event Event
	// StreamID is the message stream the event is about.
	StreamID uint32
	// BufferLength is the client's buffer in milliseconds
	// (SetBufferLength).
	BufferLength uint32
	// Timestamp is the ping timestamp (PingRequest, PingResponse).
	Timestamp uint32
	// Raw is the event data of events without a known layout; it aliases
	// the decoded payload.
	Raw []byte
}

// Type returns [TypeUserControl].
func (*UserControl) Type() uint8 { return TypeUserControl }

// dataLayout says which fields an event carries.
type dataLayout uint8

const (
	layoutRaw dataLayout = iota
	layoutStreamID
	layoutBuffer
	layoutTimestamp
)

func layoutOf(e Event) dataLayout {
	switch e {
	case EventStreamBegin, EventStreamEOF, EventStreamDry, EventStreamIsRecorded,
		EventBufferEmpty, EventBufferReady:
		return layoutStreamID
	case EventSetBufferLength:
		return layoutBuffer
	case EventPingRequest, EventPingResponse:
		return layoutTimestamp
	}
	return layoutRaw
}

// AppendPayload appends the event type and the event's data to dst.
func (m *UserControl) AppendPayload(dst []byte) ([]byte, error) {
	dst = binary.BigEndian.AppendUint16(dst, uint16(m.Event))
	switch layoutOf(m.Event) {
	case layoutStreamID:
		dst = binary.BigEndian.AppendUint32(dst, m.StreamID)
	case layoutBuffer:
		dst = binary.BigEndian.AppendUint32(dst, m.StreamID)
		dst = binary.BigEndian.AppendUint32(dst, m.BufferLength)
	case layoutTimestamp:
		dst = binary.BigEndian.AppendUint32(dst, m.Timestamp)
	default:
		dst = append(dst, m.Raw...)
	}
	return dst, nil
}

// Unmarshal decodes a payload. Raw aliases b.
func (m *UserControl) Unmarshal(b []byte) error { return m.unmarshal(amf.Decoder{}, b) }

func (m *UserControl) unmarshal(_ amf.Decoder, b []byte) error {
	if err := need(b, 2, "user control"); err != nil {
		return err
	}
	ev := Event(binary.BigEndian.Uint16(b))
	*m = UserControl{Event: ev}
	layout := layoutOf(ev)
	if n := layoutSize(layout); len(b) < n {
		return fmt.Errorf("%w: user control %v: %d bytes, want at least %d", ErrMalformed, ev, len(b), n)
	}
	d := b[2:]
	switch layout {
	case layoutStreamID:
		m.StreamID = binary.BigEndian.Uint32(d)
	case layoutBuffer:
		m.StreamID = binary.BigEndian.Uint32(d)
		m.BufferLength = binary.BigEndian.Uint32(d[4:])
	case layoutTimestamp:
		m.Timestamp = binary.BigEndian.Uint32(d)
	default:
		if len(d) > 0 {
			m.Raw = d
		}
	}
	return nil
}

// layoutSize is the payload size, event type included, of a layout.
func layoutSize(l dataLayout) int {
	switch l {
	case layoutStreamID, layoutTimestamp:
		return 6
	case layoutBuffer:
		return 10
	}
	return 2
}

// PingResponse returns the answer to a PingRequest: a PingResponse carrying
// the request's timestamp. ok is false when req is not a PingRequest.
func PingResponse(req *UserControl) (resp UserControl, ok bool) {
	if req.Event != EventPingRequest {
		return UserControl{}, false
	}
	return UserControl{Event: EventPingResponse, Timestamp: req.Timestamp}, true
}
