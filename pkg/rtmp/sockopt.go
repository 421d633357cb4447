package rtmp

import (
	"crypto/tls"
	"errors"
	"net"
	"syscall"
)

// errNoLowWater is returned where the platform has no TCP_NOTSENT_LOWAT.
var errNoLowWater = errors.New("TCP_NOTSENT_LOWAT is not supported on this platform")

// setNotSentLowWater sets TCP_NOTSENT_LOWAT to n bytes on the TCP
// connection under nc (a *net.TCPConn, or a *tls.Conn over one).
func setNotSentLowWater(nc net.Conn, n int) error {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
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
