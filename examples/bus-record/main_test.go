package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tributary-media/tributary/internal/testutil"
	"github.com/tributary-media/tributary/internal/testutil/natstest"
	"github.com/tributary-media/tributary/pkg/bus"
	"github.com/tributary-media/tributary/pkg/rtmp/flv"
)

// fileTag is one tag of an FLV file, in file form.
type fileTag struct {
	tag   flv.Tag
	bytes []byte
}

func readFLV(t *testing.T, path string) []fileTag {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := flv.NewReader(bytes.NewReader(b), flv.ReaderConfig{StrictPreviousTagSize: true})
	if _, err := r.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	var tags []fileTag
	for {
		var tag flv.Tag
		if err := r.ReadTag(&tag); err != nil {
			if errors.Is(err, io.EOF) {
				return tags
			}
			t.Fatalf("read %s: %v", path, err)
		}
		c := tag.Clone()
		enc, err := c.AppendTo(nil)
		if err != nil {
			t.Fatal(err)
		}
		tags = append(tags, fileTag{c, enc})
	}
}

// buildRecorder builds this example into a temporary directory.
func buildRecorder(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "bus-record")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// proc is the recorder running as a process.
type proc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	log  strings.Builder
	line chan string
	done chan error
}

func startRecorder(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &proc{cmd: exec.CommandContext(ctx, bin, args...), line: make(chan string, 1024), done: make(chan error, 1)}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.log.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			select {
			case p.line <- sc.Text():
			default:
			}
		}
		p.done <- p.cmd.Wait()
	}()
	t.Cleanup(func() {
		cancel()
		<-p.done
		if t.Failed() {
			t.Logf("recorder log:\n%s", p.output())
		}
	})
	return p
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// waitLine waits for a log line containing substr.
func (p *proc) waitLine(t *testing.T, substr string) {
	t.Helper()
	timer := time.NewTimer(20 * time.Second)
	defer timer.Stop()
	for {
		select {
		case l := <-p.line:
			if strings.Contains(l, substr) {
				return
			}
		case err := <-p.done:
			p.done <- err
			t.Fatalf("recorder exited (%v) before logging %q", err, substr)
		case <-timer.C:
			t.Fatalf("recorder did not log %q", substr)
		}
	}
}

func (p *proc) wait(t *testing.T) {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Fatalf("recorder: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("recorder did not exit")
	}
}

// TestRecordFromBus publishes an ffmpeg-made FLV file through pkg/bus
// while the recorder runs as a process, once from the start and once
// joining half way (fast start), and checks the recordings with ffprobe.
func TestRecordFromBus(t *testing.T) {
	src := testutil.GenerateFLV(t, testutil.MediaOptions{Duration: 3 * time.Second})
	tags := readFLV(t, src)
	srv := natstest.Start(t, natstest.Options{})
	bin := buildRecorder(t)
	for _, tc := range []struct {
		name string
		join int // tags published before the recorder starts
	}{
		{"from the start", 0},
		{"joining half way", len(tags) / 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc := srv.Connect(t)
			app, name := "live", "cam 1.hd" // a name that needs escaping
			p, err := bus.NewPublisher(nc, bus.PublisherConfig{App: app, Name: name, Epoch: uint64(tc.join + 1)})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := p.ServeInit(ctx); err != nil {
				t.Fatal(err)
			}
			for _, tag := range tags[:tc.join] {
				if _, err := p.Publish(tag.bytes); err != nil {
					t.Fatal(err)
				}
			}
			out := filepath.Join(t.TempDir(), "out.flv")
			rec := startRecorder(t, bin, "-nats", srv.URL(), "-app", app, "-name", name, "-o", out)
			rec.waitLine(t, "msg=recording")
			for _, tag := range tags[tc.join:] {
				if _, err := p.Publish(tag.bytes); err != nil {
					t.Fatal(err)
				}
			}
			if err := p.End(); err != nil {
				t.Fatal(err)
			}
			rec.wait(t)

			// What the recording must hold: metadata and sequence headers,
			// then every tag from the keyframe that starts the GOP at the
			// join point (the fast start), or from the first keyframe.
			from := -1
			for i, ft := range tags {
				if flv.IsKeyframe(ft.tag.Type, ft.tag.Body) && (i < tc.join || from < 0) {
					from = i
				}
			}
			var wantVideo, wantAudio int
			for _, ft := range tags[from:] {
				if flv.IsSequenceHeader(ft.tag.Type, ft.tag.Body) {
					continue
				}
				switch ft.tag.Type {
				case flv.TagVideo:
					// Coded frames only: ffmpeg ends the file with an AVC
					// end-of-sequence tag.
					h, err := flv.ParseVideoHeader(ft.tag.Body)
					if err == nil && (h.PacketType == flv.VideoPacketCodedFrames || h.PacketType == flv.VideoPacketCodedFramesX) {
						wantVideo++
					}
				case flv.TagAudio:
					wantAudio++
				}
			}
			got := testutil.Probe(t, out)
			if got.VideoFrames != wantVideo || got.AudioFrames != wantAudio || !got.FirstVideoPacketIsKey || got.Errors != "" || got.VideoCodec != "h264" || got.AudioCodec != "aac" {
				t.Fatalf("recording: %d video and %d audio frames (want %d and %d), first key %v, codecs %s/%s, errors %q",
					got.VideoFrames, got.AudioFrames, wantVideo, wantAudio, got.FirstVideoPacketIsKey, got.VideoCodec, got.AudioCodec, got.Errors)
			}
			// Tags are written unchanged: the file is the source's tags
			// from the GOP on, after metadata and sequence headers.
			rt := readFLV(t, out)
			if tail := rt[len(rt)-len(tags[from:]):]; !sameTags(tail, tags[from:]) {
				t.Fatal("recorded tags differ from the published ones")
			}
			t.Logf("recorded %d tags: %d video and %d audio frames", len(rt), got.VideoFrames, got.AudioFrames)
		})
	}
}

func sameTags(a, b []fileTag) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i].bytes, b[i].bytes) {
			return false
		}
	}
	return true
}

// TestRecorderNewPublish checks the file logic: frames before the first
// keyframe are skipped, and a newer publish continues the timestamps.
func TestRecorderNewPublish(t *testing.T) {
	var buf bytes.Buffer
	r := newRecorder(&buf, slog.New(slog.DiscardHandler))
	tag := func(typ flv.TagType, ts uint32, body ...byte) []byte {
		b, err := flv.AppendTag(nil, typ, ts, body)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	avcSeq := []byte{0x17, 0x00, 0, 0, 0, 0x01}
	key := []byte{0x17, 0x01, 0, 0, 0, 0x65}
	inter := []byte{0x27, 0x01, 0, 0, 0, 0x41}
	aac := []byte{0xaf, 0x01, 0x21}
	frames := []bus.Frame{
		{Epoch: 1, Seq: 1, Tag: tag(flv.TagVideo, 1000, avcSeq...)},
		{Epoch: 1, Seq: 2, Tag: tag(flv.TagVideo, 1040, inter...)}, // before a keyframe: skipped
		{Epoch: 1, Seq: 3, Tag: tag(flv.TagAudio, 1040, aac...)},   // skipped too
		{Epoch: 1, Seq: 4, Tag: tag(flv.TagVideo, 1080, key...)},
		{Epoch: 1, Seq: 5, Tag: tag(flv.TagVideo, 1120, inter...)},
		{Epoch: 2, Seq: 1, Tag: tag(flv.TagVideo, 0, avcSeq...)}, // published again
		{Epoch: 2, Seq: 2, Tag: tag(flv.TagVideo, 0, key...)},
		{Epoch: 2, Seq: 3, Tag: tag(flv.TagVideo, 40, inter...)},
		{Epoch: 2, Seq: 4, Event: bus.EventEnd},
	}
	for i, f := range frames {
		done, err := r.add(f)
		if err != nil || done != (i == len(frames)-1) {
			t.Fatalf("frame %d: %v, %v", i, done, err)
		}
	}
	if err := r.finish(); err != nil {
		t.Fatal(err)
	}
	rd := flv.NewReader(&buf, flv.ReaderConfig{StrictPreviousTagSize: true})
	if _, err := rd.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	var ts []uint32
	for {
		var tg flv.Tag
		if err := rd.ReadTag(&tg); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatal(err)
		}
		ts = append(ts, tg.Timestamp)
	}
	want := []uint32{1000, 1080, 1120, 1121, 1121, 1161}
	if len(ts) != len(want) || r.skipped != 2 {
		t.Fatalf("timestamps %v (skipped %d), want %v", ts, r.skipped, want)
	}
	for i := range want {
		if ts[i] != want[i] {
			t.Fatalf("timestamps %v, want %v", ts, want)
		}
	}
}
