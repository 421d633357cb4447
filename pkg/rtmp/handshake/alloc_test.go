//go:build !race

package handshake

import "testing"

// TestHMACSHA256Allocs checks that the handshake's HMAC allocates nothing
// (without the race detector, whose sync.Pool drops items on purpose).
func TestHMACSHA256Allocs(t *testing.T) {
	msg := make([]byte, PacketSize)
	var sum [digestLen]byte
	if n := testing.AllocsPerRun(100, func() { hmacSHA256(sum[:0], fmsKey, msg, msg[:10]) }); n != 0 {
		t.Errorf("hmacSHA256 allocates %v times, want 0", n)
	}
}
