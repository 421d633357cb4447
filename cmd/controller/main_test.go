package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tributary-media/tributary/internal/config"
	"github.com/tributary-media/tributary/internal/testutil"
	"github.com/tributary-media/tributary/internal/testutil/etcdtest"
	"github.com/tributary-media/tributary/internal/testutil/natstest"
	"github.com/tributary-media/tributary/pkg/cluster"
)

// controllerBin is the controller program built once for the tests that run
// it as a separate process, the way users run it.
var controllerBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tributary-controller-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	controllerBin = filepath.Join(dir, "controller")
	cmd := exec.Command("go", "build", "-o", controllerBin, ".")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build controller:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// TestOneCommand runs the controller alone, with its embedded NATS and
// etcd, plays an edge against them, and uses the API: the stream is
// listed and announced, drain and kick work, and the controller stops
// cleanly on a signal.
func TestOneCommand(t *testing.T) {
	natsAddr, etcdAddr, httpAddr := testutil.FreeAddr(t), testutil.FreeAddr(t), testutil.FreeAddr(t)
	p := testutil.StartCommand(t, nil, "controller", controllerBin, "-id", "ctl-1", "-http-addr", httpAddr,
		"-embedded-nats-addr", natsAddr, "-embedded-etcd-addr", etcdAddr, "-embedded-etcd-dir", t.TempDir(),
		"-bus-prefix", "demo", "-reconnect-grace", "500ms")
	for _, want := range []string{"started an embedded NATS server", "started an embedded etcd server"} {
		if err := p.WaitStderr(want, 30*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	api := "http://" + httpAddr
	waitReady(t, httpAddr)
	waitLeader(t, api, "ctl-1")

	// An edge joins the controller's etcd and bus.
	nc, err := nats.Connect("nats://" + natsAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	events, err := nc.SubscribeSync("demo.events.>")
	if err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	cli := etcdtest.NewClient(t, "http://"+etcdAddr)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sess, err := cluster.NewSession(ctx, cluster.Config{Client: cli, Prefix: "demo", EdgeID: "edge-1", TTL: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- sess.Run(context.Background()) }()
	defer func() {
		sess.Close(ctx)
		<-runErr
	}()
	if err := sess.RegisterEdge(ctx, cluster.EdgeInfo{Address: "edge-1:1935", Started: time.Now()}); err != nil {
		t.Fatal(err)
	}
	// The leader reads the state before it announces changes: wait for
	// its events cursor.
	waitFor(t, 10*time.Second, "the leader's events cursor", func() bool {
		resp, err := cli.Get(ctx, "/demo/controller/events")
		return err == nil && len(resp.Kvs) == 1
	})
	claim, err := sess.Claim(ctx, "live", "cam 1", cluster.ClaimRequest{Remote: "192.0.2.1:4000"})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := events.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatalf("no started event: %v", err)
	}
	var ev map[string]any
	json.Unmarshal(msg.Data, &ev)
	if msg.Subject != "demo.events.started" || ev["app"] != "live" || ev["name"] != "cam 1" || ev["edge"] != "edge-1" ||
		ev["epoch"] != float64(claim.Epoch()) {
		t.Fatalf("event %s %s", msg.Subject, msg.Data)
	}

	var streams []map[string]any
	if code := getJSON(t, api+"/api/v1/streams", &streams); code != http.StatusOK || len(streams) != 1 || streams[0]["name"] != "cam 1" {
		t.Fatalf("streams: %d %v", code, streams)
	}
	var edges []map[string]any
	if code := getJSON(t, api+"/api/v1/edges", &edges); code != http.StatusOK || len(edges) != 1 || edges[0]["id"] != "edge-1" {
		t.Fatalf("edges: %d %v", code, edges)
	}
	if code := post(t, api+"/api/v1/edges/edge-1/drain"); code != http.StatusAccepted {
		t.Fatalf("drain: %d", code)
	}
	if resp, err := cli.Get(ctx, "/demo/drain/edge-1"); err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("drain key: %v %v", resp, err)
	}
	if code := post(t, api+"/api/v1/streams/live/cam%201/kick"); code != http.StatusAccepted {
		t.Fatalf("kick: %d", code)
	}
	select {
	case <-claim.Lost():
	case <-time.After(5 * time.Second):
		t.Fatal("the kicked claim was not lost")
	}
	msg, err = events.NextMsg(10 * time.Second)
	if err != nil || msg.Subject != "demo.events.stopped" {
		t.Fatalf("no stopped event after the kick: %v %v", msg, err)
	}

	sess.Close(ctx)
	if err := p.Stop(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(time.Second); err != nil {
		t.Fatalf("controller did not exit cleanly: %v", err)
	}
	if !strings.Contains(p.Stderr(), `msg="controller stopped"`) {
		t.Fatalf("log lacks the clean stop:\n%s", p.Stderr())
	}
}

// TestTwoReplicas runs two controller processes on one etcd and NATS:
// one leads; on SIGTERM the leader resigns and exits 0, and the other
// leads at once, its API answering throughout.
func TestTwoReplicas(t *testing.T) {
	etcd := etcdtest.Start(t, etcdtest.Options{})
	ns := natstest.Start(t, natstest.Options{})
	common := []string{"-etcd-endpoints", strings.Join(etcd.Endpoints(), ","), "-nats-url", ns.URL(), "-lease-ttl", "5s"}
	httpA, httpB := testutil.FreeAddr(t), testutil.FreeAddr(t)
	a := startProc(t, append([]string{"-id", "ctl-a", "-http-addr", httpA}, common...)...)
	waitReady(t, httpA)
	waitLeader(t, "http://"+httpA, "ctl-a")
	startProc(t, append([]string{"-id", "ctl-b", "-http-addr", httpB}, common...)...)
	waitReady(t, httpB)
	var st struct {
		ID       *string `json:"id"`
		IsLeader bool    `json:"is_leader"`
	}
	if code := getJSON(t, "http://"+httpB+"/api/v1/leader", &st); code != http.StatusOK || st.ID == nil || *st.ID != "ctl-a" || st.IsLeader {
		t.Fatalf("leader seen by the follower: %d %+v", code, st)
	}

	start := time.Now()
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for {
		if code := getJSON(t, "http://"+httpB+"/api/v1/leader", &st); code != http.StatusOK {
			t.Fatalf("the follower's API answered %d during the switch", code)
		}
		if st.IsLeader {
			break
		}
		if time.Since(start) > 4*time.Second {
			t.Fatalf("ctl-b does not lead %v after ctl-a got SIGTERM (lease TTL 5s: it resigned?)\nctl-a:\n%s", time.Since(start), a.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("FIGURE failover_after_sigterm=%v", time.Since(start).Round(time.Millisecond))
	if err := a.wait(10 * time.Second); err != nil {
		t.Fatalf("ctl-a after SIGTERM: %v\n%s", err, a.out.String())
	}
	for _, want := range []string{"resigning the leadership", `msg="controller stopped"`} {
		if !strings.Contains(a.out.String(), want) {
			t.Errorf("ctl-a log lacks %q:\n%s", want, a.out.String())
		}
	}
}

// TestSecondEmbeddedServersExplain checks that a second controller started
// on the same machine with the same embedded server addresses fails at
// once and says how to join the first one's servers.
func TestSecondEmbeddedServersExplain(t *testing.T) {
	natsAddr, etcdAddr := testutil.FreeAddr(t), testutil.FreeAddr(t)
	p := testutil.StartCommand(t, nil, "controller", controllerBin, "-http-addr", testutil.FreeAddr(t),
		"-embedded-nats-addr", natsAddr, "-embedded-etcd-addr", etcdAddr, "-embedded-etcd-dir", t.TempDir())
	if err := p.WaitStderr("started an embedded etcd server", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	code := run(context.Background(), []string{"-http-addr", testutil.FreeAddr(t), "-embedded-nats-addr", natsAddr,
		"-embedded-etcd-addr", etcdAddr}, nil, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "-nats-url nats://"+natsAddr) {
		t.Fatalf("exit %d, log:\n%s\nwant exit 1 and a hint to use -nats-url nats://%s", code, stderr.String(), natsAddr)
	}
	stderr.Reset()
	code = run(context.Background(), []string{"-http-addr", testutil.FreeAddr(t), "-nats-url", "nats://" + natsAddr,
		"-embedded-etcd-addr", etcdAddr, "-embedded-etcd-dir", t.TempDir()}, nil, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "-etcd-endpoints http://"+etcdAddr) {
		t.Fatalf("exit %d, log:\n%s\nwant exit 1 and a hint to use -etcd-endpoints http://%s", code, stderr.String(), etcdAddr)
	}
}

// TestConfigErrors runs the program in-process with bad settings: each is
// reported, by name, with exit status 2, before anything starts. The
// edge's variables in the environment are not errors.
func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		environ []string
		want    []string
		notWant []string
	}{
		{"unknown flag", []string{"-no-such-flag"}, nil, []string{"no-such-flag"}, nil},
		{"bad durations", []string{"-lease-ttl", "1s", "-reap-grace", "soon"}, nil, []string{"reap-grace"}, nil},
		{"lease too short", []string{"-lease-ttl", "1s"}, nil, []string{"-lease-ttl: 1s: must be at least 2s"}, nil},
		{"environment typo", nil, []string{"TRIBUTARY_REAP_GRAEC=1s"}, []string{"TRIBUTARY_REAP_GRAEC (did you mean TRIBUTARY_REAP_GRACE?)"}, nil},
		{"edge settings in the environment", []string{"-lease-ttl", "1s"},
			[]string{"TRIBUTARY_RTMP_ADDR=:1935", "TRIBUTARY_GOP_CACHE=4MiB", "TRIBUTARY_PUBLISH_POLICY=takeover"},
			[]string{"lease-ttl"}, []string{"RTMP_ADDR", "GOP_CACHE", "PUBLISH_POLICY"}},
		{"edge key in the file", []string{"-config", writeFile(t, "c.yaml", "rtmp_addr: ':1935'\n")}, nil,
			[]string{`unknown key "rtmp_addr" (a setting of the edge`}, nil},
		{"missing config file", []string{"-config", "/nonexistent/controller.yaml"}, nil, []string{"/nonexistent/controller.yaml"}, nil},
		{"bad etcd endpoint", []string{"-etcd-endpoints", "grpc://etcd:2379"}, nil, []string{"-etcd-endpoints"}, nil},
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
			for _, w := range tc.notWant {
				if strings.Contains(stderr.String(), w) {
					t.Errorf("output mentions %q:\n%s", w, stderr.String())
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
	for _, w := range []string{"-http-addr", "TRIBUTARY_HTTP_ADDR", `(default ":8081")`, "-etcd-endpoints", "-embedded-etcd-addr",
		"-lease-ttl", "(default 5s)", "-nats-url", "-bus-prefix", "-reap-grace", "-reconnect-grace", "-log-format"} {
		if !strings.Contains(stderr.String(), w) {
			t.Errorf("help lacks %q", w)
		}
	}
}

// TestDocsListSettings keeps the settings table of docs/api.md equal to
// what the program accepts.
func TestDocsListSettings(t *testing.T) {
	b, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "<!-- controller-settings:begin -->\n", "<!-- controller-settings:end -->"
	s := string(b)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatal("docs/api.md lacks the controller-settings markers")
	}
	if got, want := s[i+len(begin):j], config.ControllerUsage(); got != want {
		t.Fatalf("docs/api.md settings table is out of date; replace it with:\n%s", want)
	}
}

// proc is a controller process the test can signal.
type proc struct {
	cmd  *exec.Cmd
	out  *testutil.SyncBuffer
	done chan error
}

// startProc runs the controller binary with args; it is killed when the
// test ends.
func startProc(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(controllerBin, args...), out: &testutil.SyncBuffer{}, done: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		if err := p.wait(15 * time.Second); err != nil {
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("controller %v log:\n%s", args, p.out.String())
		}
	})
	return p
}

// wait waits for the process to exit and returns its exit error.
func (p *proc) wait(d time.Duration) error {
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(d):
		return fmt.Errorf("still running after %v", d)
	}
}

// waitReady polls http://addr/readyz until it answers 200.
func waitReady(t *testing.T, addr string) {
	t.Helper()
	waitFor(t, 30*time.Second, "readyz of "+addr, func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// waitLeader waits until the API at api says the leader is id.
func waitLeader(t *testing.T, api, id string) {
	t.Helper()
	waitFor(t, 20*time.Second, id+" to lead", func() bool {
		var st struct {
			ID *string `json:"id"`
		}
		return getJSON(t, api+"/api/v1/leader", &st) == http.StatusOK && st.ID != nil && *st.ID == id
	})
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

// post posts to url and returns the status.
func post(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Post(url, "", nil)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// writeFile writes content to a file in a temporary directory and returns
// its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
