// Package backendtest gives tests of secured NATS and etcd connections
// what they need: a certificate authority that issues server and client
// certificates as PEM files, a real etcd server, in the test process,
// that serves clients over TLS and may require client certificates, and
// the set-up of etcd's users and roles.
//
// Everything is bound to the test: files live in its temporary directory,
// servers listen on 127.0.0.1 and a random port and stop when it ends.
package backendtest

import (
	"context"
	"crypto/tls"
	"net/url"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/tributary-media/tributary/internal/testutil/testcert"
)

// CA is a certificate authority for one test that writes what it issues
// to files.
type CA struct {
	// File is the CA certificate, PEM: what clients and servers verify
	// their peers with.
	File string

	ca     *testcert.CA
	dir    string
	serial atomic.Int64
}

// NewCA returns a new certificate authority named name, with its
// certificate in a file of the test's temporary directory.
func NewCA(tb testing.TB, name string) *CA {
	tb.Helper()
	ca := &CA{ca: testcert.NewCA(tb, name), dir: tb.TempDir()}
	ca.serial.Store(1)
	ca.File = ca.write(tb, "ca.pem", ca.ca.PEM)
	return ca
}

// Server issues a server certificate for hosts (DNS names or IP
// addresses; the first is also the common name) and returns its
// certificate and key files.
func (ca *CA) Server(tb testing.TB, hosts ...string) (certFile, keyFile string) {
	tb.Helper()
	n := ca.serial.Add(1)
	cert, key := ca.ca.Server(tb, n, hosts...)
	return ca.writePair(tb, hosts[0], n, cert, key)
}

// Client issues a client certificate with common name cn (the user name
// an etcd server with client certificate authentication sees) and returns
// its certificate and key files.
func (ca *CA) Client(tb testing.TB, cn string) (certFile, keyFile string) {
	tb.Helper()
	n := ca.serial.Add(1)
	cert, key := ca.ca.Client(tb, n, cn)
	return ca.writePair(tb, cn, n, cert, key)
}

// writePair writes a certificate with the common name cn and the serial
// number n, and its key, to files of the CA's directory.
func (ca *CA) writePair(tb testing.TB, cn string, n int64, cert, key []byte) (certFile, keyFile string) {
	tb.Helper()
	base := cn + "-" + strconv.FormatInt(n, 10)
	return ca.write(tb, base+".pem", cert), ca.write(tb, base+"-key.pem", key)
}

// write writes data to a file of the CA's directory, readable by its
// owner only, and returns the file's path.
func (ca *CA) write(tb testing.TB, name string, data []byte) string {
	tb.Helper()
	path := filepath.Join(ca.dir, name)
	testcert.WriteFile(tb, path, data)
	return path
}

// EtcdOptions configures StartEtcd.
type EtcdOptions struct {
	// CA issues the server's certificate (for 127.0.0.1 and localhost)
	// and, with ClientCertAuth, is what client certificates are checked
	// against.
	CA *CA
	// ClientCertAuth makes the server refuse clients without a
	// certificate of CA.
	ClientCertAuth bool
}

// StartEtcd starts a single-member etcd server that serves clients over
// TLS on 127.0.0.1 and a random port, and returns its endpoint,
// "https://127.0.0.1:PORT". It stops when the test ends.
func StartEtcd(tb testing.TB, opts EtcdOptions) string {
	tb.Helper()
	cert, key := opts.CA.Server(tb, "127.0.0.1", "localhost")
	cfg := embed.NewConfig()
	cfg.Name = "backendtest"
	cfg.Dir = tb.TempDir()
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	cfg.LogLevel = "error"
	cfg.ListenClientUrls = []url.URL{{Scheme: "https", Host: "127.0.0.1:0"}}
	cfg.AdvertiseClientUrls = cfg.ListenClientUrls
	peer := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	cfg.ListenPeerUrls = []url.URL{peer}
	cfg.AdvertisePeerUrls = []url.URL{peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.ClientTLSInfo.CertFile = cert
	cfg.ClientTLSInfo.KeyFile = key
	cfg.ClientTLSInfo.TrustedCAFile = opts.CA.File
	cfg.ClientTLSInfo.ClientCertAuth = opts.ClientCertAuth
	cfg.TickMs = 10
	cfg.ElectionMs = 100
	cfg.UnsafeNoFsync = true
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		tb.Fatalf("backendtest: start etcd: %v", err)
	}
	tb.Cleanup(e.Close)
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		tb.Fatalf("backendtest: etcd failed while starting: %v", err)
	case <-time.After(20 * time.Second):
		tb.Fatal("backendtest: etcd not ready within 20s")
	}
	return "https://" + e.Clients[0].Addr().String()
}

// EtcdRole is a role EnableEtcdAuth creates: read access to the keys
// under each of Read, read and write access to those under each of
// ReadWrite.
type EtcdRole struct {
	Name      string
	Read      []string
	ReadWrite []string
}

// EtcdUser is a user EnableEtcdAuth creates with the roles Roles. An
// empty Password makes a user that signs in with a client certificate
// only (its common name).
type EtcdUser struct {
	Name     string
	Password string
	Roles    []string
}

// EnableEtcdAuth creates, through the etcd auth API with cli, the roles
// and the users, and the user "root" with the password rootPassword and
// the root role; then it turns authentication on. The test fails on any
// error.
func EnableEtcdAuth(tb testing.TB, cli *clientv3.Client, rootPassword string, roles []EtcdRole, users []EtcdUser) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	check := func(what string, err error) {
		tb.Helper()
		if err != nil {
			tb.Fatalf("backendtest: etcd auth: %s: %v", what, err)
		}
	}
	for _, r := range roles {
		_, err := cli.RoleAdd(ctx, r.Name)
		check("add role "+r.Name, err)
		for _, p := range r.Read {
			_, err := cli.RoleGrantPermission(ctx, r.Name, p, clientv3.GetPrefixRangeEnd(p), clientv3.PermissionType(clientv3.PermRead))
			check("grant "+r.Name+" read "+p, err)
		}
		for _, p := range r.ReadWrite {
			_, err := cli.RoleGrantPermission(ctx, r.Name, p, clientv3.GetPrefixRangeEnd(p), clientv3.PermissionType(clientv3.PermReadWrite))
			check("grant "+r.Name+" readwrite "+p, err)
		}
	}
	users = append(users, EtcdUser{Name: "root", Password: rootPassword, Roles: []string{"root"}})
	for _, u := range users {
		_, err := cli.UserAddWithOptions(ctx, u.Name, u.Password, &clientv3.UserAddOptions{NoPassword: u.Password == ""})
		check("add user "+u.Name, err)
		for _, r := range u.Roles {
			_, err := cli.UserGrantRole(ctx, u.Name, r)
			check("grant "+u.Name+" role "+r, err)
		}
	}
	_, err := cli.AuthEnable(ctx)
	check("enable", err)
}

// EtcdClient returns a client of the etcd at endpoint over TLS, verifying
// it with ca and presenting the client certificate certFile and keyFile;
// it is closed when the test ends.
func EtcdClient(tb testing.TB, endpoint string, ca *CA, certFile, keyFile string) *clientv3.Client {
	tb.Helper()
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		tb.Fatal(err)
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{endpoint},
		DialTimeout: 5 * time.Second,
		TLS:         &tls.Config{RootCAs: ca.ca.Pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12},
		Logger:      zap.NewNop(),
	})
	if err != nil {
		tb.Fatalf("backendtest: etcd client: %v", err)
	}
	tb.Cleanup(func() { cli.Close() })
	return cli
}
