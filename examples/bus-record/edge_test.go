package main

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/tributary-media/tributary/internal/edge"
	"github.com/tributary-media/tributary/internal/testutil"
	"github.com/tributary-media/tributary/internal/testutil/natstest"
	"github.com/tributary-media/tributary/pkg/bus"
)

// TestRecordFFmpegThroughEdge is the consumer's view of the whole path:
// ffmpeg publishes over RTMP to an edge, the recorder, which knows only
// pkg/bus, records the stream from NATS, and ffprobe finds every frame of
// the source in the recording.
func TestRecordFFmpegThroughEdge(t *testing.T) {
	testutil.RequireTool(t, "ffmpeg")
	src := testutil.GenerateFLV(t, testutil.MediaOptions{Duration: 3 * time.Second})
	want := testutil.Probe(t, src)
	srv := natstest.Start(t, natstest.Options{})
	e, err := edge.New(edge.Config{ID: "e", NATS: srv.Connect(t, bus.ReconnectOptions()...), DrainTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- e.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Error(err)
		}
	}()

	out := filepath.Join(t.TempDir(), "out.flv")
	rec := startRecorder(t, buildRecorder(t), "-nats", srv.URL(), "-app", "live", "-name", "cam.1", "-o", out)
	rec.waitLine(t, "msg=recording")
	pctx, pcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer pcancel()
	pub := testutil.FFmpegPublish(t, pctx, src, "rtmp://"+ln.Addr().String()+"/live/cam.1")
	if err := pub.Wait(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	rec.wait(t) // the publisher's clean end ends the recording

	got := testutil.Probe(t, out)
	if got.VideoCodec != "h264" || got.AudioCodec != "aac" || !got.FirstVideoPacketIsKey {
		t.Fatalf("recording: codecs %s/%s, first video packet key %v", got.VideoCodec, got.AudioCodec, got.FirstVideoPacketIsKey)
	}
	// The recorder starts at the first video keyframe: ffmpeg may send an
	// audio frame or two before it.
	if got.VideoFrames != want.VideoFrames || got.AudioFrames > want.AudioFrames || got.AudioFrames < want.AudioFrames-2 {
		t.Fatalf("recording has %d video and %d audio frames, the source %d and %d",
			got.VideoFrames, got.AudioFrames, want.VideoFrames, want.AudioFrames)
	}
	t.Logf("recorded %d video and %d audio frames, as published", got.VideoFrames, got.AudioFrames)
}
