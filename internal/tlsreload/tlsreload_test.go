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
	"github.com/tributary-media/tributary/internal/testutil/testcert"
	"github.com/tributary-media/tributary/internal/tlsreload"
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

// TestReload: a client sees the new certificate once the files are
// replaced; a broken replacement (a key that does not match, a truncated
// certificate) keeps the previous certificate in service and is logged
// once; fixing the files loads them again. TLS below 1.2 is refused.
func TestReload(t *testing.T) {
	ca := testcert.NewCA(t, "Tributary test CA")
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	ca.WriteServer(t, certFile, keyFile, 1001, "localhost")
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
	if got := ca.ServedSerial(t, addr, "localhost"); got != 1001 {
		t.Fatalf("serial %d, want 1001", got)
	}

	// Renewed: the certificate first, then the key.
	cert2, key2 := ca.Server(t, 1002, "localhost")
	testcert.WriteFile(t, certFile, cert2)
	testcert.WriteFile(t, keyFile, key2)
	waitFor(t, func() bool { return ca.ServedSerial(t, addr, "localhost") == 1002 })
	if !strings.Contains(logs.String(), "certificate reloaded") || !strings.Contains(logs.String(), "serial=1002") {
		t.Fatalf("no reload logged:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Fatalf("a replacement in two steps was reported as broken:\n%s", logs.String())
	}

	// A key that does not match the certificate.
	_, key3 := ca.Server(t, 1003, "localhost")
	testcert.WriteFile(t, keyFile, key3)
	waitFor(t, func() bool { return strings.Contains(logs.String(), "level=ERROR") })
	time.Sleep(5 * interval)
	if n := strings.Count(logs.String(), "level=ERROR"); n != 1 {
		t.Fatalf("the broken pair was logged %d times, want once:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "private key does not match public key") {
		t.Fatalf("the error does not say what is wrong:\n%s", logs.String())
	}
	if got := ca.ServedSerial(t, addr, "localhost"); got != 1002 {
		t.Fatalf("serial %d after a broken replacement, want 1002 still", got)
	}

	// A truncated certificate, with the matching key back.
	testcert.WriteFile(t, certFile, cert2[:len(cert2)/2])
	testcert.WriteFile(t, keyFile, key2)
	waitFor(t, func() bool { return strings.Count(logs.String(), "level=ERROR") == 2 })
	if got := ca.ServedSerial(t, addr, "localhost"); got != 1002 {
		t.Fatalf("serial %d after a truncated certificate, want 1002 still", got)
	}

	// Fixed.
	cert4, key4 := ca.Server(t, 1004, "localhost")
	testcert.WriteFile(t, keyFile, key4)
	testcert.WriteFile(t, certFile, cert4)
	waitFor(t, func() bool { return ca.ServedSerial(t, addr, "localhost") == 1004 })

	old, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
		&tls.Config{RootCAs: ca.Pool, ServerName: "localhost", MaxVersion: tls.VersionTLS11})
	if err == nil {
		old.Close()
		t.Fatal("a TLS 1.1 client was served")
	}
}

// TestNewFails: New reports a pair that does not load.
func TestNewFails(t *testing.T) {
	ca := testcert.NewCA(t, "Tributary test CA")
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	cert, _ := ca.Server(t, 1, "localhost")
	_, key := ca.Server(t, 2, "localhost")
	testcert.WriteFile(t, certFile, cert)
	testcert.WriteFile(t, keyFile, key)
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
