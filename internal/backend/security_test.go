package backend

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tributary-media/tributary/internal/backend/backendtest"
	"github.com/tributary-media/tributary/internal/config"
	"github.com/tributary-media/tributary/internal/testutil"
)

// The secrets of these tests: none may show in a log line or an error.
const (
	natsPassword = "nats-pass-3c9e1f"
	natsToken    = "nats-token-7a2d5b"
	etcdPassword = "etcd-pass-9b4e0c"
	rootPassword = "root-pass-2a6f8e"
	wrongSecret  = "wrong-secret-1d4c"
)

var secrets = []string{natsPassword, natsToken, etcdPassword, rootPassword, wrongSecret}

// connectTimeout bounds how long a refused connection may take to fail.
const connectTimeout = 5 * time.Second

// startNATS starts a NATS server with o (authentication, TLS) on
// 127.0.0.1 and a random port, stopped when the test ends, and returns
// its URL.
func startNATS(t *testing.T, o *server.Options) string {
	t.Helper()
	return startNATSAt(t, "127.0.0.1:0", o)
}

// startNATSAt starts a NATS server with o on addr (port 0: a random
// one), stopped when the test ends, and returns its URL.
func startNATSAt(t *testing.T, addr string, o *server.Options) string {
	t.Helper()
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(portStr)
	if port == 0 {
		port = server.RANDOM_PORT
	}
	o.Host, o.Port, o.NoLog, o.NoSigs = host, port, true, true
	srv, err := server.NewServer(o)
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

// testLog returns a logger writing to a buffer, and the buffer.
func testLog() (*slog.Logger, *testutil.SyncBuffer) {
	var buf testutil.SyncBuffer
	return slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), &buf
}

// noSecrets fails the test if s holds one of the test's secrets.
func noSecrets(t *testing.T, what, s string) {
	t.Helper()
	for _, secret := range secrets {
		if strings.Contains(s, secret) {
			t.Errorf("%s shows a secret (%s):\n%s", what, secret, s)
		}
	}
}

// writeSecret writes content to a file of the test and returns its path.
func writeSecret(t *testing.T, name string, content []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// nkeySeedFile makes a user NKey and returns its seed file and public key.
func nkeySeedFile(t *testing.T) (string, string) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	pub, _ := kp.PublicKey()
	return writeSecret(t, "user.nk", seed), pub
}

// operator is a NATS operator with one account, for servers in operator
// (JWT) mode.
type operator struct {
	claims  *jwt.OperatorClaims
	account nkeys.KeyPair
	accJWT  string
}

func newOperator(t *testing.T) *operator {
	t.Helper()
	okp, _ := nkeys.CreateOperator()
	opub, _ := okp.PublicKey()
	oc := jwt.NewOperatorClaims(opub)
	ojwt, err := oc.Encode(okp)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := jwt.DecodeOperatorClaims(ojwt)
	if err != nil {
		t.Fatal(err)
	}
	akp, _ := nkeys.CreateAccount()
	apub, _ := akp.PublicKey()
	ajwt, err := jwt.NewAccountClaims(apub).Encode(okp)
	if err != nil {
		t.Fatal(err)
	}
	return &operator{claims: claims, account: akp, accJWT: ajwt}
}

// serverOptions returns the options of a server that trusts the
// operator and knows its account.
func (op *operator) serverOptions(t *testing.T) *server.Options {
	t.Helper()
	res := &server.MemAccResolver{}
	apub, _ := op.account.PublicKey()
	if err := res.Store(apub, op.accJWT); err != nil {
		t.Fatal(err)
	}
	return &server.Options{TrustedOperators: []*jwt.OperatorClaims{op.claims}, AccountResolver: res}
}

// credsFile returns a credentials file of a user of the account signed
// by signer (the account's key, or another for a refused user).
func (op *operator) credsFile(t *testing.T, signer nkeys.KeyPair) string {
	t.Helper()
	ukp, _ := nkeys.CreateUser()
	upub, _ := ukp.PublicKey()
	ujwt, err := jwt.NewUserClaims(upub).Encode(signer)
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := ukp.Seed()
	creds, err := jwt.FormatUserConfig(ujwt, seed)
	if err != nil {
		t.Fatal(err)
	}
	return writeSecret(t, "user.creds", creds)
}

// TestNATSSecurity connects to NATS servers secured each way with the
// right credentials, which work for publishing and subscribing, and with
// wrong ones, which fail at once with an error that says what was
// refused and shows no secret.
func TestNATSSecurity(t *testing.T) {
	ca := backendtest.NewCA(t, "nats CA")
	serverCert, serverKey := ca.Server(t, "127.0.0.1", "localhost")
	clientCert, clientKey := ca.Client(t, "edge")
	other := backendtest.NewCA(t, "other CA")
	otherCert, otherKey := other.Client(t, "edge")
	seedFile, seedPub := nkeySeedFile(t)
	otherSeed, _ := nkeySeedFile(t)
	op := newOperator(t)
	strangerAccount, _ := nkeys.CreateAccount()

	tlsServer := func(t *testing.T) *server.Options {
		cfg, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: serverCert, KeyFile: serverKey, CaFile: ca.File, Verify: true})
		if err != nil {
			t.Fatal(err)
		}
		return &server.Options{TLS: true, TLSVerify: true, TLSConfig: cfg, TLSTimeout: 2}
	}
	for _, tc := range []struct {
		name   string
		server func(t *testing.T) *server.Options
		right  config.NATSSecurity
		wrong  config.NATSSecurity
		errs   []string // in the error of the wrong credentials
		logged []string // in the log of the right ones
	}{{
		name:   "user and password",
		server: func(*testing.T) *server.Options { return &server.Options{Username: "edge", Password: natsPassword} },
		right:  config.NATSSecurity{User: "edge", Password: config.NewSecret(natsPassword, "TRIBUTARY_NATS_PASSWORD")},
		wrong:  config.NATSSecurity{User: "edge", Password: config.NewSecret(wrongSecret, "file /run/secrets/nats")},
		errs:   []string{`user "edge" and the password from file /run/secrets/nats`, "Authorization Violation"},
		logged: []string{"nats_auth=user/password", "nats_user=edge", `nats_password="from TRIBUTARY_NATS_PASSWORD"`},
	}, {
		name:   "token",
		server: func(*testing.T) *server.Options { return &server.Options{Authorization: natsToken} },
		right:  config.NATSSecurity{Token: config.NewSecret(natsToken, "TRIBUTARY_NATS_TOKEN")},
		wrong:  config.NATSSecurity{Token: config.NewSecret(wrongSecret, "TRIBUTARY_NATS_TOKEN")},
		errs:   []string{"the token from TRIBUTARY_NATS_TOKEN", "Authorization Violation"},
		logged: []string{"nats_auth=token", `nats_token="from TRIBUTARY_NATS_TOKEN"`},
	}, {
		name:   "nkey",
		server: func(*testing.T) *server.Options { return &server.Options{Nkeys: []*server.NkeyUser{{Nkey: seedPub}}} },
		right:  config.NATSSecurity{NKeyFile: seedFile},
		wrong:  config.NATSSecurity{NKeyFile: otherSeed},
		errs:   []string{"the NKey seed of " + otherSeed, "Authorization Violation"},
		logged: []string{"nats_auth=nkey", "nats_nkey_file=" + seedFile},
	}, {
		name:   "creds",
		server: op.serverOptions,
		right:  config.NATSSecurity{CredsFile: op.credsFile(t, op.account)},
		wrong:  config.NATSSecurity{CredsFile: op.credsFile(t, strangerAccount)},
		errs:   []string{"the credentials of ", "Authorization Violation"},
		logged: []string{"nats_auth=creds"},
	}, {
		name:   "TLS with a client certificate",
		server: tlsServer,
		right:  config.NATSSecurity{TLSCA: ca.File, TLSCert: clientCert, TLSKey: clientKey},
		wrong:  config.NATSSecurity{TLSCA: ca.File, TLSCert: otherCert, TLSKey: otherKey},
		// With TLS 1.3 the server checks the client certificate after the
		// client has finished its handshake: the client reads either the
		// server's alert or the close that follows it.
		errs: []string{"TLS: servers verified with " + ca.File + ", client certificate " + otherCert,
			"tls: " + anyOf + "closed by remote after TLS handshake"},
		logged: []string{"nats_tls=\"servers verified with " + ca.File + ", client certificate " + clientCert + "\""},
	}, {
		name:   "TLS with a server certificate of an unknown CA",
		server: tlsServer,
		right:  config.NATSSecurity{TLSCA: ca.File, TLSCert: clientCert, TLSKey: clientKey},
		wrong:  config.NATSSecurity{TLSCA: other.File, TLSCert: clientCert, TLSKey: clientKey},
		errs:   []string{"certificate signed by unknown authority"},
	}, {
		name:   "TLS required, none configured",
		server: tlsServer,
		right:  config.NATSSecurity{TLSCA: ca.File, TLSCert: clientCert, TLSKey: clientKey},
		wrong:  config.NATSSecurity{},
		errs:   []string{"no credentials", "certificate"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			url := startNATS(t, tc.server(t))

			log, buf := testLog()
			nc, err := connectNATS(url, "test", tc.right, log)
			if err != nil {
				t.Fatalf("right credentials: %v", err)
			}
			defer nc.Close()
			checkPubSub(t, nc)
			for _, want := range tc.logged {
				if !strings.Contains(buf.String(), want) {
					t.Errorf("log lacks %q:\n%s", want, buf)
				}
			}

			start := time.Now()
			nc2, err := connectNATS(url, "test", tc.wrong, log)
			if err == nil {
				nc2.Close()
				t.Fatal("wrong credentials: connected")
			}
			if d := time.Since(start); d > connectTimeout {
				t.Errorf("wrong credentials failed after %v", d)
			}
			for _, want := range append([]string{"nats: connect to " + url}, tc.errs...) {
				alts := strings.Split(want, anyOf)
				if !slices.ContainsFunc(alts, func(w string) bool { return strings.Contains(err.Error(), w) }) {
					t.Errorf("error %q lacks %q", err, strings.Join(alts, `" or "`))
				}
			}
			noSecrets(t, "the error", err.Error())
			noSecrets(t, "the log", buf.String())
			t.Logf("wrong: %v", err)
		})
	}
}

// anyOf separates alternatives in an expected error text: one of them
// must appear.
const anyOf = "\x00"

// checkPubSub sends a message to itself through nc.
func checkPubSub(t *testing.T, nc *nats.Conn) {
	t.Helper()
	sub, err := nc.SubscribeSync("tributary.test")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("tributary.test", []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if m, err := sub.NextMsg(5 * time.Second); err != nil || string(m.Data) != "hi" {
		t.Fatalf("no message back: %v", err)
	}
}

// TestNATSNotUpYet checks that a server not listening yet is retried in
// the background rather than an error, secured or not.
func TestNATSNotUpYet(t *testing.T) {
	addr := testutil.FreeAddr(t)
	log, buf := testLog()
	nc, err := connectNATS("nats://"+addr, "test", config.NATSSecurity{User: "edge", Password: config.NewSecret(natsPassword, "x")}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if nc.IsConnected() {
		t.Fatal("connected to nothing")
	}
	if !strings.Contains(buf.String(), "bus not reachable yet, retrying in the background") {
		t.Errorf("log:\n%s", buf)
	}
	// The server comes up: the connection gets there by itself.
	startNATSAt(t, addr, &server.Options{Username: "edge", Password: natsPassword})
	deadline := time.Now().Add(10 * time.Second)
	for !nc.IsConnected() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !nc.IsConnected() {
		t.Fatal("not connected once the server is up")
	}
	noSecrets(t, "the log", buf.String())
}

// etcdClient returns a client of endpoint secured as sec says, closed
// when the test ends.
func etcdClient(t *testing.T, endpoint string, sec config.EtcdSecurity) *clientv3.Client {
	t.Helper()
	cli, err := connectEtcd([]string{endpoint}, sec, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// TestEtcdSecurity reaches an etcd that serves clients over TLS, verifies
// their certificates (--client-cert-auth) and has authentication on:
// with a client certificate whose common name is the user, and with a
// user name and password. Each reads and writes its role's key prefix and
// nothing else. Wrong certificates and a wrong password fail at once with
// an error that says so and shows no secret.
func TestEtcdSecurity(t *testing.T) {
	ca := backendtest.NewCA(t, "etcd CA")
	ep := backendtest.StartEtcd(t, backendtest.EtcdOptions{CA: ca, ClientCertAuth: true})
	rootCert, rootKey := ca.Client(t, "root")
	edgeCert, edgeKey := ca.Client(t, "edge")
	ctlCert, ctlKey := ca.Client(t, "ctl-host")
	other := backendtest.NewCA(t, "other CA")
	otherCert, otherKey := other.Client(t, "edge")

	// Before authentication is on, any client with a certificate of the
	// CA may write: the certificate is checked, the user is not.
	root := etcdClient(t, ep, config.EtcdSecurity{TLSCA: ca.File, TLSCert: rootCert, TLSKey: rootKey})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := root.Put(ctx, "/elsewhere", "x"); err != nil {
		t.Fatal(err)
	}
	// A role that may read and write the keys under /tributary/ only,
	// for "edge" (certificate only) and "ctl" (with a password).
	backendtest.EnableEtcdAuth(t, root, rootPassword,
		[]backendtest.EtcdRole{{Name: "tributary", ReadWrite: []string{"/tributary/"}}},
		[]backendtest.EtcdUser{{Name: "edge", Roles: []string{"tributary"}}, {Name: "ctl", Password: etcdPassword, Roles: []string{"tributary"}}})

	log, buf := testLog()
	for _, tc := range []struct {
		name string
		sec  config.EtcdSecurity
	}{
		{"client certificate", config.EtcdSecurity{TLSCA: ca.File, TLSCert: edgeCert, TLSKey: edgeKey}},
		{"user and password", config.EtcdSecurity{TLSCA: ca.File, TLSCert: ctlCert, TLSKey: ctlKey,
			User: "ctl", Password: config.NewSecret(etcdPassword, "TRIBUTARY_ETCD_PASSWORD")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cli, err := connectEtcd([]string{ep}, tc.sec, log)
			if err != nil {
				t.Fatal(err)
			}
			defer cli.Close()
			if _, err := cli.Put(ctx, "/tributary/streams/live/a", tc.name); err != nil {
				t.Fatalf("put under the role's prefix: %v", err)
			}
			if resp, err := cli.Get(ctx, "/tributary/streams/live/a"); err != nil || len(resp.Kvs) != 1 {
				t.Fatalf("get under the role's prefix: %v %v", resp, err)
			}
			if _, err := cli.Put(ctx, "/elsewhere", "y"); !errors.Is(err, rpctypes.ErrPermissionDenied) {
				t.Fatalf("put outside the role's prefix: %v, want permission denied", err)
			}
		})
	}
	if !strings.Contains(buf.String(), `etcd_password="from TRIBUTARY_ETCD_PASSWORD"`) ||
		!strings.Contains(buf.String(), `etcd_auth="client certificate"`) {
		t.Errorf("the log does not say how etcd is reached:\n%s", buf)
	}

	for _, tc := range []struct {
		name string
		sec  config.EtcdSecurity
		want []string
	}{{
		name: "wrong password",
		sec: config.EtcdSecurity{TLSCA: ca.File, TLSCert: ctlCert, TLSKey: ctlKey,
			User: "ctl", Password: config.NewSecret(wrongSecret, "file /run/secrets/etcd")},
		want: []string{`etcd: sign in as "ctl" (password from file /run/secrets/etcd)`, "authentication failed"},
	}, {
		name: "no client certificate",
		sec:  config.EtcdSecurity{TLSCA: ca.File},
		want: []string{"etcd: TLS with " + ep + " failed", "certificate required"},
	}, {
		name: "client certificate of another CA",
		sec:  config.EtcdSecurity{TLSCA: ca.File, TLSCert: otherCert, TLSKey: otherKey},
		want: []string{"etcd: TLS with " + ep + " failed", "tls: "},
	}, {
		name: "server certificate of an unknown CA",
		sec:  config.EtcdSecurity{TLSCA: other.File, TLSCert: edgeCert, TLSKey: edgeKey},
		want: []string{"etcd: TLS with " + ep + " failed", "certificate signed by unknown authority"},
	}, {
		name: "no TLS",
		sec:  config.EtcdSecurity{},
		want: []string{"etcd: TLS with " + ep + " failed"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			cli, err := connectEtcd([]string{ep}, tc.sec, log)
			if err == nil {
				cli.Close()
				t.Fatal("connected")
			}
			if d := time.Since(start); d > connectTimeout+time.Second {
				t.Errorf("failed after %v", d)
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			noSecrets(t, "the error", err.Error())
			t.Logf("wrong: %v", err)
		})
	}
	noSecrets(t, "the log", buf.String())
}

// TestStartSecured starts a process's backends against a NATS server that
// wants a password and an etcd that wants a client certificate, and
// checks what the log says about them.
func TestStartSecured(t *testing.T) {
	ca := backendtest.NewCA(t, "CA")
	ep := backendtest.StartEtcd(t, backendtest.EtcdOptions{CA: ca, ClientCertAuth: true})
	cert, key := ca.Client(t, "edge")
	url := startNATS(t, &server.Options{Username: "edge", Password: natsPassword})
	log, buf := testLog()
	b, err := Start(Options{
		Name:          "edge",
		NATSURLs:      []string{url},
		NATSSecurity:  config.NATSSecurity{User: "edge", Password: config.NewSecret(natsPassword, "TRIBUTARY_NATS_PASSWORD")},
		EtcdEndpoints: []string{ep},
		EtcdSecurity:  config.EtcdSecurity{TLSCA: ca.File, TLSCert: cert, TLSKey: key},
		Logger:        log,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	checkPubSub(t, b.NATS)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := b.Etcd.Put(ctx, "/tributary/x", "y"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`msg="NATS connection" nats_auth=user/password nats_user=edge nats_password="from TRIBUTARY_NATS_PASSWORD"`,
		`msg="etcd connection" etcd_auth="client certificate" etcd_tls="servers verified with ` + ca.File + `, client certificate ` + cert + `"`,
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, buf)
		}
	}
	noSecrets(t, "the log", buf.String())

	// A refused password stops Start, which cleans up.
	_, err = Start(Options{
		NATSURLs:      []string{url},
		NATSSecurity:  config.NATSSecurity{User: "edge", Password: config.NewSecret(wrongSecret, "TRIBUTARY_NATS_PASSWORD")},
		EtcdEndpoints: []string{ep},
		EtcdSecurity:  config.EtcdSecurity{TLSCA: ca.File, TLSCert: cert, TLSKey: key},
	})
	if err == nil || !strings.Contains(err.Error(), "Authorization Violation") {
		t.Fatalf("Start with a wrong password: %v", err)
	}
}

// TestEmbeddedExposedWarns starts an embedded NATS server on every
// interface and checks the warning that it takes no credentials.
func TestEmbeddedExposedWarns(t *testing.T) {
	log, buf := testLog()
	b, err := Start(Options{
		EmbeddedNATSAddr: "0.0.0.0:0",
		EmbeddedEtcdAddr: "127.0.0.1:0",
		EmbeddedEtcdDir:  t.TempDir(),
		Logger:           log,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	out := buf.String()
	if !strings.Contains(out, "the embedded NATS server listens beyond this machine and takes no credentials") {
		t.Errorf("no warning for NATS on 0.0.0.0:\n%s", out)
	}
	if strings.Contains(out, "the embedded etcd server listens beyond") {
		t.Errorf("a warning for etcd on 127.0.0.1:\n%s", out)
	}
}
