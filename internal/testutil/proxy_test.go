package testutil_test

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/tributary-media/tributary/internal/testutil"
)

// echoServer echoes every connection and reports what it sees on events:
// "accept", each chunk read, and "eof".
type echoServer struct {
	ln     net.Listener
	events chan string
	wg     sync.WaitGroup
}

func startEcho(t *testing.T) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &echoServer{ln: ln, events: make(chan string, 100)}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.events <- "accept"
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				buf := make([]byte, 1024)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						s.events <- string(buf[:n])
						c.Write(buf[:n])
					}
					if err != nil {
						s.events <- "eof"
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.wg.Wait()
	})
	return s
}

// expect waits for the server's next event and checks it.
func (s *echoServer) expect(t *testing.T, want string) {
	t.Helper()
	select {
	case got := <-s.events:
		if got != want {
			t.Fatalf("server saw %q, want %q", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("server did not see %q", want)
	}
}

// quiet checks that the server sees nothing for a while.
func (s *echoServer) quiet(t *testing.T) {
	t.Helper()
	select {
	case got := <-s.events:
		t.Fatalf("server saw %q through a cut proxy", got)
	case <-time.After(300 * time.Millisecond):
	}
}

// readEcho reads want from c within a few seconds.
func readEcho(t *testing.T, c net.Conn, want string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, len(want))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != want {
		t.Fatalf("read %q, %v; want %q", buf, err, want)
	}
}

// noEcho checks that nothing, not even a close, arrives on c for a while.
func noEcho(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	buf := make([]byte, 16)
	n, err := c.Read(buf)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read %q, %v through a cut proxy; want a time-out", buf[:n], err)
	}
}

// waitConns waits until the proxy holds n connections.
func waitConns(t *testing.T, p *testutil.Proxy, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for p.NumConns() != n {
		if time.Now().After(deadline) {
			t.Fatalf("proxy holds %d connections, want %d", p.NumConns(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func dial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

func TestProxyCutRestoreReset(t *testing.T) {
	srv := startEcho(t)
	p := testutil.StartProxy(t, srv.ln.Addr().String())

	a := dial(t, p.Addr())
	srv.expect(t, "accept")
	a.Write([]byte("one"))
	srv.expect(t, "one")
	readEcho(t, a, "one")
	b := dial(t, p.Addr())
	srv.expect(t, "accept")

	p.Cut()
	p.Cut() // idempotent
	// Data and closes are held back both ways; new connections stall.
	a.Write([]byte("two"))
	b.CloseWrite()
	c := dial(t, p.Addr())
	c.Write([]byte("three"))
	srv.quiet(t)
	noEcho(t, a)
	noEcho(t, c)

	p.Restore()
	p.Restore() // idempotent
	readEcho(t, a, "two")
	readEcho(t, c, "three")
	seen := map[string]int{}
	for range 4 { // "two", b's "eof", c's "accept" and "three"
		select {
		case ev := <-srv.events:
			seen[ev]++
		case <-time.After(5 * time.Second):
			t.Fatalf("after Restore the server saw only %v", seen)
		}
	}
	if seen["two"] != 1 || seen["eof"] != 1 || seen["accept"] != 1 || seen["three"] != 1 {
		t.Fatalf("after Restore the server saw %v", seen)
	}
	// b's server side closed after its client's close went through.
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := b.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("b read %d, %v; want EOF", n, err)
	}

	// Reset closes both sides of every connection.
	waitConns(t, p, 2) // a and c; b ended both ways
	p.Reset()
	a.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := a.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a read after Reset: %v, want the connection closed", err)
	}
	srv.expect(t, "eof") // a's
	srv.expect(t, "eof") // c's

	// The proxy still serves new connections.
	d := dial(t, p.Addr())
	d.Write([]byte("four"))
	readEcho(t, d, "four")
}

// TestProxyResetWhileCut checks that Reset also closes connections held
// back by a cut, so nothing stays stuck.
func TestProxyResetWhileCut(t *testing.T) {
	srv := startEcho(t)
	p := testutil.StartProxy(t, srv.ln.Addr().String())
	a := dial(t, p.Addr())
	srv.expect(t, "accept")
	p.Cut()
	b := dial(t, p.Addr())
	a.Write([]byte("x"))
	waitConns(t, p, 2)
	p.Reset()
	for _, c := range []net.Conn{a, b} {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read after Reset: %v, want the connection closed", err)
		}
	}
	srv.expect(t, "eof")
}
