package rtmp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tributary-media/tributary/pkg/rtmp/amf"
	"github.com/tributary-media/tributary/pkg/rtmp/chunk"
	"github.com/tributary-media/tributary/pkg/rtmp/flv"
	"github.com/tributary-media/tributary/pkg/rtmp/handshake"
	"github.com/tributary-media/tributary/pkg/rtmp/message"
)

// Default client settings.
const (
	// DefaultFlashVer is the flashVer a client sends in connect.
	DefaultFlashVer = "FMLE/3.0 (compatible; Tributary)"
	// DefaultBufferLength is the buffer length a player announces with
	// SetBufferLength after play.
	DefaultBufferLength = 3 * time.Second
	// DefaultReconnectTimeout bounds following a reconnect request: dial,
	// handshake, connect and publish or play on the new server.
	DefaultReconnectTimeout = 15 * time.Second
)

// ClientConfig configures a [ClientConn]. The zero value is ready to use.
type ClientConfig struct {
	// Logger receives connection-level logs; nil discards them.
	Logger *slog.Logger
	// TLSConfig is used for rtmps:// URLs; nil means a config with only
	// ServerName set from the URL. A config without ServerName gets the
	// URL's host.
	TLSConfig *tls.Config
	// DialContext dials the TCP connection; nil uses a net.Dialer.
	DialContext func(ctx context.Context, network, address string) (net.Conn, error)
	// Handshake configures the handshake; by default it is the digest
	// handshake, Handshake.Simple selects the plain one.
	Handshake handshake.ClientConfig
	// Chunk holds the limits applied to what the server sends; the zero
	// value selects the chunk package's defaults.
	Chunk chunk.Config
	// AMF bounds the decoding of commands and data messages.
	AMF amf.Decoder
	// ChunkSize is the outgoing chunk size announced before publishing;
	// 0 means DefaultChunkSize.
	ChunkSize uint32
	// FlashVer is the flashVer of connect; "" means DefaultFlashVer.
	FlashVer string
	// SwfURL and PageURL are sent in connect when not empty.
	SwfURL, PageURL string
	// AMF3 sends objectEncoding 3 in connect and the commands after it as
	// type 17 (AMF3 command messages).
	AMF3 bool
	// FourCCList is sent as the Enhanced RTMP fourCcList when not empty.
	FourCCList []string
	// VideoFourCCInfoMap is sent as videoFourCcInfoMap when not empty.
	VideoFourCCInfoMap map[string]uint32
	// AudioFourCCInfoMap is sent as audioFourCcInfoMap when not empty.
	AudioFourCCInfoMap map[string]uint32
	// CapsEx is sent as capsEx; CapsExReconnect is added unless
	// DisableReconnect is set. capsEx is omitted when the result is 0.
	CapsEx uint32
	// ConnectArgs are extra values appended to the connect command.
	ConnectArgs []any
	// DisableReconnect ignores the server's
	// NetConnection.Connect.ReconnectRequest and does not advertise
	// CapsExReconnect.
	DisableReconnect bool
	// ReconnectTimeout bounds following a reconnect request; 0 means
	// DefaultReconnectTimeout.
	ReconnectTimeout time.Duration
	// BufferLength is the SetBufferLength a player sends after play; 0
	// means DefaultBufferLength.
	BufferLength time.Duration
	// WriteTimeout bounds each write on connections made by Dial, so
	// that a stuck server cannot block a writer forever; 0 means
	// DefaultWriteTimeout, negative disables it. A write that times out
	// ends the conn.
	WriteTimeout time.Duration
}

type clientRole uint8

const (
	roleNone clientRole = iota
	rolePublisher
	rolePlayer
)

// ClientConn is the client side of an RTMP connection: Dial (or
// NewClientConn), Connect, then Publish and Write* or Play and
// ReadMessage, then Close.
//
// A publishing conn reads the server's messages on a goroutine of its own
// (started by Publish, ended by Close), so that acknowledgements, pings
// and reconnect requests are handled while the application only writes;
// Err and Done report how it ended. A playing conn is read by the
// application's ReadMessage calls, from one goroutine. Writes may come
// from any goroutine.
//
// When the server sends NetConnection.Connect.ReconnectRequest (Enhanced
// RTMP v2) to a conn made by Dial, a publisher connects to the new URL
// and publishes the same name in the background while it keeps sending on
// the old connection; at the next video keyframe it writes the metadata
// and sequence headers it has sent so far to the new connection, switches
// to it and drops the old one. A player connects, plays the same name,
// switches and closes the old connection within ReadMessage.
type ClientConn struct {
	cfg    ClientConfig
	log    *slog.Logger
	tcURL  string
	app    string
	stream string
	dialed bool // made by Dial: reconnect requests can be followed

	cur     atomic.Pointer[clientSession]
	pending atomic.Pointer[clientSession] // publisher: ready to switch to

	mu       sync.Mutex // guards role, name, closed, reconnecting, rcancel
	role     clientRole
	name     string
	closed   bool
	reconn   bool
	rcancel  context.CancelFunc
	wg       sync.WaitGroup
	doneOnce sync.Once
	done     chan struct{}
	errMu    sync.Mutex
	err      error

	// publisher write side, guarded by wmu
	wmu      sync.Mutex
	meta     []byte // last onMetaData body (without @setDataFrame)
	seqVideo []byte
	seqAudio []byte
	dataBuf  []byte

	// player read side
	queue []*Message
	qmsg  Message
}

// clientSession is one network connection of a ClientConn.
type clientSession struct {
	*core
	tcURL    string
	app      string
	amf3     bool
	hsDone   bool
	txid     float64
	streamID uint32
	props    amf.Object // properties of the connect _result
}

// Dial connects to an rtmp:// or rtmps:// URL
// ("rtmp://host[:port]/app[/instance]/stream?query"; default ports 1935
// and 443) and runs the handshake, bounded by ctx. Call Connect next.
func Dial(ctx context.Context, rawURL string, cfg ClientConfig) (*ClientConn, error) {
	tcURL, app, stream, err := parseRTMPURL(rawURL)
	if err != nil {
		return nil, err
	}
	c := newClientConn(tcURL, app, stream, cfg)
	c.dialed = true
	s, err := c.dialSession(ctx, tcURL, app)
	if err != nil {
		return nil, err
	}
	c.cur.Store(s)
	return c, nil
}

// NewClientConn returns a client conn over rw for rawURL, which gives the
// app, tcUrl and default stream name. It starts no goroutine and does no
// I/O: Connect runs the handshake. Reconnect requests are followed only
// by conns from Dial (which know how to dial again).
func NewClientConn(rw io.ReadWriter, rawURL string, cfg ClientConfig) (*ClientConn, error) {
	tcURL, app, stream, err := parseRTMPURL(rawURL)
	if err != nil {
		return nil, err
	}
	c := newClientConn(tcURL, app, stream, cfg)
	c.cur.Store(c.newSession(rw, tcURL, app))
	return c, nil
}

func newClientConn(tcURL, app, stream string, cfg ClientConfig) *ClientConn {
	log := cfg.Logger
	if log == nil {
		log = discardLogger
	}
	return &ClientConn{cfg: cfg, log: log, tcURL: tcURL, app: app, stream: stream, done: make(chan struct{})}
}

func (c *ClientConn) newSession(rw io.ReadWriter, tcURL, app string) *clientSession {
	ccfg := c.cfg.Chunk
	ccfg.LenientFreshFmt1 = true
	return &clientSession{core: newCore(rw, c.log, ccfg, c.cfg.AMF), tcURL: tcURL, app: app, amf3: c.cfg.AMF3}
}

// parseRTMPURL splits "rtmp://host[:port]/app[/inst]/stream?query" into
// the tcUrl ("rtmp://host[:port]/app[/inst]"), the app and the stream name
// (with the query).
func parseRTMPURL(raw string) (tcURL, app, stream string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", "", fmt.Errorf("rtmp: bad URL: %w", err)
	}
	if u.Scheme != "rtmp" && u.Scheme != "rtmps" {
		return "", "", "", fmt.Errorf("rtmp: bad URL %q: scheme must be rtmp or rtmps", raw)
	}
	if u.Host == "" {
		return "", "", "", fmt.Errorf("rtmp: bad URL %q: no host", raw)
	}
	path := strings.Trim(u.Path, "/")
	if path == "" {
		return "", "", "", fmt.Errorf("rtmp: bad URL %q: no application", raw)
	}
	segs := strings.Split(path, "/")
	if len(segs) == 1 {
		app = segs[0]
	} else {
		app = strings.Join(segs[:len(segs)-1], "/")
		stream = segs[len(segs)-1]
	}
	if u.RawQuery != "" {
		stream += "?" + u.RawQuery
	}
	return u.Scheme + "://" + u.Host + "/" + app, app, stream, nil
}

// dialSession dials tcURL's host, runs TLS for rtmps and the RTMP
// handshake.
func (c *ClientConn) dialSession(ctx context.Context, tcURL, app string) (*clientSession, error) {
	u, err := url.Parse(tcURL)
	if err != nil {
		return nil, fmt.Errorf("rtmp: bad tcUrl %q: %w", tcURL, err)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "1935"
		if u.Scheme == "rtmps" {
			port = "443"
		}
	}
	addr := net.JoinHostPort(host, port)
	dial := c.cfg.DialContext
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	nc, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("rtmp: dial %s: %w", addr, err)
	}
	if u.Scheme == "rtmps" {
		tcfg := c.cfg.TLSConfig
		if tcfg == nil {
			tcfg = &tls.Config{}
		} else {
			tcfg = tcfg.Clone()
		}
		if tcfg.ServerName == "" {
			tcfg.ServerName = host
		}
		tc := tls.Client(nc, tcfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("rtmp: TLS handshake with %s: %w", addr, err)
		}
		nc = tc
	}
	if wt := durOr(c.cfg.WriteTimeout, DefaultWriteTimeout); wt > 0 {
		nc = &timeoutConn{Conn: nc, write: wt}
	}
	s := c.newSession(nc, tcURL, app)
	if err := s.handshake(ctx, c.cfg.Handshake); err != nil {
		s.closeTransport()
		return nil, err
	}
	return s, nil
}

// bindCtx applies ctx to the session's transport while an operation runs:
// its deadline becomes the transport deadline and its cancellation expires
// the deadline. The returned function undoes it.
func (s *clientSession) bindCtx(ctx context.Context) func() {
	dl, ok := s.rw.(interface{ SetDeadline(time.Time) error })
	if !ok {
		return func() {}
	}
	if d, ok := ctx.Deadline(); ok {
		dl.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { dl.SetDeadline(time.Unix(1, 0)) })
	return func() {
		if stop() {
			dl.SetDeadline(time.Time{})
		}
	}
}

// ctxErr turns an error of an operation bound to ctx into the conn's
// error: the session is unusable after a failed exchange, so it is
// closed.
func (s *clientSession) ctxErr(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		err = fmt.Errorf("rtmp: %s: %w", what, ctx.Err())
	} else if !strings.HasPrefix(err.Error(), "rtmp: ") {
		err = fmt.Errorf("rtmp: %s: %w", what, err)
	}
	var se *StatusError
	if errors.As(err, &se) {
		return err // the session itself is fine
	}
	s.fail(err)
	return err
}

func (s *clientSession) handshake(ctx context.Context, cfg handshake.ClientConfig) error {
	if s.hsDone {
		return nil
	}
	undo := s.bindCtx(ctx)
	_, err := handshake.Client(s.rw, cfg)
	undo()
	if err != nil {
		return s.ctxErr(ctx, "handshake", err)
	}
	s.hsDone = true
	return nil
}

func (s *clientSession) nextTx() float64 {
	s.txid++
	return s.txid
}

// Connect runs the handshake if needed and sends connect; it returns when
// the server answered. An _error answer gives a *StatusError (see
// ErrConnectRejected).
func (c *ClientConn) Connect(ctx context.Context) error {
	s := c.cur.Load()
	if s == nil {
		return ErrClosed
	}
	return c.connectSession(ctx, s)
}

func (c *ClientConn) connectObject(s *clientSession) amf.Object {
	enc := float64(0)
	if c.cfg.AMF3 {
		enc = 3
	}
	obj := amf.Object{
		{Key: "app", Value: s.app},
		{Key: "type", Value: "nonprivate"},
		{Key: "flashVer", Value: cmp(c.cfg.FlashVer, DefaultFlashVer)},
		{Key: "tcUrl", Value: s.tcURL},
	}
	if c.cfg.SwfURL != "" {
		obj = append(obj, amf.Property{Key: "swfUrl", Value: c.cfg.SwfURL})
	}
	if c.cfg.PageURL != "" {
		obj = append(obj, amf.Property{Key: "pageUrl", Value: c.cfg.PageURL})
	}
	obj = append(obj, amf.Property{Key: "objectEncoding", Value: enc})
	if len(c.cfg.FourCCList) > 0 {
		list := make(amf.StrictArray, len(c.cfg.FourCCList))
		for i, f := range c.cfg.FourCCList {
			list[i] = f
		}
		obj = append(obj, amf.Property{Key: "fourCcList", Value: list})
	}
	if len(c.cfg.VideoFourCCInfoMap) > 0 {
		obj = append(obj, amf.Property{Key: "videoFourCcInfoMap", Value: fourCCObject(c.cfg.VideoFourCCInfoMap)})
	}
	if len(c.cfg.AudioFourCCInfoMap) > 0 {
		obj = append(obj, amf.Property{Key: "audioFourCcInfoMap", Value: fourCCObject(c.cfg.AudioFourCCInfoMap)})
	}
	caps := c.cfg.CapsEx
	if !c.cfg.DisableReconnect {
		caps |= CapsExReconnect
	}
	if caps != 0 {
		obj = append(obj, amf.Property{Key: "capsEx", Value: float64(caps)})
	}
	return obj
}

func (c *ClientConn) connectSession(ctx context.Context, s *clientSession) error {
	if err := s.handshake(ctx, c.cfg.Handshake); err != nil {
		return err
	}
	undo := s.bindCtx(ctx)
	defer undo()
	tx := s.nextTx()
	// connect itself is always an AMF0 command (type 20).
	cmd := &message.Command{Name: message.CommandConnect, TransactionID: tx, Object: c.connectObject(s), Args: c.cfg.ConnectArgs}
	if err := s.writeCommands(0, false, cmd); err != nil {
		return s.ctxErr(ctx, "connect", err)
	}
	for {
		m, cmd, err := s.readCommand(nil)
		if err != nil {
			return s.ctxErr(ctx, "connect", err)
		}
		if cmd == nil {
			continue
		}
		switch {
		case cmd.Name == message.CommandResult && cmd.TransactionID == tx:
			props, _ := amf.Props(cmd.Object)
			s.props = props
			return nil
		case cmd.Name == message.CommandError && cmd.TransactionID == tx,
			cmd.Name == message.CommandOnStatus && m.StreamID == 0 && statusOf(cmd).Level == LevelError:
			st := statusOf(cmd)
			if st.Code == "" {
				st.Code = CodeConnectFailed
			}
			err := &StatusError{Status: st, Command: message.CommandConnect}
			s.fail(err)
			return err
		}
	}
}

// readCommand reads until a command arrives and returns it decoded;
// messages that are not commands are passed to other (when not nil) and
// then dropped.
func (s *clientSession) readCommand(other func(m *chunk.Message)) (*chunk.Message, *message.Command, error) {
	for {
		m, err := s.readNext()
		if err != nil {
			return nil, nil, err
		}
		if m.Type != message.TypeCommandAMF0 && m.Type != message.TypeCommandAMF3 {
			if other != nil {
				other(m)
			}
			continue
		}
		msg, err := s.dec.Decode(m)
		if err != nil {
			s.log.Debug("rtmp: ignoring malformed command", "err", err)
			continue
		}
		cmd, ok := msg.(*message.Command)
		if !ok {
			continue
		}
		return m, cmd, nil
	}
}

// statusOf reads the information object of an onStatus or _error.
func statusOf(cmd *message.Command) Status {
	var st Status
	for _, a := range cmd.Args {
		props, ok := amf.Props(a)
		if !ok {
			continue
		}
		st.Info = amf.Object(props)
		for _, p := range props {
			s, _ := amf.String(p.Value)
			switch p.Key {
			case "level":
				st.Level = s
			case "code":
				st.Code = s
			case "description":
				st.Description = s
			}
		}
		break
	}
	return st
}

// createStream sends the given commands followed by createStream and
// returns the stream id of its _result.
func (s *clientSession) createStream(ctx context.Context, other func(*chunk.Message), before ...*message.Command) (uint32, error) {
	tx := s.nextTx()
	cmds := append(before, &message.Command{Name: message.CommandCreateStream, TransactionID: tx})
	if err := s.writeCommands(0, s.amf3, cmds...); err != nil {
		return 0, s.ctxErr(ctx, "createStream", err)
	}
	for {
		_, cmd, err := s.readCommand(other)
		if err != nil {
			return 0, s.ctxErr(ctx, "createStream", err)
		}
		if cmd.TransactionID != tx {
			continue
		}
		switch cmd.Name {
		case message.CommandResult:
			n, ok := amf.Number(argAt(cmd.Args, 0))
			if !ok || n < 0 || n > 0xFFFFFFFF {
				return 0, s.ctxErr(ctx, "createStream", fmt.Errorf("%w: createStream result without a stream id", errProtocol))
			}
			return uint32(n), nil
		case message.CommandError:
			st := statusOf(cmd)
			return 0, &StatusError{Status: st, Command: message.CommandCreateStream}
		}
	}
}

// waitStatus reads until an onStatus on stream id with code ok (success)
// or level error arrives.
func (s *clientSession) waitStatus(ctx context.Context, what, okCode string, other func(*chunk.Message, *message.Command)) error {
	for {
		m, cmd, err := s.readCommand(func(m *chunk.Message) {
			if other != nil {
				other(m, nil)
			}
		})
		if err != nil {
			return s.ctxErr(ctx, what, err)
		}
		if cmd.Name != message.CommandOnStatus {
			if cmd.Name == message.CommandError && cmd.TransactionID != 0 {
				return &StatusError{Status: statusOf(cmd), Command: what}
			}
			continue
		}
		st := statusOf(cmd)
		switch {
		case st.Code == okCode:
			if other != nil {
				other(m, cmd)
			}
			return nil
		case st.Level == LevelError:
			return &StatusError{Status: st, Command: what}
		}
		if other != nil {
			other(m, cmd)
		}
	}
}

// Publish sends releaseStream, FCPublish, createStream and publish for
// name ("" means the stream name of the URL; it may carry a query) and
// waits for NetStream.Publish.Start. A status of level error gives a
// *StatusError (see ErrBadName). It announces the outgoing chunk size
// first and starts the conn's reading goroutine when it succeeds.
func (c *ClientConn) Publish(ctx context.Context, name string) error {
	if name == "" {
		name = c.stream
	}
	if name == "" {
		return errors.New("rtmp: publish: no stream name")
	}
	c.mu.Lock()
	if c.role != roleNone || c.closed {
		c.mu.Unlock()
		return fmt.Errorf("%w: publish on a conn that already publishes, plays or is closed", errState)
	}
	c.role, c.name = rolePublisher, name
	c.mu.Unlock()
	s := c.cur.Load()
	if err := c.publishSession(ctx, s, name); err != nil {
		c.mu.Lock()
		c.role = roleNone
		c.mu.Unlock()
		return err
	}
	c.startReader(s)
	return nil
}

func (c *ClientConn) publishSession(ctx context.Context, s *clientSession, name string) error {
	undo := s.bindCtx(ctx)
	defer undo()
	s.wmu.Lock()
	err := s.setChunkSizeLocked(cmpU32(c.cfg.ChunkSize, DefaultChunkSize))
	s.wmu.Unlock()
	if err != nil {
		return s.ctxErr(ctx, "publish", err)
	}
	id, err := s.createStream(ctx, nil,
		&message.Command{Name: message.CommandReleaseStream, TransactionID: s.nextTx(), Args: []any{name}},
		&message.Command{Name: message.CommandFCPublish, TransactionID: s.nextTx(), Args: []any{name}},
	)
	if err != nil {
		return err
	}
	s.streamID = id
	pub := &message.Command{Name: message.CommandPublish, TransactionID: s.nextTx(), Args: []any{name, "live"}}
	if err := s.writeCommands(id, s.amf3, pub); err != nil {
		return s.ctxErr(ctx, "publish", err)
	}
	return s.waitStatus(ctx, message.CommandPublish, CodePublishStart, nil)
}

// Play sends createStream, play for name ("" means the stream name of the
// URL) and SetBufferLength, and waits for NetStream.Play.Start. A status
// of level error gives a *StatusError (see ErrStreamNotFound). Messages
// that arrive before Play.Start (StreamBegin, Play.Reset, ...) and with
// it are returned by the next ReadMessage calls.
func (c *ClientConn) Play(ctx context.Context, name string) error {
	if name == "" {
		name = c.stream
	}
	if name == "" {
		return errors.New("rtmp: play: no stream name")
	}
	c.mu.Lock()
	if c.role != roleNone || c.closed {
		c.mu.Unlock()
		return fmt.Errorf("%w: play on a conn that already publishes, plays or is closed", errState)
	}
	c.role, c.name = rolePlayer, name
	c.mu.Unlock()
	if err := c.playSession(ctx, c.cur.Load(), name); err != nil {
		c.mu.Lock()
		c.role = roleNone
		c.mu.Unlock()
		return err
	}
	return nil
}

func (c *ClientConn) playSession(ctx context.Context, s *clientSession, name string) error {
	undo := s.bindCtx(ctx)
	defer undo()
	keep := func(m *chunk.Message, cmd *message.Command) {
		if out := c.translate(s, m, cmd); out != nil {
			c.queue = append(c.queue, out.Clone())
		}
	}
	id, err := s.createStream(ctx, func(m *chunk.Message) { keep(m, nil) })
	if err != nil {
		return err
	}
	s.streamID = id
	play := &message.Command{Name: message.CommandPlay, TransactionID: s.nextTx(), Args: []any{name, float64(-2)}}
	buf := c.cfg.BufferLength
	if buf == 0 {
		buf = DefaultBufferLength
	}
	s.wmu.Lock()
	err = s.writeCommandsLocked(id, s.amf3, play)
	if err == nil {
		err = s.writeControlLocked(&message.UserControl{Event: message.EventSetBufferLength, StreamID: id, BufferLength: uint32(buf / time.Millisecond)})
	}
	s.wmu.Unlock()
	if err != nil {
		return s.ctxErr(ctx, "play", err)
	}
	return s.waitStatus(ctx, message.CommandPlay, CodePlayStart, keep)
}

// translate turns a message from the server into a Message for a player,
// or nil for messages players do not see. cmd is the decoded command when
// the caller has one.
func (c *ClientConn) translate(s *clientSession, m *chunk.Message, cmd *message.Command) *Message {
	out := &c.qmsg
	switch m.Type {
	case message.TypeAudio:
		*out = Message{Kind: KindAudio, StreamID: m.StreamID, Timestamp: m.Timestamp, Payload: m.Payload}
	case message.TypeVideo:
		*out = Message{Kind: KindVideo, StreamID: m.StreamID, Timestamp: m.Timestamp, Payload: m.Payload}
	case message.TypeDataAMF0, message.TypeDataAMF3:
		body := stripSetDataFrame(m.Type, m.Payload)
		d := &message.Data{AMF3: m.Type == message.TypeDataAMF3}
		if err := d.Unmarshal(body); err != nil {
			c.log.Debug("rtmp: ignoring malformed data message", "err", err)
			return nil
		}
		*out = Message{Kind: KindData, StreamID: m.StreamID, Timestamp: m.Timestamp, Payload: body, Data: d}
	case message.TypeUserControl:
		var uc message.UserControl
		if uc.Unmarshal(m.Payload) != nil {
			return nil
		}
		var k Kind
		switch uc.Event {
		case message.EventStreamBegin:
			k = KindStreamBegin
		case message.EventStreamEOF:
			k = KindStreamEOF
		case message.EventStreamDry:
			k = KindStreamDry
		default:
			return nil
		}
		*out = Message{Kind: k, StreamID: uc.StreamID}
	case message.TypeCommandAMF0, message.TypeCommandAMF3:
		if cmd == nil {
			msg, err := s.dec.Decode(m)
			if err != nil {
				return nil
			}
			var ok bool
			if cmd, ok = msg.(*message.Command); !ok {
				return nil
			}
		}
		if cmd.Name != message.CommandOnStatus {
			return nil
		}
		st := statusOf(cmd)
		*out = Message{Kind: KindStatus, StreamID: m.StreamID, Timestamp: m.Timestamp, Status: &st, Command: cmd}
	default:
		return nil
	}
	return out
}

// StreamID returns the message stream id of the publish or play (0
// before).
func (c *ClientConn) StreamID() uint32 {
	if s := c.cur.Load(); s != nil {
		return s.streamID
	}
	return 0
}

// Properties returns the properties object of the server's connect
// _result (fmsVer, capabilities, and for Enhanced RTMP servers
// videoFourCcInfoMap, capsEx, ...), or nil before Connect.
func (c *ClientConn) Properties() amf.Object {
	if s := c.cur.Load(); s != nil {
		return s.props
	}
	return nil
}

// errNotPublishing is returned by the Write methods before Publish.
var errNotPublishing = fmt.Errorf("%w: write before Publish", errState)

// WriteAudio writes an audio message (FLV audio tag body) on the
// publishing stream. payload is only read during the call.
func (c *ClientConn) WriteAudio(ts uint32, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	s := c.cur.Load()
	if s.streamID == 0 {
		return errNotPublishing
	}
	if flv.IsSequenceHeader(flv.TagAudio, payload) {
		c.seqAudio = append(c.seqAudio[:0], payload...)
	}
	return s.writeMedia(message.TypeAudio, message.CSIDAudio, s.streamID, ts, payload)
}

// WriteVideo writes a video message (FLV video tag body) on the publishing
// stream. payload is only read during the call.
func (c *ClientConn) WriteVideo(ts uint32, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if p := c.pending.Load(); p != nil && flv.IsKeyframe(flv.TagVideo, payload) {
		c.switchLocked(p, ts)
	}
	s := c.cur.Load()
	if s.streamID == 0 {
		return errNotPublishing
	}
	if flv.IsSequenceHeader(flv.TagVideo, payload) {
		c.seqVideo = append(c.seqVideo[:0], payload...)
	}
	return s.writeMedia(message.TypeVideo, message.CSIDVideo, s.streamID, ts, payload)
}

// WriteMetadata sends "@setDataFrame", "onMetaData", meta on the
// publishing stream; meta is usually an amf.ECMAArray.
func (c *ClientConn) WriteMetadata(meta any) error {
	body, err := amf.AppendAMF0(nil, message.DataOnMetaData)
	if err == nil {
		body, err = amf.AppendAMF0(body, meta)
	}
	if err != nil {
		return fmt.Errorf("rtmp: metadata: %w", err)
	}
	return c.WriteData(0, body)
}

// setDataFrame is the AMF0 encoding of the string "@setDataFrame".
var setDataFrame = []byte("\x02\x00\x0d@setDataFrame")

// onMetaData is the AMF0 encoding of the string "onMetaData".
var onMetaData = []byte("\x02\x00\x0aonMetaData")

// WriteData writes an AMF0 data message (type 18) whose body is payload on
// the publishing stream. A body that starts with the string "onMetaData"
// (an FLV script tag) is sent with "@setDataFrame" in front, as encoders
// do, and is remembered for a reconnect.
func (c *ClientConn) WriteData(ts uint32, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	s := c.cur.Load()
	if s.streamID == 0 {
		return errNotPublishing
	}
	if len(payload) >= len(onMetaData) && string(payload[:len(onMetaData)]) == string(onMetaData) {
		c.meta = append(c.meta[:0], payload...)
		c.dataBuf = append(append(c.dataBuf[:0], setDataFrame...), payload...)
		payload = c.dataBuf
	}
	return s.writeMedia(message.TypeDataAMF0, message.CSIDFor(message.TypeDataAMF0, s.streamID), s.streamID, ts, payload)
}

// WriteMessage writes any message as it is and flushes it. A zero m.CSID
// selects the conventional chunk stream for its type. m is only read
// during the call.
func (c *ClientConn) WriteMessage(m *chunk.Message) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.cur.Load().writeMessage(m)
}

// ReadMessage returns the next message from the server for a playing
// conn: media, data (onMetaData, |RtmpSampleAccess), statuses
// (NetStream.Play.Stop, NetStream.Play.UnpublishNotify, ...) and stream
// events (StreamBegin, StreamEOF). Control messages and pings are handled
// inside. The Message is valid until the next call. It must not be called
// on a publishing conn.
func (c *ClientConn) ReadMessage() (*Message, error) {
	c.mu.Lock()
	role := c.role
	c.mu.Unlock()
	if role == rolePublisher {
		return nil, fmt.Errorf("%w: ReadMessage on a publishing conn", errState)
	}
	for {
		if len(c.queue) > 0 {
			m := c.queue[0]
			c.queue[0] = nil
			c.queue = c.queue[1:]
			return m, nil
		}
		s := c.cur.Load()
		m, err := s.readNext()
		if err != nil {
			c.finish(err)
			return nil, err
		}
		out := c.translate(s, m, nil)
		if out == nil {
			continue
		}
		if out.Kind == KindStatus && out.Status.Code == CodeConnectReconnectRequest {
			if role == rolePlayer && c.canReconnect() {
				c.reconnectPlayer(s, out.Status)
			}
			continue
		}
		return out, nil
	}
}

func (c *ClientConn) canReconnect() bool {
	return c.dialed && !c.cfg.DisableReconnect
}

// reconnectTarget resolves the tcUrl of a reconnect request against the
// session's tcUrl.
func reconnectTarget(s *clientSession, st *Status) (tcURL, app string, err error) {
	v, _ := st.Info.Get("tcUrl")
	target, _ := amf.String(v)
	if target == "" {
		return s.tcURL, s.app, nil
	}
	base, err := url.Parse(s.tcURL)
	if err != nil {
		return "", "", err
	}
	ref, err := url.Parse(target)
	if err != nil {
		return "", "", err
	}
	abs := base.ResolveReference(ref)
	abs.RawQuery, abs.Fragment = "", ""
	app = strings.Trim(abs.Path, "/")
	if app == "" {
		return "", "", fmt.Errorf("no application in %q", target)
	}
	return abs.Scheme + "://" + abs.Host + "/" + app, app, nil
}

func (c *ClientConn) reconnectCtx() (context.Context, context.CancelFunc, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.reconn {
		return nil, nil, false
	}
	timeout := c.cfg.ReconnectTimeout
	if timeout <= 0 {
		timeout = DefaultReconnectTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	c.reconn, c.rcancel = true, cancel
	return ctx, cancel, true
}

func (c *ClientConn) reconnectDone() {
	c.mu.Lock()
	c.reconn = false
	if c.rcancel != nil {
		c.rcancel()
		c.rcancel = nil
	}
	c.mu.Unlock()
}

// reconnectPlayer follows a reconnect request while playing: it plays the
// same name on the new server, switches and closes the old connection.
func (c *ClientConn) reconnectPlayer(old *clientSession, st *Status) {
	ctx, _, ok := c.reconnectCtx()
	if !ok {
		return
	}
	defer c.reconnectDone()
	tcURL, app, err := reconnectTarget(old, st)
	if err != nil {
		c.log.Warn("rtmp: ignoring reconnect request", "err", err)
		return
	}
	ns, err := c.dialSession(ctx, tcURL, app)
	if err == nil {
		if err = c.connectSession(ctx, ns); err == nil {
			c.mu.Lock()
			name := c.name
			c.mu.Unlock()
			err = c.playSession(ctx, ns, name)
		}
		if err != nil {
			ns.closing.Store(true)
			ns.closeTransport()
		}
	}
	if err != nil {
		c.log.Warn("rtmp: reconnect failed, staying on the current connection", "tcUrl", tcURL, "err", err)
		return
	}
	c.cur.Store(ns)
	old.writeCommands(0, old.amf3, &message.Command{Name: message.CommandDeleteStream, Args: []any{float64(old.streamID)}})
	old.closing.Store(true)
	old.closeTransport()
	c.log.Info("rtmp: reconnected", "tcUrl", tcURL)
}

// startReader starts the reading goroutine of a publishing session.
func (c *ClientConn) startReader(s *clientSession) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.readLoop(s)
	}()
}

// readLoop reads a publishing session until it ends: housekeeping happens
// in readNext; reconnect requests start a reconnect; an error status ends
// the conn.
func (c *ClientConn) readLoop(s *clientSession) {
	for {
		_, cmd, err := s.readCommand(nil)
		if err != nil {
			if c.cur.Load() == s {
				c.finish(err)
			}
			return
		}
		if cmd.Name != message.CommandOnStatus {
			continue
		}
		st := statusOf(cmd)
		switch {
		case st.Code == CodeConnectReconnectRequest:
			if c.canReconnect() && c.cur.Load() == s {
				c.startPublisherReconnect(s, &st)
			}
		case st.Level == LevelError:
			err := &StatusError{Status: st, Command: message.CommandPublish}
			if c.cur.Load() == s {
				c.finish(err)
				s.fail(err)
				return
			}
		}
	}
}

// startPublisherReconnect prepares a publishing session on the server a
// reconnect request names; WriteVideo switches to it at the next
// keyframe.
func (c *ClientConn) startPublisherReconnect(old *clientSession, st *Status) {
	ctx, _, ok := c.reconnectCtx()
	if !ok {
		return
	}
	tcURL, app, err := reconnectTarget(old, st)
	if err != nil {
		c.reconnectDone()
		c.log.Warn("rtmp: ignoring reconnect request", "err", err)
		return
	}
	c.mu.Lock()
	name := c.name
	c.mu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		ns, err := c.dialSession(ctx, tcURL, app)
		if err == nil {
			if err = c.connectSession(ctx, ns); err == nil {
				err = c.publishSession(ctx, ns, name)
			}
			if err != nil {
				ns.closing.Store(true)
				ns.closeTransport()
			}
		}
		if err != nil {
			c.reconnectDone()
			c.log.Warn("rtmp: reconnect failed, staying on the current connection", "tcUrl", tcURL, "err", err)
			return
		}
		c.mu.Lock()
		closed := c.closed
		if !closed {
			c.pending.Store(ns)
		}
		c.mu.Unlock()
		if closed {
			ns.closing.Store(true)
			ns.closeTransport()
			c.reconnectDone()
			return
		}
		c.startReader(ns)
		c.log.Info("rtmp: reconnect ready, switching at the next keyframe", "tcUrl", tcURL)
	}()
}

// switchLocked makes the pending session current: it sends the metadata
// and sequence headers written so far on it, then drops the old
// connection. wmu is held.
func (c *ClientConn) switchLocked(ns *clientSession, ts uint32) {
	old := c.cur.Load()
	var err error
	if len(c.meta) > 0 {
		c.dataBuf = append(append(c.dataBuf[:0], setDataFrame...), c.meta...)
		err = ns.writeMedia(message.TypeDataAMF0, message.CSIDFor(message.TypeDataAMF0, ns.streamID), ns.streamID, ts, c.dataBuf)
	}
	if err == nil && len(c.seqVideo) > 0 {
		err = ns.writeMedia(message.TypeVideo, message.CSIDVideo, ns.streamID, ts, c.seqVideo)
	}
	if err == nil && len(c.seqAudio) > 0 {
		err = ns.writeMedia(message.TypeAudio, message.CSIDAudio, ns.streamID, ts, c.seqAudio)
	}
	c.pending.Store(nil)
	if err != nil {
		c.log.Warn("rtmp: reconnect switch failed, staying on the current connection", "err", err)
		ns.closing.Store(true)
		ns.closeTransport()
		c.reconnectDone()
		return
	}
	c.cur.Store(ns)
	old.closing.Store(true)
	old.closeTransport()
	c.reconnectDone()
	c.log.Info("rtmp: switched to the new connection", "tcUrl", ns.tcURL)
}

// finish records why the conn ended and closes Done.
func (c *ClientConn) finish(err error) {
	c.errMu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.errMu.Unlock()
	c.doneOnce.Do(func() { close(c.done) })
}

// Done returns a channel closed when the conn has ended (after Close, a
// read or write error of a publishing conn, or an error status from the
// server).
func (c *ClientConn) Done() <-chan struct{} { return c.done }

// Err returns why the conn ended, or nil while it is usable.
func (c *ClientConn) Err() error {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	return c.err
}

// Close ends the session politely (FCUnpublish and deleteStream for a
// publisher, deleteStream for a player), closes the connection and waits
// for the conn's goroutines. Later calls return nil.
func (c *ClientConn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	role, name := c.role, c.name
	if c.rcancel != nil {
		c.rcancel()
	}
	c.mu.Unlock()

	c.wmu.Lock()
	s := c.cur.Load()
	if s.Err() == nil && s.streamID != 0 {
		var cmds []*message.Command
		if role == rolePublisher {
			cmds = append(cmds, &message.Command{Name: message.CommandFCUnpublish, TransactionID: s.nextTx(), Args: []any{name}})
		}
		cmds = append(cmds, &message.Command{Name: message.CommandDeleteStream, TransactionID: s.nextTx(), Args: []any{float64(s.streamID)}})
		s.writeCommands(0, s.amf3, cmds...)
	}
	s.closing.Store(true)
	err := s.closeTransport()
	if p := c.pending.Swap(nil); p != nil {
		p.closing.Store(true)
		p.closeTransport()
	}
	c.wmu.Unlock()
	c.wg.Wait()
	c.finish(ErrClosed)
	return err
}
