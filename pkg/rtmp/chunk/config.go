package chunk

// Wire constants and the defaults a zero [Config] stands for.
const (
	// DefaultChunkSize is the chunk size both directions start with
	// (RTMP 1.0 section 5.4.1).
	DefaultChunkSize = 128

	// MaxWireMessageLength is the largest message length the 3-byte length
	// field of a chunk header can carry.
	MaxWireMessageLength = 0xFFFFFF

	// MaxWireChunkSize is the largest value a Set Chunk Size message may
	// carry (bit 31 must be zero).
	MaxWireChunkSize = 0x7FFFFFFF

	// DefaultMaxChunkSize is the largest Set Chunk Size value accepted by
	// default. Larger values are legal but mean the same (no message is
	// longer than 16,777,215 bytes); the Reader's memory does not depend on
	// the chunk size, so the bound only rejects nonsense.
	DefaultMaxChunkSize = MaxWireMessageLength

	// DefaultMaxMessageLength is the default limit on one message's length:
	// the wire maximum, because the Reader's memory follows the bytes that
	// actually arrive, not the length a header announces, and large
	// keyframes (4K video) exceed the 1 MiB some servers use.
	DefaultMaxMessageLength = MaxWireMessageLength

	// DefaultMaxChunkStreams is the default number of distinct chunk stream
	// ids one peer may use. Encoders use fewer than ten.
	DefaultMaxChunkStreams = 64

	// DefaultMaxPendingBytes is the default limit on the payload bytes held
	// in partially received messages across all chunk streams: two
	// maximum-length messages.
	DefaultMaxPendingBytes = 32 << 20

	// minChunkSize is the smallest chunk size accepted without
	// Config.LenientChunkSize (RTMP 1.0: it SHOULD be at least 128).
	minChunkSize = 128

	// maxCSID is the largest chunk stream id the 3-byte basic header can
	// express.
	maxCSID = 65599
)

// Config holds the limits and interoperability switches of a [Reader] or
// [Writer]. The zero value selects the documented defaults, which are safe
// for a server facing untrusted peers. The Reader uses every field; the
// Writer uses MaxChunkSize and LenientChunkSize to check the Set Chunk Size
// messages it sends.
type Config struct {
	// MaxChunkSize is the largest chunk size a Set Chunk Size message may
	// announce; a larger value is an error. 0 means DefaultMaxChunkSize;
	// values above MaxWireChunkSize are treated as MaxWireChunkSize.
	MaxChunkSize uint32

	// MaxMessageLength is the largest message a peer may announce; a
	// longer one is rejected when its first header arrives, before any
	// memory is reserved for it. 0 means DefaultMaxMessageLength; values
	// above MaxWireMessageLength are treated as MaxWireMessageLength.
	MaxMessageLength uint32

	// MaxChunkStreams is the most distinct chunk stream ids the Reader
	// keeps state for; the first chunk on one more is an error. A value
	// <= 0 means DefaultMaxChunkStreams.
	MaxChunkStreams int

	// MaxPendingBytes is the most payload bytes the Reader holds in
	// partially received messages at once, summed over all chunk streams.
	// A value <= 0 means DefaultMaxPendingBytes.
	MaxPendingBytes int

	// LenientChunkSize accepts Set Chunk Size values 1..127. Without it they
	// are a protocol error (the specification asks for at least 128 and
	// some servers reject less), and the Writer refuses to send them.
	LenientChunkSize bool

	// LenientFreshFmt1 accepts a fmt 1 header as the first chunk on a chunk
	// stream id, taking message stream id 0 and timestamp 0 as the previous
	// values. librtmp sends its ping responses and acknowledgements on a
	// fresh csid 2 with fmt 1, so servers facing librtmp-based clients
	// (players such as VLC or mpv, older encoders) should set it. Without
	// it, as the specification requires, the first chunk on a chunk stream
	// must be fmt 0. A fresh fmt 2 or fmt 3 chunk is always an error.
	LenientFreshFmt1 bool

	// Fmt3AfterFmt0ZeroDelta makes a message that starts with a fmt 3
	// header directly after a fmt 0 message reuse that message's timestamp
	// (delta 0), as nginx-rtmp does. Without it the fmt 0 timestamp is used
	// as the delta, as the specification, FFmpeg, librtmp and SRS do.
	Fmt3AfterFmt0ZeroDelta bool
}

// limits is a Config with defaults filled in and values clamped.
type limits struct {
	maxChunkSize     uint32
	maxMessageLength uint32
	maxChunkStreams  int
	maxPendingBytes  int
	lenientChunkSize bool
	lenientFreshFmt1 bool
	fmt3ZeroDelta    bool
}

func (c Config) limits() limits {
	l := limits{
		maxChunkSize:     c.MaxChunkSize,
		maxMessageLength: c.MaxMessageLength,
		maxChunkStreams:  c.MaxChunkStreams,
		maxPendingBytes:  c.MaxPendingBytes,
		lenientChunkSize: c.LenientChunkSize,
		lenientFreshFmt1: c.LenientFreshFmt1,
		fmt3ZeroDelta:    c.Fmt3AfterFmt0ZeroDelta,
	}
	switch {
	case l.maxChunkSize == 0:
		l.maxChunkSize = DefaultMaxChunkSize
	case l.maxChunkSize > MaxWireChunkSize:
		l.maxChunkSize = MaxWireChunkSize
	}
	switch {
	case l.maxMessageLength == 0:
		l.maxMessageLength = DefaultMaxMessageLength
	case l.maxMessageLength > MaxWireMessageLength:
		l.maxMessageLength = MaxWireMessageLength
	}
	if l.maxChunkStreams <= 0 {
		l.maxChunkStreams = DefaultMaxChunkStreams
	}
	if l.maxPendingBytes <= 0 {
		l.maxPendingBytes = DefaultMaxPendingBytes
	}
	return l
}

// checkChunkSize validates the payload of a Set Chunk Size message and
// returns the new chunk size.
func (l *limits) checkChunkSize(p []byte) (uint32, error) {
	if len(p) < 4 {
		return 0, protocolErrorf("set chunk size payload is %d bytes, want 4", len(p))
	}
	v := be32(p)
	switch {
	case v&0x80000000 != 0:
		return 0, protocolErrorf("set chunk size 0x%08x has bit 31 set", v)
	case v == 0:
		return 0, protocolErrorf("set chunk size 0")
	case v > l.maxChunkSize:
		return 0, limitErrorf("set chunk size %d above the maximum %d", v, l.maxChunkSize)
	case v < minChunkSize && !l.lenientChunkSize:
		return 0, protocolErrorf("set chunk size %d below %d", v, minChunkSize)
	}
	return v, nil
}

func be24(b []byte) uint32 {
	_ = b[2]
	return uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2])
}

func be32(b []byte) uint32 {
	_ = b[3]
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func le32(b []byte) uint32 {
	_ = b[3]
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func put24(b []byte, v uint32) {
	_ = b[2]
	b[0] = byte(v >> 16)
	b[1] = byte(v >> 8)
	b[2] = byte(v)
}

func put32(b []byte, v uint32) {
	_ = b[3]
	b[0] = byte(v >> 24)
	b[1] = byte(v >> 16)
	b[2] = byte(v >> 8)
	b[3] = byte(v)
}

func putLE32(b []byte, v uint32) {
	_ = b[3]
	b[0] = byte(v)
	b[1] = byte(v >> 8)
	b[2] = byte(v >> 16)
	b[3] = byte(v >> 24)
}
