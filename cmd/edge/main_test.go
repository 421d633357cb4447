package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tributary-media/tributary/internal/config"
	"github.com/tributary-media/tributary/internal/controller"
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
// NATS, etcd and controller, a second edge joining it with -nats-url and
// -etcd-endpoints, ffmpeg publishing to the first and ffmpeg playing from
// the second; the first edge's admin API lists the stream while it is
// published and says its controller leads; the recording is checked with
// ffprobe; both edges' /metrics tell what they did; both edges stop
// cleanly on a signal, the controller resigning after the sessions are
// drained.
func TestQuickStart(t *testing.T) {
	testutil.RequireTool(t, "ffmpeg")
	media := testutil.GenerateFLV(t, testutil.MediaOptions{Duration: 5 * time.Second})
	src := testutil.Probe(t, media)

	natsAddr, etcdAddr, ctlAddr := testutil.FreeAddr(t), testutil.FreeAddr(t), testutil.FreeAddr(t)
	rtmpA, httpA := testutil.FreeAddr(t), testutil.FreeAddr(t)
	rtmpB, httpB := testutil.FreeAddr(t), testutil.FreeAddr(t)
	a := testutil.StartCommand(t, nil, "edge-a", edgeBin, "-id", "edge-a",
		"-rtmp-addr", rtmpA, "-http-addr", httpA, "-embedded-nats-addr", natsAddr,
		"-embedded-etcd-addr", etcdAddr, "-embedded-etcd-dir", t.TempDir(), "-controller-addr", ctlAddr)
	for _, msg := range []string{"started an embedded NATS server", "started an embedded etcd server", "admin API started"} {
		if err := a.WaitStderr(msg, 30*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	waitReady(t, httpA)
	// Edge b joins an external etcd, so it runs no controller, whatever
	// -controller-addr says: it keeps the default.
	b := testutil.StartCommand(t, nil, "edge-b", edgeBin, "-id", "edge-b",
		"-rtmp-addr", rtmpB, "-http-addr", httpB, "-nats-url", "nats://"+natsAddr, "-etcd-endpoints", etcdAddr)
	waitReady(t, httpB)
	if strings.Contains(b.Stderr(), "embedded NATS") || strings.Contains(b.Stderr(), "embedded etcd") {
		t.Fatal("edge b started an embedded server although -nats-url and -etcd-endpoints were given")
	}
	api := "http://" + ctlAddr + "/api/v1/"
	waitFor(t, 20*time.Second, "edge a's controller to lead", func() bool {
		var st controller.LeaderStatus
		return getJSON(t, api+"leader", &st) == http.StatusOK && st.IsLeader && st.ID != nil && *st.ID == "edge-a-controller" &&
			st.Replica == "edge-a-controller"
	})

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out := filepath.Join(t.TempDir(), "played.flv")
	player := testutil.FFmpegPlay(t, ctx, "rtmp://"+rtmpB+"/live/test", out, 0)
	// The player waits for the stream; give it a moment to be there first.
	time.Sleep(500 * time.Millisecond)
	pub := testutil.FFmpegPublish(t, ctx, media, "rtmp://"+rtmpA+"/live/test")
	waitFor(t, 30*time.Second, "the admin API to list live/test owned by edge-a", func() bool {
		var streams []controller.StreamStatus
		if code := getJSON(t, api+"streams", &streams); code != http.StatusOK {
			t.Fatalf("GET %sstreams: status %d", api, code)
		}
		for _, st := range streams {
			if st.App == "live" && st.Name == "test" {
				return st.Edge == "edge-a" && st.Epoch > 0
			}
		}
		return false
	})
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
	checkQuickStartMetrics(t, httpA, httpB, ctlAddr, got.VideoFrames)

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
	// The controller resigns after the sessions are drained and before
	// the edge has stopped.
	logA := a.Stderr()
	drain := strings.Index(logA, "shutting down: draining sessions")
	resign := strings.Index(logA, "resigning the leadership")
	left := strings.Index(logA, "left the leader election")
	stopped := strings.Index(logA, `msg="edge stopped"`)
	if drain < 0 || resign < drain || left < resign || stopped < left {
		t.Fatalf("edge a log does not show drain, resignation, leaving the election and stop in that order:\n%s", logA)
	}
	if strings.Contains(b.Stderr(), "admin API") || strings.Contains(b.Stderr(), "leader election") {
		t.Fatalf("edge b ran a controller although it joined an external etcd:\n%s", b.Stderr())
	}
}

// checkQuickStartMetrics scrapes the quick start's edges over HTTP once
// the stream has ended: a published to b, which played at least frames
// video frames; a's in-process controller leads and shares a's registry.
func checkQuickStartMetrics(t *testing.T, httpA, httpB, ctlAddr string, frames int) {
	t.Helper()
	ma, mb := scrapeMetrics(t, httpA), scrapeMetrics(t, httpB)
	for _, fams := range []map[string]*dto.MetricFamily{ma, mb} {
		for _, name := range []string{"go_goroutines", "process_start_time_seconds", "tributary_edge_sessions"} {
			if fams[name] == nil {
				t.Errorf("/metrics lacks %s", name)
			}
		}
		if v := metricSample(fams, "tributary_edge_nats_connected"); v != 1 {
			t.Errorf("tributary_edge_nats_connected = %v, want 1", v)
		}
		if v := metricSample(fams, "tributary_edge_cluster_member"); v != 1 {
			t.Errorf("tributary_edge_cluster_member = %v, want 1", v)
		}
	}
	if v := metricSample(ma, "tributary_edge_publishes_total", "result", "accepted"); v != 1 {
		t.Errorf("edge a publishes accepted = %v, want 1", v)
	}
	if v := metricSample(ma, "tributary_edge_frames_received_total"); v < float64(frames) {
		t.Errorf("edge a frames received = %v, want at least %d", v, frames)
	}
	if v := metricSample(mb, "tributary_edge_plays_total", "result", "accepted"); v != 1 {
		t.Errorf("edge b plays accepted = %v, want 1", v)
	}
	if v := metricSample(mb, "tributary_edge_frames_sent_total"); v < float64(frames) {
		t.Errorf("edge b frames sent = %v, want at least %d", v, frames)
	}
	if v := metricSample(mb, "tributary_edge_sent_bytes_total"); v <= 0 {
		t.Errorf("edge b sent bytes = %v, want some", v)
	}
	if v := metricSample(mb, "tributary_edge_frame_latency_seconds"); v <= 0 {
		t.Errorf("edge b frame latency observations = %v, want some", v)
	}
	if v := metricSample(mb, "tributary_edge_time_to_first_frame_seconds"); v != 1 {
		t.Errorf("edge b time to first frame observations = %v, want 1", v)
	}
	if v := metricSample(ma, "tributary_controller_leader"); v != 1 {
		t.Errorf("edge a's controller leader gauge = %v, want 1", v)
	}
	if mb["tributary_controller_leader"] != nil {
		t.Error("edge b, which runs no controller, exports controller metrics")
	}
	// The controller's admin address serves the same registry.
	if v := metricSample(scrapeMetrics(t, ctlAddr), "tributary_controller_leader"); v != 1 {
		t.Errorf("leader gauge on the admin address = %v, want 1", v)
	}
}

// scrapeMetrics fetches http://addr/metrics and parses the text format.
func scrapeMetrics(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape %s: %v", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: status %d", addr, resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("scrape %s: %v", addr, err)
	}
	return fams
}

// metricSample returns the value of family name's sample with the label
// pair lv (name, value) if given: a counter's or gauge's value, a
// histogram's count; -1 when there is none.
func metricSample(fams map[string]*dto.MetricFamily, name string, lv ...string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
	for _, m := range f.Metric {
		if len(lv) == 2 {
			match := false
			for _, l := range m.Label {
				if l.GetName() == lv[0] && l.GetValue() == lv[1] {
					match = true
				}
			}
			if !match {
				continue
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

// TestSecondEmbeddedNATSExplains checks that a second edge started without
// -nats-url on the same machine fails at once and says how to join the
// first one's bus.
func TestSecondEmbeddedNATSExplains(t *testing.T) {
	natsAddr := testutil.FreeAddr(t)
	a := testutil.StartCommand(t, nil, "edge-a", edgeBin, "-rtmp-addr", testutil.FreeAddr(t),
		"-http-addr", testutil.FreeAddr(t), "-embedded-nats-addr", natsAddr,
		"-embedded-etcd-addr", testutil.FreeAddr(t), "-embedded-etcd-dir", t.TempDir(), "-controller-addr", testutil.FreeAddr(t))
	if err := a.WaitStderr("started an embedded NATS server", 20*time.Second); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	code := run(context.Background(), []string{"-rtmp-addr", testutil.FreeAddr(t), "-http-addr", testutil.FreeAddr(t),
		"-embedded-nats-addr", natsAddr, "-embedded-etcd-addr", testutil.FreeAddr(t), "-embedded-etcd-dir", t.TempDir(),
		"-controller-addr", ""}, nil, &stderr)
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
		{"controller on the health address", []string{"-controller-addr", ":8080"}, nil,
			[]string{`-controller-addr: ":8080" is also the address of -http-addr`}},
		{"bad controller address", nil, []string{"TRIBUTARY_CONTROLLER_ADDR=8081"}, []string{"-controller-addr", "TRIBUTARY_CONTROLLER_ADDR"}},
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
	for _, w := range []string{"-rtmp-addr", "TRIBUTARY_RTMP_ADDR", "-nats-url", "TRIBUTARY_NATS_URL", "-embedded-nats-addr", "-log-format",
		"-controller-addr", "TRIBUTARY_CONTROLLER_ADDR"} {
		if !strings.Contains(stderr.String(), w) {
			t.Errorf("help lacks %q", w)
		}
	}
}

// TestEnvAndFile runs an edge in-process configured by a YAML file and the
// environment only, and checks it serves where they say: health and the
// in-process controller's API.
func TestEnvAndFile(t *testing.T) {
	httpAddr, ctlAddr := testutil.FreeAddr(t), testutil.FreeAddr(t)
	file := filepath.Join(t.TempDir(), "edge.yaml")
	yaml := fmt.Sprintf("id: from-file\nrtmp_addr: %q\nembedded_nats_addr: %q\nembedded_etcd_addr: %q\nembedded_etcd_dir: %q\ncontroller_addr: %q\nlog_format: json\n",
		testutil.FreeAddr(t), testutil.FreeAddr(t), testutil.FreeAddr(t), t.TempDir(), ctlAddr)
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var stderr testutil.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, nil, []string{"TRIBUTARY_CONFIG=" + file, "TRIBUTARY_HTTP_ADDR=" + httpAddr}, &stderr)
	}()
	waitReady(t, httpAddr)
	waitReady(t, ctlAddr)
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

// TestControllerAddrTaken runs an edge in-process whose controller address
// is taken: it fails before serving, says which setting to change, and
// releases what it started, so that the same addresses work at once.
func TestControllerAddrTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	rtmpAddr, httpAddr := testutil.FreeAddr(t), testutil.FreeAddr(t)
	args := []string{"-rtmp-addr", rtmpAddr, "-http-addr", httpAddr, "-embedded-nats-addr", testutil.FreeAddr(t),
		"-embedded-etcd-addr", testutil.FreeAddr(t), "-embedded-etcd-dir", t.TempDir()}
	var stderr bytes.Buffer
	code := run(context.Background(), append(args, "-controller-addr", ln.Addr().String()), nil, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "-controller-addr "+ln.Addr().String()) ||
		!strings.Contains(stderr.String(), "-controller-addr= runs none") {
		t.Fatalf("exit %d, log:\n%s\nwant exit 1 and the -controller-addr setting named", code, stderr.String())
	}
	for _, addr := range []string{rtmpAddr, httpAddr} {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("%s still taken after the edge failed: %v", addr, err)
		}
		l.Close()
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

// waitFor polls cond until it holds, failing the test after within.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// getJSON gets url and decodes its JSON answer into v; it returns the
// status.
func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: decode: %v", url, err)
	}
	return resp.StatusCode
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
