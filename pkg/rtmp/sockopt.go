package rtmp

import (
	"errors"
	"net"
	"syscall"
)

// errNoLowWater is returned where the platform has no TCP_NOTSENT_LOWAT.
var errNoLowWater = errors.New("TCP_NOTSENT_LOWAT is not supported on this platform")

// setNotSentLowWater sets TCP_NOTSENT_LOWAT to n bytes on the TCP
// connection under nc: a *net.TCPConn, or a conn that wraps one and
// returns it, directly or through other wrappers, from a NetConn method
// (as *tls.Conn does).
func setNotSentLowWater(nc net.Conn, n int) error {
	var sc syscall.Conn
	for range 8 {
		if c, ok := nc.(syscall.Conn); ok {
			sc = c
			break
		}
		w, ok := nc.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		nc = w.NetConn()
	}
	if sc == nil {
		return errors.New("not a socket")
	}
	if tcpNotSentLowat == 0 {
		return errNoLowWater
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = setsockoptInt(fd, syscall.IPPROTO_TCP, tcpNotSentLowat, n)
	}); err != nil {
		return err
	}
	return serr
}
