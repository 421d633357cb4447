package handshake_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"
)

// An independent implementation of the digest rules of PROTOCOL.md section
// 2.2, used as the oracle for the package under test.

const (
	oracleTail = "\xF0\xEE\xC2\x4A\x80\x68\xBE\xE8\x2E\x00\xD0\xD1\x02\x9E\x7E\x57" +
		"\x6E\xEC\x5D\x2D\x29\x80\x6F\xAB\x93\xB8\xE6\x36\xCF\xEB\x31\xAE"
	fp30  = "Genuine Adobe Flash Player 001"
	fms36 = "Genuine Adobe Flash Media Server 001"
	fp62  = fp30 + oracleTail
	fms68 = fms36 + oracleTail

	size = 1536
)

func mac(key []byte, parts ...[]byte) []byte {
	h := hmac.New(sha256.New, key)
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

// digestPos is the digest position in a C1/S1: schema 0 has its digest block
// at 772, schema 1 at 8; the block's first four bytes, summed modulo 728,
// give the offset after them.
func digestPos(p []byte, schema int) int {
	base := 772
	if schema == 1 {
		base = 8
	}
	return base + 4 + (int(p[base])+int(p[base+1])+int(p[base+2])+int(p[base+3]))%728
}

// digestAt reports whether p carries a valid digest made with key in schema.
func digestAt(p []byte, schema int, key string) bool {
	pos := digestPos(p, schema)
	return hmac.Equal(mac([]byte(key), p[:pos], p[pos+32:]), p[pos:pos+32])
}

// digestSchema returns the schema (0 tried first) whose digest validates,
// or -1.
func digestSchema(p []byte, key string) int {
	for s := 0; s <= 1; s++ {
		if digestAt(p, s, key) {
			return s
		}
	}
	return -1
}

// digestOf returns the 32 digest bytes of p in schema.
func digestOf(p []byte, schema int) []byte {
	pos := digestPos(p, schema)
	return p[pos : pos+32]
}

// signed reports whether the C2/S2 p ends with
// HMAC(HMAC(fullKey, peerDigest), p[0:1504]).
func signed(p, peerDigest []byte, fullKey string) bool {
	return hmac.Equal(mac(mac([]byte(fullKey), peerDigest), p[:size-32]), p[size-32:])
}

// pseudo returns n deterministic pseudo-random bytes for seed.
func pseudo(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 0xA5})
	_, _ = r.Read(b)
	return b
}

// packet1 builds a C1/S1: time, version, random bytes from seed and, when
// schema is 0 or 1, a digest made with key at that schema's position.
func packet1(seed uint64, time, version uint32, schema int, key string) []byte {
	p := pseudo(seed, size)
	binary.BigEndian.PutUint32(p[0:4], time)
	binary.BigEndian.PutUint32(p[4:8], version)
	if schema >= 0 {
		pos := digestPos(p, schema)
		copy(p[pos:], mac([]byte(key), p[:pos], p[pos+32:]))
	}
	return p
}

// cat concatenates byte slices into a new slice.
func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// seqRand is a deterministic io.Reader for the Rand fields.
type seqRand struct{ r *rand.ChaCha8 }

func newRand(seed byte) io.Reader { return &seqRand{rand.NewChaCha8([32]byte{seed})} }

func (s *seqRand) Read(p []byte) (int, error) { return s.r.Read(p) }

// fixedNow returns a clock that always says t.
func fixedNow(t time.Time) func() time.Time { return func() time.Time { return t } }

// scriptRW plays a peer from a fixed byte script and records what is
// written, and how many script bytes had been consumed at each write. Read
// and Write may run concurrently.
type scriptRW struct {
	mu     sync.Mutex
	in     []byte
	read   int
	out    bytes.Buffer
	writes []writeRecord
}

type writeRecord struct {
	n         int // bytes in this Write call
	readSoFar int // script bytes consumed before it
}

func newScript(in []byte) *scriptRW { return &scriptRW{in: in} }

func (s *scriptRW) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.read == len(s.in) {
		return 0, io.EOF
	}
	n := copy(p, s.in[s.read:])
	s.read += n
	return n, nil
}

func (s *scriptRW) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes = append(s.writes, writeRecord{n: len(p), readSoFar: s.read})
	return s.out.Write(p)
}

func (s *scriptRW) written() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.out.Bytes())
}

// pipe returns the two ends of a net.Pipe with a deadline that keeps a
// broken test from hanging, both closed when the test ends.
func pipe(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() {
		a.Close()
		b.Close()
	})
	dl := time.Now().Add(10 * time.Second)
	if err := a.SetDeadline(dl); err != nil {
		t.Fatal(err)
	}
	if err := b.SetDeadline(dl); err != nil {
		t.Fatal(err)
	}
	return a, b
}
