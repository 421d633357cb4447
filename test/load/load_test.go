package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tributary-media/tributary/internal/testutil"
)

// moduleRoot returns the directory of go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller information")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// binDir holds the programs the tests build; TestMain removes it.
var binDir string

func TestMain(m *testing.M) {
	os.Exit(testutil.MainWithTempDir(m, "load-test-", &binDir))
}

// exampleServer is the path of the examples/server binary, built once.
var exampleServer = sync.OnceValues(func() (string, error) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(binDir, "server")
	_, file, _, _ := runtime.Caller(0)
	build := exec.Command(goTool, "build", "-o", bin, "./examples/server")
	build.Dir = filepath.Join(filepath.Dir(file), "..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build examples/server: %v\n%s", err, out)
	}
	return bin, nil
})

// startExampleServer runs examples/server on a free port of 127.0.0.1
// until the test ends. It returns the address and the process id.
func startExampleServer(t *testing.T) (string, int) {
	t.Helper()
	bin, err := exampleServer()
	if err != nil {
		t.Fatal(err)
	}
	addr := testutil.FreeAddr(t)
	var logBuf bytes.Buffer
	cmd := exec.Command(bin, "-addr", addr, "-log-level", "warn")
	cmd.Stdout, cmd.Stderr = &logBuf, &logBuf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start examples/server: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("examples/server log:\n%s", logBuf.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return addr, cmd.Process.Pid
		}
		select {
		case <-exited:
			t.Fatalf("examples/server exited before listening on %s:\n%s", addr, logBuf.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("examples/server does not accept connections on %s: %v", addr, err)
		}
	}
}

// checkNoLeak fails the test if goroutines started since there were base
// of them are still running after a grace period.
func checkNoLeak(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines left running (%d before the run):\n%s",
				runtime.NumGoroutine()-base, base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLoadAgainstExampleServer is the tool's self-test: one publisher and
// three players through examples/server for 3 s. Every frame sent after a
// player's first frame must arrive, with a latency recorded for each live
// frame.
func TestLoadAgainstExampleServer(t *testing.T) {
	testutil.RequireTool(t, "ffmpeg")
	input := testutil.GenerateFLV(t, testutil.MediaOptions{Duration: 2 * time.Second, FPS: 25, GOP: 25})
	addr, pid := startExampleServer(t)

	cfg := config{
		publishers:    1,
		players:       3,
		edges:         []string{addr},
		app:           "live",
		streamPrefix:  "selftest",
		input:         input,
		duration:      3 * time.Second,
		ramp:          300 * time.Millisecond,
		playerTimeout: 5 * time.Second,
		drain:         2 * time.Second,
		stallGap:      time.Second,
		minDelivery:   0.999,
		maxP99:        time.Second,
		serverPID:     pid,
		perPlayer:     true,
	}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	m, err := loadMedia(input)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	goroutines := runtime.NumGoroutine()
	s, err := runLoad(ctx, cfg, m, "")
	if err != nil {
		t.Fatal(err)
	}
	checkNoLeak(t, goroutines)
	var text bytes.Buffer
	writeText(&text, s)
	t.Logf("summary:\n%s", text.String())

	// The publisher ran in real time: 25 fps for the ramp and the duration.
	wantSent := int64(25 * (cfg.ramp + cfg.duration).Seconds())
	if got := s.Publish.FramesSent; got < wantSent*9/10 || got > wantSent*11/10+2 {
		t.Errorf("publisher sent %d frames, want about %d", got, wantSent)
	}
	if s.Publish.Disconnects != 0 {
		t.Errorf("publisher disconnects = %d (%s)", s.Publish.Disconnects, s.Publish.LastError)
	}
	pl := s.Play
	if pl.PlayersWithMedia != 3 || pl.Disconnects != 0 {
		t.Errorf("%d of 3 players got media, %d disconnects (last error %q)", pl.PlayersWithMedia, pl.Disconnects, pl.LastError)
	}
	if pl.FramesUnmatched != 0 || pl.FramesCorrupt != 0 || pl.FramesDuplicate != 0 {
		t.Errorf("unmatched %d, corrupt %d, duplicate %d frames; want none", pl.FramesUnmatched, pl.FramesCorrupt, pl.FramesDuplicate)
	}
	for _, p := range s.PlayerDetails {
		// Each player plays at least the duration, so it expects at
		// least that many frames, and receives them (a loopback server
		// loses none; on a busy machine the last one or two may still
		// be in flight when the drain ends).
		if p.FramesExpected < int64(25*cfg.duration.Seconds()) {
			t.Errorf("player %d expected only %d frames", p.ID, p.FramesExpected)
		}
		if missing := p.FramesExpected - p.FramesReceived; missing < 0 || missing > max(2, p.FramesExpected/100) {
			t.Errorf("player %d received %d of %d frames", p.ID, p.FramesReceived, p.FramesExpected)
		}
		if p.Latency.Samples == 0 || p.Latency.P50MS <= 0 || p.Latency.MaxMS < p.Latency.P50MS {
			t.Errorf("player %d latency %+v: want samples with a positive median", p.ID, p.Latency)
		}
	}
	if uint64(pl.FramesReceived-pl.FramesCached) != pl.Latency.Samples {
		t.Errorf("%d latency samples for %d live frames", pl.Latency.Samples, pl.FramesReceived-pl.FramesCached)
	}
	if s.Input.Width != 320 || s.Input.Height != 240 || s.Input.Codec != "h264" {
		t.Errorf("input described as %s %dx%d, want h264 320x240", s.Input.Codec, s.Input.Width, s.Input.Height)
	}
	if sv := s.Server; sv == nil || sv.CPUSeconds <= 0 || sv.RSSBytes <= 0 || sv.CPUSecondsPerGbit <= 0 {
		t.Errorf("server figures missing: %+v", sv)
	}

	// The JSON summary carries the same figures under the documented
	// names.
	var buf bytes.Buffer
	if err := writeJSON(&buf, s); err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	play := back["play"].(map[string]any)
	if got := play["frames_received"].(float64); int64(got) != pl.FramesReceived {
		t.Errorf("JSON play.frames_received = %v, want %d", got, pl.FramesReceived)
	}
	if !strings.Contains(buf.String(), `"p99"`) {
		t.Error("JSON summary has no latency p99")
	}
}

// TestFailover kills the server a publisher and two players use in the
// middle of a run: with -failover they move to the second server (as
// behind a load balancer), and the summary tells when and for how long
// the stream was not published and each player saw nothing.
func TestFailover(t *testing.T) {
	testutil.RequireTool(t, "ffmpeg")
	input := testutil.GenerateFLV(t, testutil.MediaOptions{Duration: 2 * time.Second, FPS: 25, GOP: 25})
	addrA, pidA := startExampleServer(t)
	addrB, _ := startExampleServer(t)
	cfg := config{
		publishers:    1,
		players:       4, // 0 and 2 on A, 1 and 3 on B
		edges:         []string{addrA, addrB},
		app:           "live",
		streamPrefix:  "failover",
		input:         input,
		duration:      6 * time.Second,
		ramp:          200 * time.Millisecond,
		playerTimeout: 3 * time.Second,
		drain:         2 * time.Second,
		stallGap:      200 * time.Millisecond,
		minDelivery:   0.999,
		maxP99:        time.Second,
		perPlayer:     true,
		failover:      true,
	}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	m, err := loadMedia(input)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	killed := make(chan time.Time, 1)
	go func() {
		time.Sleep(cfg.ramp + 2*time.Second)
		syscall.Kill(pidA, syscall.SIGKILL)
		killed <- time.Now()
	}()
	s, err := runLoad(ctx, cfg, m, "")
	if err != nil {
		t.Fatal(err)
	}
	killAt := float64((<-killed).UnixMilli() - s.StartedUnixMS)
	var text bytes.Buffer
	writeText(&text, s)
	t.Logf("killed A at %.0f ms; summary:\n%s", killAt, text.String())

	if s.Publish.Outages != 1 || len(s.StreamDetails) != 1 {
		t.Fatalf("publish outages %d, stream details %+v: want one outage of one stream", s.Publish.Outages, s.StreamDetails)
	}
	sd := s.StreamDetails[0]
	if sd.Edge != addrB || len(sd.OutageList) != 1 {
		t.Fatalf("stream details %+v: want the stream on %s after one outage", sd, addrB)
	}
	if o := sd.OutageList[0]; o.AtMS < killAt-100 || o.AtMS > killAt+1000 || o.MS <= 0 || o.MS > 3000 || o.MS != sd.MaxOutageMS {
		t.Errorf("outage %+v (longest %.0f ms): want it to start at the kill (%.0f ms) and last less than 3 s", o, sd.MaxOutageMS, killAt)
	}
	if s.Play.PlayersWithMedia != 4 {
		t.Errorf("%d of 4 players got media", s.Play.PlayersWithMedia)
	}
	for _, p := range s.PlayerDetails {
		if p.Edge != addrB {
			t.Errorf("player %d ended on %s, want %s", p.ID, p.Edge, addrB)
		}
		if p.ID%2 == 0 && p.Disconnects == 0 {
			t.Errorf("player %d on the killed server saw no disconnect", p.ID)
		}
		// Players that played from A saw the stream stop at the kill and
		// come back on B; those on B before the kill waited for it (and
		// may have started after it).
		if p.ID%2 == 0 {
			if len(p.Gaps) == 0 || p.MaxGapMS < 400 {
				t.Errorf("player %d: gaps %+v, want one of at least 0.4 s at the kill", p.ID, p.Gaps)
			} else if g := p.Gaps[0]; g.AtMS < killAt-1000 || g.AtMS > killAt+200 {
				t.Errorf("player %d: first gap %+v, want it to start at the kill (%.0f ms)", p.ID, g, killAt)
			}
		}
		if p.LastFrameMS < s.WindowEndMS-1000 {
			t.Errorf("player %d: newest frame at %.0f ms, window closed at %.0f ms: not back to full service", p.ID, p.LastFrameMS, s.WindowEndMS)
		}
	}
	if s.Play.MaxGapMS < 400 {
		t.Errorf("play.max_gap_ms = %.0f, want the kill's gap", s.Play.MaxGapMS)
	}
}
