package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tributary-media/tributary/internal/backend/backendtest"
	"github.com/tributary-media/tributary/internal/testutil"
)

// The secrets of the tests; none may show in the programs' output.
const (
	natsPassword = "nats-pass-3c9e1f"
	etcdPassword = "etcd-pass-9b4e0c"
	rootPassword = "root-pass-2a6f8e"
	adminToken   = "admin-token-5f8a1d6c2e9b"
	wrongSecret  = "wrong-secret-1d4c"
)

var secrets = []string{natsPassword, etcdPassword, rootPassword, adminToken, wrongSecret}

// edgePermissions are the NATS permissions docs/security.md gives an
// edge, for the bus prefix "sec".
var edgePermissions = &server.Permissions{
	Publish:   &server.SubjectPermission{Allow: []string{"sec.stream.>", "_INBOX.>"}},
	Subscribe: &server.SubjectPermission{Allow: []string{"sec.stream.>", "_INBOX.>"}},
}

// edgeRole is the etcd role docs/security.md gives an edge, for the
// prefix "sec".
var edgeRole = backendtest.EtcdRole{
	Name:      "tributary-edge",
	Read:      []string{"/sec/"},
	ReadWrite: []string{"/sec/edges/", "/sec/streams/", "/sec/drain/"},
}

// writeSecretFile writes a secret, with a final line break, to a file of
// the test and returns its path.
func writeSecretFile(t *testing.T, name, secret string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// noSecrets fails the test if s shows one of the test's secrets.
func noSecrets(t *testing.T, what, s string) {
	t.Helper()
	for _, secret := range secrets {
		if strings.Contains(s, secret) {
			t.Errorf("%s shows a secret (%s):\n%s", what, secret, s)
		}
	}
}

// TestSecuredCluster runs two edges in-process against a NATS server that
// wants a password and grants edges only the permissions
// docs/security.md gives them, and an etcd that serves TLS, verifies
// client certificates and has authentication on, with the role
// docs/security.md gives edges: edge a signs in to etcd with its
// certificate, edge b with a password. ffmpeg publishes to a and plays
// from b: the stream crosses the secured bus whole, and no permission is
// missing. No secret shows in the logs.
func TestSecuredCluster(t *testing.T) {
	testutil.RequireTool(t, "ffmpeg")
	media := testutil.GenerateFLV(t, testutil.MediaOptions{Duration: 4 * time.Second})
	src := testutil.Probe(t, media)

	nats, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true,
		Users: []*server.User{{Username: "edge", Password: natsPassword, Permissions: edgePermissions}}})
	if err != nil {
		t.Fatal(err)
	}
	nats.Start()
	t.Cleanup(nats.Shutdown)
	if !nats.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server not ready")
	}

	ca := backendtest.NewCA(t, "etcd CA")
	etcd := backendtest.StartEtcd(t, backendtest.EtcdOptions{CA: ca, ClientCertAuth: true})
	rootCert, rootKey := ca.Client(t, "root")
	certA, keyA := ca.Client(t, "edge-a")
	certB, keyB := ca.Client(t, "edge-b-host")
	root := backendtest.EtcdClient(t, etcd, ca, rootCert, rootKey)
	backendtest.EnableEtcdAuth(t, root, rootPassword, []backendtest.EtcdRole{edgeRole}, []backendtest.EtcdUser{
		{Name: "edge-a", Roles: []string{edgeRole.Name}},
		{Name: "edge-b", Password: etcdPassword, Roles: []string{edgeRole.Name}},
	})

	rtmpA, httpA, rtmpB, httpB := testutil.FreeAddr(t), testutil.FreeAddr(t), testutil.FreeAddr(t), testutil.FreeAddr(t)
	common := []string{"-bus-prefix", "sec", "-nats-url", nats.ClientURL(), "-nats-user", "edge",
		"-etcd-endpoints", etcd, "-etcd-tls-ca", ca.File}
	a := startEdge(t, append([]string{"-id", "edge-a", "-rtmp-addr", rtmpA, "-http-addr", httpA,
		"-nats-password-file", writeSecretFile(t, "nats-password", natsPassword),
		"-etcd-tls-cert", certA, "-etcd-tls-key", keyA}, common...), nil)
	b := startEdge(t, append([]string{"-id", "edge-b", "-rtmp-addr", rtmpB, "-http-addr", httpB,
		"-etcd-user", "edge-b", "-etcd-tls-cert", certB, "-etcd-tls-key", keyB}, common...),
		[]string{"TRIBUTARY_NATS_PASSWORD=" + natsPassword, "TRIBUTARY_ETCD_PASSWORD=" + etcdPassword})
	waitReady(t, httpA)
	waitReady(t, httpB)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Both edges registered, under their role's keys.
	resp, err := root.Get(ctx, "/sec/edges/", clientv3.WithPrefix())
	if err != nil || len(resp.Kvs) != 2 {
		t.Fatalf("registrations: %v %v", resp, err)
	}

	out := filepath.Join(t.TempDir(), "played.flv")
	player := testutil.FFmpegPlay(t, ctx, "rtmp://"+rtmpB+"/live/secure", out, 0)
	time.Sleep(500 * time.Millisecond) // the player is waiting first
	pub := testutil.FFmpegPublish(t, ctx, media, "rtmp://"+rtmpA+"/live/secure")
	if err := pub.Wait(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := player.Wait(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	got := testutil.Probe(t, out)
	if min := src.VideoFrames * 95 / 100; got.VideoFrames < min || !got.FirstVideoPacketIsKey {
		t.Fatalf("played %d of %d video frames (first a keyframe: %v), want at least %d", got.VideoFrames, src.VideoFrames,
			got.FirstVideoPacketIsKey, min)
	}
	a.stop(t)
	b.stop(t)

	for name, e := range map[string]*inProcessEdge{"a": a, "b": b} {
		log := e.log.String()
		for _, bad := range []string{"Permissions Violation", "permission denied"} {
			if strings.Contains(log, bad) {
				t.Errorf("edge %s was refused something (%s):\n%s", name, bad, log)
			}
		}
		noSecrets(t, "edge "+name+"'s log", log)
	}
	for _, want := range []string{
		`nats_auth=user/password nats_user=edge nats_password="from file `,
		`etcd_auth="client certificate"`,
	} {
		if !strings.Contains(a.log.String(), want) {
			t.Errorf("edge a's log lacks %q:\n%s", want, a.log.String())
		}
	}
	for _, want := range []string{
		`nats_password="from TRIBUTARY_NATS_PASSWORD"`,
		`etcd_auth=user/password etcd_user=edge-b etcd_password="from TRIBUTARY_ETCD_PASSWORD"`,
	} {
		if !strings.Contains(b.log.String(), want) {
			t.Errorf("edge b's log lacks %q:\n%s", want, b.log.String())
		}
	}

	// Wrong credentials: the edge stops at once and says what was refused.
	for _, tc := range []struct {
		name    string
		args    []string
		environ []string
		want    string
	}{
		{"NATS password", []string{"-etcd-tls-cert", certA, "-etcd-tls-key", keyA},
			[]string{"TRIBUTARY_NATS_PASSWORD=" + wrongSecret},
			`with user \"edge\" and the password from TRIBUTARY_NATS_PASSWORD: nats: Authorization Violation`},
		{"etcd password", []string{"-etcd-user", "edge-b", "-etcd-tls-cert", certB, "-etcd-tls-key", keyB},
			[]string{"TRIBUTARY_NATS_PASSWORD=" + natsPassword, "TRIBUTARY_ETCD_PASSWORD=" + wrongSecret},
			`etcd: sign in as \"edge-b\" (password from TRIBUTARY_ETCD_PASSWORD)`},
		{"etcd certificate", nil, []string{"TRIBUTARY_NATS_PASSWORD=" + natsPassword},
			"etcd: TLS with " + etcd + " failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr testutil.SyncBuffer
			start := time.Now()
			args := append([]string{"-rtmp-addr", testutil.FreeAddr(t), "-http-addr", testutil.FreeAddr(t)}, common...)
			code := run(context.Background(), append(args, tc.args...), tc.environ, &stderr)
			if code != 1 || time.Since(start) > 15*time.Second || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("exit %d after %v, want 1 and %q; log:\n%s", code, time.Since(start), tc.want, stderr.String())
			}
			noSecrets(t, "the log", stderr.String())
		})
	}
}

// TestInProcessControllerToken runs the quick start's single edge with an
// admin token from a file: its in-process controller answers the API only
// with the token, while the health endpoints stay open.
func TestInProcessControllerToken(t *testing.T) {
	httpAddr, ctlAddr := testutil.FreeAddr(t), testutil.FreeAddr(t)
	e := startEdge(t, []string{"-rtmp-addr", testutil.FreeAddr(t), "-http-addr", httpAddr, "-controller-addr", ctlAddr,
		"-embedded-nats-addr", testutil.FreeAddr(t), "-embedded-etcd-addr", testutil.FreeAddr(t), "-embedded-etcd-dir", t.TempDir(),
		"-admin-token-file", writeSecretFile(t, "admin-token", adminToken)}, nil)
	waitReady(t, httpAddr)
	waitReady(t, ctlAddr) // /readyz of the admin API needs no token
	api := "http://" + ctlAddr + "/api/v1/streams"
	for _, tc := range []struct {
		auth string
		code int
	}{{"", 401}, {"Bearer " + wrongSecret, 401}, {"Bearer " + adminToken, 200}} {
		req, _ := http.NewRequest(http.MethodGet, api, nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("GET %s with %q: %d, want %d", api, tc.auth, resp.StatusCode, tc.code)
		}
		if tc.code == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), `Bearer realm="tributary"`) {
			t.Errorf("401 without a bearer challenge: %q", resp.Header.Get("WWW-Authenticate"))
		}
	}
	e.stop(t)
	if !strings.Contains(e.log.String(), "admin API requires a bearer token") {
		t.Errorf("the log does not say the API requires a token:\n%s", e.log.String())
	}
	noSecrets(t, "the log", e.log.String())
}
