package rtmp_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tributary-media/tributary/internal/testutil"
	"github.com/tributary-media/tributary/pkg/rtmp"
	"github.com/tributary-media/tributary/pkg/rtmp/flv"
	"github.com/tributary-media/tributary/pkg/rtmp/handshake"
)

// ingestResult is what a Server handler saw of one ffmpeg publish.
type ingestResult struct {
	mode                   handshake.Mode
	app, name              string
	videoFrames, keyframes int
	audioFrames            int
	videoCodec, audioCodec flv.Codec
	seqV, seqA             int
	meta                   int
	unpublished            bool
}

// TestFFmpegPublishToServer: ffmpeg (digest handshake) publishes an
// H.264/AAC file to a Server whose handler accepts connect and publish and
// reads every media message; the video frame count must equal what
// ffprobe counts in the source.
func TestFFmpegPublishToServer(t *testing.T) {
	testutil.RequireTool(t, "ffmpeg")
	src := testutil.GenerateFLV(t, testutil.MediaOptions{Duration: 3 * time.Second})
	probe := testutil.Probe(t, src)

	results := make(chan ingestResult, 1)
	srv := &rtmp.Server{Handler: func(ctx context.Context, c *rtmp.ServerConn) error {
		var res ingestResult
		req, err := c.ReadConnect()
		if err != nil {
			return err
		}
		res.mode, res.app = c.HandshakeResult().Mode, req.App
		if err := c.AcceptConnect(nil); err != nil {
			return err
		}
		defer func() { results <- res }()
		for {
			m, err := c.ReadMessage()
			if err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return err
			}
			switch m.Kind {
			case rtmp.KindPublish:
				res.name = m.Publish.Name
				if err := c.AcceptPublish(m.Publish); err != nil {
					return err
				}
			case rtmp.KindVideo:
				res.videoCodec = flv.TagCodec(flv.TagVideo, m.Payload)
				switch {
				case flv.IsSequenceHeader(flv.TagVideo, m.Payload):
					res.seqV++
				case isCodedVideo(m.Payload):
					res.videoFrames++
					if flv.IsKeyframe(flv.TagVideo, m.Payload) {
						res.keyframes++
					}
				}
			case rtmp.KindAudio:
				res.audioCodec = flv.TagCodec(flv.TagAudio, m.Payload)
				if flv.IsSequenceHeader(flv.TagAudio, m.Payload) {
					res.seqA++
				} else {
					res.audioFrames++
				}
			case rtmp.KindData:
				if m.Data.Name == "onMetaData" {
					res.meta++
				}
			case rtmp.KindUnpublish:
				res.unpublished = true
				return nil
			default:
				t.Logf("message %v %+v", m.Kind, m.Command)
			}
		}
	}}
	addr := startServer(t, srv)
	ctx := testCtx(t)
	p := testutil.FFmpegPublish(t, ctx, src, "rtmp://"+addr+"/live/ffmpeg")
	if err := p.Wait(20 * time.Second); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, p.Stderr())
	}
	var res ingestResult
	select {
	case res = <-results:
	case <-time.After(10 * time.Second):
		t.Fatal("handler did not finish")
	}
	if res.mode != handshake.Digest {
		t.Errorf("ffmpeg handshake %v, want digest", res.mode)
	}
	if res.app != "live" || res.name != "ffmpeg" {
		t.Errorf("app %q name %q", res.app, res.name)
	}
	if res.videoFrames != probe.VideoFrames {
		t.Errorf("received %d video frames, source has %d", res.videoFrames, probe.VideoFrames)
	}
	if res.keyframes != probe.VideoKeyframes {
		t.Errorf("received %d keyframes, source has %d", res.keyframes, probe.VideoKeyframes)
	}
	if res.videoCodec != flv.CodecAVC || res.audioCodec != flv.CodecAAC {
		t.Errorf("codecs %v/%v, want AVC/AAC", res.videoCodec, res.audioCodec)
	}
	if res.seqV != 1 || res.seqA != 1 || res.meta != 1 {
		t.Errorf("sequence headers %d/%d, metadata %d; want 1 each", res.seqV, res.seqA, res.meta)
	}
	if res.audioFrames == 0 || !res.unpublished {
		t.Errorf("audio frames %d, unpublished %v", res.audioFrames, res.unpublished)
	}
}

// isCodedVideo reports whether a video tag body carries coded frames (not a
// sequence header or end of sequence).
func isCodedVideo(body []byte) bool {
	h, err := flv.ParseVideoHeader(body)
	return err == nil && !h.HasCommand &&
		(h.PacketType == flv.VideoPacketCodedFrames || h.PacketType == flv.VideoPacketCodedFramesX)
}

// publishFile publishes an FLV file with our client, pacing tags by their
// timestamps (speed times real time).
func publishFile(ctx context.Context, c *rtmp.ClientConn, path string, speed float64) (video int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	r := flv.NewReader(bufio.NewReader(f), flv.ReaderConfig{})
	start := time.Now()
	var tag flv.Tag
	for {
		if err := r.ReadTag(&tag); err != nil {
			if errors.Is(err, io.EOF) {
				return video, nil
			}
			return video, err
		}
		due := start.Add(time.Duration(float64(tag.Timestamp)/speed) * time.Millisecond)
		select {
		case <-ctx.Done():
			return video, ctx.Err()
		case <-time.After(time.Until(due)):
		}
		switch tag.Type {
		case flv.TagVideo:
			if isCodedVideo(tag.Body) {
				video++
			}
			err = c.WriteVideo(tag.Timestamp, tag.Body)
		case flv.TagAudio:
			err = c.WriteAudio(tag.Timestamp, tag.Body)
		case flv.TagScript:
			err = c.WriteData(tag.Timestamp, tag.Body)
		}
		if err != nil {
			return video, err
		}
	}
}

// TestClientPublishToNginx: our client (digest handshake) publishes to
// nginx-rtmp while ffmpeg plays the stream from nginx; ffprobe must count
// at least 95% of the published video frames in what ffmpeg recorded.
func TestClientPublishToNginx(t *testing.T) {
	testutil.RequireTool(t, "ffmpeg")
	testutil.RequireTool(t, "nginx")
	src := testutil.GenerateFLV(t, testutil.MediaOptions{Duration: 4 * time.Second})
	probe := testutil.Probe(t, src)
	addr := testutil.StartNginxRTMP(t, testutil.NginxOptions{AppDirectives: []string{"publish_notify on;"}})
	ctx := testCtx(t)

	// Our client's default handshake (a schema-1 digest C1) is answered by
	// nginx-rtmp with a digest S1.
	nc := dialTCP(t, addr)
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	if res, err := handshake.Client(nc, handshake.ClientConfig{}); err != nil || res.Mode != handshake.Digest {
		t.Errorf("handshake with nginx-rtmp: %v, %v; want digest", res.Mode, err)
	}
	nc.Close()

	out := filepath.Join(t.TempDir(), "out.flv")
	player := testutil.FFmpegPlay(t, ctx, "rtmp://"+addr+"/live/ours", out, 0)
	if err := player.WaitStderr(testutil.FFmpegPlaySent, 10*time.Second); err != nil {
		t.Fatalf("player: %v", err)
	}
	c, err := rtmp.Dial(ctx, "rtmp://"+addr+"/live/ours", rtmp.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Connect(ctx); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	if err := c.Publish(ctx, ""); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	sent, err := publishFile(ctx, c, src, 1)
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if sent != probe.VideoFrames {
		t.Fatalf("sent %d frames, source has %d", sent, probe.VideoFrames)
	}
	waitStart := time.Now()
	if err := player.Wait(15 * time.Second); err != nil {
		t.Fatalf("player: %v", err)
	}
	t.Logf("player ended %v after the publisher closed", time.Since(waitStart))
	got := testutil.Probe(t, out)
	if got.VideoCodec != "h264" || got.AudioCodec != "aac" {
		t.Errorf("codecs %q/%q", got.VideoCodec, got.AudioCodec)
	}
	if got.VideoFrames*100 < sent*95 {
		t.Errorf("player got %d of %d video frames", got.VideoFrames, sent)
	}
	t.Logf("player recorded %d of %d video frames", got.VideoFrames, sent)
}

// TestFFmpegPlayFromServer: our client publishes to a Server running the
// test hub while ffmpeg plays from it; ffmpeg must see the whole stream
// from its first keyframe and stop on UnpublishNotify.
func TestFFmpegPlayFromServer(t *testing.T) {
	testutil.RequireTool(t, "ffmpeg")
	src := testutil.GenerateFLV(t, testutil.MediaOptions{Duration: 4 * time.Second})
	probe := testutil.Probe(t, src)
	addr, h, _ := startHub(t)
	ctx := testCtx(t)
	out := filepath.Join(t.TempDir(), "out.flv")
	player := testutil.FFmpegPlay(t, ctx, "rtmp://"+addr+"/live/x", out, 0)
	h.waitPlayers(t, "x", 1)
	c := dialPublish(t, "rtmp://"+addr+"/live/x", rtmp.ClientConfig{})
	var wg sync.WaitGroup
	defer wg.Wait()
	sent, err := publishFile(ctx, c, src, 1)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	waitStart := time.Now()
	if err := player.Wait(15 * time.Second); err != nil {
		t.Fatalf("player: %v", err)
	}
	t.Logf("player ended %v after the publisher closed", time.Since(waitStart))
	got := testutil.Probe(t, out)
	if got.VideoCodec != "h264" || got.AudioCodec != "aac" || got.Width != probe.Width {
		t.Errorf("codecs %q/%q width %d", got.VideoCodec, got.AudioCodec, got.Width)
	}
	if got.VideoFrames != sent || !got.FirstVideoPacketIsKey {
		t.Errorf("player got %d of %d video frames (first is key: %v)\n%s", got.VideoFrames, sent, got.FirstVideoPacketIsKey, player.Stderr())
	}
}
