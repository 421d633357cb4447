package amf_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tributary-media/tributary/internal/testutil"
	"github.com/tributary-media/tributary/pkg/rtmp/amf"
)

// ffmpegPublishConnect is the payload of the connect command FFmpeg 5.1
// sends when publishing to rtmp://127.0.0.1:1935/live/x (PROTOCOL.md 7.3;
// rtmpproto.c gen_connect writes app, type, flashVer, tcUrl for output).
var ffmpegPublishConnect = []byte{
	0x02, 0x00, 0x07, 'c', 'o', 'n', 'n', 'e', 'c', 't', // String "connect"
	0x00, 0x3F, 0xF0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // Number 1 (transaction id)
	0x03,                      // Object (command object)
	0x00, 0x03, 'a', 'p', 'p', // name "app"
	0x02, 0x00, 0x04, 'l', 'i', 'v', 'e', // String "live"
	0x00, 0x04, 't', 'y', 'p', 'e', // name "type"
	0x02, 0x00, 0x0A, 'n', 'o', 'n', 'p', 'r', 'i', 'v', 'a', 't', 'e', // String "nonprivate"
	0x00, 0x08, 'f', 'l', 'a', 's', 'h', 'V', 'e', 'r', // name "flashVer"
	0x02, 0x00, 0x24, // String, 36 bytes
	'F', 'M', 'L', 'E', '/', '3', '.', '0', ' ', '(', 'c', 'o', 'm', 'p', 'a', 't', 'i', 'b', 'l', 'e', ';', ' ',
	'L', 'a', 'v', 'f', '5', '9', '.', '2', '7', '.', '1', '0', '0', ')',
	0x00, 0x05, 't', 'c', 'U', 'r', 'l', // name "tcUrl"
	0x02, 0x00, 0x1A, // String, 26 bytes
	'r', 't', 'm', 'p', ':', '/', '/', '1', '2', '7', '.', '0', '.', '0', '.', '1', ':', '1', '9', '3', '5',
	'/', 'l', 'i', 'v', 'e',
	0x00, 0x00, 0x09, // end of the command object
}

func TestFFmpegPublishConnectVector(t *testing.T) {
	vals, err := amf.DecodeAMF0All(ffmpegPublishConnect)
	if err != nil {
		t.Fatal(err)
	}
	want := []any{"connect", 1.0, amf.Object{
		{Key: "app", Value: "live"},
		{Key: "type", Value: "nonprivate"},
		{Key: "flashVer", Value: "FMLE/3.0 (compatible; Lavf59.27.100)"},
		{Key: "tcUrl", Value: "rtmp://127.0.0.1:1935/live"},
	}}
	if err := sameValue(amf.StrictArray(vals), amf.StrictArray(want), false); err != nil {
		t.Fatal(err)
	}
	var enc []byte
	for _, v := range vals {
		if enc, err = amf.AppendAMF0(enc, v); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(enc, ffmpegPublishConnect) {
		t.Fatalf("re-encoded connect differs:\n% x\n% x", enc, ffmpegPublishConnect)
	}
}

// TestFFmpegConnectCapture runs the real ffmpeg as a publisher and as a
// player against a listener that completes a simple handshake, captures
// the connect command and checks it decodes as expected and re-encodes to
// the same bytes.
func TestFFmpegConnectCapture(t *testing.T) {
	ffmpeg := testutil.RequireTool(t, "ffmpeg")
	for _, c := range []struct {
		name  string
		args  func(url string) []string
		check func(t *testing.T, cmdObj any, tcURL string)
	}{
		{
			name: "publisher",
			args: func(url string) []string {
				return []string{"-re", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10", "-t", "1", "-f", "flv", url}
			},
			check: func(t *testing.T, obj any, tcURL string) {
				wantString(t, obj, "type", "nonprivate")
				wantPrefix(t, obj, "flashVer", "FMLE/3.0 (compatible; Lavf")
			},
		},
		{
			name: "player",
			args: func(url string) []string { return []string{"-i", url, "-f", "null", "-"} },
			check: func(t *testing.T, obj any, tcURL string) {
				if v, ok := amf.Lookup(obj, "fpad"); v != false || !ok {
					t.Errorf("fpad = %#v, %v; want false", v, ok)
				}
				for key, want := range map[string]float64{
					"capabilities": 15, "audioCodecs": 4071, "videoCodecs": 252, "videoFunction": 1,
				} {
					v, _ := amf.Lookup(obj, key)
					if n, ok := amf.Number(v); !ok || n != want {
						t.Errorf("%s = %#v; want %v", key, v, want)
					}
				}
			},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			payload, tcURL := captureConnect(t, ffmpeg, c.args)
			vals, err := amf.DecodeAMF0All(payload)
			if err != nil {
				t.Fatalf("decode: %v\n% x", err, payload)
			}
			if len(vals) < 3 || vals[0] != "connect" || vals[1] != 1.0 {
				t.Fatalf("connect values: %#v", vals)
			}
			obj := vals[2]
			wantString(t, obj, "app", "app")
			wantString(t, obj, "tcUrl", tcURL)
			c.check(t, obj, tcURL)

			var enc []byte
			for _, v := range vals {
				if enc, err = amf.AppendAMF0(enc, v); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(enc, payload) {
				t.Fatalf("re-encoded connect differs from ffmpeg's:\n% x\n% x", enc, payload)
			}
		})
	}
}

func wantString(t *testing.T, obj any, key, want string) {
	t.Helper()
	v, _ := amf.Lookup(obj, key)
	if s, ok := amf.String(v); !ok || s != want {
		t.Errorf("%s = %#v; want %q", key, v, want)
	}
}

func wantPrefix(t *testing.T, obj any, key, prefix string) {
	t.Helper()
	v, _ := amf.Lookup(obj, key)
	if s, ok := amf.String(v); !ok || !strings.HasPrefix(s, prefix) {
		t.Errorf("%s = %#v; want prefix %q", key, v, prefix)
	}
}

// captureConnect starts ffmpeg against a local listener, answers the
// handshake (simple form: S1 version zero, S2 echoes C1) and returns the
// payload of the first command message (type 20) and the tcUrl ffmpeg
// should have used.
func captureConnect(t *testing.T, ffmpeg string, args func(string) []string) ([]byte, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	tcURL := fmt.Sprintf("rtmp://%s/app", ln.Addr())

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, ffmpeg, append([]string{"-hide_banner", "-nostdin", "-loglevel", "error"},
		args(tcURL+"/x")...)...)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait() // ffmpeg fails once the connection closes; only its exit matters
	})

	if err := ln.(*net.TCPListener).SetDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	conn, err := ln.Accept()
	if err != nil {
		t.Fatalf("accept: %v (ffmpeg: %s)", err, stderr.String())
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}

	c0c1 := make([]byte, 1+1536)
	if _, err := io.ReadFull(conn, c0c1); err != nil {
		t.Fatalf("read C0C1: %v", err)
	}
	s0s1s2 := make([]byte, 1+1536+1536)
	s0s1s2[0] = 3                   // S0: version 3; S1 time and version zero, zero random
	copy(s0s1s2[1+1536:], c0c1[1:]) // S2 echoes C1
	if _, err := conn.Write(s0s1s2); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(conn, make([]byte, 1536)); err != nil {
		t.Fatalf("read C2: %v", err)
	}
	for {
		typ, payload := readMessage(t, conn)
		if typ == 20 {
			return payload, tcURL
		}
	}
}

// readMessage reads one message in its chunks: a type-0 chunk header on a
// one-byte chunk stream id followed by type-3 continuations at the default
// chunk size of 128, which is how ffmpeg sends its first messages.
func readMessage(t *testing.T, r io.Reader) (byte, []byte) {
	t.Helper()
	hdr := make([]byte, 12)
	if _, err := io.ReadFull(r, hdr); err != nil {
		t.Fatalf("read chunk header: %v", err)
	}
	if hdr[0]>>6 != 0 || hdr[0]&0x3F < 2 {
		t.Fatalf("unexpected chunk basic header %#x", hdr[0])
	}
	length := int(binary.BigEndian.Uint32(hdr[4:8]) >> 8) // 3-byte length after the 3-byte timestamp
	typ := hdr[7]
	payload := make([]byte, 0, length)
	for len(payload) < length {
		if len(payload) > 0 {
			var b [1]byte
			if _, err := io.ReadFull(r, b[:]); err != nil || b[0] != 0xC0|hdr[0]&0x3F {
				t.Fatalf("continuation header %#x, %v", b[0], err)
			}
		}
		n := min(128, length-len(payload))
		chunk := make([]byte, n)
		if _, err := io.ReadFull(r, chunk); err != nil {
			t.Fatalf("read chunk: %v", err)
		}
		payload = append(payload, chunk...)
	}
	return typ, payload
}
