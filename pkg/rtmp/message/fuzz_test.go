package message_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/tributary-media/tributary/pkg/rtmp/chunk"
	"github.com/tributary-media/tributary/pkg/rtmp/message"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the committed fuzz seed corpus from the case tables")

// FuzzDecode decodes a type byte and payload. Decoding never panics and
// fails only with ErrMalformed; whatever decodes re-encodes, the
// re-encoding decodes to an equivalent message and encodes to the same
// bytes again; a Decoder agrees with Decode; aggregates split, rebuild and
// split to the same sub-messages.
func FuzzDecode(f *testing.F) {
	for _, c := range decodeCases() {
		f.Add(c.typ, c.bytes)
	}
	for _, c := range errorCases() {
		f.Add(c.typ, c.bytes)
	}
	f.Fuzz(func(t *testing.T, typ uint8, payload []byte) {
		m := chunk.Message{CSID: 4, Timestamp: 1000, Type: typ, StreamID: 1, Payload: payload}
		msg, err := message.Decode(&m)
		var d message.Decoder
		msgD, errD := d.Decode(&m)
		if (err == nil) != (errD == nil) {
			t.Fatalf("Decode error %v, Decoder error %v", err, errD)
		}
		if err != nil {
			if !errors.Is(err, message.ErrMalformed) {
				t.Fatalf("decode error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		if ok, diff := equivalent(msg, msgD); !ok {
			t.Fatalf("Decoder disagrees with Decode: %s", diff)
		}
		if msg.Type() != typ {
			t.Fatalf("type %d decoded to %T with Type() %d", typ, msg, msg.Type())
		}
		p2, err := msg.AppendPayload(nil)
		if err != nil {
			t.Fatalf("decoded %#v does not encode: %v", msg, err)
		}
		msg2, err := message.Decode(&chunk.Message{Type: msg.Type(), Payload: p2})
		if err != nil {
			t.Fatalf("re-encoding % x does not decode: %v", p2, err)
		}
		if ok, diff := equivalent(msg, msg2); !ok {
			t.Fatalf("re-encoding decodes differently: %s\nfirst  %#v\nsecond %#v", diff, msg, msg2)
		}
		p3, err := msg2.AppendPayload(nil)
		if err != nil || !bytes.Equal(p2, p3) {
			t.Fatalf("encoding is not stable: % x then % x (%v)", p2, p3, err)
		}
		if typ == message.TypeAggregate {
			checkAggregateRoundTrip(t, &m)
		}
	})
}

func checkAggregateRoundTrip(t *testing.T, m *chunk.Message) {
	t.Helper()
	subs, err := split(m)
	if err != nil && !errors.Is(err, message.ErrMalformed) {
		t.Fatalf("split error does not wrap ErrMalformed: %v", err)
	}
	var rebuilt []byte
	for _, s := range subs {
		if rebuilt, err = message.AppendAggregateTag(rebuilt, s); err != nil {
			t.Fatalf("sub-message does not re-encode: %v", err)
		}
	}
	again, err := split(&chunk.Message{CSID: m.CSID, Timestamp: m.Timestamp, Type: m.Type, StreamID: m.StreamID, Payload: rebuilt})
	if err != nil {
		t.Fatalf("rebuilt aggregate does not split: %v", err)
	}
	if ok, diff := equivalent(subs, again); !ok {
		t.Fatalf("rebuilt aggregate splits differently: %s", diff)
	}
}

// TestSeedCorpus keeps testdata/fuzz/FuzzDecode in step with the case
// tables; run with -update-corpus to rewrite it.
func TestSeedCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	files := map[string]string{}
	for _, c := range decodeCases() {
		files[c.name] = fmt.Sprintf("go test fuzz v1\nbyte(%q)\n[]byte(%q)\n", c.typ, c.bytes)
	}
	for _, c := range errorCases() {
		files["malformed-"+c.name] = fmt.Sprintf("go test fuzz v1\nbyte(%q)\n[]byte(%q)\n", c.typ, c.bytes)
	}
	for name, want := range files {
		path := filepath.Join(dir, name)
		if *updateCorpus {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("seed %s missing (run go test -run TestSeedCorpus -update-corpus): %v", path, err)
		}
		if string(got) != want {
			t.Errorf("seed %s differs from its case (run go test -run TestSeedCorpus -update-corpus)", path)
		}
	}
}
