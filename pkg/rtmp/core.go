package rtmp

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tributary-media/tributary/pkg/rtmp/amf"
	"github.com/tributary-media/tributary/pkg/rtmp/chunk"
	"github.com/tributary-media/tributary/pkg/rtmp/message"
)

// Error classes wrapped by the conns; callers see them in the text of a
// close reason. They are not exported because no caller branches on them.
var (
	// errProtocol reports a peer that broke the command flow.
	errProtocol = errors.New("rtmp: protocol error")
	// errLimit reports a peer that exceeded a configured limit.
	errLimit = errors.New("rtmp: limit exceeded")
	// errState reports a call that does not fit the conn's state.
	errState = errors.New("rtmp: invalid state")
)

// discardLogger is the logger used when none is configured.
var discardLogger = slog.New(slog.DiscardHandler)

// defaultMaxCommandSize bounds command and shared object messages.
const defaultMaxCommandSize = 64 << 10

// core is what a server and a client connection share: the chunk reader and
// writer over one transport, automatic housekeeping (acknowledgements,
// window sizes, ping answers), aggregate splitting and serialized writes.
//
// The read side (readNext and everything it calls) belongs to one
// goroutine. The write side is guarded by wmu; housekeeping writes from the
// read side take it too.
type core struct {
	rw  io.ReadWriter
	log *slog.Logger
	// logRemote, when set, is logged as "remote" with the conn's logs.
	logRemote string
	start     time.Time

	// read side
	r       *chunk.Reader
	rm      chunk.Message
	dec     message.Decoder
	ackT    message.AckTracker
	agg     []chunk.Message // sub-messages of an aggregate still to return
	aggNext int
	// parkable makes readNext return errParkNow instead of waiting for
	// input (ServerConn.ReadOrPark); woke makes its next read go to the
	// socket, which has input: the parked handler was just resumed.
	parkable, woke bool
	maxCmd         int
	// park lets a Server's handler park (ServerConn.ReadOrPark); nil when
	// the connection cannot.
	park *parker

	// write side
	wmu     sync.Mutex
	w       *chunk.Writer
	tw      trackWriter
	ctl     [16]byte // payload scratch for control messages
	ackMsg  message.Acknowledgement
	pongMsg message.UserControl
	werr    error
	peerBW  message.PeerBandwidth
	corked  bool // media writes stay in the write buffer until uncork

	closeOnce sync.Once
	closed    chan struct{}
	errMu     sync.Mutex
	err       error
	closing   atomic.Bool
}

func newCore(rw io.ReadWriter, log *slog.Logger, ccfg chunk.Config, ad amf.Decoder) *core {
	if log == nil {
		log = discardLogger
	}
	c := &core{
		rw:     rw,
		log:    log,
		start:  time.Now(),
		r:      chunk.NewReader(rw, ccfg),
		closed: make(chan struct{}),
		maxCmd: defaultMaxCommandSize,
	}
	c.tw.w = rw
	c.w = chunk.NewWriter(&c.tw, chunk.Config{})
	c.dec.AMF = ad
	return c
}

// fail records err as the reason the conn ended (the first one wins) and
// closes the transport, which unblocks a reader and writers.
// debug logs msg with err at debug level.
func (c *core) debug(msg string, err error) {
	if c.logRemote != "" {
		c.log.Debug(msg, "remote", c.logRemote, "err", err)
		return
	}
	c.log.Debug(msg, "err", err)
}

func (c *core) fail(err error) error {
	c.errMu.Lock()
	if c.err == nil {
		c.err = err
	}
	first := c.err
	c.errMu.Unlock()
	c.closeTransport()
	return first
}

// Err returns the error that ended the conn, or nil.
func (c *core) Err() error {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	return c.err
}

func (c *core) closeTransport() error {
	var err error
	c.closeOnce.Do(func() {
		close(c.closed)
		// A connection parked where no goroutine watches its socket is
		// resumed here, to read the close.
		resume := c.park != nil && c.park.unpark()
		if cl, ok := c.rw.(io.Closer); ok {
			err = cl.Close()
		}
		if resume {
			go c.park.resumed()
		}
	})
	return err
}

// closingTransport reports whether closeTransport has been called.
func (c *core) closingTransport() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// readNext returns the next message the layer above has to look at. It
// applies protocol control messages, answers pings, sends
// acknowledgements and splits aggregates; user control events other than
// pings are returned. The message is valid until the next call.
func (c *core) readNext() (*chunk.Message, error) {
	for {
		if c.aggNext < len(c.agg) {
			m := &c.agg[c.aggNext]
			c.aggNext++
			return m, nil
		}
		if c.aggNext > 0 {
			c.agg, c.aggNext = c.agg[:0], 0
		}
		if c.parkable && c.r.Idle() && !c.woke {
			return nil, errParkNow
		}
		c.woke = false
		if err := c.r.ReadMessage(&c.rm); err != nil {
			if c.closing.Load() {
				err = ErrClosed
			}
			return nil, c.fail(err)
		}
		if err := c.maybeAck(); err != nil {
			return nil, err
		}
		m := &c.rm
		switch m.Type {
		case message.TypeSetChunkSize, message.TypeAbort, message.TypeAcknowledgement:
			// The chunk reader applied 1 and 2; acknowledgements of what we
			// sent need no action (we never block on them).
			continue
		case message.TypeWindowAckSize:
			var w message.WindowAckSize
			if err := w.Unmarshal(m.Payload); err != nil {
				continue // short control payloads are ignored, as nginx-rtmp does
			}
			c.ackT.SetWindow(w.Size)
			continue
		case message.TypeSetPeerBandwidth:
			var bw message.SetPeerBandwidth
			if err := bw.Unmarshal(m.Payload); err != nil {
				continue
			}
			c.wmu.Lock()
			was, due := c.peerBW.Apply(&bw)
			var err error
			if due {
				err = c.writeControlLocked(&was)
			}
			c.wmu.Unlock()
			if err != nil {
				return nil, err
			}
			continue
		case message.TypeUserControl:
			var uc message.UserControl
			if err := uc.Unmarshal(m.Payload); err != nil {
				continue
			}
			switch uc.Event {
			case message.EventPingRequest:
				c.wmu.Lock()
				c.pongMsg, _ = message.PingResponse(&uc)
				err := c.writeControlLocked(&c.pongMsg)
				c.wmu.Unlock()
				if err != nil {
					return nil, err
				}
				continue
			case message.EventPingResponse, message.EventSetBufferLength:
				continue
			}
			return m, nil
		case message.TypeAggregate:
			err := message.SplitAggregate(m, func(sub *chunk.Message) error {
				c.agg = append(c.agg, *sub)
				return nil
			})
			if err != nil {
				c.debug("rtmp: malformed aggregate message", err)
			}
			continue
		case message.TypeCommandAMF0, message.TypeCommandAMF3,
			message.TypeSharedObjectAMF0, message.TypeSharedObjectAMF3:
			if len(m.Payload) > c.maxCmd {
				return nil, c.fail(fmt.Errorf("%w: command message of %d bytes, limit %d", errLimit, len(m.Payload), c.maxCmd))
			}
		}
		return m, nil
	}
}

// maybeAck sends an Acknowledgement when one is due.
func (c *core) maybeAck() error {
	a, due := c.ackT.Update(c.r.BytesRead())
	if !due {
		return nil
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.ackMsg = a
	return c.writeControlLocked(&c.ackMsg)
}

// checkWriteLocked returns the error that stops writes, if any. wmu is
// held.
func (c *core) checkWriteLocked() error {
	if c.werr != nil {
		return c.werr
	}
	if c.closing.Load() {
		return ErrClosed
	}
	select {
	case <-c.closed:
		if err := c.Err(); err != nil {
			return err
		}
		return ErrClosed
	default:
	}
	return nil
}

// writeErrLocked makes a write error sticky and ends the conn. wmu is held.
func (c *core) writeErrLocked(err error) error {
	if c.closing.Load() {
		err = ErrClosed
	} else {
		err = fmt.Errorf("rtmp: write: %w", err)
	}
	c.werr = err
	return c.fail(err)
}

// writeControlLocked writes a protocol or user control message on csid 2,
// stream 0, and flushes. wmu is held.
func (c *core) writeControlLocked(msg message.Message) error {
	if err := c.checkWriteLocked(); err != nil {
		return err
	}
	p, err := msg.AppendPayload(c.ctl[:0])
	if err != nil {
		return err
	}
	m := chunk.Message{CSID: message.CSIDControl, Type: msg.Type(), Payload: p}
	if err := c.w.WriteMessage(&m); err != nil {
		return c.writeErrLocked(err)
	}
	if err := c.w.Flush(); err != nil {
		return c.writeErrLocked(err)
	}
	return nil
}

func (c *core) writeControl(msg message.Message) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeControlLocked(msg)
}

// writeRawLocked writes m, choosing the conventional chunk stream when
// m.CSID is 0, without flushing. wmu is held.
func (c *core) writeRawLocked(m *chunk.Message) error {
	if err := c.checkWriteLocked(); err != nil {
		return err
	}
	if m.CSID == 0 {
		m.CSID = message.CSIDFor(m.Type, m.StreamID)
	}
	if err := c.w.WriteMessage(m); err != nil {
		if c.tw.err != nil {
			return c.writeErrLocked(err)
		}
		return fmt.Errorf("rtmp: write message: %w", err)
	}
	return nil
}

// trackWriter remembers the first error of the transport's Write, so that
// I/O errors can be told from messages the chunk writer refused.
type trackWriter struct {
	w   io.Writer
	err error
}

// Write writes p to the transport and records its first error.
func (t *trackWriter) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	if err != nil && t.err == nil {
		t.err = err
	}
	return n, err
}

func (c *core) flushLocked() error {
	if err := c.w.Flush(); err != nil {
		return c.writeErrLocked(err)
	}
	return nil
}

// writeMedia writes one message and flushes it unless the conn is corked.
// The allocation-free path for audio, video and data.
func (c *core) writeMedia(typ uint8, csid, streamID, ts uint32, payload []byte) error {
	c.wmu.Lock()
	m := chunk.Message{CSID: csid, Timestamp: ts, Type: typ, StreamID: streamID, Payload: payload}
	err := c.writeRawLocked(&m)
	if err == nil && !c.corked {
		err = c.flushLocked()
	}
	c.wmu.Unlock()
	return err
}

// cork makes media writes stay in the write buffer until uncork.
func (c *core) cork() {
	c.wmu.Lock()
	c.corked = true
	c.wmu.Unlock()
}

// uncork ends cork and flushes what is buffered.
func (c *core) uncork() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.corked = false
	if c.werr != nil {
		return c.werr
	}
	return c.flushLocked()
}

// writeMessage writes m as given (csid 0 picks the conventional one).
func (c *core) writeMessage(m *chunk.Message) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	mm := *m
	if err := c.writeRawLocked(&mm); err != nil {
		return err
	}
	return c.flushLocked()
}

// writeTypedLocked encodes msg into the write buffer and writes it on
// stream streamID without flushing. wmu is held.
func (c *core) writeTypedLocked(msg message.Message, streamID uint32) error {
	if err := c.checkWriteLocked(); err != nil {
		return err
	}
	bp := encodeBufPool.Get().(*[]byte)
	cm, err := message.ToChunk(msg, streamID, 0, *bp)
	if err == nil {
		err = c.writeRawLocked(&cm) // copies the payload
		if cap(cm.Payload) <= maxPooledEncodeBuf {
			*bp = cm.Payload[:0]
		}
	} else {
		err = fmt.Errorf("rtmp: encode %T: %w", msg, err)
	}
	encodeBufPool.Put(bp)
	return err
}

// encodeBufPool holds the buffers commands and control messages are
// encoded in: a connection writes few of them, and keeping one per
// connection would cost every idle connection its size.
var encodeBufPool = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledEncodeBuf bounds the buffers encodeBufPool keeps.
const maxPooledEncodeBuf = 64 << 10

// writeCommandsLocked writes commands on streamID (as type 17 when amf3 is
// set, else type 20) and flushes once. wmu is held.
func (c *core) writeCommandsLocked(streamID uint32, amf3 bool, cmds ...*message.Command) error {
	for _, cmd := range cmds {
		cmd.AMF3 = amf3
		if err := c.writeTypedLocked(cmd, streamID); err != nil {
			return err
		}
	}
	return c.flushLocked()
}

func (c *core) writeCommands(streamID uint32, amf3 bool, cmds ...*message.Command) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeCommandsLocked(streamID, amf3, cmds...)
}

// setChunkSizeLocked announces and switches to a new outgoing chunk size.
func (c *core) setChunkSizeLocked(size uint32) error {
	if size == 0 || size == c.w.ChunkSize() {
		return nil
	}
	if err := c.writeTypedLocked(&message.SetChunkSize{Size: size}, 0); err != nil {
		return err
	}
	return nil
}

// userControl builds a stream user control event.
func userControl(ev message.Event, streamID uint32) *message.UserControl {
	return &message.UserControl{Event: ev, StreamID: streamID}
}

// pingTimestamp is the timestamp of a PingRequest: milliseconds since the
// conn was created.
func (c *core) pingTimestamp() uint32 {
	return uint32(time.Since(c.start) / time.Millisecond)
}

// stripSetDataFrame removes a leading "@setDataFrame" string from an AMF0
// data body (after the format byte of type 15, which it also removes).
func stripSetDataFrame(typ uint8, p []byte) []byte {
	if typ == message.TypeDataAMF3 && len(p) > 0 && p[0] == 0 {
		p = p[1:]
	}
	const name = message.DataSetDataFrame
	if len(p) >= 3+len(name) && p[0] == 0x02 && int(p[1])<<8|int(p[2]) == len(name) && string(p[3:3+len(name)]) == name {
		return p[3+len(name):]
	}
	return p
}
