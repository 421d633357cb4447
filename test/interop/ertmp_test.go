package interop_test

import (
	"bytes"
	"encoding/binary"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/tributary-media/tributary/internal/testutil"
	"github.com/tributary-media/tributary/pkg/rtmp"
	"github.com/tributary-media/tributary/pkg/rtmp/amf"
	"github.com/tributary-media/tributary/pkg/rtmp/flv"
)

// ertmpClip is the video the Enhanced RTMP tests encode: 3 s of 320x240 at
// 25 fps, a keyframe every second.
var ertmpClip = testutil.MediaOptions{Duration: 3 * time.Second}

// ertmpFourCCs is what the pkg/rtmp clients announce in connect.
var ertmpFourCCs = []string{"hvc1", "av01"}

// TestEnhancedRTMPRelay publishes HEVC and AV1 as Enhanced RTMP tags
// (hvc1 and av01, built with pkg/rtmp/flv from ffmpeg-encoded elementary
// streams) with the pkg/rtmp client, through node-media-server and
// through examples/server, to a pkg/rtmp player that plays from before the
// publish starts: from the first SequenceStart on, the player must receive
// exactly the published tags, bodies and timestamps unchanged.
//
// node-media-server 4.4.3 (src/protocol/flv.js, parserTag) recognises the
// E-RTMP video FourCCs av01, vp09 and hvc1: a SequenceStart becomes its
// cached video header, CodedFrames/CodedFramesX with frame type key start
// its GOP cache, and every message is relayed with its payload unchanged
// (Rtmp.createMessage copies avpacket.data). Other E-RTMP video (avc1,
// vvc1, vp08 FourCCs, multitrack messages) is relayed too but not
// recognised, so it never enters its caches; none of that is used here.
func TestEnhancedRTMPRelay(t *testing.T) {
	t.Parallel()
	nms := testutil.StartNodeMediaServer(t)
	srv := startExampleServer(t)

	codecs := []struct {
		name string
		tags func(*testing.T) []flv.Tag
	}{
		{"hevc", hevcTags},
		{"av1", av1Tags},
	}
	servers := []struct {
		name string
		url  func(stream string) string
		// enhanced: the server advertises Enhanced RTMP in its connect
		// _result.
		enhanced bool
	}{
		{"node-media-server", func(stream string) string { return "rtmp://" + nms + "/live/" + stream }, false},
		{"examples-server", srv.url, true},
	}
	for _, codec := range codecs {
		for _, server := range servers {
			t.Run(codec.name+"/"+server.name, func(t *testing.T) {
				t.Parallel()
				tags := codec.tags(t)
				url := server.url("ertmp-" + codec.name)
				got, props := relayTags(t, url, tags)
				var keys int
				for _, tag := range got {
					if flv.IsKeyframe(tag.Type, tag.Body) {
						keys++
					}
				}
				t.Logf("%s through %s: published %d tags, received %d (%d keyframes) after the first SequenceStart",
					codec.name, server.name, len(tags), len(got), keys)
				compareTags(t, codec.name+" through "+server.name, tags, got)
				if server.enhanced {
					for _, key := range []string{"videoFourCcInfoMap", "capsEx"} {
						if _, ok := props.Get(key); !ok {
							t.Errorf("connect _result properties lack %s: %v", key, props)
						}
					}
				}
			})
		}
	}
}

// relayTags plays url with a pkg/rtmp player, then publishes tags to url
// in real time with a pkg/rtmp publisher, and returns the audio and video
// tags the player received from the first sequence header on, with the
// properties of the player's connect _result.
func relayTags(t *testing.T, url string, tags []flv.Tag) ([]flv.Tag, amf.Object) {
	t.Helper()
	ctx := testContext(t)
	player := dialPlayer(ctx, t, url, rtmp.ClientConfig{FourCCList: ertmpFourCCs})

	type result struct {
		tags []flv.Tag
		err  error
	}
	done := make(chan result, 1)
	go func() {
		var out []flv.Tag
		for {
			m, err := player.ReadMessage()
			if err != nil {
				done <- result{out, err}
				return
			}
			typ := flv.TagVideo
			switch m.Kind {
			case rtmp.KindVideo:
			case rtmp.KindAudio:
				typ = flv.TagAudio
			default:
				continue
			}
			if len(out) == 0 && !flv.IsSequenceHeader(typ, m.Payload) {
				continue
			}
			out = append(out, flv.Tag{Type: typ, Timestamp: m.Timestamp, Body: slices.Clone(m.Payload)})
			if len(out) == len(tags) {
				done <- result{out, nil}
				return
			}
		}
	}()

	pub, err := rtmp.Dial(ctx, url, rtmp.ClientConfig{FourCCList: ertmpFourCCs})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if err := pub.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(ctx, ""); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for _, tag := range tags {
		select {
		case <-time.After(time.Until(start.Add(time.Duration(tag.Timestamp) * time.Millisecond))):
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
		var err error
		if tag.Type == flv.TagAudio {
			err = pub.WriteAudio(tag.Timestamp, tag.Body)
		} else {
			err = pub.WriteVideo(tag.Timestamp, tag.Body)
		}
		if err != nil {
			t.Fatalf("publish: %v", err)
		}
	}

	var r result
	select {
	case r = <-done:
	case <-time.After(20 * time.Second):
		player.Close()
		r = <-done
		t.Errorf("the player received %d of %d tags, then nothing (%v)", len(r.tags), len(tags), r.err)
	}
	if r.err != nil {
		t.Errorf("the player ended after %d of %d tags: %v", len(r.tags), len(tags), r.err)
	}
	return r.tags, player.Properties()
}

// hevcTags encodes ertmpClip with libx265 and turns it into E-RTMP hvc1
// video tags: a SequenceStart, then one CodedFramesX tag per access unit,
// 40 ms apart.
func hevcTags(t *testing.T) []flv.Tag {
	t.Helper()
	data, err := os.ReadFile(testutil.GenerateHEVCAnnexB(t, ertmpClip))
	if err != nil {
		t.Fatal(err)
	}
	var b flv.HEVCTagBuilder
	var tags []flv.Tag
	frames := 0
	for rest := data; ; {
		var au []byte
		au, rest = flv.NextHEVCAccessUnit(rest)
		if au == nil {
			break
		}
		out, err := b.Build(au, 0)
		if err != nil {
			t.Fatalf("access unit %d: %v", frames, err)
		}
		tags = appendBuilt(tags, out, uint32(frames*1000/25))
		if out.Frame != nil {
			frames++
		}
	}
	checkBuilt(t, tags, frames, "hvc1")
	return tags
}

// av1Tags encodes ertmpClip with the first AV1 encoder the installed
// ffmpeg has, reads the temporal units from the IVF file and turns them
// into E-RTMP av01 video tags.
func av1Tags(t *testing.T) []flv.Tag {
	t.Helper()
	data, err := os.ReadFile(testutil.GenerateAV1(t, ertmpClip))
	if err != nil {
		t.Fatal(err)
	}
	// IVF: "DKIF", version u16, header size u16, FourCC, width u16,
	// height u16, time base denominator u32, numerator u32, frame count
	// u32, unused u32 (little-endian); then per frame: size u32, pts u64,
	// data.
	if len(data) < 32 || string(data[:4]) != "DKIF" || string(data[8:12]) != "AV01" {
		t.Fatalf("not an AV1 IVF file")
	}
	hdrLen := int(binary.LittleEndian.Uint16(data[6:]))
	den, num := uint64(binary.LittleEndian.Uint32(data[16:])), uint64(binary.LittleEndian.Uint32(data[20:]))
	if den == 0 || hdrLen < 32 || hdrLen > len(data) {
		t.Fatalf("bad IVF header % x", data[:32])
	}
	var b flv.AV1TagBuilder
	var tags []flv.Tag
	frames := 0
	for p := data[hdrLen:]; len(p) > 0; {
		if len(p) < 12 {
			t.Fatalf("truncated IVF frame header at frame %d", frames)
		}
		size, pts := int(binary.LittleEndian.Uint32(p)), binary.LittleEndian.Uint64(p[4:])
		if size > len(p)-12 {
			t.Fatalf("truncated IVF frame %d", frames)
		}
		tu := p[12 : 12+size]
		p = p[12+size:]
		out, err := b.Build(tu)
		if err != nil {
			t.Fatalf("temporal unit %d: %v", frames, err)
		}
		tags = appendBuilt(tags, out, uint32(pts*num*1000/den))
		if out.Frame != nil {
			frames++
		}
	}
	checkBuilt(t, tags, frames, "av01")
	return tags
}

// appendBuilt appends the tags of one built unit, copied, at ts.
func appendBuilt(tags []flv.Tag, out flv.BuiltVideo, ts uint32) []flv.Tag {
	if out.SequenceStart != nil {
		tags = append(tags, flv.Tag{Type: flv.TagVideo, Timestamp: ts, Body: slices.Clone(out.SequenceStart)})
	}
	if out.Frame != nil {
		tags = append(tags, flv.Tag{Type: flv.TagVideo, Timestamp: ts, Body: slices.Clone(out.Frame)})
	}
	return tags
}

// checkBuilt checks that tags start with an E-RTMP SequenceStart of
// fourCC followed by a keyframe and hold one frame per encoded picture.
func checkBuilt(t *testing.T, tags []flv.Tag, frames int, fourCC string) {
	t.Helper()
	want := int(ertmpClip.Duration.Seconds() * 25)
	if frames != want {
		t.Fatalf("%s: built %d frames, want %d", fourCC, frames, want)
	}
	if len(tags) < 2 || !flv.IsSequenceHeader(flv.TagVideo, tags[0].Body) || !flv.IsKeyframe(flv.TagVideo, tags[1].Body) {
		t.Fatalf("%s: the tags do not start with a SequenceStart and a keyframe", fourCC)
	}
	for i, tag := range tags {
		h, err := flv.ParseVideoHeader(tag.Body)
		if err != nil || !h.Enhanced || h.FourCC.String() != fourCC {
			t.Fatalf("%s: tag %d is not an Enhanced RTMP tag of that codec (enhanced %v, FourCC %v, %v)", fourCC, i, h.Enhanced, h.FourCC, err)
		}
	}
}

// TestEnhancedRTMPLateJoinerGetsEveryTrack publishes Enhanced RTMP
// messages with several video tracks and Opus audio to examples/server: a
// player that joins late gets the latest sequence header of every track
// (in the order they arrived, a replaced one left out), then the GOP from
// its keyframe, every body unchanged.
func TestEnhancedRTMPLateJoinerGetsEveryTrack(t *testing.T) {
	t.Parallel()
	srv := startExampleServer(t)
	url := srv.url("tracks")
	ctx := testContext(t)
	fill := func(n int, seed byte) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = seed + byte(i*7)
		}
		return b
	}
	join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tags := []flv.Tag{
		// 0: hvc1 SequenceStart of track 0: ExHeader | key | SequenceStart,
		// FourCC, record. Replaced by 6.
		{Type: flv.TagVideo, Timestamp: 0, Body: join([]byte{0x90}, []byte("hvc1"), fill(30, 1))},
		// 1: Opus SequenceStart: SoundFormat 9 (ExHeader) | SequenceStart,
		// FourCC, OpusHead.
		{Type: flv.TagAudio, Timestamp: 0, Body: join([]byte{0x90}, []byte("Opus"), fill(19, 2))},
		// 2: multitrack SequenceStart of tracks 1 and 2: ExHeader | key |
		// Multitrack, ManyTracks | SequenceStart, FourCC, then per track
		// an id, a UI24 size and a record.
		{Type: flv.TagVideo, Timestamp: 0, Body: join([]byte{0x96, 0x10}, []byte("hvc1"),
			[]byte{0x01, 0x00, 0x00, 0x10}, fill(16, 3), []byte{0x02, 0x00, 0x00, 0x10}, fill(16, 4))},
		// 3: key CodedFrames of track 0: SI24 composition time 0, NAL units.
		{Type: flv.TagVideo, Timestamp: 0, Body: join([]byte{0x91}, []byte("hvc1"), []byte{0, 0, 0}, fill(900, 5))},
		// 4: Opus CodedFrames.
		{Type: flv.TagAudio, Timestamp: 20, Body: join([]byte{0x91}, []byte("Opus"), fill(60, 6))},
		// 5: multitrack key CodedFrames of tracks 1 and 2 (ManyTracks |
		// CodedFrames), each with a composition time.
		{Type: flv.TagVideo, Timestamp: 40, Body: join([]byte{0x96, 0x11}, []byte("hvc1"),
			[]byte{0x01, 0x00, 0x01, 0x03}, []byte{0, 0, 0}, fill(256, 7), []byte{0x02, 0x00, 0x01, 0x03}, []byte{0, 0, 0}, fill(256, 8))},
		// 6: a new hvc1 SequenceStart of track 0.
		{Type: flv.TagVideo, Timestamp: 80, Body: join([]byte{0x90}, []byte("hvc1"), fill(32, 9))},
		// 7: key CodedFramesX of track 0: the GOP the late player gets.
		{Type: flv.TagVideo, Timestamp: 80, Body: join([]byte{0x93}, []byte("hvc1"), fill(800, 10))},
		// 8: inter CodedFramesX (frame type 2).
		{Type: flv.TagVideo, Timestamp: 120, Body: join([]byte{0xa3}, []byte("hvc1"), fill(200, 11))},
		// 9: Opus CodedFrames.
		{Type: flv.TagAudio, Timestamp: 125, Body: join([]byte{0x91}, []byte("Opus"), fill(60, 12))},
		// 10: inter CodedFramesX, sent after the late player joined.
		{Type: flv.TagVideo, Timestamp: 160, Body: join([]byte{0xa3}, []byte("hvc1"), fill(210, 13))},
	}
	const lateFrom = 10 // tags[lateFrom:] are published after the late player joined

	early := dialPlayer(ctx, t, url, rtmp.ClientConfig{FourCCList: ertmpFourCCs})
	pub, err := rtmp.Dial(ctx, url, rtmp.ClientConfig{FourCCList: ertmpFourCCs})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if err := pub.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(ctx, ""); err != nil {
		t.Fatal(err)
	}
	send := func(tags []flv.Tag) {
		for _, tag := range tags {
			var err error
			if tag.Type == flv.TagAudio {
				err = pub.WriteAudio(tag.Timestamp, tag.Body)
			} else {
				err = pub.WriteVideo(tag.Timestamp, tag.Body)
			}
			if err != nil {
				t.Fatalf("publish: %v", err)
			}
		}
	}
	send(tags[:lateFrom])
	// The early player has everything so far once it has the last tag:
	// the server has cached it all.
	compareTags(t, "early player", tags[:lateFrom], readMedia(t, early, lateFrom))

	late := dialPlayer(ctx, t, url, rtmp.ClientConfig{FourCCList: ertmpFourCCs})
	send(tags[lateFrom:])
	want := []flv.Tag{tags[1], tags[2], tags[6], tags[7], tags[8], tags[9], tags[10]}
	compareTags(t, "late player", want, readMedia(t, late, len(want)))
	compareTags(t, "early player", tags[lateFrom:], readMedia(t, early, len(tags)-lateFrom))
}

// readMedia reads n audio and video messages from a playing conn.
func readMedia(t *testing.T, c *rtmp.ClientConn, n int) []flv.Tag {
	t.Helper()
	type result struct {
		tags []flv.Tag
		err  error
	}
	done := make(chan result, 1)
	go func() {
		var out []flv.Tag
		for len(out) < n {
			m, err := c.ReadMessage()
			if err != nil {
				done <- result{out, err}
				return
			}
			switch m.Kind {
			case rtmp.KindVideo:
				out = append(out, flv.Tag{Type: flv.TagVideo, Timestamp: m.Timestamp, Body: slices.Clone(m.Payload)})
			case rtmp.KindAudio:
				out = append(out, flv.Tag{Type: flv.TagAudio, Timestamp: m.Timestamp, Body: slices.Clone(m.Payload)})
			}
		}
		done <- result{out, nil}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("read after %d of %d messages: %v", len(r.tags), n, r.err)
		}
		return r.tags
	case <-time.After(20 * time.Second):
		c.Close()
		r := <-done
		t.Fatalf("received %d of %d messages, then nothing", len(r.tags), n)
		return nil
	}
}
