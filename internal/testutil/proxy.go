package testutil

import (
	"net"
	"sync"
	"testing"
)

// Proxy forwards TCP connections to a target and injects network faults:
// Cut makes every connection stall the way a network partition does,
// Restore ends the partition, Reset drops every connection. Its methods may
// be called from any goroutine.
type Proxy struct {
	target string
	ln     net.Listener
	done   chan struct{} // closed when the proxy shuts down
	wg     sync.WaitGroup

	mu    sync.Mutex
	gate  chan struct{} // closed while forwarding, open while cut
	conns map[*proxyConn]struct{}
}

// proxyConn is one client connection and its connection to the target.
type proxyConn struct {
	client   net.Conn
	mu       sync.Mutex
	upstream net.Conn // nil until dialled
	done     chan struct{}
	once     sync.Once
}

// close closes both sides, once.
func (c *proxyConn) close() {
	c.once.Do(func() {
		close(c.done)
		c.client.Close()
		c.mu.Lock()
		if c.upstream != nil {
			c.upstream.Close()
		}
		c.mu.Unlock()
	})
}

// StartProxy starts a proxy on a random port of 127.0.0.1 that forwards
// every connection to target ("host:port"), dialling the target once per
// accepted connection. It is shut down, its connections closed, when the
// test ends.
func StartProxy(tb testing.TB, target string) *Proxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("proxy: listen: %v", err)
	}
	gate := make(chan struct{})
	close(gate)
	p := &Proxy{target: target, ln: ln, done: make(chan struct{}), gate: gate, conns: make(map[*proxyConn]struct{})}
	p.wg.Add(1)
	go p.accept()
	tb.Cleanup(p.shutdown)
	return p
}

// Addr returns the proxy's address, "127.0.0.1:PORT".
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Cut stops forwarding, as a network partition would: bytes already sent
// and bytes sent from now on reach neither side, and neither does a close,
// so both ends see a silent peer rather than an error. New connections are
// accepted but stall the same way (the target is not dialled). Cut does
// nothing when already cut.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.gate:
		p.gate = make(chan struct{})
	default:
	}
}

// Restore resumes forwarding: what was held back during the cut (bytes,
// closes, new connections) goes through. It does nothing when not cut.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.gate:
	default:
		close(p.gate)
	}
}

// Reset closes every connection, on both sides, as a crashed middlebox
// would. New connections are served as usual (stalled while cut).
func (p *Proxy) Reset() {
	p.mu.Lock()
	conns := make([]*proxyConn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
}

// NumConns returns the number of client connections the proxy holds,
// whether forwarded or stalled.
func (p *Proxy) NumConns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// shutdown stops accepting, closes every connection and waits for the
// proxy's goroutines.
func (p *Proxy) shutdown() {
	close(p.done)
	p.ln.Close()
	p.Reset()
	p.wg.Wait()
}

// accept accepts connections until the listener closes.
func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		conn, err := p.ln.Accept()
		if err != nil {
			return
		}
		c := &proxyConn{client: conn, done: make(chan struct{})}
		p.mu.Lock()
		select {
		case <-p.done:
			p.mu.Unlock()
			conn.Close()
			return
		default:
		}
		p.conns[c] = struct{}{}
		p.mu.Unlock()
		p.wg.Add(1)
		go p.serve(c)
	}
}

// pass waits until the proxy forwards, and reports false when c or the
// proxy closed first.
func (p *Proxy) pass(c *proxyConn) bool {
	p.mu.Lock()
	gate := p.gate
	p.mu.Unlock()
	select {
	case <-gate:
		return true
	case <-c.done:
		return false
	case <-p.done:
		return false
	}
}

// serve dials the target for c and forwards both ways until both sides
// have closed or c is closed.
func (p *Proxy) serve(c *proxyConn) {
	defer p.wg.Done()
	defer func() {
		c.close()
		p.mu.Lock()
		delete(p.conns, c)
		p.mu.Unlock()
	}()
	if !p.pass(c) {
		return
	}
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	c.mu.Lock()
	c.upstream = up
	c.mu.Unlock()
	select {
	case <-c.done: // closed while dialling
		up.Close()
		return
	default:
	}
	var both sync.WaitGroup
	both.Add(2)
	go func() { defer both.Done(); p.pipe(c, c.client, up) }()
	go func() { defer both.Done(); p.pipe(c, up, c.client) }()
	both.Wait()
}

// pipe copies src to dst, holding every chunk and the end of the stream
// back while the proxy is cut. At the end of src it half-closes dst.
func (p *Proxy) pipe(c *proxyConn, src, dst net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.pass(c) {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				c.close()
				return
			}
		}
		if err != nil {
			if !p.pass(c) {
				return
			}
			if tc, ok := dst.(*net.TCPConn); ok {
				if tc.CloseWrite() == nil {
					return
				}
			}
			c.close()
			return
		}
	}
}
