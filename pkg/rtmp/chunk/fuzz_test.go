package chunk_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tributary-media/tributary/pkg/rtmp/chunk"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the named seed files in testdata/fuzz from the case tables")

// fuzzConfig is the small-limit Config FuzzReader runs with; flags switch
// the lenient options.
func fuzzConfig(flags byte) chunk.Config {
	return chunk.Config{
		MaxChunkSize:           1 << 16,
		MaxMessageLength:       1 << 16,
		MaxChunkStreams:        8,
		MaxPendingBytes:        1 << 17,
		LenientChunkSize:       flags&1 != 0,
		LenientFreshFmt1:       flags&2 != 0,
		Fmt3AfterFmt0ZeroDelta: flags&4 != 0,
	}
}

func configFlags(c chunk.Config) byte {
	var f byte
	if c.LenientChunkSize {
		f |= 1
	}
	if c.LenientFreshFmt1 {
		f |= 2
	}
	if c.Fmt3AfterFmt0ZeroDelta {
		f |= 4
	}
	return f
}

// FuzzReader feeds arbitrary bytes to a Reader with small limits. Nothing
// may panic or hang, memory must stay within what the bytes and limits
// allow, errors must be classified, and every message read must survive a
// Writer -> Reader round trip.
func FuzzReader(f *testing.F) {
	for _, c := range streamCases {
		f.Add(c.bytes, configFlags(c.cfg))
	}
	for _, c := range errorCases {
		f.Add(c.bytes, configFlags(c.cfg))
	}
	f.Fuzz(func(t *testing.T, data []byte, flags byte) {
		cfg := fuzzConfig(flags)
		r := chunk.NewReader(bytes.NewReader(data), cfg)
		var msgs []chunk.Message
		var err error
		for {
			var m chunk.Message
			if err = r.ReadMessage(&m); err != nil {
				break
			}
			msgs = append(msgs, *m.Clone())
			// Every message consumes at least one byte.
			if len(msgs) > len(data) {
				t.Fatalf("%d messages from %d bytes", len(msgs), len(data))
			}
			if aerr := chunk.CheckAccounting(r); aerr != nil {
				t.Fatal(aerr)
			}
			if held, limit := chunk.HeldBytes(r), 2*int(r.BytesRead())+cfg.MaxChunkStreams*(4<<10); held > limit {
				t.Fatalf("holding %d bytes of buffer after reading %d bytes", held, r.BytesRead())
			}
			if uint32(len(m.Payload)) > cfg.MaxMessageLength {
				t.Fatalf("message of %d bytes above the limit", len(m.Payload))
			}
		}
		if err != io.EOF && !errors.Is(err, chunk.ErrProtocol) && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("unclassified error %v", err)
		}
		if r.BytesRead() > uint64(len(data)) {
			t.Fatalf("BytesRead %d beyond the %d bytes given", r.BytesRead(), len(data))
		}
		if aerr := chunk.CheckAccounting(r); aerr != nil {
			t.Fatal(aerr)
		}

		// Re-encode. A Set Chunk Size on a message stream other than 0 is
		// the one message a Writer refuses to send.
		var want []chunk.Message
		var buf bytes.Buffer
		w := chunk.NewWriter(&buf, cfg)
		for i := range msgs {
			if msgs[i].Type == 1 && msgs[i].StreamID != 0 {
				continue
			}
			if err := w.WriteMessage(&msgs[i]); err != nil {
				t.Fatalf("re-encoding %s: %v", describe(msgs[i:i+1]), err)
			}
			want = append(want, msgs[i])
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		got, err := readAll(cfg, buf.Bytes())
		if err != nil {
			t.Fatalf("reading the re-encoded stream: %v", err)
		}
		equalMessages(t, got, want)
	})
}

// program encodes messages in FuzzRoundTrip's input format: per message
// csid-2 (3 bytes), timestamp (4), type (1), stream id (4), payload length
// (2), payload.
func program(msgs []chunk.Message) []byte {
	var out []byte
	for _, m := range msgs {
		c := m.CSID - 2
		n := len(m.Payload)
		out = append(out, byte(c>>16), byte(c>>8), byte(c),
			byte(m.Timestamp>>24), byte(m.Timestamp>>16), byte(m.Timestamp>>8), byte(m.Timestamp),
			m.Type,
			byte(m.StreamID>>24), byte(m.StreamID>>16), byte(m.StreamID>>8), byte(m.StreamID),
			byte(n>>8), byte(n))
		out = append(out, m.Payload...)
	}
	return out
}

// parseProgram is the inverse of program for any input.
func parseProgram(data []byte) []chunk.Message {
	var msgs []chunk.Message
	for len(data) >= 14 {
		d := data
		n := min(int(d[12])<<8|int(d[13]), len(d)-14)
		msgs = append(msgs, chunk.Message{
			CSID:      2 + (uint32(d[0])<<16|uint32(d[1])<<8|uint32(d[2]))%65598,
			Timestamp: uint32(d[3])<<24 | uint32(d[4])<<16 | uint32(d[5])<<8 | uint32(d[6]),
			Type:      d[7],
			StreamID:  uint32(d[8])<<24 | uint32(d[9])<<16 | uint32(d[10])<<8 | uint32(d[11]),
			Payload:   d[14 : 14+n],
		})
		data = d[14+n:]
	}
	return msgs
}

// FuzzRoundTrip writes message sequences with a Writer and reads them back.
func FuzzRoundTrip(f *testing.F) {
	for _, c := range streamCases {
		f.Add(program(c.msgs))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := chunk.Config{LenientChunkSize: true}
		var buf bytes.Buffer
		w := chunk.NewWriter(&buf, cfg)
		var want []chunk.Message
		for _, m := range parseProgram(data) {
			if err := w.WriteMessage(&m); err != nil {
				if m.Type != 1 && m.Type != 2 {
					t.Fatalf("WriteMessage(%s): %v", describe([]chunk.Message{m}), err)
				}
				continue // a Set Chunk Size or Abort the Writer refuses to send
			}
			want = append(want, m)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		r := chunk.NewReader(bytes.NewReader(buf.Bytes()), cfg)
		for i := range want {
			var m chunk.Message
			if err := r.ReadMessage(&m); err != nil {
				t.Fatalf("ReadMessage %d of %d: %v", i, len(want), err)
			}
			if !equalMessage(&m, &want[i]) {
				t.Fatalf("message %d:\n got  %s\n want %s", i, describe([]chunk.Message{m}), describe(want[i:i+1]))
			}
		}
		var m chunk.Message
		if err := r.ReadMessage(&m); err != io.EOF {
			t.Fatalf("ReadMessage after the last message = %v, want io.EOF", err)
		}
		if r.BytesRead() != w.BytesWritten() || r.ChunkSize() != w.ChunkSize() {
			t.Fatalf("Reader at %d bytes, chunk size %d; Writer at %d bytes, chunk size %d",
				r.BytesRead(), r.ChunkSize(), w.BytesWritten(), w.ChunkSize())
		}
	})
}

// corpusFile is the content of a seed file in Go's corpus format.
func corpusFile(vals ...any) []byte {
	var sb strings.Builder
	sb.WriteString("go test fuzz v1\n")
	for _, v := range vals {
		switch v := v.(type) {
		case []byte:
			fmt.Fprintf(&sb, "[]byte(%q)\n", v)
		case byte:
			fmt.Fprintf(&sb, "byte(%q)\n", v)
		case bool:
			fmt.Fprintf(&sb, "bool(%v)\n", v)
		}
	}
	return []byte(sb.String())
}

// TestSeedCorpus checks that testdata/fuzz holds a named seed file for
// every case of the tables, so the corpus documents the cases; run with
// -update-corpus to rewrite them.
func TestSeedCorpus(t *testing.T) {
	want := map[string][]byte{}
	name := func(s string) string { return strings.ReplaceAll(s, "/", "-") }
	for _, c := range streamCases {
		want[filepath.Join("FuzzReader", name(c.name))] = corpusFile(c.bytes, configFlags(c.cfg))
		want[filepath.Join("FuzzRoundTrip", name(c.name))] = corpusFile(program(c.msgs))
	}
	for _, c := range errorCases {
		want[filepath.Join("FuzzReader", "error-"+name(c.name))] = corpusFile(c.bytes, configFlags(c.cfg))
	}
	for _, c := range headerCases {
		want[filepath.Join("FuzzHeader", name(c.name))] = corpusFile(c.bytes, c.value.Fmt == 3 && c.value.Extended)
	}
	for file, content := range want {
		path := filepath.Join("testdata", "fuzz", file)
		if *updateCorpus {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, content, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("seed file missing (run go test -run TestSeedCorpus -update-corpus): %v", err)
			continue
		}
		if !bytes.Equal(got, content) {
			t.Errorf("%s is out of date with its case (run go test -run TestSeedCorpus -update-corpus)", path)
		}
	}
}
