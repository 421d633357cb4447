package handshake_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/tributary-media/tributary/pkg/rtmp/handshake"
)

// clientCase is one server reply played to [handshake.Client] and the
// result expected. The table drives TestClientCases, the FuzzClient seeds
// and the committed seed corpus.
type clientCase struct {
	name    string
	simple  bool   // client sends the simple handshake
	bytes   []byte // S0, S1, S2 as the server sends them
	want    handshake.Result
	wantErr error
}

func clientCases() []clientCase {
	return []clientCase{
		{
			name: "simple-server",
			bytes: cat(
				[]byte{0x03},                       // S0: version 3
				packet1(30, 0x00ABCDEF, 0, -1, ""), // S1: time, zero version, random
				pseudo(31, size),                   // S2: random (not an echo of C1)
			),
			want: handshake.Result{Mode: handshake.Simple, PeerRTMPVersion: 3, PeerTime: 0x00ABCDEF},
		},
		{
			name: "digest-server-schema1",
			bytes: cat(
				[]byte{0x03},                         // S0
				packet1(32, 0, 0x0D0E0A0D, 1, fms36), // S1: version 13.14.10.13, digest block at 8, FMS 36-byte key
				pseudo(33, size),                     // S2: random, no valid signature
			),
			want: handshake.Result{Mode: handshake.Digest, Schema: handshake.Schema1,
				PeerRTMPVersion: 3, PeerVersion: 0x0D0E0A0D},
		},
		{
			name: "digest-server-schema0",
			bytes: cat(
				[]byte{0x03},                            // S0
				packet1(34, 1000, 0x01000504, 0, fms36), // S1: version 1.0.5.4 (SRS), digest block at 772
				pseudo(35, size),                        // S2: random
			),
			want: handshake.Result{Mode: handshake.Digest, Schema: handshake.Schema0,
				PeerRTMPVersion: 3, PeerVersion: 0x01000504, PeerTime: 1000},
		},
		{
			name: "digest-server-invalid",
			bytes: cat(
				[]byte{0x03},                       // S0
				packet1(36, 0, 0x0D0E0A0D, -1, ""), // S1: non-zero version, no valid digest
				pseudo(37, size),                   // S2
			),
			want: handshake.Result{Mode: handshake.Simple, PeerRTMPVersion: 3, PeerVersion: 0x0D0E0A0D},
		},
		{
			name: "digest-server-client-key",
			bytes: cat(
				[]byte{0x03},                        // S0
				packet1(38, 0, 0x0D0E0A0D, 1, fp30), // S1: digest made with the client key: not a server digest
				pseudo(39, size),                    // S2
			),
			want: handshake.Result{Mode: handshake.Simple, PeerRTMPVersion: 3, PeerVersion: 0x0D0E0A0D},
		},
		{
			name:   "simple-client-digest-server",
			simple: true,
			bytes: cat(
				[]byte{0x03},                         // S0
				packet1(40, 0, 0x0D0E0A0D, 1, fms36), // S1: valid server digest, ignored by a simple client
				pseudo(41, size),                     // S2
			),
			want: handshake.Result{Mode: handshake.Simple, PeerRTMPVersion: 3, PeerVersion: 0x0D0E0A0D},
		},
		{
			name:    "bad-version",
			bytes:   cat([]byte{0x06}, packet1(42, 0, 0, -1, "")), // S0: 6
			wantErr: handshake.ErrUnsupportedVersion,
			want:    handshake.Result{PeerRTMPVersion: 6},
		},
		{
			name:    "bad-version-http",
			bytes:   []byte("HTTP/1.1 400 Bad Request\r\n\r\n"), // S0 = 'H'
			wantErr: handshake.ErrUnsupportedVersion,
			want:    handshake.Result{PeerRTMPVersion: 'H'},
		},
		{
			name:    "empty",
			wantErr: io.EOF,
		},
		{
			name:    "truncated-s1",
			bytes:   cat([]byte{0x03}, pseudo(43, 1000)), // S0 + 1000 bytes of S1
			wantErr: io.ErrUnexpectedEOF,
			want:    handshake.Result{PeerRTMPVersion: 3},
		},
		{
			name: "truncated-s2",
			bytes: cat(
				[]byte{0x03},              // S0
				packet1(44, 0, 0, -1, ""), // S1
				pseudo(45, 10),            // 10 bytes of S2
			),
			wantErr: io.ErrUnexpectedEOF,
			want:    handshake.Result{PeerRTMPVersion: 3},
		},
	}
}

func testClientConfig(simple bool) handshake.ClientConfig {
	return handshake.ClientConfig{Simple: simple, Rand: newRand(2), Now: fixedNow(testNow), Epoch: testEpoch}
}

// checkClientWrites checks C0+C1 and C2 written by the client against the
// rules for its mode, using the oracle. s1 is the server's S1.
func checkClientWrites(t *testing.T, out, s1 []byte, simple bool, res handshake.Result) {
	t.Helper()
	if len(out) != 1+2*size {
		t.Fatalf("client wrote %d bytes, want %d", len(out), 1+2*size)
	}
	c1, c2 := out[1:1+size], out[1+size:]
	if out[0] != 3 {
		t.Fatalf("C0 = %d, want 3", out[0])
	}
	if got := binary.BigEndian.Uint32(c1[0:4]); got != 0x102 {
		t.Errorf("C1 time = %#x, want 0x102", got)
	}
	version := binary.BigEndian.Uint32(c1[4:8])
	if simple {
		if version != 0 {
			t.Errorf("simple C1 version = %#x, want 0", version)
		}
	} else {
		if version != handshake.DefaultClientVersion {
			t.Errorf("C1 version = %#x, want %#x", version, handshake.DefaultClientVersion)
		}
		if !digestAt(c1, 1, fp30) {
			t.Errorf("C1 has no schema-1 digest made with the 30-byte FP key")
		}
	}
	wantDigest := !simple && binary.BigEndian.Uint32(s1[4:8]) != 0 && digestSchema(s1, fms36) >= 0
	if (res.Mode == handshake.Digest) != wantDigest {
		t.Fatalf("mode %v, but the oracle says digest = %v", res.Mode, wantDigest)
	}
	if res.Mode == handshake.Digest {
		if !signed(c2, digestOf(s1, int(res.Schema)), fp62) {
			t.Errorf("C2 is not signed with HMAC(FP62, S1 digest)")
		}
	} else if !bytes.Equal(c2, s1) {
		t.Errorf("C2 is not an echo of S1")
	}
}

func TestClientCases(t *testing.T) {
	for _, c := range clientCases() {
		t.Run(c.name, func(t *testing.T) {
			rw := newScript(c.bytes)
			res, err := handshake.Client(rw, testClientConfig(c.simple))
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
			if err == nil {
				checkClientWrites(t, rw.written(), c.bytes[1:1+size], c.simple, res)
				if rw.read != 1+2*size {
					t.Fatalf("client consumed %d bytes, want %d", rw.read, 1+2*size)
				}
			}
		})
	}
}

// C0+C1 go out in one write before anything is read; C2 only after S1 has
// been read completely.
func TestClientWritesC2AfterS1(t *testing.T) {
	c := clientCases()[0]
	rw := newScript(c.bytes)
	if _, err := handshake.Client(rw, testClientConfig(false)); err != nil {
		t.Fatal(err)
	}
	if len(rw.writes) != 2 {
		t.Fatalf("client used %d writes, want 2 (C0+C1, C2)", len(rw.writes))
	}
	if w := rw.writes[0]; w.n != 1+size || w.readSoFar != 0 {
		t.Fatalf("first write %d bytes after reading %d; want C0+C1 before any read", w.n, w.readSoFar)
	}
	if w := rw.writes[1]; w.n != size || w.readSoFar < 1+size {
		t.Fatalf("C2 write of %d bytes after reading %d; want it after S0+S1 (%d)", w.n, w.readSoFar, 1+size)
	}
}

// Case 7: C1 carries a schema-1 digest verifiable with the 30-byte FP key;
// the client accepts an S1 with zero version and answers C2 = S1 echo.
func TestCase7ClientDigestC1SimpleServer(t *testing.T) {
	client, server := pipe(t)
	s1 := packet1(50, 0x11223344, 0, -1, "")
	type peerResult struct {
		c1, c2 []byte
		err    error
	}
	done := make(chan peerResult, 1)
	go func() {
		var r peerResult
		r.err = func() error {
			in := make([]byte, 1+size)
			if _, err := io.ReadFull(server, in); err != nil {
				return err
			}
			r.c1 = in[1:]
			if _, err := server.Write(cat([]byte{3}, s1, r.c1)); err != nil { // S0, S1, S2 = C1 echo
				return err
			}
			r.c2 = make([]byte, size)
			_, err := io.ReadFull(server, r.c2)
			return err
		}()
		done <- r
	}()
	res, err := handshake.Client(client, handshake.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if binary.BigEndian.Uint32(r.c1[4:8]) == 0 || !digestAt(r.c1, 1, fp30) {
		t.Fatalf("C1 has no schema-1 digest verifiable with the 30-byte FP key")
	}
	if !bytes.Equal(r.c2, s1) {
		t.Fatalf("C2 is not an echo of S1")
	}
	want := handshake.Result{Mode: handshake.Simple, PeerRTMPVersion: 3, PeerTime: 0x11223344, PeerEchoOK: true}
	if res != want {
		t.Fatalf("result %+v, want %+v", res, want)
	}
}

// A valid server digest in S1 is answered with a signed C2, and a correctly
// signed S2 is reported as such.
func TestClientSignsC2ForDigestServer(t *testing.T) {
	client, server := pipe(t)
	s1 := packet1(51, 0, 0x0D0E0A0D, 0, fms36)
	done := make(chan error, 1)
	var c1, c2 []byte
	go func() {
		done <- func() error {
			in := make([]byte, 1+size)
			if _, err := io.ReadFull(server, in); err != nil {
				return err
			}
			c1 = in[1:]
			s2 := pseudo(52, size)
			copy(s2[size-32:], mac(mac([]byte(fms68), digestOf(c1, 1)), s2[:size-32]))
			if _, err := server.Write(cat([]byte{3}, s1, s2)); err != nil {
				return err
			}
			c2 = make([]byte, size)
			_, err := io.ReadFull(server, c2)
			return err
		}()
	}()
	res, err := handshake.Client(client, handshake.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	want := handshake.Result{Mode: handshake.Digest, Schema: handshake.Schema0,
		PeerRTMPVersion: 3, PeerVersion: 0x0D0E0A0D, PeerEchoOK: true}
	if res != want {
		t.Fatalf("result %+v, want %+v", res, want)
	}
	if !signed(c2, digestOf(s1, 0), fp62) {
		t.Fatalf("C2 is not signed with HMAC(FP62, S1 digest)")
	}
}

// The client completes against the server orders seen in the wild, over an
// unbuffered pipe where any wrong wait would deadlock.
func TestClientServerOrders(t *testing.T) {
	orders := []struct {
		name string
		run  func(conn net.Conn) error
	}{
		{"s2-after-c2", func(conn net.Conn) error { // node-rtmpapi: S0+S1, read C2, then S2
			in := make([]byte, 1+size)
			if _, err := io.ReadFull(conn, in); err != nil {
				return err
			}
			if _, err := conn.Write(cat([]byte{3}, packet1(53, 0, 0, -1, ""))); err != nil {
				return err
			}
			if _, err := io.ReadFull(conn, make([]byte, size)); err != nil {
				return err
			}
			_, err := conn.Write(in[1:])
			return err
		}},
		{"s2-before-c2-split", func(conn net.Conn) error { // nginx-rtmp: S0+S1, S2, then read C2
			in := make([]byte, 1+size)
			if _, err := io.ReadFull(conn, in); err != nil {
				return err
			}
			if _, err := conn.Write(cat([]byte{3}, packet1(54, 0, 0, -1, ""))); err != nil {
				return err
			}
			if _, err := conn.Write(in[1:]); err != nil {
				return err
			}
			_, err := io.ReadFull(conn, make([]byte, size))
			return err
		}},
		{"one-write", func(conn net.Conn) error { // SRS and this package: S0+S1+S2 in one write
			_, err := handshake.Server(conn, handshake.ServerConfig{})
			return err
		}},
	}
	for _, o := range orders {
		t.Run(o.name, func(t *testing.T) {
			client, server := pipe(t)
			done := make(chan error, 1)
			go func() { done <- o.run(server) }()
			res, err := handshake.Client(client, handshake.ClientConfig{})
			if err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatalf("server: %v", err)
			}
			if !res.PeerEchoOK {
				t.Fatalf("result %+v: S2 not recognised", res)
			}
		})
	}
}

// Server against Client over net.Pipe in both modes; then the connection
// carries data both ways.
func TestServerAgainstClient(t *testing.T) {
	for _, simple := range []bool{false, true} {
		name := map[bool]string{false: "digest", true: "simple"}[simple]
		t.Run(name, func(t *testing.T) {
			client, server := pipe(t)
			type out struct {
				res handshake.Result
				err error
			}
			done := make(chan out, 1)
			go func() {
				res, err := handshake.Server(server, handshake.ServerConfig{})
				if err == nil {
					_, err = server.Write([]byte("from server"))
				}
				done <- out{res, err}
			}()
			cres, err := handshake.Client(client, handshake.ClientConfig{Simple: simple})
			if err != nil {
				t.Fatal(err)
			}
			got := make([]byte, len("from server"))
			if _, err := io.ReadFull(client, got); err != nil || string(got) != "from server" {
				t.Fatalf("after handshake read %q, %v", got, err)
			}
			s := <-done
			if s.err != nil {
				t.Fatal(s.err)
			}
			wantServer := handshake.Result{PeerRTMPVersion: 3, PeerEchoOK: true}
			wantClient := wantServer
			if !simple {
				wantServer.Mode, wantServer.Schema = handshake.Digest, handshake.Schema1
				wantServer.PeerVersion = handshake.DefaultClientVersion
				wantClient.Mode, wantClient.Schema = handshake.Digest, handshake.Schema1
				wantClient.PeerVersion = handshake.DefaultServerVersion
			}
			// Time fields depend on the wall clock; compare the rest.
			s.res.PeerTime, cres.PeerTime = 0, 0
			if s.res != wantServer {
				t.Errorf("server result %+v, want %+v", s.res, wantServer)
			}
			if cres != wantClient {
				t.Errorf("client result %+v, want %+v", cres, wantClient)
			}
		})
	}
}

// Case 8: deadlines set by the caller fire on a peer that stops after C0
// (or S0); the handshake returns the timeout error.
func TestCase8Deadline(t *testing.T) {
	transports := map[string]func(t *testing.T) (a, b net.Conn){
		"tcp":  tcpPair,
		"pipe": pipeNoDeadline,
	}
	for tname, pair := range transports {
		t.Run(tname+"/server", func(t *testing.T) {
			server, peer := pair(t)
			go func() { _, _ = peer.Write([]byte{3}) }() // C0 only, then silence
			expectTimeout(t, server, func(c net.Conn) error {
				_, err := handshake.Server(c, handshake.ServerConfig{})
				return err
			})
		})
		t.Run(tname+"/client", func(t *testing.T) {
			client, peer := pair(t)
			go func() { // read C0+C1, answer S0 only, then silence
				if _, err := io.ReadFull(peer, make([]byte, 1+size)); err == nil {
					_, _ = peer.Write([]byte{3})
				}
			}()
			expectTimeout(t, client, func(c net.Conn) error {
				_, err := handshake.Client(c, handshake.ClientConfig{})
				return err
			})
		})
	}
}

func expectTimeout(t *testing.T, c net.Conn, run func(net.Conn) error) {
	t.Helper()
	if err := c.SetDeadline(time.Now().Add(200 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- run(c) }()
	select {
	case err := <-done:
		var ne net.Error
		if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("err = %v, want a timeout", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("handshake did not return after its deadline")
	}
}

func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b, ok := <-accepted
	if !ok {
		a.Close()
		t.Fatal("accept failed")
	}
	t.Cleanup(func() {
		a.Close()
		b.Close()
	})
	return a, b
}

func pipeNoDeadline(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() {
		a.Close()
		b.Close()
	})
	return a, b
}
