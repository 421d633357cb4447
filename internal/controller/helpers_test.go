package controller_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tributary-media/tributary/internal/controller"
	"github.com/tributary-media/tributary/internal/testutil/etcdtest"
	"github.com/tributary-media/tributary/internal/testutil/natstest"
	"github.com/tributary-media/tributary/pkg/bus"
	"github.com/tributary-media/tributary/pkg/cluster"
)

// Timing of the tests' controllers and edges.
const (
	testTTL   = 2 * time.Second
	testGrace = 400 * time.Millisecond // reconnect grace: stopped events
	testReap  = 300 * time.Millisecond
)

// TestMain fails the run when goroutines of the package outlive the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leak := leakedGoroutines(10 * time.Second); leak != "" {
			os.Stderr.WriteString("goroutines of internal/controller left running:\n" + leak)
			code = 1
		}
	}
	os.Exit(code)
}

// leakedGoroutines waits up to wait for every goroutine running code of
// this package to end, and returns the stacks of those that did not.
func leakedGoroutines(wait time.Duration) string {
	deadline := time.Now().Add(wait)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "tributary/internal/controller.") && !strings.Contains(g, "leakedGoroutines") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// testEnv is a test's etcd and NATS servers and key prefix.
type testEnv struct {
	etcd   *etcdtest.Server
	nats   *natstest.Server
	cli    *clientv3.Client // the test's own client
	prefix string
}

// newEnv starts the servers of a test.
func newEnv(t *testing.T) *testEnv {
	t.Helper()
	e := &testEnv{etcd: etcdtest.Start(t, etcdtest.Options{}), nats: natstest.Start(t, natstest.Options{}), prefix: "ctltest"}
	e.cli = e.etcd.Client(t)
	return e
}

// testCtx returns a context that bounds a test's calls.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// replica is a controller of a test with its own etcd client, running
// until stop or the end of the test.
type replica struct {
	*controller.Controller
	cli     *clientv3.Client
	api     *httptest.Server
	cancel  context.CancelFunc
	done    chan error
	stopped atomic.Bool
}

// startReplica creates controller id with its own etcd client and runs
// it.
func (e *testEnv) startReplica(t *testing.T, id string, mods ...func(*controller.Config)) *replica {
	t.Helper()
	r := e.newReplica(t, id, mods...)
	r.run()
	return r
}

// newReplica creates controller id with its own etcd client and API
// server, without running it.
func (e *testEnv) newReplica(t *testing.T, id string, mods ...func(*controller.Config)) *replica {
	t.Helper()
	cli := etcdtest.NewClient(t, e.etcd.Endpoints()...)
	cfg := controller.Config{
		Etcd: cli, NATS: e.nats.Connect(t), Prefix: e.prefix, ID: id,
		LeaseTTL: testTTL, ReconnectGrace: testGrace, ReapGrace: testReap,
		Logger: testLogger(t, id),
	}
	for _, mod := range mods {
		mod(&cfg)
	}
	c, err := controller.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := &replica{Controller: c, cli: cli, api: httptest.NewServer(c.Handler()), done: make(chan error, 1)}
	t.Cleanup(func() {
		r.stop(t)
		r.api.Close()
	})
	return r
}

// run runs the controller until stop.
func (r *replica) run() {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- r.Run(ctx) }()
}

// stop cancels Run and waits for it to return.
func (r *replica) stop(t *testing.T) {
	t.Helper()
	if r.cancel == nil || r.stopped.Swap(true) {
		return
	}
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Run of %s: %v", r.ID(), err)
		}
	case <-time.After(15 * time.Second):
		t.Errorf("Run of %s did not return", r.ID())
	}
}

// testLogger returns a logger that writes to the test log until the test
// ends.
func testLogger(t *testing.T, id string) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})).With("replica", id)
}

// testWriter passes log lines to the test log until the test ends.
type testWriter struct {
	t    *testing.T
	mu   sync.Mutex
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

// waitFor polls cond every few milliseconds until it holds or within
// passes, and fails the test then.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// leaderOf waits until exactly one of replicas leads, and returns it.
func leaderOf(t *testing.T, within time.Duration, replicas ...*replica) *replica {
	t.Helper()
	var leader *replica
	waitFor(t, within, "one leader", func() bool {
		n := 0
		for _, r := range replicas {
			if r.IsLeader() {
				leader = r
				n++
			}
		}
		return n == 1
	})
	return leader
}

// edge is a test's stand-in for an edge: a cluster session, registered.
type edge struct {
	*cluster.Session
	id string
}

// startEdge creates, runs and registers an edge session; it is closed
// when the test ends.
func (e *testEnv) startEdge(t *testing.T, id string) *edge {
	t.Helper()
	s := e.startSession(t, id)
	if err := s.RegisterEdge(testCtx(t), cluster.EdgeInfo{Address: id + ":1935", Version: "test", Started: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return &edge{Session: s, id: id}
}

// startSession creates and runs a session of edge id that does not
// register the edge; it is closed when the test ends.
func (e *testEnv) startSession(t *testing.T, id string) *cluster.Session {
	t.Helper()
	s, err := cluster.NewSession(testCtx(t), cluster.Config{Client: e.cli, Prefix: e.prefix, EdgeID: id, TTL: testTTL})
	if err != nil {
		t.Fatal(err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- s.Run(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Close(ctx)
		<-runErr
	})
	return s
}

// claim claims a stream for the edge.
func (ed *edge) claim(t *testing.T, app, name string) *cluster.Claim {
	t.Helper()
	c, err := ed.Claim(testCtx(t), app, name, cluster.ClaimRequest{Remote: "192.0.2.1:5000"})
	if err != nil {
		t.Fatalf("claim %q/%q by %s: %v", app, name, ed.id, err)
	}
	return c
}

// received is an event received from the bus.
type received struct {
	subject string
	msgID   string
	ev      controller.Event
	raw     map[string]any
}

// recorder collects the events published under a prefix.
type recorder struct {
	prefix string
	ch     chan received
}

// record subscribes to every event under the env's prefix.
func (e *testEnv) record(t *testing.T) *recorder {
	t.Helper()
	nc := e.nats.Connect(t)
	r := &recorder{prefix: e.prefix, ch: make(chan received, 1000)}
	_, err := nc.Subscribe(e.prefix+".events.>", func(m *nats.Msg) {
		var rec received
		rec.subject, rec.msgID = m.Subject, m.Header.Get(nats.MsgIdHdr)
		if err := json.Unmarshal(m.Data, &rec.ev); err != nil {
			t.Errorf("event %s does not decode: %v: %s", m.Subject, err, m.Data)
		}
		json.Unmarshal(m.Data, &rec.raw)
		r.ch <- rec
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return r
}

// next returns the next event, failing the test when none comes within
// d.
func (r *recorder) next(t *testing.T, d time.Duration) controller.Event {
	t.Helper()
	select {
	case rec := <-r.ch:
		if want := bus.EventSubject(r.prefix, rec.ev.Type); rec.subject != want {
			t.Errorf("%s event on subject %q, want %q", rec.ev.Type, rec.subject, want)
		}
		if want := fmt.Sprintf("%s:%s:%d", r.prefix, rec.ev.Type, rec.ev.Epoch); rec.msgID != want {
			t.Errorf("%s event with message id %q, want %q", rec.ev.Type, rec.msgID, want)
		}
		if rec.ev.Time.IsZero() {
			t.Errorf("%s event without a time", rec.ev.Type)
		}
		_, hasPrev := rec.raw["previous_edge"]
		_, hasPrevEpoch := rec.raw["previous_epoch"]
		if (rec.ev.Type == controller.EventTakenOver) != (hasPrev && hasPrevEpoch) {
			t.Errorf("%s event: previous_edge present %v, previous_epoch present %v", rec.ev.Type, hasPrev, hasPrevEpoch)
		}
		return rec.ev
	case <-time.After(d):
		t.Fatalf("no event within %v", d)
		return controller.Event{}
	}
}

// expect checks that the next event is want, ignoring its time.
func (r *recorder) expect(t *testing.T, d time.Duration, want controller.Event) controller.Event {
	t.Helper()
	got := r.next(t, d)
	cmp := got
	cmp.Time = time.Time{}
	if cmp != want {
		t.Fatalf("event %+v\nwant  %+v", cmp, want)
	}
	return got
}

// expectNone checks that no event comes within d.
func (r *recorder) expectNone(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case rec := <-r.ch:
		t.Fatalf("unexpected event %+v", rec.ev)
	case <-time.After(d):
	}
}

// getJSON gets url and decodes its JSON answer into v; it returns the
// status.
func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	return doJSON(t, http.MethodGet, url, v)
}

// doJSON makes a request and decodes its JSON answer into v (when v is
// not nil); it returns the status.
func doJSON(t *testing.T, method, url string, v any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q", method, url, ct)
	}
	if v != nil {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("%s %s: decode: %v", method, url, err)
		}
	}
	return resp.StatusCode
}

// contains reports whether s contains sub.
func contains(s, sub string) bool { return strings.Contains(s, sub) }

// itoa formats an epoch.
func itoa(v uint64) string { return strconv.FormatUint(v, 10) }

// cursor is the leader's events cursor as stored.
type cursor struct {
	Revision int64
	Leader   string
	Pending  []struct {
		App, Name, Edge string
		Epoch           uint64
	}
}

// readCursor reads the events cursor; it reports false when there is none.
func (e *testEnv) readCursor(t *testing.T) (cursor, bool) {
	t.Helper()
	resp, err := e.cli.Get(testCtx(t), "/"+e.prefix+"/controller/events")
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) == 0 {
		return cursor{}, false
	}
	var c cursor
	if err := json.Unmarshal(resp.Kvs[0].Value, &c); err != nil {
		t.Fatalf("cursor %s: %v", resp.Kvs[0].Value, err)
	}
	return c, true
}

// waitLeading waits until r leads and has saved the events cursor: its
// duties have read the state, so later changes are announced.
func (e *testEnv) waitLeading(t *testing.T, r *replica) {
	t.Helper()
	waitFor(t, 10*time.Second, r.ID()+" to lead and save the events cursor", func() bool {
		c, ok := e.readCursor(t)
		return r.IsLeader() && ok && c.Leader == r.ID()
	})
}
