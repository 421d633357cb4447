package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/tributary-media/tributary/internal/auth"
	"github.com/tributary-media/tributary/internal/config"
	"github.com/tributary-media/tributary/internal/testutil"
	"github.com/tributary-media/tributary/internal/testutil/natstest"
	"github.com/tributary-media/tributary/pkg/rtmp"
	"github.com/tributary-media/tributary/pkg/token"
)

// Credentials of the auth tests. Each is also a string that must never
// appear in a log line, a span or a bus subject.
const (
	keyAlice      = "k-alice-5d1e7a9c3b" // bound to stream alice
	keyAny        = "k-any-2c8f4e6a0d"   // unbound: only in the key parameter
	tokenSecret   = "pub-secret-71c9e2a4b8d6f035"
	playSecret    = "play-secret-0a6d3f9e1c7b5284"
	hookSecret    = "sk-hook-9b3e1f7a2c" // a stream key the webhook renames
	hookBearer    = "bearer-4e2a9c7f1b3d"
	publicName    = "public-1"
	refusedPrefix = "Not authorized to publish: "
)

// authClip is the media ffmpeg publishes in the auth tests.
var authClip = testutil.MediaOptions{Duration: 2 * time.Second, FPS: 25, GOP: 25}

// testClock is a settable clock for the token checks.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// startAuthEdge starts an edge with the auth rules; now is the clock of
// the token checks (nil: time.Now).
func startAuthEdge(t *testing.T, ns *natstest.Server, name string, rules config.Auth, now func() time.Time, mod func(*Config)) *testEdge {
	t.Helper()
	a, err := auth.New(auth.Config{Rules: rules, EdgeID: name, Now: now, Logger: testLogger(t, name)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return startEdge(t, ns, name, func(c *Config) {
		c.Auth = a
		if mod != nil {
			mod(c)
		}
	})
}

// subjectLog records the subjects of every message on the NATS server.
type subjectLog struct {
	mu       sync.Mutex
	subjects map[string]int
}

func recordSubjects(t *testing.T, ns *natstest.Server) *subjectLog {
	t.Helper()
	l := &subjectLog{subjects: map[string]int{}}
	nc := ns.Connect(t)
	natstest.Subscribe(t, nc, ">", func(m *nats.Msg) {
		l.mu.Lock()
		l.subjects[m.Subject]++
		l.mu.Unlock()
	})
	return l
}

// check fails the test if a subject contains one of secrets.
func (l *subjectLog) check(t *testing.T, secrets ...string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.subjects) == 0 {
		t.Fatal("no message on the bus")
	}
	for s := range l.subjects {
		for _, secret := range secrets {
			if strings.Contains(s, secret) {
				t.Errorf("bus subject %q holds a secret", s)
			}
		}
	}
}

// has reports whether a media subject of app/name carried a message.
func (l *subjectLog) has(app, name string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.subjects[streamMediaSubject(app, name)] > 0
}

// streamMediaSubject is the media subject of app/name with the default
// prefix.
func streamMediaSubject(app, name string) string {
	return "tributary.stream." + app + "." + name + ".media"
}

// wantRefused fails unless err is a status error with code whose
// description contains desc.
func wantRefused(t *testing.T, err error, code, desc string) {
	t.Helper()
	var se *rtmp.StatusError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want status %s", err, code)
	}
	if se.Code != code || !strings.Contains(se.Description, desc) {
		t.Fatalf("status %s %q, want %s with %q", se.Code, se.Description, code, desc)
	}
}

// publishFrames publishes the test video frames on c.
func publishFrames(t *testing.T, c *rtmp.ClientConn, n int) {
	t.Helper()
	for i, f := range testVideoFrames(n) {
		if err := c.WriteVideo(uint32(i*40), f); err != nil {
			t.Fatal(err)
		}
	}
}

// tryPublish connects our client to app on e and publishes name (which
// may carry a query string); it returns the conn and the publish error.
func tryPublish(t *testing.T, ctx context.Context, e *testEdge, app, name string) (*rtmp.ClientConn, error) {
	t.Helper()
	c := dialClient(t, ctx, appURL(e, app))
	return c, c.Publish(ctx, name)
}

// tryPlay connects our client to app on e and plays name.
func tryPlay(t *testing.T, ctx context.Context, e *testEdge, app, name string) (*rtmp.ClientConn, error) {
	t.Helper()
	c := dialClient(t, ctx, appURL(e, app))
	return c, c.Play(ctx, name)
}

// TestAuthKeys checks static stream keys with our client: a key bound to
// a stream given as the stream name publishes that stream (the key never
// reaches the bus), an unbound key works in the key parameter only, and
// wrong and missing keys are refused with NetStream.Publish.BadName; a
// connection that keeps trying is closed.
func TestAuthKeys(t *testing.T) {
	ns := natstest.Start(t, natstest.Options{})
	subjects := recordSubjects(t, ns)
	e := startAuthEdge(t, ns, "a", config.Auth{Apps: map[string]*config.AuthApp{"live": {
		Publish: &config.AuthRule{Require: "any", Keys: []config.AuthKey{{Key: keyAlice, Stream: "alice"}, {Key: keyAny}}},
	}}}, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// The bound key as the stream name publishes alice.
	pub, err := tryPublish(t, ctx, e, "live", keyAlice)
	if err != nil {
		t.Fatalf("publish with the key as the name: %v", err)
	}
	play := startPlayer(t, ctx, e, "live", "alice")
	publishFrames(t, pub, 5)
	play.nextVideo(t, 5*time.Second)

	// The unbound key in the key parameter: any name.
	pub2, err := tryPublish(t, ctx, e, "live", "bob?key="+keyAny)
	if err != nil {
		t.Fatalf("publish with the key parameter: %v", err)
	}
	publishFrames(t, pub2, 3)
	waitFor(t, 5*time.Second, func() bool { return subjects.has("live", "bob") })

	for _, tc := range []struct{ name, desc string }{
		{"carol", "stream key not accepted"},                              // missing
		{"carol?key=k-wrong-000000", "stream key not accepted"},           // wrong
		{"carol?key=" + keyAlice, "stream key not valid for this stream"}, // another stream's key
		{keyAny, "this stream key is not bound to a stream"},              // would make the key a stream name
	} {
		_, err := tryPublish(t, ctx, e, "live", tc.name)
		wantRefused(t, err, rtmp.CodePublishBadName, refusedPrefix+tc.desc)
	}

	// Three refusals on one connection close it.
	c := dialClient(t, ctx, appURL(e, "live"))
	for i := range maxAuthRefusals {
		err := c.Publish(ctx, fmt.Sprintf("guess-%d", i))
		if i < maxAuthRefusals-1 {
			wantRefused(t, err, rtmp.CodePublishBadName, "stream key not accepted")
		}
	}
	var se *rtmp.StatusError
	if err := c.Publish(ctx, "guess-more?key="+keyAny); err == nil || errors.As(err, &se) {
		t.Fatalf("a fourth publish on the connection: %v, want the connection closed", err)
	}
	subjects.check(t, keyAlice, keyAny)
}

// TestAuthKeysFFmpeg publishes with ffmpeg, as an encoder configured with
// a stream key would: the right key publishes, wrong and missing ones end
// ffmpeg with the edge's description.
func TestAuthKeysFFmpeg(t *testing.T) {
	src := testutil.GenerateFLV(t, authClip)
	ns := natstest.Start(t, natstest.Options{})
	subjects := recordSubjects(t, ns)
	keysFile := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(keysFile, []byte("# encoders\n"+keyAlice+" alice\n"+keyAny+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := startAuthEdge(t, ns, "a", config.Auth{Apps: map[string]*config.AuthApp{"live": {
		Publish: &config.AuthRule{Require: "any", KeysFile: keysFile},
	}}}, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	for _, name := range []string{keyAlice, "bob?key=" + keyAny} {
		pub := testutil.FFmpegPublish(t, ctx, src, e.URL("live", name), "-rw_timeout", ffmpegIOTimeout)
		if err := pub.Wait(authClip.Duration + 30*time.Second); err != nil {
			t.Fatalf("ffmpeg publish with a right key: %v", err)
		}
	}
	if !subjects.has("live", "alice") || !subjects.has("live", "bob") {
		t.Fatal("the streams published with a key are not on the bus")
	}
	for _, tc := range []struct{ name, desc string }{
		{"alice", "stream key not accepted"},
		{"alice?key=k-wrong-000000", "stream key not accepted"},
	} {
		start := time.Now()
		pub := testutil.FFmpegPublish(t, ctx, src, e.URL("live", tc.name), "-rw_timeout", ffmpegIOTimeout)
		if err := pub.Wait(20 * time.Second); err == nil {
			t.Fatalf("ffmpeg published %q", tc.name)
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("ffmpeg took %v to give up", took)
		}
		if !strings.Contains(pub.Stderr(), refusedPrefix+tc.desc) {
			t.Errorf("ffmpeg does not show the edge's description %q:\n%s", tc.desc, pub.Stderr())
		}
	}
	subjects.check(t, keyAlice, keyAny)
}

// TestAuthTokens checks signed tokens for publish and play, with our
// client and ffmpeg: a valid token is accepted; expired, wrong, missing
// and replayed-after-expiry ones are refused.
func TestAuthTokens(t *testing.T) {
	src := testutil.GenerateFLV(t, authClip)
	ns := natstest.Start(t, natstest.Options{})
	subjects := recordSubjects(t, ns)
	secrets := filepath.Join(t.TempDir(), "play-secrets")
	if err := os.WriteFile(secrets, []byte(playSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	clk := &testClock{t: time.Now()}
	e := startAuthEdge(t, ns, "a", config.Auth{Apps: map[string]*config.AuthApp{"live": {
		Publish: &config.AuthRule{Require: "any", Token: &config.AuthTokens{Secrets: []string{tokenSecret}, Skew: 2 * time.Second}},
		Play:    &config.AuthRule{Require: "any", Token: &config.AuthTokens{SecretsFile: secrets, Skew: 2 * time.Second}},
	}}}, clk.Now, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	sign := func(secret, action, name string, exp time.Time) string {
		return name + "?" + token.Query([]byte(secret), action, "live", name, exp)
	}
	inMinute := clk.Now().Add(time.Minute)

	// Our client.
	pubName := sign(tokenSecret, token.Publish, "m", inMinute)
	pub, err := tryPublish(t, ctx, e, "live", pubName)
	if err != nil {
		t.Fatalf("publish with a valid token: %v", err)
	}
	play := startPlayer(t, ctx, e, "live", sign(playSecret, token.Play, "m", inMinute))
	publishFrames(t, pub, 5)
	play.nextVideo(t, 5*time.Second)
	for _, tc := range []struct{ name, desc string }{
		{"n", "no token"},
		{sign(tokenSecret, token.Publish, "n", clk.Now().Add(-time.Hour)), "token expired"},
		{sign("another-secret-0123456789", token.Publish, "n", inMinute), "token signature does not match"},
		{sign(tokenSecret, token.Publish, "other", inMinute)[len("other"):], "token signature does not match"}, // another stream's token
		{sign(tokenSecret, token.Play, "n", inMinute), "token signature does not match"},                       // a play token
	} {
		name := tc.name
		if strings.HasPrefix(name, "?") {
			name = "n" + name
		}
		_, err := tryPublish(t, ctx, e, "live", name)
		wantRefused(t, err, rtmp.CodePublishBadName, refusedPrefix+tc.desc)
	}
	_, err = tryPlay(t, ctx, e, "live", "m")
	wantRefused(t, err, rtmp.CodePlayFailed, "Not authorized to play: no token")
	_, err = tryPlay(t, ctx, e, "live", sign(tokenSecret, token.Publish, "m", inMinute))
	wantRefused(t, err, rtmp.CodePlayFailed, "Not authorized to play: token signature does not match")

	// The encoder reconnects with the same URL after the token expired.
	pub.Close()
	clk.Add(time.Minute + 3*time.Second)
	_, err = tryPublish(t, ctx, e, "live", pubName)
	wantRefused(t, err, rtmp.CodePublishBadName, refusedPrefix+"token expired")

	// ffmpeg: a valid token publishes, and a player with its own token
	// records the stream; expired and missing tokens are refused.
	clk.Add(-time.Minute - 3*time.Second)
	out := filepath.Join(t.TempDir(), "play.flv")
	ffplay := testutil.FFmpegPlay(t, ctx, e.URL("live", sign(playSecret, token.Play, "f", inMinute)), out, 0)
	if err := ffplay.WaitStderr(testutil.FFmpegPlaySent, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { return e.Stats().Players > 0 })
	ffURL := e.URL("live", sign(tokenSecret, token.Publish, "f", inMinute))
	ffpub := testutil.FFmpegPublish(t, ctx, src, ffURL, "-rw_timeout", ffmpegIOTimeout)
	if err := ffpub.Wait(authClip.Duration + 30*time.Second); err != nil {
		t.Fatalf("ffmpeg publish with a valid token: %v", err)
	}
	waitPlayerExit(t, "token", ffplay)
	if got := testutil.Probe(t, out); got.VideoFrames == 0 {
		t.Fatal("ffmpeg with a play token recorded no video")
	}
	clk.Add(time.Minute + 3*time.Second) // past exp and the skew
	for _, tc := range []struct{ url, desc string }{
		{ffURL, refusedPrefix + "token expired"}, // the same URL, replayed after its expiry
		{e.URL("live", sign("another-secret-0123456789", token.Publish, "g", clk.Now().Add(time.Minute))), refusedPrefix + "token signature does not match"},
		{e.URL("live", sign(tokenSecret, token.Publish, "g", clk.Now().Add(-time.Minute))), refusedPrefix + "token expired"},
		{e.URL("live", "g"), refusedPrefix + "no token"},
	} {
		p := testutil.FFmpegPublish(t, ctx, src, tc.url, "-rw_timeout", ffmpegIOTimeout)
		if err := p.Wait(20 * time.Second); err == nil || !strings.Contains(p.Stderr(), tc.desc) {
			t.Errorf("ffmpeg publish %s: %v, want a refusal showing %q:\n%s", tc.desc, err, tc.desc, p.Stderr())
		}
	}
	noToken := testutil.FFmpegPlay(t, ctx, e.URL("live", "f"), filepath.Join(t.TempDir(), "no.flv"), 0)
	if err := noToken.Wait(20 * time.Second); err == nil || !strings.Contains(noToken.Stderr(), "Not authorized to play: no token") {
		t.Errorf("ffmpeg play without a token: %v:\n%s", err, noToken.Stderr())
	}
	subjects.check(t, "sig=", "exp=")
}

// hookService is the webhook of the tests, on a real HTTP server. It
// allows the stream hookSecret and renames it publicName, allows names
// starting with "ok", refuses the rest; on /slow it answers after 10 s.
type hookService struct {
	*httptest.Server
	calls, slow atomic.Int32
	mu          sync.Mutex
	bodies      []auth.WebhookRequest
}

func startHookService(t *testing.T) *hookService {
	t.Helper()
	h := &hookService{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req auth.WebhookRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+hookBearer {
			http.Error(w, "who are you", http.StatusUnauthorized)
			return
		}
		if r.URL.Path == "/slow" {
			h.slow.Add(1)
			select {
			case <-time.After(10 * time.Second):
			case <-r.Context().Done():
			}
			return
		}
		h.calls.Add(1)
		h.mu.Lock()
		h.bodies = append(h.bodies, req)
		h.mu.Unlock()
		switch {
		case req.Stream == hookSecret:
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"name": %q}`, publicName)
		case strings.HasPrefix(req.Stream, "ok"):
			w.WriteHeader(http.StatusNoContent)
		default:
			http.Error(w, "no", http.StatusForbidden)
		}
	}))
	t.Cleanup(h.Close)
	return h
}

func hookAuth(url string, timeout time.Duration) *config.AuthRule {
	return &config.AuthRule{Require: "any", Webhook: &config.AuthWebhook{URL: url, Timeout: timeout,
		CacheTTL: 5 * time.Second, CacheSize: 100, Headers: map[string]string{"Authorization": "Bearer " + hookBearer}}}
}

// closedURL returns an http URL on which nothing listens.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + ln.Addr().String() + "/hook"
	ln.Close()
	return u
}

// TestAuthWebhook checks the webhook: a 2xx allows and renames
// (ffmpeg publishes the secret name, players play the public one, the
// secret is never on the bus), other answers refuse, a webhook down
// refuses at once, a slow one within its timeout while other sessions
// publish and play unaffected.
func TestAuthWebhook(t *testing.T) {
	src := testutil.GenerateFLV(t, authClip)
	ns := natstest.Start(t, natstest.Options{})
	subjects := recordSubjects(t, ns)
	h := startHookService(t)
	e := startAuthEdge(t, ns, "a", config.Auth{Apps: map[string]*config.AuthApp{
		"live": {Publish: hookAuth(h.URL+"/hook", 2*time.Second)},
		"slow": {Publish: hookAuth(h.URL+"/slow", 1500*time.Millisecond)},
		"down": {Publish: hookAuth(closedURL(t), 5*time.Second)},
	}}, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	t.Run("rename", func(t *testing.T) {
		play := startPlayer(t, ctx, e, "live", publicName)
		ffpub := testutil.FFmpegPublish(t, ctx, src, e.URL("live", hookSecret), "-rw_timeout", ffmpegIOTimeout)
		play.nextVideo(t, 20*time.Second)
		if err := ffpub.Wait(authClip.Duration + 30*time.Second); err != nil {
			t.Fatalf("ffmpeg publish of the secret name: %v", err)
		}
		h.mu.Lock()
		first := h.bodies[0]
		h.mu.Unlock()
		if first.Action != "publish" || first.App != "live" || first.Stream != hookSecret || first.EdgeID != "a" ||
			first.ClientIP != "127.0.0.1" || !strings.HasPrefix(first.ClientAddr, "127.0.0.1:") {
			t.Errorf("the webhook got %+v", first)
		}
		// Our client too, with a query parameter the webhook sees.
		pub, err := tryPublish(t, ctx, e, "live", "ok-1?ticket=t-55")
		if err != nil {
			t.Fatalf("publish allowed by a 204: %v", err)
		}
		publishFrames(t, pub, 3)
		waitFor(t, 5*time.Second, func() bool { return subjects.has("live", "ok-1") })
		h.mu.Lock()
		last := h.bodies[len(h.bodies)-1]
		h.mu.Unlock()
		if last.Stream != "ok-1" || last.Query["ticket"] != "t-55" {
			t.Errorf("the webhook got %+v, want stream ok-1 and its query", last)
		}
		_, err = tryPublish(t, ctx, e, "live", "nope")
		wantRefused(t, err, rtmp.CodePublishBadName, refusedPrefix+"refused by the authorization service (HTTP 403)")
		refused := testutil.FFmpegPublish(t, ctx, src, e.URL("live", "nope-ffmpeg"), "-rw_timeout", ffmpegIOTimeout)
		if err := refused.Wait(20 * time.Second); err == nil || !strings.Contains(refused.Stderr(), "refused by the authorization service (HTTP 403)") {
			t.Errorf("ffmpeg publish refused by the webhook: %v:\n%s", err, refused.Stderr())
		}
		subjects.check(t, hookSecret)
		if !subjects.has("live", publicName) {
			t.Fatal("the renamed stream is not on the bus")
		}
	})

	t.Run("down", func(t *testing.T) {
		start := time.Now()
		_, err := tryPublish(t, ctx, e, "down", "ok-2")
		wantRefused(t, err, rtmp.CodePublishBadName, "the authorization service is unreachable; try again")
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("refused after %v with the webhook down, want at once (its timeout is 5s)", took)
		}
	})

	t.Run("slow", func(t *testing.T) {
		// Four encoders wait for the slow webhook at once...
		const n = 4
		errs := make(chan error, n)
		took := make(chan time.Duration, n)
		for range n {
			go func() {
				start := time.Now()
				c, err := rtmp.Dial(ctx, appURL(e, "slow"), rtmp.ClientConfig{})
				if err == nil {
					defer c.Close()
					if err = c.Connect(ctx); err == nil {
						err = c.Publish(ctx, "ok-slow")
					}
				}
				took <- time.Since(start)
				errs <- err
			}()
		}
		waitFor(t, 5*time.Second, func() bool { return h.slow.Load() == n })
		// ...while another publishes and plays, on another application.
		start := time.Now()
		pub, err := tryPublish(t, ctx, e, "open", "busy")
		if err != nil {
			t.Fatal(err)
		}
		play := startPlayer(t, ctx, e, "open", "busy")
		publishFrames(t, pub, 5)
		play.nextVideo(t, 5*time.Second)
		if d := time.Since(start); d > time.Second {
			t.Errorf("a publish and a play took %v while the webhook was slow", d)
		}
		for range n {
			wantRefused(t, <-errs, rtmp.CodePublishBadName, "the authorization service did not answer within 1.5s; try again")
			if d := <-took; d > 3*time.Second {
				t.Errorf("a publish waited %v for a webhook with a 1.5s timeout", d)
			}
		}
	})
}

// TestAuthConnectRejected refuses connections to an application where
// every action is denied, with NetConnection.Connect.Rejected.
func TestAuthConnectRejected(t *testing.T) {
	ns := natstest.Start(t, natstest.Options{})
	e := startAuthEdge(t, ns, "a", config.Auth{
		Default: &config.AuthApp{Publish: &config.AuthRule{Deny: true}, Play: &config.AuthRule{Deny: true}},
		Apps:    map[string]*config.AuthApp{"live": {Publish: &config.AuthRule{Deny: true}}},
	}, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := rtmp.Dial(ctx, appURL(e, "other"), rtmp.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.Connect(ctx)
	if !errors.Is(err, rtmp.ErrConnectRejected) || !strings.Contains(err.Error(), "accepts no publish and no play") {
		t.Fatalf("connect to a closed application: %v", err)
	}
	// live is listed: its plays are open, its publishes refused.
	_, err = tryPublish(t, ctx, e, "live", "x")
	wantRefused(t, err, rtmp.CodePublishBadName, refusedPrefix+"publish is not allowed in this application")
	if _, err := tryPlay(t, ctx, e, "live", "x"); err != nil {
		t.Fatalf("play in an application with open plays: %v", err)
	}
}

// TestAuthSecretsStayOut runs every method, allowed and refused, on an
// edge whose logs, spans and metrics are captured, and checks that no key,
// token, signature or secret name is in them; that each refusal is logged
// once with its reason; and what tributary_edge_auth_total counts.
func TestAuthSecretsStayOut(t *testing.T) {
	ns := natstest.Start(t, natstest.Options{})
	h := startHookService(t)
	tp, sr := newTracing(t)
	logs := &jsonLogs{}
	reg := prometheus.NewRegistry()
	e := startAuthEdge(t, ns, "a", config.Auth{Apps: map[string]*config.AuthApp{
		"live": {
			Publish: &config.AuthRule{Require: "any", Keys: []config.AuthKey{{Key: keyAlice, Stream: "alice"}, {Key: keyAny}},
				Token: &config.AuthTokens{Secrets: []string{tokenSecret}}},
			Play: &config.AuthRule{Require: "any", Token: &config.AuthTokens{Secrets: []string{playSecret}}},
		},
		"hook": {Publish: hookAuth(h.URL+"/hook", 2*time.Second)},
	}}, nil, func(c *Config) {
		c.TracerProvider, c.Logger, c.Metrics = tp, logs.logger(), reg
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	inMinute := time.Now().Add(time.Minute)
	pubToken := token.Query([]byte(tokenSecret), token.Publish, "live", "tok", inMinute)
	playToken := token.Query([]byte(playSecret), token.Play, "live", "alice", inMinute)
	badToken := token.Query([]byte(playSecret), token.Publish, "live", "bad", inMinute)
	secrets := []string{keyAlice, keyAny, tokenSecret, playSecret, hookSecret, hookBearer,
		strings.SplitN(pubToken, "sig=", 2)[1], strings.SplitN(playToken, "sig=", 2)[1], strings.SplitN(badToken, "sig=", 2)[1]}

	// Allowed: a key as the name, a key parameter, a token, a play
	// token, a webhook rename.
	var conns []*rtmp.ClientConn
	for _, p := range []struct{ app, name string }{
		{"live", keyAlice}, {"live", "k2?key=" + keyAny}, {"live", "tok?" + pubToken}, {"hook", hookSecret},
	} {
		c, err := tryPublish(t, ctx, e, p.app, p.name)
		if err != nil {
			t.Fatalf("publish %s/%s: %v", p.app, p.name, err)
		}
		publishFrames(t, c, 3)
		conns = append(conns, c)
	}
	play := startPlayer(t, ctx, e, "live", "alice?"+playToken)
	play.nextVideo(t, 5*time.Second)
	// Refused: a wrong key, an unbound key as the name, a wrong token, a
	// play without a token, a webhook refusal.
	refusals := []struct{ app, name, reason string }{
		{"live", "x?key=" + keyAny + "0", "stream key not accepted"},
		{"live", keyAny, "this stream key is not bound to a stream"},
		{"live", "bad?" + badToken, "token signature does not match"},
		{"hook", "nope", "refused by the authorization service (HTTP 403)"},
	}
	for _, r := range refusals {
		_, err := tryPublish(t, ctx, e, r.app, r.name)
		wantRefused(t, err, rtmp.CodePublishBadName, r.reason)
	}
	_, err := tryPlay(t, ctx, e, "live", "alice")
	wantRefused(t, err, rtmp.CodePlayFailed, "no token")
	for _, c := range conns {
		c.Close()
	}
	waitFor(t, 10*time.Second, func() bool { return e.Stats().Publishers == 0 })
	awaitSpan(t, sr, spanPlay, func(s sdktrace.ReadOnlySpan) bool { return hasAttr(s, keyRejectReason) })

	// Every refusal is logged once, with its reason.
	rejected := logs.lines(t, "publish rejected")
	if len(rejected) != len(refusals) {
		t.Errorf("%d publish rejected lines, want %d", len(rejected), len(refusals))
	}
	for i, r := range refusals {
		if i < len(rejected) && !strings.Contains(fmt.Sprint(rejected[i]["reason"]), "not authorized: "+r.reason) {
			t.Errorf("rejection %d logged with reason %v, want %q", i, rejected[i]["reason"], r.reason)
		}
	}
	if n := len(logs.lines(t, "play rejected")); n != 1 {
		t.Errorf("%d play rejected lines, want 1", n)
	}
	// The public names are logged and traced.
	var names []string
	for _, l := range logs.lines(t, "publish started") {
		names = append(names, fmt.Sprint(l["stream"]))
	}
	slices.Sort(names) // logged after the client is told, so in any order
	if strings.Join(names, " ") != "hook/"+publicName+" live/alice live/k2 live/tok" {
		t.Errorf("publishes logged as %v", names)
	}

	// No secret in the logs...
	logs.mu.Lock()
	text := logs.buf.String()
	logs.mu.Unlock()
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("the logs hold the secret %q:\n%s", s, text)
		}
	}
	// ...nor in the spans.
	var auths int
	for _, s := range sr.Ended() {
		if s.Name() == spanAuth {
			auths++
			if _, ok := attrOf(s, keyAuthResult); !ok {
				t.Errorf("auth span without a result: %v", s.Attributes())
			}
		}
		parts := []string{s.Name(), s.Status().Description}
		for _, a := range s.Attributes() {
			parts = append(parts, string(a.Key), a.Value.Emit())
		}
		for _, ev := range s.Events() {
			parts = append(parts, ev.Name)
			for _, a := range ev.Attributes {
				parts = append(parts, a.Value.Emit())
			}
		}
		all := strings.Join(parts, " ")
		for _, secret := range secrets {
			if strings.Contains(all, secret) {
				t.Errorf("span %s holds the secret %q: %s", s.Name(), secret, all)
			}
		}
	}
	if auths != 10 {
		t.Errorf("%d auth spans, want 10: 4 publishes and a play allowed, 4 publishes and a play refused", auths)
	}
	pubSpan := awaitSpan(t, sr, spanPublish, func(s sdktrace.ReadOnlySpan) bool {
		v, ok := attrOf(s, keyStream)
		return ok && v.AsString() == "hook/"+publicName
	})
	if v, _ := attrOf(pubSpan, keyRTMPStream); v.AsString() != publicName {
		t.Errorf("the renamed publish's rtmp.stream is %q, want the public name", v.AsString())
	}

	// The metric.
	fams := scrape(t, reg)
	for _, c := range []struct {
		action, method, result string
		want                   float64
	}{
		{"publish", "key", "allowed", 2}, {"publish", "token", "allowed", 1}, {"publish", "webhook", "allowed", 1},
		{"publish", "key", "denied", 3}, {"publish", "token", "denied", 1}, {"publish", "webhook", "denied", 1},
		{"play", "token", "allowed", 1}, {"play", "token", "denied", 1}, {"publish", "webhook", "error", 0},
	} {
		if got := mustValue(t, fams, "tributary_edge_auth_total", "action", c.action, "method", c.method, "result", c.result); got != c.want {
			t.Errorf("tributary_edge_auth_total{%s,%s,%s} = %v, want %v", c.action, c.method, c.result, got, c.want)
		}
	}
}

// hasAttr reports whether s has the attribute key.
func hasAttr(s sdktrace.ReadOnlySpan, key attribute.Key) bool {
	_, ok := attrOf(s, key)
	return ok
}
