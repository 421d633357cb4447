package rtmp_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tributary-media/tributary/pkg/rtmp"
	"github.com/tributary-media/tributary/pkg/rtmp/handshake"
)

// TestServerTimeoutsOnClose: a peer that completes the handshake but sends
// no connect is closed after ConnectTimeout, well before the handshake
// timeout; a peer that stalls in the handshake is closed after
// HandshakeTimeout; a connected peer that goes silent after IdleTimeout.
// Server.OnClose sees each with its timeout and, returning false, keeps
// the close out of the log.
func TestServerTimeoutsOnClose(t *testing.T) {
	const (
		handshakeTimeout = 2 * time.Second
		connectTimeout   = 200 * time.Millisecond
		idleTimeout      = 500 * time.Millisecond
	)
	infos := make(chan rtmp.CloseInfo, 8)
	onClose := func(info rtmp.CloseInfo) bool {
		infos <- info
		return false
	}
	// The idle timeout bounds every read, in the handshake too: the idle
	// case has a server of its own.
	addr, _, logs := startHub(t, func(s *rtmp.Server, _ *hub) {
		s.HandshakeTimeout = handshakeTimeout
		s.ConnectTimeout = connectTimeout
		s.IdleTimeout = time.Minute
		s.OnClose = onClose
	})
	idleAddr, _, idleLogs := startHub(t, func(s *rtmp.Server, _ *hub) {
		s.IdleTimeout = idleTimeout
		s.PingInterval = -1
		s.OnClose = onClose
	})
	next := func(remote string) rtmp.CloseInfo {
		t.Helper()
		select {
		case info := <-infos:
			if info.Remote != remote {
				t.Fatalf("CloseInfo.Remote = %q, want %q", info.Remote, remote)
			}
			return info
		case <-time.After(10 * time.Second):
			t.Fatal("OnClose not called")
		}
		return rtmp.CloseInfo{}
	}

	// Handshake done, no connect.
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := handshake.Client(nc, handshake.ClientConfig{}); err != nil {
		t.Fatal(err)
	}
	hsEnd := time.Now()
	expectClosed(t, nc, handshakeTimeout-500*time.Millisecond)
	if d := time.Since(hsEnd); d < connectTimeout {
		t.Fatalf("closed %v after the handshake, before the connect timeout", d)
	}
	if info := next(nc.LocalAddr().String()); info.Timeout != rtmp.TimeoutConnect || info.Connected || !info.Abnormal() {
		t.Fatalf("CloseInfo = %+v, want a connect timeout", info)
	}

	// Stalled in the handshake: C0 only.
	nc2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc2.Close()
	start := time.Now()
	if _, err := nc2.Write([]byte{3}); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, nc2, handshakeTimeout+5*time.Second)
	if d := time.Since(start); d < handshakeTimeout-100*time.Millisecond {
		t.Fatalf("stalled handshake closed after %v, before the handshake timeout", d)
	}
	if info := next(nc2.LocalAddr().String()); info.Timeout != rtmp.TimeoutHandshake || info.Connected {
		t.Fatalf("CloseInfo = %+v, want a handshake timeout", info)
	}

	// Connected, then silent.
	p := dialRaw(t, idleAddr)
	p.connect()
	expectClosed(t, p.nc, 5*time.Second)
	if info := next(p.nc.LocalAddr().String()); info.Timeout != rtmp.TimeoutIdle || !info.Connected {
		t.Fatalf("CloseInfo = %+v, want an idle timeout after connect", info)
	}
	for _, l := range []*logBuffer{logs, idleLogs} {
		if strings.Contains(l.String(), "rtmp: connection closed") {
			t.Fatalf("closes logged although OnClose returned false:\n%s", l.String())
		}
	}
}
