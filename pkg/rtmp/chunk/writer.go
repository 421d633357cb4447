package chunk

import (
	"fmt"
	"io"
	"sync"
)

// writeBufSize is the size of the Writer's output buffer. Chunks are
// assembled in it and written out when it is full or on Flush; the part of
// a chunk payload that does not fit and is at least this large is written
// straight from the caller's slice. The buffer comes from writeBufPool when
// a message is written and goes back on Flush. 64 KiB lets a caller that
// writes several messages before flushing (a player catching up, a corked
// connection) send them in few system calls: the cost of a socket write is
// mostly per call, not per byte.
const writeBufSize = 64 << 10

// writeBuf is a Writer's output buffer.
type writeBuf [writeBufSize]byte

// writeBufPool holds the output buffers of all Writers of the process:
// those of the connections writing at this moment.
var writeBufPool = sync.Pool{New: func() any { return new(writeBuf) }}

// maxHeaderLen is the longest chunk header: 3-byte basic header, 11-byte
// message header, 4-byte extended timestamp.
const maxHeaderLen = 18

// wstream is the Writer's state for one chunk stream id: what the peer's
// reader knows after the last message sent on it.
type wstream struct {
	ts       uint32 // timestamp of the last message
	delta    uint32 // delta a fmt 3 new message would add
	length   uint32
	msid     uint32
	extValue uint32 // value of the last extended timestamp field
	typ      uint8
	extended bool // the last fmt 0/1/2 header had an extended timestamp
	fmt0     bool // the last fmt 0/1/2 header was fmt 0
}

// Writer fragments RTMP messages into chunks, compressing headers against
// the previous message on the same chunk stream, and buffers its output
// until the buffer is full or Flush is called. The 64 KiB output buffer is
// held only from the first WriteMessage to the next Flush, so an idle
// Writer holds none. A Writer is not safe for concurrent use; it may be
// used concurrently with a [Reader] on the same connection.
type Writer struct {
	dst     io.Writer
	buf     *writeBuf // nil between Flush and the next message; buf[:n] is pending output
	n       int
	written uint64
	err     error

	chunkSize uint32
	lim       limits

	low  [lowCSIDs]*wstream  // chunk streams 2..lowCSIDs-1
	high map[uint32]*wstream // chunk streams lowCSIDs..65599
}

// NewWriter returns a Writer that writes a chunk stream to w, starting with
// the default chunk size of 128.
func NewWriter(w io.Writer, cfg Config) *Writer {
	return &Writer{
		dst:       w,
		chunkSize: DefaultChunkSize,
		lim:       cfg.limits(),
	}
}

// ChunkSize returns the chunk size the Writer currently uses for outgoing
// chunks.
func (w *Writer) ChunkSize() uint32 { return w.chunkSize }

// BytesWritten returns the number of chunk stream bytes the Writer has
// produced, including bytes still buffered and not yet flushed.
func (w *Writer) BytesWritten() uint64 { return w.written }

// WriteMessage encodes m as chunks and buffers them; call Flush to make sure
// they reach the underlying writer (and to release the output buffer). m is
// only read during the call.
//
// The first chunk's header is fmt 0 when the chunk stream is new, the
// message stream id changes or the timestamp goes backwards; fmt 2 when
// type and length repeat; fmt 3 when in addition the timestamp delta
// repeats (never directly after a fmt 0 header, whose delta readers
// disagree on, unless everything is 0); fmt 1 otherwise. Timestamps and
// deltas of 0xFFFFFF and more use the extended timestamp, which every fmt 3
// chunk that follows repeats. After a Set Chunk Size message (type 1, stream
// 0) is written, later chunks use the new size.
//
// Messages the Writer cannot encode (chunk stream id outside 2..65599,
// payload longer than 16,777,215 bytes, a Set Chunk Size message with a
// value its Config rejects or on a stream other than 0, an Abort message
// shorter than 4 bytes) return an error and leave the Writer usable. An error from the underlying writer is sticky:
// every later call returns it.
func (w *Writer) WriteMessage(m *Message) error {
	if w.err != nil {
		return w.err
	}
	csid := m.CSID
	if csid < 2 || csid > maxCSID {
		return fmt.Errorf("%w: %d", errCSID, csid)
	}
	p := m.Payload
	if len(p) > MaxWireMessageLength {
		return fmt.Errorf("%w: payload %d bytes on chunk stream %d, the maximum is %d",
			errTooLong, len(p), csid, MaxWireMessageLength)
	}
	length := uint32(len(p))
	var newChunkSize uint32
	if m.Type == 1 {
		if m.StreamID != 0 {
			return fmt.Errorf("%w: on message stream %d, want 0", errChunkSizeTx, m.StreamID)
		}
		v, err := w.lim.checkChunkSize(p)
		if err != nil {
			return fmt.Errorf("%w: %v", errChunkSizeTx, err)
		}
		newChunkSize = v
	}
	if m.Type == 2 && len(p) < 4 {
		return fmt.Errorf("%w: payload is %d bytes, want 4", errAbortTx, len(p))
	}

	var st *wstream
	if csid < lowCSIDs {
		st = w.low[csid]
	} else {
		st = w.high[csid]
	}
	f := uint8(0)
	var delta uint32
	if st == nil {
		st = &wstream{}
		if csid < lowCSIDs {
			w.low[csid] = st
		} else {
			if w.high == nil {
				w.high = make(map[uint32]*wstream)
			}
			w.high[csid] = st
		}
	} else if m.StreamID == st.msid && m.Timestamp >= st.ts {
		delta = m.Timestamp - st.ts
		f = 1
		if m.Type == st.typ && length == st.length {
			f = 2
			if delta == st.delta && (!st.fmt0 || delta == 0) {
				f = 3
			}
		}
	}

	if w.buf == nil {
		w.buf = writeBufPool.Get().(*writeBuf)
	}

	// First chunk header.
	if writeBufSize-w.n < maxHeaderLen {
		if err := w.flush(); err != nil {
			return err
		}
	}
	b := w.buf[w.n:]
	hl := putBasicHeader(b, f, csid)
	switch f {
	case 0, 1, 2:
		tsv := delta
		if f == 0 {
			tsv = m.Timestamp
		}
		ext := tsv >= extendedField
		if ext {
			put24(b[hl:], extendedField)
		} else {
			put24(b[hl:], tsv)
		}
		hl += 3
		if f <= 1 {
			put24(b[hl:], length)
			b[hl+3] = m.Type
			hl += 4
		}
		if f == 0 {
			putLE32(b[hl:], m.StreamID)
			hl += 4
		}
		if ext {
			put32(b[hl:], tsv)
			hl += 4
		}
		st.delta = tsv
		st.fmt0 = f == 0
		st.extended, st.extValue = ext, tsv
	case 3:
		if st.extended {
			put32(b[hl:], st.extValue)
			hl += 4
		}
	}
	st.ts = m.Timestamp
	st.length = length
	st.typ = m.Type
	st.msid = m.StreamID
	w.n += hl
	w.written += uint64(hl)

	// Continuation header: fmt 3 plus the repeated extended timestamp.
	var cont [7]byte
	cl := putBasicHeader(cont[:], 3, csid)
	if st.extended {
		put32(cont[cl:], st.extValue)
		cl += 4
	}

	cs := int(w.chunkSize)
	for off := 0; ; {
		k := min(cs, len(p)-off)
		if err := w.writePayload(p[off : off+k]); err != nil {
			return err
		}
		off += k
		if off == len(p) {
			break
		}
		if writeBufSize-w.n < cl {
			if err := w.flush(); err != nil {
				return err
			}
		}
		if cl == 1 {
			w.buf[w.n] = cont[0]
		} else {
			copy(w.buf[w.n:], cont[:cl])
		}
		w.n += cl
		w.written += uint64(cl)
	}
	if newChunkSize != 0 {
		w.chunkSize = newChunkSize
	}
	return nil
}

// writePayload adds one chunk's payload to the output. It fills the buffer
// and, once the buffer is flushed, writes a remainder at least a buffer long
// straight from p, so large chunks are copied at most one buffer's worth.
func (w *Writer) writePayload(p []byte) error {
	w.written += uint64(len(p))
	for {
		k := copy(w.buf[w.n:], p)
		w.n += k
		p = p[k:]
		if len(p) == 0 {
			return nil
		}
		if err := w.flush(); err != nil {
			return err
		}
		if len(p) >= writeBufSize {
			return w.write(p)
		}
	}
}

// Flush writes buffered chunks to the underlying writer and releases the
// output buffer until the next message.
func (w *Writer) Flush() error {
	err := w.err
	if err == nil {
		err = w.flush()
	}
	// Nothing is pending now: flush wrote the buffer out or failed, and
	// after a failure the Writer writes nothing more.
	w.release()
	return err
}

// release returns the output buffer to the pool. The buffer must hold no
// pending output.
func (w *Writer) release() {
	if w.buf != nil {
		w.n = 0
		writeBufPool.Put(w.buf)
		w.buf = nil
	}
}

func (w *Writer) flush() error {
	if w.n == 0 {
		return nil
	}
	err := w.write(w.buf[:w.n])
	w.n = 0
	return err
}

func (w *Writer) write(p []byte) error {
	k, err := w.dst.Write(p)
	if err == nil && k < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		w.err = fmt.Errorf("chunk: write: %w", err)
		return w.err
	}
	return nil
}
