package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tributary-media/tributary/internal/config"
	"github.com/tributary-media/tributary/internal/testutil"
)

// edgeBin is the edge program built once for the tests that run it as a
// separate process, the way users run it.
var edgeBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tributary-edge-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	edgeBin = filepath.Join(dir, "edge")
	cmd := exec.Command("go", "build", "-o", edgeBin, ".")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build edge:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// TestQuickStart is the README's quick start: one edge with its embedded
// NATS, a second edge joining it with -nats-url, ffmpeg publishing to the
// first and ffmpeg playing from the second; the recording is checked with
// ffprobe, and both edges stop cleanly on a signal.
func TestQuickStart(t *testing.T) {
	testutil.RequireTool(t, "ffmpeg")
	media := testutil.GenerateFLV(t, testutil.MediaOptions{Duration: 5 * time.Second})
	src := testutil.Probe(t, media)

	natsAddr, etcdAddr := testutil.FreeAddr(t), testutil.FreeAddr(t)
	rtmpA, httpA := testutil.FreeAddr(t), testutil.FreeAddr(t)
	rtmpB, httpB := testutil.FreeAddr(t), testutil.FreeAddr(t)
	a := testutil.StartCommand(t, nil, "edge-a", edgeBin, "-id", "edge-a",
		"-rtmp-addr", rtmpA, "-http-addr", httpA, "-embedded-nats-addr", natsAddr,
		"-embedded-etcd-addr", etcdAddr, "-embedded-etcd-dir", t.TempDir())
	for _, msg := range []string{"started an embedded NATS server", "started an embedded etcd server"} {
		if err := a.WaitStderr(msg, 30*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	waitReady(t, httpA)
	b := testutil.StartCommand(t, nil, "edge-b", edgeBin, "-id", "edge-b",
		"-rtmp-addr", rtmpB, "-http-addr", httpB, "-nats-url", "nats://"+natsAddr, "-etcd-endpoints", etcdAddr)
	waitReady(t, httpB)
	if strings.Contains(b.Stderr(), "embedded NATS") || strings.Contains(b.Stderr(), "embedded etcd") {
		t.Fatal("edge b started an embedded server although -nats-url and -etcd-endpoints were given")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out := filepath.Join(t.TempDir(), "played.flv")
	player := testutil.FFmpegPlay(t, ctx, "rtmp://"+rtmpB+"/live/test", out, 0)
	// The player waits for the stream; give it a moment to be there first.
	time.Sleep(500 * time.Millisecond)
	pub := testutil.FFmpegPublish(t, ctx, media, "rtmp://"+rtmpA+"/live/test")
	if err := pub.Wait(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	// The publisher's clean end reaches the player as UnpublishNotify,
	// which ends ffmpeg's recording.
	if err := player.Wait(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	got := testutil.Probe(t, out)
	if got.VideoCodec != "h264" || got.AudioCodec != "aac" {
		t.Fatalf("played codecs %q/%q, want h264/aac", got.VideoCodec, got.AudioCodec)
	}
	if !got.FirstVideoPacketIsKey {
		t.Fatal("the first video packet played is not a keyframe")
	}
	if min := src.VideoFrames * 95 / 100; got.VideoFrames < min {
		t.Fatalf("played %d of %d video frames, want at least %d", got.VideoFrames, src.VideoFrames, min)
	}
	t.Logf("FIGURE quickstart_video_frames=%d/%d audio_frames=%d/%d", got.VideoFrames, src.VideoFrames, got.AudioFrames, src.AudioFrames)

	for _, p := range []*testutil.Proc{b, a} {
		if err := p.Stop(15 * time.Second); err != nil {
			t.Fatal(err)
		}
		if err := p.Wait(time.Second); err != nil {
			t.Fatalf("edge did not exit cleanly: %v", err)
		}
	}
	if !strings.Contains(a.Stderr(), `msg="edge stopped"`) {
		t.Fatalf("edge a log lacks its clean stop:\n%s", a.Stderr())
	}
}

// TestSecondEmbeddedNATSExplains checks that a second edge started without
// -nats-url on the same machine fails at once and says how to join the
// first one's bus.
func TestSecondEmbeddedNATSExplains(t *testing.T) {
	natsAddr := testutil.FreeAddr(t)
	a := testutil.StartCommand(t, nil, "edge-a", edgeBin, "-rtmp-addr", testutil.FreeAddr(t),
		"-http-addr", testutil.FreeAddr(t), "-embedded-nats-addr", natsAddr,
		"-embedded-etcd-addr", testutil.FreeAddr(t), "-embedded-etcd-dir", t.TempDir())
	if err := a.WaitStderr("started an embedded NATS server", 20*time.Second); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	code := run(context.Background(), []string{"-rtmp-addr", testutil.FreeAddr(t), "-http-addr", testutil.FreeAddr(t),
		"-embedded-nats-addr", natsAddr, "-embedded-etcd-addr", testutil.FreeAddr(t), "-embedded-etcd-dir", t.TempDir()}, nil, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "-nats-url nats://"+natsAddr) {
		t.Fatalf("exit %d, log:\n%s\nwant exit 1 and a hint to use -nats-url nats://%s", code, stderr.String(), natsAddr)
	}
}

// TestConfigErrors runs the program in-process with bad settings: each is
// reported, by name, with exit status 2, before anything starts.
func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		environ []string
		want    []string
	}{
		{"unknown flag", []string{"-no-such-flag"}, nil, []string{"no-such-flag"}},
		{"bad duration and address", []string{"-reconnect-grace", "soon", "-rtmp-addr", "nonsense"}, nil,
			[]string{"reconnect-grace"}},
		{"environment typo", nil, []string{"TRIBUTARY_RTMP_ADRR=:1935"}, []string{"TRIBUTARY_RTMP_ADRR"}},
		{"rtmps without certificate", []string{"-rtmps-addr", "127.0.0.1:0"}, nil, []string{"tls-cert", "tls-key"}},
		{"missing config file", []string{"-config", "/nonexistent/edge.yaml"}, nil, []string{"/nonexistent/edge.yaml"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := run(context.Background(), tc.args, tc.environ, &stderr)
			if code != 2 {
				t.Fatalf("exit %d, want 2; output:\n%s", code, stderr.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, stderr.String())
				}
			}
		})
	}
}

// TestHelp checks that -h exits 0 and lists every flag with its
// environment variable.
func TestHelp(t *testing.T) {
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"-h"}, nil, &stderr); code != 0 {
		t.Fatalf("-h: exit %d", code)
	}
	for _, w := range []string{"-rtmp-addr", "TRIBUTARY_RTMP_ADDR", "-nats-url", "TRIBUTARY_NATS_URL", "-embedded-nats-addr", "-log-format"} {
		if !strings.Contains(stderr.String(), w) {
			t.Errorf("help lacks %q", w)
		}
	}
}

// TestEnvAndFile runs an edge in-process configured by a YAML file and the
// environment only, and checks it serves where they say.
func TestEnvAndFile(t *testing.T) {
	httpAddr := testutil.FreeAddr(t)
	file := filepath.Join(t.TempDir(), "edge.yaml")
	yaml := fmt.Sprintf("id: from-file\nrtmp_addr: %q\nembedded_nats_addr: %q\nembedded_etcd_addr: %q\nembedded_etcd_dir: %q\nlog_format: json\n",
		testutil.FreeAddr(t), testutil.FreeAddr(t), testutil.FreeAddr(t), t.TempDir())
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, nil, []string{"TRIBUTARY_CONFIG=" + file, "TRIBUTARY_HTTP_ADDR=" + httpAddr}, &stderr)
	}()
	waitReady(t, httpAddr)
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d; log:\n%s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("edge did not stop")
	}
	if !strings.Contains(stderr.String(), `"edge":"from-file"`) {
		t.Fatalf("log does not show the id and JSON format from the file:\n%s", stderr.String())
	}
}

// waitReady polls http://addr/readyz until it answers 200.
func waitReady(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("readyz: %d %s", resp.StatusCode, body)
			}
		} else if time.Now().After(deadline) {
			t.Fatalf("readyz: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReadmeListsSettings keeps the README's settings table equal to what
// the program accepts.
func TestReadmeListsSettings(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "<!-- edge-settings:begin -->\n", "<!-- edge-settings:end -->"
	s := string(b)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatal("README.md lacks the edge-settings markers")
	}
	if got, want := s[i+len(begin):j], config.EdgeUsage(); got != want {
		t.Fatalf("README.md settings table is out of date; replace it with:\n%s", want)
	}
}
