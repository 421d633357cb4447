package edge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/tributary-media/tributary/internal/auth"
	"github.com/tributary-media/tributary/internal/fanout"
	"github.com/tributary-media/tributary/pkg/bus"
	"github.com/tributary-media/tributary/pkg/cluster"
	"github.com/tributary-media/tributary/pkg/rtmp"
	"github.com/tributary-media/tributary/pkg/rtmp/flv"
)

// maxNameBytes bounds application and stream names: escaped (up to three
// bytes each) they must fit a bus subject.
const maxNameBytes = 512

// errClaimLost ends a publishing session whose stream was claimed away.
var errClaimLost = errors.New("edge: stream ownership lost")

// session is one RTMP connection: the streams it publishes and plays.
type session struct {
	e    *Edge
	conn *rtmp.ServerConn
	log  *slog.Logger // base with the session span's id
	// base is the session's logger without a span id: the logs of its
	// publishes and plays add their own span's.
	base *slog.Logger
	app  string

	// pubs and plays belong to the handler goroutine (of the moment: a
	// session without publications parks while its connection waits).
	pubs  map[uint32]*publication
	plays []*playback // one per message stream that plays, mostly one
	wg    sync.WaitGroup

	ctx    context.Context // the handler's, with the session span
	stop   func() bool     // stops the shutdown notice (context.AfterFunc)
	resume func() error    // serve, for ReadOrPark

	// moving is set once the client was asked to reconnect elsewhere.
	moving atomic.Bool
	// authRefusals counts the requests the auth rules refused; the
	// handler goroutine's.
	authRefusals int

	// closing is set once the session was ended with a final status
	// (closeAfterStatus): every message that still arrives is ignored.
	closing atomic.Bool

	mu      sync.Mutex
	endWith error // set by another goroutine to end the session with a reason
}

// closeLinger is how long a connection stays open after a final error
// status, reading and discarding what the client still sends. Closing at
// once, with the client's data unread, makes the kernel answer with a reset
// that can destroy the status before the client reads it.
const closeLinger = time.Second

// publication is a stream published by the session.
type publication struct {
	key    StreamKey
	claim  Claim
	bp     *bus.Publisher
	start  time.Time
	stop   func()          // stops watching the claim
	lost   <-chan struct{} // claim.Lost()
	errs   uint64          // bus errors, logged once per streak
	frames uint64

	// bytes counts the body bytes received; Edge.load reads it.
	bytes atomic.Uint64
	// rate measures the publish bit rate under the edge's limit; nil
	// without one.
	rate *rateMeter

	// log carries the stream and the publish span's id.
	log *slog.Logger
	// span is the rtmp.publish span; traced says it records, so that the
	// frame path looks for the codecs (vcodec, acodec: the latest seen).
	span           trace.Span
	traced         bool
	vcodec, acodec flv.Codec
}

// playback is a stream played by the session.
type playback struct {
	streamID uint32
	key      StreamKey
	r        *relay
	pl       *fanout.Player
}

// startSpan starts the session's span, rtmp.session, at the time the
// connection was accepted, with its rtmp.handshake child as it happened,
// and ends it when the server has closed the connection, with the close
// reason the server logs. It returns ctx with the span.
func (e *Edge) startSpan(ctx context.Context, c *rtmp.ServerConn) (context.Context, trace.Span) {
	hsStart, hsEnd := c.HandshakeTimes()
	mode := c.HandshakeResult().Mode.String()
	attrs := append(clientAttrs(c), keyEdgeID.String(e.cfg.ID), keyHandshake.String(mode))
	ctx, span := e.tr.Start(ctx, spanSession, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithTimestamp(c.Created()), trace.WithAttributes(attrs...))
	if !hsEnd.IsZero() {
		_, hs := e.tr.Start(ctx, spanHandshake, trace.WithTimestamp(hsStart),
			trace.WithAttributes(keyHandshake.String(mode)))
		hs.End(trace.WithTimestamp(hsEnd))
	}
	c.OnClose(func(info rtmp.CloseInfo) {
		span.SetAttributes(keyCloseReason.String(info.Reason),
			keyBytesIn.Int64(int64(info.BytesIn)), keyBytesOut.Int64(int64(info.BytesOut)))
		if info.Abnormal() {
			span.SetStatus(codes.Error, info.Reason)
		}
		span.End()
	})
	return ctx, span
}

// serveConn is the rtmp.Handler of the edge.
func (e *Edge) serveConn(ctx context.Context, c *rtmp.ServerConn) error {
	e.counter.sessions.Add(1)
	s, err := e.open(ctx, c)
	if s == nil {
		e.counter.sessions.Add(-1)
		return err
	}
	return s.serve()
}

// open reads and answers the connect command and returns the session, or
// nil and why the connection ends.
func (e *Edge) open(ctx context.Context, c *rtmp.ServerConn) (*session, error) {
	ctx, span := e.startSpan(ctx, c)
	connStart := time.Now()
	if _, hsEnd := c.HandshakeTimes(); !hsEnd.IsZero() {
		connStart = hsEnd
	}
	_, cspan := e.tr.Start(ctx, spanConnect, trace.WithTimestamp(connStart))
	req, err := c.ReadConnect()
	if err != nil {
		cspan.SetStatus(codes.Error, err.Error())
		cspan.End()
		return nil, err
	}
	e.counter.connects.Add(1)
	hs := c.HandshakeResult()
	span.SetAttributes(keyApp.String(req.App), keyTCURL.String(safeTCURL(req.TCURL)),
		keyFlashVer.String(req.FlashVer), keyEnhanced.Bool(req.Enhanced))
	cspan.SetAttributes(keyApp.String(req.App))
	base := traceLogger(e.log.With("remote", remoteString(c), "app", req.App), span.SpanContext())
	log := spanLogger(base, span)
	log.Info("client connected", "flash_ver", req.FlashVer, "tc_url", safeTCURL(req.TCURL),
		"handshake", hs.Mode.String(), "enhanced", req.Enhanced)
	reject := func(reason, desc string) (*session, error) {
		log.Info("connect rejected", "reason", reason)
		cspan.SetAttributes(keyStatusCode.String(rtmp.CodeConnectRejected), keyRejectReason.String(reason))
		err := c.RejectConnect(rtmp.CodeConnectRejected, desc)
		cspan.End()
		return nil, err
	}
	if reason := checkName(req.App); reason != "" {
		return reject("application name "+reason, "The application name "+reason+".")
	}
	if e.draining.Load() {
		return reject("edge draining", "This server is shutting down; connect again.")
	}
	if e.cfg.Auth.Closed(req.App) {
		return reject("application closed by the auth rules", "This application accepts no publish and no play.")
	}
	if err := c.AcceptConnect(nil); err != nil {
		cspan.SetStatus(codes.Error, err.Error())
		cspan.End()
		return nil, err
	}
	cspan.SetAttributes(keyStatusCode.String(rtmp.CodeConnectSuccess))
	cspan.End()
	s := &session{e: e, conn: c, log: log, base: base, app: req.App, ctx: ctx}
	s.resume = s.serve
	s.stop = context.AfterFunc(ctx, s.shutdown)
	return s, nil
}

// serve reads and handles the session's messages until the connection
// ends. A session that publishes nothing (a player's, or one yet to ask)
// parks while its connection waits for data: it then holds no goroutine,
// and serve runs again, on a new one, when data arrives.
func (s *session) serve() (err error) {
	defer func() {
		if err != rtmp.ErrParked {
			s.close()
		}
	}()
	for {
		var m *rtmp.Message
		if len(s.pubs) == 0 {
			m, err = s.conn.ReadOrPark(s.resume)
		} else {
			m, err = s.conn.ReadMessage()
		}
		if err == rtmp.ErrParked {
			return err
		}
		if err != nil {
			if why := s.reason(); why != nil {
				return why
			}
			return err
		}
		if err := s.handle(s.ctx, m); err != nil {
			return err
		}
	}
}

// close releases the session when its connection has ended.
func (s *session) close() {
	s.end()
	s.stop()
	s.e.counter.sessions.Add(-1)
}

// checkName returns why an application or stream name is refused, or "".
func checkName(n string) string {
	switch {
	case n == "":
		return "is empty"
	case len(n) > maxNameBytes:
		return "is too long"
	case strings.ContainsFunc(n, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "contains control characters"
	}
	return ""
}

// shutdown runs when the server starts draining: encoders that support it
// are asked to reconnect (to another edge, through the load balancer).
func (s *session) shutdown() {
	if err := s.conn.RequestReconnect("", "This server is shutting down."); err == nil {
		s.moving.Store(true)
		s.log.Info("asked the client to reconnect elsewhere")
	}
}

// reason returns why another goroutine ended the session, or nil.
func (s *session) reason() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.endWith
}

// fail ends the session with why: the connection is closed, so the
// handler's ReadMessage returns.
func (s *session) fail(why error) {
	s.mu.Lock()
	if s.endWith == nil {
		s.endWith = why
	}
	s.mu.Unlock()
	s.conn.Close()
}

// closeAfterStatus ends the session with why once the status just sent
// (or about to be sent) had time to reach the client: messages arriving meanwhile are ignored,
// and the connection is closed after closeLinger. Any goroutine may call
// it.
func (s *session) closeAfterStatus(why error) {
	s.mu.Lock()
	if s.endWith == nil {
		s.endWith = why
	}
	s.mu.Unlock()
	if s.closing.Swap(true) {
		return
	}
	time.AfterFunc(closeLinger, func() { s.conn.Close() })
}

// handle acts on one message of the connection.
func (s *session) handle(ctx context.Context, m *rtmp.Message) error {
	if s.closing.Load() {
		return nil // a final status was sent; the connection closes soon
	}
	switch m.Kind {
	case rtmp.KindPublish:
		return s.publish(ctx, m.Publish)
	case rtmp.KindAudio, rtmp.KindVideo, rtmp.KindData:
		p := s.pubs[m.StreamID]
		if p == nil {
			return nil
		}
		typ := flv.TagAudio
		switch m.Kind {
		case rtmp.KindVideo:
			typ = flv.TagVideo
		case rtmp.KindData:
			typ = flv.TagScript
		}
		select {
		case <-p.lost:
			return nil // fenced: the claim is gone, the session is closing
		default:
		}
		now := s.e.now()
		if p.rate != nil && !p.rate.add(now, len(m.Payload)) {
			return s.overBitrate(p, m.StreamID)
		}
		p.frames++
		if p.traced && typ != flv.TagScript {
			p.noteCodecs(typ, m.Payload)
		}
		p.claim.Active(now)
		s.e.counter.framesIn.Add(1)
		s.e.counter.bytesIn.Add(uint64(len(m.Payload)))
		p.bytes.Add(uint64(len(m.Payload)))
		if _, err := p.bp.PublishFrame(typ, m.Timestamp, m.Payload, now); err != nil {
			s.e.counter.busErrors.Add(1)
			if p.errs == 0 {
				p.log.Warn("frames lost: the bus refused them", "err", err)
			}
			p.errs++
		} else if p.errs > 0 {
			p.log.Info("the bus takes frames again", "lost", p.errs)
			p.errs = 0
		}
	case rtmp.KindUnpublish:
		s.unpublish(m.StreamID, true, "unpublished", nil)
	case rtmp.KindPlay:
		return s.play(ctx, m.Play)
	case rtmp.KindCloseStream:
		s.stopPlay(m.StreamID)
		s.unpublish(m.StreamID, true, "stream closed", nil)
	}
	return nil
}

// publish claims the stream and starts putting its frames on the bus.
func (s *session) publish(ctx context.Context, req *rtmp.PublishRequest) error {
	e := s.e
	key := StreamKey{App: s.app, Name: req.Name}
	// A name that may be a secret (a stream key) is named once authorized.
	secret := e.cfg.Auth.SecretName(s.app, auth.Publish)
	ctx, span := e.tr.Start(ctx, spanPublish, trace.WithAttributes(
		append(streamAttrs(key, secret), keyPublishType.String(req.Type))...))
	log := streamLogger(spanLogger(s.base, span), req.StreamID, key, secret)
	// reject refuses the publish; failed says the edge could not serve it
	// (rather than the request being refused).
	reject := func(code, desc, reason string, failed bool) error {
		e.counter.publishesRejected.Add(1)
		log.Info("publish rejected", "reason", reason)
		span.SetAttributes(keyStatusCode.String(code), keyRejectReason.String(reason))
		if failed {
			span.SetStatus(codes.Error, reason)
		}
		err := s.conn.RejectPublish(req, code, desc)
		span.End()
		return err
	}
	if reason := checkName(req.Name); reason != "" {
		return reject(rtmp.CodePublishBadName, "The stream name "+reason+".", "stream name "+reason, false)
	}
	if s.pubs[req.StreamID] != nil {
		return reject(rtmp.CodePublishBadName, "This stream is already publishing.", "second publish on one message stream", false)
	}
	if e.draining.Load() {
		return reject(rtmp.CodePublishFailed, "This server is shutting down; publish again.", "edge draining", false)
	}
	if d := s.authorize(ctx, auth.Publish, req.Name, req.Query); !d.Allowed {
		code, desc := authStatus(auth.Publish, d)
		return s.authRefused(reject(code, desc, "not authorized: "+d.Reason, d.Failed))
	} else if secret {
		req.Name, key.Name = d.Name, d.Name
		span.SetAttributes(streamAttrs(key, false)...)
		log = log.With("stream", key.String())
	}
	if !e.lim.takePublisher(e.cfg.MaxPublishers) {
		return s.refusePublish(req, span, log)
	}
	accepted := false
	defer func() {
		if !accepted {
			e.lim.releasePublisher()
		}
	}()
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	claim, err := e.own.Claim(cctx, key, ClaimInfo{RemoteAddr: remoteString(s.conn)})
	if err != nil {
		if errors.Is(err, ErrStreamBusy) {
			e.counter.claims[claimBusy].Add(1)
			return reject(rtmp.CodePublishBadName, "Stream "+req.Name+" is already being published.", err.Error(), false)
		}
		e.counter.claims[claimError].Add(1)
		return reject(rtmp.CodePublishFailed, "The stream cannot be claimed now; try again.", err.Error(), true)
	}
	e.counter.claims[claimGranted].Add(1)
	span.SetAttributes(epochAttr(keyEpoch, claim.Epoch()))
	span.AddEvent("claim", trace.WithAttributes(epochAttr(keyEpoch, claim.Epoch())))
	pcfg := bus.PublisherConfig{
		Prefix:         e.cfg.Prefix,
		App:            key.App,
		Name:           key.Name,
		Epoch:          claim.Epoch(),
		InitCacheBytes: e.cfg.InitCacheBytes,
		Logger:         log,
		Now:            e.now,
	}
	traced := span.IsRecording()
	if traced {
		var served atomic.Uint64
		pcfg.OnInit = func(is bus.InitServed) {
			if served.Add(1) > maxInitEvents {
				return
			}
			attrs := []attribute.KeyValue{keyInitFrames.Int(is.Frames), keyInitBytes.Int(is.Bytes)}
			if is.TraceParent != "" {
				attrs = append(attrs, keyTraceParent.String(is.TraceParent))
			}
			span.AddEvent("bus.init_served", trace.WithAttributes(attrs...))
		}
	}
	bp, err := bus.NewPublisher(e.cfg.NATS, pcfg)
	if err == nil {
		if tp := traceParent(ctx); tp != "" {
			err = bp.SetTraceParent(tp)
		}
	}
	if err == nil {
		err = bp.ServeInit(cctx)
	}
	if err != nil {
		claim.Release(context.WithoutCancel(ctx))
		if bp != nil {
			bp.Close()
		}
		return reject(rtmp.CodePublishFailed, "The media bus is unavailable; try again.", err.Error(), true)
	}
	if err := s.conn.AcceptPublish(req); err != nil {
		bp.Close()
		claim.Release(context.WithoutCancel(ctx))
		span.SetStatus(codes.Error, err.Error())
		span.End()
		return err
	}
	p := &publication{key: key, claim: claim, bp: bp, start: e.now(), lost: claim.Lost(),
		log: log, span: span, traced: traced, rate: e.newRateMeter()}
	accepted = true
	done := make(chan struct{})
	p.stop = sync.OnceFunc(func() { close(done) })
	go func() {
		select {
		case <-done:
		case <-claim.Lost():
			bp.Close() // before anything else: not one more frame on the bus
			why := claim.LostReason()
			if why == nil {
				why = errClaimLost
			}
			e.counter.claimsLost[lostReason(why)].Add(1)
			span.AddEvent("claim_lost", trace.WithAttributes(keyLostReason.String(why.Error())))
			if s.moving.Load() && errors.Is(why, ErrTakenOver) {
				// The encoder was asked to reconnect elsewhere and has
				// done so: its new publish took the stream. Its old
				// connection stays until it switches over (it keeps
				// sending until its next keyframe; those frames are
				// dropped here) or the drain ends.
				log.Info("stream moved to another edge with its encoder", "epoch", claim.Epoch())
				return
			}
			log.Warn("stream ownership lost, closing the publisher", "epoch", claim.Epoch(), "reason", why.Error())
			code, desc := lostStatus(why)
			// The reason first: a client that closes as soon as the
			// status arrives must find the session's end reason set.
			s.closeAfterStatus(fmt.Errorf("%w: %w", errClaimLost, why))
			s.conn.SendStatus(req.StreamID, rtmp.LevelError, code, desc)
		}
	}()
	if s.pubs == nil { // most sessions are players'
		s.pubs = make(map[uint32]*publication)
	}
	s.pubs[req.StreamID] = p
	e.mu.Lock()
	e.pubs[p] = struct{}{}
	e.mu.Unlock()
	e.counter.publishers.Add(1)
	e.counter.publishesAccepted.Add(1)
	log.Info("publish started", "epoch", claim.Epoch(), "type", req.Type)
	return nil
}

// lostReason classifies why a claim was lost, for
// tributary_edge_claims_lost_total.
func lostReason(why error) int {
	switch {
	case errors.Is(why, ErrTakenOver):
		return lostTakenOver
	case errors.Is(why, ErrKicked):
		return lostKicked
	case errors.Is(why, cluster.ErrLeaseLost):
		return lostLeaseLost
	}
	return lostOther
}

// noteCodecs records on the publish span the codec of the first audio
// and video frames and of every sequence header.
func (p *publication) noteCodecs(typ flv.TagType, body []byte) {
	cur := &p.vcodec
	key := keyVideoCodec
	if typ == flv.TagAudio {
		cur, key = &p.acodec, keyAudioCodec
	}
	if *cur != flv.CodecUnknown && !flv.IsSequenceHeader(typ, body) {
		return
	}
	if c := flv.TagCodec(typ, body); c != flv.CodecUnknown && c != *cur {
		*cur = c
		p.span.SetAttributes(key.String(codecName(c)))
	}
}

// unpublish ends the publication on message stream id, if any: clean
// announces the end on the bus, otherwise the stream has a gap that a new
// publish can fill. why says why it ended, cause is the error that ended
// the session, if any.
func (s *session) unpublish(id uint32, clean bool, why string, cause error) {
	p := s.pubs[id]
	if p == nil {
		return
	}
	delete(s.pubs, id)
	s.e.mu.Lock()
	delete(s.e.pubs, p)
	s.e.mu.Unlock()
	p.stop()
	var err error
	if clean {
		err = p.bp.End()
	} else {
		err = p.bp.Close()
	}
	if err != nil && !errors.Is(err, bus.ErrClosed) {
		p.log.Warn("the end of the stream did not reach the bus", "err", err)
	}
	if err := p.claim.Release(trace.ContextWithSpan(context.Background(), p.span)); err != nil {
		p.log.Warn("stream ownership not released in etcd; the next publisher takes it over after the silence window", "err", err)
	}
	s.e.counter.publishers.Add(-1)
	s.e.lim.releasePublisher()
	st := p.bp.Stats()
	bytes := p.bytes.Load()
	p.span.SetAttributes(keyEndReason.String(why), keyClean.Bool(clean),
		keyFramesIn.Int64(int64(p.frames)), keyBytesInStream.Int64(int64(bytes)),
		keyBusErrors.Int64(int64(st.Errors)), keyInitServed.Int64(int64(st.InitRequests)))
	if errors.Is(cause, ErrOwnershipLost) {
		p.span.SetStatus(codes.Error, why)
	}
	p.span.End()
	p.log.Info("publish ended", "reason", why, "clean", clean,
		"frames", p.frames, "bus_frames", st.Frames, "bus_errors", st.Errors,
		"duration", s.e.now().Sub(p.start).Round(time.Millisecond))
}

// play joins the stream's relay on this edge.
func (s *session) play(ctx context.Context, req *rtmp.PlayRequest) error {
	e := s.e
	key := StreamKey{App: s.app, Name: req.Name}
	// A name that may be a secret (a stream key) is named once authorized.
	secret := e.cfg.Auth.SecretName(s.app, auth.Play)
	ctx, span := e.tr.Start(ctx, spanPlay, trace.WithAttributes(streamAttrs(key, secret)...))
	log := streamLogger(spanLogger(s.base, span), req.StreamID, key, secret)
	reject := func(code, desc, reason string) error {
		e.counter.playsRejected.Add(1)
		log.Info("play rejected", "reason", reason)
		span.SetAttributes(keyStatusCode.String(code), keyRejectReason.String(reason))
		err := s.conn.RejectPlay(req, code, desc)
		span.End()
		return err
	}
	if reason := checkName(req.Name); reason != "" {
		return reject(rtmp.CodePlayStreamNotFound, "The stream name "+reason+".", "stream name "+reason)
	}
	if d := s.authorize(ctx, auth.Play, req.Name, req.Query); !d.Allowed {
		code, desc := authStatus(auth.Play, d)
		return s.authRefused(reject(code, desc, "not authorized: "+d.Reason))
	} else if secret {
		req.Name, key.Name = d.Name, d.Name
		span.SetAttributes(streamAttrs(key, false)...)
		log = log.With("stream", key.String())
	}
	s.stopPlay(req.StreamID)
	r, err := e.acquireRelay(key, traceParent(ctx))
	if errors.Is(err, errTooManyPlayers) {
		return s.refusePlay(req, span, log)
	}
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
		return reject(rtmp.CodePlayFailed, "The stream cannot be played now.", err.Error())
	}
	if err := s.conn.AcceptPlay(req); err != nil {
		e.releaseRelay(r)
		span.SetStatus(codes.Error, err.Error())
		span.End()
		return err
	}
	sink := &playSink{s: s, r: r, streamID: req.StreamID, accepted: e.now()}
	if span.IsRecording() {
		sink.span = span
	}
	pl := e.hub.Play(r.hubKey, sink)
	s.plays = append(s.plays, &playback{streamID: req.StreamID, key: key, r: r, pl: pl})
	e.counter.players.Add(1)
	e.counter.playsAccepted.Add(1)
	log.Info("play started")
	s.wg.Add(1)
	// A draining edge keeps its players playing until their connection is
	// closed at the end of the drain timeout. An idle player has no
	// goroutine: the fan-out's writers write its queue. The end runs on a
	// goroutine of its own (closing the relay waits for its subscription).
	pl.Start(func(err error) { go s.playEnded(err, pl, r, span, log) })
	return nil
}

// playEnded releases what a playback held and records how it ended.
func (s *session) playEnded(err error, pl *fanout.Player, r *relay, span trace.Span, log *slog.Logger) {
	e := s.e
	defer s.wg.Done()
	defer span.End()
	e.releaseRelay(r)
	e.counter.players.Add(-1)
	st := pl.Stats()
	e.counter.framesDropped.Add(st.Dropped)
	span.SetAttributes(keyFramesSent.Int64(int64(st.Sent)), keyFramesDropped.Int64(int64(st.Dropped)),
		keyDrops.Int(st.Drops))
	attrs := []any{"sent", st.Sent, "dropped", st.Dropped, "drops", st.Drops}
	switch {
	case errors.Is(err, fanout.ErrPlayerTooSlow):
		e.counter.playersKicked.Add(1)
		span.SetAttributes(keyEndReason.String(err.Error()))
		span.SetStatus(codes.Error, err.Error())
		log.Warn("play ended", append(attrs, "reason", err.Error())...)
	case errors.Is(err, fanout.ErrPlayerLeft), errors.Is(err, context.Canceled):
		span.SetAttributes(keyEndReason.String("player left"))
		log.Info("play ended", attrs...)
	default:
		span.SetAttributes(keyEndReason.String(err.Error()))
		log.Info("play ended", append(attrs, "reason", err.Error())...)
	}
}

// streamLogger returns log with the message stream id and, unless the
// name is a secret still to be resolved, the stream (one logger clone: a
// player's loggers are a good part of its memory).
func streamLogger(log *slog.Logger, msid uint32, key StreamKey, secret bool) *slog.Logger {
	if secret {
		return log.With("msid", msid)
	}
	return log.With("msid", msid, "stream", key.String())
}

// stopPlay ends the playback on message stream id, if any.
func (s *session) stopPlay(id uint32) {
	for i, pb := range s.plays {
		if pb.streamID == id {
			pb.pl.Leave()
			s.plays = slices.Delete(s.plays, i, i+1)
			return
		}
	}
}

// end releases what the session holds when its connection ends: its
// publications leave a gap (no clean end), its players leave.
func (s *session) end() {
	why := "connection closed"
	cause := s.reason()
	if cause != nil {
		why = cause.Error()
	}
	for id := range s.pubs {
		s.unpublish(id, false, why, cause)
	}
	for _, pb := range s.plays {
		pb.pl.Leave()
	}
	s.plays = nil
	// A player's writing goroutine may be blocked on a stuck peer:
	// closing the connection makes the write return.
	s.conn.Close()
	s.wg.Wait()
}

// lostStatus returns the onStatus code and description that tell an
// encoder why its publish was stopped.
func lostStatus(why error) (code, desc string) {
	switch {
	case errors.Is(why, ErrTakenOver):
		return rtmp.CodePublishBadName, "A newer publisher of this stream took it over."
	case errors.Is(why, ErrKicked):
		return rtmp.CodePublishFailed, "An administrator stopped this publish."
	}
	return rtmp.CodePublishFailed, "This server lost contact with the cluster; publish again."
}

// remoteString returns the peer address of c for logs.
func remoteString(c *rtmp.ServerConn) string {
	if a := c.RemoteAddr(); a != nil {
		return a.String()
	}
	return ""
}
