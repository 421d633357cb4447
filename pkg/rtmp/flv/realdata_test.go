package flv_test

// Tests on media made by FFmpeg: every count, codec and size this package
// reports must match what ffprobe reports for the same bytes. FFmpeg 5.1
// cannot mux HEVC or AV1 into FLV, so those streams are encoded as
// elementary streams and turned into E-RTMP tags by this package's builders;
// the tags are then turned back into elementary streams that ffprobe
// decodes.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tributary-media/tributary/internal/testutil"
	"github.com/tributary-media/tributary/pkg/rtmp/flv"
)

type probeStream struct {
	CodecType     string `json:"codec_type"`
	CodecName     string `json:"codec_name"`
	Width         int    `json:"width"`
	Height        int    `json:"height"`
	SampleRate    string `json:"sample_rate"`
	Channels      int    `json:"channels"`
	Level         int    `json:"level"`
	NbReadFrames  string `json:"nb_read_frames"`
	NbReadPackets string `json:"nb_read_packets"`
}

// probeResult is what ffprobe says about one stream type of a file.
type probeResult struct {
	stream    probeStream
	packets   int // packets counted from -show_packets
	keyframes int // packets with flag K
}

// ffprobe runs ffprobe with packet counting, packet listing and (with
// decode) frame counting, and returns the result per codec_type.
func ffprobe(t *testing.T, file string, decode bool) map[string]*probeResult {
	t.Helper()
	args := []string{"-v", "error", "-count_packets", "-show_streams", "-show_packets", "-of", "json"}
	if decode {
		args = append(args, "-count_frames")
	}
	out, err := exec.Command(testutil.RequireTool(t, "ffprobe"), append(args, file)...).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", file, errText(err))
	}
	var doc struct {
		Streams []probeStream `json:"streams"`
		Packets []struct {
			CodecType string `json:"codec_type"`
			Flags     string `json:"flags"`
		} `json:"packets"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("ffprobe output: %v", err)
	}
	res := map[string]*probeResult{}
	for _, s := range doc.Streams {
		res[s.CodecType] = &probeResult{stream: s}
	}
	for _, p := range doc.Packets {
		r := res[p.CodecType]
		if r == nil {
			t.Fatalf("packet of %s without stream", p.CodecType)
		}
		r.packets++
		if strings.Contains(p.Flags, "K") {
			r.keyframes++
		}
	}
	for typ, r := range res {
		if n, _ := strconv.Atoi(r.stream.NbReadPackets); n != r.packets {
			t.Fatalf("ffprobe %s: nb_read_packets %s, %d packets listed", typ, r.stream.NbReadPackets, r.packets)
		}
	}
	return res
}

func errText(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return fmt.Sprintf("%v: %s", err, ee.Stderr)
	}
	return err.Error()
}

// ffmpeg runs ffmpeg with the given arguments, quiet and overwriting.
func ffmpeg(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command(testutil.RequireTool(t, "ffmpeg"), append([]string{"-hide_banner", "-nostdin", "-v", "error", "-y"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// requireEncoder returns the first of the named encoders the installed
// FFmpeg has. Without any, the test skips outside CI and fails in CI.
func requireEncoder(t *testing.T, names ...string) string {
	t.Helper()
	out, err := exec.Command(testutil.RequireTool(t, "ffmpeg"), "-hide_banner", "-encoders").Output()
	if err != nil {
		t.Fatalf("ffmpeg -encoders: %v", err)
	}
	for _, n := range names {
		if bytes.Contains(out, []byte(" "+n+" ")) {
			return n
		}
	}
	if testutil.InCI() {
		t.Fatalf("FFmpeg has none of the encoders %v", names)
	}
	t.Skipf("FFmpeg has none of the encoders %v", names)
	return ""
}

// flvStats is what this package reports about an FLV file.
type flvStats struct {
	header                flv.Header
	video, videoKeys      int
	audio                 int
	videoCodec, audioCode flv.Codec
	videoConfig           flv.VideoConfig
	videoConfigs          int // sequence headers seen
	videoConfigRecord     []byte
	asc                   *flv.AudioSpecificConfig
	audioRate, audioChans int
	script                int
	tags                  []flv.Tag
}

// readFLV reads a file with Reader, parses every audio and video header
// and counts what ffprobe counts as packets: coded frames with data.
func readFLV(t *testing.T, file string) *flvStats {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := flv.NewReader(bufio.NewReader(f), flv.ReaderConfig{StrictPreviousTagSize: true})
	st := &flvStats{}
	if st.header, err = r.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	for {
		var tag flv.Tag
		if err := r.ReadTag(&tag); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("ReadTag after %d tags: %v", len(st.tags), err)
		}
		tag = tag.Clone()
		st.tags = append(st.tags, tag)
		switch tag.Type {
		case flv.TagScript:
			st.script++
		case flv.TagVideo:
			st.addVideo(t, &tag)
		case flv.TagAudio:
			st.addAudio(t, &tag)
		default:
			t.Fatalf("tag type %d", tag.Type)
		}
	}
	return st
}

func (st *flvStats) addVideo(t *testing.T, tag *flv.Tag) {
	t.Helper()
	h, err := flv.ParseVideoHeader(tag.Body)
	if err != nil {
		t.Fatalf("video tag at %d ms: %v", tag.Timestamp, err)
	}
	if c := flv.TagCodec(tag.Type, tag.Body); c != h.Codec {
		t.Fatalf("TagCodec %v, header %v", c, h.Codec)
	}
	if st.videoCodec == flv.CodecUnknown {
		st.videoCodec = h.Codec
	} else if st.videoCodec != h.Codec {
		t.Fatalf("video codec changed from %v to %v", st.videoCodec, h.Codec)
	}
	key := flv.IsKeyframe(tag.Type, tag.Body)
	seq := flv.IsSequenceHeader(tag.Type, tag.Body)
	switch {
	case h.HasCommand:
	case h.PacketType == flv.VideoPacketSequenceStart:
		if !seq || key {
			t.Fatalf("sequence header: IsSequenceHeader %v, IsKeyframe %v", seq, key)
		}
		st.videoConfigs++
		st.videoConfigRecord = h.Data
		if h.Codec == flv.CodecAVC || h.Codec == flv.CodecHEVC || h.Codec == flv.CodecAV1 {
			if st.videoConfig, err = flv.ParseVideoConfig(h.Codec, h.Data); err != nil {
				t.Fatalf("sequence header: %v", err)
			}
		}
	case h.PacketType == flv.VideoPacketCodedFrames || h.PacketType == flv.VideoPacketCodedFramesX:
		if seq || key != (h.FrameType == flv.VideoFrameKey) {
			t.Fatalf("coded frame of type %d: IsSequenceHeader %v, IsKeyframe %v", h.FrameType, seq, key)
		}
		if len(h.Data) == 0 {
			return // FFmpeg drops empty packets
		}
		st.video++
		if key {
			st.videoKeys++
		}
	}
}

func (st *flvStats) addAudio(t *testing.T, tag *flv.Tag) {
	t.Helper()
	h, err := flv.ParseAudioHeader(tag.Body)
	if err != nil {
		t.Fatalf("audio tag at %d ms: %v", tag.Timestamp, err)
	}
	if h.Silence {
		return
	}
	if c := flv.TagCodec(tag.Type, tag.Body); c != h.Codec {
		t.Fatalf("TagCodec %v, header %v", c, h.Codec)
	}
	st.audioCode = h.Codec
	st.audioRate, st.audioChans = h.SampleRate(), h.Channels()
	if flv.IsKeyframe(tag.Type, tag.Body) {
		t.Fatal("IsKeyframe true for an audio tag")
	}
	switch h.PacketType {
	case flv.AudioPacketSequenceStart:
		if !flv.IsSequenceHeader(tag.Type, tag.Body) {
			t.Fatal("audio sequence header not recognised")
		}
		if h.Codec == flv.CodecAAC {
			asc, err := flv.ParseAudioSpecificConfig(h.Data)
			if err != nil {
				t.Fatal(err)
			}
			st.asc = &asc
		}
	case flv.AudioPacketCodedFrames:
		if flv.IsSequenceHeader(tag.Type, tag.Body) {
			t.Fatal("coded audio reported as a sequence header")
		}
		if len(h.Data) > 0 {
			st.audio++
		}
	}
}

// compareVideo checks counts, keyframes, codec and (when known) size.
func compareVideo(t *testing.T, st *flvStats, p *probeResult, checkSize bool) {
	t.Helper()
	if p == nil {
		t.Fatal("ffprobe found no video stream")
	}
	t.Logf("video %v %dx%d: %d packets, %d key (ffprobe %s %dx%d: %d, %d)", st.videoCodec, st.videoConfig.Width, st.videoConfig.Height,
		st.video, st.videoKeys, p.stream.CodecName, p.stream.Width, p.stream.Height, p.packets, p.keyframes)
	if st.video != p.packets || st.videoKeys != p.keyframes {
		t.Errorf("video: %d packets, %d key; ffprobe %d, %d", st.video, st.videoKeys, p.packets, p.keyframes)
	}
	if st.videoCodec.String() != p.stream.CodecName {
		t.Errorf("video codec %v, ffprobe %s", st.videoCodec, p.stream.CodecName)
	}
	if checkSize && (st.videoConfig.Width != p.stream.Width || st.videoConfig.Height != p.stream.Height) {
		t.Errorf("video size %dx%d, ffprobe %dx%d", st.videoConfig.Width, st.videoConfig.Height, p.stream.Width, p.stream.Height)
	}
	if st.video == 0 || st.videoKeys == 0 {
		t.Errorf("degenerate input: %d packets, %d key", st.video, st.videoKeys)
	}
}

func TestRealFFmpegFLV(t *testing.T) {
	cases := []struct {
		name     string
		args     []string
		size     bool // this package parses the picture size of the codec
		asc      bool // AAC: rate and channels come from the AudioSpecificConfig
		legacyAu bool // rate and channels come from the legacy header
	}{
		{"h264-aac-320x240", []string{"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-f", "lavfi", "-i", "sine", "-t", "2",
			"-c:v", "libx264", "-g", "25", "-c:a", "aac"}, true, true, false},
		{"h264-baseline-cropped-aac-stereo-48k", []string{"-f", "lavfi", "-i", "testsrc2=size=426x238:rate=30", "-f", "lavfi", "-i", "sine",
			"-t", "1", "-c:v", "libx264", "-profile:v", "baseline", "-g", "10", "-c:a", "aac", "-ac", "2", "-ar", "48000"}, true, true, false},
		{"h264-interlaced-1080i", []string{"-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=25", "-t", "0.6",
			"-c:v", "libx264", "-preset", "ultrafast", "-flags", "+ildct+ilme", "-x264-params", "interlaced=1", "-g", "5"}, true, false, false},
		{"h264-high444-10bit", []string{"-f", "lavfi", "-i", "testsrc2=size=200x120:rate=25", "-t", "1",
			"-c:v", "libx264", "-pix_fmt", "yuv444p10le", "-x264-params", "cqm=jvt", "-g", "12"}, true, false, false},
		{"flv1-mp3", []string{"-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10", "-f", "lavfi", "-i", "sine", "-t", "2",
			"-c:v", "flv", "-g", "7", "-c:a", "libmp3lame", "-ar", "44100"}, false, false, true},
		{"flashsv-adpcm", []string{"-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10", "-f", "lavfi", "-i", "sine", "-t", "1",
			"-c:v", "flashsv", "-g", "4", "-c:a", "adpcm_swf", "-ar", "22050"}, false, false, true},
		{"flv1-nellymoser-8k", []string{"-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10", "-f", "lavfi", "-i", "sine", "-t", "1",
			"-c:v", "flv", "-c:a", "nellymoser", "-ar", "8000"}, false, false, true},
		{"flv1-nellymoser-16k", []string{"-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10", "-f", "lavfi", "-i", "sine", "-t", "1",
			"-c:v", "flv", "-c:a", "nellymoser", "-ar", "16000"}, false, false, true},
		{"flv1-pcm-s16le-stereo", []string{"-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10", "-f", "lavfi", "-i", "sine", "-t", "1",
			"-c:v", "flv", "-c:a", "pcm_s16le", "-ar", "11025", "-ac", "2"}, false, false, true},
		{"flashsv2-g711-alaw", []string{"-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10", "-f", "lavfi", "-i", "sine", "-t", "1",
			"-c:v", "flashsv2", "-c:a", "pcm_alaw", "-ar", "8000"}, false, false, true},
		{"flv1-g711-mulaw", []string{"-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10", "-f", "lavfi", "-i", "sine", "-t", "1",
			"-c:v", "flv", "-c:a", "pcm_mulaw", "-ar", "8000"}, false, false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel() // most of the time is spent waiting for FFmpeg
			file := filepath.Join(t.TempDir(), "x.flv")
			ffmpeg(t, append(c.args, "-f", "flv", file)...)
			probe := ffprobe(t, file, false)
			st := readFLV(t, file)
			compareVideo(t, st, probe["video"], c.size)
			if st.videoConfigs > 1 {
				t.Errorf("%d video sequence headers", st.videoConfigs)
			}
			if a := probe["audio"]; a != nil {
				t.Logf("audio %v: %d packets (ffprobe %s: %d)", st.audioCode, st.audio, a.stream.CodecName, a.packets)
				if st.audio != a.packets || st.audioCode.String() != a.stream.CodecName {
					t.Errorf("audio: %d packets of %v; ffprobe %d of %s", st.audio, st.audioCode, a.packets, a.stream.CodecName)
				}
				rate, chans := st.audioRate, st.audioChans
				if c.asc {
					if st.asc == nil {
						t.Fatal("no AAC sequence header")
					}
					rate, chans = st.asc.SampleRate, st.asc.Channels
				}
				if (c.asc || c.legacyAu) && (strconv.Itoa(rate) != a.stream.SampleRate || chans != a.stream.Channels) {
					t.Errorf("audio %d Hz, %d channels; ffprobe %s Hz, %d channels", rate, chans, a.stream.SampleRate, a.stream.Channels)
				}
			} else if st.audio != 0 {
				t.Errorf("%d audio packets, ffprobe found no audio stream", st.audio)
			}

			// Writer gives back the file byte for byte, and ParseTag walks
			// the same bytes to the same tags.
			orig, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			w := flv.NewWriter(&out, st.header)
			for i := range st.tags {
				if err := w.WriteTag(&st.tags[i]); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(out.Bytes(), orig) {
				t.Error("rewritten file differs from FFmpeg's")
			}
			_, off, err := flv.ParseHeader(orig)
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range st.tags {
				tag, n, err := flv.ParseTag(orig[off:])
				if err != nil {
					t.Fatalf("ParseTag %d: %v", i, err)
				}
				if tag.Type != want.Type || tag.Timestamp != want.Timestamp || !bytes.Equal(tag.Body, want.Body) {
					t.Fatalf("ParseTag %d differs from Reader", i)
				}
				off += n
			}
			if off != len(orig) {
				t.Errorf("ParseTag stopped at %d of %d bytes", off, len(orig))
			}
		})
	}
}

// writeFLV writes the bodies as video tags 40 ms apart (and ffprobe reads
// the result as 25 fps).
func writeFLV(t *testing.T, file string, bodies [][]byte) {
	t.Helper()
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	w := flv.NewWriter(f, flv.Header{Video: true})
	frame := 0
	for _, b := range bodies {
		tag := flv.Tag{Type: flv.TagVideo, Timestamp: uint32(frame * 40), Body: b}
		if !flv.IsSequenceHeader(flv.TagVideo, b) {
			frame++
		}
		if err := w.WriteTag(&tag); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// buildTags runs a builder over the units and collects the tag bodies in
// sending order.
func buildTags(t *testing.T, units [][]byte, build func([]byte) (flv.BuiltVideo, error)) [][]byte {
	t.Helper()
	var bodies [][]byte
	for i, u := range units {
		out, err := build(u)
		if err != nil {
			t.Fatalf("unit %d: %v", i, err)
		}
		if out.SequenceStart != nil {
			bodies = append(bodies, bytes.Clone(out.SequenceStart))
		}
		if out.Frame != nil {
			if flv.IsKeyframe(flv.TagVideo, out.Frame) != out.Keyframe {
				t.Fatalf("unit %d: Keyframe %v but the tag says otherwise", i, out.Keyframe)
			}
			bodies = append(bodies, bytes.Clone(out.Frame))
		}
	}
	return bodies
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodedFrames(t *testing.T, p *probeResult) int {
	t.Helper()
	n, err := strconv.Atoi(p.stream.NbReadFrames)
	if err != nil {
		t.Fatalf("nb_read_frames %q", p.stream.NbReadFrames)
	}
	return n
}

// TestRealAVCBuilder encodes H.264 into an Annex-B stream, builds legacy
// FLV tags with AVCTagBuilder, writes them with Writer and lets ffprobe
// decode the result.
func TestRealAVCBuilder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	es := filepath.Join(dir, "x.h264")
	ffmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=352x200:rate=25", "-t", "2", "-c:v", "libx264", "-bf", "0", "-g", "20", "-f", "h264", es)
	want := ffprobe(t, es, false)["video"]

	var units [][]byte
	for au, rest := flv.NextAVCAccessUnit(readFile(t, es)); au != nil; au, rest = flv.NextAVCAccessUnit(rest) {
		units = append(units, au)
	}
	var b flv.AVCTagBuilder
	bodies := buildTags(t, units, func(u []byte) (flv.BuiltVideo, error) { return b.Build(u, 0) })
	file := filepath.Join(dir, "built.flv")
	writeFLV(t, file, bodies)

	st := readFLV(t, file)
	compareVideo(t, st, want, true)
	if st.videoConfigs != 1 {
		t.Errorf("%d sequence headers, want 1", st.videoConfigs)
	}
	got := ffprobe(t, file, true)["video"]
	if got == nil || got.packets != want.packets || got.keyframes != want.keyframes || got.stream.Width != want.stream.Width ||
		got.stream.Height != want.stream.Height || got.stream.CodecName != "h264" || decodedFrames(t, got) != want.packets {
		t.Errorf("ffprobe of the built FLV: %+v; of the elementary stream: %+v", got, want)
	}
}

// TestRealHEVC encodes H.265 into an Annex-B stream (FFmpeg 5.1 cannot put
// HEVC in FLV), builds E-RTMP hvc1 tags with HEVCTagBuilder, reads them back
// and compares with ffprobe; then rebuilds an Annex-B stream from the tags
// and has ffprobe decode it.
func TestRealHEVC(t *testing.T) {
	t.Parallel()
	requireEncoder(t, "libx265")
	dir := t.TempDir()
	es := filepath.Join(dir, "x.hevc")
	ffmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=426x240:rate=25", "-t", "2", "-c:v", "libx265",
		"-x265-params", "log-level=error:keyint=25:min-keyint=25:scenecut=0", "-f", "hevc", es)
	want := ffprobe(t, es, false)["video"]

	var units [][]byte
	for au, rest := flv.NextHEVCAccessUnit(readFile(t, es)); au != nil; au, rest = flv.NextHEVCAccessUnit(rest) {
		units = append(units, au)
	}
	var b flv.HEVCTagBuilder
	bodies := buildTags(t, units, func(u []byte) (flv.BuiltVideo, error) { return b.Build(u, 0) })
	file := filepath.Join(dir, "hevc.flv")
	writeFLV(t, file, bodies)

	st := readFLV(t, file)
	compareVideo(t, st, want, true)
	if st.videoConfigs != 1 || st.videoConfig.Level != want.stream.Level {
		t.Errorf("%d sequence headers, level %d (ffprobe %d)", st.videoConfigs, st.videoConfig.Level, want.stream.Level)
	}

	// Back to Annex-B: parameter sets from the record, then every frame's
	// length-prefixed NAL units with start codes.
	rebuilt := filepath.Join(dir, "rebuilt.hevc")
	var es2 []byte
	for _, tag := range st.tags {
		h, err := flv.ParseVideoHeader(tag.Body)
		if err != nil {
			t.Fatal(err)
		}
		switch h.PacketType {
		case flv.VideoPacketSequenceStart:
			cfg, err := flv.ParseHEVCDecoderConfig(h.Data)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range cfg.Arrays {
				for _, n := range a.NALUs {
					es2 = append(append(es2, 0, 0, 0, 1), n...)
				}
			}
		default:
			es2 = appendAnnexB(t, es2, h.Data)
		}
	}
	if err := os.WriteFile(rebuilt, es2, 0o644); err != nil {
		t.Fatal(err)
	}
	got := ffprobe(t, rebuilt, true)["video"]
	if got == nil || got.packets != want.packets || got.keyframes != want.keyframes || got.stream.Width != want.stream.Width ||
		decodedFrames(t, got) != want.packets {
		t.Errorf("ffprobe of the rebuilt stream: %+v; of the original: %+v", got, want)
	}

	// FFmpeg's own hvcC for the same stream (muxed into MP4) names the
	// same profile, tier, level, flags, chroma format and bit depths.
	mp4 := filepath.Join(dir, "x.mp4")
	ffmpeg(t, "-i", es, "-c", "copy", mp4)
	theirs, err := flv.ParseHEVCDecoderConfig(findBox(t, readFile(t, mp4), "hvcC"))
	if err != nil {
		t.Fatal(err)
	}
	ours, err := flv.ParseHEVCDecoderConfig(st.videoConfigRecord)
	if err != nil {
		t.Fatal(err)
	}
	if ours.ProfileSpace != theirs.ProfileSpace || ours.TierFlag != theirs.TierFlag || ours.ProfileIDC != theirs.ProfileIDC ||
		ours.ProfileCompatibilityFlags != theirs.ProfileCompatibilityFlags || ours.ConstraintIndicatorFlags != theirs.ConstraintIndicatorFlags ||
		ours.LevelIDC != theirs.LevelIDC || ours.ChromaFormatIDC != theirs.ChromaFormatIDC || ours.BitDepthLuma != theirs.BitDepthLuma ||
		ours.BitDepthChroma != theirs.BitDepthChroma || ours.NumTemporalLayers != theirs.NumTemporalLayers || ours.TemporalIDNested != theirs.TemporalIDNested {
		t.Errorf("hvcC differs from FFmpeg's:\nours   %+v\ntheirs %+v", ours, theirs)
	}
}

// appendAnnexB converts 4-byte length-prefixed NAL units to Annex-B.
func appendAnnexB(t *testing.T, dst, data []byte) []byte {
	t.Helper()
	for len(data) > 0 {
		if len(data) < 4 {
			t.Fatalf("%d stray bytes", len(data))
		}
		n := int(data[0])<<24 | int(data[1])<<16 | int(data[2])<<8 | int(data[3])
		if n > len(data)-4 {
			t.Fatalf("NAL unit of %d bytes, %d left", n, len(data)-4)
		}
		dst = append(append(dst, 0, 0, 0, 1), data[4:4+n]...)
		data = data[4+n:]
	}
	return dst
}

// findBox returns the payload of the first MP4 box of the given type
// found anywhere in b (sample entries nest config boxes deeply).
func findBox(t *testing.T, b []byte, typ string) []byte {
	t.Helper()
	i := bytes.Index(b, []byte(typ))
	if i < 4 {
		t.Fatalf("no %s box", typ)
	}
	size := int(b[i-4])<<24 | int(b[i-3])<<16 | int(b[i-2])<<8 | int(b[i-1])
	if size < 8 || i-4+size > len(b) {
		t.Fatalf("%s box size %d", typ, size)
	}
	return b[i+4 : i-4+size]
}

// TestRealAV1 encodes AV1 into a low-overhead OBU stream, builds E-RTMP
// av01 tags with AV1TagBuilder, reads them back and compares with ffprobe;
// then rebuilds an OBU stream from the tags and has ffprobe decode it.
func TestRealAV1(t *testing.T) {
	t.Parallel()
	enc := requireEncoder(t, "libsvtav1", "libaom-av1", "librav1e")
	args := []string{"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "2", "-c:v", enc, "-g", "25"}
	if enc == "libaom-av1" {
		args = append(args, "-cpu-used", "8")
	}
	dir := t.TempDir()
	es := filepath.Join(dir, "x.obu")
	ffmpeg(t, append(args, "-f", "obu", es)...)
	want := ffprobe(t, es, false)["video"]

	var units [][]byte
	for rest := readFile(t, es); ; {
		tu, r, err := flv.NextAV1TemporalUnit(rest)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		units, rest = append(units, tu), r
	}
	var b flv.AV1TagBuilder
	bodies := buildTags(t, units, b.Build)
	file := filepath.Join(dir, "av1.flv")
	writeFLV(t, file, bodies)

	st := readFLV(t, file)
	compareVideo(t, st, want, true)
	if st.videoConfigs != 1 {
		t.Errorf("%d sequence headers", st.videoConfigs)
	}

	rebuilt := filepath.Join(dir, "rebuilt.obu")
	var es2 []byte
	for _, tag := range st.tags {
		h, err := flv.ParseVideoHeader(tag.Body)
		if err != nil {
			t.Fatal(err)
		}
		if h.PacketType == flv.VideoPacketCodedFrames {
			es2 = append(append(es2, 0x12, 0x00), h.Data...) // temporal delimiter, then the OBUs
		}
	}
	if err := os.WriteFile(rebuilt, es2, 0o644); err != nil {
		t.Fatal(err)
	}
	got := ffprobe(t, rebuilt, true)["video"]
	if got == nil || got.packets != want.packets || got.keyframes != want.keyframes || got.stream.Width != want.stream.Width ||
		decodedFrames(t, got) != want.packets {
		t.Errorf("ffprobe of the rebuilt stream: %+v; of the original: %+v", got, want)
	}

	// FFmpeg's av1C for the same stream (muxed into MP4) has the same four
	// fixed bytes.
	mp4 := filepath.Join(dir, "x.mp4")
	ffmpeg(t, "-i", es, "-c", "copy", mp4)
	theirs := findBox(t, readFile(t, mp4), "av1C")
	if len(theirs) < 4 || !bytes.Equal(st.videoConfigRecord[:4], theirs[:4]) {
		t.Errorf("av1C % x, FFmpeg's % x", st.videoConfigRecord, theirs)
	}
}
