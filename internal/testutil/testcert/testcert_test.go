package testcert_test

import (
	"crypto/tls"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/tributary-media/tributary/internal/testutil/testcert"
)

// TestServerAndClient: a TLS server with a certificate written by
// WriteServer is verified against the CA with the serial number asked
// for, and it accepts a client certificate of the CA, whose common name
// it sees.
func TestServerAndClient(t *testing.T) {
	ca := testcert.NewCA(t, "test CA")
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	ca.WriteServer(t, certFile, keyFile, 7, "localhost", "127.0.0.1")
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair},
		ClientCAs: ca.Pool, ClientAuth: tls.VerifyClientCertIfGiven})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peers := make(chan string, 2)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tc := c.(*tls.Conn)
			tc.SetDeadline(time.Now().Add(5 * time.Second))
			cn := "handshake failed"
			if tc.Handshake() == nil {
				cn = ""
				if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
					cn = certs[0].Subject.CommonName
				}
			}
			tc.Close()
			peers <- cn
		}
	}()

	for _, name := range []string{"localhost", "127.0.0.1"} {
		if got := ca.ServedSerial(t, ln.Addr().String(), name); got != 7 {
			t.Errorf("serial for %s: %d, want 7", name, got)
		}
		if cn := <-peers; cn != "" {
			t.Errorf("without a client certificate the server saw %q", cn)
		}
	}

	certPEM, keyPEM := ca.Client(t, 8, "edge-a")
	client, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(),
		&tls.Config{RootCAs: ca.Pool, ServerName: "localhost", Certificates: []tls.Certificate{client}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Handshake(); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if cn := <-peers; cn != "edge-a" {
		t.Errorf("with a client certificate the server saw %q, want edge-a", cn)
	}

	// A CA does not verify another's certificates.
	other := testcert.NewCA(t, "other CA")
	if _, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(),
		&tls.Config{RootCAs: other.Pool, ServerName: "localhost"}); err == nil {
		t.Error("a server certificate verified against another CA")
	}
	<-peers
}
