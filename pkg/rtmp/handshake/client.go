package handshake

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"time"
)

// DefaultClientVersion is the C1 version (bytes 4..7) a digest [Client]
// sends when [ClientConfig].Version is zero: 9.0.124.2, the Flash Player
// version FFmpeg also sends.
const DefaultClientVersion uint32 = 0x09007C02

// ClientConfig configures [Client]. The zero value is ready to use and
// performs the digest handshake.
type ClientConfig struct {
	// Simple sends the plain handshake of the specification (C1 bytes 4..7
	// zero, no digest). By default C1 carries a schema-1 digest, which
	// servers with Adobe-style validation require.
	Simple bool
	// Version is written into C1 bytes 4..7 in the digest handshake; zero
	// means [DefaultClientVersion].
	Version uint32
	// Rand is the source of the random bytes of C1 and C2; nil means
	// crypto/rand.
	Rand io.Reader
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Epoch is the zero of the C1 time field, in milliseconds; the zero
	// value means the moment Client is called, so C1's time field is 0.
	Epoch time.Time
}

// Client runs the client side of the handshake on rw: it writes C0+C1,
// reads S0 and S1, then writes C2 while it reads S2. C2 echoes S1, or is
// signed when the client sent a digest and S1 carries a valid server digest
// (as FFmpeg does). S2 is not checked beyond [Result].PeerEchoOK. On success
// the next byte of rw is the first chunk of the server. The caller owns
// deadlines; see the package documentation for the concurrent C2 write. On
// error the Result holds what had been learned about the peer so far.
func Client(rw io.ReadWriter, cfg ClientConfig) (Result, error) {
	var res Result
	ts := clock(cfg.Now, cfg.Epoch)
	rnd := randReader(cfg.Rand)

	// out holds C0 + C1; c2 is written while s2 is read, so they are
	// separate buffers.
	var out [1 + PacketSize]byte
	var s0s1 [1 + PacketSize]byte
	var c2, s2 [PacketSize]byte

	out[0] = RTMPVersion
	c1 := out[1:]
	binary.BigEndian.PutUint32(c1[0:4], ts())
	if _, err := io.ReadFull(rnd, c1[8:]); err != nil {
		return res, fmt.Errorf("handshake: random C1: %w", err)
	}
	var c1Digest []byte
	if !cfg.Simple {
		v := cfg.Version
		if v == 0 {
			v = DefaultClientVersion
		}
		binary.BigEndian.PutUint32(c1[4:8], v)
		off := imprintDigest(c1, Schema1, fpKey[:fpPartialLen])
		c1Digest = c1[off : off+digestLen]
	}
	if _, err := rw.Write(out[:]); err != nil {
		return res, fmt.Errorf("handshake: write C0+C1: %w", err)
	}

	if _, err := io.ReadFull(rw, s0s1[:1]); err != nil {
		return res, fmt.Errorf("handshake: read S0: %w", err)
	}
	res.PeerRTMPVersion = s0s1[0]
	if s0s1[0] != RTMPVersion {
		return res, versionError("S0", s0s1[0])
	}
	s1 := s0s1[1:]
	if _, err := io.ReadFull(rw, s1); err != nil {
		return res, fmt.Errorf("handshake: read S1: %w", err)
	}
	res.PeerTime = binary.BigEndian.Uint32(s1[0:4])
	res.PeerVersion = binary.BigEndian.Uint32(s1[4:8])

	if c1Digest != nil && res.PeerVersion != 0 {
		if s, off, ok := findDigest(s1, fmsKey[:fmsPartialLen]); ok {
			res.Mode, res.Schema = Digest, s
			if _, err := io.ReadFull(rnd, c2[:sigOffset]); err != nil {
				return res, fmt.Errorf("handshake: random C2: %w", err)
			}
			signature(c2[sigOffset:sigOffset], c2[:], s1[off:off+digestLen], fpKey)
		}
	}
	if res.Mode == Simple {
		// Echo S1 unchanged, as FFmpeg and librtmp do.
		copy(c2[:], s1)
	}

	// Write C2 while reading S2: servers that send S2 only after C2
	// (node-rtmpapi) need C2 first, while a server that writes S0+S1+S2 in
	// one write over an unbuffered transport (net.Pipe) needs S2 to be read
	// before its write returns and it reads C2.
	werr := make(chan error, 1)
	go func() {
		_, err := rw.Write(c2[:])
		werr <- err
	}()
	_, rerr := io.ReadFull(rw, s2[:])
	wErr := <-werr
	if rerr != nil {
		return res, fmt.Errorf("handshake: read S2: %w", rerr)
	}
	if wErr != nil {
		return res, fmt.Errorf("handshake: write C2: %w", wErr)
	}
	res.PeerEchoOK = bytes.Equal(s2[8:], c1[8:]) ||
		(c1Digest != nil && signatureValid(s2[:], c1Digest, fmsKey))
	return res, nil
}
