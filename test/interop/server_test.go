package interop_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tributary-media/tributary/internal/testutil"
	"github.com/tributary-media/tributary/pkg/rtmp"
	"github.com/tributary-media/tributary/pkg/rtmp/flv"
)

// avClip is the H.264/AAC media most tests publish: 4 s of 640x360 at
// 25 fps with a keyframe every second, and a 440 Hz tone.
var avClip = testutil.MediaOptions{Duration: 4 * time.Second, Width: 640, Height: 360}

// TestFFmpegThroughExampleServer publishes with ffmpeg to examples/server
// while ffmpeg plays the stream into a file, and checks the recording with
// ffprobe.
func TestFFmpegThroughExampleServer(t *testing.T) {
	t.Parallel()
	src := testutil.GenerateFLV(t, avClip)
	sent := testutil.Probe(t, src)
	srv := startExampleServer(t)
	url := srv.url("ffmpeg")
	out := filepath.Join(t.TempDir(), "played.flv")
	ctx := testContext(t)

	// The server sends NetStream.Play.UnpublishNotify when the publisher
	// ends, on which ffmpeg finishes the recording.
	play := testutil.FFmpegPlay(t, ctx, url, out, 0)
	if err := play.WaitStderr(testutil.FFmpegPlaySent, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	pub := ffmpegPublish(t, ctx, src, url)
	if err := pub.Wait(avClip.Duration + 30*time.Second); err != nil {
		t.Fatalf("publish: %v", err)
	}
	if err := play.Wait(30 * time.Second); err != nil {
		t.Fatalf("play: %v", err)
	}
	checkMedia(t, sent, testutil.Probe(t, out), 95)
}

// TestExampleClientsWithExampleServer runs the example publisher and
// player against examples/server, each with ffmpeg on the other side, and
// with each other.
func TestExampleClientsWithExampleServer(t *testing.T) {
	t.Parallel()
	src := testutil.GenerateFLV(t, avClip)
	sent := testutil.Probe(t, src)

	t.Run("examples-publish-to-ffmpeg", func(t *testing.T) {
		t.Parallel()
		srv := startExampleServer(t)
		url := srv.url("ours-to-ffmpeg")
		out := filepath.Join(t.TempDir(), "played.flv")
		play := testutil.FFmpegPlay(t, testContext(t), url, out, 0)
		if err := play.WaitStderr(testutil.FFmpegPlaySent, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		pub := startProc(t, "examples-publish", bins.publish, "-i", src, "-url", url)
		if err := pub.wait(avClip.Duration + 30*time.Second); err != nil {
			t.Fatal(err)
		}
		if err := play.Wait(30 * time.Second); err != nil {
			t.Fatalf("play: %v", err)
		}
		checkMedia(t, sent, testutil.Probe(t, out), 95)
	})

	t.Run("ffmpeg-to-examples-play", func(t *testing.T) {
		t.Parallel()
		srv := startExampleServer(t)
		url := srv.url("ffmpeg-to-ours")
		out := filepath.Join(t.TempDir(), "played.flv")
		play := startProc(t, "examples-play", bins.play, "-url", url, "-o", out)
		if err := play.waitLog("msg=playing", 30*time.Second); err != nil {
			t.Fatal(err)
		}
		pub := ffmpegPublish(t, testContext(t), src, url)
		if err := pub.Wait(avClip.Duration + 30*time.Second); err != nil {
			t.Fatalf("publish: %v", err)
		}
		if err := play.wait(30 * time.Second); err != nil {
			t.Fatal(err)
		}
		got := testutil.Probe(t, out)
		checkMedia(t, sent, got, 100)
		if got.VideoFrames != sent.VideoFrames {
			t.Errorf("%d video frames recorded, want the %d published", got.VideoFrames, sent.VideoFrames)
		}
		if h, _ := readFLV(t, out); !h.Audio || !h.Video {
			t.Errorf("FLV header flags audio %v video %v, want both", h.Audio, h.Video)
		}
	})

	t.Run("examples-publish-to-examples-play", func(t *testing.T) {
		t.Parallel()
		srv := startExampleServer(t)
		url := srv.url("ours-to-ours")
		out := filepath.Join(t.TempDir(), "played.flv")
		play := startProc(t, "examples-play", bins.play, "-url", url, "-o", out)
		if err := play.waitLog("msg=playing", 30*time.Second); err != nil {
			t.Fatal(err)
		}
		pub := startProc(t, "examples-publish", bins.publish, "-i", src, "-url", url)
		if err := pub.wait(avClip.Duration + 30*time.Second); err != nil {
			t.Fatal(err)
		}
		if err := play.wait(30 * time.Second); err != nil {
			t.Fatal(err)
		}
		checkMedia(t, sent, testutil.Probe(t, out), 100)

		// Every tag arrives unchanged: body, type and timestamp, and the
		// metadata without "@setDataFrame".
		srcHeader, srcTags := readFLV(t, src)
		gotHeader, gotTags := readFLV(t, out)
		if gotHeader != srcHeader {
			t.Errorf("FLV header %+v, want %+v", gotHeader, srcHeader)
		}
		compareTags(t, "examples/play recording", mediaTags(srcTags), mediaTags(gotTags))
		if len(gotTags) == 0 || gotTags[0].Type != flv.TagScript || !bytes.Equal(gotTags[0].Body, srcTags[0].Body) {
			t.Error("the recording does not start with the published onMetaData tag")
		}
	})
}

// TestLateJoinerStartsOnKeyframe joins a stream in the middle of a 2 s GOP:
// a player must get its first video frame at once, and as a keyframe,
// from the GOP cache rather than waiting up to 2 s for the next keyframe.
// Both the pkg/rtmp client (which measures the time to the first frame)
// and ffmpeg join late.
func TestLateJoinerStartsOnKeyframe(t *testing.T) {
	t.Parallel()
	clip := testutil.MediaOptions{Duration: 6 * time.Second, GOP: 50} // 25 fps: keyframes at 0, 2 and 4 s
	src := testutil.GenerateFLV(t, clip)
	sent := testutil.Probe(t, src)
	_, srcTags := readFLV(t, src)
	srv := startExampleServer(t)
	url := srv.url("late")
	ctx := testContext(t)

	pub := startProc(t, "examples-publish", bins.publish, "-i", src, "-url", url)
	started := srv.waitEntry(t, 30*time.Second, "publish started", "stream", "live/late")
	// Join 2.5 s in: the GOP cache holds the frames since 2 s; the next
	// keyframe comes at 4 s, 1.5 s later.
	select {
	case <-time.After(time.Until(started.time().Add(2500 * time.Millisecond))):
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
	out := filepath.Join(t.TempDir(), "late.flv")
	ffplay := testutil.FFmpegPlay(t, ctx, url, out, 0)
	// examples/play joins too and records 2 s of media from its first frame.
	ourOut := filepath.Join(t.TempDir(), "late-ours.flv")
	ourPlay := startProc(t, "examples-play", bins.play, "-url", url, "-o", ourOut, "-duration", "2s")

	start := time.Now()
	c, err := rtmp.Dial(ctx, url, rtmp.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Play(ctx, ""); err != nil {
		t.Fatal(err)
	}
	joined := time.Since(started.time())
	var kinds []string
	var first *rtmp.Message
	for first == nil {
		m, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("read: %v (after %v)", err, kinds)
		}
		switch {
		case m.Kind == rtmp.KindData:
			kinds = append(kinds, m.Data.Name)
		case m.Kind == rtmp.KindVideo && flv.IsSequenceHeader(flv.TagVideo, m.Payload):
			kinds = append(kinds, "video sequence header")
		case m.Kind == rtmp.KindAudio && flv.IsSequenceHeader(flv.TagAudio, m.Payload):
			kinds = append(kinds, "audio sequence header")
		case m.Kind == rtmp.KindVideo:
			first = m.Clone()
		}
	}
	elapsed := time.Since(start)
	t.Logf("pkg/rtmp player joined %v into the stream; first video frame (ts %d ms, keyframe %v) %v after dialling; before it: %v",
		joined.Round(time.Millisecond), first.Timestamp, flv.IsKeyframe(flv.TagVideo, first.Payload), elapsed.Round(time.Millisecond), kinds)
	if !flv.IsKeyframe(flv.TagVideo, first.Payload) {
		t.Error("the first video frame is not a keyframe")
	}
	if elapsed >= time.Second {
		t.Errorf("first video frame after %v, want < 1 s", elapsed)
	}
	if want := cachedKeyframes(srcTags, joined); !slices.Contains(want, first.Timestamp) {
		t.Errorf("first video frame has timestamp %d ms, want the cached keyframe (one of %v ms)", first.Timestamp, want)
	}
	for _, want := range []string{"onMetaData", "video sequence header", "audio sequence header"} {
		if !slices.Contains(kinds, want) {
			t.Errorf("%s missing before the first frame (got %v)", want, kinds)
		}
	}

	if err := pub.wait(clip.Duration + 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := ffplay.Wait(30 * time.Second); err != nil {
		t.Fatalf("ffmpeg late player: %v", err)
	}
	if err := ourPlay.wait(30 * time.Second); err != nil {
		t.Fatalf("examples/play late player: %v", err)
	}
	ours := testutil.Probe(t, ourOut)
	t.Logf("examples/play late joiner recorded %d video frames (%d keyframes) with -duration 2s, first is a keyframe: %v",
		ours.VideoFrames, ours.VideoKeyframes, ours.FirstVideoPacketIsKey)
	if !ours.FirstVideoPacketIsKey || ours.VideoFrames < 49 || ours.VideoFrames > 51 {
		t.Errorf("examples/play late joiner: %d video frames (first is a keyframe: %v), want 2 s at 25 fps from a keyframe",
			ours.VideoFrames, ours.FirstVideoPacketIsKey)
	}
	// When ffmpeg joined, from the server's log.
	conn := srv.waitEntry(t, time.Second, "client connected", "flash_ver", "LNX 9,0,124,2")
	play := srv.waitEntry(t, time.Second, "play started", "remote", conn.str("remote"))
	ffJoined := play.time().Sub(started.time())
	if ffJoined > clip.Duration-200*time.Millisecond {
		t.Fatalf("ffmpeg joined %v into a %v stream: too late to test anything (machine overloaded?)", ffJoined, clip.Duration)
	}
	got := testutil.Probe(t, out)
	t.Logf("ffmpeg player joined %v into the stream and recorded %d of %d video frames (%d keyframes), first is a keyframe: %v",
		ffJoined.Round(time.Millisecond), got.VideoFrames, sent.VideoFrames, got.VideoKeyframes, got.FirstVideoPacketIsKey)
	if !got.FirstVideoPacketIsKey {
		t.Error("the ffmpeg late joiner's recording does not start with a keyframe")
	}
	// The recording runs from the cached keyframe to the end: a player
	// made to wait for the next keyframe would have a GOP less.
	var want []int
	for _, ts := range cachedKeyframes(srcTags, ffJoined) {
		n := 0
		for _, tag := range srcTags {
			if tag.Type != flv.TagVideo || tag.Timestamp < ts {
				continue
			}
			if isPicture(tag.Body) {
				n++
			}
		}
		want = append(want, n)
	}
	if !slices.Contains(want, got.VideoFrames) {
		t.Errorf("ffmpeg late joiner recorded %d video frames, want one of %v (from the cached keyframe on)", got.VideoFrames, want)
	}
}

// cachedKeyframes returns the timestamps of the keyframes among tags that
// a player joining the stream at offset joined (the stream being paced
// from timestamp 0) may start with: the latest one at or before joined,
// and a neighbour within 150 ms of joined, since the offset is measured.
func cachedKeyframes(tags []flv.Tag, joined time.Duration) []uint32 {
	at := uint32(joined.Milliseconds())
	var out []uint32
	for _, tag := range tags {
		if tag.Type != flv.TagVideo || !flv.IsKeyframe(tag.Type, tag.Body) {
			continue
		}
		switch ts := tag.Timestamp; {
		case ts <= at:
			if len(out) > 0 && out[len(out)-1]+150 < at {
				out = out[:0]
			}
			out = append(out, ts)
		case ts < at+150:
			out = append(out, ts)
		}
	}
	return out
}

// TestStalledPlayerDoesNotSlowOthers plays a stream with a client that
// stops reading after play, next to a healthy ffmpeg player: the healthy
// player must get every frame, and the stalled one must be disconnected.
func TestStalledPlayerDoesNotSlowOthers(t *testing.T) {
	t.Parallel()
	clip := testutil.MediaOptions{Duration: 5 * time.Second, Width: 640, Height: 360, VideoKbps: 2000}
	src := testutil.GenerateFLV(t, clip)
	sent := testutil.Probe(t, src)
	// A small socket send buffer makes the stalled player's writes block
	// within a fraction of a second; it is then disconnected 1 s later.
	srv := startExampleServer(t, "-player-max-lag", "1s", "-sndbuf", "16KiB", "-player-queue", "1MiB")
	url := srv.url("stall")
	ctx := testContext(t)
	out := filepath.Join(t.TempDir(), "healthy.flv")

	healthy := testutil.FFmpegPlay(t, ctx, url, out, 0)
	if err := healthy.WaitStderr(testutil.FFmpegPlaySent, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	srv.waitEntry(t, 30*time.Second, "play started", "stream", "live/stall")

	// The stalled player: handshake, connect and play, then never read.
	nc, err := net.Dial("tcp", srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := nc.(*net.TCPConn).SetReadBuffer(4096); err != nil {
		t.Fatal(err)
	}
	stalled, err := rtmp.NewClientConn(nc, url, rtmp.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := stalled.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := stalled.Play(ctx, ""); err != nil {
		t.Fatal(err)
	}
	stalledAddr := nc.LocalAddr().String()

	pub := ffmpegPublish(t, ctx, src, url)
	if err := pub.Wait(clip.Duration + 30*time.Second); err != nil {
		t.Fatalf("publish: %v", err)
	}
	if err := healthy.Wait(30 * time.Second); err != nil {
		t.Fatalf("healthy player: %v", err)
	}
	checkMedia(t, sent, testutil.Probe(t, out), 99)

	kicked := srv.waitEntry(t, 10*time.Second, "play ended", "remote", stalledAddr, "reason", "fanout: player too slow")
	pubStart := srv.waitEntry(t, time.Second, "publish started", "stream", "live/stall")
	pubEnd := srv.waitEntry(t, 10*time.Second, "publish ended", "stream", "live/stall")
	t.Logf("stalled player disconnected %v after the publish started (publish lasted %v); it had been sent %v messages",
		kicked.time().Sub(pubStart.time()).Round(time.Millisecond), pubEnd.time().Sub(pubStart.time()).Round(time.Millisecond), kicked.num("sent"))
	if !kicked.time().Before(pubEnd.time()) {
		t.Error("the stalled player was disconnected only after the publisher ended")
	}
	// ffmpeg -re publishes in real time unless the server holds it back.
	if lasted := pubEnd.time().Sub(pubStart.time()); lasted > clip.Duration+2*time.Second {
		t.Errorf("the %v publish lasted %v: the stalled player slowed the publisher down", clip.Duration, lasted)
	}
	// The server has closed the connection: reading what is left ends.
	if err := nc.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, nc)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("the stalled player's connection is still open (read %d bytes, then nothing)", n)
	}
	_ = stalled.Close()
}

// dialPlayer connects a pkg/rtmp player to url.
func dialPlayer(ctx context.Context, t *testing.T, url string, cfg rtmp.ClientConfig) *rtmp.ClientConn {
	t.Helper()
	c, err := rtmp.Dial(ctx, url, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Play(ctx, ""); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRTMPS serves RTMPS from examples/server with a self-signed
// certificate: ffmpeg publishes and plays over TLS, and a pkg/rtmp player
// that verifies the certificate plays along.
func TestRTMPS(t *testing.T) {
	t.Parallel()
	src := testutil.GenerateFLV(t, avClip)
	sent := testutil.Probe(t, src)
	certFile, keyFile, pool := selfSignedCert(t)
	tlsAddr := testutil.FreeAddr(t)
	srv := startExampleServer(t, "-rtmps-addr", tlsAddr, "-cert", certFile, "-key", keyFile)
	srv.waitEntry(t, 10*time.Second, "listening", "scheme", "rtmps")
	url := "rtmps://" + tlsAddr + "/live/tls"
	ctx := testContext(t)
	out := filepath.Join(t.TempDir(), "played.flv")

	play := testutil.FFmpegPlay(t, ctx, url, out, 0)
	if err := play.WaitStderr(testutil.FFmpegPlaySent, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	ours := dialPlayer(ctx, t, url, rtmp.ClientConfig{TLSConfig: &tls.Config{RootCAs: pool}})
	frames := make(chan int, 1)
	go func() {
		n := 0
		defer func() { frames <- n }()
		for {
			m, err := ours.ReadMessage()
			if err != nil || (m.Kind == rtmp.KindStatus && m.Status.Code == rtmp.CodePlayUnpublishNotify) {
				return
			}
			if m.Kind == rtmp.KindVideo && isPicture(m.Payload) {
				n++
			}
		}
	}()

	pub := ffmpegPublish(t, ctx, src, url)
	if err := pub.Wait(avClip.Duration + 30*time.Second); err != nil {
		t.Fatalf("publish: %v", err)
	}
	if err := play.Wait(30 * time.Second); err != nil {
		t.Fatalf("play: %v", err)
	}
	checkMedia(t, sent, testutil.Probe(t, out), 95)
	select {
	case n := <-frames:
		t.Logf("pkg/rtmp player over verified TLS received %d video frames", n)
		if n != sent.VideoFrames {
			t.Errorf("pkg/rtmp player received %d video frames, want %d", n, sent.VideoFrames)
		}
	case <-time.After(30 * time.Second):
		t.Error("pkg/rtmp player did not get NetStream.Play.UnpublishNotify")
	}
	if e := srv.waitEntry(t, time.Second, "publish started", "stream", "live/tls"); e.str("handshake") != "digest" {
		t.Errorf("ffmpeg over TLS: handshake %q, want digest", e.str("handshake"))
	}
}

// selfSignedCert writes a certificate for 127.0.0.1 and its key to PEM
// files and returns their paths and a pool trusting the certificate.
func selfSignedCert(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "tributary interop"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// isPicture reports whether a video tag body carries coded frames, not a
// sequence header or an end of sequence.
func isPicture(body []byte) bool {
	h, err := flv.ParseVideoHeader(body)
	return err == nil && (h.PacketType == flv.VideoPacketCodedFrames || h.PacketType == flv.VideoPacketCodedFramesX)
}

// TestRepublishAndDuplicatePublish checks the life of a stream on
// examples/server: a second publisher of a live stream is refused with
// NetStream.Publish.BadName; when the publisher leaves, a player gets
// NetStream.Play.UnpublishNotify and stays connected, and when the stream
// is published again it gets NetStream.Play.PublishNotify, then the new
// publisher's metadata, sequence header and keyframe.
func TestRepublishAndDuplicatePublish(t *testing.T) {
	t.Parallel()
	srv := startExampleServer(t)
	url := srv.url("again")
	ctx := testContext(t)
	player := dialPlayer(ctx, t, url, rtmp.ClientConfig{})

	// Bodies: onMetaData as an FLV script tag body ("onMetaData", an ECMA
	// array {"pass": n}), an AVC sequence header (key | AVC, packet type
	// 0, CTS 0, record) and an AVC keyframe (key | AVC, NALUs, CTS 0).
	metaBody := func(pass byte) []byte {
		return []byte{0x02, 0x00, 0x0a, 'o', 'n', 'M', 'e', 't', 'a', 'D', 'a', 't', 'a',
			0x08, 0x00, 0x00, 0x00, 0x01, 0x00, 0x04, 'p', 'a', 's', 's',
			0x00, 0x40, pass, 0, 0, 0, 0, 0, 0, 0x00, 0x00, 0x09}
	}
	seq := []byte{0x17, 0x00, 0x00, 0x00, 0x00, 0x01, 0x42, 0xc0, 0x1e}
	key := func(pass byte) []byte {
		return []byte{0x17, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x65, pass}
	}

	publish := func(pass byte) *rtmp.ClientConn {
		p, err := rtmp.Dial(ctx, url, rtmp.ClientConfig{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		if err := p.Connect(ctx); err != nil {
			t.Fatal(err)
		}
		if err := p.Publish(ctx, ""); err != nil {
			t.Fatalf("publish %d: %v", pass, err)
		}
		if err := p.WriteData(0, metaBody(pass)); err != nil {
			t.Fatal(err)
		}
		if err := p.WriteVideo(0, seq); err != nil {
			t.Fatal(err)
		}
		if err := p.WriteVideo(0, key(pass)); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// next returns the next status code, data name or media of the
	// player, as a string.
	next := func() string {
		type result struct {
			s   string
			err error
		}
		ch := make(chan result, 1)
		go func() {
			for {
				m, err := player.ReadMessage()
				switch {
				case err != nil:
					ch <- result{err: err}
				case m.Kind == rtmp.KindStatus && m.Status.Code != rtmp.CodePlayReset && m.Status.Code != rtmp.CodePlayStart:
					ch <- result{s: m.Status.Code}
				case m.Kind == rtmp.KindData && m.Data.Name != "|RtmpSampleAccess":
					ch <- result{s: "data " + string(m.Payload)}
				case m.Kind == rtmp.KindVideo:
					ch <- result{s: "video " + string(m.Payload)}
				default:
					continue
				}
				return
			}
		}()
		select {
		case r := <-ch:
			if r.err != nil {
				t.Fatalf("player: %v", r.err)
			}
			return r.s
		case <-time.After(20 * time.Second):
			player.Close()
			<-ch
			t.Fatal("the player received nothing for 20 s")
			return ""
		}
	}
	expect := func(what string, want ...string) {
		t.Helper()
		for _, w := range want {
			if got := next(); got != w {
				t.Fatalf("%s: player got %q, want %q", what, got, w)
			}
		}
	}

	first := publish(1)
	expect("first publish", rtmp.CodePlayPublishNotify, "data "+string(metaBody(1)), "video "+string(seq), "video "+string(key(1)))

	// A second publisher of the live stream is refused.
	dup, err := rtmp.Dial(ctx, url, rtmp.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer dup.Close()
	if err := dup.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := dup.Publish(ctx, ""); !errors.Is(err, rtmp.ErrBadName) {
		t.Fatalf("second publisher: %v, want NetStream.Publish.BadName", err)
	}

	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	expect("first publisher gone", rtmp.CodePlayUnpublishNotify)

	publish(2)
	expect("second publish", rtmp.CodePlayPublishNotify, "data "+string(metaBody(2)), "video "+string(seq), "video "+string(key(2)))
	srv.waitEntry(t, 5*time.Second, "publish rejected", "stream", "live/again")
}
