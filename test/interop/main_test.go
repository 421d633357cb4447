package interop_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tributary-media/tributary/internal/testutil"
	"github.com/tributary-media/tributary/pkg/rtmp/flv"
)

// defaultParallel is how many tests run at once by default.
const defaultParallel = 8

// bins holds the example programs, built once per test binary by
// TestMain.
var bins struct {
	server, publish, play string
}

// TestMain builds the examples as users build them (with the race
// detector when the tests have it) and runs the tests.
//
// The tests spend most of their time waiting for media that flows in real
// time, not computing, so unless -test.parallel is given they run up to
// defaultParallel at once rather than GOMAXPROCS.
func TestMain(m *testing.M) {
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		_ = flag.Set("test.parallel", strconv.Itoa(max(defaultParallel, runtime.GOMAXPROCS(0))))
	}
	dir, err := os.MkdirTemp("", "tributary-interop-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	exe := ""
	if runtime.GOOS == "windows" {
		exe = ".exe"
	}
	bins.server = filepath.Join(dir, "server"+exe)
	bins.publish = filepath.Join(dir, "publish"+exe)
	bins.play = filepath.Join(dir, "play"+exe)
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "./examples/server", "./examples/publish", "./examples/play")
	cmd := exec.Command("go", args...)
	cmd.Dir = filepath.Join("..", "..") // the module root
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go %s: %v\n%s", strings.Join(args, " "), err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testTimeout bounds the processes and connections of one test.
const testTimeout = 2 * time.Minute

// ffmpegIOTimeout is the -rw_timeout (in microseconds) of every ffmpeg
// RTMP connection: an ffmpeg whose peer goes silent gives up.
const ffmpegIOTimeout = "10000000"

// testContext returns a context that ends when the test ends or after
// testTimeout; the ffmpeg and node processes started with it are killed
// then.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// ffmpegPublish is testutil.FFmpegPublish with -rw_timeout on the RTMP
// output too (testutil.FFmpegPlay sets it on its input).
func ffmpegPublish(t *testing.T, ctx context.Context, src, url string) *testutil.Proc {
	t.Helper()
	return testutil.FFmpegPublish(t, ctx, src, url, "-rw_timeout", ffmpegIOTimeout)
}

// proc is a program started by a test. Its output goes to a log file; it
// is stopped (SIGINT, then killed) when the test ends, and the tail of its
// log is printed if the test failed.
type proc struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{}
	err     error // exit status, valid once done is closed
	killed  bool  // the cleanup had to kill it
}

// startProc starts path with args, bound to t.
func startProc(t testing.TB, name, path string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, logPath: filepath.Join(t.TempDir(), name+".log"), done: make(chan struct{})}
	f, err := os.Create(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(path, args...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	err = p.cmd.Start()
	f.Close()
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop(10 * time.Second)
		if strings.Contains(p.log(), "WARNING: DATA RACE") {
			t.Errorf("%s reported a data race:\n%s", name, p.tail())
		} else if t.Failed() {
			t.Logf("%s %s\nlog tail:\n%s", name, strings.Join(args, " "), p.tail())
		}
	})
	return p
}

// stop asks the process to end with SIGINT and kills it after timeout.
func (p *proc) stop(timeout time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.killed = true
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// wait waits for the process to exit and returns its exit error; past
// timeout it kills the process and returns an error.
func (p *proc) wait(timeout time.Duration) error {
	select {
	case <-p.done:
		if p.err != nil {
			return fmt.Errorf("%s: %w\nlog tail:\n%s", p.name, p.err, p.tail())
		}
		return nil
	case <-time.After(timeout):
		p.killed = true
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not exit within %v (killed)\nlog tail:\n%s", p.name, timeout, p.tail())
	}
}

// waitLog waits until the process log contains substr.
func (p *proc) waitLog(substr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if strings.Contains(p.log(), substr) {
			return nil
		}
		select {
		case <-p.done:
			if strings.Contains(p.log(), substr) {
				return nil
			}
			return fmt.Errorf("%s exited (%v) before logging %q\nlog tail:\n%s", p.name, p.err, substr, p.tail())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not log %q within %v\nlog tail:\n%s", p.name, substr, timeout, p.tail())
		}
	}
}

func (p *proc) log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

func (p *proc) tail() string {
	lines := strings.Split(strings.TrimRight(p.log(), "\n"), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	return strings.Join(lines, "\n")
}

// exampleServer is examples/server running as a process on a free port,
// logging JSON.
type exampleServer struct {
	addr string
	p    *proc
}

// startExampleServer starts examples/server with extra flags and waits
// until it accepts connections. When the test ends the server must shut
// down cleanly on SIGINT.
func startExampleServer(t testing.TB, flags ...string) *exampleServer {
	t.Helper()
	addr := testutil.FreeAddr(t)
	s := &exampleServer{addr: addr}
	// Registered before startProc's cleanup, so it runs after it: the
	// server has been asked to stop by then.
	t.Cleanup(func() {
		if s.p == nil {
			return
		}
		<-s.p.done
		if s.p.killed || s.p.err != nil {
			t.Errorf("examples/server did not shut down cleanly on SIGINT (killed %v, exit %v)", s.p.killed, s.p.err)
		}
	})
	s.p = startProc(t, "examples-server", bins.server, append([]string{"-addr", addr, "-log-format", "json", "-log-level", "debug"}, flags...)...)
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return s
		}
		select {
		case <-s.p.done:
			t.Fatalf("examples/server exited: %v\n%s", s.p.err, s.p.tail())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("examples/server does not accept on %s: %v", addr, err)
		}
	}
}

// url returns the URL of stream name in application "live".
func (s *exampleServer) url(name string) string { return "rtmp://" + s.addr + "/live/" + name }

// logEntry is one JSON log line of the server.
type logEntry map[string]any

func (e logEntry) str(key string) string {
	s, _ := e[key].(string)
	return s
}

func (e logEntry) num(key string) float64 {
	n, _ := e[key].(float64)
	return n
}

func (e logEntry) time() time.Time {
	t, _ := time.Parse(time.RFC3339Nano, e.str("time"))
	return t
}

// entries returns the server's log entries so far.
func (s *exampleServer) entries() []logEntry {
	var out []logEntry
	sc := bufio.NewScanner(strings.NewReader(s.p.log()))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var e logEntry
		if json.Unmarshal(sc.Bytes(), &e) == nil {
			out = append(out, e)
		}
	}
	return out
}

// waitEntry waits for a log entry with message msg whose string fields
// equal the given ones (key, value, key, value, ...).
func (s *exampleServer) waitEntry(t testing.TB, timeout time.Duration, msg string, kv ...string) logEntry {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, e := range s.entries() {
			if e.str("msg") != msg {
				continue
			}
			ok := true
			for i := 0; i+1 < len(kv); i += 2 {
				if e.str(kv[i]) != kv[i+1] {
					ok = false
				}
			}
			if ok {
				return e
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("examples/server did not log %q %v within %v\nlog tail:\n%s", msg, kv, timeout, s.p.tail())
		}
		select {
		case <-s.p.done:
			t.Fatalf("examples/server exited (%v) before logging %q %v\nlog tail:\n%s", s.p.err, msg, kv, s.p.tail())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// checkMedia compares a recording with the media that was published:
// codecs and picture size match, at least minPercent of the video and
// audio frames arrived and no more than were sent, the video starts with a
// keyframe and ffprobe reports no error.
func checkMedia(t *testing.T, sent, got testutil.ProbeResult, minPercent int) {
	t.Helper()
	t.Logf("published %d video / %d audio frames; recording has %d video (%d keyframes) / %d audio frames",
		sent.VideoFrames, sent.AudioFrames, got.VideoFrames, got.VideoKeyframes, got.AudioFrames)
	if got.VideoCodec != sent.VideoCodec || got.AudioCodec != sent.AudioCodec {
		t.Errorf("codecs %q/%q, want %q/%q", got.VideoCodec, got.AudioCodec, sent.VideoCodec, sent.AudioCodec)
	}
	if got.Width != sent.Width || got.Height != sent.Height {
		t.Errorf("picture %dx%d, want %dx%d", got.Width, got.Height, sent.Width, sent.Height)
	}
	if got.VideoFrames*100 < sent.VideoFrames*minPercent || got.VideoFrames > sent.VideoFrames {
		t.Errorf("%d video frames, want at least %d%% of the %d published and no more", got.VideoFrames, minPercent, sent.VideoFrames)
	}
	if got.AudioFrames*100 < sent.AudioFrames*minPercent || got.AudioFrames > sent.AudioFrames {
		t.Errorf("%d audio frames, want at least %d%% of the %d published and no more", got.AudioFrames, minPercent, sent.AudioFrames)
	}
	if !got.FirstVideoPacketIsKey {
		t.Error("the first video packet of the recording is not a keyframe")
	}
	if got.Errors != "" {
		t.Errorf("ffprobe reported errors in the recording:\n%s", got.Errors)
	}
}

// readFLV returns the header and the tags of an FLV file.
func readFLV(t *testing.T, path string) (flv.Header, []flv.Tag) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := flv.NewReader(bufio.NewReader(f), flv.ReaderConfig{StrictPreviousTagSize: true})
	h, err := r.ReadHeader()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var tags []flv.Tag
	for {
		var tag flv.Tag
		if err := r.ReadTag(&tag); err != nil {
			if errors.Is(err, io.EOF) {
				return h, tags
			}
			t.Fatalf("%s: tag %d: %v", path, len(tags), err)
		}
		tags = append(tags, tag.Clone())
	}
}

// mediaTags returns the audio and video tags of tags.
func mediaTags(tags []flv.Tag) []flv.Tag {
	var out []flv.Tag
	for _, t := range tags {
		if t.Type == flv.TagAudio || t.Type == flv.TagVideo {
			out = append(out, t)
		}
	}
	return out
}

// compareTags checks that got holds exactly the tags of want: same types,
// timestamps and bodies, in the same order.
func compareTags(t *testing.T, what string, want, got []flv.Tag) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d tags, want %d", what, len(got), len(want))
	}
	bad := 0
	for i := range min(len(got), len(want)) {
		w, g := want[i], got[i]
		if g.Type != w.Type || g.Timestamp != w.Timestamp || !bytes.Equal(g.Body, w.Body) {
			bad++
			if bad <= 5 {
				t.Errorf("%s: tag %d is type %d ts %d (%d bytes % x...), want type %d ts %d (%d bytes % x...)",
					what, i, g.Type, g.Timestamp, len(g.Body), g.Body[:min(8, len(g.Body))],
					w.Type, w.Timestamp, len(w.Body), w.Body[:min(8, len(w.Body))])
			}
		}
	}
	if bad > 5 {
		t.Errorf("%s: %d tags differ in all", what, bad)
	}
}
