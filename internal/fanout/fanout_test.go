package fanout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tributary-media/tributary/pkg/rtmp/flv"
)

// Tag bodies used by the tests. Only their first bytes matter to the hub;
// the tail makes sizes and contents distinct.
var (
	// AVC sequence header: key | AVC (0x17), AVCPacketType 0, CTS 0, record.
	avcSeq = []byte{0x17, 0x00, 0x00, 0x00, 0x00, 0x01, 0x64, 0x00, 0x1f}
	// AAC sequence header: AAC 44 kHz 16-bit stereo (0xaf), AACPacketType 0,
	// AudioSpecificConfig LC 44.1 kHz stereo.
	aacSeq = []byte{0xaf, 0x00, 0x12, 0x10}
	// E-RTMP hvc1 SequenceStart, track 0: ExHeader | key | SequenceStart.
	hvcSeq = append([]byte{0x90}, "hvc1\x01\x02\x03"...)
	// E-RTMP Opus SequenceStart: ExHeader (9) | SequenceStart.
	opusSeq = append([]byte{0x90}, "Opus\x01\x02"...)
	// E-RTMP multitrack SequenceStart: ExHeader | key | Multitrack (0x96),
	// ManyTracks | SequenceStart (0x10), FourCC, then per track: id, UI24
	// size, record.
	hvcSeqTracks12 = append(append([]byte{0x96, 0x10}, "hvc1"...),
		0x01, 0x00, 0x00, 0x02, 0xaa, 0xbb, // track 1
		0x02, 0x00, 0x00, 0x02, 0xcc, 0xdd) // track 2
	// E-RTMP multitrack SequenceStart, OneTrack layout (0x00): track 2 only.
	hvcSeqTrack2 = append(append([]byte{0x96, 0x00}, "hvc1"...), 0x02, 0xee, 0xff)
)

// avcKey returns an AVC keyframe body (0x17, NALU packet, CTS 0) of n bytes.
func avcKey(n int) []byte { return body([]byte{0x17, 0x01, 0, 0, 0}, n) }

// avcInter returns an AVC inter frame body (0x27, NALU packet, CTS 0).
func avcInter(n int) []byte { return body([]byte{0x27, 0x01, 0, 0, 0}, n) }

// aacRaw returns a raw AAC frame body (0xaf, AACPacketType 1).
func aacRaw(n int) []byte { return body([]byte{0xaf, 0x01}, n) }

func body(head []byte, n int) []byte {
	b := bytes.Repeat([]byte{0x5a}, max(n, len(head)))
	copy(b, head)
	return b
}

// frameCases are messages with the way the hub classifies them; they
// drive TestNewFrameClassifies and seed FuzzHubWrite.
var frameCases = []struct {
	name   string
	typ    flv.TagType
	bytes  []byte
	meta   bool
	kind   frameKind
	tracks []configKey
}{
	{"avc sequence header", flv.TagVideo, avcSeq, false, kindConfig, []configKey{{flv.TagVideo, 0}}},
	{"avc keyframe", flv.TagVideo, avcKey(20), false, kindKey, nil},
	{"avc inter frame", flv.TagVideo, avcInter(20), false, kindMedia, nil},
	{"aac sequence header", flv.TagAudio, aacSeq, false, kindConfig, []configKey{{flv.TagAudio, 0}}},
	{"aac frame", flv.TagAudio, aacRaw(20), false, kindMedia, nil},
	{"hvc1 sequence start", flv.TagVideo, hvcSeq, false, kindConfig, []configKey{{flv.TagVideo, 0}}},
	{"hvc1 coded frames x key", flv.TagVideo, append([]byte{0x93}, "hvc1\x00\x00"...), false, kindKey, nil},
	{"opus sequence start", flv.TagAudio, opusSeq, false, kindConfig, []configKey{{flv.TagAudio, 0}}},
	{"multitrack sequence start", flv.TagVideo, hvcSeqTracks12, false, kindConfig, []configKey{{flv.TagVideo, 1}, {flv.TagVideo, 2}}},
	{"one track sequence start", flv.TagVideo, hvcSeqTrack2, false, kindConfig, []configKey{{flv.TagVideo, 2}}},
	{"metadata", flv.TagScript, []byte{0x02, 0x00, 0x0a, 'o', 'n', 'M', 'e', 't', 'a', 'D', 'a', 't', 'a'}, true, kindMeta, nil},
	{"other data", flv.TagScript, []byte{0x02, 0x00, 0x01, 'x'}, false, kindMedia, nil},
}

func TestNewFrameClassifies(t *testing.T) {
	for _, tc := range frameCases {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFrame(tc.typ, 7, tc.bytes, tc.meta)
			if f.kind != tc.kind {
				t.Errorf("kind %d, want %d", f.kind, tc.kind)
			}
			if !slices.Equal(f.tracks, tc.tracks) {
				t.Errorf("tracks %v, want %v", f.tracks, tc.tracks)
			}
			if &f.Payload[0] != &tc.bytes[0] || f.Type != tc.typ || f.Timestamp != 7 {
				t.Error("frame does not hold the message it was given")
			}
			if got := f.IsKeyframe(); got != (tc.kind == kindKey) {
				t.Errorf("IsKeyframe() = %v", got)
			}
			if got := f.IsConfig(); got != (tc.kind == kindConfig || tc.kind == kindMeta) {
				t.Errorf("IsConfig() = %v", got)
			}
		})
	}
}

// fakeSink records what a player writes. With a gate, each write first
// waits until the gate is opened or the sink is closed.
type fakeSink struct {
	gate    chan struct{} // nil: writes never wait
	entered chan struct{} // receives once a write waits at the gate

	mu        sync.Mutex
	got       []string
	changed   chan struct{} // closed and replaced on every change
	closed    chan struct{}
	closeOnce sync.Once
	closes    int
	flushes   []int // len(got) at each Flush
}

func newFakeSink(gated bool) *fakeSink {
	k := &fakeSink{changed: make(chan struct{}), closed: make(chan struct{}), entered: make(chan struct{}, 1)}
	if gated {
		k.gate = make(chan struct{})
	}
	return k
}

// label names a frame in test expectations: "v40" is the video frame with
// timestamp 40, "a23" audio, "s0" script data.
func label(f *Frame) string {
	return fmt.Sprintf("%c%d", map[flv.TagType]byte{flv.TagAudio: 'a', flv.TagVideo: 'v', flv.TagScript: 's'}[f.Type], f.Timestamp)
}

func (k *fakeSink) wait() error {
	if k.gate == nil {
		return nil
	}
	select {
	case k.entered <- struct{}{}:
	default:
	}
	select {
	case <-k.gate:
		return nil
	case <-k.closed:
		return errors.New("fake sink closed")
	}
}

func (k *fakeSink) record(s string) {
	k.mu.Lock()
	k.got = append(k.got, s)
	close(k.changed)
	k.changed = make(chan struct{})
	k.mu.Unlock()
}

func (k *fakeSink) WriteFrame(f *Frame) error {
	if err := k.wait(); err != nil {
		return err
	}
	k.record(label(f))
	return nil
}

func (k *fakeSink) Notify(ev Event) error {
	if err := k.wait(); err != nil {
		return err
	}
	k.record(ev.String())
	return nil
}

func (k *fakeSink) Flush() error {
	k.mu.Lock()
	k.flushes = append(k.flushes, len(k.got))
	k.mu.Unlock()
	return nil
}

func (k *fakeSink) Close() {
	k.mu.Lock()
	k.closes++
	k.mu.Unlock()
	k.closeOnce.Do(func() { close(k.closed) })
}

func (k *fakeSink) open() { close(k.gate) }

func (k *fakeSink) received() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.got)
}

// waitFor waits until the sink has received n entries and returns them.
func (k *fakeSink) waitFor(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		k.mu.Lock()
		got, ch := slices.Clone(k.got), k.changed
		k.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("sink received %d entries %v, want %d", len(got), got, n)
		}
	}
}

// reached reports whether the sink has received n entries within timeout;
// unlike waitFor it may be called from any goroutine.
func (k *fakeSink) reached(n int, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for {
		k.mu.Lock()
		got, ch := len(k.got), k.changed
		k.mu.Unlock()
		if got >= n {
			return true
		}
		select {
		case <-ch:
		case <-deadline:
			return false
		}
	}
}

// waitEntered waits until a gated write is waiting at the gate.
func (k *fakeSink) waitEntered(t *testing.T) {
	t.Helper()
	select {
	case <-k.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("no write reached the gate")
	}
}

// runResult is the outcome of a player's run: done is closed when run has
// returned err.
type runResult struct {
	done chan struct{}
	err  error
}

// startPlayer joins key with sink and runs the player until the test ends.
func startPlayer(t *testing.T, h *Hub, key string, k *fakeSink) (*Player, *runResult) {
	t.Helper()
	pl := h.Play(key, k)
	r := &runResult{done: make(chan struct{})}
	go func() {
		r.err = pl.Run(context.Background())
		close(r.done)
	}()
	t.Cleanup(func() {
		pl.Leave()
		k.Close()
		<-r.done
	})
	return pl, r
}

// write publishes one message and fails the test on error.
func write(t *testing.T, p *Publisher, typ flv.TagType, ts uint32, b []byte) {
	t.Helper()
	if err := p.Write(NewFrame(typ, ts, b, false)); err != nil {
		t.Fatalf("write %c%d: %v", typ, ts, err)
	}
}

func mustPublish(t *testing.T, h *Hub, key string) *Publisher {
	t.Helper()
	p, err := h.Publish(key)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRunFlushesOncePerBatch checks that a player writes everything queued
// before it flushes its sink once, and that it flushes before it waits.
func TestRunFlushesOncePerBatch(t *testing.T) {
	h := New(Config{})
	p := mustPublish(t, h, "live/batch")
	write(t, p, flv.TagVideo, 0, avcKey(100))
	k := newFakeSink(true)
	startPlayer(t, h, "live/batch", k)
	k.waitEntered(t) // writing v0, the cached keyframe
	for i := 1; i <= 20; i++ {
		write(t, p, flv.TagVideo, uint32(40*i), avcInter(100))
		write(t, p, flv.TagAudio, uint32(40*i), aacRaw(10))
	}
	k.open()
	k.waitFor(t, 41)
	deadline := time.Now().Add(5 * time.Second)
	for {
		k.mu.Lock()
		flushes := slices.Clone(k.flushes)
		k.mu.Unlock()
		if n := len(flushes); n > 0 && flushes[n-1] == 41 {
			// v0 alone, or v0 with the 40 frames queued behind it.
			if n > 2 {
				t.Errorf("%d flushes for 41 frames, after entries %v: want one per batch", n, flushes)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no flush after the last frame: flushes after entries %v", flushes)
		}
		time.Sleep(time.Millisecond)
	}
	// A frame on its own is flushed on its own.
	write(t, p, flv.TagVideo, 1000, avcInter(100))
	k.waitFor(t, 42)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		k.mu.Lock()
		last := k.flushes[len(k.flushes)-1]
		k.mu.Unlock()
		if last == 42 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the single frame was never flushed")
		}
	}
}

// TestAudioHold checks that audio arriving shortly after video waits in the
// queue, unsignalled, and leaves with the next video frame, and the cases
// where audio never waits.
func TestAudioHold(t *testing.T) {
	flushedAt := func(k *fakeSink) []int {
		k.mu.Lock()
		defer k.mu.Unlock()
		return slices.Clone(k.flushes)
	}
	// settle gives a woken player time to write.
	settle := func() { time.Sleep(50 * time.Millisecond) }
	t.Run("audio waits for video", func(t *testing.T) {
		clk := &clock{t: time.Unix(1000, 0)}
		// The hold is measured on the test's clock; its timer runs on
		// the real one, and must not fire during the test's pauses.
		const hold = 10 * time.Second
		h := New(Config{Now: clk.now, AudioHold: hold})
		p := mustPublish(t, h, "live/hold")
		write(t, p, flv.TagVideo, 0, avcKey(50))
		k := newFakeSink(false)
		startPlayer(t, h, "live/hold", k)
		k.waitFor(t, 1)
		// A player still writing takes what is queued without a wake-up:
		// let it flush and wait first.
		deadline := time.Now().Add(5 * time.Second)
		for f := flushedAt(k); len(f) == 0 || f[len(f)-1] != 1; f = flushedAt(k) {
			if time.Now().After(deadline) {
				t.Fatalf("no flush after the first frame: flushes after entries %v", f)
			}
			time.Sleep(time.Millisecond)
		}
		settle()
		clk.advance(10 * time.Millisecond)
		write(t, p, flv.TagAudio, 10, aacRaw(10))
		write(t, p, flv.TagAudio, 31, aacRaw(10))
		settle()
		if got := k.received(); len(got) != 1 {
			t.Fatalf("audio within the hold of the last video was written at once: %v", got)
		}
		clk.advance(23 * time.Millisecond)
		write(t, p, flv.TagVideo, 33, avcInter(50))
		if got := k.waitFor(t, 4); !slices.Equal(got, []string{"v0", "a10", "a31", "v33"}) {
			t.Fatalf("got %v", got)
		}
		settle()
		if f := flushedAt(k); f[len(f)-1] != 4 || (len(f) > 1 && f[len(f)-2] != 1) {
			t.Errorf("flushes after entries %v: want the held audio and the video in one flush", f)
		}
		// The video stopped: audio past the hold is written at once.
		clk.advance(hold)
		write(t, p, flv.TagAudio, 100, aacRaw(10))
		k.waitFor(t, 5)
	})
	t.Run("held audio leaves after the hold without video", func(t *testing.T) {
		h := New(Config{AudioHold: 100 * time.Millisecond})
		p := mustPublish(t, h, "live/hold")
		write(t, p, flv.TagVideo, 0, avcKey(50))
		k := newFakeSink(false)
		startPlayer(t, h, "live/hold", k)
		k.waitFor(t, 1)
		held := time.Now()
		write(t, p, flv.TagAudio, 10, aacRaw(10))
		if got := k.waitFor(t, 2); !slices.Equal(got, []string{"v0", "a10"}) {
			t.Fatalf("got %v", got)
		}
		if d := time.Since(held); d < 50*time.Millisecond {
			t.Errorf("held audio written after %v, before the hold", d)
		}
	})
	for _, c := range []struct {
		name string
		cfg  Config
		pre  func(t *testing.T, p *Publisher)
		body []byte
	}{
		{"audio-only stream", Config{}, nil, aacRaw(10)},
		{"hold disabled", Config{AudioHold: AudioHoldSetting(0)}, func(t *testing.T, p *Publisher) { write(t, p, flv.TagVideo, 0, avcKey(50)) }, aacRaw(10)},
		{"audio sequence header", Config{}, func(t *testing.T, p *Publisher) { write(t, p, flv.TagVideo, 0, avcKey(50)) }, aacSeq},
	} {
		t.Run(c.name, func(t *testing.T) {
			clk := &clock{t: time.Unix(1000, 0)}
			c.cfg.Now = clk.now
			h := New(c.cfg)
			p := mustPublish(t, h, "live/hold")
			k := newFakeSink(false)
			n := 0
			if c.pre != nil {
				c.pre(t, p)
				n = 1
			}
			startPlayer(t, h, "live/hold", k)
			k.waitFor(t, n)
			write(t, p, flv.TagAudio, 1, c.body)
			k.waitFor(t, n+1)
		})
	}
}

// TestQueueShrinksWhenDrained checks that a player that joined a long
// cached GOP does not keep the queue array the join needed.
func TestQueueShrinksWhenDrained(t *testing.T) {
	h := New(Config{})
	p := mustPublish(t, h, "live/shrink")
	write(t, p, flv.TagVideo, 0, avcKey(100))
	for i := 1; i < 200; i++ {
		write(t, p, flv.TagVideo, uint32(40*i), avcInter(100))
	}
	k := newFakeSink(false)
	pl, _ := startPlayer(t, h, "live/shrink", k)
	k.waitFor(t, 200)
	write(t, p, flv.TagVideo, 8000, avcInter(100))
	k.waitFor(t, 201)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		pl.mu.Lock()
		n, c := pl.len(), cap(pl.q)
		pl.mu.Unlock()
		if n == 0 && c <= maxIdleQueueCap {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("drained queue keeps room for %d entries, want at most %d", c, maxIdleQueueCap)
		}
	}
}

func TestHubJoinStartsAtKeyframe(t *testing.T) {
	h := New(Config{})
	p := mustPublish(t, h, "live/a")
	if err := p.Write(NewFrame(flv.TagScript, 0, []byte("meta"), true)); err != nil {
		t.Fatal(err)
	}
	write(t, p, flv.TagVideo, 0, avcSeq)
	write(t, p, flv.TagAudio, 0, aacSeq)
	write(t, p, flv.TagAudio, 1, aacRaw(10)) // before the first keyframe: not cached
	write(t, p, flv.TagVideo, 2, avcKey(100))
	write(t, p, flv.TagVideo, 40, avcInter(30))
	write(t, p, flv.TagAudio, 23, aacRaw(10))
	write(t, p, flv.TagVideo, 80, avcInter(30))

	k := newFakeSink(false)
	startPlayer(t, h, "live/a", k)
	want := []string{"s0", "v0", "a0", "v2", "v40", "a23", "v80"}
	if got := k.waitFor(t, len(want)); !slices.Equal(got, want) {
		t.Fatalf("joining player got %v, want %v", got, want)
	}
	write(t, p, flv.TagVideo, 120, avcInter(30))
	if got := k.waitFor(t, len(want)+1); got[len(want)] != "v120" {
		t.Fatalf("live frame: got %v", got)
	}

	// A new keyframe restarts the cache: a later player starts there.
	write(t, p, flv.TagVideo, 160, avcKey(100))
	write(t, p, flv.TagAudio, 170, aacRaw(10))
	k2 := newFakeSink(false)
	startPlayer(t, h, "live/a", k2)
	want2 := []string{"s0", "v0", "a0", "v160", "a170"}
	if got := k2.waitFor(t, len(want2)); !slices.Equal(got, want2) {
		t.Fatalf("second joining player got %v, want %v", got, want2)
	}
	if got := k.waitFor(t, 10); !slices.Equal(got[7:], []string{"v120", "v160", "a170"}) {
		t.Fatalf("first player got %v", got)
	}
}

func TestHubSequenceHeadersPerTrack(t *testing.T) {
	h := New(Config{})
	p := mustPublish(t, h, "live/tracks")
	write(t, p, flv.TagVideo, 1, hvcSeq)         // track 0, replaced by 4
	write(t, p, flv.TagAudio, 2, opusSeq)        // audio track 0
	write(t, p, flv.TagVideo, 3, hvcSeqTracks12) // tracks 1 and 2; track 2 replaced by 5
	write(t, p, flv.TagVideo, 4, hvcSeq)         // track 0 again
	write(t, p, flv.TagVideo, 5, hvcSeqTrack2)   // track 2 again
	write(t, p, flv.TagVideo, 6, append([]byte{0x91}, "hvc1\x00\x00\x00\x01"...))

	k := newFakeSink(false)
	startPlayer(t, h, "live/tracks", k)
	// The latest header of each track, in the order they arrived, then
	// the GOP.
	want := []string{"a2", "v3", "v4", "v5", "v6"}
	if got := k.waitFor(t, len(want)); !slices.Equal(got, want) {
		t.Fatalf("joining player got %v, want %v", got, want)
	}
}

func TestHubGOPCacheBound(t *testing.T) {
	h := New(Config{GOPCacheBytes: 1000})
	p := mustPublish(t, h, "live/gop")
	write(t, p, flv.TagVideo, 0, avcSeq)
	write(t, p, flv.TagVideo, 10, avcKey(400))
	write(t, p, flv.TagVideo, 20, avcInter(300))
	write(t, p, flv.TagVideo, 30, avcInter(300)) // 1000 bytes: still cached

	k1 := newFakeSink(false)
	startPlayer(t, h, "live/gop", k1)
	if got, want := k1.waitFor(t, 4), []string{"v0", "v10", "v20", "v30"}; !slices.Equal(got, want) {
		t.Fatalf("player joining a full cache got %v, want %v", got, want)
	}

	write(t, p, flv.TagVideo, 40, avcInter(1)) // 1001 bytes: the cache gives up this GOP
	k2 := newFakeSink(false)
	startPlayer(t, h, "live/gop", k2)
	write(t, p, flv.TagVideo, 50, avcInter(10)) // k2 waits for a keyframe
	write(t, p, flv.TagAudio, 55, aacRaw(10))   // and does not start with audio either
	write(t, p, flv.TagVideo, 60, avcKey(1200)) // too big to cache, but delivered live
	write(t, p, flv.TagVideo, 70, avcInter(10))
	if got, want := k2.waitFor(t, 3), []string{"v0", "v60", "v70"}; !slices.Equal(got, want) {
		t.Fatalf("player joining without a cached GOP got %v, want %v", got, want)
	}
	k3 := newFakeSink(false)
	startPlayer(t, h, "live/gop", k3)
	write(t, p, flv.TagVideo, 80, avcKey(100))
	if got, want := k3.waitFor(t, 2), []string{"v0", "v80"}; !slices.Equal(got, want) {
		t.Fatalf("player joining after an uncacheable keyframe got %v, want %v", got, want)
	}
	k4 := newFakeSink(false)
	startPlayer(t, h, "live/gop", k4)
	if got, want := k4.waitFor(t, 2), []string{"v0", "v80"}; !slices.Equal(got, want) {
		t.Fatalf("player joining a new GOP got %v, want %v", got, want)
	}
	if got := k1.waitFor(t, 10); len(got) != 10 {
		t.Fatalf("the first player missed frames: %v", got)
	}
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestHubSlowPlayerDropsToKeyframe(t *testing.T) {
	clk := &clock{t: time.Unix(1000, 0)}
	// The clock stands still: audio would wait for video (AudioHold).
	h := New(Config{PlayerQueueBytes: 1000, PlayerQueueMessages: 100, Now: clk.now, AudioHold: -1})
	p := mustPublish(t, h, "live/slow")
	if err := p.Write(NewFrame(flv.TagScript, 0, []byte("meta"), true)); err != nil {
		t.Fatal(err)
	}
	write(t, p, flv.TagVideo, 0, avcSeq)
	write(t, p, flv.TagAudio, 0, aacSeq)
	write(t, p, flv.TagVideo, 10, avcKey(300))

	fast, slow := newFakeSink(false), newFakeSink(true)
	startPlayer(t, h, "live/slow", fast)
	slowPl, _ := startPlayer(t, h, "live/slow", slow)
	slow.waitEntered(t) // holding "s0"

	// The publisher goes on without waiting for the slow player, whose
	// queue overflows at 1000 bytes. It goes at the pace of the fast
	// player, which therefore never falls behind.
	fast.waitFor(t, 4)
	var pubErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		n := 4
		send := func(typ flv.TagType, ts uint32, b []byte) {
			if pubErr != nil {
				return
			}
			if pubErr = p.Write(NewFrame(typ, ts, b, false)); pubErr != nil {
				return
			}
			n++
			if !fast.reached(n, 5*time.Second) {
				pubErr = fmt.Errorf("the fast player did not get %c%d", typ, ts)
			}
		}
		for ts := uint32(20); ts < 200; ts += 10 {
			send(flv.TagVideo, ts, avcInter(200))
			if ts == 100 {
				send(flv.TagAudio, 100, aacSeq) // a new sequence header survives drops
			}
		}
		send(flv.TagVideo, 200, avcKey(300))
		send(flv.TagAudio, 205, aacRaw(20))
		send(flv.TagVideo, 210, avcInter(200))
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the publisher was blocked by a slow player")
	}
	if pubErr != nil {
		t.Fatal(pubErr)
	}
	want := []string{"s0", "v0", "a0", "v10"}
	for ts := 20; ts < 200; ts += 10 {
		want = append(want, fmt.Sprintf("v%d", ts))
		if ts == 100 {
			want = append(want, "a100")
		}
	}
	want = append(want, "v200", "a205", "v210")
	if got := fast.waitFor(t, len(want)); !slices.Equal(got, want) {
		t.Fatalf("fast player got %v, want %v", got, want)
	}

	slow.open()
	got := slow.waitFor(t, 1)
	// The slow player's queue was cut: after what it had before the drop,
	// it gets the sequence header and resumes at the keyframe of 200.
	i := slices.Index(got, "a100")
	for len(got) < i+4 || i < 0 {
		got = slow.waitFor(t, len(got)+1)
		i = slices.Index(got, "a100")
	}
	if tail := got[i:]; !slices.Equal(tail, []string{"a100", "v200", "a205", "v210"}) {
		t.Fatalf("slow player got %v; want a100, v200, a205, v210 at the end", got)
	}
	for _, s := range got[:i] {
		if s == "v190" || s == "v180" {
			t.Fatalf("slow player got %s, queued after the overflow: %v", s, got)
		}
	}
	st := slowPl.Stats()
	if st.Drops == 0 || st.Dropped == 0 {
		t.Errorf("slow player stats %+v: want drops", st)
	}
	if int(st.Sent+st.Dropped) != len(want) {
		t.Errorf("slow player sent %d + dropped %d, want %d messages in all", st.Sent, st.Dropped, len(want))
	}
}

func TestHubDisconnectsLaggingPlayer(t *testing.T) {
	clk := &clock{t: time.Unix(1000, 0)}
	h := New(Config{PlayerMaxLag: 5 * time.Second, Now: clk.now})
	p := mustPublish(t, h, "live/lag")
	write(t, p, flv.TagVideo, 0, avcKey(100))

	fast, stuck := newFakeSink(false), newFakeSink(true)
	startPlayer(t, h, "live/lag", fast)
	stuckPl, stuckRun := startPlayer(t, h, "live/lag", stuck)
	stuck.waitEntered(t) // a write that never completes
	fast.waitFor(t, 1)

	clk.advance(4 * time.Second)
	write(t, p, flv.TagVideo, 40, avcInter(10))
	fast.waitFor(t, 2)
	select {
	case <-stuckRun.done:
		t.Fatalf("player ended after 4 s behind (limit 5 s): %v", stuckRun.err)
	default:
	}

	// The fast player has been idle, not behind: it stays.
	clk.advance(2 * time.Second)
	write(t, p, flv.TagVideo, 80, avcInter(10))
	select {
	case <-stuckRun.done:
		if !errors.Is(stuckRun.err, ErrPlayerTooSlow) {
			t.Fatalf("stuck player ended with %v, want ErrPlayerTooSlow", stuckRun.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stuck player was not disconnected after 6 s behind")
	}
	if got, want := fast.waitFor(t, 3), []string{"v0", "v40", "v80"}; !slices.Equal(got, want) {
		t.Fatalf("fast player got %v, want %v", got, want)
	}
	stuck.mu.Lock()
	closes := stuck.closes
	stuck.mu.Unlock()
	if closes == 0 {
		t.Error("the stuck player's connection was not closed")
	}
	p.s.mu.Lock()
	_, still := p.s.players[stuckPl]
	n := len(p.s.players)
	p.s.mu.Unlock()
	if still || n != 1 {
		t.Errorf("stream keeps the disconnected player (%d players)", n)
	}
}

func TestHubUnpublishRepublish(t *testing.T) {
	h := New(Config{})
	k := newFakeSink(false)
	_, run := startPlayer(t, h, "live/re", k) // waits for a publisher

	p1 := mustPublish(t, h, "live/re")
	if _, err := h.Publish("live/re"); !errors.Is(err, ErrStreamBusy) {
		t.Fatalf("second publish: %v, want ErrStreamBusy", err)
	}
	if err := p1.Write(NewFrame(flv.TagScript, 0, []byte("meta1"), true)); err != nil {
		t.Fatal(err)
	}
	write(t, p1, flv.TagVideo, 0, avcSeq)
	write(t, p1, flv.TagAudio, 0, aacSeq)
	write(t, p1, flv.TagAudio, 5, aacRaw(10)) // before the first keyframe of a fresh publish
	write(t, p1, flv.TagVideo, 10, avcKey(100))
	write(t, p1, flv.TagVideo, 50, avcInter(10))
	p1.Close()
	p1.Close()
	if err := p1.Write(NewFrame(flv.TagVideo, 90, avcInter(10), false)); !errors.Is(err, ErrUnpublished) {
		t.Fatalf("write after close: %v, want ErrUnpublished", err)
	}

	want := []string{"published", "s0", "v0", "a0", "a5", "v10", "v50", "unpublished"}
	if got := k.waitFor(t, len(want)); !slices.Equal(got, want) {
		t.Fatalf("player got %v, want %v", got, want)
	}

	p2 := mustPublish(t, h, "live/re")
	if err := p2.Write(NewFrame(flv.TagScript, 1000, []byte("meta2"), true)); err != nil {
		t.Fatal(err)
	}
	write(t, p2, flv.TagVideo, 1000, avcSeq)
	write(t, p2, flv.TagVideo, 1005, avcInter(10)) // no keyframe yet: skipped
	write(t, p2, flv.TagVideo, 1010, avcKey(100))
	write(t, p2, flv.TagVideo, 1050, avcInter(10))
	want = append(want, "published", "s1000", "v1000", "v1010", "v1050")
	if got := k.waitFor(t, len(want)); !slices.Equal(got, want) {
		t.Fatalf("player got %v, want %v", got, want)
	}
	// A new player gets the new publisher's metadata and headers only.
	k2 := newFakeSink(false)
	startPlayer(t, h, "live/re", k2)
	if got, want := k2.waitFor(t, 4), []string{"s1000", "v1000", "v1010", "v1050"}; !slices.Equal(got, want) {
		t.Fatalf("new player got %v, want %v", got, want)
	}
	select {
	case <-run.done:
		t.Fatalf("the first player ended: %v", run.err)
	default:
	}
}

// TestRestartAndDiscontinuity covers a stream whose source changes
// without an end (Restart) and one that loses frames (Discontinuity):
// players stay, hear only EventRestarted, and resume at the next keyframe
// after the new source's sequence headers; joiners never get a GOP that
// spans a loss.
func TestRestartAndDiscontinuity(t *testing.T) {
	h := New(Config{})
	p := mustPublish(t, h, "live/gap")
	write(t, p, flv.TagVideo, 0, avcSeq)
	write(t, p, flv.TagVideo, 10, avcKey(100))
	write(t, p, flv.TagVideo, 50, avcInter(10))
	k := newFakeSink(false)
	startPlayer(t, h, "live/gap", k)
	want := []string{"v0", "v10", "v50"}
	if got := k.waitFor(t, len(want)); !slices.Equal(got, want) {
		t.Fatalf("player got %v, want %v", got, want)
	}

	// Frames lost: the inter frames after the loss are not decodable.
	p.Discontinuity()
	write(t, p, flv.TagVideo, 130, avcInter(10))
	write(t, p, flv.TagAudio, 131, aacRaw(10))
	// A player joining now must not start on the broken GOP.
	k2 := newFakeSink(false)
	startPlayer(t, h, "live/gap", k2)
	write(t, p, flv.TagVideo, 170, avcKey(100))
	write(t, p, flv.TagVideo, 210, avcInter(10))
	want = append(want, "v170", "v210")
	if got := k.waitFor(t, len(want)); !slices.Equal(got, want) {
		t.Fatalf("after a discontinuity the player got %v, want %v", got, want)
	}
	if got, want2 := k2.waitFor(t, 3), []string{"v0", "v170", "v210"}; !slices.Equal(got, want2) {
		t.Fatalf("joiner during a discontinuity got %v, want %v", got, want2)
	}

	// The source changes: new sequence headers, timestamps from zero.
	p.Restart()
	write(t, p, flv.TagVideo, 0, avcSeq)
	write(t, p, flv.TagVideo, 3, avcInter(10)) // before the new source's keyframe
	write(t, p, flv.TagVideo, 5, avcKey(100))
	want = append(want, "restarted", "v0", "v5")
	if got := k.waitFor(t, len(want)); !slices.Equal(got, want) {
		t.Fatalf("after a restart the player got %v, want %v", got, want)
	}
	k3 := newFakeSink(false)
	startPlayer(t, h, "live/gap", k3)
	if got, want3 := k3.waitFor(t, 2), []string{"v0", "v5"}; !slices.Equal(got, want3) {
		t.Fatalf("joiner after a restart got %v, want %v", got, want3)
	}
	p.Close()
	p.Restart() // after Close: nothing happens
	p.Discontinuity()
	if got := p.Frames(); got != 10 {
		t.Fatalf("Frames() = %d, want 10", got)
	}
}

func TestHubForgetsIdleStreams(t *testing.T) {
	h := New(Config{})
	p := mustPublish(t, h, "live/x")
	write(t, p, flv.TagVideo, 0, avcKey(10))
	if n := h.StreamCount(); n != 1 {
		t.Fatalf("%d streams while publishing, want 1", n)
	}
	p.Close()
	if n := h.StreamCount(); n != 0 {
		t.Fatalf("%d streams after the publisher left, want 0", n)
	}
	k := newFakeSink(false)
	pl := h.Play("live/y", k)
	done := make(chan error, 1)
	go func() { done <- pl.Run(context.Background()) }()
	if n := h.StreamCount(); n != 1 {
		t.Fatalf("%d streams while playing, want 1", n)
	}
	pl.Leave()
	if err := <-done; !errors.Is(err, ErrPlayerLeft) {
		t.Fatalf("run ended with %v, want ErrPlayerLeft", err)
	}
	if n := h.StreamCount(); n != 0 {
		t.Fatalf("%d streams after the player left, want 0", n)
	}
}

func TestPlayerRunEndsWithContext(t *testing.T) {
	h := New(Config{})
	pl := h.Play("live/ctx", newFakeSink(false))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- pl.Run(ctx) }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("run ended with %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not end with its context")
	}
	if n := h.StreamCount(); n != 0 {
		t.Fatalf("%d streams after the player ended, want 0", n)
	}
}

// FuzzHubWrite publishes one arbitrary message to a stream and checks that
// nothing panics and that the join cache is consistent with the flv
// package's view of the message: a sequence header is replayed to joining
// players for every track it configures, a keyframe starts the cached GOP,
// metadata is replayed, and other media is never replayed without a
// keyframe before it.
func FuzzHubWrite(f *testing.F) {
	for _, tc := range frameCases {
		f.Add(uint8(tc.typ), tc.meta, tc.bytes)
	}
	f.Fuzz(func(t *testing.T, typ uint8, meta bool, body []byte) {
		h := New(Config{GOPCacheBytes: 1 << 20})
		p, err := h.Publish("live/fuzz")
		if err != nil {
			t.Fatal(err)
		}
		tt := flv.TagType(typ)
		meta = meta && tt == flv.TagScript
		if err := p.Write(NewFrame(tt, 1, body, meta)); err != nil {
			t.Fatal(err)
		}
		s := p.s
		s.mu.Lock()
		items, ready := s.joinItemsLocked()
		s.mu.Unlock()
		replayed := len(items) == 1 && bytes.Equal(items[0].f.Payload, body)
		switch {
		case meta:
			if !replayed || ready {
				t.Errorf("metadata: replayed %v, ready %v", replayed, ready)
			}
		case flv.IsSequenceHeader(tt, body):
			if !replayed || ready || len(items[0].f.tracks) == 0 {
				t.Errorf("sequence header: replayed %v, ready %v, tracks %v", replayed, ready, items)
			}
		case flv.IsKeyframe(tt, body) && len(body) > 1<<20:
			if len(items) != 0 || ready {
				t.Errorf("a keyframe above the cache limit was cached (%d items, ready %v)", len(items), ready)
			}
		case flv.IsKeyframe(tt, body):
			if !replayed || !ready {
				t.Errorf("keyframe: replayed %v, ready %v", replayed, ready)
			}
		default:
			if len(items) != 0 || ready {
				t.Errorf("other message replayed (%d items, ready %v)", len(items), ready)
			}
		}
		p.Close()
		if h.StreamCount() != 0 {
			t.Error("the stream outlived its publisher")
		}
	})
}

// TestStuckPlayersDoNotHoldOthers checks that players whose sinks block for
// good, more of them than the hub starts writers for, do not keep a
// healthy player of the same hub from getting every frame: stuck writers
// are replaced.
func TestStuckPlayersDoNotHoldOthers(t *testing.T) {
	h := New(Config{AudioHold: -1})
	p := mustPublish(t, h, "live/stuck")
	write(t, p, flv.TagVideo, 0, avcSeq)
	write(t, p, flv.TagVideo, 10, avcKey(100))
	stuck := make([]*fakeSink, h.maxWriters+3)
	for i := range stuck {
		stuck[i] = newFakeSink(true)
	}
	healthy := newFakeSink(false)
	startPlayer(t, h, "live/stuck", healthy)
	for _, k := range stuck {
		startPlayer(t, h, "live/stuck", k)
	}
	t.Cleanup(func() { // first: the other players may wait behind them
		for _, k := range stuck {
			k.Close()
		}
	})
	for _, k := range stuck {
		k.waitEntered(t)
	}
	healthy.waitFor(t, 2)
	for i := range 50 {
		write(t, p, flv.TagVideo, uint32(20+10*i), avcInter(100))
	}
	got := healthy.waitFor(t, 52)
	if got[len(got)-1] != "v510" {
		t.Fatalf("healthy player's last frame %s, want v510", got[len(got)-1])
	}
	for _, k := range stuck {
		if n := len(k.received()); n != 0 {
			t.Fatalf("a stuck player received %d frames", n)
		}
	}
}

// TestIdlePlayersHoldNoGoroutine checks that players that have written out
// their queues keep no goroutine: memory per player is its queue and
// state, not a goroutine stack.
func TestIdlePlayersHoldNoGoroutine(t *testing.T) {
	h := New(Config{AudioHold: -1})
	p := mustPublish(t, h, "live/idle")
	write(t, p, flv.TagVideo, 0, avcSeq)
	write(t, p, flv.TagVideo, 10, avcKey(100))
	before := runtime.NumGoroutine()
	const players = 200
	sinks := make([]*fakeSink, players)
	for i := range sinks {
		sinks[i] = newFakeSink(false)
		pl := h.Play("live/idle", sinks[i])
		ended := make(chan error, 1)
		pl.Start(func(err error) { ended <- err })
		t.Cleanup(func() {
			pl.Leave()
			if err := <-ended; !errors.Is(err, ErrPlayerLeft) {
				t.Errorf("player ended with %v, want ErrPlayerLeft", err)
			}
		})
	}
	for i := range 10 {
		write(t, p, flv.TagVideo, uint32(20+10*i), avcInter(100))
	}
	for _, k := range sinks {
		k.waitFor(t, 12)
	}
	// Writers end once the queues are written out.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines with %d idle players, %d before they joined", runtime.NumGoroutine(), players, before)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
