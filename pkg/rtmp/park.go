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
	// resume is the handler's continuation while parked.
	resume func() error

	// Linux: the parking's id in the lot (0 when not parked there), its
	// idle deadline (UnixNano, 0 for none), and whether the socket joined
	// the lot's epoll instance. The lot's mutex guards them.
	id       uint64
	deadline int64
	joined   bool
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

// wait parks on a goroutine of the connection's own. Its call chain is
// short while it waits, so its stack stays at the smallest size; resume
// then runs on it.
func (p *parker) wait() {
	if err := p.waitReadable(); errors.Is(err, os.ErrDeadlineExceeded) {
		p.timedOut()
	}
	p.resumed()
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
// a read that hit the idle deadline.
func (p *parker) timedOut() {
	p.tc.readErr = &net.OpError{Op: "read", Net: "tcp", Source: p.tc.LocalAddr(), Addr: p.tc.RemoteAddr(),
		Err: os.ErrDeadlineExceeded}
}

// resumed runs the handler's continuation, whose next read goes to the
// socket, and ends the connection with its result unless it parked again.
func (p *parker) resumed() {
	p.sc.woke = true
	err := runParked(p.resume)
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
