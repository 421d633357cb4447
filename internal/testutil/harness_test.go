package testutil_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/tributary-media/tributary/internal/testutil"
)

// relayMedia is the media the relay tests publish: 3 s of H.264 + AAC.
var relayMedia = testutil.MediaOptions{Duration: 3 * time.Second}

// TestRelayThroughThirdPartyServers publishes generated media with ffmpeg to
// a third-party RTMP server while a second ffmpeg, started first, plays the
// stream into a file, and checks that the recording holds the published
// streams.
func TestRelayThroughThirdPartyServers(t *testing.T) {
	t.Parallel()
	testutil.RequireTool(t, "ffmpeg")
	testutil.RequireTool(t, "ffprobe")
	src := testutil.GenerateFLV(t, relayMedia)
	sent := testutil.Probe(t, src)

	tests := []struct {
		name string
		// start starts the server and returns its address.
		start func(tb testing.TB) string
		// playFor is the duration limit of the player; zero means none.
		playFor time.Duration
	}{
		{
			name: "nginx-rtmp",
			start: func(tb testing.TB) string {
				// publish_notify makes nginx send Play.UnpublishNotify,
				// on which ffmpeg ends the recording at once.
				return testutil.StartNginxRTMP(tb, testutil.NginxOptions{AppDirectives: []string{"publish_notify on;"}})
			},
		},
		{
			name: "nginx-rtmp-master-process",
			start: func(tb testing.TB) string {
				return testutil.StartNginxRTMP(tb, testutil.NginxOptions{
					MasterProcess: true,
					ChunkSize:     128,
					AppDirectives: []string{"publish_notify on;"},
				})
			},
		},
		{
			// node-media-server does not tell players that the publisher
			// left: the player stops at a timestamp the last frames of
			// both streams pass, 2.9 s.
			name:    "node-media-server",
			start:   testutil.StartNodeMediaServer,
			playFor: relayMedia.Duration - 100*time.Millisecond,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			addr := tc.start(t)
			url := "rtmp://" + addr + "/live/harness"
			out := filepath.Join(t.TempDir(), "played.flv")
			ctx := t.Context()
			start := time.Now()

			play := testutil.FFmpegPlay(t, ctx, url, out, tc.playFor)
			if err := play.WaitStderr(testutil.FFmpegPlaySent, 30*time.Second); err != nil {
				t.Fatal(err)
			}
			pub := testutil.FFmpegPublish(t, ctx, src, url)
			if err := pub.Wait(relayMedia.Duration + 30*time.Second); err != nil {
				t.Fatalf("publish: %v", err)
			}
			published := time.Since(start)
			if err := play.Wait(30 * time.Second); err != nil {
				t.Fatalf("play: %v", err)
			}
			t.Logf("published after %v, player done after %v", published.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))

			got := testutil.Probe(t, out)
			checkRelayed(t, sent, got)
		})
	}
}

// checkRelayed compares a recording of a relayed stream with the source.
func checkRelayed(t *testing.T, sent, got testutil.ProbeResult) {
	t.Helper()
	if got.VideoCodec != sent.VideoCodec || got.AudioCodec != sent.AudioCodec {
		t.Errorf("codecs %q/%q, want %q/%q", got.VideoCodec, got.AudioCodec, sent.VideoCodec, sent.AudioCodec)
	}
	if got.Width != sent.Width || got.Height != sent.Height {
		t.Errorf("picture %dx%d, want %dx%d", got.Width, got.Height, sent.Width, sent.Height)
	}
	if got.VideoFrames*10 < sent.VideoFrames*9 || got.VideoFrames > sent.VideoFrames {
		t.Errorf("%d video frames, want at least 90%% of the %d published and no more", got.VideoFrames, sent.VideoFrames)
	}
	if got.AudioFrames*10 < sent.AudioFrames*9 || got.AudioFrames > sent.AudioFrames {
		t.Errorf("%d audio frames, want at least 90%% of the %d published and no more", got.AudioFrames, sent.AudioFrames)
	}
	if !got.FirstVideoPacketIsKey {
		t.Error("the recording does not start with a keyframe")
	}
	if got.Errors != "" {
		t.Errorf("ffprobe reported errors in the recording:\n%s", got.Errors)
	}
}

// TestFFmpegSendsDigestC1 records which handshake ffmpeg performs as a
// client: C0 = 3 and a C1 with version 9.0.124.2 and a schema-1 digest (in
// the block at byte 8), keyed with the 30-byte Flash Player key.
func TestFFmpegSendsDigestC1(t *testing.T) {
	t.Parallel()
	src := testutil.GenerateFLV(t, relayMedia)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	pub := testutil.FFmpegPublish(t, t.Context(), src, "rtmp://"+l.Addr().String()+"/live/c1")

	if err := l.(*net.TCPListener).SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	c, err := l.Accept()
	if err != nil {
		t.Fatalf("ffmpeg did not connect: %v", err)
	}
	if err := c.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	c0c1 := make([]byte, 1+1536)
	_, err = io.ReadFull(c, c0c1)
	c.Close()
	if err != nil {
		t.Fatalf("read C0 C1: %v", err)
	}
	if c0c1[0] != 3 {
		t.Errorf("C0 = %d, want 3", c0c1[0])
	}
	c1 := c0c1[1:]
	if v := c1[4:8]; string(v) != string([]byte{9, 0, 124, 2}) {
		t.Errorf("C1 version bytes % x, want 09 00 7c 02", v)
	}
	if !validDigest(c1, 8) {
		t.Error("C1 has no valid schema-1 digest (block at byte 8)")
	}
	if validDigest(c1, 772) {
		t.Error("C1 also validates as schema 0; want schema 1 only")
	}
	if err := pub.Wait(30 * time.Second); err == nil {
		t.Error("ffmpeg reported success although the server closed during the handshake")
	}
}

// validDigest reports whether the 764-byte digest block of c1 starting at
// base holds an HMAC-SHA256 of the rest of c1 keyed with the Flash Player
// key prefix "Genuine Adobe Flash Player 001".
func validDigest(c1 []byte, base int) bool {
	off := base + 4 + (int(c1[base])+int(c1[base+1])+int(c1[base+2])+int(c1[base+3]))%728
	mac := hmac.New(sha256.New, []byte("Genuine Adobe Flash Player 001"))
	mac.Write(c1[:off])
	mac.Write(c1[off+32:])
	return hmac.Equal(mac.Sum(nil), c1[off:off+32])
}

func TestGenerateFLV(t *testing.T) {
	t.Parallel()
	t.Run("defaults", func(t *testing.T) {
		t.Parallel()
		p := testutil.Probe(t, testutil.GenerateFLV(t, testutil.MediaOptions{}))
		if p.VideoCodec != "h264" || p.AudioCodec != "aac" {
			t.Errorf("codecs %q/%q, want h264/aac", p.VideoCodec, p.AudioCodec)
		}
		if p.Width != 320 || p.Height != 240 {
			t.Errorf("picture %dx%d, want 320x240", p.Width, p.Height)
		}
		if p.VideoFrames != 100 || p.VideoKeyframes != 4 {
			t.Errorf("%d frames with %d keyframes, want 100 with 4 (4 s at 25 fps, GOP 25)", p.VideoFrames, p.VideoKeyframes)
		}
		// 4 s of 44.1 kHz audio in AAC frames of 1024 samples is 172.3.
		if p.AudioFrames < 172 || p.AudioFrames > 176 {
			t.Errorf("%d audio frames, want about 173", p.AudioFrames)
		}
		for i, pkt := range p.VideoPackets {
			if pkt.PTS != pkt.DTS {
				t.Fatalf("packet %d: PTS %v != DTS %v without B-frames", i, pkt.PTS, pkt.DTS)
			}
		}
	})
	t.Run("options", func(t *testing.T) {
		t.Parallel()
		opts := testutil.MediaOptions{
			Duration: 2 * time.Second, Width: 160, Height: 96, FPS: 20, GOP: 10,
			BFrames: 2, VideoKbps: 200, NoAudio: true,
		}
		path := testutil.GenerateFLV(t, opts)
		p := testutil.Probe(t, path)
		if p.VideoCodec != "h264" || p.AudioCodec != "" || p.AudioPackets != 0 {
			t.Errorf("codecs %q/%q, want h264 and no audio", p.VideoCodec, p.AudioCodec)
		}
		if p.Width != 160 || p.Height != 96 {
			t.Errorf("picture %dx%d, want 160x96", p.Width, p.Height)
		}
		if p.VideoFrames != 40 || p.VideoKeyframes != 4 || !p.FirstVideoPacketIsKey {
			t.Errorf("%d frames with %d keyframes (first key %v), want 40 with 4 starting with one",
				p.VideoFrames, p.VideoKeyframes, p.FirstVideoPacketIsKey)
		}
		reordered := 0
		for _, pkt := range p.VideoPackets {
			if pkt.PTS != pkt.DTS {
				reordered++
			}
		}
		if reordered == 0 {
			t.Error("no packet has PTS != DTS although B-frames were asked for")
		}

		// A second request is served from the cache, not encoded again.
		before, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if again := testutil.GenerateFLV(t, opts); again != path {
			t.Errorf("second GenerateFLV returned %s, want the cached %s", again, path)
		}
		if after, err := os.Stat(path); err != nil || !after.ModTime().Equal(before.ModTime()) {
			t.Errorf("cached file changed or vanished: %v", err)
		}
		if other := testutil.GenerateFLV(t, testutil.MediaOptions{Duration: time.Second, Width: 160, Height: 96, FPS: 20, GOP: 10, NoAudio: true}); other == path {
			t.Error("different options returned the same file")
		}
	})
}

func TestGenerateHEVCAnnexB(t *testing.T) {
	t.Parallel()
	path := testutil.GenerateHEVCAnnexB(t, testutil.MediaOptions{Duration: time.Second, Width: 160, Height: 96, FPS: 20, GOP: 5})
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Annex B: a start code, then the VPS (NAL unit type 32).
	if len(b) < 5 || string(b[:4]) != "\x00\x00\x00\x01" || (b[4]>>1)&0x3f != 32 {
		t.Errorf("file starts % x, want a start code and a VPS", b[:min(len(b), 8)])
	}
	p := testutil.Probe(t, path)
	if p.VideoCodec != "hevc" || p.AudioCodec != "" {
		t.Errorf("codecs %q/%q, want hevc only", p.VideoCodec, p.AudioCodec)
	}
	if p.Width != 160 || p.Height != 96 {
		t.Errorf("picture %dx%d, want 160x96", p.Width, p.Height)
	}
	if p.VideoFrames != 20 || p.VideoKeyframes != 4 || !p.FirstVideoPacketIsKey {
		t.Errorf("%d frames with %d keyframes (first key %v), want 20 with 4 starting with one",
			p.VideoFrames, p.VideoKeyframes, p.FirstVideoPacketIsKey)
	}
}

func TestGenerateAV1(t *testing.T) {
	t.Parallel()
	path := testutil.GenerateAV1(t, testutil.MediaOptions{Duration: time.Second, Width: 160, Height: 96, FPS: 20, GOP: 5})
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 32 || string(b[:4]) != "DKIF" || string(b[8:12]) != "AV01" {
		t.Errorf("file starts % x, want an IVF header with FourCC AV01", b[:min(len(b), 12)])
	}
	p := testutil.Probe(t, path)
	if p.VideoCodec != "av1" {
		t.Errorf("codec %q, want av1", p.VideoCodec)
	}
	if p.Width != 160 || p.Height != 96 {
		t.Errorf("picture %dx%d, want 160x96", p.Width, p.Height)
	}
	if p.VideoFrames != 20 || p.VideoKeyframes != 4 || !p.FirstVideoPacketIsKey {
		t.Errorf("%d frames with %d keyframes (first key %v), want 20 with 4 starting with one",
			p.VideoFrames, p.VideoKeyframes, p.FirstVideoPacketIsKey)
	}
}

// fatalRecorder is a testing.TB whose Fatal methods record the message and
// end the calling goroutine instead of failing the test.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (f *fatalRecorder) Fatal(args ...any) {
	f.msg = fmt.Sprint(args...)
	runtime.Goexit()
}

func TestProbeFailsOnRejectedFile(t *testing.T) {
	t.Parallel()
	testutil.RequireTool(t, "ffprobe")
	dir := t.TempDir()
	for name, content := range map[string]string{
		"empty.flv":   "",
		"garbage.flv": "this is not a media file, just text that no demuxer accepts\n",
		"missing.flv": "",
	} {
		path := filepath.Join(dir, name)
		if name != "missing.flv" {
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		rec := &fatalRecorder{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			res := testutil.Probe(rec, path)
			t.Errorf("Probe(%s) returned %+v, want a test failure", name, res)
		}()
		<-done
		if rec.msg == "" {
			t.Errorf("Probe(%s) did not fail the test", name)
		} else {
			t.Logf("Probe(%s): %s", name, rec.msg)
		}
	}
}

func TestFreePort(t *testing.T) {
	t.Parallel()
	seen := make(map[int]bool)
	for range 20 {
		port := testutil.FreePort(t)
		if seen[port] {
			t.Fatalf("port %d handed out twice", port)
		}
		seen[port] = true
	}
	l, err := net.Listen("tcp", testutil.FreeAddr(t))
	if err != nil {
		t.Fatalf("FreeAddr is not bindable: %v", err)
	}
	l.Close()
}
