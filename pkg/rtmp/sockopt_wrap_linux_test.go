package rtmp

import (
	"crypto/tls"
	"net"
	"testing"
)

// wrappedConn is a net.Conn wrapper that hands out what it wraps, as
// *tls.Conn does.
type wrappedConn struct{ net.Conn }

func (w wrappedConn) NetConn() net.Conn { return w.Conn }

// TestSetNotSentLowWaterUnwraps: the socket option reaches the TCP
// connection under wrappers that return it from NetConn, TLS included.
func TestSetNotSentLowWaterUnwraps(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	for _, nc := range []net.Conn{wrappedConn{sc}, wrappedConn{tls.Server(wrappedConn{sc}, &tls.Config{})}} {
		if err := setNotSentLowWater(nc, 64<<10); err != nil {
			t.Fatalf("%T: %v", nc, err)
		}
	}
	if err := setNotSentLowWater(wrappedConn{pipeConn{}}, 1); err == nil {
		t.Fatal("no error for a wrapped connection without a socket")
	}
}
