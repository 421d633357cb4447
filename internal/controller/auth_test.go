package controller_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tributary-media/tributary/internal/controller"
	"github.com/tributary-media/tributary/internal/testutil"
)

// adminToken is the admin API token of the tests.
const adminToken = "admin-token-5f8a1d6c2e9b"

// runServer runs srv until the end of the test, and waits for Run to
// return then.
func runServer(t *testing.T, srv *controller.Server) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("Run did not return")
		}
	})
}

// call makes a request with the Authorization header auth ("" for none)
// and returns the status, the WWW-Authenticate header and the error of
// the JSON body, if any.
func call(t *testing.T, method, url, auth string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	var body struct {
		Error string `json:"error"`
	}
	json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body.Error
}

// TestServerToken runs a Server with an admin token: the API answers
// only requests that carry it, with 401 and a bearer challenge for the
// others; the health endpoints and the metrics stay open.
func TestServerToken(t *testing.T) {
	env := newEnv(t)
	var logs testutil.SyncBuffer
	cfg := env.newServerConfig(t, "ctl-1", "127.0.0.1:0")
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.Token = adminToken
	cfg.MetricsHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("# metrics\n")) })
	srv, err := controller.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	runServer(t, srv)
	api := "http://" + srv.Addr().String()
	bearer := "Bearer " + adminToken
	waitFor(t, 10*time.Second, "ctl-1 to lead", func() bool {
		code, _, _ := call(t, http.MethodGet, api+"/readyz", "")
		return code == http.StatusOK && srv.Controller().IsLeader()
	})

	// Open without a token, and with a wrong one.
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		for _, auth := range []string{"", "Bearer wrong"} {
			if code, _, _ := call(t, http.MethodGet, api+path, auth); code != http.StatusOK {
				t.Errorf("GET %s with %q: %d, want 200", path, auth, code)
			}
		}
	}

	const challenge = `Bearer realm="tributary"`
	for _, tc := range []struct {
		method, path, auth string
		code               int
		challenge          string
	}{
		{"GET", "/api/v1/streams", "", 401, challenge},
		{"GET", "/api/v1/streams", "Bearer wrong-token", 401, challenge + `, error="invalid_token"`},
		{"GET", "/api/v1/streams", "Bearer " + adminToken + "x", 401, challenge + `, error="invalid_token"`},
		{"GET", "/api/v1/streams", "Bearer " + adminToken[:len(adminToken)-1], 401, challenge + `, error="invalid_token"`},
		{"GET", "/api/v1/streams", "Basic " + adminToken, 401, challenge},
		{"GET", "/api/v1/streams", "Bearer ", 401, challenge},
		{"GET", "/api/v1/streams", adminToken, 401, challenge},
		{"POST", "/api/v1/streams/live/a/kick", "", 401, challenge},
		{"POST", "/api/v1/edges/edge-a/drain", "Bearer wrong", 401, challenge + `, error="invalid_token"`},
		{"GET", "/api/v1/nothing", "", 401, challenge},
		{"GET", "/api/v1/leader", "", 401, challenge},
		// The right token, in any case of the scheme.
		{"GET", "/api/v1/streams", bearer, 200, ""},
		{"GET", "/api/v1/leader", "bearer " + adminToken, 200, ""},
		{"GET", "/api/v1/edges", "BEARER " + adminToken, 200, ""},
		{"POST", "/api/v1/streams/live/a/kick", bearer, 404, ""},
		{"GET", "/api/v1/nothing", bearer, 404, ""},
	} {
		code, got, msg := call(t, tc.method, api+tc.path, tc.auth)
		if code != tc.code || got != tc.challenge {
			t.Errorf("%s %s with %q: %d %q, want %d %q", tc.method, tc.path, tc.auth, code, got, tc.code, tc.challenge)
		}
		if code == 401 && (msg == "" || strings.Contains(msg, adminToken)) {
			t.Errorf("%s %s with %q: error %q", tc.method, tc.path, tc.auth, msg)
		}
	}

	out := logs.String()
	if !strings.Contains(out, "admin API requires a bearer token") {
		t.Errorf("the log does not say the API requires a token:\n%s", out)
	}
	if strings.Contains(out, adminToken) {
		t.Errorf("the log shows the token:\n%s", out)
	}
}

// TestServerOpenWarns checks the warning for an admin API without a token
// that listens beyond loopback, and its absence on loopback.
func TestServerOpenWarns(t *testing.T) {
	env := newEnv(t)
	for _, tc := range []struct {
		addr string
		warn bool
	}{{"127.0.0.1:0", false}, {"0.0.0.0:0", true}} {
		t.Run(tc.addr, func(t *testing.T) {
			var logs testutil.SyncBuffer
			cfg := env.newServerConfig(t, "ctl-1", tc.addr)
			cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			srv, err := controller.NewServer(cfg)
			if err != nil {
				t.Fatal(err)
			}
			runServer(t, srv)
			waitFor(t, 10*time.Second, "the API to start", func() bool {
				return strings.Contains(logs.String(), "admin API started")
			})
			// Open: no token needed.
			url := "http://" + strings.Replace(srv.Addr().String(), "0.0.0.0", "127.0.0.1", 1) + "/api/v1/edges"
			if code, _, _ := call(t, http.MethodGet, url, ""); code != http.StatusOK {
				t.Errorf("GET %s: %d", url, code)
			}
			warned := strings.Contains(logs.String(), "level=WARN msg=\"admin API is open")
			if warned != tc.warn {
				t.Errorf("warned %v, want %v:\n%s", warned, tc.warn, logs.String())
			}
		})
	}
}
