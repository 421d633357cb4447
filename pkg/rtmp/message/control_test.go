package message_test

import (
	"testing"

	"github.com/tributary-media/tributary/pkg/rtmp/message"
)

// Case 29: after Window Ack Size W, an Acknowledgement is due once the bytes
// received since the last one reach W/2 (default) or W (FullWindow), and it
// carries the total modulo 2^32.
func TestCase29AckTracker(t *testing.T) {
	type step struct {
		total uint64
		due   bool
		seq   uint32
	}
	cases := []struct {
		name   string
		full   bool
		window uint32
		steps  []step
	}{
		{"half-window", false, 1000, []step{
			{0, false, 0}, {499, false, 0}, {500, true, 500},
			{999, false, 0}, {1000, true, 1000}, {1000, false, 0}, {5000, true, 5000},
		}},
		{"full-window", true, 1000, []step{
			{500, false, 0}, {999, false, 0}, {1000, true, 1000}, {1999, false, 0}, {2000, true, 2000},
		}},
		{"wraps-mod-2^32", false, 2_500_000, []step{
			{1<<32 - 10, true, 1<<32 - 10},
			{1<<32 + 1_250_000, true, 1_250_000}, // 2^32 + 1,250,000 mod 2^32
			{1<<33 + 7, true, 7},
		}},
		{"window-of-one", false, 1, []step{{1, true, 1}, {1, false, 0}, {2, true, 2}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := message.AckTracker{FullWindow: c.full}
			if _, due := a.Update(1 << 40); due {
				t.Fatal("acknowledgement due before any window was received")
			}
			a = message.AckTracker{FullWindow: c.full}
			a.SetWindow(c.window)
			if a.Window() != c.window {
				t.Fatalf("Window() = %d", a.Window())
			}
			for _, s := range c.steps {
				ack, due := a.Update(s.total)
				if due != s.due || (due && ack.Sequence != s.seq) {
					t.Fatalf("Update(%d) = %d, %v; want %d, %v", s.total, ack.Sequence, due, s.seq, s.due)
				}
			}
		})
	}
	t.Run("zero-window-stops", func(t *testing.T) {
		var a message.AckTracker
		a.SetWindow(10)
		if _, due := a.Update(10); !due {
			t.Fatal("no ack at the window")
		}
		a.SetWindow(0)
		if _, due := a.Update(1000); due {
			t.Fatal("ack due with a zero window")
		}
	})
}

// Case 30: Set Peer Bandwidth limit types 0/1/2 update the output window
// per the hard/soft/dynamic rules; a Window Ack Size is due only when the
// window differs from the last one sent.
func TestCase30PeerBandwidth(t *testing.T) {
	type step struct {
		window uint32
		limit  message.LimitType
		// expected afterwards
		wantWindow uint32
		wantLimit  message.LimitType
		wantSet    bool
		send       bool // a Window Ack Size of wantWindow is due
	}
	H, S, D := message.LimitHard, message.LimitSoft, message.LimitDynamic
	cases := []struct {
		name  string
		sent  uint32 // Window Ack Size sent before, 0 for none
		steps []step
	}{
		{"dynamic-first-is-ignored", 0, []step{
			{5_000_000, D, 0, 0, false, false},
		}},
		{"hard-then-dynamic", 0, []step{
			{1000, H, 1000, H, true, true},
			{2000, D, 2000, H, true, true},  // previous was hard: treated as hard
			{2000, D, 2000, H, true, false}, // same window as sent: nothing due
		}},
		{"soft-takes-minimum", 0, []step{
			{1000, S, 1000, S, true, true},  // no limit in effect: the message's window
			{5000, S, 1000, S, true, false}, // larger: keeps 1000, nothing new to send
			{500, S, 500, S, true, true},
			{9000, D, 500, S, true, false}, // previous soft: dynamic ignored
		}},
		{"hard-replaces-soft", 0, []step{
			{500, S, 500, S, true, true},
			{8000, H, 8000, H, true, true},
		}},
		{"already-sent-same", 2_500_000, []step{
			{2_500_000, H, 2_500_000, H, true, false},
			{2_500_001, H, 2_500_001, H, true, true},
		}},
		{"unknown-limit-ignored", 0, []step{
			{1000, 7, 0, 0, false, false},
			{1000, H, 1000, H, true, true},
			{3000, 3, 1000, H, true, false},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var p message.PeerBandwidth
			if c.sent != 0 {
				p.Sent(c.sent)
			}
			for i, s := range c.steps {
				ack, send := p.Apply(&message.SetPeerBandwidth{Window: s.window, Limit: s.limit})
				if send != s.send || (send && ack.Size != s.wantWindow) {
					t.Fatalf("step %d: Apply = %d, %v; want %d, %v", i, ack.Size, send, s.wantWindow, s.send)
				}
				w, l, ok := p.Window()
				if w != s.wantWindow || l != s.wantLimit || ok != s.wantSet {
					t.Fatalf("step %d: Window() = %d, %v, %v; want %d, %v, %v", i, w, l, ok, s.wantWindow, s.wantLimit, s.wantSet)
				}
			}
		})
	}
}

func TestLimitTypeString(t *testing.T) {
	for l, want := range map[message.LimitType]string{0: "hard", 1: "soft", 2: "dynamic", 9: "limit(9)"} {
		if got := l.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", l, got, want)
		}
	}
	if got := message.EventPingRequest.String(); got != "PingRequest" {
		t.Errorf("EventPingRequest.String() = %q", got)
	}
	if got := message.Event(99).String(); got != "Event(99)" {
		t.Errorf("Event(99).String() = %q", got)
	}
}
