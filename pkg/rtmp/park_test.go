package rtmp_test

import (
	"context"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tributary-media/tributary/pkg/rtmp"
)

// parkingServer serves connections with a handler that parks between
// messages (ReadOrPark). It accepts every publish and play, and panics on a
// play of the stream "panic".
type parkingServer struct{}

func (p *parkingServer) handle(ctx context.Context, c *rtmp.ServerConn) error {
	if _, err := c.ReadConnect(); err != nil {
		return err
	}
	if err := c.AcceptConnect(nil); err != nil {
		return err
	}
	l := &parkedLoop{c: c}
	l.resume = l.serveParked
	return l.serveParked()
}

type parkedLoop struct {
	c      *rtmp.ServerConn
	resume func() error
}

func (l *parkedLoop) serveParked() error {
	for {
		m, err := l.c.ReadOrPark(l.resume)
		if err != nil {
			return err
		}
		switch m.Kind {
		case rtmp.KindPublish:
			err = l.c.AcceptPublish(m.Publish)
		case rtmp.KindPlay:
			if m.Play.Name == "panic" {
				panic("play of panic")
			}
			err = l.c.AcceptPlay(m.Play)
			if m.Play.Name == "close-later" {
				time.AfterFunc(100*time.Millisecond, func() { l.c.Close() })
			}
		}
		if err != nil {
			return err
		}
	}
}

// goroutinesIn counts the goroutines whose stack contains fn.
func goroutinesIn(fn string) int {
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, fn) {
			n++
		}
	}
	return n
}

// parkedNow counts the parked connections: those with a waiting goroutine
// each and those in the lot (Linux), which have none.
func parkedNow() (waiting, inLot int) {
	return goroutinesIn("(*parker).wait"), rtmp.ParkedInLot()
}

// TestReadOrParkHoldsNoHandlerGoroutine checks that players parked between
// messages hold no goroutine running the handler (on Linux no goroutine at
// all, elsewhere a waiting one each), and that every command they send
// later is still answered.
func TestReadOrParkHoldsNoHandlerGoroutine(t *testing.T) {
	ps := &parkingServer{}
	addr := startServer(t, &rtmp.Server{Handler: ps.handle, PingInterval: -1})
	const players = 20
	for range players {
		dialPlay(t, "rtmp://"+addr+"/live/idle", rtmp.ClientConfig{})
	}
	// and peers that only connected
	peers := make([]*rawPeer, 5)
	for i := range peers {
		peers[i] = dialRaw(t, addr)
		peers[i].connect()
	}
	parked := players + len(peers)
	deadline := time.Now().Add(5 * time.Second)
	for {
		handlers := goroutinesIn("serveParked")
		waiting, inLot := parkedNow()
		want := [2]int{parked, 0} // waiting, in the lot
		if runtime.GOOS == "linux" {
			want = [2]int{0, parked}
		}
		if handlers == 0 && [2]int{waiting, inLot} == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines in the handler, %d parked on a goroutine, %d in the lot; want 0, %d, %d",
				handlers, waiting, inLot, want[0], want[1])
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Parked connections resume: each creates a stream, twice.
	for range 2 {
		for _, p := range peers {
			if id := p.createStream(); id == 0 {
				t.Fatal("createStream on a parked connection returned stream 0")
			}
		}
	}
}

// TestReadOrParkEnds checks the ends of a parked connection: the idle
// timeout expires while it is parked (reported as an idle timeout), the
// peer closes, a panic in the resumed handler closes that connection
// only, and the server's shutdown closes parked connections and returns.
func TestReadOrParkEnds(t *testing.T) {
	ps := &parkingServer{}
	infos := make(chan rtmp.CloseInfo, 8)
	logs := &logBuffer{}
	const idle = 400 * time.Millisecond
	addr := startServer(t, &rtmp.Server{Handler: ps.handle, PingInterval: -1, IdleTimeout: idle,
		Logger: logs.logger(), ShutdownGrace: 100 * time.Millisecond,
		OnClose: func(info rtmp.CloseInfo) bool { infos <- info; return true }})
	next := func() rtmp.CloseInfo {
		t.Helper()
		select {
		case info := <-infos:
			return info
		case <-time.After(10 * time.Second):
			t.Fatal("OnClose not called")
		}
		return rtmp.CloseInfo{}
	}

	// Idle timeout while parked.
	p := dialRaw(t, addr)
	p.connect()
	start := time.Now()
	expectClosed(t, p.nc, 5*time.Second)
	if d := time.Since(start); d < idle-50*time.Millisecond {
		t.Fatalf("closed %v after connecting, before the idle timeout %v", d, idle)
	}
	if info := next(); info.Timeout != rtmp.TimeoutIdle || !info.Connected {
		t.Fatalf("CloseInfo = %+v, want an idle timeout", info)
	}

	// The peer closes while parked.
	p = dialRaw(t, addr)
	p.connect()
	p.nc.Close()
	if info := next(); info.Timeout != rtmp.NoTimeout || !strings.Contains(info.Reason, "closed by the peer") {
		t.Fatalf("CloseInfo = %+v, want closed by the peer", info)
	}

	// The server closes a parked connection from another goroutine.
	dropped := dialConnect(t, "rtmp://"+addr+"/live", rtmp.ClientConfig{})
	if err := dropped.Play(testCtx(t), "close-later"); err != nil {
		t.Fatal(err)
	}
	readErr := make(chan error, 1)
	go func() {
		for {
			if _, err := dropped.ReadMessage(); err != nil {
				readErr <- err
				return
			}
		}
	}()
	select {
	case <-readErr:
	case <-time.After(5 * time.Second):
		t.Fatal("a parked connection closed by the server stayed open")
	}
	if info := next(); info.Timeout != rtmp.NoTimeout || strings.Contains(info.Reason, "panic") {
		t.Fatalf("CloseInfo = %+v, want a close by the server", info)
	}

	// A panic in the resumed handler ends that connection only.
	healthy := dialRaw(t, addr)
	healthy.connect()
	bad := dialConnect(t, "rtmp://"+addr+"/live", rtmp.ClientConfig{})
	pctx, cancel := context.WithTimeout(testCtx(t), 2*time.Second)
	defer cancel()
	if err := bad.Play(pctx, "panic"); err == nil {
		t.Fatal("play of panic succeeded")
	}
	if info := next(); !strings.Contains(info.Reason, "panic") {
		t.Fatalf("CloseInfo = %+v, want a handler panic", info)
	}
	logs.waitLog(t, 5*time.Second, "handler panic")
	if id := healthy.createStream(); id == 0 {
		t.Fatal("the other connection stopped working after the panic")
	}

	// The server shuts down with a parked connection: it is closed once
	// the shutdown grace has passed, and Serve returns.
	srv := &rtmp.Server{Handler: ps.handle, PingInterval: -1, ShutdownGrace: 100 * time.Millisecond,
		Logger: logs.logger()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stop := serveUntil(t, srv, ln)
	p = dialRaw(t, ln.Addr().String())
	p.connect()
	for {
		if waiting, inLot := parkedNow(); waiting+inLot >= 2 { // healthy's and p's
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	expectClosed(t, p.nc, 5*time.Second)
}
