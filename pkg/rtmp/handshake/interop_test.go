package handshake_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/tributary-media/tributary/internal/testutil"
	"github.com/tributary-media/tributary/pkg/rtmp/handshake"
)

// TestInteropFFmpegPublisher runs Server on a loopback listener and lets
// ffmpeg publish to it: ffmpeg must use the digest handshake (schema 1,
// version 9.0.124.2) and, once it is done, send its connect command as the
// first chunk: fmt 0 on csid 3, type 20, AMF0 string "connect".
func TestInteropFFmpegPublisher(t *testing.T) {
	src := testutil.GenerateFLV(t, testutil.MediaOptions{Duration: time.Second, Width: 160, Height: 120, FPS: 10, NoAudio: true})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })

	testutil.FFmpegPublish(t, t.Context(), src, "rtmp://"+ln.Addr().String()+"/app/s", "-rw_timeout", "5000000")

	if err := ln.(*net.TCPListener).SetDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	conn, err := ln.Accept()
	if err != nil {
		t.Fatalf("ffmpeg did not connect: %v", err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}

	res, err := handshake.Server(conn, handshake.ServerConfig{})
	if err != nil {
		t.Fatalf("handshake with ffmpeg: %v", err)
	}
	t.Logf("ffmpeg publisher handshake: %+v", res)
	if res.Mode != handshake.Digest || res.Schema != handshake.Schema1 {
		t.Fatalf("ffmpeg used %v/%v, want the digest handshake in schema 1", res.Mode, res.Schema)
	}
	if res.PeerVersion != 0x09007C02 {
		t.Errorf("ffmpeg C1 version = %#x, want 0x09007c02", res.PeerVersion)
	}
	if !res.PeerEchoOK {
		t.Errorf("ffmpeg's C2 neither echoed S1 nor carried a valid signature")
	}

	// First chunk after the handshake: basic header + 11-byte fmt-0 header,
	// then the start of the AMF0 payload.
	b := make([]byte, 12+10)
	if _, err := io.ReadFull(conn, b); err != nil {
		t.Fatalf("reading ffmpeg's first chunk: %v", err)
	}
	if b[0] != 0x03 { // fmt 0 (bits 7..6 = 0), csid 3
		t.Fatalf("basic header = %#x, want 0x03 (fmt 0, csid 3)", b[0])
	}
	if b[7] != 20 { // message type id: AMF0 command
		t.Fatalf("message type = %d, want 20", b[7])
	}
	if !bytes.Equal(b[8:12], []byte{0, 0, 0, 0}) { // message stream id 0, little-endian
		t.Fatalf("message stream id bytes = % x, want 0", b[8:12])
	}
	want := append([]byte{0x02, 0x00, 0x07}, "connect"...) // AMF0 string marker, length 7, "connect"
	if !bytes.Equal(b[12:], want) {
		t.Fatalf("payload starts % x, want % x", b[12:], want)
	}
}

// connectChunk is a minimal connect command, as one fmt-0 chunk on csid 3,
// that a real server answers (first with Window Acknowledgement Size).
func connectChunk(app string) []byte {
	payload := []byte{0x02, 0x00, 0x07}                           // AMF0 string, length 7
	payload = append(payload, "connect"...)                       // command name
	payload = append(payload, 0x00, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0) // number 1.0: transaction id
	payload = append(payload, 0x03, 0x00, 0x03)                   // object; key length 3
	payload = append(payload, "app"...)                           // key "app"
	payload = append(payload, 0x02, 0x00, byte(len(app)))         // string value
	payload = append(payload, app...)                             //
	payload = append(payload, 0x00, 0x00, 0x09)                   // object end
	hdr := []byte{
		0x03,             // fmt 0, csid 3
		0x00, 0x00, 0x00, // timestamp 0
		0x00, 0x00, byte(len(payload)), // message length
		0x14,                   // type 20, AMF0 command
		0x00, 0x00, 0x00, 0x00, // message stream id 0
	}
	return append(hdr, payload...)
}

// expectWindowAck reads the server's first message after connect and checks
// that it is a Window Acknowledgement Size (type 5) on csid 2, which proves
// the server accepted the handshake and the byte streams are aligned.
func expectWindowAck(t *testing.T, conn net.Conn) {
	t.Helper()
	if _, err := conn.Write(connectChunk("app")); err != nil {
		t.Fatalf("write connect: %v", err)
	}
	b := make([]byte, 12)
	if _, err := io.ReadFull(conn, b); err != nil {
		t.Fatalf("read the reply to connect: %v", err)
	}
	if b[0] != 0x02 || b[7] != 5 { // fmt 0 csid 2; type 5
		t.Fatalf("first reply header % x, want fmt 0 csid 2 type 5 (Window Acknowledgement Size)", b)
	}
}

// dialRetry dials addr until it is accepted or the deadline passes, for a
// server that logs nothing once it listens; the first successful
// connection is returned (servers that accept only one connection must not
// be probed).
func dialRetry(t *testing.T, addr string, deadline time.Duration) net.Conn {
	t.Helper()
	end := time.Now().Add(deadline)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		conn, err := net.Dial("tcp", addr)
		if err == nil {
			t.Cleanup(func() { conn.Close() })
			if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
				t.Fatal(err)
			}
			return conn
		}
		if !errors.Is(err, syscall.ECONNREFUSED) || time.Now().After(end) {
			t.Fatalf("dial %s: %v", addr, err)
		}
		<-tick.C
	}
}

// TestInteropNginxServer runs Client against nginx with the RTMP module,
// which validates a client digest and answers with a signed S1 and S2; in
// simple mode it echoes C1 as S1 and S2.
func TestInteropNginxServer(t *testing.T) {
	for _, simple := range []bool{false, true} {
		t.Run(map[bool]string{false: "digest", true: "simple"}[simple], func(t *testing.T) {
			addr := testutil.StartNginxRTMP(t, testutil.NginxOptions{App: "app"})
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close() })
			if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
				t.Fatal(err)
			}

			res, err := handshake.Client(conn, handshake.ClientConfig{Simple: simple})
			if err != nil {
				t.Fatalf("handshake with nginx: %v", err)
			}
			t.Logf("nginx-rtmp server handshake (client simple=%v): %+v", simple, res)
			want := handshake.Result{Mode: handshake.Simple, PeerRTMPVersion: 3, PeerEchoOK: true}
			if !simple {
				// nginx answers digest only after validating our C1 digest.
				want.Mode, want.Schema, want.PeerVersion = handshake.Digest, handshake.Schema1, 0x0D0E0A0D
			}
			res.PeerTime = 0
			if res != want {
				t.Fatalf("result %+v, want %+v", res, want)
			}
			expectWindowAck(t, conn)
		})
	}
}

// TestInteropFFmpegServer runs Client against `ffmpeg -listen 1`, whose
// server side implements only the simple handshake.
func TestInteropFFmpegServer(t *testing.T) {
	addr := testutil.FreeAddr(t)
	// ffmpeg plays what it is sent over RTMP; -listen 1 makes it wait for
	// the connection as a server instead of connecting.
	testutil.FFmpegPlay(t, t.Context(), "rtmp://"+addr+"/app/s", filepath.Join(t.TempDir(), "received.flv"), 0,
		"-listen", "1")
	conn := dialRetry(t, addr, 15*time.Second)

	res, err := handshake.Client(conn, handshake.ClientConfig{})
	if err != nil {
		t.Fatalf("handshake with ffmpeg -listen: %v", err)
	}
	t.Logf("ffmpeg -listen server handshake: %+v", res)
	if res.Mode != handshake.Simple || !res.PeerEchoOK || res.PeerRTMPVersion != 3 {
		t.Fatalf("result %+v, want simple with S2 echoing C1", res)
	}
	expectWindowAck(t, conn)
}
