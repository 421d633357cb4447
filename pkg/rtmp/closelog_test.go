package rtmp_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tributary-media/tributary/pkg/rtmp"
	"github.com/tributary-media/tributary/pkg/rtmp/amf"
	"github.com/tributary-media/tributary/pkg/rtmp/chunk"
	"github.com/tributary-media/tributary/pkg/rtmp/handshake"
	"github.com/tributary-media/tributary/pkg/rtmp/message"
)

// netErr is the error a net.Conn returns when the system call fails with
// errno.
func netErr(op string, errno syscall.Errno) error {
	return &net.OpError{Op: op, Net: "tcp", Err: os.NewSyscallError(op, errno)}
}

// TestClassifyClose: the level and description of the log line of a
// closed connection depend on what the reason wraps, never on its text.
func TestClassifyClose(t *testing.T) {
	deadline := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	tests := []struct {
		name  string
		err   error
		phase rtmp.ConnPhase
		level slog.Level
		desc  string // the description contains it
	}{
		// A normal end: Info.
		{"handler returned nil", nil, rtmp.PhaseConnected, slog.LevelInfo, "closed by the handler"},
		{"closed locally", rtmp.ErrClosed, rtmp.PhaseConnected, slog.LevelInfo, "closed by the handler"},
		{"transport closed locally", fmt.Errorf("rtmp: write: %w", &net.OpError{Op: "write", Net: "tcp", Err: net.ErrClosed}),
			rtmp.PhaseConnected, slog.LevelInfo, "closed by the handler"},
		{"EOF between messages", io.EOF, rtmp.PhaseConnected, slog.LevelInfo, "closed by the peer"},
		{"EOF in the handshake (a TCP health check)", fmt.Errorf("handshake: read C0+C1: %w", io.EOF),
			rtmp.PhaseHandshake, slog.LevelInfo, "closed by the peer"},
		{"EOF inside a chunk", fmt.Errorf("chunk: reading message header: %w", io.ErrUnexpectedEOF),
			rtmp.PhaseConnected, slog.LevelInfo, "closed by the peer: chunk: reading message header: unexpected EOF"},
		{"connection reset", netErr("read", syscall.ECONNRESET), rtmp.PhaseConnected, slog.LevelInfo, "closed by the peer: read tcp"},
		{"broken pipe after deleteStream", fmt.Errorf("rtmp: write: %w", netErr("write", syscall.EPIPE)),
			rtmp.PhaseConnected, slog.LevelInfo, "closed by the peer: rtmp: write"},
		{"connection aborted", netErr("read", syscall.ECONNABORTED), rtmp.PhaseConnected, slog.LevelInfo, "closed by the peer"},
		{"handler context cancelled", context.Canceled, rtmp.PhaseConnected, slog.LevelInfo, "server shutdown"},
		{"handler context cancelled, wrapped", fmt.Errorf("play: %w", context.Canceled), rtmp.PhaseConnected, slog.LevelInfo, "server shutdown"},
		{"closed after the shutdown grace period", rtmp.ErrShutdown, rtmp.PhaseConnected, slog.LevelInfo, "server shutdown"},
		{"connect rejected", &rtmp.StatusError{Status: rtmp.Status{Level: rtmp.LevelError, Code: rtmp.CodeConnectRejected}, Command: "connect"},
			rtmp.PhaseConnect, slog.LevelInfo, rtmp.CodeConnectRejected},

		// Protocol violations, limits, timeouts: Warn.
		{"chunk protocol error", fmt.Errorf("%w: fmt 3 on fresh chunk stream 5", chunk.ErrProtocol),
			rtmp.PhaseConnected, slog.LevelWarn, "chunk: protocol error: fmt 3 on fresh chunk stream 5"},
		{"chunk limit", fmt.Errorf("%w: message length 16777215", chunk.ErrLimit), rtmp.PhaseConnected, slog.LevelWarn, "chunk: limit exceeded"},
		{"command flow broken", fmt.Errorf("%w: message type 9 before connect", rtmp.ErrProtocol), rtmp.PhaseConnect, slog.LevelWarn, "before connect"},
		{"command too large", fmt.Errorf("%w: command message of 70000 bytes", rtmp.ErrLimit), rtmp.PhaseConnected, slog.LevelWarn, "command message of"},
		{"unsupported RTMP version", fmt.Errorf("handshake: %w 6", handshake.ErrUnsupportedVersion), rtmp.PhaseHandshake, slog.LevelWarn, "unsupported RTMP version"},
		{"malformed message", fmt.Errorf("rtmp: %w", message.ErrMalformed), rtmp.PhaseConnected, slog.LevelWarn, "malformed"},
		{"protocol error that also wraps EOF", errors.Join(fmt.Errorf("%w: truncated", chunk.ErrProtocol), io.EOF),
			rtmp.PhaseConnected, slog.LevelWarn, "chunk: protocol error"},
		{"handshake timeout", fmt.Errorf("handshake: read C1: %w", deadline), rtmp.PhaseHandshake, slog.LevelWarn, "handshake timeout: handshake: read C1"},
		{"connect timeout", fmt.Errorf("chunk: reading basic header: %w", deadline), rtmp.PhaseConnect, slog.LevelWarn, "connect timeout"},
		{"idle timeout", fmt.Errorf("chunk: reading basic header: %w", deadline), rtmp.PhaseConnected, slog.LevelWarn, "idle or write timeout"},
		{"write timeout", fmt.Errorf("rtmp: write: %w", &net.OpError{Op: "write", Net: "tcp", Err: os.ErrDeadlineExceeded}),
			rtmp.PhaseConnected, slog.LevelWarn, "idle or write timeout"},
		{"handler deadline", context.DeadlineExceeded, rtmp.PhaseConnected, slog.LevelWarn, "idle or write timeout"},
		{"TCP retransmission timeout", netErr("read", syscall.ETIMEDOUT), rtmp.PhaseConnected, slog.LevelWarn, "idle or write timeout"},

		// Texts that name a normal end but wrap nothing: Warn.
		{"text says EOF", errors.New("rtmp: player sent EOF"), rtmp.PhaseConnected, slog.LevelWarn, "rtmp: player sent EOF"},
		{"text says reset", errors.New("read: connection reset by peer"), rtmp.PhaseConnected, slog.LevelWarn, "connection reset by peer"},
		{"text says closed", errors.New("rtmp: connection closed"), rtmp.PhaseConnected, slog.LevelWarn, "rtmp: connection closed"},
		{"handler error", errors.New("player too slow"), rtmp.PhaseConnected, slog.LevelWarn, "player too slow"},

		// A bug: Error.
		{"handler panic", fmt.Errorf("%w: index out of range", rtmp.ErrHandlerPanic), rtmp.PhaseConnected, slog.LevelError, "handler panic: index out of range"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			level, desc := rtmp.ClassifyClose(tc.err, tc.phase)
			if level != tc.level || !strings.Contains(desc, tc.desc) {
				t.Errorf("ClassifyClose(%v) = %v %q, want %v and a description containing %q", tc.err, level, desc, tc.level, tc.desc)
			}
		})
	}
}

// closeLine matches the attributes of a "connection closed" log line.
var closeLine = regexp.MustCompile(`level=(\w+) msg="rtmp: connection closed" remote=\S+ reason=(".*?"|\S+) duration=\S+ bytes_in=(\d+) bytes_out=(\d+)`)

// handshakeBytes is what each side of a handshake sends: C0/S0, C1/S1 and
// C2/S2.
const handshakeBytes = 1 + 2*handshake.PacketSize

// checkCloseLine waits for the log line of the connection from local and
// checks its level and reason and that it counts more than the handshake
// in each direction.
func checkCloseLine(t *testing.T, logs *logBuffer, local, level, reason string) {
	t.Helper()
	line := logs.waitLog(t, 5*time.Second, "connection closed", "remote="+local)
	m := closeLine.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("log line %q lacks level, remote, reason, duration, bytes_in or bytes_out", line)
	}
	if m[1] != level || !strings.Contains(m[2], reason) {
		t.Errorf("log line %q: want level %s and a reason containing %q", line, level, reason)
	}
	in, _ := strconv.Atoi(m[3])
	out, _ := strconv.Atoi(m[4])
	if in <= handshakeBytes || out <= handshakeBytes {
		t.Errorf("log line %q: want more than the %d handshake bytes in and out", line, handshakeBytes)
	}
	t.Log(line)
}

// TestServerLogsCloseLevels: ordinary ends of a connection (the client
// leaves, resets the connection right after deleteStream, or the server
// shuts down) are logged at Info; a protocol violation at Warn. Each line
// gives the reason, the remote address, the duration and the bytes read
// and written.
func TestServerLogsCloseLevels(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := newHub()
	logs := &logBuffer{}
	// The handler returns ctx.Err() when the server shuts down, as
	// handlers that watch their context do.
	handler := func(hctx context.Context, c *rtmp.ServerConn) error {
		stop := context.AfterFunc(hctx, func() { c.Close() })
		defer stop()
		err := h.handle(hctx, c)
		if hctx.Err() != nil {
			return hctx.Err()
		}
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- (&rtmp.Server{Handler: handler, Logger: logs.logger()}).Serve(ctx, ln) }()
	addr := ln.Addr().String()

	t.Run("client leaves", func(t *testing.T) {
		p := dialRaw(t, addr)
		p.connect()
		p.nc.Close()
		checkCloseLine(t, logs, p.nc.LocalAddr().String(), "INFO", "closed by the peer")
	})

	t.Run("reset after deleteStream", func(t *testing.T) {
		p := dialRaw(t, addr)
		p.connect()
		id := p.createStream()
		p.publishOn(id, "leaving")
		p.sendAt(id, 0, &message.Video{Payload: avcSeqHeader})
		p.send(0, p.cmd("FCUnpublish", "leaving"), p.cmd("deleteStream", float64(id)))
		p.waitStatus(id, rtmp.CodeUnpublishSuccess)
		// Close with a RST, as clients killed or closing with SO_LINGER 0
		// do: the server's next read fails with ECONNRESET.
		if err := p.nc.(*net.TCPConn).SetLinger(0); err != nil {
			t.Fatal(err)
		}
		p.nc.Close()
		checkCloseLine(t, logs, p.nc.LocalAddr().String(), "INFO", "closed by the peer")
	})

	t.Run("protocol violation", func(t *testing.T) {
		p := dialRaw(t, addr)
		p.connect()
		p.nc.Write([]byte{0xC9, 1, 2, 3}) // fmt 3 on chunk stream 9, which never had a header
		checkCloseLine(t, logs, p.nc.LocalAddr().String(), "WARN", "chunk: protocol error")
	})

	t.Run("server shutdown", func(t *testing.T) {
		p := dialRaw(t, addr)
		p.connect()
		local := p.nc.LocalAddr().String()
		cancel()
		select {
		case err := <-served:
			if err != nil {
				t.Fatalf("Serve = %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Serve did not return")
		}
		checkCloseLine(t, logs, local, "INFO", "server shutdown")
	})

	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("unexpected error log:\n%s", logs.String())
	}
}

// TestServerOnClose: the function given to ServerConn.OnClose gets what
// the close log line says, after the handler returned; the conn tells when
// it was accepted and when its handshake ran.
func TestServerOnClose(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := newHub()
	type closed struct {
		info                     rtmp.CloseInfo
		created, hsStart, hsEnd  time.Time
		handlerDone, beforeClose bool
	}
	results := make(chan closed, 4)
	handler := func(hctx context.Context, c *rtmp.ServerConn) error {
		var r closed
		r.created = c.Created()
		r.hsStart, r.hsEnd = c.HandshakeTimes()
		returned := make(chan struct{})
		c.OnClose(func(info rtmp.CloseInfo) {
			r.info = info
			select {
			case <-returned:
				r.handlerDone = true
			default:
			}
			results <- r
		})
		defer close(returned)
		req, err := c.ReadConnect()
		if err != nil {
			return err
		}
		if req.App == "panic" {
			panic("boom")
		}
		return h.handle(hctx, c)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- (&rtmp.Server{Handler: handler, Logger: (&logBuffer{}).logger()}).Serve(ctx, ln) }()
	addr := ln.Addr().String()
	wait := func(t *testing.T) closed {
		t.Helper()
		select {
		case r := <-results:
			return r
		case <-time.After(5 * time.Second):
			t.Fatal("OnClose not called")
		}
		return closed{}
	}

	t.Run("client leaves", func(t *testing.T) {
		before := time.Now()
		p := dialRaw(t, addr)
		p.connect()
		p.nc.Close()
		r := wait(t)
		if r.info.Level != slog.LevelInfo || r.info.Abnormal() || !strings.Contains(r.info.Reason, "closed by the peer") {
			t.Errorf("CloseInfo = %+v, want a normal close by the peer", r.info)
		}
		if !errors.Is(r.info.Err, io.EOF) {
			t.Errorf("CloseInfo.Err = %v, want io.EOF", r.info.Err)
		}
		if r.info.BytesIn <= handshakeBytes || r.info.BytesOut <= handshakeBytes {
			t.Errorf("CloseInfo bytes in %d, out %d: want more than the %d handshake bytes", r.info.BytesIn, r.info.BytesOut, handshakeBytes)
		}
		if !r.handlerDone {
			t.Error("OnClose called before the handler returned")
		}
		if r.created.Before(before) || r.hsStart.Before(r.created) || r.hsEnd.Before(r.hsStart) {
			t.Errorf("times out of order: created %v, handshake %v to %v, duration %v", r.created, r.hsStart, r.hsEnd, r.info.Duration)
		}
		if r.info.Duration <= 0 || r.info.Duration > time.Since(before) {
			t.Errorf("CloseInfo.Duration = %v", r.info.Duration)
		}
	})

	t.Run("protocol violation", func(t *testing.T) {
		p := dialRaw(t, addr)
		p.connect()
		p.nc.Write([]byte{0xC9, 1, 2, 3}) // fmt 3 on chunk stream 9, which never had a header
		r := wait(t)
		if r.info.Level != slog.LevelWarn || !r.info.Abnormal() || !errors.Is(r.info.Err, chunk.ErrProtocol) {
			t.Errorf("CloseInfo = %+v, want an abnormal end wrapping chunk.ErrProtocol", r.info)
		}
	})

	t.Run("handler panic", func(t *testing.T) {
		p := dialRaw(t, addr)
		c := p.cmd("connect")
		c.Object = amf.Object{{Key: "app", Value: "panic"}, {Key: "tcUrl", Value: "rtmp://127.0.0.1/panic"}}
		p.send(0, c)
		r := wait(t)
		if r.info.Level != slog.LevelError || !r.info.Abnormal() || !errors.Is(r.info.Err, rtmp.ErrHandlerPanic) {
			t.Errorf("CloseInfo = %+v, want a handler panic at Error", r.info)
		}
	})

	cancel()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
}
