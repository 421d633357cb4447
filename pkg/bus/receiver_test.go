package bus_test

import (
	"bytes"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/tributary-media/tributary/pkg/bus"
	"github.com/tributary-media/tributary/pkg/rtmp/flv"
)

// hdr returns the headers of an envelope.
func hdr(e bus.Envelope) nats.Header {
	h := nats.Header{}
	e.WriteHeader(h)
	return h
}

// msg is one message pushed into a Receiver.
type msg struct {
	env  bus.Envelope
	data []byte
}

func frameMsg(t testing.TB, epoch, seq uint64) msg {
	return msg{bus.Envelope{Epoch: epoch, Seq: seq, IngestTime: int64(seq)}, mustTag(t, flv.TagAudio, uint32(seq), aacRawBody)}
}

// fragments splits a tag into messages of at most size bytes.
func fragments(epoch, seq uint64, tag []byte, size int) []msg {
	var out []msg
	for off := 0; off < len(tag); off += size {
		end := min(off+size, len(tag))
		out = append(out, msg{bus.Envelope{Epoch: epoch, Seq: seq, FragOffset: off, FragTotal: len(tag)}, tag[off:end]})
	}
	return out
}

func TestReceiverSequence(t *testing.T) {
	end := func(epoch, seq uint64) msg {
		return msg{env: bus.Envelope{Epoch: epoch, Seq: seq, Event: bus.EventEnd}}
	}
	in := []msg{
		frameMsg(t, 5, 1),
		frameMsg(t, 5, 2),
		frameMsg(t, 5, 4), // 3 lost
		frameMsg(t, 5, 3), // late or duplicate: dropped
		frameMsg(t, 5, 4), // duplicate: dropped
		frameMsg(t, 5, 5),
		frameMsg(t, 4, 6), // older epoch: dropped
		frameMsg(t, 6, 1), // newer epoch: sequence starts again
		frameMsg(t, 6, 2),
		frameMsg(t, 5, 6), // the old owner again: dropped
		{env: bus.Envelope{Epoch: 6, Seq: 3, Event: "x-future"}}, // unknown event: dropped, but numbered
		end(6, 5),         // 4 lost
		frameMsg(t, 7, 9), // a publish joined late: no loss counted
	}
	want := []string{"e5/s1", "e5/s2", "e5/s4/lost1", "e5/s5", "e6/s1", "e6/s2", "e6/s5/end/lost1", "e7/s9"}
	r := bus.NewReceiver(bus.ReceiverConfig{})
	var got []bus.Frame
	for _, m := range in {
		f, ok, err := r.Push(hdr(m.env), m.data)
		if err != nil {
			t.Fatalf("push %+v: %v", m.env, err)
		}
		if ok {
			if f.Event == "" && !bytes.Equal(f.Tag, m.data) {
				t.Fatalf("frame %d: tag differs", f.Seq)
			}
			got = append(got, f)
		}
	}
	if g := summary(got); !equalStrings(g, want) {
		t.Fatalf("delivered %v, want %v", g, want)
	}
	st := r.Stats()
	wantStats := bus.ReceiverStats{Frames: 7, Bytes: st.Bytes, Gaps: 2, Lost: 2, Stale: 2, Duplicates: 2, Ends: 1, Epochs: 2}
	if st != wantStats || st.Bytes != 7*uint64(len(in[0].data)) {
		t.Fatalf("stats %+v, want %+v", st, wantStats)
	}
	if r.Epoch() != 7 {
		t.Fatalf("Epoch() = %d", r.Epoch())
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestReceiverFragments(t *testing.T) {
	big := mustTag(t, flv.TagVideo, 80, keyBody(3000, 7))
	whole := frameMsg(t, 1, 3)
	cases := []struct {
		name   string
		cfg    bus.ReceiverConfig
		in     []msg
		want   []string
		errors int
		stats  bus.ReceiverStats
	}{
		{
			name:  "in order",
			in:    append(fragments(1, 1, big, 1000), frameMsg(t, 1, 2)),
			want:  []string{"e1/s1", "e1/s2"},
			stats: bus.ReceiverStats{Frames: 2, Fragments: 4},
		},
		{
			name:  "uneven last fragment",
			in:    fragments(1, 1, big, 999),
			want:  []string{"e1/s1"},
			stats: bus.ReceiverStats{Frames: 1, Fragments: 4},
		},
		{
			name:  "middle lost",
			in:    append(append([]msg{frameMsg(t, 1, 1)}, fragments(1, 2, big, 1000)[0], fragments(1, 2, big, 1000)[2]), whole),
			want:  []string{"e1/s1", "e1/s3/lost1"},
			stats: bus.ReceiverStats{Frames: 2, Fragments: 2, Incomplete: 2, Gaps: 1, Lost: 1},
		},
		{
			name:  "first lost",
			in:    append(fragments(1, 1, big, 1000)[1:], whole),
			want:  []string{"e1/s3"},
			stats: bus.ReceiverStats{Frames: 1, Fragments: 3, Incomplete: 3},
		},
		{
			name:  "whole frame interrupts",
			in:    append(fragments(1, 2, big, 1000)[:2], whole),
			want:  []string{"e1/s3"},
			stats: bus.ReceiverStats{Frames: 1, Fragments: 2, Incomplete: 1},
		},
		{
			name:  "new epoch interrupts",
			in:    append(fragments(1, 2, big, 1000)[:2], frameMsg(t, 2, 1)),
			want:  []string{"e2/s1"},
			stats: bus.ReceiverStats{Frames: 1, Fragments: 2, Incomplete: 1, Epochs: 1},
		},
		{
			name:   "larger than the limit",
			cfg:    bus.ReceiverConfig{MaxFrameSize: 2000},
			in:     append(fragments(1, 1, big, 1000), whole),
			want:   []string{"e1/s3"},
			errors: 4,
			stats:  bus.ReceiverStats{Frames: 1, Fragments: 4, Malformed: 4},
		},
		{
			name: "fragment overruns its total",
			in: []msg{
				{bus.Envelope{Epoch: 1, Seq: 1, FragOffset: 0, FragTotal: 10}, make([]byte, 11)},
			},
			errors: 1,
			stats:  bus.ReceiverStats{Fragments: 1, Malformed: 1},
		},
		{
			name: "reassembled bytes are not a tag",
			in: []msg{
				{bus.Envelope{Epoch: 1, Seq: 1, FragOffset: 0, FragTotal: 20}, make([]byte, 10)},
				{bus.Envelope{Epoch: 1, Seq: 1, FragOffset: 10, FragTotal: 20}, make([]byte, 10)},
			},
			errors: 1,
			stats:  bus.ReceiverStats{Fragments: 2, Malformed: 1},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := bus.NewReceiver(c.cfg)
			var got []bus.Frame
			errs := 0
			for _, m := range c.in {
				f, ok, err := r.Push(hdr(m.env), m.data)
				if err != nil {
					errs++
				}
				if ok {
					got = append(got, f)
				}
			}
			if g := summary(got); !equalStrings(g, c.want) || errs != c.errors {
				t.Fatalf("delivered %v with %d errors, want %v with %d", g, errs, c.want, c.errors)
			}
			for _, f := range got {
				if len(f.Tag) > 1000 && !bytes.Equal(f.Tag, big) {
					t.Fatal("reassembled tag differs")
				}
			}
			st := r.Stats()
			st.Bytes = 0
			if st != c.stats {
				t.Fatalf("stats %+v, want %+v", st, c.stats)
			}
		})
	}
}

func TestReceiverRejects(t *testing.T) {
	tag := mustTag(t, flv.TagAudio, 0, aacRawBody)
	cases := []struct {
		name string
		h    nats.Header
		data []byte
	}{
		{"no headers", nil, tag},
		{"not a tag", hdr(bus.Envelope{Epoch: 1, Seq: 1}), []byte("hello")},
		{"bytes after the tag", hdr(bus.Envelope{Epoch: 1, Seq: 1}), append(append([]byte(nil), tag...), 0)},
		{"two tags", hdr(bus.Envelope{Epoch: 1, Seq: 1}), append(append([]byte(nil), tag...), tag...)},
		{"event with data", hdr(bus.Envelope{Epoch: 1, Seq: 1, Event: bus.EventEnd}), tag},
		{"init end on the media subject", hdr(bus.Envelope{Epoch: 1, InitEnd: true}), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := bus.NewReceiver(bus.ReceiverConfig{})
			f, ok, err := r.Push(c.h, c.data)
			if err == nil || ok {
				t.Fatalf("Push = %+v, %v, %v; want an error", f, ok, err)
			}
			if st := r.Stats(); st.Malformed != 1 || st.Frames != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestFrameParseTagAndClone(t *testing.T) {
	tag := mustTag(t, flv.TagVideo, 1234, keyBody(50, 3))
	f := bus.Frame{Epoch: 1, Seq: 1, Tag: tag}
	pt, err := f.ParseTag()
	if err != nil || pt.Type != flv.TagVideo || pt.Timestamp != 1234 || len(pt.Body) != 50 {
		t.Fatalf("ParseTag = %+v, %v", pt, err)
	}
	c := f.Clone()
	c.Tag[0] = 0
	if f.Tag[0] != byte(flv.TagVideo) {
		t.Fatal("Clone shares the tag")
	}
}
