package handshake

import (
	"crypto/hmac"
	"crypto/sha256"
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
	h := hmac.New(sha256.New, []byte(key))
	h.Write(p[:off])
	h.Write(p[off+digestLen:])
	return h.Sum(dst)
}

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
	k := hmac.New(sha256.New, []byte(fullKey))
	k.Write(peerDigest)
	var tmp [digestLen]byte
	h := hmac.New(sha256.New, k.Sum(tmp[:0]))
	h.Write(p[:sigOffset])
	return h.Sum(dst)
}

// signatureValid reports whether p (a C2/S2) ends with the signature made
// from peerDigest and fullKey.
func signatureValid(p, peerDigest []byte, fullKey string) bool {
	var sig [digestLen]byte
	return hmac.Equal(signature(sig[:0], p, peerDigest, fullKey), p[sigOffset:])
}
