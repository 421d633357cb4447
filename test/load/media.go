package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/tributary-media/tributary/pkg/rtmp/flv"
)

// mediaTag is one tag of the input file, held in memory for the whole run.
type mediaTag struct {
	typ  flv.TagType
	ts   uint32 // timestamp relative to the first tag of the file
	body []byte
	// setup marks tags sent once per publish, not on every loop: the
	// script tag (onMetaData) and sequence headers.
	setup bool
	// frame marks a coded video frame: what players count and what the
	// latency log records.
	frame bool
}

// media is the input file, read once and shared read-only by every
// publisher.
type media struct {
	path string
	tags []mediaTag
	// loop is how much the timestamps advance from one pass over the file
	// to the next: the last timestamp plus one frame interval, so that
	// looped timestamps continue without a jump or a repeat.
	loop uint32
	// videoFrames counts the coded video frames of one pass.
	videoFrames int
	// videoBytes and totalBytes are the tag body bytes of one pass.
	videoBytes, totalBytes int
	// width and height come from the video sequence header (0 if unknown).
	width, height int
	// codec is the video codec.
	codec flv.Codec
	// keyInterval is the median distance between keyframes, in ms.
	keyInterval uint32
	// frameInterval is the median distance between video frames, in ms.
	frameInterval uint32
}

// maxInputBytes bounds the input file: every publisher shares one copy in
// memory, and a load run is about many players, not long files.
const maxInputBytes = 512 << 20

// loadMedia reads an FLV file into memory. It needs at least one coded
// video frame with strictly increasing timestamps (the latency log is keyed
// by video timestamp).
func loadMedia(path string) (*media, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load: input: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > maxInputBytes {
		return nil, fmt.Errorf("load: input %s is %d bytes, more than the %d this tool holds in memory", path, st.Size(), maxInputBytes)
	}
	return readMedia(path, bufio.NewReaderSize(f, 1<<16))
}

// readMedia reads FLV tags from r; path only names the input in errors and
// reports.
func readMedia(path string, r io.Reader) (*media, error) {
	m := &media{path: path}
	fr := flv.NewReader(r, flv.ReaderConfig{})
	var (
		t          flv.Tag
		first      = true
		base       uint32
		lastVideo  int64 = -1
		videoTS    []uint32
		keyTS      []uint32
		lastAudio  uint32
		audioDelta []uint32
		haveAudio  bool
	)
	for {
		err := fr.ReadTag(&t)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("load: input %s: %w", path, err)
		}
		if t.Type != flv.TagAudio && t.Type != flv.TagVideo && t.Type != flv.TagScript {
			continue
		}
		if first {
			base, first = t.Timestamp, false
		}
		if t.Timestamp < base {
			return nil, fmt.Errorf("load: input %s: a tag at %d ms precedes the first tag (%d ms); this tool needs strictly increasing video timestamps", path, t.Timestamp, base)
		}
		ts := t.Timestamp - base
		mt := mediaTag{typ: t.Type, ts: ts, body: slices.Clone(t.Body)}
		switch t.Type {
		case flv.TagScript:
			mt.setup = true
		case flv.TagAudio:
			mt.setup = flv.IsSequenceHeader(t.Type, t.Body)
			if !mt.setup && len(t.Body) > 0 {
				if haveAudio && ts > lastAudio {
					audioDelta = append(audioDelta, ts-lastAudio)
				}
				lastAudio, haveAudio = ts, true
			}
		case flv.TagVideo:
			switch {
			case flv.IsSequenceHeader(t.Type, t.Body):
				mt.setup = true
				m.readVideoConfig(t.Body)
			case isSequenceEnd(t.Body):
				// ffmpeg ends files with one; the loop goes on.
				continue
			case isCodedFrame(t.Body):
				if int64(ts) <= lastVideo {
					return nil, fmt.Errorf("load: input %s: video timestamp %d ms after %d ms; this tool needs strictly increasing video timestamps", path, ts, lastVideo)
				}
				lastVideo = int64(ts)
				mt.frame = true
				m.videoFrames++
				m.videoBytes += len(t.Body)
				videoTS = append(videoTS, ts)
				if flv.IsKeyframe(t.Type, t.Body) {
					keyTS = append(keyTS, ts)
				}
			}
		}
		m.totalBytes += len(mt.body)
		m.tags = append(m.tags, mt)
		if m.totalBytes > maxInputBytes {
			return nil, fmt.Errorf("load: input %s holds more than %d bytes of tags", path, maxInputBytes)
		}
	}
	if m.videoFrames == 0 {
		return nil, fmt.Errorf("load: input %s has no coded video frames", path)
	}
	m.frameInterval = medianDelta(videoTS)
	if m.frameInterval == 0 {
		m.frameInterval = 33
	}
	m.keyInterval = medianDelta(keyTS)
	m.loop = uint32(lastVideo) + m.frameInterval
	if haveAudio {
		ad := median(audioDelta)
		if ad == 0 {
			ad = 1
		}
		m.loop = max(m.loop, lastAudio+ad)
	}
	return m, nil
}

// readVideoConfig records the picture size of a video sequence header.
func (m *media) readVideoConfig(body []byte) {
	h, err := flv.ParseVideoHeader(body)
	if err != nil {
		return
	}
	m.codec = h.Codec
	if vc, err := flv.ParseVideoConfig(h.Codec, h.Data); err == nil {
		m.width, m.height = vc.Width, vc.Height
	}
}

// isCodedFrame reports whether a video tag body carries a coded picture:
// not a sequence header or end, a command or metadata.
func isCodedFrame(body []byte) bool {
	h, err := flv.ParseVideoHeader(body)
	return err == nil && !h.HasCommand &&
		(h.PacketType == flv.VideoPacketCodedFrames || h.PacketType == flv.VideoPacketCodedFramesX)
}

// isSequenceEnd reports a video end-of-sequence tag.
func isSequenceEnd(body []byte) bool {
	h, err := flv.ParseVideoHeader(body)
	return err == nil && !h.HasCommand && h.PacketType == flv.VideoPacketSequenceEnd
}

// medianDelta returns the median difference between consecutive values.
func medianDelta(ts []uint32) uint32 {
	if len(ts) < 2 {
		return 0
	}
	d := make([]uint32, len(ts)-1)
	for i := 1; i < len(ts); i++ {
		d[i-1] = ts[i] - ts[i-1]
	}
	return median(d)
}

func median(v []uint32) uint32 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// durationMS is the length of one pass over the file in milliseconds.
func (m *media) durationMS() uint32 { return m.loop }

// videoKbps is the average video bitrate of the file.
func (m *media) videoKbps() float64 {
	return float64(m.videoBytes) * 8 / float64(max(m.loop, 1))
}

// totalKbps is the average bitrate of all tags of the file.
func (m *media) totalKbps() float64 {
	return float64(m.totalBytes) * 8 / float64(max(m.loop, 1))
}

// fps is the video frame rate derived from the frame interval.
func (m *media) fps() float64 {
	return 1000 / float64(max(m.frameInterval, 1))
}

// Default input: what a typical live encoder sends.
const (
	defaultWidth    = 1280
	defaultHeight   = 720
	defaultFPS      = 30
	defaultKbps     = 3000 // video; AAC adds 128 kbit/s
	defaultGOP      = 2    // seconds
	defaultDuration = 10   // seconds, looped
)

// defaultInputName names the generated input after its parameters, so a
// cached file is reused only when it matches.
func defaultInputName() string {
	return fmt.Sprintf("load-h264-aac-%dx%d-%dfps-%dk-gop%ds-%ds.flv",
		defaultWidth, defaultHeight, defaultFPS, defaultKbps, defaultGOP, defaultDuration)
}

// defaultInput returns the path of the default input, generating it with
// ffmpeg into the user cache directory the first time.
func defaultInput(ctx context.Context) (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	dir = filepath.Join(dir, "tributary", "load")
	path := filepath.Join(dir, defaultInputName())
	if st, err := os.Stat(path); err == nil && st.Size() > 0 {
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("load: cache directory: %w", err)
	}
	if err := generateInput(ctx, path); err != nil {
		return "", err
	}
	return path, nil
}

// generateInput encodes the default input with ffmpeg: H.264 (libx264) at
// 720p30 and about 3 Mbit/s with a fixed 2 s GOP, and 128 kbit/s AAC, 10 s
// long. A little temporal noise on the test picture keeps the encoder near
// its target bitrate (a clean test pattern compresses to a fraction of it).
// The file is written next to path and renamed into place when complete.
func generateInput(ctx context.Context, path string) error {
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		return fmt.Errorf("load: no -input given and ffmpeg is not installed to generate one: %w", err)
	}
	tmp := path + ".part"
	gop := strconv.Itoa(defaultGOP * defaultFPS)
	kbps := strconv.Itoa(defaultKbps) + "k"
	args := []string{
		"-hide_banner", "-loglevel", "error", "-nostdin", "-y",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=%d", defaultWidth, defaultHeight, defaultFPS),
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
		"-t", strconv.Itoa(defaultDuration), "-map", "0:v", "-map", "1:a",
		"-vf", "noise=alls=12:allf=t",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
		"-g", gop, "-keyint_min", gop, "-sc_threshold", "0",
		"-b:v", kbps, "-maxrate", kbps, "-bufsize", kbps,
		"-c:a", "aac", "-b:a", "128k", "-ac", "2",
		"-f", "flv", tmp,
	}
	out, err := exec.CommandContext(ctx, ffmpeg, args...).CombinedOutput()
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("load: generating the input with ffmpeg: %w: %s", err, out)
	}
	return os.Rename(tmp, path)
}
