package chunk

// Message is one RTMP message as the chunk layer carries it: the fields of a
// type-0 chunk header plus the reassembled payload.
//
// A Message returned by [Reader.ReadMessage] aliases memory owned by the
// Reader: Payload is valid only until the next call to ReadMessage. Use
// [Message.Clone] to keep it longer. A Message passed to [Writer.WriteMessage]
// is only read during the call; the caller keeps ownership of Payload.
type Message struct {
	// CSID is the chunk stream id (2..65599) the message travels on.
	CSID uint32
	// Timestamp is the absolute message timestamp in milliseconds; it wraps
	// at 2^32.
	Timestamp uint32
	// Type is the message type id (1 = Set Chunk Size ... 22 = Aggregate).
	Type uint8
	// StreamID is the message stream id (0 for protocol control and
	// NetConnection commands).
	StreamID uint32
	// Payload is the message body.
	Payload []byte
}

// Clone returns a deep copy of m whose Payload does not alias m.Payload.
func (m *Message) Clone() *Message {
	c := *m
	c.Payload = append([]byte(nil), m.Payload...)
	return &c
}
