package handshake

import (
	"crypto/hmac"
	"crypto/sha256"
	"sync"
)

// The Flash Player 9 handshake keys (PROTOCOL.md section 2.2). The partial
// keys, used for the C1 and S1 digests, are the ASCII prefixes (30 and 36
// bytes); the full keys (62 and 68 bytes) derive the C2/S2 signing keys.
const (
	keyTail = "\xF0\xEE\xC2\x4A\x80\x68\xBE\xE8\x2E\x00\xD0\xD1\x02\x9E\x7E\x57" +
		"\x6E\xEC\x5D\x2D\x29\x80\x6F\xAB\x93\xB8\xE6\x36\xCF\xEB\x31\xAE"
	fpKey  = "Genuine Adobe Flash Player 001" + keyTail
	fmsKey = "Genuine Adobe Flash Media Server 001" + keyTail

	fpPartialLen  = 30
	fmsPartialLen = 36

	digestLen = sha256.Size // 32
	// sigOffset is where the 32-byte signature of a digest C2/S2 starts.
	sigOffset = PacketSize - digestLen // 1504
)

// digestOffset returns the position of the 32-byte digest in a 1536-byte
// C1/S1 written in schema s. The digest block starts with four offset bytes
// whose sum, modulo 728 (764-4-32), places the digest inside the block.
func digestOffset(p []byte, s Schema) int {
	base := 772 // schema 0: digest block at 772..1535
	if s == Schema1 {
		base = 8 // schema 1: digest block at 8..771
	}
	sum := int(p[base]) + int(p[base+1]) + int(p[base+2]) + int(p[base+3])
	return base + 4 + sum%728
}

// packetDigest computes HMAC-SHA256 with key over p without the 32 bytes at
// off, appending the result to dst.
func packetDigest(dst, p []byte, off int, key string) []byte {
	return hmacSHA256(dst, key, p[:off], p[off+digestLen:])
}

// hmacSHA256 appends HMAC-SHA256(key, a || b) (RFC 2104) to dst. Unlike
// crypto/hmac it allocates nothing, so that a burst of digest handshakes
// leaves no garbage behind.
func hmacSHA256[K string | []byte](dst []byte, key K, a, b []byte) []byte {
	const block = 64 // SHA-256's block size
	bp := macScratch.Get().(*[]byte)
	defer macScratch.Put(bp)
	var k [block]byte
	if len(key) > block {
		m := append((*bp)[:0], key...)
		sum := sha256.Sum256(m)
		copy(k[:], sum[:])
	} else {
		copy(k[:], key)
	}
	m := append((*bp)[:0], k[:]...)
	for i := range block {
		m[i] ^= 0x36
	}
	m = append(append(m, a...), b...)
	inner := sha256.Sum256(m)
	*bp = m[:0]
	var outer [block + digestLen]byte
	for i := range block {
		outer[i] = k[i] ^ 0x5c
	}
	copy(outer[block:], inner[:])
	sum := sha256.Sum256(outer[:])
	return append(dst, sum[:]...)
}

// macScratch holds the inner messages of hmacSHA256: a padded key and a
// handshake packet.
var macScratch = sync.Pool{New: func() any {
	b := make([]byte, 0, 64+PacketSize)
	return &b
}}

// findDigest looks for a valid digest made with key in p, trying schema 0
// first and then schema 1 (as nginx-rtmp and SRS do). It returns the schema
// and the digest's offset.
func findDigest(p []byte, key string) (Schema, int, bool) {
	var sum [digestLen]byte
	for _, s := range [...]Schema{Schema0, Schema1} {
		off := digestOffset(p, s)
		if hmac.Equal(packetDigest(sum[:0], p, off, key), p[off:off+digestLen]) {
			return s, off, true
		}
	}
	return 0, 0, false
}

// imprintDigest writes the digest made with key into p at the schema's
// position and returns that position. The random bytes of p must already
// be in place.
func imprintDigest(p []byte, s Schema, key string) int {
	off := digestOffset(p, s)
	packetDigest(p[off:off], p, off, key)
	return off
}

// signature computes the C2/S2 signature: HMAC-SHA256 over p[0:1504] with
// the key HMAC-SHA256(fullKey, peerDigest), appended to dst.
func signature(dst, p, peerDigest []byte, fullKey string) []byte {
	var k [digestLen]byte
	hmacSHA256(k[:0], fullKey, peerDigest, nil)
	return hmacSHA256(dst, k[:], p[:sigOffset], nil)
}

// signatureValid reports whether p (a C2/S2) ends with the signature made
// from peerDigest and fullKey.
func signatureValid(p, peerDigest []byte, fullKey string) bool {
	var sig [digestLen]byte
	return hmac.Equal(signature(sig[:0], p, peerDigest, fullKey), p[sigOffset:])
}
