package testutil

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// MediaOptions describes synthetic test media: a moving test picture
// (ffmpeg's testsrc2) and, for FLV, a 440 Hz tone. The zero value means 4 s
// of 320x240 video at 25 fps, a keyframe every 25 frames, no B-frames,
// 300 kbit/s, plus 44.1 kHz stereo AAC audio at 64 kbit/s.
type MediaOptions struct {
	// Duration is the length of the media; zero means 4 s.
	Duration time.Duration
	// Width and Height are the picture size in pixels (even numbers);
	// zero means 320x240.
	Width, Height int
	// FPS is the frame rate; zero means 25.
	FPS int
	// GOP is the fixed distance in frames from one keyframe to the next
	// (the encoder adds no scene-cut keyframes); zero means FPS, one
	// keyframe a second.
	GOP int
	// BFrames is the largest run of B-frames, which gives the video
	// composition time offsets (PTS > DTS); zero means none. AV1 has no
	// B-frames and ignores it.
	BFrames int
	// VideoKbps is the target video bitrate in kbit/s; zero means 300.
	VideoKbps int
	// NoAudio leaves the audio track out of an FLV file. The elementary
	// streams of GenerateHEVCAnnexB and GenerateAV1 never carry audio.
	NoAudio bool
}

func (o MediaOptions) withDefaults(tb testing.TB) MediaOptions {
	tb.Helper()
	if o.Duration == 0 {
		o.Duration = 4 * time.Second
	}
	if o.Width == 0 && o.Height == 0 {
		o.Width, o.Height = 320, 240
	}
	if o.FPS == 0 {
		o.FPS = 25
	}
	if o.GOP == 0 {
		o.GOP = o.FPS
	}
	if o.VideoKbps == 0 {
		o.VideoKbps = 300
	}
	if o.Duration < 0 || o.Width <= 0 || o.Height <= 0 || o.Width%2 != 0 || o.Height%2 != 0 ||
		o.FPS < 0 || o.GOP < 0 || o.BFrames < 0 || o.VideoKbps < 0 {
		tb.Fatalf("invalid media options %+v: sizes must be positive and even, counts not negative", o)
	}
	return o
}

// name is a file name stem that identifies the options for kind.
func (o MediaOptions) name(kind string) string {
	audio := "-aac"
	if o.NoAudio || kind != "h264" {
		audio = ""
	}
	return fmt.Sprintf("%s%s-%dx%d-%dfps-gop%d-bf%d-%dk-%dms", kind, audio,
		o.Width, o.Height, o.FPS, o.GOP, o.BFrames, o.VideoKbps, o.Duration.Milliseconds())
}

// source returns the ffmpeg input arguments for the test picture and the
// output duration.
func (o MediaOptions) source() []string {
	return []string{
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=%d", o.Width, o.Height, o.FPS),
	}
}

func (o MediaOptions) seconds() string {
	return strconv.FormatFloat(o.Duration.Seconds(), 'f', 3, 64)
}

// GenerateFLV returns the path of an FLV file with H.264 video (libx264,
// preset ultrafast, tune zerolatency, fixed GOP) and, unless opts.NoAudio,
// AAC audio. The file is generated once per test binary and options; the
// caller must not modify it.
func GenerateFLV(tb testing.TB, opts MediaOptions) string {
	tb.Helper()
	o := opts.withDefaults(tb)
	args := o.source()
	if !o.NoAudio {
		args = append(args, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100")
	}
	args = append(args, "-t", o.seconds(), "-map", "0:v")
	if !o.NoAudio {
		args = append(args, "-map", "1:a")
	}
	kbps := strconv.Itoa(o.VideoKbps)
	args = append(args,
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
		"-g", strconv.Itoa(o.GOP), "-keyint_min", strconv.Itoa(o.GOP), "-sc_threshold", "0",
		"-bf", strconv.Itoa(o.BFrames),
		"-b:v", kbps+"k", "-maxrate", kbps+"k", "-bufsize", strconv.Itoa(2*o.VideoKbps)+"k")
	if !o.NoAudio {
		args = append(args, "-c:a", "aac", "-b:a", "64k", "-ac", "2")
	}
	args = append(args, "-f", "flv")
	return generateMedia(tb, o.name("h264")+".flv", args)
}

// GenerateHEVCAnnexB returns the path of an H.265 elementary stream in
// Annex B byte-stream format (start codes, parameter sets once at the
// start, an IDR picture every opts.GOP frames, closed GOPs), encoded with
// libx265 (preset ultrafast, tune zerolatency). opts.NoAudio is implied. The
// file is generated once per test binary and options.
func GenerateHEVCAnnexB(tb testing.TB, opts MediaOptions) string {
	tb.Helper()
	o := opts.withDefaults(tb)
	params := fmt.Sprintf("keyint=%d:min-keyint=%d:scenecut=0:open-gop=0:bframes=%d:log-level=error",
		o.GOP, o.GOP, o.BFrames)
	if o.BFrames > 0 {
		// tune zerolatency turns the lookahead off, which B-frames need.
		params += fmt.Sprintf(":rc-lookahead=%d", o.BFrames+1)
	}
	args := append(o.source(), "-t", o.seconds(),
		"-c:v", "libx265", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
		"-b:v", strconv.Itoa(o.VideoKbps)+"k", "-x265-params", params,
		"-f", "hevc")
	return generateMedia(tb, o.name("hevc")+".hevc", args)
}

// av1Encoders lists the AV1 encoders GenerateAV1 can use, best first, with
// their low-latency settings (no frame reordering) for a fixed GOP.
var av1Encoders = []struct {
	name string
	args func(gop int) []string
}{
	{"libaom-av1", func(gop int) []string {
		return []string{"-usage", "realtime", "-cpu-used", "8", "-g", strconv.Itoa(gop), "-keyint_min", strconv.Itoa(gop)}
	}},
	{"libsvtav1", func(gop int) []string {
		return []string{"-preset", "12", "-svtav1-params", fmt.Sprintf("keyint=%d:scd=0:pred-struct=1", gop)}
	}},
	{"librav1e", func(gop int) []string {
		return []string{"-speed", "10", "-g", strconv.Itoa(gop), "-keyint_min", strconv.Itoa(gop), "-rav1e-params", "low_latency=true"}
	}},
}

// GenerateAV1 returns the path of an IVF file holding AV1 video (one
// temporal unit per IVF frame, a keyframe every opts.GOP frames, no
// reordering). It uses the first of libaom-av1, libsvtav1 and librav1e that
// the installed ffmpeg has; when it has none the test is skipped, or failed
// in CI. opts.NoAudio and opts.BFrames are ignored. The file is generated
// once per test binary and options.
func GenerateAV1(tb testing.TB, opts MediaOptions) string {
	tb.Helper()
	o := opts.withDefaults(tb)
	o.BFrames = 0
	have := ffmpegEncoders(tb)
	for _, enc := range av1Encoders {
		if !have[enc.name] {
			continue
		}
		args := append(o.source(), "-t", o.seconds(), "-c:v", enc.name)
		args = append(args, enc.args(o.GOP)...)
		args = append(args, "-b:v", strconv.Itoa(o.VideoKbps)+"k", "-pix_fmt", "yuv420p", "-f", "ivf")
		return generateMedia(tb, o.name("av1-"+enc.name)+".ivf", args)
	}
	if InCI() {
		tb.Fatal("the installed ffmpeg has no AV1 encoder (libaom-av1, libsvtav1 or librav1e)")
	}
	tb.Skip("the installed ffmpeg has no AV1 encoder (libaom-av1, libsvtav1 or librav1e)")
	return ""
}

// encoderList caches the encoder names of the installed ffmpeg.
var encoderList struct {
	once  sync.Once
	names map[string]bool
	err   error
}

// ffmpegEncoders returns the set of encoder names ffmpeg reports.
func ffmpegEncoders(tb testing.TB) map[string]bool {
	tb.Helper()
	ffmpeg := RequireTool(tb, "ffmpeg")
	encoderList.once.Do(func() {
		out, err := exec.Command(ffmpeg, "-hide_banner", "-encoders").Output()
		if err != nil {
			encoderList.err = fmt.Errorf("ffmpeg -encoders: %w", err)
			return
		}
		encoderList.names = make(map[string]bool)
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			// Lines look like " V....D libx264   description".
			f := strings.Fields(sc.Text())
			if len(f) >= 2 && len(f[0]) == 6 && strings.Trim(f[0], "VASFXBD.") == "" {
				encoderList.names[f[1]] = true
			}
		}
	})
	if encoderList.err != nil {
		tb.Fatal(encoderList.err)
	}
	return encoderList.names
}

// mediaCache holds the media generated by this test binary, by file name.
var mediaCache struct {
	sync.Mutex
	dirOnce sync.Once
	dir     string
	dirErr  error
	entries map[string]*mediaEntry
}

type mediaEntry struct {
	once sync.Once
	path string
	err  error
}

// generateMedia runs ffmpeg with args followed by an output path, once per
// name in this process, and returns the output path.
func generateMedia(tb testing.TB, name string, args []string) string {
	tb.Helper()
	ffmpeg := RequireTool(tb, "ffmpeg")
	dir := mediaDir(tb)
	mediaCache.Lock()
	if mediaCache.entries == nil {
		mediaCache.entries = make(map[string]*mediaEntry)
	}
	e := mediaCache.entries[name]
	if e == nil {
		e = &mediaEntry{}
		mediaCache.entries[name] = e
	}
	mediaCache.Unlock()
	e.once.Do(func() {
		out := filepath.Join(dir, name)
		partial := out + ".partial"
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		full := append([]string{"-hide_banner", "-nostdin", "-loglevel", "error", "-y"}, args...)
		full = append(full, partial)
		start := time.Now()
		msg, err := exec.CommandContext(ctx, ffmpeg, full...).CombinedOutput()
		if err != nil {
			e.err = fmt.Errorf("generate %s: ffmpeg %s: %w\n%s", name, strings.Join(full, " "), err, tailOf(string(msg), 30, 4000))
			return
		}
		if err := os.Rename(partial, out); err != nil {
			e.err = fmt.Errorf("generate %s: %w", name, err)
			return
		}
		e.path = out
		tb.Logf("generated %s in %v", name, time.Since(start).Round(time.Millisecond))
	})
	if e.err != nil {
		tb.Fatal(e.err)
	}
	return e.path
}

// mediaDir returns this process's media directory, creating it on first use
// and removing the directories of earlier test binaries that have exited.
func mediaDir(tb testing.TB) string {
	tb.Helper()
	mediaCache.dirOnce.Do(func() {
		base := filepath.Join(os.TempDir(), fmt.Sprintf("tributary-testmedia-%d", os.Getuid()))
		if err := os.MkdirAll(base, 0o755); err != nil {
			mediaCache.dirErr = err
			return
		}
		if ents, err := os.ReadDir(base); err == nil {
			for _, ent := range ents {
				pid, err := strconv.Atoi(ent.Name())
				if err == nil && pid != os.Getpid() && !processAlive(pid) {
					_ = os.RemoveAll(filepath.Join(base, ent.Name()))
				}
			}
		}
		dir := filepath.Join(base, strconv.Itoa(os.Getpid()))
		_ = os.RemoveAll(dir) // left by an earlier process with the same id
		mediaCache.dirErr = os.MkdirAll(dir, 0o755)
		mediaCache.dir = dir
	})
	if mediaCache.dirErr != nil {
		tb.Fatalf("media cache directory: %v", mediaCache.dirErr)
	}
	return mediaCache.dir
}
