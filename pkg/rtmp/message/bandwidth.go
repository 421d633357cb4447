package message

// PeerBandwidth applies received [SetPeerBandwidth] messages to the output
// window (the most unacknowledged bytes this side should have in flight)
// and says when a [WindowAckSize] must be sent back (RTMP 1.0 section
// 5.4.5; PROTOCOL.md section 4.1):
//
//   - Hard (0): the window becomes the message's window.
//   - Soft (1): the window becomes the smaller of the message's window and
//     the one in effect (the message's window if none is in effect).
//   - Dynamic (2): treated as Hard if the previous limit applied was Hard,
//     otherwise ignored. Servers (nginx-rtmp, SRS, FFmpeg) send Dynamic at
//     connect, which this rule therefore ignores on a fresh connection.
//   - Other limit types are ignored.
//
// A Window Acknowledgement Size is due when the window in effect after the
// message differs from the last one sent to the peer ([PeerBandwidth.Sent]
// records ones the connection sends on its own).
//
// The zero value is ready to use: no limit in effect, nothing sent. A
// PeerBandwidth is not safe for concurrent use.
type PeerBandwidth struct {
	window  uint32
	limit   LimitType
	limited bool

	lastSent uint32
	sent     bool
}

// Apply applies m and returns the Window Acknowledgement Size to send back
// and whether one is due. When it is, it is recorded as sent.
func (p *PeerBandwidth) Apply(m *SetPeerBandwidth) (WindowAckSize, bool) {
	switch m.Limit {
	case LimitHard:
		p.window, p.limit, p.limited = m.Window, LimitHard, true
	case LimitSoft:
		if !p.limited || m.Window < p.window {
			p.window = m.Window
		}
		p.limit, p.limited = LimitSoft, true
	case LimitDynamic:
		if !p.limited || p.limit != LimitHard {
			return WindowAckSize{}, false
		}
		p.window = m.Window // stays Hard
	default:
		return WindowAckSize{}, false
	}
	if p.sent && p.lastSent == p.window {
		return WindowAckSize{}, false
	}
	p.Sent(p.window)
	return WindowAckSize{Size: p.window}, true
}

// Sent records a Window Acknowledgement Size sent to the peer outside
// Apply.
func (p *PeerBandwidth) Sent(size uint32) { p.lastSent, p.sent = size, true }

// Window returns the output window and limit type in effect; ok is false
// while no Set Peer Bandwidth has been applied.
func (p *PeerBandwidth) Window() (window uint32, limit LimitType, ok bool) {
	return p.window, p.limit, p.limited
}
