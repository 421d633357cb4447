package faults

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tributary-media/tributary/internal/testutil"
	"github.com/tributary-media/tributary/internal/testutil/etcdtest"
	"github.com/tributary-media/tributary/internal/testutil/natstest"
	"github.com/tributary-media/tributary/pkg/bus"
)

// The load every test runs: one stream published on each edge, players of
// every stream on every edge.
const (
	numEdges   = 3
	numStreams = 3
	numPlayers = 30
	app        = "live"
	// leaseTTL is the edges' etcd lease TTL, the default.
	leaseTTL = 5 * time.Second
	// stallGap is the shortest pause between video frames the load tool
	// counts as a gap (the input has 25 frames a second).
	stallGap = 300 * time.Millisecond
	// steady is how long every player must have played without a gap at
	// the end of a run: full service again.
	steady = 5 * time.Second
	// maxNoiseGap (ms) is the longest gap tolerated away from a fault:
	// scheduling noise on a loaded machine, not a loss of service.
	maxNoiseGap = 3000
)

// binDir holds the programs the tests build; TestMain removes it.
var binDir string

func TestMain(m *testing.M) {
	os.Exit(testutil.MainWithTempDir(m, "tributary-faults-", &binDir))
}

// binaries are the paths of the edge and load tool programs, built once
// per test binary.
var binaries = sync.OnceValues(func() ([2]string, error) {
	var out [2]string
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	dir := binDir
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	for i, pkg := range []string{"./cmd/edge", "./test/load"} {
		out[i] = filepath.Join(dir, filepath.Base(pkg))
		cmd := exec.Command(goTool, "build", "-o", out[i], pkg)
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			return out, fmt.Errorf("build %s: %v\n%s", pkg, err, b)
		}
	}
	return out, nil
})

// edgeProc is one edge process, reaching etcd through its own proxy so that
// it alone can be cut off.
type edgeProc struct {
	id         string
	rtmp, http string
	proxy      *testutil.Proxy
	args       []string
	bin        string
	proc       *testutil.Proc // the current process
}

// start starts the edge process and waits until it is ready.
func (e *edgeProc) start(t *testing.T) time.Duration {
	t.Helper()
	began := time.Now()
	e.proc = testutil.StartCommand(t, nil, e.id, e.bin, e.args...)
	if err := e.awaitReady(30 * time.Second); err != nil {
		t.Fatalf("%v; log:\n%s", err, e.proc.Stderr())
	}
	return time.Since(began)
}

// ready reports whether /readyz answers 200.
func (e *edgeProc) ready() bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + e.http + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (e *edgeProc) awaitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for !e.ready() {
		if time.Now().After(deadline) {
			return fmt.Errorf("edge %s not ready within %v", e.id, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// metric returns the sum of the samples of a metric whose label set
// contains labels (such as `role="player"`), from /metrics.
func (e *edgeProc) metric(name, labels string) float64 {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + e.http + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest != "" && rest[0] != '{' && rest[0] != ' ') || !strings.Contains(rest, labels) {
			continue
		}
		f := strings.Fields(rest)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			sum += v
		}
	}
	return sum
}

// cluster is NATS, etcd and the edges of one test.
type cluster struct {
	ns    *natstest.Server
	es    *etcdtest.Server
	edges []*edgeProc
	watch *busWatch
	input string
	load  string
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	testutil.RequireTool(t, "ffmpeg")
	bins, err := binaries()
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{
		ns:   natstest.Start(t, natstest.Options{}),
		es:   etcdtest.Start(t, etcdtest.Options{}),
		load: bins[1],
		// 320x240, 25 fps, a keyframe a second, ~0.4 Mbit/s with audio.
		input: testutil.GenerateFLV(t, testutil.MediaOptions{Duration: 4 * time.Second}),
	}
	for i := range numEdges {
		e := &edgeProc{
			id:    fmt.Sprintf("edge-%d", i),
			rtmp:  testutil.FreeAddr(t),
			http:  testutil.FreeAddr(t),
			proxy: testutil.StartProxy(t, c.es.Addr()),
			bin:   bins[0],
		}
		e.args = []string{
			"-id", e.id, "-rtmp-addr", e.rtmp, "-http-addr", e.http,
			"-nats-url", c.ns.URL(), "-etcd-endpoints", "http://" + e.proxy.Addr(),
			"-controller-addr", "", "-lease-ttl", leaseTTL.String(), "-drain-timeout", "1s",
		}
		c.edges = append(c.edges, e)
	}
	for _, e := range c.edges {
		e.start(t)
	}
	c.watch = watchBus(t, c.ns)
	return c
}

// players returns the number of players connected over all edges.
func (c *cluster) players() int {
	n := 0.0
	for _, e := range c.edges {
		n += e.metric("tributary_edge_sessions", `role="player"`)
	}
	return int(n)
}

// loadRun is the load tool running against the cluster.
type loadRun struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	stderr bytes.Buffer
	done   chan struct{} // closed when the process has exited
	err    error         // its exit status, once done is closed
}

// startLoad starts the load tool: stream i published on edge i, players
// spread over the edges, everyone moving to the next edge when a
// connection is lost. It returns once every player plays.
func (c *cluster) startLoad(t *testing.T, duration time.Duration) *loadRun {
	t.Helper()
	var addrs []string
	for _, e := range c.edges {
		addrs = append(addrs, e.rtmp)
	}
	l := &loadRun{done: make(chan struct{})}
	l.cmd = exec.Command(c.load,
		"-edges", strings.Join(addrs, ","), "-publish-edges", "-failover",
		"-publishers", strconv.Itoa(numStreams), "-players", strconv.Itoa(numPlayers),
		"-app", app, "-input", c.input, "-ramp", "2s", "-duration", duration.String(),
		"-player-timeout", "10s", "-stall-gap", stallGap.String(),
		"-min-delivery", "0", "-max-p99", "1h", "-json", "-per-player")
	l.cmd.Stdout, l.cmd.Stderr = &l.stdout, &l.stderr
	if err := l.cmd.Start(); err != nil {
		t.Fatalf("start the load tool: %v", err)
	}
	go func() {
		l.err = l.cmd.Wait()
		close(l.done)
	}()
	t.Cleanup(func() {
		select {
		case <-l.done:
		default:
			l.cmd.Process.Kill()
			<-l.done
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for c.players() < numPlayers {
		if time.Now().After(deadline) {
			n := c.players()
			l.cmd.Process.Kill()
			<-l.done // its output is complete
			t.Fatalf("only %d of %d players connected after 30 s; load tool:\n%s", n, numPlayers, l.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // steady state before the fault
	return l
}

// result waits for the load tool to finish and returns its summary.
func (l *loadRun) result(t *testing.T, timeout time.Duration) *summary {
	t.Helper()
	select {
	case <-l.done:
		// Exit status 3 means the run finished but missed a threshold:
		// with the delivery and latency thresholds off, that a publisher
		// lost its connection, which some faults cause. 1 means it could
		// not run.
		var ee *exec.ExitError
		if l.err != nil && !(errors.As(l.err, &ee) && ee.ExitCode() == 3) {
			t.Fatalf("load tool: %v\n%s", l.err, l.stderr.String())
		}
	case <-time.After(timeout):
		t.Fatalf("the load tool did not finish within %v", timeout)
	}
	var s summary
	if err := json.Unmarshal(l.stdout.Bytes(), &s); err != nil {
		t.Fatalf("load tool summary: %v\n%s", err, l.stdout.String())
	}
	return &s
}

// summary is the part of the load tool's JSON summary the tests read
// (test/load/README.md documents every field).
type summary struct {
	StartedUnixMS int64   `json:"started_unix_ms"`
	WindowEndMS   float64 `json:"window_end_ms"`
	Publish       struct {
		Outages     int     `json:"outages"`
		MaxOutageMS float64 `json:"max_outage_ms"`
	} `json:"publish"`
	Play struct {
		PlayersWithMedia int     `json:"players_with_media"`
		Delivery         float64 `json:"delivery"`
		FramesUnmatched  int64   `json:"frames_unmatched"`
		FramesCorrupt    int64   `json:"frames_corrupt"`
	} `json:"play"`
	Players []struct {
		ID          int     `json:"id"`
		Stream      string  `json:"stream"`
		Edge        string  `json:"edge"`
		Delivery    float64 `json:"delivery"`
		MaxGapMS    float64 `json:"max_gap_ms"`
		Gaps        []gap   `json:"gaps"`
		LastFrameMS float64 `json:"last_frame_ms"`
		Disconnects int     `json:"disconnects"`
		LastError   string  `json:"last_error"`
	} `json:"player_details"`
	Streams []struct {
		Name        string  `json:"name"`
		Edge        string  `json:"edge"`
		Outages     int     `json:"outages"`
		MaxOutageMS float64 `json:"max_outage_ms"`
		OutageList  []gap   `json:"outage_list"`
		LastError   string  `json:"last_error"`
	} `json:"stream_details"`
}

type gap struct {
	AtMS float64 `json:"at_ms"`
	MS   float64 `json:"ms"`
}

// busWatch follows the frames of every stream on the bus, as any NATS
// client can, and counts frames from a publish whose stream has since been
// published under a newer epoch: a stale publisher feeding the bus.
type busWatch struct {
	mu      sync.Mutex
	streams map[string]*streamWatch
}

type streamWatch struct {
	epochs []uint64 // in the order their first frames arrived
	max    uint64
	stale  int
	last   time.Time
}

func watchBus(t *testing.T, ns *natstest.Server) *busWatch {
	t.Helper()
	w := &busWatch{streams: make(map[string]*streamWatch)}
	nc := ns.Connect(t, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	natstest.Subscribe(t, nc, bus.AppWildcard("", app, bus.KindMedia), w.onMsg)
	return w
}

func (w *busWatch) onMsg(m *nats.Msg) {
	_, name, _, err := bus.ParseStreamSubject("", m.Subject)
	if err != nil {
		return
	}
	env, err := bus.ParseEnvelope(m.Header)
	if err != nil || env.Event != "" {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.streams[name]
	if s == nil {
		s = &streamWatch{}
		w.streams[name] = s
	}
	s.last = time.Now()
	switch {
	case env.Epoch > s.max:
		s.max = env.Epoch
		s.epochs = append(s.epochs, env.Epoch)
	case env.Epoch < s.max:
		s.stale++
	}
}

// check fails the test if any stream was fed by a stale publisher or has
// not been on the bus for the last second, and returns the number of
// epochs each stream went through.
func (w *busWatch) check(t *testing.T) map[string]int {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]int)
	for name, s := range w.streams {
		out[name] = len(s.epochs)
		if s.stale > 0 {
			t.Errorf("stream %s: %d frames of an older publish reached the bus after a newer one began (epochs %v)", name, s.stale, s.epochs)
		}
		if time.Since(s.last) > time.Second {
			t.Errorf("stream %s: nothing on the bus for %v", name, time.Since(s.last).Round(time.Millisecond))
		}
	}
	if len(w.streams) != numStreams {
		t.Errorf("%d streams seen on the bus, want %d", len(w.streams), numStreams)
	}
	return out
}

// outcome is what a fault did, as the players and publishers saw it.
type outcome struct {
	name            string
	faultMS         float64 // how long the fault lasted (0: instant)
	affected        int     // players with a gap that began around the fault
	gapP50, gapMax  float64 // of those players' longest gaps, ms
	reconnected     int     // players that lost their connection at least once
	pubOutages      int
	pubOutageMax    float64
	newEpochs       int     // publishes that began after the first ones
	fullServiceMS   float64 // from the fault to the end of the last gap
	edgeReadyMS     float64 // the faulty edge ready again, from the end of the fault (0: n/a)
	delivery        float64
	staleBusFrames  int
	unrelatedStalls int // gaps that began well before the fault
}

// evaluate checks the run against the fault injected at faultAt and
// repaired at faultEnd, and returns the figures. bound is how long after
// faultAt the last gap may end.
func evaluate(t *testing.T, name string, s *summary, epochs map[string]int, faultAt, faultEnd time.Time, bound time.Duration) outcome {
	t.Helper()
	o := outcome{name: name, delivery: s.Play.Delivery, faultMS: float64(faultEnd.Sub(faultAt).Milliseconds())}
	fault := float64(faultAt.UnixMilli() - s.StartedUnixMS)
	if s.Play.FramesCorrupt != 0 || s.Play.FramesUnmatched != 0 {
		t.Errorf("players received %d corrupt and %d unmatched frames, want none", s.Play.FramesCorrupt, s.Play.FramesUnmatched)
	}
	if s.Play.PlayersWithMedia != numPlayers || len(s.Players) != numPlayers {
		t.Errorf("%d of %d players received media (%d detailed)", s.Play.PlayersWithMedia, numPlayers, len(s.Players))
	}
	// A gap belongs to the fault when it begins between 1 s before the
	// fault and 1 s after its end; later ones are the machine's noise
	// (scheduling on a loaded CI host), reported but tolerated unless long.
	faultEndMS := float64(faultEnd.UnixMilli() - s.StartedUnixMS)
	var gaps []float64
	for _, p := range s.Players {
		if p.Disconnects > 0 {
			o.reconnected++
		}
		longest := 0.0
		for _, g := range p.Gaps {
			if g.AtMS < fault-1000 || g.AtMS > faultEndMS+1000 {
				o.unrelatedStalls++
				if g.MS >= maxNoiseGap {
					t.Errorf("player %d (%s on %s): gap %+v away from the fault (%.0f-%.0f ms), want none of %v or more",
						p.ID, p.Stream, p.Edge, g, fault, faultEndMS, time.Duration(maxNoiseGap)*time.Millisecond)
				}
				continue
			}
			longest = max(longest, g.MS)
			o.fullServiceMS = max(o.fullServiceMS, g.AtMS+g.MS-fault)
		}
		if longest > 0 {
			o.affected++
			gaps = append(gaps, longest)
		}
		// Full service again: frames up to the end of the window.
		if p.LastFrameMS < s.WindowEndMS-1500 {
			t.Errorf("player %d (%s on %s): newest frame at %.0f ms, the window closed at %.0f ms (last error %q): not back to full service",
				p.ID, p.Stream, p.Edge, p.LastFrameMS, s.WindowEndMS, p.LastError)
		}
	}
	if o.fullServiceMS > float64(bound.Milliseconds()) {
		t.Errorf("the last gap caused by the fault ended %.0f ms after it began, want within %v", o.fullServiceMS, bound)
	}
	if end := fault + o.fullServiceMS; end > s.WindowEndMS-float64(steady.Milliseconds()) {
		t.Errorf("the last gap caused by the fault ended %.0f ms before the window closed, want at least %v of full service at the end",
			s.WindowEndMS-end, steady)
	}
	slices.Sort(gaps)
	if len(gaps) > 0 {
		o.gapP50, o.gapMax = gaps[len(gaps)/2], gaps[len(gaps)-1]
	}
	o.pubOutages, o.pubOutageMax = s.Publish.Outages, s.Publish.MaxOutageMS
	for _, st := range s.Streams {
		var list []string
		for _, g := range st.OutageList {
			list = append(list, fmt.Sprintf("%.1f s for %.1f s", (g.AtMS-fault)/1000, g.MS/1000))
		}
		t.Logf("stream %s: on %s at the end; outages after the fault: %v; last publisher error: %q", st.Name, st.Edge, list, st.LastError)
	}
	for _, n := range epochs {
		o.newEpochs += n - 1
	}
	return o
}

// report logs the outcome as FIGURE lines and a markdown table row.
func report(t *testing.T, o outcome) {
	t.Helper()
	fig := func(k string, v any) { t.Logf("FIGURE %s_%s=%v", o.name, k, v) }
	fig("fault_ms", int(o.faultMS))
	fig("players_with_gap", o.affected)
	fig("gap_p50_ms", int(o.gapP50))
	fig("gap_max_ms", int(o.gapMax))
	fig("players_reconnected", o.reconnected)
	fig("publisher_outages", o.pubOutages)
	fig("publisher_outage_max_ms", int(o.pubOutageMax))
	fig("new_publishes", o.newEpochs)
	fig("full_service_after_ms", int(o.fullServiceMS))
	fig("edge_ready_after_ms", int(o.edgeReadyMS))
	fig("delivery", fmt.Sprintf("%.4f", o.delivery))
	fig("stalls_before_fault", o.unrelatedStalls)
	t.Logf("ROW | %s | %s | %d/%d | %.1f s | %.1f s | %d | %d (%.1f s) | %d | %.1f s | %s | 0 |", o.name, durationText(o.faultMS, "instant"), o.affected, numPlayers,
		o.gapP50/1000, o.gapMax/1000, o.reconnected, o.pubOutages, o.pubOutageMax/1000, o.newEpochs, o.fullServiceMS/1000,
		durationText(o.edgeReadyMS, "—"))
}

// durationText formats ms in seconds, or returns zero when ms is 0.
func durationText(ms float64, zero string) string {
	if ms == 0 {
		return zero
	}
	return fmt.Sprintf("%.1f s", ms/1000)
}

// outage stops a component, waits d and starts it again, and returns when
// the fault began and when it ended (the component serving again).
func outage(stop func(), d time.Duration, start func()) (began, ended time.Time) {
	began = time.Now()
	stop()
	time.Sleep(d)
	start()
	return began, time.Now()
}

// conclude waits for the load run, checks the cluster and the run against
// the fault (injected at faultAt, repaired at faultEnd, its effects over
// within bound) and returns the summary and the figures, not yet reported.
func (c *cluster) conclude(t *testing.T, l *loadRun, name string, faultAt, faultEnd time.Time, bound time.Duration) (*summary, outcome) {
	t.Helper()
	s := l.result(t, 60*time.Second)
	epochs := c.finish(t)
	return s, evaluate(t, name, s, epochs, faultAt, faultEnd, bound)
}

// republishedOnce fails the test unless exactly one stream was published
// again after the fault.
func republishedOnce(t *testing.T, o outcome, whose string) {
	t.Helper()
	if o.pubOutages < 1 || o.newEpochs != 1 {
		t.Errorf("%d publisher outages, %d new publishes; want the %s stream published again once", o.pubOutages, o.newEpochs, whose)
	}
}

// finish checks the state of the cluster after a fault: every edge ready,
// every stream on the bus from a single publish, nothing stale.
func (c *cluster) finish(t *testing.T) map[string]int {
	t.Helper()
	for _, e := range c.edges {
		if !e.ready() {
			t.Errorf("edge %s not ready at the end", e.id)
		}
	}
	return c.watch.check(t)
}

// TestEdgeKilled kills the edge that owns a stream (and serves players of
// every stream) with SIGKILL, and starts it again 3 s later as an
// orchestrator would. The encoder reconnects to another edge, which may
// take the stream once the dead edge's lease has expired; the dead edge's
// players reconnect elsewhere.
func TestEdgeKilled(t *testing.T) {
	c := startCluster(t)
	l := c.startLoad(t, 28*time.Second)
	victim := c.edges[0]
	faultAt := time.Now()
	victim.proc.Kill()
	faultEnd := time.Now()
	time.Sleep(3 * time.Second)
	restarted := time.Now()
	victim.start(t)
	readyAfter := time.Since(restarted)
	_, o := c.conclude(t, l, "edge_killed", faultAt, faultEnd, leaseTTL+5*time.Second)
	o.edgeReadyMS = float64(readyAfter.Milliseconds())
	report(t, o)
	// The killed edge's stream was published again elsewhere, once.
	republishedOnce(t, o, "killed edge's")
	if o.reconnected < numPlayers/numEdges {
		t.Errorf("%d players reconnected, want at least the killed edge's %d", o.reconnected, numPlayers/numEdges)
	}
}

// TestNATSRestart stops the NATS server for 2 s and starts it again on the
// same port. Publishers stay connected to their edges; frames published
// meanwhile are lost; every relay resumes by itself.
func TestNATSRestart(t *testing.T) {
	c := startCluster(t)
	l := c.startLoad(t, 20*time.Second)
	faultAt, faultEnd := outage(c.ns.Shutdown, 2*time.Second, c.ns.Restart)
	_, o := c.conclude(t, l, "nats_restart", faultAt, faultEnd, 10*time.Second)
	report(t, o)
	if o.pubOutages != 0 || o.newEpochs != 0 {
		t.Errorf("%d publisher outages, %d new publishes; want the publishes to survive a NATS restart", o.pubOutages, o.newEpochs)
	}
}

// TestEtcdRestart stops etcd for 1.5 s and starts it again with its data.
// The edges' leases outlive the outage, so ownership does not change.
func TestEtcdRestart(t *testing.T) {
	c := startCluster(t)
	l := c.startLoad(t, 20*time.Second)
	faultAt, faultEnd := outage(c.es.Stop, 1500*time.Millisecond, c.es.Restart)
	_, o := c.conclude(t, l, "etcd_restart", faultAt, faultEnd, leaseTTL+5*time.Second)
	report(t, o)
}

// TestEtcdOutageLongerThanLease stops etcd for 8 s, longer than the
// leases. Every edge loses its lease, so every edge must stop feeding the
// bus with its publishes (ownership can no longer be proved) and close its
// publishers; they are published again once etcd is back, and the players,
// still connected, resume.
func TestEtcdOutageLongerThanLease(t *testing.T) {
	c := startCluster(t)
	l := c.startLoad(t, 32*time.Second)
	faultAt, faultEnd := outage(c.es.Stop, 8*time.Second, c.es.Restart)
	s, o := c.conclude(t, l, "etcd_outage_8s", faultAt, faultEnd, 8*time.Second+leaseTTL+5*time.Second)
	// Once etcd answers, every stream is published again well within the
	// TTL: the edges revoke their lost leases instead of waiting them out
	// (about 0.5 s on a quiet machine).
	back := float64(faultEnd.UnixMilli() - s.StartedUnixMS)
	for _, st := range s.Streams {
		for _, g := range st.OutageList {
			if end := g.AtMS + g.MS; end > back+3000 {
				t.Errorf("stream %s published again %.0f ms after etcd was back, want within 3 s (less than the TTL)", st.Name, end-back)
			}
		}
	}
	report(t, o)
	if o.newEpochs != numStreams {
		t.Errorf("%d new publishes, want every stream published again once", o.newEpochs)
	}
}

// TestEdgePartitionedFromEtcd cuts the edge that owns a stream off from
// etcd (it still reaches NATS and its clients) for 8 s, longer than its
// lease. The edge must stop feeding the bus before its lease can expire and
// close its publisher, which reconnects to another edge; its players keep
// playing through the bus. After the partition the edge rejoins with a new
// lease.
func TestEdgePartitionedFromEtcd(t *testing.T) {
	c := startCluster(t)
	l := c.startLoad(t, 30*time.Second)
	victim := c.edges[0]
	faultAt := time.Now()
	victim.proxy.Cut()
	time.Sleep(8 * time.Second)
	if victim.ready() {
		t.Errorf("edge %s ready while cut off from etcd", victim.id)
	}
	healed := time.Now()
	victim.proxy.Restore()
	faultEnd := healed
	if err := victim.awaitReady(15 * time.Second); err != nil {
		t.Error(err)
	}
	readyAfter := time.Since(healed)
	_, o := c.conclude(t, l, "etcd_partition", faultAt, faultEnd, leaseTTL+6*time.Second)
	o.edgeReadyMS = float64(readyAfter.Milliseconds())
	report(t, o)
	republishedOnce(t, o, "partitioned edge's")
	if lost := victim.metric("tributary_edge_lease_losses_total", ""); lost < 1 {
		t.Errorf("tributary_edge_lease_losses_total on %s = %v, want the lease loss counted", victim.id, lost)
	}
}
