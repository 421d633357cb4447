package chunk

import (
	"errors"
	"fmt"
	"io"
)

const (
	// smallReadBufSize is the size of the input buffer a Reader starts
	// with and keeps while its peer sends little at a time (a player's
	// acknowledgements and commands). Chunk headers are parsed from the
	// input buffer in place; payload bytes are copied once, from it into
	// the message buffer.
	smallReadBufSize = 1 << 10

	// readBufSize is the size of the input buffer a Reader uses while its
	// peer sends more than the small buffer holds (a publisher): taken from
	// bufPool when a read fills the small buffer, returned once a read comes
	// back short and everything read has been parsed.
	readBufSize = bufSize

	// directReadMin is the chunk payload size from which the Reader, when
	// its input buffer is empty, reads straight into the message buffer.
	directReadMin = readBufSize

	// minGrow is the smallest capacity the Reader reserves for a message
	// payload (less if the message is shorter).
	minGrow = 4 << 10

	// retainBudget bounds the payload buffers kept for reuse: when a
	// message completes while the Reader holds more than this much buffer
	// capacity in total, its buffer is not kept for the next message on that
	// chunk stream.
	retainBudget = 4 << 20

	// maxEmptyReads is how many (0, nil) results from the source the
	// Reader tolerates in a row before giving up with io.ErrNoProgress.
	maxEmptyReads = 100

	// lowCSIDs bounds the chunk stream ids whose state the Reader and the
	// Writer index in an array (0..lowCSIDs-1); higher ids live in a map.
	// FFmpeg, librtmp-based clients and nginx-rtmp use ids below 10. The
	// array is part of every connection, so it is kept small.
	lowCSIDs = 16
)

// stream is the Reader's state for one chunk stream id.
type stream struct {
	// buf holds the payload of the unfinished message (len = bytes
	// received); between messages it keeps its capacity for reuse.
	buf      []byte
	csid     uint32
	ts       uint32 // timestamp of the current or last message
	delta    uint32 // delta a fmt 3 new message adds
	length   uint32 // length of the current or last message
	msid     uint32
	extValue uint32 // value of the last extended timestamp field
	typ      uint8
	extended bool // the last fmt 0/1/2 header had an extended timestamp
	fmt0     bool // the last fmt 0/1/2 header was fmt 0
	active   bool // a message is partially received
}

// Reader reassembles RTMP messages from a chunk stream. It keeps per chunk
// stream state, applies Set Chunk Size and Abort messages from the peer and
// enforces the limits of its [Config]. It reads its source through a 1 KiB
// input buffer while the peer sends little at a time and through a pooled
// 16 KiB one while the peer sends more (see the package documentation). A
// Reader is not safe for concurrent use; it may be used concurrently with a
// [Writer] on the same connection.
type Reader struct {
	src  io.Reader
	buf  []byte // input buffer, small or big[:]; buf[r:w] is read but not yet parsed
	r, w int

	small *smallBuf // the small input buffer; nil after Release until the next read
	big   *ioBuf    // the pooled large input buffer while in use, else nil
	// lastFull reports that the last read from src filled the space it
	// was given: more is probably waiting.
	lastFull bool

	nread uint64 // bytes obtained from src
	rerr  error  // error returned by src, reported once the buffer is drained
	err   error  // sticky error returned by ReadMessage

	chunkSize uint32
	lim       limits

	low      [lowCSIDs]*stream  // chunk streams 2..lowCSIDs-1
	high     map[uint32]*stream // chunk streams lowCSIDs..65599
	nstreams int

	active  int // chunk streams with an unfinished message
	pending int // payload bytes held in unfinished messages
	held    int // capacity of all payload buffers
}

// NewReader returns a Reader that reads a chunk stream from r, starting with
// the default chunk size of 128. The Reader buffers its input, so r must not
// be read by anyone else afterwards.
func NewReader(r io.Reader, cfg Config) *Reader {
	small := new(smallBuf)
	return &Reader{
		src:       r,
		buf:       small[:],
		small:     small,
		chunkSize: DefaultChunkSize,
		lim:       cfg.limits(),
	}
}

// ChunkSize returns the chunk size the peer currently uses, as set by the
// last Set Chunk Size message read.
func (r *Reader) ChunkSize() uint32 { return r.chunkSize }

// BytesRead returns the number of bytes of the chunk stream the Reader has
// parsed: every chunk header and payload byte up to the end of the last
// message returned (and any chunks of unfinished messages read on the way).
// Bytes read ahead into the Reader's buffer but not yet parsed are not
// counted. The count is what an RTMP Acknowledgement reports.
func (r *Reader) BytesRead() uint64 { return r.nread - uint64(r.w-r.r) }

// Idle reports whether the Reader holds no input it has not parsed and no
// read error still to report: its next ReadMessage starts by reading from
// its source (a message may be partly received).
func (r *Reader) Idle() bool { return r.r == r.w && r.rerr == nil }

// Release gives back the Reader's input buffers, and the payload buffers
// kept for reuse by chunk streams with no message in progress, when the
// Reader is Idle: a connection that waits for a long time then holds none.
// The next ReadMessage takes an input buffer again. It does nothing when
// the Reader is not idle.
func (r *Reader) Release() {
	if !r.Idle() {
		return
	}
	if r.big != nil {
		putBuf(r.big)
		r.big = nil
	}
	if r.small != nil {
		smallPool.Put(r.small)
		r.small = nil
	}
	r.buf, r.r, r.w = nil, 0, 0
	release := func(st *stream) {
		if st != nil && !st.active && st.buf != nil {
			r.held -= cap(st.buf)
			st.buf = nil
		}
	}
	for _, st := range r.low {
		release(st)
	}
	for _, st := range r.high {
		release(st)
	}
}

// ReadMessage reads chunks until a message is complete and stores it in m.
// m.Payload aliases memory owned by the Reader and is valid only until the
// next call to ReadMessage; use [Message.Clone] to keep it.
//
// A Set Chunk Size message (type 1) changes the chunk size for every chunk
// that follows it, including the remaining chunks of messages partially
// received on other chunk streams; an Abort message (type 2) discards the
// unfinished message of the chunk stream it names. Both are still returned.
//
// ReadMessage returns io.EOF when the stream ends cleanly between messages,
// an error wrapping io.ErrUnexpectedEOF when it ends inside a chunk or with
// a message unfinished, an error wrapping ErrProtocol or ErrLimit when the
// peer breaks the chunking rules or a limit, and other errors of the
// underlying reader wrapped. After an error the Reader is unusable: every
// later call returns the same error.
func (r *Reader) ReadMessage(m *Message) error {
	if r.err != nil {
		return r.err
	}
	for {
		st, err := r.readChunk()
		if err != nil {
			r.err = err
			return err
		}
		if st != nil {
			if err := r.finish(st, m); err != nil {
				r.err = err
				return err
			}
			return nil
		}
	}
}

// readChunk reads one chunk and returns its chunk stream if the chunk
// completed a message.
func (r *Reader) readChunk() (*stream, error) {
	if r.w == r.r {
		if err := r.fill(1); err != nil {
			if errors.Is(err, io.EOF) && r.active == 0 {
				return nil, io.EOF
			}
			return nil, r.readErr(err, "chunk header")
		}
	}
	b0 := r.buf[r.r]
	f := b0 >> 6
	csid := uint32(b0 & 0x3f)
	hl := 1
	if csid < 2 {
		hl = int(csid) + 2
	}
	need := hl + msgHeaderLen[f]
	if r.w-r.r < need {
		if err := r.fill(need); err != nil {
			return nil, r.readErr(err, "chunk header")
		}
	}
	b := r.buf[r.r:r.w]
	switch hl {
	case 2:
		csid = 64 + uint32(b[1])
	case 3:
		csid = 64 + uint32(b[1]) + uint32(b[2])<<8
	}

	var st *stream
	if csid < lowCSIDs {
		st = r.low[csid]
	} else {
		st = r.high[csid]
	}
	if st == nil {
		if f != 0 && !(f == 1 && r.lim.lenientFreshFmt1) {
			return nil, protocolErrorf("first chunk on chunk stream %d has fmt %d, want 0", csid, f)
		}
		var err error
		if st, err = r.newStream(csid); err != nil {
			return nil, err
		}
	}

	// Extended timestamp: announced by the 3-byte field on fmt 0..2; on
	// fmt 3 possibly present when the last full header had one.
	p := b[hl:need]
	var field uint32
	ext := st.extended
	if f <= 2 {
		field = be24(p)
		ext = field == extendedField
	}
	if ext && r.w-r.r < need+4 {
		if err := r.fill(need + 4); err != nil {
			return nil, r.readErr(err, "extended timestamp")
		}
		b = r.buf[r.r:r.w]
		p = b[hl:need]
	}

	switch f {
	case 0:
		if st.active {
			return nil, protocolErrorf("fmt 0 chunk on chunk stream %d inside a message (%d of %d bytes received)",
				csid, len(st.buf), st.length)
		}
		length := be24(p[3:])
		if length > r.lim.maxMessageLength {
			return nil, limitErrorf("message length %d on chunk stream %d above the maximum %d",
				length, csid, r.lim.maxMessageLength)
		}
		ts := field
		if ext {
			ts = be32(b[need:])
			need += 4
		}
		st.length = length
		st.typ = p[6]
		st.msid = le32(p[7:])
		st.ts = ts
		st.delta = ts
		if r.lim.fmt3ZeroDelta {
			st.delta = 0
		}
		st.extended, st.extValue, st.fmt0 = ext, ts, true
		r.start(st)
	case 1, 2:
		delta := field
		if ext {
			delta = be32(b[need:])
			need += 4
		}
		if f == 1 {
			length, typ := be24(p[3:]), p[6]
			if st.active {
				// A full header inside a message is read as a continuation
				// (as FFmpeg and nginx-rtmp do) if it does not change the
				// message.
				if length != st.length || typ != st.typ {
					return nil, protocolErrorf("fmt 1 chunk on chunk stream %d changes the unfinished message from type %d length %d to type %d length %d",
						csid, st.typ, st.length, typ, length)
				}
			} else {
				if length > r.lim.maxMessageLength {
					return nil, limitErrorf("message length %d on chunk stream %d above the maximum %d",
						length, csid, r.lim.maxMessageLength)
				}
				st.length, st.typ = length, typ
			}
		}
		st.extended, st.extValue = ext, delta
		if !st.active {
			st.ts += delta
			st.delta = delta
			st.fmt0 = false
			r.start(st)
		}
	default: // fmt 3
		if ext {
			// SRS's rule: a fmt 3 chunk after an extended header carries the
			// 4 bytes if it starts a message or repeats the stored value;
			// otherwise they are payload (senders that omit them).
			v := be32(b[need:])
			if !st.active {
				need += 4
				if !st.fmt0 {
					st.delta, st.extValue = v, v
				}
			} else if v == st.extValue {
				need += 4
			}
		}
		if !st.active {
			st.ts += st.delta
			r.start(st)
		}
	}
	r.r += need

	n := st.length - uint32(len(st.buf))
	if n > r.chunkSize {
		n = r.chunkSize
	}
	if n > 0 {
		if err := r.readPayload(st, int(n)); err != nil {
			return nil, err
		}
	}
	if uint32(len(st.buf)) == st.length {
		return st, nil
	}
	return nil, nil
}

func (r *Reader) newStream(csid uint32) (*stream, error) {
	if r.nstreams >= r.lim.maxChunkStreams {
		return nil, limitErrorf("chunk stream %d would be stream number %d, the maximum is %d",
			csid, r.nstreams+1, r.lim.maxChunkStreams)
	}
	st := &stream{csid: csid}
	if csid < lowCSIDs {
		r.low[csid] = st
	} else {
		if r.high == nil {
			r.high = make(map[uint32]*stream)
		}
		r.high[csid] = st
	}
	r.nstreams++
	return st, nil
}

// start begins a new message on st; it never inherits earlier payload.
func (r *Reader) start(st *stream) {
	st.active = true
	st.buf = st.buf[:0]
	r.active++
}

// readPayload appends the next n payload bytes of st's message.
func (r *Reader) readPayload(st *stream, n int) error {
	if r.pending+n > r.lim.maxPendingBytes {
		return limitErrorf("%d more payload bytes on chunk stream %d would hold %d bytes in unfinished messages, the maximum is %d",
			n, st.csid, r.pending+n, r.lim.maxPendingBytes)
	}
	for n > 0 {
		avail := r.w - r.r
		if avail == 0 {
			if n >= directReadMin && r.rerr == nil {
				k, err := r.readDirect(st, n)
				n -= k
				if err != nil && n > 0 {
					return r.readErr(err, "chunk payload")
				}
				continue
			}
			if err := r.fill(1); err != nil {
				return r.readErr(err, "chunk payload")
			}
			avail = r.w - r.r
		}
		k := min(n, avail)
		if cap(st.buf)-len(st.buf) < k {
			r.grow(st, k)
		}
		st.buf = append(st.buf, r.buf[r.r:r.r+k]...)
		r.r += k
		r.pending += k
		n -= k
	}
	return nil
}

// readDirect reads up to n payload bytes from the source straight into
// st.buf, bypassing the input buffer. The buffer grows before the bytes
// arrive, but at most to twice what it already holds (plus minGrow), so
// memory still follows the bytes received. An error from the source is kept
// for later if bytes were read.
func (r *Reader) readDirect(st *stream, n int) (int, error) {
	if cap(st.buf) == len(st.buf) {
		r.grow(st, 1)
	}
	l := len(st.buf)
	room := min(cap(st.buf)-l, n)
	for empty := 0; ; empty++ {
		k, err := r.src.Read(st.buf[l : l+room])
		if k < 0 || k > room {
			return 0, fmt.Errorf("chunk: source returned an invalid count %d for %d bytes", k, room)
		}
		st.buf = st.buf[:l+k]
		r.nread += uint64(k)
		r.pending += k
		if err != nil {
			if k > 0 {
				r.rerr = err
				return k, nil
			}
			return 0, err
		}
		if k > 0 {
			return k, nil
		}
		if empty >= maxEmptyReads {
			return 0, io.ErrNoProgress
		}
	}
}

// grow makes room for k more bytes in st.buf: at least double the capacity
// (but at least minGrow), never more than the message length.
func (r *Reader) grow(st *stream, k int) {
	l := len(st.buf)
	c := max(2*cap(st.buf), l+k, minGrow)
	c = min(c, int(st.length))
	nb := make([]byte, l, c)
	copy(nb, st.buf)
	r.held += c - cap(st.buf)
	st.buf = nb
}

// fill reads from the source until at least n unparsed bytes are buffered
// (n is at most a chunk header's length). It first picks the input buffer:
// the large one after a read that filled the small one, the small one
// again after a read that came back short. The fewer than n unparsed bytes
// move to the start of the chosen buffer.
func (r *Reader) fill(n int) error {
	if r.small == nil {
		r.small = smallPool.Get().(*smallBuf)
		if r.big == nil {
			r.buf = r.small[:]
		}
	}
	switch {
	case r.big == nil && r.lastFull && r.rerr == nil:
		r.big = getBuf()
		r.compact(r.big[:])
	case r.big != nil && !r.lastFull:
		r.compact(r.small[:])
		putBuf(r.big)
		r.big = nil
	case r.r > 0:
		r.compact(r.buf)
	}
	for empty := 0; r.w < n; {
		if r.rerr != nil {
			return r.rerr
		}
		space := len(r.buf) - r.w
		k, err := r.src.Read(r.buf[r.w:])
		if k < 0 || k > space {
			return fmt.Errorf("chunk: source returned an invalid count %d for %d bytes", k, space)
		}
		r.w += k
		r.nread += uint64(k)
		r.lastFull = k == space
		if err != nil {
			r.rerr = err
			continue
		}
		if k == 0 {
			if empty++; empty >= maxEmptyReads {
				return io.ErrNoProgress
			}
		}
	}
	return nil
}

// compact moves the unparsed bytes to the start of dst, which becomes the
// input buffer; dst must have room for them.
func (r *Reader) compact(dst []byte) {
	r.w = copy(dst, r.buf[r.r:r.w])
	r.r = 0
	r.buf = dst
}

// readErr describes a source error met while reading what.
func (r *Reader) readErr(err error, what string) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("chunk: reading %s: %w", what, err)
}

// finish hands the completed message of st to m and applies Set Chunk Size
// and Abort messages.
func (r *Reader) finish(st *stream, m *Message) error {
	st.active = false
	r.active--
	l := len(st.buf)
	r.pending -= l
	m.CSID = st.csid
	m.Timestamp = st.ts
	m.Type = st.typ
	m.StreamID = st.msid
	m.Payload = st.buf[:l:l]
	if r.held > retainBudget {
		r.held -= cap(st.buf)
		st.buf = nil
	}
	switch st.typ {
	case 1:
		v, err := r.lim.checkChunkSize(m.Payload)
		if err != nil {
			return fmt.Errorf("%w (chunk stream %d)", err, st.csid)
		}
		r.chunkSize = v
	case 2:
		if l < 4 {
			return protocolErrorf("abort message payload on chunk stream %d is %d bytes, want 4", st.csid, l)
		}
		r.abort(be32(m.Payload))
	}
	return nil
}

// abort discards the unfinished message on chunk stream csid, if any.
func (r *Reader) abort(csid uint32) {
	var st *stream
	switch {
	case csid < lowCSIDs:
		st = r.low[csid]
	case csid <= maxCSID:
		st = r.high[csid]
	}
	if st == nil || !st.active {
		return
	}
	st.active = false
	r.active--
	r.pending -= len(st.buf)
	st.buf = st.buf[:0]
}
