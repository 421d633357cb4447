package handshake_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/tributary-media/tributary/pkg/rtmp/handshake"
)

var (
	testEpoch = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	testNow   = testEpoch.Add(0x0102 * time.Millisecond) // S1 time field 0x00000102
)

// serverCase is one input the client side sends to [handshake.Server] and
// the result expected from it. The same table drives TestServerCases, the
// FuzzServer seeds and the committed seed corpus.
type serverCase struct {
	name    string
	lenient bool
	bytes   []byte // C0, C1, C2 and anything after, as the client sends them
	want    handshake.Result
	wantErr error
}

func serverCases() []serverCase {
	return []serverCase{
		{
			name: "simple-valid",
			bytes: cat(
				[]byte{0x03},                      // C0: RTMP version 3
				packet1(1, 0x01020304, 0, -1, ""), // C1: time 0x01020304, version 0, 1528 random bytes
				pseudo(2, size),                   // C2: random, not an echo of S1
			),
			want: handshake.Result{Mode: handshake.Simple, PeerRTMPVersion: 3, PeerTime: 0x01020304},
		},
		{
			name: "digest-schema1-valid",
			bytes: cat(
				[]byte{0x03},                       // C0
				packet1(3, 0, 0x09007C02, 1, fp30), // C1: time 0, version 9.0.124.2, digest at 12+(C1[8..11] sum mod 728), FP 30-byte key
				pseudo(4, size),                    // C2: random
			),
			want: handshake.Result{Mode: handshake.Digest, Schema: handshake.Schema1,
				PeerRTMPVersion: 3, PeerVersion: 0x09007C02},
		},
		{
			name: "digest-schema0-valid",
			bytes: cat(
				[]byte{0x03},                        // C0
				packet1(5, 77, 0x80000702, 0, fp30), // C1: time 77, version 0x80000702, digest at 776+(C1[772..775] sum mod 728)
				pseudo(6, size),                     // C2: random
			),
			want: handshake.Result{Mode: handshake.Digest, Schema: handshake.Schema0,
				PeerRTMPVersion: 3, PeerVersion: 0x80000702, PeerTime: 77},
		},
		{
			name: "digest-invalid-fallback",
			bytes: cat(
				[]byte{0x03},                      // C0
				packet1(7, 5, 0x09007C02, -1, ""), // C1: non-zero version, no valid digest anywhere
				pseudo(8, size),                   // C2: random
			),
			want: handshake.Result{Mode: handshake.Simple, PeerRTMPVersion: 3, PeerVersion: 0x09007C02, PeerTime: 5},
		},
		{
			name: "digest-server-key",
			bytes: cat(
				[]byte{0x03},                        // C0
				packet1(9, 0, 0x0D0E0A0D, 1, fms36), // C1: digest made with the server (FMS) key, not valid for a client
				pseudo(10, size),                    // C2: random
			),
			want: handshake.Result{Mode: handshake.Simple, PeerRTMPVersion: 3, PeerVersion: 0x0D0E0A0D},
		},
		{
			name: "trailing-chunk-data",
			bytes: cat(
				[]byte{0x03},                   // C0
				packet1(11, 0, 0, -1, ""),      // C1: simple
				pseudo(12, size),               // C2
				[]byte{0x03, 0x00, 0x00, 0x00}, // first bytes of a fmt-0 chunk on csid 3: not handshake data
			),
			want: handshake.Result{Mode: handshake.Simple, PeerRTMPVersion: 3},
		},
		{
			name:    "bad-version-rtmpe",
			bytes:   cat([]byte{0x06}, packet1(13, 0, 0x09007C02, 1, fp30)), // C0: version 6 (RTMPE) + C1
			wantErr: handshake.ErrUnsupportedVersion,
			want:    handshake.Result{PeerRTMPVersion: 6},
		},
		{
			name:    "bad-version-http",
			bytes:   []byte("GET / HTTP/1.1\r\nHost: example\r\n\r\n"), // C0 = 'G' (0x47)
			wantErr: handshake.ErrUnsupportedVersion,
			want:    handshake.Result{PeerRTMPVersion: 'G'},
		},
		{
			name:    "lenient-version-6",
			lenient: true,
			bytes: cat(
				[]byte{0x06},              // C0: version 6, accepted by a lenient server
				packet1(14, 0, 0, -1, ""), // C1: simple
				pseudo(15, size),          // C2
			),
			want: handshake.Result{Mode: handshake.Simple, PeerRTMPVersion: 6},
		},
		{
			name:    "empty",
			bytes:   nil,
			wantErr: io.EOF,
		},
		{
			name:    "truncated-c1",
			bytes:   cat([]byte{0x03}, pseudo(16, 100)), // C0 + the first 100 bytes of C1
			wantErr: io.ErrUnexpectedEOF,
			want:    handshake.Result{PeerRTMPVersion: 3},
		},
		{
			name: "truncated-c2",
			bytes: cat(
				[]byte{0x03},                        // C0
				packet1(17, 0, 0x09007C02, 1, fp30), // C1: digest
				pseudo(18, 500),                     // first 500 bytes of C2
			),
			wantErr: io.ErrUnexpectedEOF,
			want: handshake.Result{Mode: handshake.Digest, Schema: handshake.Schema1,
				PeerRTMPVersion: 3, PeerVersion: 0x09007C02},
		},
	}
}

func caseByName(t *testing.T, name string) serverCase {
	t.Helper()
	for _, c := range serverCases() {
		if c.name == name {
			return c
		}
	}
	t.Fatalf("no server case %q", name)
	return serverCase{}
}

func testServerConfig(lenient bool) handshake.ServerConfig {
	return handshake.ServerConfig{Lenient: lenient, Rand: newRand(1), Now: fixedNow(testNow), Epoch: testEpoch}
}

// runServer runs Server on the script of c and checks the result and the
// error against the case.
func runServer(t *testing.T, c serverCase) (*scriptRW, handshake.Result, error) {
	t.Helper()
	rw := newScript(c.bytes)
	res, err := handshake.Server(rw, testServerConfig(c.lenient))
	if c.wantErr != nil {
		if !errors.Is(err, c.wantErr) {
			t.Fatalf("err = %v, want %v", err, c.wantErr)
		}
	} else if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	if res != c.want {
		t.Fatalf("result = %+v, want %+v", res, c.want)
	}
	return rw, res, err
}

// checkServerReply checks S0+S1+S2 against the rules for the mode the
// server reports, using the independent oracle.
func checkServerReply(t *testing.T, c1, out []byte, res handshake.Result, wantTime uint32) {
	t.Helper()
	if len(out) != 1+2*size {
		t.Fatalf("server wrote %d bytes, want %d", len(out), 1+2*size)
	}
	if out[0] != 3 {
		t.Fatalf("S0 = %d, want 3", out[0])
	}
	s1, s2 := out[1:1+size], out[1+size:]
	if got := binary.BigEndian.Uint32(s1[0:4]); got != wantTime {
		t.Errorf("S1 time = %#x, want %#x", got, wantTime)
	}
	switch res.Mode {
	case handshake.Digest:
		schema := int(res.Schema)
		if binary.BigEndian.Uint32(s1[4:8]) == 0 {
			t.Errorf("digest S1 has a zero version")
		}
		if !digestAt(s1, schema, fms36) {
			t.Errorf("S1 has no valid FMS-key digest in schema %d", schema)
		}
		if !signed(s2, digestOf(c1, schema), fms68) {
			t.Errorf("S2 is not signed with HMAC(FMS68, C1 digest)")
		}
	case handshake.Simple:
		if !bytes.Equal(s1[4:8], []byte{0, 0, 0, 0}) {
			t.Errorf("simple S1 bytes 4..7 = % x, want zero", s1[4:8])
		}
		if !bytes.Equal(s2, c1) {
			t.Errorf("simple S2 is not an echo of C1")
		}
	default:
		t.Fatalf("unknown mode %v", res.Mode)
	}
}

func TestServerCases(t *testing.T) {
	for _, c := range serverCases() {
		t.Run(c.name, func(t *testing.T) {
			rw, res, err := runServer(t, c)
			out := rw.written()
			if err != nil {
				if errors.Is(err, handshake.ErrUnsupportedVersion) {
					if len(out) != 0 || rw.read != 1 {
						t.Fatalf("rejected C0 but wrote %d bytes and read %d", len(out), rw.read)
					}
				}
				return
			}
			checkServerReply(t, c.bytes[1:1+size], out, res, 0x102)
			if rw.read != 1+2*size {
				t.Fatalf("server consumed %d bytes, want exactly %d", rw.read, 1+2*size)
			}
		})
	}
}

// Case 1: C0=3 + C1 with zero version → S0=3, S1 bytes 4..7 zero, S2
// echoes C1 time and random; S0S1S2 sent in one write before any C2 byte is
// read.
func TestCase1SimpleServerEchoesC1BeforeC2(t *testing.T) {
	c := caseByName(t, "simple-valid")
	rw, res, _ := runServer(t, c)
	out := rw.written()
	checkServerReply(t, c.bytes[1:1+size], out, res, 0x102)
	if len(rw.writes) != 1 {
		t.Fatalf("server used %d writes, want one", len(rw.writes))
	}
	if w := rw.writes[0]; w.n != 1+2*size || w.readSoFar != 1+size {
		t.Fatalf("write of %d bytes after reading %d; want %d bytes after exactly C0+C1 (%d)",
			w.n, w.readSoFar, 1+2*size, 1+size)
	}
	c1 := c.bytes[1 : 1+size]
	s2 := out[1+size:]
	if !bytes.Equal(s2[0:4], c1[0:4]) || !bytes.Equal(s2[8:], c1[8:]) {
		t.Fatalf("S2 does not echo C1 time and random bytes")
	}
}

// Case 2: C0 ≠ 3 → rejected before C1 is read, nothing written, or S0=3
// when lenient.
func TestCase2BadVersion(t *testing.T) {
	for _, v := range []byte{0, 1, 2, 4, 6, 31, 'G', 'P', 0xFF} {
		in := cat([]byte{v}, packet1(20, 0, 0, -1, ""), pseudo(21, size))
		rw := newScript(in)
		res, err := handshake.Server(rw, testServerConfig(false))
		if !errors.Is(err, handshake.ErrUnsupportedVersion) {
			t.Fatalf("version %d: err = %v, want ErrUnsupportedVersion", v, err)
		}
		if res.PeerRTMPVersion != v || rw.read != 1 || len(rw.written()) != 0 {
			t.Fatalf("version %d: result %+v, read %d, wrote %d; want rejection after C0 only",
				v, res, rw.read, len(rw.written()))
		}

		rw = newScript(in)
		res, err = handshake.Server(rw, testServerConfig(true))
		if err != nil {
			t.Fatalf("lenient, version %d: %v", v, err)
		}
		if res.PeerRTMPVersion != v {
			t.Fatalf("lenient: PeerRTMPVersion = %d, want %d", res.PeerRTMPVersion, v)
		}
		checkServerReply(t, in[1:1+size], rw.written(), res, 0x102)
	}
}

// Case 3: a valid schema-1 C1 digest → S1 signed with the FMS partial key in
// schema 1, S2's last 32 bytes = HMAC(HMAC(FMS68, C1digest), S2[0:1504]).
func TestCase3DigestSchema1(t *testing.T) {
	c := caseByName(t, "digest-schema1-valid")
	rw, res, _ := runServer(t, c)
	checkServerReply(t, c.bytes[1:1+size], rw.written(), res, 0x102)
	s1 := rw.written()[1 : 1+size]
	if got := binary.BigEndian.Uint32(s1[4:8]); got != handshake.DefaultServerVersion {
		t.Fatalf("S1 version = %#x, want %#x", got, handshake.DefaultServerVersion)
	}
	if digestAt(s1, 0, fms36) {
		t.Fatalf("S1 digest validates in schema 0 too; want schema 1 only")
	}
}

// Case 4: a valid schema-0 C1 digest (block at 772) → answered in schema 0.
func TestCase4DigestSchema0(t *testing.T) {
	c := caseByName(t, "digest-schema0-valid")
	rw, res, _ := runServer(t, c)
	checkServerReply(t, c.bytes[1:1+size], rw.written(), res, 0x102)
	if s1 := rw.written()[1 : 1+size]; digestAt(s1, 1, fms36) {
		t.Fatalf("S1 digest validates in schema 1; want schema 0")
	}
}

// Case 5: non-zero C1 version without a valid digest → simple handshake,
// and the connection continues with the bytes after C2.
func TestCase5FallbackToSimple(t *testing.T) {
	for _, name := range []string{"digest-invalid-fallback", "digest-server-key"} {
		t.Run(name, func(t *testing.T) {
			c := caseByName(t, name)
			rw, res, _ := runServer(t, c)
			checkServerReply(t, c.bytes[1:1+size], rw.written(), res, 0x102)
		})
	}
	t.Run("connection-continues", func(t *testing.T) {
		client, server := pipe(t)
		c1 := packet1(22, 9, 0x09007C02, -1, "")
		chunk := []byte{0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1a, 0x14} // fmt-0 chunk header start, csid 3
		errc := make(chan error, 1)
		go func() {
			errc <- func() error {
				if _, err := client.Write(cat([]byte{3}, c1)); err != nil {
					return err
				}
				s := make([]byte, 1+2*size)
				if _, err := io.ReadFull(client, s); err != nil {
					return err
				}
				_, err := client.Write(cat(s[1:1+size], chunk)) // C2 = S1 echo, then chunk data
				return err
			}()
		}()
		res, err := handshake.Server(server, handshake.ServerConfig{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Mode != handshake.Simple || !res.PeerEchoOK {
			t.Fatalf("result %+v, want simple with a valid echo", res)
		}
		got := make([]byte, len(chunk))
		if _, err := io.ReadFull(server, got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, chunk) {
			t.Fatalf("bytes after C2 = % x, want % x", got, chunk)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	})
}

// Case 6: a C2 that is not an echo of S1 is accepted (PeerEchoOK reports it).
func TestCase6C2NotVerified(t *testing.T) {
	for _, name := range []string{"simple-valid", "digest-schema1-valid", "digest-schema0-valid"} {
		c := caseByName(t, name)
		_, res, err := runServer(t, c)
		if err != nil || res.PeerEchoOK {
			t.Fatalf("%s: err %v, PeerEchoOK %v; want success with PeerEchoOK false", name, err, res.PeerEchoOK)
		}
	}
	// All-zero C2 after a digest C1.
	c := caseByName(t, "digest-schema1-valid")
	in := cat(c.bytes[:1+size], make([]byte, size))
	if _, err := handshake.Server(newScript(in), testServerConfig(false)); err != nil {
		t.Fatalf("zero C2 rejected: %v", err)
	}
}

func TestServerRandError(t *testing.T) {
	c := caseByName(t, "simple-valid")
	cfg := testServerConfig(false)
	cfg.Rand = errReader{}
	if _, err := handshake.Server(newScript(c.bytes), cfg); !errors.Is(err, errNoRandom) {
		t.Fatalf("err = %v, want the random source's error", err)
	}
}

var errNoRandom = errors.New("no randomness")

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errNoRandom }
