package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// Defaults of SubscriberConfig.
const (
	// DefaultInitTimeout bounds the wait for an init reply.
	DefaultInitTimeout = 2 * time.Second
	// DefaultMaxInitBytes caps the frames accepted from one init reply.
	DefaultMaxInitBytes = 64 << 20
	// DefaultMaxBufferedBytes caps the live frames held back while an init
	// reply is awaited.
	DefaultMaxBufferedBytes = 32 << 20
	// DefaultMaxPendingBytes caps the bytes NATS queues for the media
	// subscription before the handler has taken them; beyond it NATS drops
	// messages (the receiver then sees a gap).
	DefaultMaxPendingBytes = 64 << 20
)

// statusHeader and noResponders are how a NATS server answers a request
// nobody is subscribed to.
const (
	statusHeader = "Status"
	noResponders = "503"
)

// SubscriberConfig configures a Subscriber. App, Name and Handler are
// required; the zero value of every other field means its documented
// default.
type SubscriberConfig struct {
	// Prefix is the subject prefix; empty means DefaultPrefix.
	Prefix string
	// App and Name are the RTMP application and stream names.
	App, Name string
	// Handler receives every frame, in order, and the end-of-stream
	// events (Frame.Event == EventEnd). Calls never overlap. It runs on
	// the goroutine that delivers NATS messages (and, during Start, on the
	// caller's goroutine), with the Subscriber's lock held: it must not
	// block and must not call the Subscriber's methods other than Stats.
	// Hand the frame to a bounded queue and return. The frame is the
	// handler's to keep: nothing else references its Tag.
	Handler func(Frame)
	// NoInit skips the fast start: Start only subscribes, and frames
	// arrive from the next one published.
	NoInit bool
	// InitTimeout bounds the wait for the init reply; zero means
	// DefaultInitTimeout. When it passes, Start goes live without one.
	InitTimeout time.Duration
	// MaxFrameSize caps the size of one frame in bytes of FLV tag; zero
	// means the largest FLV tag.
	MaxFrameSize int
	// MaxInitBytes caps the tag bytes accepted from one init reply; zero
	// means DefaultMaxInitBytes. A larger reply is abandoned.
	MaxInitBytes int
	// MaxBufferedBytes caps the live frames held back while the init reply
	// is awaited; zero means DefaultMaxBufferedBytes. Beyond it the oldest
	// are dropped (and counted as lost).
	MaxBufferedBytes int
	// MaxPendingBytes caps the bytes NATS queues for the subscription;
	// zero means DefaultMaxPendingBytes.
	MaxPendingBytes int
	// TraceParent, when set, is a W3C traceparent sent with the init
	// request (HeaderTraceParent), so that the owner can tell whose fast
	// start it served: the trace context of the subscriber's side (the
	// play that needed the stream). It must be a valid traceparent.
	TraceParent string
	// Logger receives why a fast start gave nothing; nil discards it.
	Logger *slog.Logger
}

// SubscriberStats counts what a Subscriber received and delivered.
type SubscriberStats struct {
	// ReceiverStats counts the live messages; its Frames and Bytes count
	// every frame delivered to the handler, init frames included.
	ReceiverStats
	// InitRequests counts fast starts attempted; InitFrames the frames
	// delivered from init replies; InitFailures the fast starts that gave
	// nothing (no publisher, timeout, a stale, incomplete or oversized
	// reply).
	InitRequests, InitFrames, InitFailures uint64
	// Held counts live frames held back while a fast start was in
	// progress; BufferDropped those of them dropped because the buffer was
	// full.
	Held, BufferDropped uint64
}

// Subscriber receives one stream from the bus and delivers its frames to a
// handler: it subscribes to the stream's media subject, asks the owner for
// a fast start and splices it with the live frames without a gap or a
// duplicate, fences epochs, reassembles fragments and counts losses (see
// Receiver). The edge holds one per stream and fans frames out to its
// players.
//
// Start and Close may be called from any goroutine; Stats too.
type Subscriber struct {
	nc              *nats.Conn
	cfg             SubscriberConfig
	media, initSubj string
	log             *slog.Logger

	mu      sync.Mutex
	started bool
	closed  bool
	live    bool // frames go to the handler as they arrive
	sub     *nats.Subscription
	rx      *Receiver
	// held are live frames received during the fast start, from index
	// heldHead on, heldBytes bytes of tags.
	held      []Frame
	heldHead  int
	heldBytes int
	// fresh ends the wait for the init reply when a held frame starts a
	// publish (sequence number 1): the held frames then hold everything
	// from its beginning, and nothing is left to fast-start.
	fresh context.CancelCauseFunc

	initRequests, initFrames, initFailures, heldCount, bufferDropped atomic.Uint64
}

// NewSubscriber returns a Subscriber for the stream cfg.App/cfg.Name on
// nc. It checks the configuration; it subscribes to nothing yet (Start
// does). The Subscriber does not own nc.
func NewSubscriber(nc *nats.Conn, cfg SubscriberConfig) (*Subscriber, error) {
	if nc == nil {
		return nil, errors.New("bus: nil NATS connection")
	}
	if cfg.Handler == nil {
		return nil, errors.New("bus: subscriber without a handler")
	}
	media, initSubj, err := streamSubjects(cfg.Prefix, cfg.App, cfg.Name)
	if err != nil {
		return nil, err
	}
	if cfg.TraceParent != "" {
		if err := checkTraceParent(cfg.TraceParent); err != nil {
			return nil, err
		}
	}
	if cfg.InitTimeout <= 0 {
		cfg.InitTimeout = DefaultInitTimeout
	}
	if cfg.MaxInitBytes <= 0 {
		cfg.MaxInitBytes = DefaultMaxInitBytes
	}
	if cfg.MaxBufferedBytes <= 0 {
		cfg.MaxBufferedBytes = DefaultMaxBufferedBytes
	}
	if cfg.MaxPendingBytes <= 0 {
		cfg.MaxPendingBytes = DefaultMaxPendingBytes
	}
	s := &Subscriber{
		nc:       nc,
		cfg:      cfg,
		media:    media,
		initSubj: initSubj,
		log:      cfg.Logger,
		rx:       NewReceiver(ReceiverConfig{MaxFrameSize: cfg.MaxFrameSize}),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("component", "bus.subscriber", "stream", media)
	return s, nil
}

// Subjects returns the stream's media and init subjects.
func (s *Subscriber) Subjects() (media, initSubj string) { return s.media, s.initSubj }

// Stats returns the counters. It may be called from any goroutine, the
// handler included.
func (s *Subscriber) Stats() SubscriberStats {
	return SubscriberStats{
		ReceiverStats: s.rx.Stats(),
		InitRequests:  s.initRequests.Load(),
		InitFrames:    s.initFrames.Load(),
		InitFailures:  s.initFailures.Load(),
		Held:          s.heldCount.Load(),
		BufferDropped: s.bufferDropped.Load(),
	}
}

// Start subscribes to the stream and, unless cfg.NoInit, performs the fast
// start: with the subscription in place (live frames are held back), it
// requests the init reply, delivers its frames (metadata, sequence headers,
// the current GOP from its keyframe), then the held live frames that follow
// them, and from then on every frame as it arrives. It returns once live,
// or with an error when the subscription fails or ctx ends first (the
// Subscriber is then closed). A fast start that gives nothing (no
// publisher, cfg.InitTimeout passed) is not an error: frames simply start
// with the next one published.
func (s *Subscriber) Start(ctx context.Context) error {
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return ErrClosed
	case s.started:
		s.mu.Unlock()
		return errors.New("bus: subscriber already started")
	}
	s.started = true
	s.rx.unordered = !s.cfg.NoInit
	s.live = s.cfg.NoInit
	initCtx, fresh := context.WithCancelCause(ctx)
	defer fresh(nil)
	s.fresh = fresh
	sub, err := s.nc.Subscribe(s.media, s.onMsg)
	if err != nil {
		s.closed = true
		s.mu.Unlock()
		return fmt.Errorf("bus: subscribe %s: %w", s.media, err)
	}
	s.sub = sub
	s.mu.Unlock()
	if err := sub.SetPendingLimits(-1, s.cfg.MaxPendingBytes); err != nil {
		s.Close()
		return fmt.Errorf("bus: subscribe %s: %w", s.media, err)
	}
	if s.cfg.NoInit {
		if err := flush(ctx, s.nc); err != nil {
			s.Close()
			return err
		}
		return nil
	}
	s.initRequests.Add(1)
	reply, err := s.fetchInit(initCtx)
	if ctxErr := ctx.Err(); ctxErr != nil {
		s.Close()
		return fmt.Errorf("bus: fast start of %s: %w", s.media, ctxErr)
	}
	switch {
	case err != nil && errors.Is(context.Cause(initCtx), errFreshPublish):
		// Not a failure: the live frames start at the publish's first.
		reply = nil
	case err != nil:
		s.initFailures.Add(1)
		s.log.Debug("fast start gave nothing", "err", err)
		reply = nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.splice(reply)
	return nil
}

// errFreshPublish ends a fast start whose held live frames begin with the
// first frame of a publish.
var errFreshPublish = errors.New("bus: live frames start at the first frame of the publish")

// initReply is a complete init reply.
type initReply struct {
	frames []Frame // all of epoch
	epoch  uint64
	// sent is the last sequence number the publisher had sent when it
	// took the snapshot.
	sent uint64
}

// Close unsubscribes. When it returns the handler is not running and will
// not be called again. It must not be called from the handler. Closing a
// closed Subscriber does nothing.
func (s *Subscriber) Close() error {
	s.mu.Lock()
	s.closed = true
	sub := s.sub
	s.sub = nil
	s.held, s.heldHead, s.heldBytes = nil, 0, 0
	s.mu.Unlock()
	if sub != nil {
		if err := sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) && !errors.Is(err, nats.ErrBadSubscription) {
			return fmt.Errorf("bus: unsubscribe %s: %w", s.media, err)
		}
	}
	return nil
}

// onMsg handles one message of the media subscription.
func (s *Subscriber) onMsg(m *nats.Msg) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if s.live {
		f, ok, err := s.rx.Push(m.Header, m.Data)
		if err != nil {
			s.log.Debug("message dropped", "err", err)
		}
		if ok {
			s.cfg.Handler(f)
		}
		return
	}
	// Fast start in progress: reassemble and fence, but hold the frame
	// back; sequence checks and counting happen in splice.
	env, err := ParseEnvelope(m.Header)
	if err != nil || env.InitEnd {
		s.rx.c.malformed.Add(1)
		return
	}
	f, ok, err := s.rx.push(&env, m.Data)
	if err != nil {
		s.log.Debug("message dropped", "err", err)
	}
	if !ok {
		return
	}
	s.held = append(s.held, f)
	s.heldBytes += len(f.Tag)
	s.heldCount.Add(1)
	if f.Seq == 1 && f.Event == "" && s.fresh != nil {
		s.fresh(errFreshPublish)
	}
	for s.heldBytes > s.cfg.MaxBufferedBytes && s.heldHead < len(s.held) {
		s.heldBytes -= len(s.held[s.heldHead].Tag)
		s.held[s.heldHead] = Frame{}
		s.heldHead++
		s.bufferDropped.Add(1)
	}
}

// fetchInit requests the init reply and collects it.
func (s *Subscriber) fetchInit(ctx context.Context) (*initReply, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.InitTimeout)
	defer cancel()
	inbox := s.nc.NewInbox()
	isub, err := s.nc.SubscribeSync(inbox)
	if err != nil {
		return nil, fmt.Errorf("bus: subscribe %s: %w", inbox, err)
	}
	defer isub.Unsubscribe()
	if err := isub.SetPendingLimits(-1, s.cfg.MaxInitBytes+s.cfg.MaxInitBytes/4); err != nil {
		return nil, fmt.Errorf("bus: subscribe %s: %w", inbox, err)
	}
	req := &nats.Msg{Subject: s.initSubj, Reply: inbox}
	if s.cfg.TraceParent != "" {
		req.Header = nats.Header{HeaderTraceParent: {s.cfg.TraceParent}}
	}
	if err := s.nc.PublishMsg(req); err != nil {
		return nil, fmt.Errorf("bus: request %s: %w", s.initSubj, err)
	}
	rx := NewReceiver(ReceiverConfig{MaxFrameSize: s.cfg.MaxFrameSize})
	rx.unordered = true
	var frames []Frame
	size := 0
	for {
		m, err := isub.NextMsgWithContext(ctx)
		if err != nil {
			return nil, fmt.Errorf("bus: init reply from %s: %w", s.initSubj, err)
		}
		if len(m.Data) == 0 && m.Header.Get(statusHeader) == noResponders {
			return nil, fmt.Errorf("bus: init request %s: no publisher", s.initSubj)
		}
		env, err := ParseEnvelope(m.Header)
		if err != nil {
			return nil, fmt.Errorf("bus: init reply from %s: %w", s.initSubj, err)
		}
		if env.Epoch > rx.epoch && len(frames) > 0 {
			// Another owner answered too (a takeover in progress): keep
			// the newest epoch's reply only.
			frames, size = frames[:0], 0
		}
		if env.InitEnd {
			if env.Epoch < rx.epoch {
				continue
			}
			if env.InitFrames != len(frames) {
				return nil, fmt.Errorf("bus: init reply from %s: %d frames of %d arrived", s.initSubj, len(frames), env.InitFrames)
			}
			return &initReply{frames: frames, epoch: env.Epoch, sent: env.Seq}, nil
		}
		f, ok, err := rx.push(&env, m.Data)
		if err != nil {
			return nil, fmt.Errorf("bus: init reply from %s: %w", s.initSubj, err)
		}
		if !ok || f.Event != "" {
			continue
		}
		size += len(f.Tag)
		if size > s.cfg.MaxInitBytes {
			return nil, fmt.Errorf("bus: init reply from %s: more than %d bytes", s.initSubj, s.cfg.MaxInitBytes)
		}
		f.Init = true
		frames = append(frames, f)
	}
}

// splice delivers the init frames, then the held live frames that follow
// them, and switches to live delivery. It runs with s.mu held.
func (s *Subscriber) splice(reply *initReply) {
	rx := s.rx
	rx.unordered = false
	rx.next = 0
	if reply != nil && reply.epoch < rx.epoch {
		// Live frames of a newer publish arrived meanwhile: the reply is
		// stale.
		s.initFailures.Add(1)
		reply = nil
	}
	if reply != nil {
		var last uint64
		for _, f := range reply.frames {
			last = max(last, f.Seq)
			rx.count(&f)
			s.initFrames.Add(1)
			s.cfg.Handler(f)
		}
		rx.prime(reply.epoch, last, reply.sent)
	}
	for i := s.heldHead; i < len(s.held); i++ {
		f := s.held[i]
		switch {
		case f.Epoch < rx.epoch:
			rx.c.stale.Add(1)
			continue
		case f.Epoch > rx.epoch:
			if rx.epoch != 0 {
				rx.c.epochs.Add(1)
			}
			rx.epoch, rx.next, rx.quiet = f.Epoch, 0, 0
		}
		lost, fresh := rx.sequence(f.Seq)
		if !fresh {
			continue
		}
		f.Lost = lost
		if f.Event == EventEnd {
			rx.next = 0
		}
		rx.count(&f)
		s.cfg.Handler(f)
	}
	s.held, s.heldHead, s.heldBytes = nil, 0, 0
	s.live = true
}
