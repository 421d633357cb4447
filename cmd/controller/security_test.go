package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/tributary-media/tributary/internal/backend/backendtest"
	"github.com/tributary-media/tributary/internal/testutil"
	"github.com/tributary-media/tributary/pkg/cluster"
)

// The secrets of the test; none may show in the program's output.
const (
	natsPassword = "nats-pass-3c9e1f"
	rootPassword = "root-pass-2a6f8e"
	adminToken   = "admin-token-5f8a1d6c2e9b"
	wrongSecret  = "wrong-secret-1d4c"
)

// startSecuredNATS starts a NATS server on 127.0.0.1 and a random port,
// stopped when the test ends, and returns its URL. It knows two users
// with the permissions docs/security.md gives them, for the bus prefix
// "sec": "ctl" (natsPassword), a controller, and "reader" (no password),
// a consumer of the events.
func startSecuredNATS(t *testing.T) string {
	t.Helper()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true,
		Users: []*server.User{{
			Username: "ctl", Password: natsPassword,
			Permissions: &server.Permissions{
				Publish:   &server.SubjectPermission{Allow: []string{"sec.events.>"}},
				Subscribe: &server.SubjectPermission{Deny: []string{">"}},
			},
		}, {
			Username: "reader",
			Permissions: &server.Permissions{
				Publish:   &server.SubjectPermission{Deny: []string{">"}},
				Subscribe: &server.SubjectPermission{Allow: []string{"sec.events.>"}},
			},
		}}})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server not ready")
	}
	return srv.ClientURL()
}

// status returns the status of a GET of url with the Authorization header
// auth ("" for none).
func status(t *testing.T, url, auth string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestSecured runs the controller in-process against a NATS server that
// wants a password and grants it only the permissions docs/security.md
// gives a controller, and an etcd that serves TLS, wants a client
// certificate and has authentication on, with the controller's role of
// docs/security.md; and with an admin token. It becomes ready, leads,
// announces a stream claimed in etcd on the bus, its API answers only
// with the token, and its log says how it connects without showing a
// secret. With a wrong password it stops at once and says why.
func TestSecured(t *testing.T) {
	natsURL := startSecuredNATS(t)
	ca := backendtest.NewCA(t, "etcd CA")
	etcd := backendtest.StartEtcd(t, backendtest.EtcdOptions{CA: ca, ClientCertAuth: true})
	cert, key := ca.Client(t, "ctl")
	rootCert, rootKey := ca.Client(t, "root")
	root := backendtest.EtcdClient(t, etcd, ca, rootCert, rootKey)
	backendtest.EnableEtcdAuth(t, root, rootPassword,
		[]backendtest.EtcdRole{{Name: "tributary-controller", ReadWrite: []string{"/sec/"}}},
		[]backendtest.EtcdUser{{Name: "ctl", Roles: []string{"tributary-controller"}}})
	httpAddr := testutil.FreeAddr(t)
	args := []string{"-id", "ctl-sec", "-http-addr", httpAddr, "-bus-prefix", "sec",
		"-nats-url", natsURL, "-nats-user", "ctl",
		"-etcd-endpoints", etcd, "-etcd-tls-ca", ca.File, "-etcd-tls-cert", cert, "-etcd-tls-key", key}
	environ := []string{"TRIBUTARY_NATS_PASSWORD=" + natsPassword, "TRIBUTARY_ADMIN_TOKEN=" + adminToken}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr testutil.SyncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, environ, &stderr) }()
	waitReady(t, httpAddr) // /readyz needs no token
	api := "http://" + httpAddr + "/api/v1/leader"
	if code := status(t, api, ""); code != http.StatusUnauthorized {
		t.Errorf("GET %s without the token: %d, want 401", api, code)
	}
	if code := status(t, api, "Bearer "+wrongSecret); code != http.StatusUnauthorized {
		t.Errorf("GET %s with a wrong token: %d, want 401", api, code)
	}
	waitFor(t, 20*time.Second, "ctl-sec to lead", func() bool {
		return status(t, api, "Bearer "+adminToken) == http.StatusOK
	})
	if code := status(t, "http://"+httpAddr+"/metrics", ""); code != http.StatusOK {
		t.Errorf("GET /metrics without the token: %d, want 200", code)
	}

	// An edge claims a stream: the leader announces it on the bus.
	reader, err := nats.Connect(natsURL, nats.UserInfo("reader", ""))
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	events, err := reader.SubscribeSync("sec.events.>")
	if err != nil {
		t.Fatal(err)
	}
	reader.Flush()
	cctx, cancelClaim := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelClaim()
	waitFor(t, 10*time.Second, "the leader's events cursor", func() bool {
		resp, err := root.Get(cctx, "/sec/controller/events")
		return err == nil && len(resp.Kvs) == 1
	})
	sess, err := cluster.NewSession(cctx, cluster.Config{Client: root, Prefix: "sec", EdgeID: "edge-1", TTL: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	sessDone := make(chan error, 1)
	go func() { sessDone <- sess.Run(context.Background()) }()
	defer func() {
		sess.Close(cctx)
		<-sessDone
	}()
	if err := sess.RegisterEdge(cctx, cluster.EdgeInfo{Address: "edge-1:1935", Started: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := sess.Claim(cctx, "live", "cam", cluster.ClaimRequest{Remote: "192.0.2.1:4000"}); err != nil {
		t.Fatal(err)
	}
	if msg, err := events.NextMsg(10 * time.Second); err != nil || msg.Subject != "sec.events.started" {
		t.Fatalf("no started event: %v %v", msg, err)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d; log:\n%s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the controller did not stop")
	}
	out := stderr.String()
	for _, want := range []string{
		`nats_auth=user/password nats_user=ctl nats_password="from TRIBUTARY_NATS_PASSWORD"`,
		`etcd_auth="client certificate" etcd_tls="servers verified with ` + ca.File,
		"admin API requires a bearer token",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "admin API is open") {
		t.Errorf("the log warns of an open API:\n%s", out)
	}

	// A wrong password: exit 1 at once, saying what was refused.
	var stderr2 testutil.SyncBuffer
	start := time.Now()
	code := run(context.Background(), append(args, "-http-addr", testutil.FreeAddr(t)),
		[]string{"TRIBUTARY_NATS_PASSWORD=" + wrongSecret}, &stderr2)
	if code != 1 || time.Since(start) > 10*time.Second ||
		!strings.Contains(stderr2.String(), `with user \"ctl\" and the password from TRIBUTARY_NATS_PASSWORD: nats: Authorization Violation`) {
		t.Errorf("wrong password: exit %d after %v; log:\n%s", code, time.Since(start), stderr2.String())
	}
	out += stderr2.String()
	for _, bad := range []string{"Permissions Violation", "permission denied"} {
		if strings.Contains(out, bad) {
			t.Errorf("the controller was refused something (%s):\n%s", bad, out)
		}
	}
	for _, secret := range []string{natsPassword, rootPassword, adminToken, wrongSecret} {
		if strings.Contains(out, secret) {
			t.Errorf("the log shows a secret:\n%s", out)
		}
	}
}
