package rtmp

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"syscall"
)

// ErrParked is returned by [ServerConn.ReadOrPark] when it parked the
// handler, which must then return it at once.
var ErrParked = errors.New("rtmp: handler parked until the peer sends data")

// errParkNow tells ReadOrPark, from the read loop, that the connection
// has no input buffered: it parks.
var errParkNow = errors.New("rtmp: no input buffered")

// parker is what a connection served by a Server needs to park: the
// socket to watch and what the server does when the handler returns.
type parker struct {
	sc  *ServerConn
	tc  *timeoutConn
	raw syscall.RawConn
	// end finishes the connection with the handler's final result.
	end func(reason error)
}

// newParker returns the parker of a connection, or nil when its socket
// cannot be watched: a TLS connection (its input is buffered by
// crypto/tls), or no socket under the wrappers.
func newParker(sc *ServerConn, tc *timeoutConn) *parker {
	if !canPeek {
		return nil
	}
	nc := tc.Conn
	for range 8 {
		switch c := nc.(type) {
		case *tls.Conn:
			return nil
		case syscall.Conn:
			raw, err := c.SyscallConn()
			if err != nil {
				return nil
			}
			return &parker{sc: sc, tc: tc, raw: raw}
		case interface{ NetConn() net.Conn }:
			nc = c.NetConn()
		default:
			return nil
		}
	}
	return nil
}

// wait is the parked connection's goroutine. Its call chain is short while
// it waits, so its stack stays at the smallest size; resume then runs on
// it.
func (p *parker) wait(resume func() error) {
	if err := p.waitReadable(); err != nil {
		p.timedOut(err)
	}
	p.sc.woke = true
	p.resumed(resume)
}

// waitReadable waits until the socket has data or an end to read, under
// the idle deadline. It returns the deadline error if it expired.
func (p *parker) waitReadable() error {
	if d := p.tc.readDeadline(); !d.IsZero() {
		if err := p.tc.Conn.SetReadDeadline(d); err != nil {
			return nil // the read will report it
		}
	}
	return p.raw.Read(peekReady)
}

// timedOut makes the next read of the connection fail with the error of
// a read that hit the idle deadline; other errors (a closed connection)
// the read finds by itself.
func (p *parker) timedOut(err error) {
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		return
	}
	p.tc.readErr = &net.OpError{Op: "read", Net: "tcp", Source: p.tc.LocalAddr(), Addr: p.tc.RemoteAddr(),
		Err: os.ErrDeadlineExceeded}
}

// resumed runs resume and ends the connection with its result unless it
// parked again.
func (p *parker) resumed(resume func() error) {
	err := runParked(resume)
	if err == ErrParked {
		return
	}
	p.end(err)
}

// runParked calls f, turning a panic into an error, as runHandler does for
// the handler.
func runParked(f func() error) (err error) {
	defer recoverHandler(&err)
	return f()
}
