package main

import (
	"context"
	"crypto/tls"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tributary-media/tributary/internal/testutil"
	"github.com/tributary-media/tributary/internal/testutil/testcert"
	"github.com/tributary-media/tributary/internal/tlsreload"
	"github.com/tributary-media/tributary/pkg/rtmp"
)

// TestRTMPSOnly runs an edge with plain RTMP disabled and RTMPS on: our
// client publishes and plays over TLS, a TLS 1.1 client is refused, and
// once the certificate files are replaced new connections get the new
// certificate while the stream keeps playing.
func TestRTMPSOnly(t *testing.T) {
	ca := testcert.NewCA(t, "Tributary test CA")
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	ca.WriteServer(t, certFile, keyFile, 501, "localhost", "127.0.0.1")

	rtmpsAddr, httpAddr := testutil.FreeAddr(t), testutil.FreeAddr(t)
	e := startEdge(t, []string{"-id", "edge-tls", "-rtmp-addr=", "-rtmps-addr", rtmpsAddr, "-http-addr", httpAddr,
		"-tls-cert", certFile, "-tls-key", keyFile,
		"-embedded-nats-addr", testutil.FreeAddr(t), "-embedded-etcd-addr", testutil.FreeAddr(t),
		"-embedded-etcd-dir", t.TempDir(), "-controller-addr=", "-drain-timeout", "1s"}, nil)
	waitReady(t, httpAddr)
	if !strings.Contains(e.log.String(), "ready: RTMPS only, on rtmps://"+rtmpsAddr) {
		t.Fatalf("the edge does not say it serves RTMPS only:\n%s", e.log.String())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	url := "rtmps://" + rtmpsAddr + "/live/secure"
	dial := func() *rtmp.ClientConn {
		t.Helper()
		c, err := rtmp.Dial(ctx, url, rtmp.ClientConfig{TLSConfig: &tls.Config{RootCAs: ca.Pool, ServerName: "localhost"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if err := c.Connect(ctx); err != nil {
			t.Fatal(err)
		}
		return c
	}
	pub := dial()
	if err := pub.Publish(ctx, "secure"); err != nil {
		t.Fatal(err)
	}
	play := dial()
	if err := play.Play(ctx, "secure"); err != nil {
		t.Fatal(err)
	}
	frame := func(i int) {
		t.Helper()
		body := []byte{0x27, 0x01, 0, 0, 0, byte(i)}
		if i == 0 {
			body[0] = 0x17
		}
		if err := pub.WriteVideo(uint32(i*40), body); err != nil {
			t.Fatal(err)
		}
		for {
			m, err := play.ReadMessage()
			if err != nil {
				t.Fatal(err)
			}
			if m.Kind == rtmp.KindVideo && m.Payload[1] == 0x01 {
				if got := int(m.Payload[5]); got != i {
					t.Fatalf("played frame %d, want %d", got, i)
				}
				return
			}
		}
	}
	frame(0)

	serial := func() int64 { return ca.ServedSerial(t, rtmpsAddr, "localhost") }
	if got := serial(); got != 501 {
		t.Fatalf("certificate serial %d, want 501", got)
	}
	if c, err := tls.Dial("tcp", rtmpsAddr, &tls.Config{RootCAs: ca.Pool, ServerName: "localhost",
		MaxVersion: tls.VersionTLS11}); err == nil {
		c.Close()
		t.Fatal("a TLS 1.1 client was served")
	}

	ca.WriteServer(t, certFile, keyFile, 502, "localhost", "127.0.0.1")
	waitFor(t, tlsreload.DefaultInterval+10*time.Second, "the renewed certificate", func() bool { return serial() == 502 })
	if !strings.Contains(e.log.String(), "certificate reloaded") {
		t.Fatalf("the reload is not logged:\n%s", e.log.String())
	}
	for i := 1; i < 10; i++ {
		frame(i)
	}
	// New sessions get the new certificate and work.
	if err := dial().Play(ctx, "secure"); err != nil {
		t.Fatal(err)
	}
	e.stop(t)
}
