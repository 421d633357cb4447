package message

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/tributary-media/tributary/pkg/rtmp/amf"
)

// SOEventType is the type of one shared object event (RTMP 1.0 section
// 7.1.3).
type SOEventType uint8

// Shared object event types.
const (
	SOUse           SOEventType = 1  // client: create or connect to a shared object
	SORelease       SOEventType = 2  // client: shared object deleted on the client side
	SORequestChange SOEventType = 3  // client: change the value of a named parameter
	SOChange        SOEventType = 4  // server: a named parameter changed
	SOSuccess       SOEventType = 5  // server: a RequestChange was accepted
	SOSendMessage   SOEventType = 6  // either: broadcast a message
	SOStatus        SOEventType = 7  // server: error or status
	SOClear         SOEventType = 8  // server: clear the shared object
	SORemove        SOEventType = 9  // server: remove a slot
	SORequestRemove SOEventType = 10 // client: remove a slot
	SOUseSuccess    SOEventType = 11 // server: connection successful
)

// SOEvent is one event of a [SharedObject] message. Its data is kept raw
// (it is AMF whose shape depends on the event type).
type SOEvent struct {
	// Type is the event type.
	Type SOEventType
	// Data is the event data; in a decoded message it aliases the payload.
	Data []byte
}

// SharedObject is a shared object message: type 19 in AMF0, or type 16
// whose payload starts with a format byte. This package decodes its
// framing so that a connection can log and ignore it safely; it does not
// implement shared objects.
//
//	payload (19): name length u16 · name (UTF-8) · current version u32 ·
//	              flags (8 bytes) · events: { type u8 · length u32 · data } ...
//	payload (16): format byte · the same
type SharedObject struct {
	// AMF3 selects type 16 instead of 19.
	AMF3 bool
	// Name is the shared object's name.
	Name string
	// Version is the current version of the shared object.
	Version uint32
	// Flags holds the 8 flag bytes (the first 4 mark a persistent shared
	// object in practice).
	Flags [8]byte
	// Events are the events of the message in order; nil when there are
	// none.
	Events []SOEvent
}

// Type returns [TypeSharedObjectAMF3] or [TypeSharedObjectAMF0].
func (m *SharedObject) Type() uint8 {
	if m.AMF3 {
		return TypeSharedObjectAMF3
	}
	return TypeSharedObjectAMF0
}

// AppendPayload appends the message's framing and raw events to dst.
func (m *SharedObject) AppendPayload(dst []byte) ([]byte, error) {
	if len(m.Name) > math.MaxUint16 {
		return dst, fmt.Errorf("%w: shared object name of %d bytes", errInvalid, len(m.Name))
	}
	if m.AMF3 {
		dst = append(dst, 0x00)
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(m.Name)))
	dst = append(dst, m.Name...)
	dst = binary.BigEndian.AppendUint32(dst, m.Version)
	dst = append(dst, m.Flags[:]...)
	for _, e := range m.Events {
		if uint64(len(e.Data)) > math.MaxUint32 {
			return dst, fmt.Errorf("%w: shared object event of %d bytes", errInvalid, len(e.Data))
		}
		dst = append(dst, byte(e.Type))
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(e.Data)))
		dst = append(dst, e.Data...)
	}
	return dst, nil
}

// Unmarshal decodes a payload, keeping AMF3 as set by the caller. Event
// data aliases b.
func (m *SharedObject) Unmarshal(b []byte) error { return m.unmarshal(amf.Decoder{}, b) }

func (m *SharedObject) unmarshal(_ amf.Decoder, b []byte) error {
	if m.AMF3 {
		if err := need(b, 1, "shared object format byte"); err != nil {
			return err
		}
		b = b[1:]
	}
	if err := need(b, 2, "shared object name length"); err != nil {
		return err
	}
	n := int(binary.BigEndian.Uint16(b))
	b = b[2:]
	if err := need(b, n+4+8, "shared object header"); err != nil {
		return err
	}
	*m = SharedObject{AMF3: m.AMF3, Name: string(b[:n])}
	b = b[n:]
	m.Version = binary.BigEndian.Uint32(b)
	copy(m.Flags[:], b[4:12])
	b = b[12:]
	for len(b) > 0 {
		if err := need(b, 5, "shared object event header"); err != nil {
			return err
		}
		typ := SOEventType(b[0])
		size := binary.BigEndian.Uint32(b[1:])
		b = b[5:]
		if uint64(size) > uint64(len(b)) {
			return fmt.Errorf("%w: shared object event of %d bytes with %d left", ErrMalformed, size, len(b))
		}
		m.Events = append(m.Events, SOEvent{Type: typ, Data: b[:size:size]})
		b = b[size:]
	}
	return nil
}
