package handshake

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"testing"
)

// TestHMACSHA256 checks the handshake's HMAC against crypto/hmac, for keys
// shorter and longer than a SHA-256 block.
func TestHMACSHA256(t *testing.T) {
	msg := make([]byte, PacketSize)
	for i := range msg {
		msg[i] = byte(i * 7)
	}
	for _, key := range []string{fpKey[:fpPartialLen], fmsKey[:fmsPartialLen], fpKey, fmsKey, ""} {
		for _, cut := range []int{0, 1, 772, PacketSize} {
			want := hmac.New(sha256.New, []byte(key))
			want.Write(msg)
			got := hmacSHA256(nil, key, msg[:cut], msg[cut:])
			if !bytes.Equal(got, want.Sum(nil)) {
				t.Fatalf("key of %d bytes, split at %d: %x, want %x", len(key), cut, got, want.Sum(nil))
			}
			if got2 := hmacSHA256(nil, []byte(key), msg[:cut], msg[cut:]); !bytes.Equal(got2, got) {
				t.Fatalf("key of %d bytes as []byte: %x, want %x", len(key), got2, got)
			}
		}
	}
}
