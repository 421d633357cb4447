package message

import (
	"fmt"

	"github.com/tributary-media/tributary/pkg/rtmp/amf"
	"github.com/tributary-media/tributary/pkg/rtmp/chunk"
)

// Message type ids (RTMP 1.0 sections 5.4, 6.2 and 7.1; PROTOCOL.md
// section 5).
const (
	TypeSetChunkSize     uint8 = 1  // protocol control: Set Chunk Size
	TypeAbort            uint8 = 2  // protocol control: Abort Message
	TypeAcknowledgement  uint8 = 3  // protocol control: Acknowledgement
	TypeUserControl      uint8 = 4  // user control message
	TypeWindowAckSize    uint8 = 5  // protocol control: Window Acknowledgement Size
	TypeSetPeerBandwidth uint8 = 6  // protocol control: Set Peer Bandwidth
	TypeAudio            uint8 = 8  // audio: an FLV audio tag body
	TypeVideo            uint8 = 9  // video: an FLV video tag body
	TypeDataAMF3         uint8 = 15 // data message, format byte + AMF0 with AVM+ values
	TypeSharedObjectAMF3 uint8 = 16 // shared object message, format byte + as type 19
	TypeCommandAMF3      uint8 = 17 // command message, format byte + as type 20
	TypeDataAMF0         uint8 = 18 // data message (onMetaData, @setDataFrame, ...)
	TypeSharedObjectAMF0 uint8 = 19 // shared object message
	TypeCommandAMF0      uint8 = 20 // command message (connect, publish, _result, onStatus, ...)
	TypeAggregate        uint8 = 22 // aggregate: a sequence of FLV-style sub-tags
)

// Conventional chunk stream ids (PROTOCOL.md section 3.1). Only csid 2 for
// protocol control is mandated; the rest follow nginx-rtmp and stay below
// 32, the default limit of nginx-rtmp, so every server accepts them.
const (
	// CSIDControl carries protocol control (types 1, 2, 3, 5, 6) and user
	// control (type 4) messages.
	CSIDControl uint32 = 2
	// CSIDCommand carries commands, data and shared object messages on
	// message stream 0: connect, createStream, their replies.
	CSIDCommand uint32 = 3
	// CSIDStream carries commands and data on a media message stream:
	// publish, play, onStatus, @setDataFrame/onMetaData.
	CSIDStream uint32 = 5
	// CSIDAudio carries audio messages.
	CSIDAudio uint32 = 6
	// CSIDVideo carries video and aggregate messages.
	CSIDVideo uint32 = 7
)

// CSIDFor returns the conventional chunk stream id for a message of type typ
// on message stream streamID (see the CSID constants).
func CSIDFor(typ uint8, streamID uint32) uint32 {
	switch typ {
	case TypeSetChunkSize, TypeAbort, TypeAcknowledgement, TypeUserControl,
		TypeWindowAckSize, TypeSetPeerBandwidth:
		return CSIDControl
	case TypeAudio:
		return CSIDAudio
	case TypeVideo, TypeAggregate:
		return CSIDVideo
	}
	if streamID == 0 {
		return CSIDCommand
	}
	return CSIDStream
}

// Message is a typed RTMP message. The set of implementations is closed:
// [*SetChunkSize], [*Abort], [*Acknowledgement], [*UserControl],
// [*WindowAckSize], [*SetPeerBandwidth], [*Audio], [*Video], [*Data],
// [*SharedObject], [*Command], [*Aggregate] and [*Unknown].
type Message interface {
	// Type returns the message type id.
	Type() uint8
	// AppendPayload appends the wire payload of the message to dst.
	AppendPayload(dst []byte) ([]byte, error)

	// unmarshal decodes a payload, with d bounding AMF decoding.
	unmarshal(d amf.Decoder, b []byte) error
}

// Decoder decodes chunk messages into typed messages and reuses its storage
// for the types that need no allocation: everything except [*Command],
// [*Data] and [*SharedObject]. A message returned by [Decoder.Decode] for
// those types points into the Decoder and is overwritten by the next call;
// all payload slices alias the chunk message's payload in any case.
//
// A Decoder is not safe for concurrent use; use one per connection. The
// zero value is ready to use.
type Decoder struct {
	// AMF bounds the decoding of AMF values (nesting depth, element
	// count); the zero value applies the amf package defaults.
	AMF amf.Decoder

	setChunkSize     SetChunkSize
	abort            Abort
	acknowledgement  Acknowledgement
	userControl      UserControl
	windowAckSize    WindowAckSize
	setPeerBandwidth SetPeerBandwidth
	audio            Audio
	video            Video
	aggregate        Aggregate
	unknown          Unknown
}

// Decode decodes m into a freshly allocated typed message. Unknown types
// give an [*Unknown], never an error. Malformed payloads give an error
// wrapping [ErrMalformed]. Payload slices in the result alias m.Payload.
//
// Media takes no allocation when it does not go through Decode: switch on
// m.Type first and use m.Payload (or [Video.Unmarshal]) for types 8 and 9,
// or use a [Decoder], whose Decode reuses its storage.
func Decode(m *chunk.Message) (Message, error) {
	return decode(nil, amf.Decoder{}, m)
}

// Decode decodes m like the package function [Decode], but returns the
// Decoder's own storage for fixed-layout messages, so audio, video and
// control messages take no allocation.
func (d *Decoder) Decode(m *chunk.Message) (Message, error) {
	return decode(d, d.AMF, m)
}

// slot returns the Decoder's reset storage for a type, or a new value when
// there is no Decoder.
func slot[T any](d *Decoder, field func(*Decoder) *T) *T {
	if d == nil {
		return new(T)
	}
	p := field(d)
	var zero T
	*p = zero
	return p
}

func decode(d *Decoder, ad amf.Decoder, m *chunk.Message) (Message, error) {
	var msg Message
	switch m.Type {
	case TypeSetChunkSize:
		msg = slot(d, func(d *Decoder) *SetChunkSize { return &d.setChunkSize })
	case TypeAbort:
		msg = slot(d, func(d *Decoder) *Abort { return &d.abort })
	case TypeAcknowledgement:
		msg = slot(d, func(d *Decoder) *Acknowledgement { return &d.acknowledgement })
	case TypeUserControl:
		msg = slot(d, func(d *Decoder) *UserControl { return &d.userControl })
	case TypeWindowAckSize:
		msg = slot(d, func(d *Decoder) *WindowAckSize { return &d.windowAckSize })
	case TypeSetPeerBandwidth:
		msg = slot(d, func(d *Decoder) *SetPeerBandwidth { return &d.setPeerBandwidth })
	case TypeAudio:
		msg = slot(d, func(d *Decoder) *Audio { return &d.audio })
	case TypeVideo:
		msg = slot(d, func(d *Decoder) *Video { return &d.video })
	case TypeAggregate:
		msg = slot(d, func(d *Decoder) *Aggregate { return &d.aggregate })
	case TypeDataAMF0, TypeDataAMF3:
		msg = &Data{AMF3: m.Type == TypeDataAMF3}
	case TypeCommandAMF0, TypeCommandAMF3:
		msg = &Command{AMF3: m.Type == TypeCommandAMF3}
	case TypeSharedObjectAMF0, TypeSharedObjectAMF3:
		msg = &SharedObject{AMF3: m.Type == TypeSharedObjectAMF3}
	default:
		u := slot(d, func(d *Decoder) *Unknown { return &d.unknown })
		u.TypeID = m.Type
		msg = u
	}
	if err := msg.unmarshal(ad, m.Payload); err != nil {
		return nil, err
	}
	return msg, nil
}

// ToChunk returns the chunk message that carries msg on message stream
// streamID with timestamp ts, on the conventional chunk stream
// ([CSIDFor]). The payload is appended to buf[:0], so a caller may pass the
// same buffer again once the returned message has been written. Protocol
// and user control messages belong on message stream 0.
func ToChunk(msg Message, streamID, ts uint32, buf []byte) (chunk.Message, error) {
	typ := msg.Type()
	payload, err := msg.AppendPayload(buf[:0])
	if err != nil {
		return chunk.Message{}, err
	}
	return chunk.Message{
		CSID:      CSIDFor(typ, streamID),
		Timestamp: ts,
		Type:      typ,
		StreamID:  streamID,
		Payload:   payload,
	}, nil
}

// need returns an ErrMalformed error when b is shorter than n bytes.
func need(b []byte, n int, what string) error {
	if len(b) < n {
		return fmt.Errorf("%w: %s: %d bytes, want at least %d", ErrMalformed, what, len(b), n)
	}
	return nil
}
