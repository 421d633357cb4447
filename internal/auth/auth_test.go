package auth

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tributary-media/tributary/internal/config"
	"github.com/tributary-media/tributary/pkg/token"
)

const (
	keyAlice = "k-alice-4f9a0c2e"
	keyAny   = "k-any-8e2d5a7c9f"
	secret1  = "secret-one-0123456789abcdef"
	secret2  = "secret-two-0123456789abcdef"
)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Unix(1767225600, 0)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newAuthorizer(t *testing.T, rules config.Auth, now func() time.Time) *Authorizer {
	t.Helper()
	a, err := New(Config{Rules: rules, EdgeID: "edge-1", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return a
}

func publishRule(r *config.AuthRule) config.Auth {
	if r.Require == "" {
		r.Require = config.AuthRequireAny
	}
	return config.Auth{Apps: map[string]*config.AuthApp{"live": {Publish: r}}}
}

func request(stream, query string) Request {
	q, _ := url.ParseQuery(query)
	return Request{Action: Publish, App: "live", Stream: stream, Query: q, ClientAddr: "127.0.0.1:50000"}
}

// check runs a and fails unless the decision is allowed with name (want
// "" for a refusal) and, for a refusal, has a reason containing reason.
func check(t *testing.T, a *Authorizer, req Request, name, reason string) Decision {
	t.Helper()
	d := a.Authorize(context.Background(), req)
	if name != "" {
		if !d.Allowed || d.Name != name {
			t.Fatalf("%s %q?%s: %+v, want allowed as %q", req.Action, req.Stream, req.Query.Encode(), d, name)
		}
		return d
	}
	if d.Allowed {
		t.Fatalf("%s %q?%s: allowed as %q, want a refusal", req.Action, req.Stream, req.Query.Encode(), d.Name)
	}
	if d.Name != req.Stream {
		t.Errorf("refusal names %q, want the requested %q", d.Name, req.Stream)
	}
	if !strings.Contains(d.Reason, reason) {
		t.Fatalf("%s %q: reason %q, want one containing %q", req.Action, req.Stream, d.Reason, reason)
	}
	return d
}

func TestOpenByDefault(t *testing.T) {
	var nilAuth *Authorizer
	check(t, nilAuth, request("x", ""), "x", "")
	a := newAuthorizer(t, config.Auth{}, nil)
	check(t, a, request("x", ""), "x", "")
	if a.SecretName("live", Publish) || a.Closed("live") {
		t.Fatal("an authorizer without rules treats names as secret or closes apps")
	}
	// An application listed under apps is governed by its entry alone.
	a = newAuthorizer(t, config.Auth{
		Default: &config.AuthApp{Publish: &config.AuthRule{Deny: true}, Play: &config.AuthRule{Deny: true}},
		Apps:    map[string]*config.AuthApp{"live": {Publish: &config.AuthRule{Keys: []config.AuthKey{{Key: keyAny}}}}},
	}, nil)
	play := request("x", "")
	play.Action = Play
	check(t, a, play, "x", "")
	check(t, a, request("x", "key="+keyAny), "x", "")
	other := request("x", "key="+keyAny)
	other.App = "other"
	check(t, a, other, "", "publish is not allowed in this application")
	if !a.Closed("other") || a.Closed("live") {
		t.Fatal("Closed: want only the default applications closed")
	}
}

func TestKeys(t *testing.T) {
	a := newAuthorizer(t, publishRule(&config.AuthRule{Keys: []config.AuthKey{{Key: keyAny}, {Key: keyAlice, Stream: "alice"}}}), nil)
	if !a.SecretName("live", Publish) || a.SecretName("live", Play) {
		t.Fatal("SecretName: want the publish names of live secret, not its play names")
	}
	check(t, a, request("match", "key="+keyAny), "match", "")   // unbound key in the parameter: any name
	check(t, a, request(keyAlice, ""), "alice", "")             // bound key as the name: the bound stream
	check(t, a, request("alice", "key="+keyAlice), "alice", "") // bound key in the parameter, its stream
	check(t, a, request("bob", "key="+keyAlice), "", "not valid for this stream")
	check(t, a, request(keyAny, ""), "", "not bound to a stream") // the key would become a public name
	check(t, a, request("match", "key=k-wrong-00000000"), "", "stream key not accepted")
	check(t, a, request("match", ""), "", "stream key not accepted") // missing
	check(t, a, request("match", "key="+keyAny+"x"), "", "stream key not accepted")
	check(t, a, request("match", "key="+keyAny[:len(keyAny)-1]), "", "stream key not accepted")
}

func TestKeysFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("# publishers\n" + keyAlice + "  alice\n\n" + keyAny + "\n")
	a := newAuthorizer(t, publishRule(&config.AuthRule{KeysFile: path}), nil)
	check(t, a, request(keyAlice, ""), "alice", "")
	check(t, a, request("x", "key="+keyAny), "x", "")

	// A new key is picked up without a restart.
	write(keyAlice + "\talice\nk-bob-77aa88bb99 bob\n")
	waitFor(t, 5*time.Second, func() bool { return a.Authorize(context.Background(), request("k-bob-77aa88bb99", "")).Allowed })
	check(t, a, request("x", "key="+keyAny), "", "stream key not accepted") // removed

	// A broken file keeps the previous keys.
	write("short\n")
	time.Sleep(2 * fileCheckEvery)
	check(t, a, request("k-bob-77aa88bb99", ""), "bob", "")

	// At start, a broken or missing file is an error that names the line,
	// never the key.
	write("k-good-12345678\nk-good-12345678 dup\n")
	_, err := New(Config{Rules: publishRule(&config.AuthRule{KeysFile: path})})
	if err == nil || !strings.Contains(err.Error(), "line 2: repeats the key of line 1") || strings.Contains(err.Error(), "k-good") {
		t.Fatalf("New with a duplicate key: %v", err)
	}
	_, err = New(Config{Rules: publishRule(&config.AuthRule{KeysFile: path + ".missing"})})
	if err == nil || !strings.Contains(err.Error(), "keys file") {
		t.Fatalf("New with a missing file: %v", err)
	}
}

func TestTokens(t *testing.T) {
	clk := newClock()
	secrets := filepath.Join(t.TempDir(), "secrets")
	if err := os.WriteFile(secrets, []byte("# rotated in 2026\n"+secret2+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := newAuthorizer(t, publishRule(&config.AuthRule{Token: &config.AuthTokens{
		Secrets: []string{secret1}, SecretsFile: secrets, Skew: 5 * time.Second, MaxValidity: 24 * time.Hour}}), clk.Now)
	if a.SecretName("live", Publish) {
		t.Fatal("token names are not secret")
	}
	exp := clk.Now().Add(time.Minute)
	q := token.Query([]byte(secret1), token.Publish, "live", "match", exp)
	check(t, a, request("match", q), "match", "")
	check(t, a, request("match", token.Query([]byte(secret2), token.Publish, "live", "match", exp)), "match", "") // from the file
	check(t, a, request("match", token.Query([]byte("another-secret-0123456789"), token.Publish, "live", "match", exp)), "", "token signature does not match")
	check(t, a, request("other", q), "", "token signature does not match")
	play := request("match", q)
	play.Action = Play
	a2 := newAuthorizer(t, config.Auth{Default: &config.AuthApp{Play: &config.AuthRule{Token: &config.AuthTokens{Secrets: []string{secret1}}}}}, clk.Now)
	check(t, a2, play, "", "token signature does not match") // a publish token does not play
	check(t, a, request("match", ""), "", "no token")
	check(t, a, request("match", "exp=abc&sig=x"), "", "malformed token")
	check(t, a, request("match", token.Query([]byte(secret1), token.Publish, "live", "match", clk.Now().Add(48*time.Hour))), "", "too far in the future")

	// Replayed after its expiry (and the skew), the same token is refused.
	clk.Add(time.Minute + 5*time.Second)
	check(t, a, request("match", q), "match", "")
	clk.Add(time.Second)
	check(t, a, request("match", q), "", "token expired")
}

func TestRequire(t *testing.T) {
	clk := newClock()
	tok := func(stream string) string {
		return token.Query([]byte(secret1), token.Publish, "live", stream, clk.Now().Add(time.Minute))
	}
	keys := []config.AuthKey{{Key: keyAny}, {Key: keyAlice, Stream: "alice"}}
	any := newAuthorizer(t, publishRule(&config.AuthRule{Keys: keys, Token: &config.AuthTokens{Secrets: []string{secret1}}}), clk.Now)
	d := check(t, any, request("match", tok("match")), "match", "")
	if d.Methods != "token" {
		t.Errorf("a request with a token tries %q, want the token alone", d.Methods)
	}
	d = check(t, any, request("match", "key="+keyAny), "match", "")
	if d.Methods != "key" {
		t.Errorf("a request with a key tries %q, want the key alone", d.Methods)
	}
	d = check(t, any, request("match", ""), "", "stream key not accepted; no token")
	if d.Methods != "key" {
		t.Errorf("a request without credentials tries %q, want the key (the token would only be missing)", d.Methods)
	}

	all := newAuthorizer(t, publishRule(&config.AuthRule{Require: config.AuthRequireAll, Keys: keys,
		Token: &config.AuthTokens{Secrets: []string{secret1}}}), clk.Now)
	check(t, all, request("match", "key="+keyAny), "", "no token")
	check(t, all, request("match", tok("match")), "", "stream key not accepted")
	d = check(t, all, request("match", "key="+keyAny+"&"+tok("match")), "match", "")
	if d.Methods != "key,token" {
		t.Errorf("require all tried %q, want key,token", d.Methods)
	}
	// Every method sees the requested name; the bound stream applies after.
	check(t, all, request(keyAlice, tok(keyAlice)), "alice", "")
}

// hookServer is a webhook for tests: it records the requests and answers
// with status and body, after delay.
type hookServer struct {
	*httptest.Server
	calls  atomic.Int32
	mu     sync.Mutex
	last   WebhookRequest
	header http.Header
	status int
	body   string
	delay  time.Duration
}

func startHook(t *testing.T) *hookServer {
	h := &hookServer{status: http.StatusOK}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.calls.Add(1)
		var req WebhookRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			t.Errorf("webhook body: %v", err)
		}
		h.mu.Lock()
		h.last, h.header = req, r.Header.Clone()
		status, body, delay := h.status, h.body, h.delay
		h.mu.Unlock()
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
		w.WriteHeader(status)
		w.Write([]byte(body))
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookServer) answer(status int, body string, delay time.Duration) {
	h.mu.Lock()
	h.status, h.body, h.delay = status, body, delay
	h.mu.Unlock()
}

func (h *hookServer) lastRequest() (WebhookRequest, http.Header) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last, h.header
}

func hookRule(url string, timeout, ttl time.Duration) *config.AuthRule {
	return &config.AuthRule{Webhook: &config.AuthWebhook{URL: url, Timeout: timeout, CacheTTL: ttl, CacheSize: 100,
		Headers: map[string]string{"Authorization": "Bearer hook-secret"}}}
}

func TestWebhook(t *testing.T) {
	h := startHook(t)
	a := newAuthorizer(t, publishRule(hookRule(h.URL, time.Second, 0)), nil)
	if !a.SecretName("live", Publish) {
		t.Fatal("a webhook may rename: the name is secret until decided")
	}
	check(t, a, request("sk-123", "a=1&a=2&b=x"), "sk-123", "")
	got, hdr := h.lastRequest()
	want := WebhookRequest{Action: "publish", App: "live", Stream: "sk-123", Query: map[string]string{"a": "1", "b": "x"},
		ClientAddr: "127.0.0.1:50000", ClientIP: "127.0.0.1", EdgeID: "edge-1"}
	if got.Action != want.Action || got.App != want.App || got.Stream != want.Stream || got.ClientAddr != want.ClientAddr ||
		got.ClientIP != want.ClientIP || got.EdgeID != want.EdgeID || len(got.Query) != 2 || got.Query["a"] != "1" || got.Query["b"] != "x" {
		t.Errorf("webhook got %+v, want %+v", got, want)
	}
	if hdr.Get("Authorization") != "Bearer hook-secret" || hdr.Get("Content-Type") != "application/json" {
		t.Errorf("webhook headers %v", hdr)
	}

	for _, tc := range []struct {
		status int
		body   string
		name   string // "" for a refusal
		failed bool
		reason string
	}{
		{status: 204, name: "sk-123"},
		{status: 200, body: "OK", name: "sk-123"},
		{status: 200, body: `{"name": "public-name"}`, name: "public-name"},
		{status: 201, body: `{"name": ""}`, name: "sk-123"},
		{status: 200, body: `{"name": "bad\nname"}`, failed: true, reason: "answer is invalid: the name contains control characters"},
		{status: 200, body: `{"name": 5}`, failed: true, reason: "answer is invalid"},
		{status: 200, body: `{"name"`, failed: true, reason: "answer is invalid"},
		{status: 403, reason: "refused by the authorization service (HTTP 403)"},
		{status: 302, reason: "refused by the authorization service (HTTP 302)"},
		{status: 503, failed: true, reason: "the authorization service failed (HTTP 503)"},
	} {
		h.answer(tc.status, tc.body, 0)
		d := check(t, a, request("sk-123", ""), tc.name, tc.reason)
		if d.Failed != tc.failed {
			t.Errorf("HTTP %d %q: Failed = %v, want %v", tc.status, tc.body, d.Failed, tc.failed)
		}
	}
	if strings.Contains(h.URL, "hook-secret") {
		t.Fatal("test setup")
	}
}

func TestWebhookSlowAndDown(t *testing.T) {
	h := startHook(t)
	h.answer(200, "", 10*time.Second)
	a := newAuthorizer(t, publishRule(hookRule(h.URL, 300*time.Millisecond, time.Minute)), nil)
	start := time.Now()
	d := check(t, a, request("x", ""), "", "did not answer within 300ms")
	if took := time.Since(start); took < 300*time.Millisecond || took > 2*time.Second {
		t.Errorf("a slow webhook refused after %v, want about its timeout", took)
	}
	if !d.Failed {
		t.Error("a slow webhook is a failure, not a denial")
	}
	// Failures are not cached: the next request asks again.
	h.answer(200, "", 0)
	check(t, a, request("x", ""), "x", "")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String() + "/hook"
	ln.Close()
	a = newAuthorizer(t, publishRule(hookRule(down, 2*time.Second, 0)), nil)
	start = time.Now()
	check(t, a, request("x", ""), "", "the authorization service is unreachable")
	if took := time.Since(start); took > time.Second {
		t.Errorf("a webhook that is down refused after %v, want at once", took)
	}
}

func TestWebhookCache(t *testing.T) {
	h := startHook(t)
	clk := newClock()
	rule := hookRule(h.URL, time.Second, 10*time.Second)
	rule.Webhook.CacheSize = 3
	a := newAuthorizer(t, publishRule(rule), clk.Now)
	calls := func() int { return int(h.calls.Load()) }

	h.answer(200, `{"name":"pub"}`, 0)
	check(t, a, request("sk-1", "x=1"), "pub", "")
	check(t, a, request("sk-1", "x=1"), "pub", "")
	if calls() != 1 {
		t.Fatalf("%d calls, want 1 (the second answered from the cache)", calls())
	}
	// Another client port hits the cache; another IP, query or name does
	// not.
	r := request("sk-1", "x=1")
	r.ClientAddr = "127.0.0.1:60000"
	check(t, a, r, "pub", "")
	if calls() != 1 {
		t.Fatalf("%d calls after another port, want 1", calls())
	}
	h.answer(403, "", 0)
	r.ClientAddr = "127.0.0.2:60000"
	check(t, a, r, "", "HTTP 403")
	check(t, a, request("sk-1", "x=2"), "", "HTTP 403")
	if calls() != 3 {
		t.Fatalf("%d calls, want 3", calls())
	}
	// Denials are cached too.
	check(t, a, request("sk-1", "x=2"), "", "HTTP 403")
	if calls() != 3 {
		t.Fatalf("%d calls after a cached denial, want 3", calls())
	}
	// The cache holds 3 answers: a fourth evicts the oldest (sk-1 x=1).
	check(t, a, request("sk-2", ""), "", "HTTP 403")
	if n := a.hooks[0].cache.len(); n != 3 {
		t.Fatalf("cache holds %d answers, want 3", n)
	}
	check(t, a, request("sk-1", "x=1"), "", "HTTP 403")
	if calls() != 5 {
		t.Fatalf("%d calls, want 5 (the oldest answer was evicted)", calls())
	}
	// After the TTL, the webhook is asked again.
	h.answer(200, "", 0)
	clk.Add(10 * time.Second)
	check(t, a, request("sk-2", ""), "sk-2", "")
	if calls() != 6 {
		t.Fatalf("%d calls, want 6 (the answer expired)", calls())
	}
}

func TestCounts(t *testing.T) {
	h := startHook(t)
	a := newAuthorizer(t, config.Auth{
		Default: &config.AuthApp{Play: &config.AuthRule{Deny: true}},
		Apps: map[string]*config.AuthApp{"live": {Publish: &config.AuthRule{Require: "any",
			Keys: []config.AuthKey{{Key: keyAny}}, Webhook: &config.AuthWebhook{URL: h.URL, Timeout: time.Second}}}},
	}, nil)
	check(t, a, request("x", "key="+keyAny), "x", "")
	h.answer(403, "", 0)
	check(t, a, request("x", "key=k-wrong-00000000"), "", "stream key not accepted; refused by the authorization service")
	h.answer(500, "", 0)
	check(t, a, request("x", ""), "", "failed (HTTP 500)")
	play := request("x", "")
	play.App, play.Action = "vod", Play
	check(t, a, play, "", "play is not allowed")

	got := map[string]uint64{}
	for _, c := range a.Counts() {
		got[c.Action+"/"+c.Method+"/"+c.Result] = c.N
	}
	want := map[string]uint64{
		"publish/key/allowed": 1, "publish/key/denied": 2, "publish/webhook/denied": 1, "publish/webhook/error": 1,
		"play/deny/denied": 1,
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s = %d, want %d", k, got[k], n)
		}
	}
	if len(got) != 16 {
		t.Errorf("%d series, want 16: %v", len(got), got)
	}
	for _, k := range []string{"publish/key/error", "play/deny/allowed", "publish/token/error"} {
		if _, ok := got[k]; ok {
			t.Errorf("series %s cannot happen", k)
		}
	}
}

func TestNewErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		rule *config.AuthRule
		want string
	}{
		{"no-method", &config.AuthRule{}, "no method"},
		{"deny-and-keys", &config.AuthRule{Deny: true, Keys: []config.AuthKey{{Key: keyAny}}}, "deny takes no other method"},
		{"short-key", &config.AuthRule{Keys: []config.AuthKey{{Key: "short"}}}, "keys[0]: the key is shorter than 8 bytes"},
		{"no-secret", &config.AuthRule{Token: &config.AuthTokens{}}, "token: no secret"},
		{"empty-secrets-file", &config.AuthRule{Token: &config.AuthTokens{SecretsFile: os.DevNull}}, "no secret in the file"},
		{"bad-url", &config.AuthRule{Webhook: &config.AuthWebhook{URL: "ftp://x", Timeout: time.Second}}, "want an http or https URL"},
		{"no-timeout", &config.AuthRule{Webhook: &config.AuthWebhook{URL: "http://x"}}, "webhook.timeout"},
		{"bad-require", &config.AuthRule{Require: "most", Deny: true}, `require "most"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(Config{Rules: publishRule(tc.rule)})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "auth: apps.live.publish: ") {
				t.Fatalf("New = %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
