package rtmp

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tributary-media/tributary/pkg/rtmp/amf"
	"github.com/tributary-media/tributary/pkg/rtmp/chunk"
	"github.com/tributary-media/tributary/pkg/rtmp/handshake"
	"github.com/tributary-media/tributary/pkg/rtmp/message"
)

// Defaults a zero ServerConfig or ClientConfig stands for.
const (
	// DefaultChunkSize is the outgoing chunk size a conn announces with
	// Set Chunk Size before anything larger than 128 bytes.
	DefaultChunkSize = 4096
	// DefaultWindowAckSize is the Window Acknowledgement Size and Set Peer
	// Bandwidth window a server conn sends at connect.
	DefaultWindowAckSize = 2_500_000
	// DefaultMaxStreams is the default number of message streams
	// (createStream) one client may hold open.
	DefaultMaxStreams = 16
	// DefaultFMSVersion is the fmsVer a server conn announces in the
	// connect _result.
	DefaultFMSVersion = "FMS/3,0,1,123"
)

// ServerConfig configures a [ServerConn]. The zero value is ready to use.
type ServerConfig struct {
	// Logger receives connection-level logs; nil discards them.
	Logger *slog.Logger
	// Handshake configures the handshake.
	Handshake handshake.ServerConfig
	// Chunk holds the limits applied to what the client sends. The zero
	// value selects the chunk package's safe defaults. LenientFreshFmt1 is
	// always on for server conns: librtmp-based clients send their first
	// acknowledgement on a fresh chunk stream with a fmt 1 header.
	Chunk chunk.Config
	// AMF bounds the decoding of commands and data messages; the zero
	// value applies the amf package defaults.
	AMF amf.Decoder
	// ChunkSize is the outgoing chunk size; 0 means DefaultChunkSize.
	ChunkSize uint32
	// WindowAckSize is the Window Acknowledgement Size and Set Peer
	// Bandwidth (dynamic) window sent at connect; 0 means
	// DefaultWindowAckSize.
	WindowAckSize uint32
	// MaxStreams is the most message streams a client may create; 0 means
	// DefaultMaxStreams. createStream beyond it is answered with _error.
	MaxStreams int
	// MaxCommandSize is the largest command message (and shared object
	// message) accepted, in bytes; a larger one ends the conn. 0 means
	// 64 KiB.
	MaxCommandSize int
	// FMSVersion is the fmsVer property of the connect _result; "" means
	// DefaultFMSVersion.
	FMSVersion string
	// VideoFourCCInfoMap is what the server advertises as its
	// videoFourCcInfoMap to Enhanced RTMP clients; nil means {"*":
	// FourCCCanForward}.
	VideoFourCCInfoMap map[string]uint32
	// AudioFourCCInfoMap is the advertised audioFourCcInfoMap; nil means
	// {"*": FourCCCanForward}.
	AudioFourCCInfoMap map[string]uint32
	// CapsEx is the advertised capsEx; 0 means CapsExReconnect |
	// CapsExMultitrack | CapsExModEx | CapsExTimestampNanoOffset (a
	// forwarding server passes such media on unchanged).
	CapsEx uint32
}

// ServerConn is the server side of one RTMP connection, used pull-style:
//
//	c := rtmp.NewServerConn(netConn, cfg)
//	req, err := c.ReadConnect()        // handshake, then the connect command
//	err = c.AcceptConnect(nil)         // or c.RejectConnect(...)
//	for {
//		m, err := c.ReadMessage()      // media, data, publish/play requests, ...
//		...
//	}
//
// Exactly one goroutine may read (Handshake, ReadConnect, ReadMessage);
// any goroutine may call the other methods. See the package documentation
// for buffer ownership.
type ServerConn struct {
	*core
	cfg ServerConfig

	hsDone bool
	hsRes  handshake.Result

	// created is when NewServerConn made the conn; hsStart and hsEnd when
	// the handshake began and completed. They belong to the reading
	// goroutine.
	created, hsStart, hsEnd time.Time

	// onConnect is called once the connect command has been read (the
	// Server uses it to switch from the handshake timeout to the idle
	// timeout).
	onConnect func()

	mu         sync.Mutex // guards the fields below
	connReq    *ConnectRequest
	connAMF3   bool // connect arrived as type 17
	lastAMF3   bool // the last command arrived as type 17
	connected  bool
	rejected   bool
	streams    streamTable
	nextStream uint32
	// solePublish is the id of the only stream with an accepted publish,
	// or 0 when none or several have one (createStream never returns 0,
	// and a publish on stream 0 is refused). Media on message stream 0 is
	// taken as this stream's.
	solePublish uint32
	// onClose is called by the Server once it has closed the conn.
	onClose func(CloseInfo)

	msg Message // returned by ReadMessage
}

// serverStream is the state of one message stream created by createStream.
type serverStream struct {
	publish    *PublishRequest // pending or accepted publish
	publishing bool
	play       *PlayRequest // pending or accepted play
	playing    bool
	amf3       bool // the publish or play arrived as type 17
}

// NewServerConn returns a server conn over rw (usually a net.Conn). It
// starts no goroutine and does no I/O; the handshake runs on the first
// Handshake, ReadConnect or ReadMessage call. The caller owns deadlines.
func NewServerConn(rw io.ReadWriter, cfg ServerConfig) *ServerConn {
	ccfg := cfg.Chunk
	ccfg.LenientFreshFmt1 = true
	c := &ServerConn{
		core:    newCore(rw, cfg.Logger, ccfg, cfg.AMF),
		cfg:     cfg,
		created: time.Now(),
	}
	if cfg.MaxCommandSize > 0 {
		c.maxCmd = cfg.MaxCommandSize
	}
	return c
}

// Handshake runs the server side of the RTMP handshake if it has not run
// yet.
func (c *ServerConn) Handshake() error {
	if c.hsDone {
		return nil
	}
	if err := c.Err(); err != nil {
		return err
	}
	c.hsStart = time.Now()
	res, err := handshake.Server(c.rw, c.cfg.Handshake)
	if err != nil {
		if c.closing.Load() {
			err = ErrClosed
		}
		return c.fail(err)
	}
	c.hsDone, c.hsRes, c.hsEnd = true, res, time.Now()
	return nil
}

// HandshakeResult returns what the handshake negotiated (zero before it
// completed).
func (c *ServerConn) HandshakeResult() handshake.Result { return c.hsRes }

// Created returns when NewServerConn made the conn: for the conns of a
// Server, right after the connection was accepted.
func (c *ServerConn) Created() time.Time { return c.created }

// HandshakeTimes returns when the handshake began and when it completed;
// both are zero until it has completed. Call it from the goroutine that
// reads (for a Server's conn, the handler's).
func (c *ServerConn) HandshakeTimes() (start, end time.Time) {
	if !c.hsDone {
		return time.Time{}, time.Time{}
	}
	return c.hsStart, c.hsEnd
}

// CloseInfo is how a connection served by a Server ended, as the Server's
// "rtmp: connection closed" log line tells it.
type CloseInfo struct {
	// Reason is the log line's reason: "closed by the peer", "closed by
	// the handler", "server shutdown", a timeout, a protocol violation, an
	// exceeded limit, a handler panic or the handler's error.
	Reason string
	// Level is the log line's level: slog.LevelInfo for a normal end,
	// slog.LevelWarn for a timeout, a protocol violation, an exceeded
	// limit or another error, slog.LevelError for a handler panic (see
	// Handler).
	Level slog.Level
	// Err is the error the reason describes; nil when the handler or the
	// server closed the conn without one.
	Err error
	// BytesIn and BytesOut count the bytes read from and written to the
	// connection, handshake included.
	BytesIn, BytesOut uint64
	// Duration is the time from accept to close.
	Duration time.Duration
	// Remote is the peer's address.
	Remote string
	// Connected reports whether the connect command was read.
	Connected bool
	// Timeout is the timeout that ended the connection, or NoTimeout.
	Timeout Timeout
}

// Abnormal reports whether the connection ended abnormally: its log line
// is above Info.
func (i CloseInfo) Abnormal() bool { return i.Level > slog.LevelInfo }

// OnClose sets a function the Server that serves c calls once, after the
// handler has returned and the conn is closed, with what the Server logs
// about the close; a later call replaces it, nil removes it. It is for
// handlers that report their connection's end elsewhere (a trace span). A
// conn that is not served by a Server never calls it.
func (c *ServerConn) OnClose(f func(CloseInfo)) {
	c.mu.Lock()
	c.onClose = f
	c.mu.Unlock()
}

// ReadConnect runs the handshake if needed, then reads until the client's
// connect command and returns it. Control messages that arrive before it
// are applied; any other message before connect is a protocol error.
func (c *ServerConn) ReadConnect() (*ConnectRequest, error) {
	if err := c.Handshake(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	req := c.connReq
	c.mu.Unlock()
	if req != nil {
		return req, nil
	}
	for {
		m, err := c.readNext()
		if err != nil {
			return nil, err
		}
		switch m.Type {
		case message.TypeCommandAMF0, message.TypeCommandAMF3:
		case message.TypeUserControl:
			continue
		default:
			return nil, c.fail(fmt.Errorf("%w: message type %d before connect", errProtocol, m.Type))
		}
		cmd, err := c.decodeCommand(m)
		if err != nil {
			return nil, c.fail(fmt.Errorf("%w: before connect: %w", errProtocol, err))
		}
		if cmd.Name != message.CommandConnect {
			return nil, c.fail(fmt.Errorf("%w: command %q before connect", errProtocol, cmd.Name))
		}
		req := parseConnect(cmd)
		c.mu.Lock()
		c.connReq = req
		c.connAMF3 = cmd.AMF3
		c.lastAMF3 = cmd.AMF3
		c.mu.Unlock()
		if c.onConnect != nil {
			c.onConnect()
		}
		return req, nil
	}
}

func (c *ServerConn) decodeCommand(m *chunk.Message) (*message.Command, error) {
	msg, err := c.dec.Decode(m)
	if err != nil {
		return nil, err
	}
	cmd, ok := msg.(*message.Command)
	if !ok {
		return nil, fmt.Errorf("%w: message type %d is not a command", errProtocol, m.Type)
	}
	return cmd, nil
}

// parseConnect builds a ConnectRequest from a connect command.
func parseConnect(cmd *message.Command) *ConnectRequest {
	req := &ConnectRequest{TransactionID: cmd.TransactionID, Args: cmd.Args, Query: url.Values{}}
	props, _ := amf.Props(cmd.Object)
	req.Object = amf.Object(props)
	str := func(key string) string {
		v, _ := req.Object.Get(key)
		s, _ := amf.String(v)
		return s
	}
	req.TCURL = str("tcUrl")
	req.FlashVer = str("flashVer")
	req.SwfURL = str("swfUrl")
	req.PageURL = str("pageUrl")
	req.Type = str("type")
	if v, ok := req.Object.Get("objectEncoding"); ok {
		req.ObjectEncoding, _ = amf.Number(v)
	}
	if u, err := url.Parse(req.TCURL); err == nil {
		for k, vs := range u.Query() {
			req.Query[k] = vs
		}
	}
	app := str("app")
	if i := strings.IndexByte(app, '?'); i >= 0 {
		if q, err := url.ParseQuery(app[i+1:]); err == nil {
			for k, vs := range q {
				req.Query[k] = vs
			}
		}
		app = app[:i]
	}
	req.App = strings.TrimRight(app, "/")
	if v, ok := req.Object.Get("fourCcList"); ok {
		req.Enhanced = true
		if list, ok := v.(amf.StrictArray); ok {
			for _, e := range list {
				if s, ok := amf.String(e); ok {
					req.FourCCList = append(req.FourCCList, s)
				}
			}
		}
	}
	if v, ok := req.Object.Get("videoFourCcInfoMap"); ok {
		req.Enhanced = true
		req.VideoFourCCInfoMap = fourCCMap(v)
	}
	if v, ok := req.Object.Get("audioFourCcInfoMap"); ok {
		req.Enhanced = true
		req.AudioFourCCInfoMap = fourCCMap(v)
	}
	if v, ok := req.Object.Get("capsEx"); ok {
		req.Enhanced = true
		if n, ok := amf.Number(v); ok && n >= 0 && n <= 0xFFFFFFFF {
			req.CapsEx = uint32(n)
		}
	}
	return req
}

func fourCCMap(v any) map[string]uint32 {
	props, ok := amf.Props(v)
	if !ok {
		return nil
	}
	m := make(map[string]uint32, len(props))
	for _, p := range props {
		if n, ok := amf.Number(p.Value); ok && n >= 0 && n <= 0xFFFFFFFF {
			m[p.Key] = uint32(n)
		}
	}
	return m
}

func fourCCObject(m map[string]uint32) amf.Object {
	o := make(amf.Object, 0, len(m))
	if v, ok := m["*"]; ok {
		o = append(o, amf.Property{Key: "*", Value: float64(v)})
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		if k != "*" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		o = append(o, amf.Property{Key: k, Value: float64(m[k])})
	}
	return o
}

// ConnectRequest returns the connect request read by ReadConnect, or nil.
func (c *ServerConn) ConnectRequest() *ConnectRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.connReq
}

// AcceptConnect answers the connect request: Window Acknowledgement Size,
// Set Peer Bandwidth (dynamic), Set Chunk Size, then the _result with
// fmsVer, capabilities and mode (plus the server's Enhanced RTMP
// capabilities for clients that sent any) and the information object
// {level "status", code NetConnection.Connect.Success, description,
// objectEncoding}. info, if not empty, is appended to the information
// object (e.g. a "data" object or a "clientid").
func (c *ServerConn) AcceptConnect(info amf.Object) error {
	c.mu.Lock()
	req, amf3 := c.connReq, c.connAMF3
	if req == nil || c.connected || c.rejected {
		c.mu.Unlock()
		return fmt.Errorf("%w: AcceptConnect without a pending connect", errState)
	}
	c.connected = true
	c.mu.Unlock()

	win := c.cfg.WindowAckSize
	if win == 0 {
		win = DefaultWindowAckSize
	}
	props := amf.Object{
		{Key: "fmsVer", Value: cmp(c.cfg.FMSVersion, DefaultFMSVersion)},
		{Key: "capabilities", Value: float64(31)},
		{Key: "mode", Value: float64(1)},
	}
	if req.Enhanced {
		video, audio := c.cfg.VideoFourCCInfoMap, c.cfg.AudioFourCCInfoMap
		if video == nil {
			video = map[string]uint32{"*": FourCCCanForward}
		}
		if audio == nil {
			audio = map[string]uint32{"*": FourCCCanForward}
		}
		caps := c.cfg.CapsEx
		if caps == 0 {
			caps = CapsExReconnect | CapsExMultitrack | CapsExModEx | CapsExTimestampNanoOffset
		}
		props = append(props,
			amf.Property{Key: "videoFourCcInfoMap", Value: fourCCObject(video)},
			amf.Property{Key: "audioFourCcInfoMap", Value: fourCCObject(audio)},
			amf.Property{Key: "capsEx", Value: float64(caps)},
		)
	}
	infoObj := message.StatusInfo(LevelStatus, CodeConnectSuccess, "Connection succeeded.",
		amf.Property{Key: "objectEncoding", Value: req.ObjectEncoding})
	infoObj = append(infoObj, info...)

	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.writeTypedLocked(&message.WindowAckSize{Size: win}, 0); err != nil {
		return err
	}
	c.peerBW.Sent(win)
	if err := c.writeTypedLocked(&message.SetPeerBandwidth{Window: win, Limit: message.LimitDynamic}, 0); err != nil {
		return err
	}
	if err := c.setChunkSizeLocked(cmpU32(c.cfg.ChunkSize, DefaultChunkSize)); err != nil {
		return err
	}
	return c.writeCommandsLocked(0, amf3, message.Result(req.TransactionID, props, infoObj))
}

// RejectConnect answers the connect request with an _error carrying
// level "error", the code (CodeConnectRejected when empty) and the
// description, then closes the conn. The conn's Err reports a
// *StatusError with that code.
func (c *ServerConn) RejectConnect(code, description string) error {
	c.mu.Lock()
	req, amf3 := c.connReq, c.connAMF3
	if req == nil || c.connected || c.rejected {
		c.mu.Unlock()
		return fmt.Errorf("%w: RejectConnect without a pending connect", errState)
	}
	c.rejected = true
	c.mu.Unlock()
	code = cmp(code, CodeConnectRejected)
	c.wmu.Lock()
	err := c.setChunkSizeLocked(cmpU32(c.cfg.ChunkSize, DefaultChunkSize))
	if err == nil {
		err = c.writeCommandsLocked(0, amf3,
			message.ErrorResult(req.TransactionID, nil, message.StatusInfo(LevelError, code, description)))
	}
	c.wmu.Unlock()
	c.fail(&StatusError{Status: Status{Level: LevelError, Code: code, Description: description}, Command: message.CommandConnect})
	return err
}

// ReadMessage returns the next message for the application. It answers
// protocol control, pings and the stream commands the application does
// not decide on (releaseStream, FCPublish, createStream, getStreamLength,
// _checkbw, unknown calls, ...) by itself, splits aggregate messages, and
// returns media, data, requests and stream events. Media arrives only on
// streams whose publish was accepted; anything else is dropped. Audio,
// video and data messages on message stream 0 are the exception when the
// conn has exactly one accepted publish: some clients (node-media-server's,
// for one) send all media on stream 0 after publishing on the stream
// createStream returned, so such messages are returned as that stream's,
// with Message.StreamID set to its id. With no or several accepted
// publishes they are dropped. The returned Message and its Payload are
// valid until the next ReadMessage call.
//
// An error ends the conn: the application should Close it and report the
// error as the reason. io.EOF means the client closed the connection
// between messages.
func (c *ServerConn) ReadMessage() (*Message, error) { return c.readMessage(nil) }

// ReadOrPark is ReadMessage that lets the handler's goroutine end while the
// connection waits for its peer: a connection that mostly waits, a
// player's, then costs no goroutine stack, and thousands of them add up.
//
// When the connection has no input buffered (before a message, or after
// the control messages it handles itself), ReadOrPark returns ErrParked,
// which the handler must return at once, without touching the connection
// again. When the peer sends data or closes, the idle timeout expires or
// the connection is closed, resume is called on a new goroutine, which
// owns the connection from then on: what resume returns ends the
// connection as the handler's result would have, and resume may park
// again (it returns ErrParked from its own ReadOrPark). The server's
// context, timeouts, pings and close log apply throughout.
//
// It never parks, and is ReadMessage, when the connection is not served by
// a [Server] or is not a plain TCP connection (RTMPS, a wrapper that
// hides its socket, or a platform without the needed socket call). A
// wrapper around the server's net.Conn must return the wrapped connection
// from a NetConn method and must not buffer input.
func (c *ServerConn) ReadOrPark(resume func() error) (*Message, error) {
	if c.park == nil {
		return c.readMessage(nil)
	}
	c.parkable = true
	m, err := c.readMessage(resume)
	if err != ErrParked {
		c.parkable = false
	}
	return m, err
}

func (c *ServerConn) readMessage(resume func() error) (*Message, error) {
	c.mu.Lock()
	ok := c.connected
	c.mu.Unlock()
	if !ok {
		if err := c.Err(); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: ReadMessage before AcceptConnect", errState)
	}
	for {
		m, err := c.readNext()
		if err != nil {
			if err == errParkNow {
				// A parked conn holds no input buffer. From here on the
				// conn is the waiting goroutine's.
				c.r.Release()
				c.parkable = false
				c.park.resume = resume
				c.park.park() // the conn is no longer this goroutine's
				return nil, ErrParked
			}
			return nil, err
		}
		out := &c.msg
		switch m.Type {
		case message.TypeAudio, message.TypeVideo:
			id, ok := c.publishingStream(m.StreamID)
			if !ok {
				continue
			}
			kind := KindVideo
			if m.Type == message.TypeAudio {
				kind = KindAudio
			}
			*out = Message{Kind: kind, StreamID: id, Timestamp: m.Timestamp, Payload: m.Payload}
			return out, nil
		case message.TypeDataAMF0, message.TypeDataAMF3:
			id, ok := c.publishingStream(m.StreamID)
			if !ok {
				continue
			}
			body := stripSetDataFrame(m.Type, m.Payload)
			d := &message.Data{AMF3: m.Type == message.TypeDataAMF3}
			// body starts at the name (a string), so the AMF3 form decodes
			// without its format byte.
			if derr := d.Unmarshal(body); derr != nil {
				c.debug("rtmp: ignoring malformed data message", derr)
				continue
			}
			*out = Message{Kind: KindData, StreamID: id, Timestamp: m.Timestamp, Payload: body, Data: d}
			return out, nil
		case message.TypeCommandAMF0, message.TypeCommandAMF3:
			cmd, err := c.decodeCommand(m)
			if err != nil {
				if errors.Is(err, message.ErrMalformed) {
					c.debug("rtmp: ignoring malformed command", err)
					continue
				}
				return nil, c.fail(err)
			}
			ret, err := c.handleCommand(m, cmd, out)
			if err != nil {
				return nil, err
			}
			if ret {
				return out, nil
			}
		default:
			// User control events from a client (other than pings), shared
			// objects and unknown types are ignored.
		}
	}
}

// publishingStream returns the stream that media received on message
// stream id belongs to: id itself if its publish was accepted, else, for
// id 0, the conn's only accepted publish. ok is false when the media is to
// be dropped.
func (c *ServerConn) publishingStream(id uint32) (stream uint32, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.streams.get(id); s != nil && s.publishing {
		return id, true
	}
	if id == 0 && c.solePublish != 0 {
		return c.solePublish, true
	}
	return 0, false
}

// updateSolePublishLocked recomputes solePublish after a publish started
// or ended or a stream was deleted. mu is held.
func (c *ServerConn) updateSolePublishLocked() {
	c.solePublish = 0
	n := 0
	for _, e := range c.streams {
		if e.s.publishing {
			c.solePublish = e.id
			n++
		}
	}
	if n != 1 {
		c.solePublish = 0
	}
}

// streamTable holds the state of a conn's message streams. A conn has
// few (MaxStreams bounds them), mostly one: a slice costs a fraction of a
// map.
type streamTable []streamEntry

type streamEntry struct {
	id uint32
	s  *serverStream
}

// streamsFullLocked reports whether the conn has MaxStreams streams. mu is
// held.
func (c *ServerConn) streamsFullLocked() bool {
	limit := c.cfg.MaxStreams
	if limit <= 0 {
		limit = DefaultMaxStreams
	}
	return len(c.streams) >= limit
}

func (t streamTable) get(id uint32) *serverStream {
	for i := range t {
		if t[i].id == id {
			return t[i].s
		}
	}
	return nil
}

func (t *streamTable) set(id uint32, s *serverStream) {
	for i := range *t {
		if (*t)[i].id == id {
			(*t)[i].s = s
			return
		}
	}
	*t = append(*t, streamEntry{id: id, s: s})
}

func (t *streamTable) del(id uint32) {
	for i := range *t {
		if (*t)[i].id == id {
			*t = slices.Delete(*t, i, i+1)
			return
		}
	}
}

// handleCommand answers a command or turns it into a Message; ret reports
// whether out was filled.
func (c *ServerConn) handleCommand(m *chunk.Message, cmd *message.Command, out *Message) (ret bool, err error) {
	c.mu.Lock()
	c.lastAMF3 = cmd.AMF3
	c.mu.Unlock()
	tx, a3 := cmd.TransactionID, cmd.AMF3
	arg := func(i int) any {
		if i < len(cmd.Args) {
			return cmd.Args[i]
		}
		return nil
	}
	switch cmd.Name {
	case message.CommandConnect:
		return false, c.fail(fmt.Errorf("%w: second connect", errProtocol))

	case message.CommandCreateStream:
		c.mu.Lock()
		if c.streamsFullLocked() {
			c.mu.Unlock()
			return false, c.writeCommands(0, a3, message.ErrorResult(tx, nil,
				message.StatusInfo(LevelError, "NetConnection.Call.Failed", "Too many streams.")))
		}
		c.nextStream++
		for c.streams.get(c.nextStream) != nil || c.nextStream == 0 {
			c.nextStream++
		}
		id := c.nextStream
		c.streams.set(id, &serverStream{})
		c.mu.Unlock()
		return false, c.writeCommands(0, a3, message.CreateStreamResult(tx, id))

	case message.CommandReleaseStream, message.CommandFCSubscribe:
		return false, c.replyNull(tx, a3)

	case message.CommandFCPublish:
		name, _ := amf.String(arg(0))
		c.wmu.Lock()
		defer c.wmu.Unlock()
		cmds := []*message.Command{}
		if tx != 0 {
			cmds = append(cmds, message.Result(tx, nil, nil))
		}
		cmds = append(cmds, &message.Command{Name: message.CommandOnFCPublish, Args: []any{amf.Object{
			{Key: "code", Value: CodePublishStart},
			{Key: "description", Value: "FCPublish to stream " + name + "."},
		}}})
		return false, c.writeCommandsLocked(0, a3, cmds...)

	case message.CommandFCUnpublish:
		name, _ := amf.String(arg(0))
		base, _, _ := strings.Cut(name, "?")
		c.mu.Lock()
		var id uint32
		var found bool
		for _, e := range c.streams {
			if s := e.s; s.publishing && s.publish != nil && (s.publish.Name == base || s.publish.RawName == name) {
				id, found = e.id, true
				break
			}
		}
		c.mu.Unlock()
		c.wmu.Lock()
		cmds := []*message.Command{{Name: message.CommandOnFCUnpublish, Args: []any{amf.Object{
			{Key: "code", Value: CodeUnpublishSuccess},
			{Key: "description", Value: "FCUnpublish to stream " + name + "."},
		}}}}
		if tx != 0 {
			cmds = append(cmds, message.Result(tx, nil, nil))
		}
		err := c.writeCommandsLocked(0, a3, cmds...)
		c.wmu.Unlock()
		if !found {
			return false, err
		}
		// The publish ends even if the reply could not be written: clients
		// often close right after FCUnpublish and deleteStream.
		return c.endPublish(id, cmd, out)

	case message.CommandDeleteStream, message.CommandCloseStream:
		id := m.StreamID
		if cmd.Name == message.CommandDeleteStream {
			n, _ := amf.Number(arg(0))
			if n < 0 || n > 0xFFFFFFFF {
				return false, nil
			}
			id = uint32(n)
		}
		c.mu.Lock()
		s := c.streams.get(id)
		publishing := s != nil && s.publishing
		if cmd.Name == message.CommandDeleteStream {
			c.streams.del(id)
			c.updateSolePublishLocked()
		} else if s != nil && !publishing {
			s.play, s.playing, s.publish = nil, false, nil
		}
		c.mu.Unlock()
		if s == nil {
			return false, nil
		}
		if publishing {
			return c.endPublish(id, cmd, out)
		}
		*out = Message{Kind: KindCloseStream, StreamID: id, Command: cmd}
		return true, nil

	case message.CommandGetStreamLength:
		if tx == 0 {
			return false, nil
		}
		return false, c.writeCommands(0, a3, message.Result(tx, nil, float64(0)))

	case message.CommandPublish:
		return c.handlePublish(m, cmd, out)

	case message.CommandPlay:
		return c.handlePlay(m, cmd, out)

	case message.CommandPause:
		paused, _ := amf.Bool(arg(0))
		pos, _ := amf.Number(arg(1))
		var err error
		if paused {
			err = c.sendStatusEvent(m.StreamID, a3, CodePauseNotify, "Paused stream.", message.EventStreamEOF)
		} else {
			err = c.sendStatusEvent(m.StreamID, a3, CodeUnpauseNotify, "Unpaused stream.", message.EventStreamBegin)
		}
		if err != nil {
			return false, err
		}
		ts := uint32(0)
		if pos > 0 && pos < 0xFFFFFFFF {
			ts = uint32(pos)
		}
		*out = Message{Kind: KindPause, StreamID: m.StreamID, Timestamp: ts, Paused: paused, Command: cmd}
		return true, nil

	case message.CommandReceiveAudio, message.CommandReceiveVideo, message.CommandSeek, message.CommandPlay2:
		*out = Message{Kind: KindCommand, StreamID: m.StreamID, Timestamp: m.Timestamp, Command: cmd}
		return true, nil

	case message.CommandResult, message.CommandError, message.CommandOnStatus, message.CommandOnBWDone:
		return false, nil // replies to nothing we asked, or notifications

	case message.CommandCheckBW:
		return false, c.replyNull(tx, a3)

	default:
		// Unknown calls get an empty _result so that clients waiting for
		// one carry on (SRS answers Haivision's calls this way), and are
		// shown to the application.
		if err := c.replyNull(tx, a3); err != nil {
			return false, err
		}
		*out = Message{Kind: KindCommand, StreamID: m.StreamID, Timestamp: m.Timestamp, Command: cmd}
		return true, nil
	}
}

// replyNull answers "_result", tx, null, null (nothing for transaction 0).
func (c *ServerConn) replyNull(tx float64, amf3 bool) error {
	if tx == 0 {
		return nil
	}
	return c.writeCommands(0, amf3, message.Result(tx, nil, nil))
}

func (c *ServerConn) sendStatusEvent(streamID uint32, amf3 bool, code, desc string, ev message.Event) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.writeCommandsLocked(streamID, amf3, message.OnStatus(LevelStatus, code, desc)); err != nil {
		return err
	}
	return c.writeControlLocked(userControl(ev, streamID))
}

// endPublish ends the publish on stream id, sends Unpublish.Success and
// fills out with KindUnpublish.
func (c *ServerConn) endPublish(id uint32, cmd *message.Command, out *Message) (bool, error) {
	c.mu.Lock()
	s := c.streams.get(id)
	var amf3 bool
	if s != nil {
		amf3 = s.amf3
		s.publishing = false
	}
	c.updateSolePublishLocked()
	c.mu.Unlock()
	// Best effort: the event is returned even if the client has gone; the
	// next ReadMessage reports the conn's error.
	c.writeCommands(id, amf3, message.OnStatus(LevelStatus, CodeUnpublishSuccess, "Stop publishing."))
	*out = Message{Kind: KindUnpublish, StreamID: id, Command: cmd}
	return true, nil
}

func splitName(raw string) (string, url.Values) {
	name, q, found := strings.Cut(raw, "?")
	if !found {
		return name, url.Values{}
	}
	vals, err := url.ParseQuery(q)
	if err != nil {
		vals = url.Values{}
	}
	return name, vals
}

func (c *ServerConn) handlePublish(m *chunk.Message, cmd *message.Command, out *Message) (bool, error) {
	raw, _ := amf.String(argAt(cmd.Args, 0))
	typ, _ := amf.String(argAt(cmd.Args, 1))
	name, q := splitName(raw)
	req := &PublishRequest{
		StreamID: m.StreamID, TransactionID: cmd.TransactionID,
		Name: name, Query: q, RawName: raw, Type: typ, Args: cmd.Args,
	}
	c.mu.Lock()
	s := c.streams.get(m.StreamID)
	if s == nil && m.StreamID != 0 && !c.streamsFullLocked() {
		// Some clients publish without createStream; accept the stream id
		// they use.
		s = &serverStream{}
		c.streams.set(m.StreamID, s)
	}
	busy := s == nil || s.publishing || s.playing || s.publish != nil || s.play != nil
	if !busy {
		s.publish, s.amf3 = req, cmd.AMF3
	}
	c.mu.Unlock()
	if busy {
		return false, c.writeCommands(m.StreamID, cmd.AMF3,
			message.OnStatus(LevelError, CodePublishBadName, "Stream is busy."))
	}
	*out = Message{Kind: KindPublish, StreamID: m.StreamID, Timestamp: m.Timestamp, Publish: req}
	return true, nil
}

func (c *ServerConn) handlePlay(m *chunk.Message, cmd *message.Command, out *Message) (bool, error) {
	raw, _ := amf.String(argAt(cmd.Args, 0))
	name, q := splitName(raw)
	req := &PlayRequest{
		StreamID: m.StreamID, TransactionID: cmd.TransactionID,
		Name: name, Query: q, RawName: raw, Start: -2, Duration: -1, Reset: true, Args: cmd.Args,
	}
	if n, ok := amf.Number(argAt(cmd.Args, 1)); ok {
		req.Start = n
	}
	if n, ok := amf.Number(argAt(cmd.Args, 2)); ok {
		req.Duration = n
	}
	if b, ok := amf.Bool(argAt(cmd.Args, 3)); ok {
		req.Reset = b
	}
	c.mu.Lock()
	s := c.streams.get(m.StreamID)
	if s == nil && m.StreamID != 0 && !c.streamsFullLocked() {
		s = &serverStream{}
		c.streams.set(m.StreamID, s)
	}
	busy := s == nil || s.publishing || s.publish != nil
	if !busy {
		s.play, s.playing, s.amf3 = req, false, cmd.AMF3
	}
	c.mu.Unlock()
	if busy {
		return false, c.writeCommands(m.StreamID, cmd.AMF3,
			message.OnStatus(LevelError, CodePlayFailed, "Stream is busy."))
	}
	*out = Message{Kind: KindPlay, StreamID: m.StreamID, Timestamp: m.Timestamp, Play: req}
	return true, nil
}

func argAt(args []any, i int) any {
	if i < len(args) {
		return args[i]
	}
	return nil
}

// streamFor returns stream id if match accepts it (typically: the request
// is still pending on it).
func (c *ServerConn) streamFor(id uint32, match func(*serverStream) bool) (*serverStream, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.streams.get(id)
	if s == nil || !match(s) {
		return nil, fmt.Errorf("%w: no such pending request on stream %d", errState, id)
	}
	return s, nil
}

// AcceptPublish answers req with onStatus NetStream.Publish.Start (command
// object null) on req.StreamID. Media for the stream then arrives from
// ReadMessage, with StreamID req.StreamID; while this is the conn's only
// accepted publish, so does media the client sends on message stream 0
// (see ReadMessage).
func (c *ServerConn) AcceptPublish(req *PublishRequest) error {
	s, err := c.streamFor(req.StreamID, func(s *serverStream) bool { return s.publish == req && !s.publishing })
	if err != nil {
		return err
	}
	c.mu.Lock()
	s.publishing = true
	amf3 := s.amf3
	c.updateSolePublishLocked()
	c.mu.Unlock()
	return c.writeCommands(req.StreamID, amf3,
		message.OnStatus(LevelStatus, CodePublishStart, req.Name+" is now published."))
}

// RejectPublish answers req with an onStatus of level "error" carrying code
// (CodePublishBadName, CodePublishBadAuth, CodePublishFailed, ...;
// CodePublishFailed when empty) and description. The conn stays open; the
// client usually closes it.
func (c *ServerConn) RejectPublish(req *PublishRequest, code, description string) error {
	s, err := c.streamFor(req.StreamID, func(s *serverStream) bool { return s.publish == req && !s.publishing })
	if err != nil {
		return err
	}
	c.mu.Lock()
	s.publish = nil
	amf3 := s.amf3
	c.mu.Unlock()
	return c.writeCommands(req.StreamID, amf3,
		message.OnStatus(LevelError, cmp(code, CodePublishFailed), description))
}

// AcceptPlay answers req with StreamBegin, onStatus NetStream.Play.Reset,
// NetStream.Play.Start and |RtmpSampleAccess on req.StreamID. The
// application then writes metadata, sequence headers and media to
// req.StreamID.
func (c *ServerConn) AcceptPlay(req *PlayRequest) error {
	s, err := c.streamFor(req.StreamID, func(s *serverStream) bool { return s.play == req && !s.playing })
	if err != nil {
		return err
	}
	c.mu.Lock()
	s.playing = true
	amf3 := s.amf3
	c.mu.Unlock()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.writeTypedLocked(userControl(message.EventStreamBegin, req.StreamID), 0); err != nil {
		return err
	}
	err = c.writeCommandsLocked(req.StreamID, amf3,
		message.OnStatus(LevelStatus, CodePlayReset, "Playing and resetting "+req.Name+"."),
		message.OnStatus(LevelStatus, CodePlayStart, "Started playing "+req.Name+"."))
	if err != nil {
		return err
	}
	if err := c.writeTypedLocked(&message.Data{Name: message.DataRtmpSampleAccess, Values: []any{true, true}}, req.StreamID); err != nil {
		return err
	}
	return c.flushLocked()
}

// RejectPlay answers req with an onStatus of level "error" carrying code
// (CodePlayStreamNotFound, CodePlayFailed, ...; CodePlayFailed when
// empty) and description.
func (c *ServerConn) RejectPlay(req *PlayRequest, code, description string) error {
	s, err := c.streamFor(req.StreamID, func(s *serverStream) bool { return s.play == req && !s.playing })
	if err != nil {
		return err
	}
	c.mu.Lock()
	s.play = nil
	amf3 := s.amf3
	c.mu.Unlock()
	return c.writeCommands(req.StreamID, amf3,
		message.OnStatus(LevelError, cmp(code, CodePlayFailed), description))
}

// Cork holds the media messages written after it (WriteAudio, WriteVideo,
// WriteData) in the connection's write buffer until Uncork, instead of
// flushing each one, so that several messages leave in one system call; the
// buffer is written out whenever it fills (64 KiB). A player's writer that
// has several messages queued corks, writes them and uncorks: fewer, larger
// socket writes for the same bytes, which is most of the CPU time of a
// fan-out. Other writes (commands, control messages) still flush, taking
// the corked messages with them.
func (c *ServerConn) Cork() { c.cork() }

// Uncork ends Cork and flushes the buffered messages; it returns the write
// error, if any.
func (c *ServerConn) Uncork() error { return c.uncork() }

// WriteAudio writes an audio message (an FLV audio tag body) to message
// stream streamID and flushes it (unless corked, see Cork). payload is only
// read during the call.
func (c *ServerConn) WriteAudio(streamID, ts uint32, payload []byte) error {
	return c.writeMedia(message.TypeAudio, message.CSIDAudio, streamID, ts, payload)
}

// WriteVideo writes a video message (an FLV video tag body) to message
// stream streamID and flushes it (unless corked, see Cork). payload is only
// read during the call.
func (c *ServerConn) WriteVideo(streamID, ts uint32, payload []byte) error {
	return c.writeMedia(message.TypeVideo, message.CSIDVideo, streamID, ts, payload)
}

// WriteData writes an AMF0 data message (type 18) whose body is payload,
// e.g. an FLV script tag body "onMetaData", {...}, to message stream
// streamID, and flushes it (unless corked, see Cork). payload is only read
// during the call.
func (c *ServerConn) WriteData(streamID, ts uint32, payload []byte) error {
	return c.writeMedia(message.TypeDataAMF0, message.CSIDFor(message.TypeDataAMF0, streamID), streamID, ts, payload)
}

// WriteMessage writes any message and flushes it. A zero m.CSID selects
// the conventional chunk stream for its type. m is only read during the
// call.
func (c *ServerConn) WriteMessage(m *chunk.Message) error { return c.writeMessage(m) }

// SendStatus sends "onStatus", 0, null, {level, code, description} on
// message stream streamID, e.g. CodePlayUnpublishNotify to a player whose
// publisher has ended.
func (c *ServerConn) SendStatus(streamID uint32, level, code, description string) error {
	c.mu.Lock()
	amf3 := c.lastAMF3
	if s := c.streams.get(streamID); s != nil {
		amf3 = s.amf3
	}
	c.mu.Unlock()
	return c.writeCommands(streamID, amf3, message.OnStatus(level, code, description))
}

// SendStreamEOF sends the StreamEOF user control event for streamID.
func (c *ServerConn) SendStreamEOF(streamID uint32) error {
	return c.writeControl(userControl(message.EventStreamEOF, streamID))
}

// Ping sends a PingRequest; the client's PingResponse counts as traffic
// for idle detection.
func (c *ServerConn) Ping() error {
	return c.writeControl(&message.UserControl{Event: message.EventPingRequest, Timestamp: c.pingTimestamp()})
}

// RequestReconnect sends onStatus NetConnection.Connect.ReconnectRequest
// (Enhanced RTMP v2) on message stream 0 with tcURL (absolute or
// relative; empty means reconnect to the same URL) and description. It
// fails for clients that did not advertise CapsExReconnect in connect.
// The conn stays open: the client keeps sending until it has switched.
func (c *ServerConn) RequestReconnect(tcURL, description string) error {
	c.mu.Lock()
	req, connected, amf3 := c.connReq, c.connected, c.lastAMF3
	c.mu.Unlock()
	if !connected {
		return fmt.Errorf("%w: RequestReconnect before AcceptConnect", errState)
	}
	if req.CapsEx&CapsExReconnect == 0 {
		return fmt.Errorf("%w: client did not advertise reconnect support (capsEx %#x)", errState, req.CapsEx)
	}
	var extra []amf.Property
	if tcURL != "" {
		extra = append(extra, amf.Property{Key: "tcUrl", Value: tcURL})
	}
	return c.writeCommands(0, amf3,
		message.OnStatus(LevelStatus, CodeConnectReconnectRequest, description, extra...))
}

// RemoteAddr returns the peer address if the underlying connection is a
// net.Conn, else nil.
func (c *ServerConn) RemoteAddr() net.Addr {
	if nc, ok := c.rw.(interface{ RemoteAddr() net.Addr }); ok {
		return nc.RemoteAddr()
	}
	return nil
}

// Err returns the error that ended the conn, or nil while it is usable.
func (c *ServerConn) Err() error { return c.core.Err() }

// Done returns a channel that is closed when the conn has ended (closed,
// or failed on a read or write).
func (c *ServerConn) Done() <-chan struct{} { return c.closed }

// Close closes the conn and, if it is an io.Closer, the underlying
// connection. It is safe to call more than once and from any goroutine.
func (c *ServerConn) Close() error {
	c.closing.Store(true)
	c.fail(ErrClosed)
	return nil
}

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func cmpU32(v, def uint32) uint32 {
	if v == 0 {
		return def
	}
	return v
}
