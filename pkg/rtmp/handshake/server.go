package handshake

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"sync"
	"time"
)

// DefaultServerVersion is the S1 version (bytes 4..7) a digest [Server]
// answers with when [ServerConfig].Version is zero: 13.14.10.13, the value
// nginx-rtmp sends. Its first byte is at least 3, so FFmpeg players validate
// the S1 digest.
const DefaultServerVersion uint32 = 0x0D0E0A0D

// ServerConfig configures [Server]. The zero value is ready to use.
type ServerConfig struct {
	// Lenient makes the server accept any C0 version byte and answer S0 = 3
	// (the specification's advice for unknown versions). By default only 3
	// is accepted and anything else fails with [ErrUnsupportedVersion]
	// before C1 is read.
	Lenient bool
	// Version is written into S1 bytes 4..7 in the digest handshake; zero
	// means [DefaultServerVersion]. The simple handshake always writes zero
	// there, as FFmpeg players require.
	Version uint32
	// Rand is the source of the random bytes of S1 and S2; nil means
	// crypto/rand.
	Rand io.Reader
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Epoch is the zero of the S1 time field, in milliseconds; the zero
	// value means the moment Server is called, so S1's time field is 0.
	Epoch time.Time
}

// Server runs the server side of the handshake on rw: it reads C0 and C1,
// writes S0+S1+S2 in a single write, then reads C2 (whose content is not
// checked). On success the next byte of rw is the first chunk of the client.
// The caller owns deadlines. On error the Result holds what had been learned
// about the peer so far.
func Server(rw io.ReadWriter, cfg ServerConfig) (Result, error) {
	var res Result
	ts := clock(cfg.Now, cfg.Epoch)

	// in holds C0 (1 byte) + C1, later C2; out holds S0 + S1 + S2.
	bufs := serverBufPool.Get().(*serverBufs)
	defer serverBufPool.Put(bufs)
	in, out := &bufs.in, &bufs.out

	if _, err := io.ReadFull(rw, in[:1]); err != nil {
		return res, fmt.Errorf("handshake: read C0: %w", err)
	}
	res.PeerRTMPVersion = in[0]
	if in[0] != RTMPVersion && !cfg.Lenient {
		return res, versionError("C0", in[0])
	}
	c1 := in[1:]
	if _, err := io.ReadFull(rw, c1); err != nil {
		return res, fmt.Errorf("handshake: read C1: %w", err)
	}
	res.PeerTime = binary.BigEndian.Uint32(c1[0:4])
	res.PeerVersion = binary.BigEndian.Uint32(c1[4:8])

	// C1 is overwritten by C2 later; keep a copy of its digest.
	var c1Digest [digestLen]byte
	if res.PeerVersion != 0 {
		if s, off, ok := findDigest(c1, fpKey[:fpPartialLen]); ok {
			res.Mode, res.Schema = Digest, s
			copy(c1Digest[:], c1[off:off+digestLen])
		}
	}

	out[0] = RTMPVersion
	s1 := out[1 : 1+PacketSize]
	s2 := out[1+PacketSize:]
	rnd := randReader(cfg.Rand)
	binary.BigEndian.PutUint32(s1[0:4], ts())
	if _, err := io.ReadFull(rnd, s1[8:]); err != nil {
		return res, fmt.Errorf("handshake: random S1: %w", err)
	}
	var s1Digest []byte
	if res.Mode == Digest {
		v := cfg.Version
		if v == 0 {
			v = DefaultServerVersion
		}
		binary.BigEndian.PutUint32(s1[4:8], v)
		off := imprintDigest(s1, res.Schema, fmsKey[:fmsPartialLen])
		s1Digest = s1[off : off+digestLen]
		if _, err := io.ReadFull(rnd, s2[:sigOffset]); err != nil {
			return res, fmt.Errorf("handshake: random S2: %w", err)
		}
		signature(s2[sigOffset:sigOffset], s2, c1Digest[:], fmsKey)
	} else {
		// Simple: S1 bytes 4..7 are zero and S2 is C1 echoed unchanged
		// (librtmp compares the whole packet and warns otherwise).
		clear(s1[4:8])
		copy(s2, c1)
	}

	if _, err := rw.Write(out[:]); err != nil {
		return res, fmt.Errorf("handshake: write S0+S1+S2: %w", err)
	}

	c2 := in[:PacketSize]
	if _, err := io.ReadFull(rw, c2); err != nil {
		return res, fmt.Errorf("handshake: read C2: %w", err)
	}
	// C2 is never a reason to fail: FFmpeg publishers echo S1 even after a
	// digest S1, Flash Player signs it, others send anything.
	res.PeerEchoOK = bytes.Equal(c2[8:], s1[8:]) ||
		(s1Digest != nil && signatureValid(c2, s1Digest, fpKey))
	return res, nil
}

// serverBufs are the packets of a server handshake. They come from
// serverBufPool: a server that accepts many connections at once would
// otherwise leave 4.5 KiB of garbage per connection.
type serverBufs struct {
	in  [1 + PacketSize]byte
	out [1 + 2*PacketSize]byte
}

var serverBufPool = sync.Pool{New: func() any { return new(serverBufs) }}

func versionError(packet string, v byte) error {
	switch {
	case v == 6:
		return fmt.Errorf("%w: %s version 6 (RTMPE, encrypted RTMP)", ErrUnsupportedVersion, packet)
	case v >= 0x20 && v < 0x7F:
		return fmt.Errorf("%w: %s version %d (%q: not RTMP, a text protocol?)", ErrUnsupportedVersion, packet, v, rune(v))
	default:
		return fmt.Errorf("%w: %s version %d", ErrUnsupportedVersion, packet, v)
	}
}
