package rtmp

import (
	"crypto/tls"
	"net"
	"syscall"
	"testing"
)

// acceptedTCP returns the server side of a loopback TCP connection; both
// ends are closed when the test ends.
func acceptedTCP(t *testing.T) net.Conn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Close() })
	return sc
}

func TestSetNotSentLowWater(t *testing.T) {
	sc := acceptedTCP(t)
	if err := setNotSentLowWater(sc, 96<<10); err != nil {
		t.Fatal(err)
	}
	raw, err := sc.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var got int
	var gerr error
	raw.Control(func(fd uintptr) {
		got, gerr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpNotSentLowat)
	})
	if gerr != nil || got != 96<<10 {
		t.Fatalf("TCP_NOTSENT_LOWAT = %d, %v; want %d", got, gerr, 96<<10)
	}
	if err := setNotSentLowWater(pipeConn{}, 1); err == nil {
		t.Fatal("no error for a connection without a socket")
	}
}

// pipeConn is a net.Conn that is not a socket.
type pipeConn struct{ net.Conn }

// wrappedConn is a net.Conn wrapper that hands out what it wraps, as
// *tls.Conn does.
type wrappedConn struct{ net.Conn }

func (w wrappedConn) NetConn() net.Conn { return w.Conn }

// TestSetNotSentLowWaterUnwraps: the socket option reaches the TCP
// connection under wrappers that return it from NetConn, TLS included.
func TestSetNotSentLowWaterUnwraps(t *testing.T) {
	sc := acceptedTCP(t)
	for _, nc := range []net.Conn{wrappedConn{sc}, wrappedConn{tls.Server(wrappedConn{sc}, &tls.Config{})}} {
		if err := setNotSentLowWater(nc, 64<<10); err != nil {
			t.Fatalf("%T: %v", nc, err)
		}
	}
	if err := setNotSentLowWater(wrappedConn{pipeConn{}}, 1); err == nil {
		t.Fatal("no error for a wrapped connection without a socket")
	}
}
