package testutil_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tributary-media/tributary/internal/testutil"
)

// ertmpScript publishes the tags listed in a JSON file to node-media-server
// with node-media-server's own RTMP client, while one player plays from the
// start and a second joins before the last tag, and prints what each player
// received (audio and video messages only) as one "RESULT " line of JSON.
const ertmpScript = `"use strict";
const fs = require("fs");
const path = require("path");
const [moduleDir, url, tagsFile] = process.argv.slice(2);
const RtmpClient = require(path.join(moduleDir, "src", "protocol", "rtmp_client.js"));
const AVPacket = require(path.join(moduleDir, "src", "core", "avpacket.js"));
require(path.join(moduleDir, "src", "core", "logger.js")).level = "error";

const tags = JSON.parse(fs.readFileSync(tagsFile, "utf8"));
const streamName = new URL(url).pathname.split("/").pop();
setTimeout(() => { console.error("timed out"); process.exit(2); }, 30000).unref();

function packet(t) {
  const p = new AVPacket();
  p.codec_type = t.type;
  p.dts = p.pts = t.ts;
  p.data = Buffer.from(t.hex, "hex");
  p.size = p.data.length;
  return p;
}

async function open(mode, received) {
  const c = new RtmpClient();
  if (received) {
    c.onPacketCallback = (p) => {
      if (p.codec_type === 8 || p.codec_type === 9) {
        received.push({ type: p.codec_type, ts: p.dts, hex: Buffer.from(p.data.subarray(0, p.size)).toString("hex") });
      }
    };
  }
  await c.connect(url);
  await c.sendConnect();
  await c.sendCreateStream();
  await (mode === "play" ? c.sendPlay(streamName) : c.sendPublish(streamName));
  return c;
}

function until(cond) {
  return new Promise((resolve) => {
    const t = setInterval(() => { if (cond()) { clearInterval(t); resolve(); } }, 5);
  });
}

(async () => {
  const live = [], late = [];
  await open("play", live);
  const pub = await open("publish");
  const last = tags[tags.length - 1];
  for (const t of tags.slice(0, -1)) pub.sendPacket(packet(t));
  await until(() => live.length >= tags.length - 1);
  await open("play", late);
  pub.sendPacket(packet(last));
  // The last tag reaches the late player after everything the server
  // replays to it on joining.
  await until(() => live.length >= tags.length && late.some((r) => r.hex === last.hex));
  console.log("RESULT " + JSON.stringify({ live, late }));
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });
`

// ertmpTag is one audio (8) or video (9) message.
type ertmpTag struct {
	Type int    `json:"type"`
	TS   int    `json:"ts"`
	Hex  string `json:"hex"`
}

// tag builds an ertmpTag from byte groups.
func tag(typ, ts int, parts ...[]byte) ertmpTag {
	return ertmpTag{Type: typ, TS: ts, Hex: hex.EncodeToString(bytes.Join(parts, nil))}
}

// filler returns n bytes of a seed-dependent pattern standing for codec data.
func filler(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) + seed
	}
	return b
}

// TestNodeMediaServerRelaysEnhancedRTMP records how node-media-server
// relays Enhanced RTMP, which Debian's ffmpeg 5.1 cannot send ("Video codec
// hevc not compatible with flv"): a player that plays from the start
// receives every tag byte for byte with its timestamp; a player that joins
// later receives the latest video SequenceStart and the tags since the
// latest keyframe, all unchanged.
func TestNodeMediaServerRelaysEnhancedRTMP(t *testing.T) {
	t.Parallel()
	module := testutil.NodeMediaServerModule(t)
	addr := testutil.StartNodeMediaServer(t)

	tags := []ertmpTag{
		// 0: video, IsExHeader | FrameType 1 (key) | PacketType 0 (SequenceStart), FourCC, record.
		tag(9, 0, []byte{0x90}, []byte("hvc1"), filler(40, 1)),
		// 1: audio, SoundFormat 9 (ExHeader) | AudioPacketType 0 (SequenceStart), FourCC, header.
		tag(8, 0, []byte{0x90}, []byte("Opus"), filler(19, 2)),
		// 2: key CodedFrames (1) with SI24 composition time 80 and a body
		// longer than the server's 65535-byte chunk size.
		tag(9, 0, []byte{0x91}, []byte("hvc1"), []byte{0x00, 0x00, 0x50}, filler(70000, 3)),
		// 3: audio CodedFrames.
		tag(8, 20, []byte{0x91}, []byte("Opus"), filler(30, 4)),
		// 4: inter (FrameType 2) CodedFramesX (3): no composition time.
		tag(9, 40, []byte{0xa3}, []byte("hvc1"), filler(300, 5)),
		// 5: inter CodedFrames with composition time -40.
		tag(9, 80, []byte{0xa1}, []byte("hvc1"), []byte{0xff, 0xff, 0xd8}, filler(200, 6)),
		// 6: key SequenceStart of AV1: the cached sequence header changes codec.
		tag(9, 120, []byte{0x90}, []byte("av01"), filler(20, 7)),
		// 7: key CodedFrames of AV1 (no composition time): a new GOP starts.
		tag(9, 120, []byte{0x91}, []byte("av01"), filler(500, 8)),
		// 8: inter CodedFrames of AV1.
		tag(9, 160, []byte{0xa1}, []byte("av01"), filler(100, 9)),
		// 9: inter CodedFrames of AV1, sent after the second player joined.
		tag(9, 200, []byte{0xa1}, []byte("av01"), filler(120, 10)),
	}
	tagsFile := filepath.Join(t.TempDir(), "tags.json")
	b, err := json.Marshal(tags)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tagsFile, b, 0o644); err != nil {
		t.Fatal(err)
	}

	p := testutil.RunNodeScript(t, t.Context(), ertmpScript, module, "rtmp://"+addr+"/live/ertmp", tagsFile)
	if err := p.Wait(45 * time.Second); err != nil {
		t.Fatal(err)
	}
	var res struct{ Live, Late []ertmpTag }
	for line := range strings.Lines(p.Stderr()) {
		if rest, ok := strings.CutPrefix(line, "RESULT "); ok {
			if err := json.Unmarshal([]byte(rest), &res); err != nil {
				t.Fatalf("script result: %v", err)
			}
		}
	}

	if len(res.Live) != len(tags) {
		t.Errorf("live player received %d tags, want %d", len(res.Live), len(tags))
	}
	for i := range min(len(res.Live), len(tags)) {
		if res.Live[i] != tags[i] {
			t.Errorf("live tag %d: got type %d ts %d %.24s..., want type %d ts %d %.24s...",
				i, res.Live[i].Type, res.Live[i].TS, res.Live[i].Hex, tags[i].Type, tags[i].TS, tags[i].Hex)
		}
	}

	// The late player: the audio SequenceStart (1) and the AV1
	// SequenceStart (6) before the tags of the GOP that started at 7, in
	// order, each unchanged.
	index := func(want ertmpTag) int {
		for i, got := range res.Late {
			if got == want {
				return i
			}
		}
		return -1
	}
	prev := -1
	for _, want := range []int{1, 6, 7, 8, 9} {
		i := index(tags[want])
		if i < 0 || i < prev {
			t.Errorf("late player: sent tag %d missing or out of order (at %d after %d)", want, i, prev)
		}
		prev = i
	}
	for i, got := range res.Late {
		sent := -1
		for j, want := range tags {
			if got == want {
				sent = j
			}
		}
		if sent < 0 {
			t.Errorf("late player: tag %d (type %d ts %d %.24s...) is not one that was sent", i, got.Type, got.TS, got.Hex)
		}
		t.Logf("late player tag %d = sent tag %d", i, sent)
	}
	if index(tags[0]) >= 0 {
		t.Error("late player received the replaced hvc1 SequenceStart")
	}
}
