package main

import (
	"math"
	"sort"
	"sync"
	"sync/atomic"
)

// sentFrame is what a publisher records about one video frame before it
// writes it.
type sentFrame struct {
	ts uint32 // RTMP timestamp the frame is sent with
	at int64  // send time, nanoseconds on the run's monotonic clock
	fp uint64 // fingerprint of the payload (see fingerprint)
}

// sentLog is the per-stream record of sent video frames that gives players
// their publish-to-play latency: RTMP has no per-stream side channel, and
// the tool runs publishers and players in one process, so the publisher
// notes (timestamp, send time) and each player looks its frames up by
// timestamp. Media is sent unchanged.
//
// Frames get consecutive indexes from 0; the index of the last frame a
// player received, against the number of frames sent, gives the frames it
// should have received. The log keeps the most recent frames only (see
// keep); lookups of older frames fail.
//
// One publisher appends; any number of players look up concurrently.
type sentLog struct {
	mu     sync.RWMutex
	frames []sentFrame
	first  int64 // index of frames[0]
	keep   int   // frames kept at least
	total  atomic.Int64
	end    atomic.Int64 // index of the first frame after the measurement window
}

// newSentLog returns a log that keeps at least keep frames.
func newSentLog(keep int) *sentLog {
	l := &sentLog{keep: max(keep, 16)}
	l.end.Store(math.MaxInt64)
	return l
}

// closeWindow ends the measurement window: frames recorded from now on
// are sent (so that servers which hold a frame until the next one arrives
// still deliver the last frame of the window) but not counted. It returns
// the number of frames in the window.
func (l *sentLog) closeWindow() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.first + int64(len(l.frames))
	l.end.Store(n)
	return n
}

// windowEnd returns the index of the first frame after the measurement
// window, math.MaxInt64 while it is open.
func (l *sentLog) windowEnd() int64 { return l.end.Load() }

// add records a frame and returns its index. Timestamps must increase.
func (l *sentLog) add(f sentFrame) int64 {
	l.mu.Lock()
	if len(l.frames) >= 2*l.keep {
		n := copy(l.frames, l.frames[len(l.frames)-l.keep:])
		l.first += int64(len(l.frames) - n)
		l.frames = l.frames[:n]
	}
	l.frames = append(l.frames, f)
	idx := l.first + int64(len(l.frames)) - 1
	l.mu.Unlock()
	l.total.Store(idx + 1)
	return idx
}

// sent returns the number of frames recorded so far.
func (l *sentLog) sent() int64 { return l.total.Load() }

// find returns the frame sent with timestamp ts and its index.
func (l *sentLog) find(ts uint32) (sentFrame, int64, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	i := sort.Search(len(l.frames), func(i int) bool { return l.frames[i].ts >= ts })
	if i == len(l.frames) || l.frames[i].ts != ts {
		return sentFrame{}, 0, false
	}
	return l.frames[i], l.first + int64(i), true
}

// findFingerprint returns the most recent frame whose payload had
// fingerprint fp, and its index. Players use it to learn how a server that
// rewrites timestamps maps them: once per connection, and again when the
// server moves a stream's timeline (a stream published again).
func (l *sentLog) findFingerprint(fp uint64) (sentFrame, int64, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	for i := len(l.frames) - 1; i >= 0; i-- {
		if l.frames[i].fp == fp {
			return l.frames[i], l.first + int64(i), true
		}
	}
	return sentFrame{}, 0, false
}

// fingerprint identifies a frame payload cheaply: its length and its first
// and last bytes. Coded frames of one stream differ in their slice headers
// and sizes, so within the window a log keeps this tells them apart.
func fingerprint(p []byte) uint64 {
	const head, tail = 48, 16
	h := fnvAdd(fnvOffset, []byte{byte(len(p) >> 24), byte(len(p) >> 16), byte(len(p) >> 8), byte(len(p))})
	if len(p) <= head+tail {
		return fnvAdd(h, p)
	}
	return fnvAdd(fnvAdd(h, p[:head]), p[len(p)-tail:])
}

// FNV-1a, 64 bits.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnvAdd(h uint64, b []byte) uint64 {
	for _, c := range b {
		h ^= uint64(c)
		h *= fnvPrime
	}
	return h
}
