package rtmp_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tributary-media/tributary/internal/testutil/testcert"
	"github.com/tributary-media/tributary/pkg/rtmp"
)

// selfSigned returns a server certificate for 127.0.0.1 and localhost,
// and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	ca := testcert.NewCA(t, "rtmp test")
	certPEM, keyPEM := ca.Server(t, 2, "127.0.0.1", "localhost")
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return cert, ca.Pool
}

// TestRTMPS: a Server behind tls.NewListener serves rtmps:// publish and
// play exactly like plain RTMP; a client that does not trust the
// certificate fails in the TLS handshake.
func TestRTMPS(t *testing.T) {
	cert, pool := selfSigned(t)
	h := newHub()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := serveOn(t, &rtmp.Server{Handler: h.handle}, tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}}))
	cfg := rtmp.ClientConfig{TLSConfig: &tls.Config{RootCAs: pool}}
	url := "rtmps://" + addr + "/live/secure"
	player := dialPlay(t, url, cfg)
	h.waitPlayers(t, "secure", 1)
	pub := dialPublish(t, url, cfg)
	go publishFrames(t, pub, 0, 50, 10, 5000)
	got := readPlayer(t, player, 50, 5000)
	for i, v := range got.video {
		if v != i {
			t.Fatalf("frame %d: %d", i, v)
		}
	}

	ctx := testCtx(t)
	if _, err := rtmp.Dial(ctx, url, rtmp.ClientConfig{}); err == nil {
		t.Fatal("Dial trusted an unknown certificate")
	}
	if _, err := rtmp.Dial(ctx, "rtmp://"+addr+"/live/x", rtmp.ClientConfig{}); err == nil {
		// A plain RTMP handshake against a TLS listener must fail too.
		t.Fatal("plain RTMP against the TLS listener succeeded")
	}
}

// TestServerShutdown: cancelling Serve's context stops accepting, cancels
// the handlers' context and, after the grace period, closes connections
// whose handler ignores it; Serve returns only when every handler has.
func TestServerShutdown(t *testing.T) {
	var cancelled, returned atomic.Int32
	srv := &rtmp.Server{
		ShutdownGrace: 300 * time.Millisecond,
		Handler: func(ctx context.Context, c *rtmp.ServerConn) error {
			defer returned.Add(1)
			if _, err := c.ReadConnect(); err != nil {
				return err
			}
			if err := c.AcceptConnect(nil); err != nil {
				return err
			}
			go func() {
				<-ctx.Done()
				cancelled.Add(1)
			}()
			for {
				if _, err := c.ReadMessage(); err != nil {
					return err // only the forced close ends this loop
				}
			}
		},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	addr := ln.Addr().String()
	var clients []*rtmp.ClientConn
	for i := 0; i < 3; i++ {
		c, err := rtmp.Dial(testCtx(t), "rtmp://"+addr+"/live/x", rtmp.ClientConfig{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Connect(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 2*time.Second {
		t.Errorf("Serve returned after %v, want the 300ms grace period", d)
	}
	if cancelled.Load() != 3 || returned.Load() != 3 {
		t.Errorf("%d handler contexts cancelled, %d handlers returned; want 3", cancelled.Load(), returned.Load())
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("listener still accepts after shutdown")
	}
	for _, c := range clients {
		c.Play(testCtx(t), "x") // the connection is gone: must fail, not hang
	}
}

// TestServerMaxConns: connections beyond MaxConns are closed at once and
// logged; the ones already served are not affected.
func TestServerMaxConns(t *testing.T) {
	logs := &logBuffer{}
	h := newHub()
	addr := startServer(t, &rtmp.Server{Handler: h.handle, MaxConns: 2, Logger: logs.logger()})
	for i := 0; i < 2; i++ {
		c, err := rtmp.Dial(testCtx(t), "rtmp://"+addr+"/live/x", rtmp.ClientConfig{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Connect(testCtx(t)); err != nil {
			t.Fatal(err)
		}
	}
	nc := dialTCP(t, addr)
	expectClosed(t, nc, 2*time.Second)
	logs.waitLog(t, time.Second, "connection refused", "too many connections")
}

// TestWriteTimeoutStuckPlayer: a player that stops reading cannot block
// the writer: the write fails after WriteTimeout, the conn ends with a
// timeout and later writes fail at once.
func TestWriteTimeoutStuckPlayer(t *testing.T) {
	conns := make(chan *rtmp.ServerConn, 1)
	h := newHub()
	h.onPlay = func(c *rtmp.ServerConn, _ *rtmp.PlayRequest) { conns <- c }
	addr := startServer(t, &rtmp.Server{Handler: h.handle, WriteTimeout: 300 * time.Millisecond})
	p, id := rawPlayer(t, addr, "stuck")
	_ = p // never reads again
	c := <-conns
	frame := videoFrame(1, true, 64<<10)
	start := time.Now()
	var err error
	for i := 0; i < 1000 && err == nil; i++ {
		err = c.WriteVideo(id, uint32(i), frame)
	}
	if !errors.Is(err, context.DeadlineExceeded) && !isTimeout(err) {
		t.Fatalf("write error %v, want a timeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("writer blocked for %v", d)
	}
	select {
	case <-c.Done():
	case <-time.After(time.Second):
		t.Error("conn not ended after a write timeout")
	}
	if err2 := c.WriteVideo(id, 0, frame[:20]); err2 == nil {
		t.Error("write after a failed write succeeded")
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
