package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tributary-media/tributary/internal/testutil"
)

// bins holds the programs built once for the tests.
var bins struct{ edge, controller string }

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tributary-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bins.edge = filepath.Join(dir, "edge")
	bins.controller = filepath.Join(dir, "controller")
	for out, pkg := range map[string]string{bins.edge: "../../cmd/edge", bins.controller: "../../cmd/controller"} {
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build", pkg+":", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// system is a running cluster: edge a with the embedded NATS and etcd,
// edge b joining them, and a controller.
type system struct {
	t                  *testing.T
	natsURL, etcd      string
	rtmpA, rtmpB       string
	httpA, httpB, ctlz string
	a, b, ctl          *testutil.Proc
}

// startSystem starts the system. With hostOnEdge, edge a runs the embedded
// NATS and etcd servers, as the quick start does; otherwise the controller
// hosts them, so that edge a can leave (drain) without taking the
// cluster's state with it.
func startSystem(t *testing.T, drainTimeout time.Duration, hostOnEdge bool) *system {
	t.Helper()
	s := &system{t: t, etcd: testutil.FreeAddr(t), rtmpA: testutil.FreeAddr(t), rtmpB: testutil.FreeAddr(t),
		httpA: testutil.FreeAddr(t), httpB: testutil.FreeAddr(t), ctlz: testutil.FreeAddr(t)}
	natsAddr := testutil.FreeAddr(t)
	s.natsURL = "nats://" + natsAddr
	common := []string{"-lease-ttl", "2s", "-reconnect-grace", "4s", "-drain-timeout", drainTimeout.String()}
	host := []string{"-embedded-nats-addr", natsAddr, "-embedded-etcd-addr", s.etcd, "-embedded-etcd-dir", t.TempDir()}
	join := []string{"-nats-url", s.natsURL, "-etcd-endpoints", s.etcd}
	ctlArgs := []string{"-id", "ctl-1", "-http-addr", s.ctlz, "-lease-ttl", "2s", "-reconnect-grace", "4s"}
	aArgs := append([]string{"-id", "edge-a", "-rtmp-addr", s.rtmpA, "-http-addr", s.httpA, "-controller-addr="}, common...)
	if hostOnEdge {
		s.a = testutil.StartCommand(t, nil, "edge-a", bins.edge, append(aArgs, host...)...)
		waitHTTP(t, "http://"+s.httpA+"/readyz", 60*time.Second)
		s.ctl = testutil.StartCommand(t, nil, "controller", bins.controller, append(ctlArgs, join...)...)
	} else {
		s.ctl = testutil.StartCommand(t, nil, "controller", bins.controller, append(ctlArgs, host...)...)
		waitHTTP(t, "http://"+s.ctlz+"/readyz", 60*time.Second)
		s.a = testutil.StartCommand(t, nil, "edge-a", bins.edge, append(aArgs, join...)...)
		waitHTTP(t, "http://"+s.httpA+"/readyz", 30*time.Second)
	}
	s.b = testutil.StartCommand(t, nil, "edge-b", bins.edge, append(append([]string{"-id", "edge-b",
		"-rtmp-addr", s.rtmpB, "-http-addr", s.httpB}, join...), common...)...)
	waitHTTP(t, "http://"+s.httpB+"/readyz", 30*time.Second)
	waitHTTP(t, "http://"+s.ctlz+"/readyz", 30*time.Second)
	return s
}

// publish starts ffmpeg publishing media in a loop, in real time.
func (s *system) publish(ctx context.Context, name, media, rtmpURL string) *testutil.Proc {
	return testutil.StartCommand(s.t, ctx, name, testutil.RequireTool(s.t, "ffmpeg"), "-hide_banner", "-nostdin",
		"-nostats", "-loglevel", "info", "-stream_loop", "-1", "-re", "-i", media, "-c", "copy", "-f", "flv", rtmpURL)
}

// stream is the admin API's view of a stream.
type stream struct {
	App, Name, Edge string
	Epoch           uint64
}

// streams lists the streams through the controller's API.
func (s *system) streams() []stream {
	s.t.Helper()
	var out []stream
	getJSON(s.t, "http://"+s.ctlz+"/api/v1/streams", &out)
	return out
}

// waitOwner waits until the API shows app/name owned by edge ("" = no
// owner) and returns its epoch.
func (s *system) waitOwner(app, name, edge string, within time.Duration) uint64 {
	s.t.Helper()
	deadline := time.Now().Add(within)
	for {
		var got stream
		for _, st := range s.streams() {
			if st.App == app && st.Name == name {
				got = st
			}
		}
		if got.Edge == edge {
			return got.Epoch
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("stream %s/%s owned by %q, want %q", app, name, got.Edge, edge)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSystemQuickStart runs the quick start as processes: ffmpeg publishes
// to edge a, ffmpeg plays from edge b, the controller lists the stream, and
// its kick stops the encoder with an error status.
func TestSystemQuickStart(t *testing.T) {
	media := testutil.GenerateFLV(t, testutil.MediaOptions{Duration: 4 * time.Second})
	src := testutil.Probe(t, media)
	s := startSystem(t, 3*time.Second, true)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	pub := s.publish(ctx, "ffmpeg-publish", media, "rtmp://"+s.rtmpA+"/live/cam")
	s.waitOwner("live", "cam", "edge-a", 20*time.Second)
	out := filepath.Join(t.TempDir(), "played.flv")
	player := testutil.FFmpegPlay(t, ctx, "rtmp://"+s.rtmpB+"/live/cam", out, 6*time.Second)
	if err := player.Wait(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	got := testutil.Probe(t, out)
	// Six seconds of a 25 fps stream, started on a keyframe.
	want := 6 * src.VideoFrames / 4
	if got.VideoCodec != "h264" || got.AudioCodec != "aac" || !got.FirstVideoPacketIsKey || got.VideoFrames < want*95/100 {
		t.Fatalf("played %s/%s, %d video frames (want >= %d), first key %v", got.VideoCodec, got.AudioCodec,
			got.VideoFrames, want*95/100, got.FirstVideoPacketIsKey)
	}
	t.Logf("FIGURE system_played_video_frames=%d/%d", got.VideoFrames, want)

	// Kick through the API: the encoder is stopped with an error status.
	kicked := time.Now()
	resp := post(t, "http://"+s.ctlz+"/api/v1/streams/live/cam/kick")
	if resp != http.StatusAccepted {
		t.Fatalf("kick: HTTP %d", resp)
	}
	if err := pub.Wait(10 * time.Second); err == nil {
		t.Fatal("ffmpeg exited cleanly after a kick; want an error")
	}
	// ffmpeg writes without reading: it sees the closed connection, not
	// always the status before it. The edge says why it closed it.
	if !strings.Contains(s.a.Stderr(), "publish stopped by an administrator") {
		t.Fatalf("edge a does not say the publish was kicked:\n%s", tail(s.a.Stderr()))
	}
	s.waitOwner("live", "cam", "", 10*time.Second)
	t.Logf("FIGURE system_kick_to_encoder_stopped_ms=%d", time.Since(kicked).Milliseconds())
}

// TestSystemDrain drains edge a through the API while ffmpeg publishes to
// it: the edge leaves the cluster and exits, its claim is released at once
// when the encoder's connection ends, and the encoder publishing again
// through edge b is accepted without waiting for a lease to expire.
func TestSystemDrain(t *testing.T) {
	media := testutil.GenerateFLV(t, testutil.MediaOptions{Duration: 4 * time.Second})
	s := startSystem(t, 2*time.Second, false)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pub := s.publish(ctx, "ffmpeg-publish", media, "rtmp://"+s.rtmpA+"/live/cam")
	s.waitOwner("live", "cam", "edge-a", 20*time.Second)

	drained := time.Now()
	if code := post(t, "http://"+s.ctlz+"/api/v1/edges/edge-a/drain"); code != http.StatusAccepted {
		t.Fatalf("drain: HTTP %d", code)
	}
	// ffmpeg has no Enhanced RTMP reconnect: it is closed at the end of
	// the drain timeout, and edge a exits.
	if err := s.a.Wait(20 * time.Second); err != nil {
		t.Fatalf("edge a did not exit cleanly after the drain: %v", err)
	}
	t.Logf("FIGURE system_drain_to_exit_ms=%d", time.Since(drained).Milliseconds())
	pub.Wait(10 * time.Second)
	// The encoder comes back through the other edge (the load balancer's
	// job): accepted at once, the claim was released.
	back := time.Now()
	pub2 := s.publish(ctx, "ffmpeg-publish-2", media, "rtmp://"+s.rtmpB+"/live/cam")
	s.waitOwner("live", "cam", "edge-b", 10*time.Second)
	t.Logf("FIGURE system_republish_after_drain_ms=%d", time.Since(back).Milliseconds())
	var edges []struct {
		ID string `json:"id"`
	}
	getJSON(t, "http://"+s.ctlz+"/api/v1/edges", &edges)
	if len(edges) != 1 || edges[0].ID != "edge-b" {
		t.Fatalf("edges after the drain: %+v, want only edge-b", edges)
	}
	pub2.Stop(5 * time.Second)
}

func waitHTTP(t *testing.T, u string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		resp, err := http.Get(u)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready: %v", u, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d %s", u, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v: %s", u, err, b)
	}
}

func post(t *testing.T, u string) int {
	t.Helper()
	resp, err := http.Post(u, "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func tail(s string) string {
	if len(s) > 3000 {
		return s[len(s)-3000:]
	}
	return s
}
