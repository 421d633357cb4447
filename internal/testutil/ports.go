package testutil

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// givenPorts remembers the ports FreePort has handed out in this process, so
// that two servers of one test binary never get the same port even when the
// kernel offers a just-released port again.
var givenPorts struct {
	sync.Mutex
	m map[int]bool
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago and
// has not been returned before in this process. Another process may still
// take it before the caller binds it; the server start-up functions of this
// package notice that and retry with another port.
func FreePort(tb testing.TB) int {
	tb.Helper()
	givenPorts.Lock()
	defer givenPorts.Unlock()
	if givenPorts.m == nil {
		givenPorts.m = make(map[int]bool)
	}
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatalf("find a free port: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !givenPorts.m[port] {
			givenPorts.m[port] = true
			return port
		}
	}
	tb.Fatal("find a free port: the kernel kept offering ports already handed out")
	return 0
}

// FreeAddr returns "127.0.0.1:PORT" for a port from [FreePort].
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(tb)))
}

// startServer starts a server process on a free port of 127.0.0.1 with
// start and waits until it accepts connections and has logged ready, a
// text it logs only once it holds the port (so that another process that
// took the port in the meantime is not mistaken for it). When the process
// exits because the port was taken, it tries again with another port. It
// returns the address and how long the successful start took.
func startServer(tb testing.TB, ready string, timeout time.Duration, start func(addr string) *Proc) (string, time.Duration) {
	tb.Helper()
	for attempt := 1; ; attempt++ {
		addr := FreeAddr(tb)
		begin := time.Now()
		p := start(addr)
		err := waitListening(addr, p, timeout)
		if err == nil {
			err = p.WaitStderr(ready, time.Until(begin.Add(timeout)))
		}
		if err == nil {
			return addr, time.Since(begin)
		}
		if attempt < 3 && p.exited() && strings.Contains(p.Stderr(), "in use") {
			tb.Logf("%s: port %s was taken, trying another", p.name, addr)
			continue
		}
		tb.Fatal(err)
	}
}

// waitListening waits until addr accepts TCP connections. It returns an
// error if p exits first or the timeout passes.
func waitListening(addr string, p *Proc, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		c, err := net.DialTimeout("tcp", addr, 250*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited (%v) before listening on %s; log tail:\n%s", p.name, p.err, addr, p.tail())
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not listening on %s after %v (last error: %v); log tail:\n%s", p.name, addr, timeout, err, p.tail())
		}
	}
}
