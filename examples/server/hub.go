package main

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/tributary-media/tributary/pkg/rtmp/flv"
)

// This file holds the stream and fan-out logic of the server. It knows
// nothing about connections: a publisher hands it messages, a player is a
// sink it writes to from the player's own goroutine. The connection code in
// conn.go adapts rtmp.ServerConn to both.
//
// Fan-out rules:
//
//   - One stream per key ("app/name"), one publisher per stream; a second
//     publish of a live key is refused.
//   - Every message of the publisher is copied once into an immutable
//     frame, shared by the GOP cache and every player queue.
//   - The stream caches onMetaData, the latest sequence header of every
//     audio and video track, and the frames since the last video keyframe
//     (bounded in bytes), so a joining player starts at once on a keyframe.
//   - Each player has a bounded queue that the publisher appends to under a
//     short lock and never waits on. Past the soft bound (bytes or
//     messages) the player's queued media is dropped and it skips media
//     until the next keyframe; metadata, sequence headers and stream events
//     are always kept. A player that has not caught up with its queue for
//     longer than the lag limit is disconnected.
//   - When the publisher ends, players get an unpublish event and stay; a
//     new publisher of the key feeds them again from its first keyframe.

// Default limits of a hub.
const (
	defaultGOPCacheBytes       = 16 << 20
	defaultPlayerQueueBytes    = 16 << 20
	defaultPlayerQueueMessages = 8192
	defaultPlayerMaxLag        = 10 * time.Second
)

var (
	// errStreamBusy refuses a publish of a key that already has a
	// publisher.
	errStreamBusy = errors.New("hub: stream is already being published")
	// errUnpublished is returned to a publisher that writes after its
	// publish ended.
	errUnpublished = errors.New("hub: publish has ended")
	// errPlayerTooSlow ends a player that stayed behind its queue for
	// longer than the lag limit.
	errPlayerTooSlow = errors.New("hub: player too slow")
	// errPlayerLeft ends a player that left the stream.
	errPlayerLeft = errors.New("hub: player left")
)

// hubConfig holds the limits of a hub. Zero values select the defaults;
// a negative PlayerMaxLag disables the lag limit.
type hubConfig struct {
	// GOPCacheBytes bounds the frames cached since the last keyframe. A
	// GOP that grows beyond it is not cached; players that join before
	// the next keyframe wait for it.
	GOPCacheBytes int
	// PlayerQueueBytes and PlayerQueueMessages bound a player's queue of
	// media; beyond either, the player drops to the next keyframe.
	PlayerQueueBytes    int
	PlayerQueueMessages int
	// PlayerMaxLag disconnects a player that has had undelivered
	// messages continuously for this long.
	PlayerMaxLag time.Duration
	// Logger receives stream and player events; nil discards them.
	Logger *slog.Logger
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

func (c hubConfig) withDefaults() hubConfig {
	if c.GOPCacheBytes <= 0 {
		c.GOPCacheBytes = defaultGOPCacheBytes
	}
	if c.PlayerQueueBytes <= 0 {
		c.PlayerQueueBytes = defaultPlayerQueueBytes
	}
	if c.PlayerQueueMessages <= 0 {
		c.PlayerQueueMessages = defaultPlayerQueueMessages
	}
	if c.PlayerMaxLag == 0 {
		c.PlayerMaxLag = defaultPlayerMaxLag
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// frameKind classifies a frame for caching and dropping.
type frameKind uint8

const (
	// kindMedia is droppable: audio, video inter frames, other data.
	kindMedia frameKind = iota
	// kindKey is a video keyframe: a player may start (again) here.
	kindKey
	// kindConfig is a sequence header (decoder configuration).
	kindConfig
	// kindMeta is onMetaData.
	kindMeta
)

// configKey names the track a sequence header configures.
type configKey struct {
	typ   flv.TagType
	track uint8
}

// frame is one message of a stream as players receive it. Its payload is
// a private copy that nobody modifies, so one frame is shared by the cache
// and by every player queue.
type frame struct {
	typ     flv.TagType
	ts      uint32
	payload []byte
	kind    frameKind
	seq     uint64      // arrival order within the stream
	tracks  []configKey // the tracks a sequence header configures
}

// newFrame copies payload into a frame and classifies it.
func newFrame(typ flv.TagType, ts uint32, payload []byte, isMeta bool) *frame {
	f := &frame{typ: typ, ts: ts, payload: slices.Clone(payload)}
	switch {
	case typ == flv.TagScript && isMeta:
		f.kind = kindMeta
	case flv.IsSequenceHeader(typ, f.payload):
		f.kind = kindConfig
		f.tracks = configTracks(typ, f.payload)
	case flv.IsKeyframe(typ, f.payload):
		f.kind = kindKey
	}
	return f
}

// configTracks returns the tracks a sequence header configures: every
// track of an Enhanced RTMP multitrack message, track 0 otherwise.
func configTracks(typ flv.TagType, body []byte) []configKey {
	var keys []configKey
	switch typ {
	case flv.TagVideo:
		if h, err := flv.ParseVideoHeader(body); err == nil {
			var t flv.VideoTrack
			for it := h.Tracks(); it.Next(&t); {
				keys = append(keys, configKey{typ, t.ID})
			}
		}
	case flv.TagAudio:
		if h, err := flv.ParseAudioHeader(body); err == nil {
			var t flv.AudioTrack
			for it := h.Tracks(); it.Next(&t); {
				keys = append(keys, configKey{typ, t.ID})
			}
		}
	}
	if len(keys) == 0 {
		keys = append(keys, configKey{typ, 0})
	}
	return keys
}

// droppable reports whether a slow player may lose the frame.
func (f *frame) droppable() bool { return f.kind == kindMedia || f.kind == kindKey }

// event is a stream event delivered to players in order with the frames.
type event uint8

const (
	eventNone event = iota
	// eventUnpublished: the publisher ended (NetStream.Play.UnpublishNotify).
	eventUnpublished
	// eventPublished: a new publisher started (NetStream.Play.PublishNotify).
	eventPublished
)

// item is one entry of a player queue: a frame or an event.
type item struct {
	f  *frame
	ev event
}

func (it item) size() int {
	if it.f == nil {
		return 0
	}
	return len(it.f.payload)
}

// sink is the writing side of a player: its connection. The player's run
// goroutine is the only caller of writeFrame and notify; close may be
// called from any goroutine, and must make a blocked write return.
type sink interface {
	writeFrame(f *frame) error
	notify(ev event) error
	close()
}

// hub holds the streams of a server. Its methods are safe for concurrent
// use. Lock order: hub.mu, then stream.mu, then player.mu.
type hub struct {
	cfg hubConfig
	log *slog.Logger

	mu      sync.Mutex
	streams map[string]*stream
}

func newHub(cfg hubConfig) *hub {
	cfg = cfg.withDefaults()
	return &hub{cfg: cfg, log: cfg.Logger, streams: make(map[string]*stream)}
}

// stream is the state of one key.
type stream struct {
	key string

	mu       sync.Mutex // guards the fields below
	pub      *publisher
	meta     *frame
	configs  map[configKey]*frame
	gop      []*frame // frames since the last keyframe, the keyframe first
	gopBytes int
	gopValid bool // gop holds every frame since its keyframe
	keyed    bool // the current publish has sent a video keyframe
	seq      uint64
	players  map[*player]struct{}
}

// streamLocked returns the stream of key, creating it. h.mu must be held.
func (h *hub) streamLocked(key string) *stream {
	s := h.streams[key]
	if s == nil {
		s = &stream{key: key, configs: make(map[configKey]*frame), players: make(map[*player]struct{})}
		h.streams[key] = s
	}
	return s
}

// removeIfIdleLocked forgets s when nobody publishes or plays it. h.mu and
// s.mu must be held.
func (h *hub) removeIfIdleLocked(s *stream) {
	if s.pub == nil && len(s.players) == 0 && h.streams[s.key] == s {
		delete(h.streams, s.key)
	}
}

// streamCount returns the number of streams with a publisher or players.
func (h *hub) streamCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.streams)
}

// publisher is the publishing side of a stream.
type publisher struct {
	h     *hub
	s     *stream
	ended bool // guarded by s.mu
	// frames counts the messages written, for logs.
	frames uint64
}

// publish makes the caller the publisher of key. It fails with
// errStreamBusy while another publisher holds the key. Players already
// waiting on the key get eventPublished.
func (h *hub) publish(key string) (*publisher, error) {
	h.mu.Lock()
	s := h.streamLocked(key)
	s.mu.Lock()
	if s.pub != nil {
		s.mu.Unlock()
		h.mu.Unlock()
		return nil, errStreamBusy
	}
	p := &publisher{h: h, s: s}
	s.pub = p
	s.resetLocked()
	kicked := s.broadcastLocked(item{ev: eventPublished})
	s.mu.Unlock()
	h.mu.Unlock()
	closeSinks(kicked)
	return p, nil
}

// resetLocked forgets what the previous publish left. s.mu must be held.
func (s *stream) resetLocked() {
	s.meta = nil
	clear(s.configs)
	s.gop, s.gopBytes, s.gopValid = nil, 0, false
	s.keyed = false
}

// write adds one message of the publisher to the stream: it updates the
// caches and appends the frame to every player queue, without waiting for
// any player. isMeta marks a script message that is onMetaData. payload is
// copied.
func (p *publisher) write(typ flv.TagType, ts uint32, payload []byte, isMeta bool) error {
	f := newFrame(typ, ts, payload, isMeta)
	s := p.s
	s.mu.Lock()
	if p.ended {
		s.mu.Unlock()
		return errUnpublished
	}
	p.frames++
	s.seq++
	f.seq = s.seq
	s.cacheLocked(f, p.h.cfg.GOPCacheBytes)
	kicked := s.broadcastLocked(item{f: f})
	s.mu.Unlock()
	closeSinks(kicked)
	return nil
}

// broadcastLocked offers it to every player of s and removes the players
// that must be disconnected for lagging; the caller closes their sinks
// with closeSinks once it has released its locks. s.mu must be held.
func (s *stream) broadcastLocked(it item) (kicked []*player) {
	for pl := range s.players {
		if pl.enqueue(it, s.keyed) {
			kicked = append(kicked, pl)
		}
	}
	for _, pl := range kicked {
		delete(s.players, pl)
	}
	return kicked
}

// cacheLocked updates metadata, sequence headers and the GOP cache with f.
// s.mu must be held.
func (s *stream) cacheLocked(f *frame, limit int) {
	switch f.kind {
	case kindMeta:
		s.meta = f
	case kindConfig:
		for _, k := range f.tracks {
			s.configs[k] = f
		}
	case kindKey:
		s.keyed = true
		clear(s.gop) // let the old frames go
		s.gop = append(s.gop[:0], f)
		s.gopBytes = len(f.payload)
		s.gopValid = s.gopBytes <= limit
		if !s.gopValid {
			s.gop, s.gopBytes = s.gop[:0], 0
		}
	default:
		if !s.gopValid {
			return
		}
		if s.gopBytes+len(f.payload) > limit {
			clear(s.gop)
			s.gop, s.gopBytes, s.gopValid = s.gop[:0], 0, false
			return
		}
		s.gop = append(s.gop, f)
		s.gopBytes += len(f.payload)
	}
}

// joinItemsLocked returns what a joining player gets at once: metadata,
// the sequence headers in the order they arrived, then the cached GOP.
// ready reports whether it holds a GOP from its keyframe, so that the
// player need not wait for the next keyframe. s.mu must be held.
func (s *stream) joinItemsLocked() (items []item, ready bool) {
	if s.pub == nil {
		return nil, false
	}
	if s.meta != nil {
		items = append(items, item{f: s.meta})
	}
	var cfgs []*frame
	for _, f := range s.configs {
		if !slices.Contains(cfgs, f) {
			cfgs = append(cfgs, f)
		}
	}
	slices.SortFunc(cfgs, func(a, b *frame) int { return cmp.Compare(a.seq, b.seq) })
	for _, f := range cfgs {
		items = append(items, item{f: f})
	}
	if s.gopValid && len(s.gop) > 0 {
		for _, f := range s.gop {
			items = append(items, item{f: f})
		}
		return items, true
	}
	return items, false
}

// close ends the publish: players get eventUnpublished and wait for the
// next publisher, which they join at its first keyframe. It is safe to
// call more than once.
func (p *publisher) close() {
	h, s := p.h, p.s
	h.mu.Lock()
	s.mu.Lock()
	if p.ended {
		s.mu.Unlock()
		h.mu.Unlock()
		return
	}
	p.ended = true
	s.pub = nil
	s.resetLocked()
	kicked := s.broadcastLocked(item{ev: eventUnpublished})
	for pl := range s.players {
		pl.mu.Lock()
		pl.skipping = true
		pl.mu.Unlock()
	}
	h.removeIfIdleLocked(s)
	s.mu.Unlock()
	h.mu.Unlock()
	closeSinks(kicked)
}

// closeSinks closes the connections of players disconnected for lagging,
// which makes a write blocked on a stuck peer return. No lock may be held:
// closing may take a moment.
func closeSinks(kicked []*player) {
	for _, pl := range kicked {
		pl.sink.close()
	}
}

// player is the playing side of a stream: a queue filled by the publisher
// and drained by run into the sink.
type player struct {
	h    *hub
	s    *stream
	sink sink
	wake chan struct{} // signalled when the queue grows or the player ends

	mu          sync.Mutex // guards the fields below
	q           []item
	head        int // q[head:] is the queue
	qBytes      int // payload bytes in the queue
	qMedia      int // droppable frames in the queue
	skipping    bool
	behindSince time.Time // zero while the player has caught up
	closed      bool
	err         error
	sent        uint64 // frames written to the sink
	dropped     uint64 // frames never written: skipped or dropped from the queue
	drops       int    // times the queue overflowed
}

// playerStats is what a player did, for logs and tests.
type playerStats struct {
	Sent, Dropped uint64
	Drops         int
}

// play adds a player for key, with sink as its connection. The player
// gets the stream's metadata, sequence headers and cached GOP at once,
// then live frames; run must be called to deliver them.
func (h *hub) play(key string, sk sink) *player {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.streamLocked(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	pl := &player{h: h, s: s, sink: sk, wake: make(chan struct{}, 1)}
	items, ready := s.joinItemsLocked()
	pl.skipping = !ready
	for _, it := range items {
		pl.pushLocked(it)
	}
	if len(items) > 0 {
		pl.behindSince = h.cfg.Now()
		pl.signal()
	}
	s.players[pl] = struct{}{}
	return pl
}

func (pl *player) len() int { return len(pl.q) - pl.head }

func (pl *player) signal() {
	select {
	case pl.wake <- struct{}{}:
	default:
	}
}

// pushLocked appends it to the queue. pl.mu must be held (or pl not yet
// shared).
func (pl *player) pushLocked(it item) {
	pl.q = append(pl.q, it)
	pl.qBytes += it.size()
	if it.f != nil && it.f.droppable() {
		pl.qMedia++
	}
}

// enqueue offers it to the player, applying the skip and drop rules. It
// never blocks on the player's sink. keyed tells whether the stream has
// sent a video keyframe since it was published: until then a skipping
// player still gets audio and data (the first keyframe is still to come,
// and an audio-only stream never sends one). It reports true when the
// player must be disconnected for lagging; the caller removes it from the
// stream and closes its sink. The stream's lock must be held.
func (pl *player) enqueue(it item, keyed bool) (kick bool) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if pl.closed {
		return false
	}
	cfg := &pl.h.cfg
	now := cfg.Now()
	if cfg.PlayerMaxLag > 0 && !pl.behindSince.IsZero() && now.Sub(pl.behindSince) > cfg.PlayerMaxLag {
		pl.h.log.Warn("player too slow, disconnecting", "stream", pl.s.key,
			"behind", now.Sub(pl.behindSince).Round(time.Millisecond), "queued_bytes", pl.qBytes, "queued", pl.len())
		pl.endLocked(errPlayerTooSlow)
		return true
	}
	if f := it.f; f != nil && f.droppable() {
		if pl.qMedia > 0 && (pl.qBytes+len(f.payload) > cfg.PlayerQueueBytes || pl.qMedia+1 > cfg.PlayerQueueMessages) {
			n := pl.dropMediaLocked()
			pl.drops++
			pl.skipping = true
			pl.h.log.Info("player behind, dropping to the next keyframe", "stream", pl.s.key,
				"dropped", n, "drops", pl.drops)
		}
		if pl.skipping {
			switch {
			case f.kind == kindKey:
				pl.skipping = false
			case f.typ != flv.TagVideo && !keyed:
				// Audio or data before the stream's first keyframe.
			default:
				pl.dropped++
				return false
			}
		}
	}
	pl.pushLocked(it)
	if pl.behindSince.IsZero() {
		pl.behindSince = now
	}
	pl.signal()
	return false
}

// dropMediaLocked removes the droppable frames from the queue and returns
// how many it removed. pl.mu must be held.
func (pl *player) dropMediaLocked() int {
	kept := pl.q[:pl.head]
	n := 0
	for _, it := range pl.q[pl.head:] {
		if it.f != nil && it.f.droppable() {
			pl.qBytes -= it.size()
			n++
			continue
		}
		kept = append(kept, it)
	}
	clear(pl.q[len(kept):])
	pl.q = kept
	pl.qMedia = 0
	pl.dropped += uint64(n)
	return n
}

// endLocked ends the player with err. pl.mu must be held.
func (pl *player) endLocked(err error) {
	if pl.closed {
		return
	}
	pl.closed, pl.err = true, err
	clear(pl.q)
	pl.q, pl.head, pl.qBytes, pl.qMedia = nil, 0, 0, 0
	pl.signal()
}

// next waits for the next queue entry. It returns the player's error once
// the player has ended.
func (pl *player) next() (item, error) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	for !pl.closed && pl.len() == 0 {
		pl.behindSince = time.Time{} // caught up
		pl.mu.Unlock()
		<-pl.wake
		pl.mu.Lock()
	}
	if pl.closed {
		return item{}, pl.err
	}
	it := pl.q[pl.head]
	pl.q[pl.head] = item{}
	pl.head++
	pl.qBytes -= it.size()
	if it.f != nil && it.f.droppable() {
		pl.qMedia--
	}
	if pl.head == len(pl.q) {
		pl.q, pl.head = pl.q[:0], 0
	} else if pl.head > 64 && pl.head*2 > len(pl.q) {
		n := copy(pl.q, pl.q[pl.head:])
		clear(pl.q[n:])
		pl.q, pl.head = pl.q[:n], 0
	}
	if it.f != nil {
		pl.sent++
	}
	return it, nil
}

// run delivers the player's queue to its sink until the player leaves, is
// disconnected, the sink fails or ctx ends, and returns why it ended:
// errPlayerLeft after leave, errPlayerTooSlow after a disconnection for
// lagging, the sink's error or ctx's error.
func (pl *player) run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { pl.leaveWith(ctx.Err()) })
	defer stop()
	for {
		it, err := pl.next()
		if err != nil {
			return err
		}
		if it.f != nil {
			err = pl.sink.writeFrame(it.f)
		} else {
			err = pl.sink.notify(it.ev)
		}
		if err != nil {
			// The first reason wins: a write that fails because the hub
			// closed a lagging player's sink reports errPlayerTooSlow.
			pl.leaveWith(err)
			pl.mu.Lock()
			err = pl.err
			pl.mu.Unlock()
			return err
		}
	}
}

// leave removes the player from its stream and ends run with
// errPlayerLeft. It is safe to call more than once.
func (pl *player) leave() { pl.leaveWith(errPlayerLeft) }

func (pl *player) leaveWith(err error) {
	h, s := pl.h, pl.s
	h.mu.Lock()
	s.mu.Lock()
	delete(s.players, pl)
	pl.mu.Lock()
	pl.endLocked(err)
	pl.mu.Unlock()
	h.removeIfIdleLocked(s)
	s.mu.Unlock()
	h.mu.Unlock()
}

// stats returns the player's counters.
func (pl *player) stats() playerStats {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	return playerStats{Sent: pl.sent, Dropped: pl.dropped, Drops: pl.drops}
}
