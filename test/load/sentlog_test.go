package main

import (
	"sync"
	"testing"
)

func TestSentLogFindAndPrune(t *testing.T) {
	l := newSentLog(16)
	const n = 100
	for i := range n {
		// Timestamps 0, 40, 80, ... like 25 fps video.
		idx := l.add(sentFrame{ts: uint32(40 * i), at: int64(i), fp: uint64(1000 + i)})
		if idx != int64(i) {
			t.Fatalf("frame %d got index %d", i, idx)
		}
	}
	if got := l.sent(); got != n {
		t.Fatalf("sent() = %d, want %d", got, n)
	}
	// The newest frames are kept.
	for i := n - 16; i < n; i++ {
		f, idx, ok := l.find(uint32(40 * i))
		if !ok || idx != int64(i) || f.at != int64(i) || f.fp != uint64(1000+i) {
			t.Fatalf("find(%d) = %+v, %d, %v; want frame %d", 40*i, f, idx, ok, i)
		}
	}
	// Pruned frames and timestamps that were never sent are not found.
	for _, ts := range []uint32{0, 40, 41, 40*n + 40} {
		if _, _, ok := l.find(ts); ok {
			t.Errorf("find(%d) found a frame", ts)
		}
	}
	// Memory stays bounded.
	if len(l.frames) > 2*l.keep {
		t.Errorf("log holds %d frames, keep is %d", len(l.frames), l.keep)
	}
}

func TestSentLogFindFingerprint(t *testing.T) {
	l := newSentLog(16)
	l.add(sentFrame{ts: 0, fp: 7})
	l.add(sentFrame{ts: 33, fp: 8})
	l.add(sentFrame{ts: 66, fp: 7}) // a looped file repeats payloads
	f, _, ok := l.findFingerprint(7)
	if !ok || f.ts != 66 {
		t.Fatalf("findFingerprint(7) = %+v, %v; want the newest frame, ts 66", f, ok)
	}
	if _, _, ok := l.findFingerprint(9); ok {
		t.Fatal("findFingerprint(9) found a frame")
	}
}

// TestSentLogConcurrent runs one writer and several readers, as a run
// does; the race detector checks the locking.
func TestSentLogConcurrent(t *testing.T) {
	l := newSentLog(64)
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 5000 {
			l.add(sentFrame{ts: uint32(i), fp: uint64(i)})
		}
	})
	for range 4 {
		wg.Go(func() {
			for i := range 5000 {
				if f, idx, ok := l.find(uint32(i)); ok && (f.fp != uint64(i) || idx != int64(i)) {
					t.Errorf("find(%d) = %+v at %d", i, f, idx)
					return
				}
			}
		})
	}
	wg.Wait()
	if l.sent() != 5000 {
		t.Fatalf("sent() = %d", l.sent())
	}
}

func TestFingerprint(t *testing.T) {
	long := make([]byte, 1000)
	for i := range long {
		long[i] = byte(i)
	}
	changedMiddle := append([]byte(nil), long...)
	changedMiddle[500] ^= 1
	changedEnd := append([]byte(nil), long...)
	changedEnd[999] ^= 1
	changedHead := append([]byte(nil), long...)
	changedHead[3] ^= 1
	tests := []struct {
		name string
		a, b []byte
		same bool
	}{
		{"equal", long, append([]byte(nil), long...), true},
		{"middle bytes are not read", long, changedMiddle, true},
		{"last byte", long, changedEnd, false},
		{"early byte", long, changedHead, false},
		{"length", long, long[:999], false},
		{"short payloads are hashed whole", []byte{1, 2, 3}, []byte{1, 2, 4}, false},
		{"empty", nil, []byte{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fingerprint(tt.a) == fingerprint(tt.b); got != tt.same {
				t.Fatalf("fingerprints equal = %v, want %v", got, tt.same)
			}
		})
	}
}
