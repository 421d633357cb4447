package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/nats-io/nats.go"

	"github.com/tributary-media/tributary/pkg/rtmp/flv"
)

// headerRoom is what a Publisher leaves for headers in a message of the
// server's max payload: the bus headers take under 500 bytes even with a
// traceparent of the longest accepted length.
const headerRoom = 1024

// minFragment is the smallest fragment a Publisher sends, whatever the
// configuration says.
const minFragment = 256

// defaultMaxPayload is the NATS default max payload, used before the
// connection has learnt the server's.
const defaultMaxPayload = 1 << 20

// defaultFlushTimeout bounds a flush when the caller's context has no
// deadline (nats.go requires one).
const defaultFlushTimeout = 5 * time.Second

// PublisherConfig configures a Publisher. App, Name and Epoch are required;
// the zero value of every other field means its documented default.
type PublisherConfig struct {
	// Prefix is the subject prefix; empty means DefaultPrefix.
	Prefix string
	// App and Name are the RTMP application and stream names, any
	// strings (they are escaped into subject tokens).
	App, Name string
	// Epoch is the ownership epoch of this publish (the fencing token
	// from the stream claim). It must be greater than zero, and greater
	// than the epoch of any earlier publish of the same stream.
	Epoch uint64
	// InitCacheBytes caps the fast-start cache the Publisher keeps when
	// Snapshot is nil: metadata, sequence headers and the tags since the
	// latest video keyframe. A GOP that outgrows it is dropped until the
	// next keyframe. Zero means DefaultInitCacheBytes; a negative value
	// turns the cache off (init replies then hold no frames).
	InitCacheBytes int
	// Snapshot, when set, replaces the built-in cache as the source of
	// init replies: it appends to dst the frames a joining player needs,
	// in the order it needs them (metadata, sequence headers, then the
	// current GOP from its keyframe), each with the Seq and IngestTime
	// its Publish had (the Epoch field is ignored), and returns dst. The
	// returned Tags must stay unchanged until Snapshot is called again.
	// It is called from the goroutine that answers init requests,
	// concurrently with Publish.
	Snapshot func(dst []Frame) []Frame
	// MaxFragmentSize, when above zero, caps the size of the messages
	// frames are split into. By default frames are split only when they
	// exceed the server's max payload minus room for the headers.
	MaxFragmentSize int
	// OnInit, when set, is called after each init request was answered,
	// with what the request carried and what the reply held. It runs on
	// the goroutine that answers init requests and delays the next
	// answer: it must return quickly.
	OnInit func(InitServed)
	// Logger receives the errors of answering init requests, which have
	// no caller to return them to; nil discards them.
	Logger *slog.Logger
	// Now is the clock Publish reads the ingest time from; nil means
	// time.Now.
	Now func() time.Time
}

// InitServed describes an answered init request, for
// PublisherConfig.OnInit.
type InitServed struct {
	// TraceParent is the W3C traceparent the request carried
	// (HeaderTraceParent, see SubscriberConfig.TraceParent); "" when it
	// carried none or a malformed one.
	TraceParent string
	// Frames and Bytes count the frames and tag bytes the reply held.
	Frames, Bytes int
	// Err is why the reply could not be sent whole; nil when it was.
	Err error
}

// PublisherStats counts what a Publisher sent.
type PublisherStats struct {
	// Frames and Bytes count the frames published and their tag bytes.
	Frames, Bytes uint64
	// Fragments counts the messages of frames that were split.
	Fragments uint64
	// Errors counts frames the NATS connection refused (closed, reconnect
	// buffer full, payload too large).
	Errors uint64
	// InitRequests counts the init requests answered; InitFrames and
	// InitBytes the frames and tag bytes sent in the replies.
	InitRequests, InitFrames, InitBytes uint64
}

type publisherCounters struct {
	frames, bytes, fragments, errors, initRequests, initFrames, initBytes atomic.Uint64
}

// Publisher publishes the frames of one publish of one stream on the bus
// and answers fast-start (init) requests for it. Create one per publish
// with NewPublisher, call ServeInit to answer init requests, Publish or
// PublishFrame for every tag in order, and End when the encoder ends the
// publish cleanly (Close when it vanishes or loses ownership).
//
// All methods are safe for concurrent use; frames are numbered in the
// order the Publish calls take the Publisher's lock, so a stream's frames
// should come from one goroutine.
type Publisher struct {
	nc              *nats.Conn
	cfg             PublisherConfig
	media, initSubj string
	epochStr        string
	log             *slog.Logger
	now             func() time.Time

	mu      sync.Mutex
	closed  bool
	seq     uint64
	initSub *nats.Subscription
	cache   initCache
	tagBuf  []byte // PublishFrame assembles its tag here
	// msg sends whole frames and fmsg fragments. Their header maps stay
	// allocated; the values of the Seq, Ingest-Time and Frag headers are
	// one-element slices shared by both maps whose element is rewritten
	// for every frame (see byteString).
	msg, fmsg         nats.Msg
	seqVal, ingestVal []string
	fragVal, tpVal    []string
	tp                string // the traceparent sent, "" when none
	seqBuf, ingestBuf [20]byte
	fragBuf           [32]byte

	// State of the init responder, used only by the goroutine that runs
	// the init subscription's handler.
	initBuf    []byte
	initFrames []Frame

	c publisherCounters
}

// NewPublisher returns a Publisher for one publish of the stream
// cfg.App/cfg.Name on nc. It checks the configuration and prepares its
// buffers; it sends nothing and starts nothing. The Publisher does not own
// nc: closing or draining the connection is the caller's business.
func NewPublisher(nc *nats.Conn, cfg PublisherConfig) (*Publisher, error) {
	if nc == nil {
		return nil, errors.New("bus: nil NATS connection")
	}
	if cfg.Epoch == 0 {
		return nil, errors.New("bus: publisher epoch is 0")
	}
	media, initSubj, err := streamSubjects(cfg.Prefix, cfg.App, cfg.Name)
	if err != nil {
		return nil, err
	}
	p := &Publisher{
		nc:        nc,
		cfg:       cfg,
		media:     media,
		initSubj:  initSubj,
		epochStr:  strconv.FormatUint(cfg.Epoch, 10),
		log:       cfg.Logger,
		now:       cfg.Now,
		seqVal:    []string{""},
		ingestVal: []string{""},
		fragVal:   []string{""},
		tpVal:     []string{""},
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.log = p.log.With("component", "bus.publisher", "stream", media)
	if p.now == nil {
		p.now = time.Now
	}
	switch {
	case cfg.InitCacheBytes == 0:
		p.cache.limit = DefaultInitCacheBytes
	case cfg.InitCacheBytes > 0:
		p.cache.limit = cfg.InitCacheBytes
	}
	epochVal := []string{p.epochStr}
	p.msg = nats.Msg{Subject: media, Header: nats.Header{
		HeaderEpoch: epochVal, HeaderSeq: p.seqVal, HeaderIngestTime: p.ingestVal,
	}}
	p.fmsg = nats.Msg{Subject: media, Header: nats.Header{
		HeaderEpoch: epochVal, HeaderSeq: p.seqVal, HeaderIngestTime: p.ingestVal, HeaderFrag: p.fragVal,
	}}
	return p, nil
}

// Subjects returns the stream's media and init subjects.
func (p *Publisher) Subjects() (media, initSubj string) { return p.media, p.initSubj }

// Stats returns the counters. It may be called from any goroutine.
func (p *Publisher) Stats() PublisherStats {
	return PublisherStats{
		Frames:       p.c.frames.Load(),
		Bytes:        p.c.bytes.Load(),
		Fragments:    p.c.fragments.Load(),
		Errors:       p.c.errors.Load(),
		InitRequests: p.c.initRequests.Load(),
		InitFrames:   p.c.initFrames.Load(),
		InitBytes:    p.c.initBytes.Load(),
	}
}

// flush waits until the server has processed everything sent on nc so
// far, bounded by ctx, or by defaultFlushTimeout when ctx has no deadline.
func flush(ctx context.Context, nc *nats.Conn) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultFlushTimeout)
		defer cancel()
	}
	if err := nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("bus: flush: %w", err)
	}
	return nil
}

// ServeInit subscribes to the stream's init subject and answers fast-start
// requests from then on, until End or Close; it returns once the server has
// registered the subscription (bounded by ctx). The answers come from
// cfg.Snapshot or the built-in cache. Calling it again does nothing.
func (p *Publisher) ServeInit(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	if p.initSub != nil {
		p.mu.Unlock()
		return nil
	}
	sub, err := p.nc.Subscribe(p.initSubj, p.answerInit)
	if err != nil {
		p.mu.Unlock()
		return fmt.Errorf("bus: subscribe %s: %w", p.initSubj, err)
	}
	p.initSub = sub
	p.mu.Unlock()
	return flush(ctx, p.nc)
}

// SetTraceParent sets the W3C traceparent sent with the frames published
// after it, and with the messages of the init replies sent after it; ""
// stops sending one. It fails on a malformed traceparent.
func (p *Publisher) SetTraceParent(tp string) error {
	if tp != "" {
		if err := checkTraceParent(tp); err != nil {
			return err
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tp = tp
	if tp == "" {
		delete(p.msg.Header, HeaderTraceParent)
		delete(p.fmsg.Header, HeaderTraceParent)
		return nil
	}
	p.tpVal[0] = tp
	p.msg.Header[HeaderTraceParent] = p.tpVal
	p.fmsg.Header[HeaderTraceParent] = p.tpVal
	return nil
}

// Publish publishes one frame: tag must be exactly one FLV tag as a file
// holds it (flv.AppendTag writes one), and the ingest time is now. It
// returns the frame's sequence number. The Publisher keeps no reference to
// tag: NATS has copied it when Publish returns.
//
// A frame that NATS refuses (the connection is closed, its reconnect buffer
// is full) still takes its sequence number, so receivers see the loss as a
// gap; the error says why. A tag that is not exactly one FLV tag is
// refused without taking a number.
//
// Once its buffers have grown to the stream's frame sizes, Publish itself
// allocates nothing; nats.go allocates twice for every message with headers
// (the encoded header block), so a frame costs two allocations per NATS
// message it is sent in.
func (p *Publisher) Publish(tag []byte) (uint64, error) {
	ingest := p.now().UnixNano()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.publishLocked(tag, ingest)
}

// PublishFrame publishes one frame given as an FLV tag type, timestamp
// (milliseconds) and body, with the time the frame was received from the
// encoder (a zero time means now). It returns the frame's sequence number.
// The Publisher assembles
// the tag in a buffer it reuses, which grows to the largest frame of the
// stream; it keeps no reference to body.
func (p *Publisher) PublishFrame(typ flv.TagType, ts uint32, body []byte, ingest time.Time) (uint64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0, ErrClosed
	}
	tag, err := flv.AppendTag(p.tagBuf[:0], typ, ts, body)
	if err != nil {
		return 0, fmt.Errorf("bus: %w", err)
	}
	p.tagBuf = tag
	ns := ingest.UnixNano()
	if ingest.IsZero() || ns <= 0 {
		ns = p.now().UnixNano()
	}
	return p.publishLocked(tag, ns)
}

// byteString returns a string that shares b's memory, without copying.
// The Publisher uses it for header values that nats.go encodes (copies)
// during PublishMsg and that nothing reads afterwards: the bytes are
// rewritten only for the next frame, under the Publisher's lock, and the
// string is replaced at the same time.
func byteString(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}

func (p *Publisher) publishLocked(tag []byte, ingest int64) (uint64, error) {
	if p.closed {
		return 0, ErrClosed
	}
	if ingest <= 0 {
		// Clocks before 1970 cannot be sent (the header is unsigned).
		ingest = 1
	}
	t, err := checkTag(tag)
	if err != nil {
		return 0, fmt.Errorf("bus: publish: %w", err)
	}
	p.seq++
	seq := p.seq
	p.seqVal[0] = byteString(strconv.AppendUint(p.seqBuf[:0], seq, 10))
	p.ingestVal[0] = byteString(strconv.AppendInt(p.ingestBuf[:0], ingest, 10))
	frags, err := p.send(tag)
	p.cache.add(t.Type, t.Body, tag, seq, ingest)
	if frags > 1 {
		p.c.fragments.Add(uint64(frags))
	}
	if err != nil {
		p.c.errors.Add(1)
		return seq, fmt.Errorf("bus: publish %s seq %d: %w", p.media, seq, err)
	}
	p.c.frames.Add(1)
	p.c.bytes.Add(uint64(len(tag)))
	return seq, nil
}

// fragmentSize returns the largest data a message may carry: the server's
// max payload minus room for the headers, or less if configured.
func (p *Publisher) fragmentSize() int {
	mp := p.nc.MaxPayload()
	if mp <= 0 {
		mp = defaultMaxPayload
	}
	n := int(mp) - headerRoom
	if p.cfg.MaxFragmentSize > 0 && p.cfg.MaxFragmentSize < n {
		n = p.cfg.MaxFragmentSize
	}
	return max(n, minFragment)
}

// send publishes tag on the media subject with the headers prepared in msg
// and fmsg, split into fragments when it is too large for one message. It
// returns the number of messages sent.
func (p *Publisher) send(tag []byte) (int, error) {
	size := p.fragmentSize()
	if len(tag) <= size {
		p.msg.Data = tag
		err := p.nc.PublishMsg(&p.msg)
		p.msg.Data = nil
		if err != nil {
			return 0, err
		}
		return 1, nil
	}
	n := 0
	total := len(tag)
	for off := 0; off < total; off += size {
		end := min(off+size, total)
		b := strconv.AppendInt(p.fragBuf[:0], int64(off), 10)
		b = append(b, '/')
		b = strconv.AppendInt(b, int64(total), 10)
		p.fragVal[0] = byteString(b)
		p.fmsg.Data = tag[off:end]
		err := p.nc.PublishMsg(&p.fmsg)
		p.fmsg.Data = nil
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// End ends the publish cleanly: it publishes the end-of-stream message
// (HeaderEvent EventEnd, taking the next sequence number), stops answering
// init requests and makes further calls fail with ErrClosed. Players are
// told the stream stopped. Use it for FCUnpublish/deleteStream; a publish
// that ends without a clean end is a gap, see Close. It returns an error
// when the end message could not be sent, and ErrClosed when the Publisher
// was already ended or closed.
func (p *Publisher) End() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	p.closed = true
	p.seq++
	env := Envelope{Epoch: p.cfg.Epoch, Seq: p.seq, Event: EventEnd}
	m := nats.Msg{Subject: p.media, Header: nats.Header{}}
	env.WriteHeader(m.Header)
	err := p.nc.PublishMsg(&m)
	sub := p.initSub
	p.initSub = nil
	p.release()
	p.mu.Unlock()
	p.unsubscribe(sub)
	if err != nil {
		return fmt.Errorf("bus: publish end of %s: %w", p.media, err)
	}
	return nil
}

// Close stops publishing without an end-of-stream message, as when the
// encoder vanished or the edge lost the stream's claim: players see a gap
// and wait for the stream to come back with a newer epoch. It stops
// answering init requests; further calls fail with ErrClosed. Closing an
// ended or closed Publisher does nothing.
func (p *Publisher) Close() error {
	p.mu.Lock()
	p.closed = true
	sub := p.initSub
	p.initSub = nil
	p.release()
	p.mu.Unlock()
	p.unsubscribe(sub)
	return nil
}

// release drops the buffers a closed Publisher no longer needs. It runs
// with p.mu held; the init responder checks closed before it touches the
// cache.
func (p *Publisher) release() {
	p.cache = initCache{}
	p.tagBuf = nil
}

func (p *Publisher) unsubscribe(sub *nats.Subscription) {
	if sub == nil {
		return
	}
	if err := sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) && !errors.Is(err, nats.ErrBadSubscription) {
		p.log.Warn("unsubscribe from init requests", "err", err)
	}
}

// answerInit answers one init request: the snapshot's frames to the reply
// subject, each split like a live frame if needed, then a message with
// HeaderInitEnd and the number of frames. Every message of the reply
// carries the publish's traceparent, if it has one. It runs on the init
// subscription's goroutine.
func (p *Publisher) answerInit(req *nats.Msg) {
	if req.Reply == "" {
		return
	}
	p.c.initRequests.Add(1)
	served := InitServed{}
	if vs := req.Header.Values(HeaderTraceParent); len(vs) == 1 && checkTraceParent(vs[0]) == nil {
		served.TraceParent = vs[0]
	}
	if f := p.cfg.OnInit; f != nil {
		defer func() { f(served) }()
	}
	p.mu.Lock()
	closed := p.closed
	tp := p.tp
	// The last sequence number sent before the snapshot: with the built-in
	// cache the snapshot holds exactly the state after it; a Snapshot
	// function is called after it is read, so it reflects at least that.
	sentSeq := p.seq
	if !closed && p.cfg.Snapshot == nil {
		p.initBuf, p.initFrames = p.cache.snapshot(p.initBuf, p.initFrames, p.cfg.Epoch)
	}
	p.mu.Unlock()
	frames := p.initFrames[:0]
	switch {
	case closed:
	case p.cfg.Snapshot != nil:
		frames = p.cfg.Snapshot(p.initFrames[:0])
		p.initFrames = frames
	default:
		frames = p.initFrames
	}
	sent := 0
	for i := range frames {
		f := &frames[i]
		if _, err := checkTag(f.Tag); err != nil || f.Seq == 0 {
			p.log.Warn("init snapshot frame skipped", "seq", f.Seq, "err", err)
			continue
		}
		if err := p.sendInit(req.Reply, f, tp); err != nil {
			p.log.Warn("init reply failed", "reply", req.Reply, "err", err)
			served.Err = err
			return
		}
		sent++
		served.Frames, served.Bytes = sent, served.Bytes+len(f.Tag)
		p.c.initFrames.Add(1)
		p.c.initBytes.Add(uint64(len(f.Tag)))
	}
	end := Envelope{Epoch: p.cfg.Epoch, Seq: sentSeq, InitEnd: true, InitFrames: sent, TraceParent: tp}
	m := nats.Msg{Subject: req.Reply, Header: nats.Header{}}
	end.WriteHeader(m.Header)
	if err := p.nc.PublishMsg(&m); err != nil {
		p.log.Warn("init reply failed", "reply", req.Reply, "err", err)
		served.Err = err
	}
}

// sendInit sends one frame of an init reply, split into fragments when it
// is too large for one message. tp is the publish's traceparent, sent when
// the frame has none of its own.
func (p *Publisher) sendInit(reply string, f *Frame, tp string) error {
	env := Envelope{Epoch: p.cfg.Epoch, Seq: f.Seq, IngestTime: f.IngestTime, TraceParent: f.TraceParent}
	if env.TraceParent != "" && checkTraceParent(env.TraceParent) != nil {
		env.TraceParent = ""
	}
	if env.TraceParent == "" {
		env.TraceParent = tp
	}
	size := p.fragmentSize()
	total := len(f.Tag)
	for off := 0; off < total; off += size {
		end := min(off+size, total)
		if total > size {
			env.FragOffset, env.FragTotal = off, total
		}
		m := nats.Msg{Subject: reply, Header: nats.Header{}, Data: f.Tag[off:end]}
		env.WriteHeader(m.Header)
		if err := p.nc.PublishMsg(&m); err != nil {
			return err
		}
	}
	return nil
}
