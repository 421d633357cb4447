//go:build !linux

package rtmp

// park parks the connection of p on a goroutine of its own.
func (p *parker) park() { go p.wait() }

// unpark reports whether a close must resume p: never, since its goroutine
// sees the close.
func (p *parker) unpark() bool { return false }

// lotSize returns how many connections are parked without a goroutine.
func lotSize() int { return 0 }
