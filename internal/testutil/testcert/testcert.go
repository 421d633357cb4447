// Package testcert makes certificates for tests: a certificate authority
// and the server and client certificates it signs, as PEM, and the files
// that hold them.
//
// Keys are ECDSA P-256; certificates are valid from an hour before they
// are made until a day after.
package testcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a certificate authority for one test.
type CA struct {
	// Cert is the CA certificate, with serial number 1.
	Cert *x509.Certificate
	// Key is Cert's private key.
	Key *ecdsa.PrivateKey
	// Pool holds Cert, for a client's RootCAs.
	Pool *x509.CertPool
	// PEM is Cert, PEM-encoded.
	PEM []byte
}

// NewCA returns a new certificate authority with the common name name.
func NewCA(tb testing.TB, name string) *CA {
	tb.Helper()
	key := newKey(tb)
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
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &CA{Cert: cert, Key: key, Pool: pool, PEM: encode("CERTIFICATE", der)}
}

// Server issues a server certificate with the serial number serial for
// hosts (DNS names or IP addresses; the first is also the common name)
// and returns it and its private key, PEM.
func (ca *CA) Server(tb testing.TB, serial int64, hosts ...string) (certPEM, keyPEM []byte) {
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
	return ca.issue(tb, serial, tmpl)
}

// WriteServer issues a server certificate as Server does and writes it
// to certFile, then its key to keyFile, each with WriteFile.
func (ca *CA) WriteServer(tb testing.TB, certFile, keyFile string, serial int64, hosts ...string) {
	tb.Helper()
	cert, key := ca.Server(tb, serial, hosts...)
	WriteFile(tb, certFile, cert)
	WriteFile(tb, keyFile, key)
}

// ServedSerial returns the serial number of the certificate the TLS
// server at addr presents for serverName, verified against ca.
func (ca *CA) ServedSerial(tb testing.TB, addr, serverName string) int64 {
	tb.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
		&tls.Config{RootCAs: ca.Pool, ServerName: serverName})
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

// Client issues a client certificate with the serial number serial and
// the common name cn (the user name an etcd server with client
// certificate authentication sees) and returns it and its private key,
// PEM.
func (ca *CA) Client(tb testing.TB, serial int64, cn string) (certPEM, keyPEM []byte) {
	tb.Helper()
	return ca.issue(tb, serial, &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
}

// issue signs tmpl with a fresh key.
func (ca *CA) issue(tb testing.TB, serial int64, tmpl *x509.Certificate) (certPEM, keyPEM []byte) {
	tb.Helper()
	key := newKey(tb)
	tmpl.SerialNumber = big.NewInt(serial)
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		tb.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	return encode("CERTIFICATE", der), encode("PRIVATE KEY", keyDER)
}

// newKey returns a new P-256 key.
func newKey(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return key
}

// encode returns der as one PEM block of type typ.
func encode(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// WriteFile replaces the file at path with data at once (a write to a
// temporary file of the same directory, then a rename), as a certificate
// renewal tool does. The file is readable by its owner only.
func WriteFile(tb testing.TB, path string, data []byte) {
	tb.Helper()
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := tmp.Write(data); err != nil {
		tb.Fatal(err)
	}
	if err := tmp.Close(); err != nil {
		tb.Fatal(err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		tb.Fatal(err)
	}
}
