package interop_test

import (
	"bytes"
	"cmp"
	"encoding/hex"
	"encoding/json"
	"os"
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

// TestNodeMediaServerClientPublishes publishes H.264/AAC with
// node-media-server's own RTMP client (the one its relays push with) to
// examples/server while a pkg/rtmp player plays the stream from before the
// publish: the player must receive the metadata and every audio and video
// tag, with its body and timestamp unchanged.
//
// That client publishes on the message stream createStream returned but
// then sends every audio, video and data message on message stream id 0
// (Rtmp.createMessage in src/protocol/rtmp.js never sets a stream id), so
// the server has to take media on stream 0 as the publishing stream's.
func TestNodeMediaServerClientPublishes(t *testing.T) {
	t.Parallel()
	module := testutil.NodeMediaServerModule(t)
	src := testutil.GenerateFLV(t, avClip)
	_, srcTags := readFLV(t, src)
	want := mediaTags(srcTags)
	if len(srcTags) == 0 || srcTags[0].Type != flv.TagScript {
		t.Fatal("the generated FLV file does not start with its onMetaData tag")
	}
	meta := srcTags[0].Body

	type nmsTag struct {
		Type int    `json:"type"`
		TS   uint32 `json:"ts"`
		Hex  string `json:"hex"`
	}
	var sent []nmsTag
	for _, tag := range srcTags {
		sent = append(sent, nmsTag{Type: int(tag.Type), TS: tag.Timestamp, Hex: hex.EncodeToString(tag.Body)})
	}
	tagsFile := filepath.Join(t.TempDir(), "tags.json")
	b, err := json.Marshal(sent)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tagsFile, b, 0o644); err != nil {
		t.Fatal(err)
	}

	srv := startExampleServer(t)
	const stream = "nms-client"
	ctx := testContext(t)
	player := dialPlayer(ctx, t, srv.url(stream), rtmp.ClientConfig{})
	// The server has added the player to the stream once it logs this.
	srv.waitEntry(t, 30*time.Second, "play started", "stream", "live/"+stream)

	type result struct {
		tags  []flv.Tag
		metas [][]byte
		err   error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		for len(r.tags) < len(want) {
			m, err := player.ReadMessage()
			if err != nil {
				r.err = err
				break
			}
			switch m.Kind {
			case rtmp.KindVideo:
				r.tags = append(r.tags, flv.Tag{Type: flv.TagVideo, Timestamp: m.Timestamp, Body: slices.Clone(m.Payload)})
			case rtmp.KindAudio:
				r.tags = append(r.tags, flv.Tag{Type: flv.TagAudio, Timestamp: m.Timestamp, Body: slices.Clone(m.Payload)})
			case rtmp.KindData:
				if m.Data.Name == "onMetaData" {
					r.metas = append(r.metas, slices.Clone(m.Payload))
				}
			}
		}
		done <- r
	}()

	pub := testutil.RunNodeScript(t, ctx, nmsPublishScript, module, srv.url(stream), tagsFile)
	if err := pub.Wait(avClip.Duration + 60*time.Second); err != nil {
		t.Fatalf("node-media-server client: %v", err)
	}
	e := srv.waitEntry(t, 30*time.Second, "publish started", "stream", "live/"+stream)
	t.Logf("publish on message stream %v; client: %s", e.num("msid"), bytes.TrimSpace([]byte(pub.Stderr())))

	var r result
	select {
	case r = <-done:
	case <-time.After(30 * time.Second):
		player.Close()
		r = <-done
	}
	if r.err != nil {
		t.Errorf("the player ended after %d of %d tags: %v", len(r.tags), len(want), r.err)
	}
	count := func(tags []flv.Tag, typ flv.TagType) (n int) {
		for _, tag := range tags {
			if tag.Type == typ {
				n++
			}
		}
		return n
	}
	t.Logf("published %d video / %d audio tags; the player received %d video / %d audio tags and %d onMetaData",
		count(want, flv.TagVideo), count(want, flv.TagAudio), count(r.tags, flv.TagVideo), count(r.tags, flv.TagAudio), len(r.metas))
	if gv, ga, wv, wa := count(r.tags, flv.TagVideo), count(r.tags, flv.TagAudio), count(want, flv.TagVideo), count(want, flv.TagAudio); gv != wv || ga != wa {
		t.Errorf("the player received %d video and %d audio tags, want %d and %d", gv, ga, wv, wa)
	}
	compareTags(t, "node-media-server client through examples/server", want, r.tags)
	if len(r.metas) != 1 || !bytes.Equal(r.metas[0], meta) {
		t.Errorf("the player received %d onMetaData messages, want the published one once", len(r.metas))
	}
	// The client closed the connection once done: a normal end.
	if c := srv.waitEntry(t, 30*time.Second, "rtmp: connection closed", "remote", e.str("remote")); c.str("level") != "INFO" {
		t.Errorf("the publisher's connection end was logged at %s (%s), want INFO", c.str("level"), c.str("reason"))
	}
}

// nmsPublishScript publishes the tags listed in a JSON file ({type, ts,
// hex}: 8 audio, 9 video, 18 data) in real time with node-media-server's
// RTMP client, then closes the connection once everything is written.
const nmsPublishScript = `"use strict";
const fs = require("fs");
const path = require("path");
const [moduleDir, url, tagsFile] = process.argv.slice(2);
const RtmpClient = require(path.join(moduleDir, "src", "protocol", "rtmp_client.js"));
const AVPacket = require(path.join(moduleDir, "src", "core", "avpacket.js"));
require(path.join(moduleDir, "src", "core", "logger.js")).level = "error";
const tags = JSON.parse(fs.readFileSync(tagsFile, "utf8"));
setTimeout(() => { console.error("timed out"); process.exit(2); }, 60000).unref();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
(async () => {
  const c = new RtmpClient();
  await c.connect(url);
  await c.sendConnect();
  const id = await c.sendCreateStream();
  await c.sendPublish(new URL(url).pathname.split("/").pop());
  console.log("publishing on stream " + id);
  const start = Date.now();
  for (const t of tags) {
    const wait = start + t.ts - Date.now();
    if (wait > 0) await sleep(wait);
    const p = new AVPacket();
    p.codec_type = t.type;
    p.dts = p.pts = t.ts;
    p.data = Buffer.from(t.hex, "hex");
    p.size = p.data.length;
    c.sendPacket(p);
  }
  console.log("sent " + tags.length + " tags");
  // end() sends what is still buffered before closing, unlike disconnect().
  c.socket.end(() => process.exit(0));
})().catch((e) => { console.error(e); process.exit(1); });
`
