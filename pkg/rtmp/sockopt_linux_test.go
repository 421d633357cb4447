package rtmp

import (
	"net"
	"syscall"
	"testing"
)

func TestSetNotSentLowWater(t *testing.T) {
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
