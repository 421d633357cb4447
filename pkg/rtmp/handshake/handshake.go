package handshake

import (
	"crypto/rand"
	"errors"
	"io"
	"time"
)

// RTMPVersion is the C0/S0 version byte of plain RTMP.
const RTMPVersion = 3

// PacketSize is the size in bytes of C1, S1, C2 and S2.
const PacketSize = 1536

// ErrUnsupportedVersion is returned (wrapped, with the value received) when
// the peer's C0 or S0 version byte is not [RTMPVersion]. Version 6 is RTMPE
// (encrypted RTMP), which is not supported; a first byte of 'G' or 'P'
// usually means an HTTP request reached the RTMP port.
var ErrUnsupportedVersion = errors.New("handshake: unsupported RTMP version")

// Mode says which handshake form was completed.
type Mode uint8

const (
	// Simple is the handshake of the RTMP specification: C1/S1 bytes 4..7
	// are zero (or no valid digest was found) and C2/S2 echo the peer's
	// packet.
	Simple Mode = iota
	// Digest is the Flash Player 9 handshake: C1 and S1 carry HMAC-SHA256
	// digests, C2 and S2 may be signed with a key derived from them.
	Digest
)

// String returns "simple" or "digest".
func (m Mode) String() string {
	switch m {
	case Simple:
		return "simple"
	case Digest:
		return "digest"
	default:
		return "unknown"
	}
}

// Schema says where the digest block sits in a digest C1/S1.
type Schema uint8

const (
	// Schema0 has the key block at bytes 8..771 and the digest block at
	// bytes 772..1535 (SRS calls it "key, digest").
	Schema0 Schema = 0
	// Schema1 has the digest block at bytes 8..771 and the key block at
	// bytes 772..1535 ("digest, key"). FFmpeg, nginx-rtmp, SRS and Flash
	// Player clients write this one.
	Schema1 Schema = 1
)

// String returns "schema0" or "schema1".
func (s Schema) String() string {
	switch s {
	case Schema0:
		return "schema0"
	case Schema1:
		return "schema1"
	default:
		return "unknown"
	}
}

// Result describes a completed handshake.
type Result struct {
	// Mode is the form that was completed. For [Server] it is Digest when
	// C1 carried a valid digest and S1/S2 were answered signed. For [Client]
	// it is Digest when the server's S1 carried a valid digest and C2 was
	// answered signed.
	Mode Mode
	// Schema is where the validated digest was found; it is meaningful only
	// when Mode is Digest.
	Schema Schema
	// PeerRTMPVersion is the version byte the peer sent in C0 (or S0): 3,
	// or another value a lenient server accepted.
	PeerRTMPVersion uint8
	// PeerVersion is bytes 4..7 of the peer's C1 (or S1), big-endian: zero
	// for simple peers, a product version such as 0x09007C02 (9.0.124.2,
	// FFmpeg and Flash Player) for digest peers.
	PeerVersion uint32
	// PeerTime is the time field (bytes 0..3) of the peer's C1 (or S1).
	PeerTime uint32
	// PeerEchoOK reports whether the peer's last packet (C2 for a server,
	// S2 for a client) echoed our C1/S1 random bytes or carried a valid
	// digest signature. It is informational: neither side fails the
	// handshake when it is false, because real peers differ here.
	PeerEchoOK bool
}

// clock returns the time source, the epoch and a function giving the
// handshake time field for "now".
func clock(now func() time.Time, epoch time.Time) func() uint32 {
	if now == nil {
		now = time.Now
	}
	if epoch.IsZero() {
		epoch = now()
	}
	return func() uint32 {
		return uint32(now().Sub(epoch).Milliseconds())
	}
}

func randReader(r io.Reader) io.Reader {
	if r == nil {
		return rand.Reader
	}
	return r
}
