package handshake_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tributary-media/tributary/internal/testutil"
	"github.com/tributary-media/tributary/pkg/rtmp/handshake"
)

// lockedBuffer collects a child process's output; the test reads it while
// the process may still write.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startProcess starts a command whose output is kept for failure messages;
// the process is killed and waited for when the test ends.
func startProcess(t *testing.T, name string, args ...string) *lockedBuffer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	cmd := exec.CommandContext(ctx, name, args...)
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		cancel()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, out.String())
		}
	})
	return out
}

// TestInteropFFmpegPublisher runs Server on a loopback listener and lets
// ffmpeg publish to it: ffmpeg must use the digest handshake (schema 1,
// version 9.0.124.2) and, once it is done, send its connect command as the
// first chunk: fmt 0 on csid 3, type 20, AMF0 string "connect".
func TestInteropFFmpegPublisher(t *testing.T) {
	ffmpeg := testutil.RequireTool(t, "ffmpeg")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })

	startProcess(t, ffmpeg, "-hide_banner", "-nostdin", "-v", "debug",
		"-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10", "-t", "1",
		"-rw_timeout", "5000000", "-f", "flv",
		"rtmp://"+ln.Addr().String()+"/app/s")

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

// dialRetry dials addr until it is accepted or the deadline passes; the
// first successful connection is returned (servers that accept only one
// connection must not be probed).
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

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// TestInteropNginxServer runs Client against nginx with the RTMP module,
// which validates a client digest and answers with a signed S1 and S2; in
// simple mode it echoes C1 as S1 and S2.
func TestInteropNginxServer(t *testing.T) {
	nginx := testutil.RequireTool(t, "nginx")
	const module = "/usr/lib/nginx/modules/ngx_rtmp_module.so"
	if _, err := os.Stat(module); err != nil {
		if testutil.InCI() {
			t.Fatalf("nginx RTMP module missing: %v", err)
		}
		t.Skipf("nginx RTMP module not installed (%v); run `make deps`", err)
	}
	for _, simple := range []bool{false, true} {
		t.Run(map[bool]string{false: "digest", true: "simple"}[simple], func(t *testing.T) {
			dir := t.TempDir()
			port := freePort(t)
			conf := fmt.Sprintf(`load_module %s;
daemon off;
master_process off;
pid %s;
error_log %s info;
events { worker_connections 64; }
rtmp { server { listen 127.0.0.1:%s; application app { live on; } } }
`, module, filepath.Join(dir, "nginx.pid"), filepath.Join(dir, "error.log"), port)
			cf := filepath.Join(dir, "nginx.conf")
			if err := os.WriteFile(cf, []byte(conf), 0o600); err != nil {
				t.Fatal(err)
			}
			startProcess(t, nginx, "-p", dir, "-c", cf)
			conn := dialRetry(t, "127.0.0.1:"+port, 15*time.Second)

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
	ffmpeg := testutil.RequireTool(t, "ffmpeg")
	port := freePort(t)
	startProcess(t, ffmpeg, "-hide_banner", "-nostdin", "-v", "debug",
		"-rw_timeout", "10000000", "-listen", "1",
		"-i", "rtmp://127.0.0.1:"+port+"/app/s", "-f", "null", "-")
	conn := dialRetry(t, "127.0.0.1:"+port, 15*time.Second)

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
