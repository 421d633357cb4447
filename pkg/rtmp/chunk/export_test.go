package chunk

import "fmt"

// HeldBytes returns the capacity of the payload buffers r holds, for tests
// that bound the Reader's memory.
func HeldBytes(r *Reader) int { return r.held }

// InputBufferSize returns the size of r's current input buffer.
func InputBufferSize(r *Reader) int { return len(r.buf) }

// HoldsOutputBuffer reports whether w holds an output buffer.
func HoldsOutputBuffer(w *Writer) bool { return w.buf != nil }

// Input buffer sizes of the Reader, output buffer size of the Writer.
const (
	SmallReadBufSize = smallReadBufSize
	ReadBufSize      = readBufSize
	WriteBufSize     = writeBufSize
)

// CheckAccounting verifies r's memory bookkeeping against its chunk
// streams.
func CheckAccounting(r *Reader) error {
	held, pending, active, n := 0, 0, 0, 0
	var bad error
	visit := func(st *stream) {
		n++
		held += cap(st.buf)
		if st.active {
			active++
			pending += len(st.buf)
		}
		if st.active && uint32(len(st.buf)) > st.length {
			bad = fmt.Errorf("chunk stream %d holds %d bytes of a %d-byte message", st.csid, len(st.buf), st.length)
		}
	}
	for _, st := range r.low {
		if st != nil {
			visit(st)
		}
	}
	for _, st := range r.high {
		visit(st)
	}
	if bad != nil {
		return bad
	}
	if held != r.held || pending != r.pending || active != r.active || n != r.nstreams {
		return fmt.Errorf("accounting: held %d/%d pending %d/%d active %d/%d streams %d/%d (counted/recorded)",
			held, r.held, pending, r.pending, active, r.active, n, r.nstreams)
	}
	if r.pending > r.lim.maxPendingBytes {
		return fmt.Errorf("pending %d above the limit %d", r.pending, r.lim.maxPendingBytes)
	}
	return nil
}
