package rtmp_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tributary-media/tributary/pkg/rtmp"
	"github.com/tributary-media/tributary/pkg/rtmp/amf"
	"github.com/tributary-media/tributary/pkg/rtmp/chunk"
	"github.com/tributary-media/tributary/pkg/rtmp/flv"
	"github.com/tributary-media/tributary/pkg/rtmp/handshake"
	"github.com/tributary-media/tributary/pkg/rtmp/message"
)

// hub is a minimal live server application for the tests: one publisher
// per name (a second one is rejected with BadName, or becomes a standby
// that takes over on its first media message when standby is set), any
// number of players, which get metadata and sequence headers when they
// join and media from the next keyframe.
type hub struct {
	standby   bool
	onPublish func(c *rtmp.ServerConn, req *rtmp.PublishRequest)
	onPlay    func(c *rtmp.ServerConn, req *rtmp.PlayRequest)
	takeovers chan string // receives a stream name when a standby takes over
	onConnect func(c *rtmp.ServerConn, req *rtmp.ConnectRequest) error

	mu      sync.Mutex
	streams map[string]*hubStream
	conns   []*rtmp.ConnectRequest
}

type hubStream struct {
	lastVideo    int // timestamp of the last video message forwarded, -1 before
	pub, standby *hubPublisher
	meta         []byte
	seqV, seqA   []byte
	players      map[*hubPlayer]bool
}

type hubPublisher struct {
	c  *rtmp.ServerConn
	id uint32
}

type hubPlayer struct {
	c       *rtmp.ServerConn
	id      uint32
	started bool
}

func newHub() *hub { return &hub{streams: make(map[string]*hubStream)} }

func (h *hub) stream(name string) *hubStream {
	s := h.streams[name]
	if s == nil {
		s = &hubStream{players: make(map[*hubPlayer]bool), lastVideo: -1}
		h.streams[name] = s
	}
	return s
}

// handle is a rtmp.Handler.
func (h *hub) handle(ctx context.Context, c *rtmp.ServerConn) error {
	req, err := c.ReadConnect()
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.conns = append(h.conns, req)
	h.mu.Unlock()
	if h.onConnect != nil {
		if err := h.onConnect(c, req); err != nil {
			return err
		}
	}
	if req.App == "reject" {
		return c.RejectConnect("", "application not found")
	}
	if err := c.AcceptConnect(nil); err != nil {
		return err
	}
	var pubs []*hubPublisher // this conn's publishers, by name below
	pubName := map[uint32]string{}
	players := map[uint32]*hubPlayer{}
	playName := map[uint32]string{}
	defer func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, p := range pubs {
			h.unpublishLocked(pubName[p.id], p)
		}
		for id, p := range players {
			delete(h.stream(playName[id]).players, p)
		}
	}()
	for {
		m, err := c.ReadMessage()
		if err != nil {
			return err
		}
		switch m.Kind {
		case rtmp.KindPublish:
			h.mu.Lock()
			s := h.stream(m.Publish.Name)
			p := &hubPublisher{c: c, id: m.StreamID}
			switch {
			case s.pub == nil:
				s.pub = p
			case h.standby && s.standby == nil:
				s.standby = p
			default:
				h.mu.Unlock()
				if err := c.RejectPublish(m.Publish, rtmp.CodePublishBadName, "already publishing"); err != nil {
					return err
				}
				continue
			}
			pubs = append(pubs, p)
			pubName[m.StreamID] = m.Publish.Name
			h.mu.Unlock()
			if err := c.AcceptPublish(m.Publish); err != nil {
				return err
			}
			if h.onPublish != nil {
				h.onPublish(c, m.Publish)
			}
		case rtmp.KindPlay:
			p := &hubPlayer{c: c, id: m.StreamID}
			// Accept and join under the hub's lock: the client sees
			// Play.Start and may make a publisher start at once; no
			// frame may pass between the two.
			h.mu.Lock()
			if err := c.AcceptPlay(m.Play); err != nil {
				h.mu.Unlock()
				return err
			}
			s := h.stream(m.Play.Name)
			if s.meta != nil {
				c.WriteData(p.id, 0, s.meta)
			}
			if s.seqV != nil {
				c.WriteVideo(p.id, 0, s.seqV)
			}
			if s.seqA != nil {
				c.WriteAudio(p.id, 0, s.seqA)
			}
			s.players[p] = true
			players[m.StreamID] = p
			playName[m.StreamID] = m.Play.Name
			h.mu.Unlock()
			if h.onPlay != nil {
				h.onPlay(c, m.Play)
			}
		case rtmp.KindAudio, rtmp.KindVideo, rtmp.KindData:
			h.mu.Lock()
			name, ok := pubName[m.StreamID]
			if ok {
				h.forwardLocked(name, c, m)
			}
			h.mu.Unlock()
		case rtmp.KindUnpublish:
			h.mu.Lock()
			for i, p := range pubs {
				if p.id == m.StreamID {
					h.unpublishLocked(pubName[p.id], p)
					pubs = append(pubs[:i], pubs[i+1:]...)
					break
				}
			}
			h.mu.Unlock()
		case rtmp.KindCloseStream:
			h.mu.Lock()
			if p := players[m.StreamID]; p != nil {
				delete(h.stream(playName[m.StreamID]).players, p)
				delete(players, m.StreamID)
			}
			h.mu.Unlock()
		}
	}
}

// waitPlayers waits until the stream has n players.
func (h *hub) waitPlayers(t *testing.T, name string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		h.mu.Lock()
		got := len(h.stream(name).players)
		h.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream %q has %d players, want %d", name, got, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitVideo waits until the hub has handled the video message with
// timestamp ts on a stream.
func (h *hub) waitVideo(t *testing.T, name string, ts int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		h.mu.Lock()
		got := h.stream(name).lastVideo
		h.mu.Unlock()
		if got >= ts {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream %q: last video at %d, want %d", name, got, ts)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (h *hub) unpublishLocked(name string, p *hubPublisher) {
	s := h.stream(name)
	switch p {
	case s.standby:
		s.standby = nil
	case s.pub:
		s.pub = nil
		if s.standby != nil {
			s.pub, s.standby = s.standby, nil // the old publisher left first
			if h.takeovers != nil {
				h.takeovers <- name
			}
			return
		}
		for pl := range s.players {
			pl.c.SendStatus(pl.id, rtmp.LevelStatus, rtmp.CodePlayUnpublishNotify, name+" is now unpublished.")
			pl.started = false
		}
		s.meta, s.seqA, s.seqV = nil, nil, nil
	}
}

func (h *hub) forwardLocked(name string, c *rtmp.ServerConn, m *rtmp.Message) {
	s := h.stream(name)
	if s.pub == nil || s.pub.c != c || s.pub.id != m.StreamID {
		if s.standby != nil && s.standby.c == c && s.standby.id == m.StreamID {
			s.pub, s.standby = s.standby, nil // takeover on first media
			if h.takeovers != nil {
				h.takeovers <- name
			}
		} else {
			return
		}
	}
	p := append([]byte(nil), m.Payload...)
	switch m.Kind {
	case rtmp.KindData:
		if m.Data.Name != "onMetaData" {
			return
		}
		s.meta = p
		for pl := range s.players {
			pl.c.WriteData(pl.id, m.Timestamp, p)
		}
		return
	case rtmp.KindVideo:
		if flv.IsSequenceHeader(flv.TagVideo, p) {
			s.seqV = p
			for pl := range s.players {
				pl.c.WriteVideo(pl.id, m.Timestamp, p)
			}
			return
		}
		s.lastVideo = int(m.Timestamp)
		key := flv.IsKeyframe(flv.TagVideo, p)
		for pl := range s.players {
			if key {
				pl.started = true
			}
			if pl.started {
				pl.c.WriteVideo(pl.id, m.Timestamp, p)
			}
		}
	case rtmp.KindAudio:
		if flv.IsSequenceHeader(flv.TagAudio, p) {
			s.seqA = p
			for pl := range s.players {
				pl.c.WriteAudio(pl.id, m.Timestamp, p)
			}
			return
		}
		for pl := range s.players {
			if pl.started {
				pl.c.WriteAudio(pl.id, m.Timestamp, p)
			}
		}
	}
}

// logBuffer collects slog output for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// waitLog waits until the log contains all the given substrings in one
// line, and returns that line.
func (l *logBuffer) waitLog(t *testing.T, timeout time.Duration, subs ...string) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, line := range strings.Split(l.String(), "\n") {
			ok := true
			for _, s := range subs {
				if !strings.Contains(line, s) {
					ok = false
					break
				}
			}
			if ok {
				return line
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q within %v; log:\n%s", subs, timeout, l.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startServer runs srv on a loopback listener until the test ends and
// returns its address.
func startServer(t *testing.T, srv *rtmp.Server) string {
	t.Helper()
	return startServerB(t, srv)
}

func startServerB(t testing.TB, srv *rtmp.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveOn(t, srv, ln)
}

func serveOn(t testing.TB, srv *rtmp.Server, ln net.Listener) string {
	t.Helper()
	t.Cleanup(serveUntil(t, srv, ln))
	return ln.Addr().String()
}

// serveUntil runs srv on ln and returns stop, which shuts it down and
// fails the test unless Serve returns without error within 10 s.
func serveUntil(t testing.TB, srv *rtmp.Server, ln net.Listener) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	return func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Serve did not return after cancel")
		}
	}
}

// startHub runs a Server with a hub handler and returns the address and
// the hub.
func startHub(t *testing.T, configure ...func(*rtmp.Server, *hub)) (string, *hub, *logBuffer) {
	t.Helper()
	h := newHub()
	logs := &logBuffer{}
	srv := &rtmp.Server{Handler: h.handle, Logger: logs.logger(), ShutdownGrace: 2 * time.Second}
	for _, f := range configure {
		f(srv, h)
	}
	return startServer(t, srv), h, logs
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// dialConnect dials and connects; the conn is closed when the test ends.
func dialConnect(t *testing.T, url string, cfg rtmp.ClientConfig) *rtmp.ClientConn {
	t.Helper()
	ctx := testCtx(t)
	c, err := rtmp.Dial(ctx, url, cfg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Connect(ctx); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	return c
}

// dialPublish dials, connects and publishes.
func dialPublish(t *testing.T, url string, cfg rtmp.ClientConfig) *rtmp.ClientConn {
	t.Helper()
	c := dialConnect(t, url, cfg)
	if err := c.Publish(testCtx(t), ""); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	return c
}

func dialPlay(t *testing.T, url string, cfg rtmp.ClientConfig) *rtmp.ClientConn {
	t.Helper()
	c := dialConnect(t, url, cfg)
	if err := c.Play(testCtx(t), ""); err != nil {
		t.Fatalf("Play: %v", err)
	}
	return c
}

// Synthetic media: an AVC sequence header, keyframes and inter frames whose
// bodies carry their frame index, and AAC frames.

var avcSeqHeader = []byte{
	0x17, 0x00, 0x00, 0x00, 0x00, // key, AVC, sequence header, cts 0
	0x01, 0x42, 0xC0, 0x1E, 0xFF, // version 1, baseline, level 3.0, 4-byte lengths
	0xE1, 0x00, 0x04, 0x67, 0x42, 0xC0, 0x1E, // 1 SPS of 4 bytes
	0x01, 0x00, 0x04, 0x68, 0xCE, 0x3C, 0x80, // 1 PPS of 4 bytes
}

var aacSeqHeader = []byte{0xAF, 0x00, 0x12, 0x10} // AAC LC, 44.1 kHz, stereo

// videoFrame returns frame i: an AVC keyframe or inter frame of size
// bytes (at least 13) with the index in bytes 9..12.
func videoFrame(i int, key bool, size int) []byte {
	b := make([]byte, size)
	b[0] = 0x27
	if key {
		b[0] = 0x17
	}
	b[1] = 0x01 // NALUs
	binary.BigEndian.PutUint32(b[5:], uint32(size-9))
	binary.BigEndian.PutUint32(b[9:], uint32(i))
	for j := 13; j < size; j++ {
		b[j] = byte(i + j)
	}
	return b
}

func frameIndex(b []byte) int { return int(binary.BigEndian.Uint32(b[9:])) }

func audioFrame(i int) []byte {
	b := []byte{0xAF, 0x01, 0, 0, 0, 0, 0x21, 0x10}
	binary.BigEndian.PutUint32(b[2:], uint32(i))
	return b
}

// publishFrames writes metadata, sequence headers and n video frames (and
// one audio frame per video frame), 40 ms apart in timestamps. It may run
// on any goroutine: failures are reported with t.Error.
func publishFrames(t *testing.T, c *rtmp.ClientConn, from, n, gop, size int) {
	if err := writeFrames(c, from, n, gop, size); err != nil {
		t.Error(err)
	}
}

func writeFrames(c *rtmp.ClientConn, from, n, gop, size int) error {
	if from == 0 {
		if err := c.WriteMetadata(amf.ECMAArray{{Key: "width", Value: 320.0}, {Key: "height", Value: 240.0}}); err != nil {
			return fmt.Errorf("WriteMetadata: %w", err)
		}
		if err := c.WriteVideo(0, avcSeqHeader); err != nil {
			return fmt.Errorf("WriteVideo: %w", err)
		}
		if err := c.WriteAudio(0, aacSeqHeader); err != nil {
			return fmt.Errorf("WriteAudio: %w", err)
		}
	}
	for i := from; i < from+n; i++ {
		ts := uint32(i * 40)
		if err := c.WriteVideo(ts, videoFrame(i, i%gop == 0, size)); err != nil {
			return fmt.Errorf("WriteVideo %d: %w", i, err)
		}
		if err := c.WriteAudio(ts, audioFrame(i)); err != nil {
			return fmt.Errorf("WriteAudio %d: %w", i, err)
		}
	}
	return nil
}

// played is what a player received.
type played struct {
	meta        int
	seqV, seqA  int
	video       []int // frame indexes in order
	videoTS     []uint32
	audio       int
	statuses    []string
	events      []rtmp.Kind
	sampleAcces int
}

// readPlayer reads until want video frames (not counting sequence headers)
// arrived or until stop returns true for a message.
func readPlayer(t *testing.T, c *rtmp.ClientConn, want int, size int) *played {
	t.Helper()
	p := &played{}
	for len(p.video) < want {
		m, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("ReadMessage after %d frames: %v", len(p.video), err)
		}
		switch m.Kind {
		case rtmp.KindVideo:
			if flv.IsSequenceHeader(flv.TagVideo, m.Payload) {
				if !bytes.Equal(m.Payload, avcSeqHeader) {
					t.Fatalf("sequence header % x", m.Payload)
				}
				p.seqV++
				continue
			}
			i := frameIndex(m.Payload)
			if size > 0 && !bytes.Equal(m.Payload, videoFrame(i, m.Payload[0] == 0x17, size)) {
				t.Fatalf("frame %d differs", i)
			}
			p.video = append(p.video, i)
			p.videoTS = append(p.videoTS, m.Timestamp)
		case rtmp.KindAudio:
			if flv.IsSequenceHeader(flv.TagAudio, m.Payload) {
				p.seqA++
				continue
			}
			p.audio++
		case rtmp.KindData:
			switch m.Data.Name {
			case "onMetaData":
				p.meta++
			case "|RtmpSampleAccess":
				p.sampleAcces++
			}
		case rtmp.KindStatus:
			p.statuses = append(p.statuses, m.Status.Code)
		default:
			p.events = append(p.events, m.Kind)
		}
	}
	return p
}

// rawPeer is a hand-driven RTMP client for byte- and message-level
// assertions: it runs the handshake and then reads and writes chunk
// messages directly.
type rawPeer struct {
	t  *testing.T
	nc net.Conn
	r  *chunk.Reader
	w  *chunk.Writer
	tx float64
}

func dialRaw(t *testing.T, addr string) *rawPeer {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := handshake.Client(nc, handshake.ClientConfig{}); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	return &rawPeer{t: t, nc: nc, r: chunk.NewReader(nc, chunk.Config{}), w: chunk.NewWriter(nc, chunk.Config{})}
}

// send writes typed messages (buffered; flushed at the end, so they share
// one TCP write when small).
func (p *rawPeer) send(streamID uint32, msgs ...message.Message) {
	p.t.Helper()
	for _, m := range msgs {
		cm, err := message.ToChunk(m, streamID, 0, nil)
		if err != nil {
			p.t.Fatal(err)
		}
		if err := p.w.WriteMessage(&cm); err != nil {
			p.t.Fatal(err)
		}
	}
	if err := p.w.Flush(); err != nil {
		p.t.Fatal(err)
	}
}

func (p *rawPeer) cmd(name string, args ...any) *message.Command {
	p.tx++
	return &message.Command{Name: name, TransactionID: p.tx, Args: args}
}

// next reads the next message, decoded, with its chunk header fields.
func (p *rawPeer) next() (chunk.Message, message.Message) {
	p.t.Helper()
	var cm chunk.Message
	if err := p.r.ReadMessage(&cm); err != nil {
		p.t.Fatalf("read: %v", err)
	}
	msg, err := message.Decode(&cm)
	if err != nil {
		p.t.Fatalf("decode type %d: %v", cm.Type, err)
	}
	return *cm.Clone(), msg
}

// nextCommand skips non-command messages and returns the next command.
func (p *rawPeer) nextCommand() (chunk.Message, *message.Command) {
	p.t.Helper()
	for {
		cm, msg := p.next()
		if c, ok := msg.(*message.Command); ok {
			return cm, c
		}
	}
}

// connect sends connect with the given extra properties and reads
// everything up to the _result.
func (p *rawPeer) connect(extra ...amf.Property) []message.Message {
	p.t.Helper()
	obj := amf.Object{{Key: "app", Value: "live"}, {Key: "type", Value: "nonprivate"},
		{Key: "flashVer", Value: "FMLE/3.0"}, {Key: "tcUrl", Value: "rtmp://127.0.0.1/live"}}
	obj = append(obj, extra...)
	c := p.cmd("connect")
	c.Object = obj
	p.send(0, c)
	var got []message.Message
	for {
		_, msg := p.next()
		got = append(got, msg)
		if cmd, ok := msg.(*message.Command); ok && cmd.Name == "_result" {
			return got
		}
	}
}

// createStream returns the id of a new stream.
func (p *rawPeer) createStream() uint32 {
	p.t.Helper()
	p.send(0, p.cmd("createStream"))
	_, res := p.nextCommand()
	n, _ := amf.Number(res.Args[0])
	return uint32(n)
}

func statusCode(c *message.Command) string {
	if c == nil || len(c.Args) == 0 {
		return ""
	}
	v, _ := amf.Lookup(c.Args[0], "code")
	s, _ := amf.String(v)
	return s
}

func statusLevel(c *message.Command) string {
	v, _ := amf.Lookup(c.Args[0], "level")
	s, _ := amf.String(v)
	return s
}

// expectClosed waits until the server closes the raw peer's connection.
func expectClosed(t *testing.T, nc net.Conn, within time.Duration) {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(within))
	buf := make([]byte, 4096)
	for {
		_, err := nc.Read(buf)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("connection still open after %v", within)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "reset") {
			return
		}
		t.Fatalf("read: %v", err)
	}
}

// scriptConn is an in-memory transport for allocation tests and
// benchmarks: Read returns a fixed prefix, then repeats a cycle of bytes
// forever (or blocks until Close when there is no cycle); Write discards.
type scriptConn struct {
	prefix  []byte
	cycle   []byte
	pos     int
	closed  chan struct{}
	once    sync.Once
	written atomic.Int64
}

func newScriptConn(prefix, cycle []byte) *scriptConn {
	return &scriptConn{prefix: prefix, cycle: cycle, closed: make(chan struct{})}
}

func (s *scriptConn) Read(p []byte) (int, error) {
	if len(s.prefix) > 0 {
		n := copy(p, s.prefix)
		s.prefix = s.prefix[n:]
		return n, nil
	}
	if len(s.cycle) == 0 {
		<-s.closed
		return 0, io.EOF
	}
	n := 0
	for n < len(p) {
		c := copy(p[n:], s.cycle[s.pos:])
		n += c
		s.pos = (s.pos + c) % len(s.cycle)
	}
	return n, nil
}

func (s *scriptConn) Write(p []byte) (int, error) {
	select {
	case <-s.closed:
		return 0, net.ErrClosed
	default:
	}
	s.written.Add(int64(len(p)))
	return len(p), nil
}

func (s *scriptConn) Close() error {
	s.once.Do(func() { close(s.closed) })
	return nil
}

// chunkBytes encodes messages with a fresh chunk writer at chunk size
// size (128 when 0; the Set Chunk Size message is included otherwise).
func chunkBytes(t testing.TB, size uint32, streamID uint32, msgs ...message.Message) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := chunk.NewWriter(&buf, chunk.Config{})
	if size != 0 {
		cm, _ := message.ToChunk(&message.SetChunkSize{Size: size}, 0, 0, nil)
		w.WriteMessage(&cm)
	}
	for _, m := range msgs {
		cm, err := message.ToChunk(m, streamID, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteMessage(&cm); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	return buf.Bytes()
}

// publishingServerConn returns a ServerConn, connected and publishing on
// stream 1, whose transport then repeats videoCycle forever.
func publishingServerConn(t testing.TB, videoCycle []byte) (*rtmp.ServerConn, *scriptConn) {
	t.Helper()
	prefix := append([]byte{3}, make([]byte, 2*handshake.PacketSize)...) // C0, C1, C2
	prefix = append(prefix, chunkBytes(t, 0, 0,
		&message.WindowAckSize{Size: 100_000}, // acknowledgements are due every 50 kB
		&message.Command{Name: "connect", TransactionID: 1, Object: amf.Object{{Key: "app", Value: "live"}}},
		&message.Command{Name: "createStream", TransactionID: 2})...)
	prefix = append(prefix, chunkBytes(t, 0, 1, &message.Command{Name: "publish", TransactionID: 3, Args: []any{"s", "live"}})...)
	sc := newScriptConn(prefix, videoCycle)
	c := rtmp.NewServerConn(sc, rtmp.ServerConfig{})
	if _, err := c.ReadConnect(); err != nil {
		t.Fatal(err)
	}
	if err := c.AcceptConnect(nil); err != nil {
		t.Fatal(err)
	}
	m, err := c.ReadMessage()
	if err != nil || m.Kind != rtmp.KindPublish {
		t.Fatalf("ReadMessage = %v, %v", m, err)
	}
	if err := c.AcceptPublish(m.Publish); err != nil {
		t.Fatal(err)
	}
	return c, sc
}

// videoCycle returns chunk bytes of n video messages of size bytes on
// stream 1 that can be repeated: it starts with fmt 0 headers.
func videoCycle(t testing.TB, n, size int) []byte {
	var msgs []message.Message
	for i := 0; i < n; i++ {
		msgs = append(msgs, &message.Video{Payload: videoFrame(i, i == 0, size)})
	}
	// The chunk size message comes first in every cycle: harmless to repeat.
	return chunkBytes(t, 4096, 1, msgs...)
}

// publishingClientConn returns a ClientConn that has connected and
// published over an in-memory transport whose writes are discarded.
func publishingClientConn(t testing.TB) *rtmp.ClientConn {
	t.Helper()
	prefix := append([]byte{3}, make([]byte, 2*handshake.PacketSize)...) // S0, S1, S2
	prefix = append(prefix, chunkBytes(t, 0, 0,
		message.Result(1, amf.Object{{Key: "fmsVer", Value: "x"}}, message.StatusInfo("status", rtmp.CodeConnectSuccess, "")),
		message.CreateStreamResult(4, 1))...)
	prefix = append(prefix, chunkBytes(t, 0, 1, message.OnStatus("status", rtmp.CodePublishStart, ""))...)
	c, err := rtmp.NewClientConn(newScriptConn(prefix, nil), "rtmp://127.0.0.1/live/s", rtmp.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Publish(ctx, ""); err != nil {
		t.Fatal(err)
	}
	return c
}
