// Package fanout delivers the frames of live streams to their players: one
// writer per stream, any number of players, each with a bounded queue, and a
// cache of what a joining player needs to start at once. It knows nothing
// about connections or the bus: a writer hands it frames, a player is a Sink
// it writes to. The edge feeds it from its bus subscriptions; the example
// server feeds it straight from publishers.
//
// Fan-out rules:
//
//   - One stream per key, one writer (Publisher) per stream; a second
//     Publish of a live key is refused with ErrStreamBusy.
//   - A frame is immutable once written: one Frame is shared by the GOP
//     cache and every player queue.
//   - The stream caches onMetaData, the latest sequence header of every
//     audio and video track, and the frames since the last video keyframe
//     (bounded in bytes), so a joining player starts at once on a keyframe.
//   - Each player has a bounded queue that the writer appends to under a
//     short lock and never waits on. A player has no goroutine of its
//     own: writer goroutines, started while players have frames waiting
//     (at most writersPerCPU per CPU), write out their queues one player
//     at a time. A write that blocks on a player whose connection takes no
//     more holds one writer while the others go on; when all are blocked,
//     another is started after stuckWriterCheck. Thousands of players
//     that keep up cost no goroutine stacks. Past the soft bound (bytes or
//     messages) the player's queued media is dropped and it skips media
//     until the next keyframe; metadata, sequence headers and stream events
//     are always kept. A player that has not caught up with its queue for
//     longer than the lag limit is disconnected.
//   - When the writer ends (Close), players get EventUnpublished and stay; a
//     new Publisher of the key feeds them again from its first keyframe
//     after EventPublished. A writer whose source changed without an end
//     (Restart: a new publish after a gap) or lost frames (Discontinuity)
//     makes its players skip to the next keyframe.
//
// Lock order: Hub.mu, then stream.mu, then Player.mu. All methods are safe
// for concurrent use unless they say otherwise.
package fanout

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/tributary-media/tributary/pkg/rtmp/flv"
)

// Default limits of a Hub.
const (
	DefaultGOPCacheBytes       = 16 << 20
	DefaultPlayerQueueBytes    = 16 << 20
	DefaultPlayerQueueMessages = 8192
	DefaultPlayerMaxLag        = 10 * time.Second
	// DefaultAudioHold: at 24 fps and more, audio leaves with the next
	// video frame.
	DefaultAudioHold = 50 * time.Millisecond
)

var (
	// ErrStreamBusy refuses a publish of a key that already has a
	// publisher.
	ErrStreamBusy = errors.New("fanout: stream is already being published")
	// ErrUnpublished is returned to a publisher that writes after its
	// publish ended.
	ErrUnpublished = errors.New("fanout: publish has ended")
	// ErrPlayerTooSlow ends a player that stayed behind its queue for
	// longer than the lag limit.
	ErrPlayerTooSlow = errors.New("fanout: player too slow")
	// ErrPlayerLeft ends a player that left the stream.
	ErrPlayerLeft = errors.New("fanout: player left")
)

// Config holds the limits of a hub. Zero values select the defaults;
// a negative PlayerMaxLag disables the lag limit.
type Config struct {
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
	// AudioHold lets audio wait for video: an audio frame that arrives
	// within AudioHold of the stream's last video frame is queued without
	// waking the players, so it leaves with the next video frame in the
	// same socket write (at 30 fps, 77 writes a second become 30, and most
	// of a fan-out's CPU time is per write). No audio frame waits longer
	// than AudioHold: a timer wakes the players if no video frame came.
	// Video, data and events never wait, and an audio-only stream never
	// does. Zero selects DefaultAudioHold; negative disables it.
	AudioHold time.Duration
	// Logger receives stream and player events; nil discards them.
	Logger *slog.Logger
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// AudioHoldSetting maps a command-line -audio-hold value, where 0 (or
// less) turns holding off, to Config.AudioHold, where 0 selects the
// default.
func AudioHoldSetting(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}

func (c Config) withDefaults() Config {
	if c.GOPCacheBytes <= 0 {
		c.GOPCacheBytes = DefaultGOPCacheBytes
	}
	if c.PlayerQueueBytes <= 0 {
		c.PlayerQueueBytes = DefaultPlayerQueueBytes
	}
	if c.PlayerQueueMessages <= 0 {
		c.PlayerQueueMessages = DefaultPlayerQueueMessages
	}
	if c.PlayerMaxLag == 0 {
		c.PlayerMaxLag = DefaultPlayerMaxLag
	}
	if c.AudioHold == 0 {
		c.AudioHold = DefaultAudioHold
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

// Frame is one message of a stream as players receive it: an FLV tag type,
// a timestamp and the tag body. Once written to a Publisher it is shared by
// the cache and every player queue, so nobody may modify it or its Payload.
type Frame struct {
	// Type is the FLV tag type: audio, video or script data.
	Type flv.TagType
	// Timestamp is the tag timestamp in milliseconds.
	Timestamp uint32
	// Payload is the tag body.
	Payload []byte
	// IngestTime is when the frame was received from the encoder, in Unix
	// nanoseconds, or 0 when unknown.
	IngestTime int64

	kind   frameKind
	seq    uint64      // arrival order within the stream
	tracks []configKey // the tracks a sequence header configures
}

// NewFrame classifies a message into a Frame. It keeps payload, which the
// caller must not modify afterwards (clone a reused buffer first). isMeta
// marks a script message that is onMetaData.
func NewFrame(typ flv.TagType, ts uint32, payload []byte, isMeta bool) *Frame {
	f := &Frame{Type: typ, Timestamp: ts, Payload: payload}
	switch {
	case typ == flv.TagScript && isMeta:
		f.kind = kindMeta
	case flv.IsSequenceHeader(typ, f.Payload):
		f.kind = kindConfig
		f.tracks = configTracks(typ, f.Payload)
	case flv.IsKeyframe(typ, f.Payload):
		f.kind = kindKey
	}
	return f
}

// IsKeyframe reports whether the frame is a video keyframe, where a player
// may start.
func (f *Frame) IsKeyframe() bool { return f.kind == kindKey }

// IsConfig reports whether the frame is a sequence header (decoder
// configuration) or onMetaData.
func (f *Frame) IsConfig() bool { return f.kind == kindConfig || f.kind == kindMeta }

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
func (f *Frame) droppable() bool { return f.kind == kindMedia || f.kind == kindKey }

// Event is a stream event delivered to players in order with the frames.
type Event uint8

const (
	// EventNone is the zero Event; it is never delivered.
	EventNone Event = iota
	// EventUnpublished: the stream's writer ended
	// (NetStream.Play.UnpublishNotify).
	EventUnpublished
	// EventPublished: a writer started after EventUnpublished or before
	// any frame (NetStream.Play.PublishNotify).
	EventPublished
	// EventRestarted: the stream continues from a new source without an
	// end in between (the encoder came back after a gap): players hear
	// nothing of it, but timestamps start again and decoders restart at
	// the next keyframe.
	EventRestarted
)

// String returns the event's name.
func (ev Event) String() string {
	switch ev {
	case EventUnpublished:
		return "unpublished"
	case EventPublished:
		return "published"
	case EventRestarted:
		return "restarted"
	}
	return "none"
}

// item is one entry of a player queue: a frame or an event.
type item struct {
	f  *Frame
	ev Event
}

func (it item) size() int {
	if it.f == nil {
		return 0
	}
	return len(it.f.Payload)
}

// Sink is the writing side of a player: its connection. WriteFrame, Notify
// and Flush are called by one goroutine at a time (the player's writing
// goroutine of the moment, one after the other); Close may be called from
// any goroutine, and must make a blocked write return.
type Sink interface {
	// WriteFrame writes one frame to the player. It must not modify f. It
	// may keep the frame in a buffer until Flush: the player writes
	// everything queued, then flushes once, so a player that has several
	// frames waiting gets them in few socket writes.
	WriteFrame(f *Frame) error
	// Flush writes out the frames WriteFrame buffered. It is called
	// whenever the queue has been written out.
	Flush() error
	// Notify tells the player about a stream event.
	Notify(ev Event) error
	// Close disconnects the player; the hub calls it on a player that
	// lagged for too long.
	Close()
}

// hub holds the streams of a server. Its methods are safe for concurrent
// use. Lock order: hub.mu, then stream.mu, then player.mu.
type Hub struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	streams map[string]*stream

	// The writers: runq holds the players with something to write, in
	// the order they asked. Lock order: runMu is taken last.
	runMu      sync.Mutex
	runq       []*Player
	runHead    int
	writers    int         // writer goroutines running
	maxWriters int         // writers started on demand; more only to replace stuck ones
	written    uint64      // players written out, for the stuck check
	mark       uint64      // written at the last stuck check
	watch      *time.Timer // the stuck check, armed while players wait
	watching   bool
}

// stuckWriterCheck is how long players may wait in the run queue while no
// writer finishes a player before another writer is started: the running
// ones are blocked on connections that take no more.
const stuckWriterCheck = 2 * time.Millisecond

// writersPerCPU is how many writers a hub starts per CPU before it waits
// for one to finish. Writers run one at a time per CPU; the others stand
// in for the ones blocked in a write to a player that is behind (near a
// server's limit many are), so that the CPU never idles while players
// wait. Writers exist only while players have frames waiting.
const writersPerCPU = 32

func New(cfg Config) *Hub {
	cfg = cfg.withDefaults()
	return &Hub{cfg: cfg, log: cfg.Logger, streams: make(map[string]*stream),
		maxWriters: max(runtime.GOMAXPROCS(0), 1) * writersPerCPU}
}

// schedule queues pl for a writer, starting one when fewer than
// maxWriters run.
func (h *Hub) schedule(pl *Player) {
	h.runMu.Lock()
	defer h.runMu.Unlock()
	h.runq = append(h.runq, pl)
	if h.writers < h.maxWriters {
		h.writers++
		go h.write()
		return
	}
	if !h.watching {
		h.watching, h.mark = true, h.written
		if h.watch == nil {
			h.watch = time.AfterFunc(stuckWriterCheck, h.checkStuck)
		} else {
			h.watch.Reset(stuckWriterCheck)
		}
	}
}

// write is a writer goroutine: it writes out the queued players, one at a
// time, and ends when none is left.
func (h *Hub) write() {
	h.runMu.Lock()
	for h.runHead < len(h.runq) {
		pl := h.runq[h.runHead]
		h.runq[h.runHead] = nil
		h.runHead++
		if h.runHead > 64 && h.runHead*2 > len(h.runq) {
			// Under steady load the queue may never empty: reuse the
			// array's front.
			n := copy(h.runq, h.runq[h.runHead:])
			clear(h.runq[n:])
			h.runq, h.runHead = h.runq[:n], 0
		}
		h.runMu.Unlock()
		pl.drain()
		h.runMu.Lock()
		h.written++
	}
	h.runq, h.runHead = h.runq[:0], 0
	h.writers--
	h.runMu.Unlock()
}

// checkStuck starts another writer when players waited a whole
// stuckWriterCheck while no writer finished one.
func (h *Hub) checkStuck() {
	h.runMu.Lock()
	defer h.runMu.Unlock()
	if h.runHead == len(h.runq) {
		h.watching = false
		return
	}
	if h.written == h.mark {
		h.writers++
		go h.write()
	}
	h.mark = h.written
	h.watch.Reset(stuckWriterCheck)
}

// stream is the state of one key.
type stream struct {
	key string

	mu       sync.Mutex // guards the fields below
	pub      *Publisher
	meta     *Frame
	configs  map[configKey]*Frame
	gop      []*Frame // frames since the last keyframe, the keyframe first
	gopBytes int
	gopValid bool // gop holds every frame since its keyframe
	keyed    bool // the current publish has sent a video keyframe
	seq      uint64
	video    time.Time // when the last video frame was written
	// holding is set while frames sit in player queues without a wake-up
	// (audio held for the next video frame); holdTimer wakes the players
	// AudioHold after the first of them if nothing else has.
	holding   bool
	holdTimer *time.Timer
	players   map[*Player]struct{}
}

// streamLocked returns the stream of key, creating it. h.mu must be held.
func (h *Hub) streamLocked(key string) *stream {
	s := h.streams[key]
	if s == nil {
		s = &stream{key: key, configs: make(map[configKey]*Frame), players: make(map[*Player]struct{})}
		h.streams[key] = s
	}
	return s
}

// removeIfIdleLocked forgets s when nobody publishes or plays it. h.mu and
// s.mu must be held.
func (h *Hub) removeIfIdleLocked(s *stream) {
	if s.pub == nil && len(s.players) == 0 && h.streams[s.key] == s {
		delete(h.streams, s.key)
	}
}

// streamCount returns the number of streams with a publisher or players.
func (h *Hub) StreamCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.streams)
}

// publisher is the publishing side of a stream.
type Publisher struct {
	h     *Hub
	s     *stream
	ended bool // guarded by s.mu
	// frames counts the messages written, for logs.
	frames uint64
}

// publish makes the caller the publisher of key. It fails with
// ErrStreamBusy while another publisher holds the key. Players already
// waiting on the key get EventPublished.
func (h *Hub) Publish(key string) (*Publisher, error) {
	h.mu.Lock()
	s := h.streamLocked(key)
	s.mu.Lock()
	if s.pub != nil {
		s.mu.Unlock()
		h.mu.Unlock()
		return nil, ErrStreamBusy
	}
	p := &Publisher{h: h, s: s}
	s.pub = p
	s.resetLocked()
	kicked := s.broadcastLocked(item{ev: EventPublished}, true)
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

// Write adds one frame to the stream: it updates the caches and appends
// the frame to every player queue, without waiting for any player. The
// frame is shared from then on: neither it nor its Payload may change.
// Calls must not overlap; Write fails with ErrUnpublished after Close.
func (p *Publisher) Write(f *Frame) error {
	s := p.s
	s.mu.Lock()
	if p.ended {
		s.mu.Unlock()
		return ErrUnpublished
	}
	p.frames++
	s.seq++
	f.seq = s.seq
	cfg := &p.h.cfg
	s.cacheLocked(f, cfg.GOPCacheBytes)
	wake := true
	switch f.Type {
	case flv.TagVideo:
		if cfg.AudioHold > 0 {
			s.video = cfg.Now()
		}
	case flv.TagAudio:
		wake = cfg.AudioHold < 0 || f.kind != kindMedia || cfg.Now().Sub(s.video) >= cfg.AudioHold
	}
	kicked := s.broadcastLocked(item{f: f}, wake)
	if !wake && !s.holding {
		s.holding = true
		if s.holdTimer == nil {
			s.holdTimer = time.AfterFunc(cfg.AudioHold, s.releaseHeld)
		} else {
			s.holdTimer.Reset(cfg.AudioHold)
		}
	}
	s.mu.Unlock()
	closeSinks(kicked)
	return nil
}

// releaseHeld wakes the players when held audio has waited AudioHold for
// a video frame that did not come (the video stopped, or the stream
// paused or ended): nothing stays queued unsent.
func (s *stream) releaseHeld() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.holding {
		return
	}
	s.holding = false
	for pl := range s.players {
		pl.mu.Lock()
		pl.wakeLocked()
		pl.mu.Unlock()
	}
}

// Restart continues the stream from a new source without an end in
// between (the encoder reconnected after a gap): the caches are cleared,
// players get EventRestarted and skip to the new source's first keyframe,
// after its sequence headers.
func (p *Publisher) Restart() {
	p.interrupt(true)
}

// Discontinuity tells the stream that frames were lost before the next
// one: the cached GOP can no longer be decoded, and players skip to the
// next keyframe.
func (p *Publisher) Discontinuity() {
	p.interrupt(false)
}

func (p *Publisher) interrupt(restart bool) {
	s := p.s
	s.mu.Lock()
	if p.ended {
		s.mu.Unlock()
		return
	}
	var kicked []*Player
	if restart {
		s.resetLocked()
		kicked = s.broadcastLocked(item{ev: EventRestarted}, true)
	} else {
		clear(s.gop)
		s.gop, s.gopBytes, s.gopValid = s.gop[:0], 0, false
	}
	for pl := range s.players {
		pl.mu.Lock()
		pl.skipping = true
		pl.mu.Unlock()
	}
	s.mu.Unlock()
	closeSinks(kicked)
}

// Frames returns the number of frames written.
func (p *Publisher) Frames() uint64 {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	return p.frames
}

// broadcastLocked offers it to every player of s, waking them if wake is
// set, and removes the players that must be disconnected for lagging; the
// caller closes their sinks with closeSinks once it has released its
// locks. s.mu must be held.
func (s *stream) broadcastLocked(it item, wake bool) (kicked []*Player) {
	if wake && s.holding {
		// The players wake now, held frames included.
		s.holding = false
		s.holdTimer.Stop()
	}
	for pl := range s.players {
		if pl.enqueue(it, s.keyed, wake) {
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
func (s *stream) cacheLocked(f *Frame, limit int) {
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
		s.gopBytes = len(f.Payload)
		s.gopValid = s.gopBytes <= limit
		if !s.gopValid {
			s.gop, s.gopBytes = s.gop[:0], 0
		}
	default:
		if !s.gopValid {
			return
		}
		if s.gopBytes+len(f.Payload) > limit {
			clear(s.gop)
			s.gop, s.gopBytes, s.gopValid = s.gop[:0], 0, false
			return
		}
		s.gop = append(s.gop, f)
		s.gopBytes += len(f.Payload)
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
	// One array, which becomes the player's queue: with room for the
	// frames that follow, since many players join at once.
	items = make([]item, 0, 1+len(s.configs)+len(s.gop)+joinQueueRoom)
	if s.meta != nil {
		items = append(items, item{f: s.meta})
	}
	var cfgs []*Frame
	for _, f := range s.configs {
		if !slices.Contains(cfgs, f) {
			cfgs = append(cfgs, f)
		}
	}
	slices.SortFunc(cfgs, func(a, b *Frame) int { return cmp.Compare(a.seq, b.seq) })
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

// joinQueueRoom is the room a joining player's queue has for the frames
// that follow its join items.
const joinQueueRoom = 16

// close ends the publish: players get EventUnpublished and wait for the
// next publisher, which they join at its first keyframe. It is safe to
// call more than once.
func (p *Publisher) Close() {
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
	kicked := s.broadcastLocked(item{ev: EventUnpublished}, true)
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
func closeSinks(kicked []*Player) {
	for _, pl := range kicked {
		pl.sink.Close()
	}
}

// Player is the playing side of a stream: a queue filled by the publisher
// and written to the sink by a goroutine that runs only while there is
// something to write.
type Player struct {
	h    *Hub
	s    *stream
	sink Sink

	mu          sync.Mutex  // guards the fields below
	done        func(error) // set by Start; called once when the player ends
	started     bool        // Start was called
	running     bool        // a goroutine is writing the queue
	finished    bool        // done was called (or is being called)
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

// PlayerStats is what a player did, for logs and tests.
type PlayerStats struct {
	Sent, Dropped uint64
	Drops         int
}

// Play adds a player for key, with sink as its connection. The player
// gets the stream's metadata, sequence headers and cached GOP at once,
// then live frames; Start (or Run) must be called to deliver them.
func (h *Hub) Play(key string, sk Sink) *Player {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.streamLocked(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	pl := &Player{h: h, s: s, sink: sk}
	items, ready := s.joinItemsLocked()
	pl.skipping = !ready
	pl.q = items[:0]
	for _, it := range items {
		pl.pushLocked(it)
	}
	if len(items) > 0 {
		pl.behindSince = h.cfg.Now()
	}
	s.players[pl] = struct{}{}
	return pl
}

func (pl *Player) len() int { return len(pl.q) - pl.head }

// wakeLocked starts the player's writing goroutine when it has work and
// none is running: frames to write, or an end to report. pl.mu must be
// held.
func (pl *Player) wakeLocked() {
	if !pl.started || pl.running || pl.finished || (pl.len() == 0 && !pl.closed) {
		return
	}
	pl.running = true
	pl.h.schedule(pl)
}

// pushLocked appends it to the queue. pl.mu must be held (or pl not yet
// shared).
func (pl *Player) pushLocked(it item) {
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
// and an audio-only stream never sends one). It wakes the player if wake
// is set. It reports true when the player must be disconnected
// for lagging; the caller removes it from the stream and closes its sink.
// The stream's lock must be held.
func (pl *Player) enqueue(it item, keyed, wake bool) (kick bool) {
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
		pl.endLocked(ErrPlayerTooSlow)
		return true
	}
	if f := it.f; f != nil && f.droppable() {
		if pl.qMedia > 0 && (pl.qBytes+len(f.Payload) > cfg.PlayerQueueBytes || pl.qMedia+1 > cfg.PlayerQueueMessages) {
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
			case f.Type != flv.TagVideo && !keyed:
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
	if wake {
		pl.wakeLocked()
	}
	return false
}

// dropMediaLocked removes the droppable frames from the queue and returns
// how many it removed. pl.mu must be held.
func (pl *Player) dropMediaLocked() int {
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
func (pl *Player) endLocked(err error) {
	if pl.closed {
		return
	}
	pl.closed, pl.err = true, err
	clear(pl.q)
	pl.q, pl.head, pl.qBytes, pl.qMedia = nil, 0, 0, 0
	pl.wakeLocked()
}

// maxIdleQueueCap is the most entries an empty player queue keeps room
// for; a larger array goes back to the heap (thousands of players each
// keeping the array their join's GOP needed add up).
const maxIdleQueueCap = 16

// step is what the player's writing goroutine does next.
type step uint8

const (
	stepWrite  step = iota // write the entry returned
	stepFlush              // the queue is written out: flush the sink
	stepIdle               // nothing to do: the goroutine ends
	stepFinish             // the player ended: call done with the error
)

// take returns the next queue entry to write, or what to do when there is
// none: flush if flushed is false, else end the goroutine (the player has
// caught up). Once the player has ended it returns stepFinish with the
// player's error, once.
func (pl *Player) take(flushed bool) (it item, st step, err error) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if pl.closed {
		pl.running = false
		if pl.finished {
			return item{}, stepIdle, nil
		}
		pl.finished = true
		return item{}, stepFinish, pl.err
	}
	if pl.len() == 0 {
		if !flushed {
			return item{}, stepFlush, nil
		}
		pl.behindSince = time.Time{} // caught up
		pl.running = false
		return item{}, stepIdle, nil
	}
	it = pl.q[pl.head]
	pl.q[pl.head] = item{}
	pl.head++
	pl.qBytes -= it.size()
	if it.f != nil && it.f.droppable() {
		pl.qMedia--
	}
	if pl.head == len(pl.q) {
		pl.q, pl.head = pl.q[:0], 0
		if cap(pl.q) > maxIdleQueueCap {
			// A join (the cached GOP) or a catch-up grew the queue; a
			// player that keeps up needs a few entries.
			pl.q = nil
		}
	} else if pl.head > 64 && pl.head*2 > len(pl.q) {
		n := copy(pl.q, pl.q[pl.head:])
		clear(pl.q[n:])
		pl.q, pl.head = pl.q[:n], 0
	}
	if it.f != nil {
		pl.sent++
	}
	return it, stepWrite, nil
}

// drain writes everything queued for the player, flushes the sink once,
// and returns when nothing more was queued meanwhile. When it finds the
// player ended it calls done.
func (pl *Player) drain() {
	flushed := true
	for {
		it, st, err := pl.take(flushed)
		switch st {
		case stepIdle:
			return
		case stepFinish:
			pl.done(err)
			return
		case stepFlush:
			flushed = true
			err = pl.sink.Flush()
		default:
			flushed = false
			if it.f != nil {
				err = pl.sink.WriteFrame(it.f)
			} else {
				err = pl.sink.Notify(it.ev)
			}
		}
		if err != nil {
			// The first reason wins: a write that fails because the hub
			// closed a lagging player's sink reports ErrPlayerTooSlow.
			pl.leaveWith(err)
		}
	}
}

// Start delivers the player's queue to its sink until the player leaves, is
// disconnected, or the sink fails, then calls done once with why the
// player ended: ErrPlayerLeft after Leave, ErrPlayerTooSlow after a
// disconnection for lagging, or the sink's error. The hub's writers write
// the queue whenever frames are waiting; done runs on a writer after the
// last use of the sink, with no lock held, and must not block for long.
// Start must be called once.
func (pl *Player) Start(done func(error)) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if pl.started {
		panic("fanout: Player.Start called twice")
	}
	pl.started, pl.done = true, done
	pl.wakeLocked()
}

// Run is Start that waits for the player to end and returns why; it also
// ends the player when ctx ends, with ctx's error.
func (pl *Player) Run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { pl.leaveWith(ctx.Err()) })
	defer stop()
	ended := make(chan error, 1)
	pl.Start(func(err error) { ended <- err })
	return <-ended
}

// leave removes the player from its stream and ends run with
// ErrPlayerLeft. It is safe to call more than once.
func (pl *Player) Leave() { pl.leaveWith(ErrPlayerLeft) }

func (pl *Player) leaveWith(err error) {
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
func (pl *Player) Stats() PlayerStats {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	return PlayerStats{Sent: pl.sent, Dropped: pl.dropped, Drops: pl.drops}
}
