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
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// CA is a certificate authority for one test.
type CA struct {
	// File is the CA certificate, PEM: what clients and servers verify
	// their peers with.
	File string

	dir    string
	cert   *x509.Certificate
	key    *ecdsa.PrivateKey
	serial atomic.Int64
}

// NewCA returns a new certificate authority named name, with its
// certificate in a file of the test's temporary directory.
func NewCA(tb testing.TB, name string) *CA {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	ca := &CA{dir: tb.TempDir(), cert: cert, key: key}
	ca.serial.Store(1)
	ca.File = ca.write(tb, "ca.pem", "CERTIFICATE", der)
	return ca
}

// Server issues a server certificate for hosts (DNS names or IP
// addresses; the first is also the common name) and returns its
// certificate and key files.
func (ca *CA) Server(tb testing.TB, hosts ...string) (certFile, keyFile string) {
	tb.Helper()
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: hosts[0]},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return ca.issue(tb, tmpl)
}

// Client issues a client certificate with common name cn (the user name
// an etcd server with client certificate authentication sees) and returns
// its certificate and key files.
func (ca *CA) Client(tb testing.TB, cn string) (certFile, keyFile string) {
	tb.Helper()
	return ca.issue(tb, &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
}

// issue signs tmpl with a fresh key and writes the pair.
func (ca *CA) issue(tb testing.TB, tmpl *x509.Certificate) (certFile, keyFile string) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	n := ca.serial.Add(1)
	tmpl.SerialNumber = big.NewInt(n)
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		tb.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	base := tmpl.Subject.CommonName + "-" + big.NewInt(n).String()
	return ca.write(tb, base+".pem", "CERTIFICATE", der), ca.write(tb, base+"-key.pem", "PRIVATE KEY", keyDER)
}

// write writes one PEM block to a file of the CA's directory, readable by
// its owner only, and returns the file's path.
func (ca *CA) write(tb testing.TB, name, typ string, der []byte) string {
	tb.Helper()
	path := filepath.Join(ca.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		tb.Fatal(err)
	}
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
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{endpoint},
		DialTimeout: 5 * time.Second,
		TLS:         &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12},
		Logger:      zap.NewNop(),
	})
	if err != nil {
		tb.Fatalf("backendtest: etcd client: %v", err)
	}
	tb.Cleanup(func() { cli.Close() })
	return cli
}
