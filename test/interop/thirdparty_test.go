package interop_test

import (
	"cmp"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tributary-media/tributary/internal/testutil"
	"github.com/tributary-media/tributary/pkg/rtmp"
	"github.com/tributary-media/tributary/pkg/rtmp/flv"
	"github.com/tributary-media/tributary/pkg/rtmp/handshake"
)

// TestExampleClientsWithNginx publishes with examples/publish to
// nginx-rtmp while examples/play records the stream from it.
func TestExampleClientsWithNginx(t *testing.T) {
	t.Parallel()
	src := testutil.GenerateFLV(t, avClip)
	sent := testutil.Probe(t, src)
	// publish_notify makes nginx send NetStream.Play.UnpublishNotify when
	// the publisher leaves, which ends the recording.
	addr := testutil.StartNginxRTMP(t, testutil.NginxOptions{AppDirectives: []string{"publish_notify on;"}})
	url := "rtmp://" + addr + "/live/ours"
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
	got := testutil.Probe(t, out)
	checkMedia(t, sent, got, 95)
	h, gotTags := readFLV(t, out)
	if !h.Audio || !h.Video {
		t.Errorf("FLV header flags audio %v video %v, want both", h.Audio, h.Video)
	}
	// nginx relays every audio and video body and timestamp unchanged; it
	// sends the two sequence headers of timestamp 0 audio first, so the
	// tags are compared in (timestamp, type) order.
	_, srcTags := readFLV(t, src)
	compareTags(t, "examples/play recording through nginx", sortTags(mediaTags(srcTags)), sortTags(mediaTags(gotTags)))
}

// sortTags sorts tags by timestamp, then type, keeping the order of equal
// ones.
func sortTags(tags []flv.Tag) []flv.Tag {
	slices.SortStableFunc(tags, func(a, b flv.Tag) int {
		return cmp.Or(cmp.Compare(a.Timestamp, b.Timestamp), cmp.Compare(a.Type, b.Type))
	})
	return tags
}

// TestHandshakeModes checks which handshake examples/server completes with
// each real client, as the server reports it: ffmpeg (publisher and
// player) and nginx-rtmp's relay send a digest C1; node-media-server's
// RTMP client (the one its relays use) sends the plain handshake; the
// pkg/rtmp client sends a digest by default and the plain form when asked.
func TestHandshakeModes(t *testing.T) {
	t.Parallel()
	src := testutil.GenerateFLV(t, avClip)
	srv := startExampleServer(t)

	// each case makes a real client publish or play name on srv and
	// expects the server to log mode for it.
	tests := []struct {
		name, stream, msg, mode string
		run                     func(t *testing.T, name string)
	}{
		{
			name: "ffmpeg publisher", stream: "hs-ffmpeg-pub", msg: "publish started", mode: "digest",
			run: func(t *testing.T, name string) {
				ffmpegPublish(t, testContext(t), src, srv.url(name))
			},
		},
		{
			// ffmpeg, when playing, validates the digest of the server's
			// S1 and the signature of S2: it only sends play if they
			// verify.
			name: "ffmpeg player", stream: "hs-ffmpeg-play", msg: "play started", mode: "digest",
			run: func(t *testing.T, name string) {
				testutil.FFmpegPlay(t, testContext(t), srv.url(name), filepath.Join(t.TempDir(), "out.flv"), 0)
			},
		},
		{
			name: "nginx-rtmp push relay", stream: "hs-nginx", msg: "publish started", mode: "digest",
			run: func(t *testing.T, name string) {
				addr := testutil.StartNginxRTMP(t, testutil.NginxOptions{
					AppDirectives: []string{"push rtmp://" + srv.addr + "/live;"},
				})
				ffmpegPublish(t, testContext(t), src, "rtmp://"+addr+"/live/"+name)
			},
		},
		{
			name: "node-media-server client", stream: "hs-nms", msg: "play started", mode: "simple",
			run: func(t *testing.T, name string) {
				module := testutil.NodeMediaServerModule(t)
				p := testutil.RunNodeScript(t, testContext(t), nmsPlayScript, module, srv.url(name))
				if err := p.WaitStderr("PLAYING", 30*time.Second); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "pkg/rtmp client", stream: "hs-ours-digest", msg: "play started", mode: "digest",
			run: func(t *testing.T, name string) {
				dialPlayer(testContext(t), t, srv.url(name), rtmp.ClientConfig{})
			},
		},
		{
			name: "pkg/rtmp client, simple", stream: "hs-ours-simple", msg: "play started", mode: "simple",
			run: func(t *testing.T, name string) {
				dialPlayer(testContext(t), t, srv.url(name), rtmp.ClientConfig{Handshake: handshake.ClientConfig{Simple: true}})
			},
		},
		{
			name: "examples/publish -simple-handshake", stream: "hs-publish-simple", msg: "publish started", mode: "simple",
			run: func(t *testing.T, name string) {
				startProc(t, "examples-publish", bins.publish, "-simple-handshake", "-i", src, "-url", srv.url(name))
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, tc.stream)
			e := srv.waitEntry(t, 30*time.Second, tc.msg, "stream", "live/"+tc.stream)
			t.Logf("%s: handshake %s (%s)", tc.name, e.str("handshake"), tc.msg)
			if got := e.str("handshake"); got != tc.mode {
				t.Errorf("%s: server completed the %q handshake, want %q", tc.name, got, tc.mode)
			}
			if c := srv.waitEntry(t, time.Second, "client connected", "remote", e.str("remote")); c.str("handshake") != tc.mode {
				t.Errorf("connect logged handshake %q, want %q", c.str("handshake"), tc.mode)
			}
		})
	}
}

// nmsPlayScript plays a stream with node-media-server's own RTMP client
// (src/protocol/rtmp_client.js, which its relays use), prints
// PLAYING once the server has answered NetStream.Play.Start, and leaves
// half a second later.
const nmsPlayScript = `"use strict";
const path = require("path");
const [moduleDir, url] = process.argv.slice(2);
const RtmpClient = require(path.join(moduleDir, "src", "protocol", "rtmp_client.js"));
require(path.join(moduleDir, "src", "core", "logger.js")).level = "error";
setTimeout(() => { console.error("timed out"); process.exit(2); }, 30000).unref();
(async () => {
  const c = new RtmpClient();
  await c.connect(url);
  await c.sendConnect();
  await c.sendCreateStream();
  await c.sendPlay(new URL(url).pathname.split("/").pop());
  console.log("PLAYING");
  setTimeout(() => { c.disconnect(); process.exit(0); }, 500);
})().catch((e) => { console.error(e); process.exit(1); });
`
