package message

// AckTracker decides when an [Acknowledgement] is due, following the
// peer's Window Acknowledgement Size (RTMP 1.0 section 5.4.3; PROTOCOL.md
// section 4.1). It is pure bookkeeping: the connection feeds it the byte
// count and sends what it returns.
//
// By default an acknowledgement is due once half the window has arrived
// since the last one (as SRS does, so a peer that waits for a full window
// is never starved); FullWindow waits for the whole window (nginx-rtmp).
// Before a window is known no acknowledgement is due.
//
// The zero value is ready to use. An AckTracker is not safe for concurrent
// use.
type AckTracker struct {
	// FullWindow makes an acknowledgement due after a full window instead
	// of half of one.
	FullWindow bool

	window  uint32
	lastAck uint64
}

// SetWindow applies a received [WindowAckSize]. A zero size stops
// acknowledgements.
func (a *AckTracker) SetWindow(size uint32) { a.window = size }

// Window returns the window in effect (0 before one was received).
func (a *AckTracker) Window() uint32 { return a.window }

// Update takes the total number of bytes received on the connection so far
// (monotonic, for example chunk.Reader.BytesRead, which does not count the
// handshake) and reports whether an acknowledgement is due; if so it
// returns it, carrying the total modulo 2^32, and counts the next window
// from here.
func (a *AckTracker) Update(total uint64) (Acknowledgement, bool) {
	if a.window == 0 || total < a.lastAck {
		return Acknowledgement{}, false
	}
	threshold := uint64(a.window)
	if !a.FullWindow {
		threshold = max(1, threshold/2)
	}
	if total-a.lastAck < threshold {
		return Acknowledgement{}, false
	}
	a.lastAck = total
	return Acknowledgement{Sequence: uint32(total)}, true
}
