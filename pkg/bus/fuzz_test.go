package bus_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/tributary-media/tributary/pkg/bus"
	"github.com/tributary-media/tributary/pkg/rtmp/flv"
)

// Every fuzz target is seeded from the case tables with f.Add and from the
// named corpus in testdata/fuzz/<target>.

// fuzzMaxFrame is the Receiver limit in FuzzFrame, small so that the fuzzer
// reaches it.
const fuzzMaxFrame = 1 << 16

// primeTag is a frame whose first half FuzzFrame pushes as a fragment
// before the fuzzed message, so that continuations are exercised.
var primeTag = func() []byte {
	b, _ := flv.AppendTag(nil, flv.TagAudio, 0, aacRawBody)
	return b
}()

// encodeHeader writes h as a NATS header block, keys sorted.
func encodeHeader(h nats.Header) []byte {
	var b strings.Builder
	b.WriteString("NATS/1.0\r\n")
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range h {
			if !yield(k) {
				return
			}
		}
	}) {
		for _, v := range h[k] {
			b.WriteString(k + ": " + v + "\r\n")
		}
	}
	b.WriteString("\r\n")
	return []byte(b.String())
}

func FuzzFrame(f *testing.F) {
	tag := mustTag(f, flv.TagVideo, 40, keyBody(64, 1))
	for _, c := range envelopeCases {
		data := tag
		switch {
		case c.value.Event != "" || c.value.InitEnd:
			data = nil
		case c.value.FragTotal != 0:
			data = tag[:min(len(tag), c.value.FragTotal-c.value.FragOffset)]
		}
		f.Add([]byte(c.bytes), data)
	}
	for _, c := range badEnvelopes {
		f.Add([]byte(c.bytes), tag)
	}
	// The second half of the primed fragment.
	half := len(primeTag) / 2
	f.Add(encodeHeader(hdr(bus.Envelope{Epoch: 1, Seq: 1, FragOffset: half, FragTotal: len(primeTag)})), primeTag[half:])

	f.Fuzz(func(t *testing.T, headers, data []byte) {
		h, err := nats.DecodeHeadersMsg(headers)
		if err != nil {
			return
		}
		env, envErr := bus.ParseEnvelope(h)
		if envErr == nil {
			// Round trip: the envelope survives WriteHeader and the wire
			// encoding unchanged.
			h2 := nats.Header{}
			env.WriteHeader(h2)
			h3, err := nats.DecodeHeadersMsg(encodeHeader(h2))
			if err != nil {
				t.Fatalf("re-encoded headers do not decode: %v", err)
			}
			for _, hh := range []nats.Header{h2, h3} {
				if env2, err := bus.ParseEnvelope(hh); err != nil || env2 != env {
					t.Fatalf("round trip: %+v, %v; want %+v", env2, err, env)
				}
			}
		}

		// A Receiver in the middle of a fragmented frame gets the message,
		// twice.
		r := bus.NewReceiver(bus.ReceiverConfig{MaxFrameSize: fuzzMaxFrame})
		if _, ok, err := r.Push(hdr(bus.Envelope{Epoch: 1, Seq: 1, FragOffset: 0, FragTotal: len(primeTag)}), primeTag[:half]); ok || err != nil {
			t.Fatalf("priming fragment: %v, %v", ok, err)
		}
		delivered := 0
		for range 2 {
			fr, ok, err := r.Push(h, data)
			if envErr != nil && (ok || err == nil) {
				t.Fatalf("message with bad headers (%v) accepted: %v, %v", envErr, ok, err)
			}
			if !ok {
				continue
			}
			if fr.Event != "" {
				if fr.Event != bus.EventEnd || len(fr.Tag) != 0 {
					t.Fatalf("event delivered: %+v", fr)
				}
				continue
			}
			delivered++
			if len(fr.Tag) > fuzzMaxFrame {
				t.Fatalf("frame of %d bytes above the limit", len(fr.Tag))
			}
			if _, n, err := flv.ParseTag(fr.Tag); err != nil || n != len(fr.Tag) {
				t.Fatalf("delivered frame is not one tag: %d of %d, %v", n, len(fr.Tag), err)
			}
			if env.FragTotal == 0 && !bytes.Equal(fr.Tag, data) {
				t.Fatal("whole frame delivered with other bytes")
			}
			if env.FragTotal != 0 && env.FragOffset == 0 && !bytes.Equal(fr.Tag, data) {
				t.Fatal("frame of one fragment delivered with other bytes")
			}
			if env.FragOffset != 0 && !bytes.Equal(fr.Tag, append(primeTag[:half:half], data...)) {
				t.Fatal("completed frame differs from the fragments")
			}
		}
		if delivered > 1 {
			t.Fatal("the same frame was delivered twice")
		}
		if st := r.Stats(); st.Frames != uint64(delivered) {
			t.Fatalf("stats count %d frames, %d delivered", st.Frames, delivered)
		}

		// A frame that is one tag survives being split into fragments of
		// any size.
		if envErr != nil || env.FragTotal != 0 || env.Event != "" || env.InitEnd || len(data) == 0 {
			return
		}
		if _, n, err := flv.ParseTag(data); err != nil || n != len(data) {
			return
		}
		sizes := []int{len(data)/2 + 1, len(data)}
		if len(data) <= 4096 {
			sizes = append(sizes, 1, 7)
		}
		for _, size := range sizes {
			r := bus.NewReceiver(bus.ReceiverConfig{})
			var got [][]byte
			for off := 0; off < len(data); off += size {
				end := min(off+size, len(data))
				e := env
				e.FragOffset, e.FragTotal = off, len(data)
				fr, ok, err := r.Push(hdr(e), data[off:end])
				if err != nil {
					t.Fatalf("fragment %d/%d: %v", off, len(data), err)
				}
				if ok {
					got = append(got, fr.Tag)
				}
			}
			if len(got) != 1 || !bytes.Equal(got[0], data) {
				t.Fatalf("split by %d: %d frames delivered", size, len(got))
			}
		}
	})
}

func FuzzToken(f *testing.F) {
	for _, c := range tokenCases {
		f.Add(c.in)
		f.Add(c.token)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok := bus.EscapeToken(s)
		if !validToken(tok) {
			t.Fatalf("EscapeToken(%q) = %q is not one literal token", s, tok)
		}
		if back, err := bus.UnescapeToken(tok); err != nil || back != s {
			t.Fatalf("UnescapeToken(EscapeToken(%q)) = %q, %v", s, back, err)
		}
		if name, err := bus.UnescapeToken(s); err == nil && bus.EscapeToken(name) != s {
			t.Fatalf("UnescapeToken(%q) = %q, which escapes to %q", s, name, bus.EscapeToken(name))
		}
		subj := bus.StreamSubject("", s, s, bus.KindMedia)
		if app, name, kind, err := bus.ParseStreamSubject("", subj); err != nil || app != s || name != s || kind != bus.KindMedia {
			t.Fatalf("ParseStreamSubject(%q) = %q, %q, %q, %v", subj, app, name, kind, err)
		}
	})
}
