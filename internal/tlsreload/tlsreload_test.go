package tlsreload_test

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tributary-media/tributary/internal/testutil"
	"github.com/tributary-media/tributary/internal/tlsreload"
	"github.com/tributary-media/tributary/internal/tlsreload/tlsreloadtest"
)

// interval is the reloader's check interval: the two writes of a
// replacement must come within one of each other, or the pair in between
// is reported as broken.
const interval = 200 * time.Millisecond

// serve runs a TLS server with r's configuration on a loopback port until
// the test ends and returns its address.
func serve(t *testing.T, r *tlsreload.Reloader) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", r.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				c.(*tls.Conn).Handshake()
			}()
		}
	}()
	return ln.Addr().String()
}

// serial returns the serial number of the certificate the server at addr
// presents, verified against ca.
func serial(t *testing.T, addr string, ca *tlsreloadtest.CA) int64 {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
		&tls.Config{RootCAs: ca.Pool, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

// TestReload: a client sees the new certificate once the files are
// replaced; a broken replacement (a key that does not match, a truncated
// certificate) keeps the previous certificate in service and is logged
// once; fixing the files loads them again. TLS below 1.2 is refused.
func TestReload(t *testing.T) {
	ca := tlsreloadtest.NewCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	cert1, key1 := ca.Issue(t, 1001, "localhost")
	tlsreloadtest.WriteFile(t, certFile, cert1)
	tlsreloadtest.WriteFile(t, keyFile, key1)
	logs := new(testutil.SyncBuffer)
	r, err := tlsreload.New(tlsreload.Config{CertFile: certFile, KeyFile: keyFile, Interval: interval,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	addr := serve(t, r)
	if got := serial(t, addr, ca); got != 1001 {
		t.Fatalf("serial %d, want 1001", got)
	}

	// Renewed: the certificate first, then the key.
	cert2, key2 := ca.Issue(t, 1002, "localhost")
	tlsreloadtest.WriteFile(t, certFile, cert2)
	tlsreloadtest.WriteFile(t, keyFile, key2)
	waitFor(t, func() bool { return serial(t, addr, ca) == 1002 })
	if !strings.Contains(logs.String(), "certificate reloaded") || !strings.Contains(logs.String(), "serial=1002") {
		t.Fatalf("no reload logged:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Fatalf("a replacement in two steps was reported as broken:\n%s", logs.String())
	}

	// A key that does not match the certificate.
	_, key3 := ca.Issue(t, 1003, "localhost")
	tlsreloadtest.WriteFile(t, keyFile, key3)
	waitFor(t, func() bool { return strings.Contains(logs.String(), "level=ERROR") })
	time.Sleep(5 * interval)
	if n := strings.Count(logs.String(), "level=ERROR"); n != 1 {
		t.Fatalf("the broken pair was logged %d times, want once:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "private key does not match public key") {
		t.Fatalf("the error does not say what is wrong:\n%s", logs.String())
	}
	if got := serial(t, addr, ca); got != 1002 {
		t.Fatalf("serial %d after a broken replacement, want 1002 still", got)
	}

	// A truncated certificate, with the matching key back.
	tlsreloadtest.WriteFile(t, certFile, cert2[:len(cert2)/2])
	tlsreloadtest.WriteFile(t, keyFile, key2)
	waitFor(t, func() bool { return strings.Count(logs.String(), "level=ERROR") == 2 })
	if got := serial(t, addr, ca); got != 1002 {
		t.Fatalf("serial %d after a truncated certificate, want 1002 still", got)
	}

	// Fixed.
	cert4, key4 := ca.Issue(t, 1004, "localhost")
	tlsreloadtest.WriteFile(t, keyFile, key4)
	tlsreloadtest.WriteFile(t, certFile, cert4)
	waitFor(t, func() bool { return serial(t, addr, ca) == 1004 })

	old, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
		&tls.Config{RootCAs: ca.Pool, ServerName: "localhost", MaxVersion: tls.VersionTLS11})
	if err == nil {
		old.Close()
		t.Fatal("a TLS 1.1 client was served")
	}
}

// TestNewFails: New reports a pair that does not load.
func TestNewFails(t *testing.T) {
	ca := tlsreloadtest.NewCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	cert, _ := ca.Issue(t, 1, "localhost")
	_, key := ca.Issue(t, 2, "localhost")
	tlsreloadtest.WriteFile(t, certFile, cert)
	tlsreloadtest.WriteFile(t, keyFile, key)
	if _, err := tlsreload.New(tlsreload.Config{CertFile: certFile, KeyFile: keyFile}); err == nil ||
		!strings.Contains(err.Error(), certFile) {
		t.Fatalf("New with a mismatched pair: %v", err)
	}
	if _, err := tlsreload.New(tlsreload.Config{CertFile: filepath.Join(dir, "missing"), KeyFile: keyFile}); err == nil {
		t.Fatal("New with a missing file: no error")
	}
}

// waitFor polls cond until it holds, for up to 10 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(interval)
	}
}
