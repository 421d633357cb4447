package chunk_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/tributary-media/tributary/pkg/rtmp/chunk"
)

// burstSource hands out queued bursts of bytes: each Read returns bytes of
// the current burst only, as many as asked for, like a socket read after
// the peer sent that burst. It returns io.EOF when no burst is left.
type burstSource struct {
	bursts [][]byte
	reads  int
}

func (s *burstSource) push(b []byte) { s.bursts = append(s.bursts, b) }

func (s *burstSource) Read(p []byte) (int, error) {
	for len(s.bursts) > 0 && len(s.bursts[0]) == 0 {
		s.bursts = s.bursts[1:]
	}
	if len(s.bursts) == 0 {
		return 0, io.EOF
	}
	s.reads++
	n := copy(p, s.bursts[0])
	s.bursts[0] = s.bursts[0][n:]
	return n, nil
}

// TestReaderInputBufferFollowsTraffic checks that the Reader reads small
// messages with its small input buffer, switches to the large one for a
// burst that fills the small one and goes back once the burst is parsed.
func TestReaderInputBufferFollowsTraffic(t *testing.T) {
	ack := chunk.Message{CSID: 2, Type: 3, Payload: b(0, 1, 0, 0)}
	cmd := chunk.Message{CSID: 3, Type: 20, Payload: pat(300, 1)}
	video := chunk.Message{CSID: 6, Type: 9, StreamID: 1, Payload: pat(64<<10, 2)}
	var w bytes.Buffer
	cw := chunk.NewWriter(&w, chunk.Config{})
	encode := func(ms ...chunk.Message) []byte {
		t.Helper()
		w.Reset()
		for i := range ms {
			if err := cw.WriteMessage(&ms[i]); err != nil {
				t.Fatal(err)
			}
		}
		if err := cw.Flush(); err != nil {
			t.Fatal(err)
		}
		return bytes.Clone(w.Bytes())
	}

	src := &burstSource{}
	r := chunk.NewReader(src, chunk.Config{})
	if got := chunk.InputBufferSize(r); got != chunk.SmallReadBufSize {
		t.Fatalf("new Reader: input buffer %d bytes, want %d", got, chunk.SmallReadBufSize)
	}
	total := 0
	read := func(want chunk.Message, wantBuf int) {
		t.Helper()
		var m chunk.Message
		if err := r.ReadMessage(&m); err != nil {
			t.Fatal(err)
		}
		equalMessages(t, []chunk.Message{m}, []chunk.Message{want})
		if got := chunk.InputBufferSize(r); got != wantBuf {
			t.Errorf("after a %d-byte message: input buffer %d bytes, want %d", len(want.Payload), got, wantBuf)
		}
		if err := chunk.CheckAccounting(r); err != nil {
			t.Error(err)
		}
	}
	send := func(p []byte) { src.push(p); total += len(p) }

	// A player: small messages, one per read.
	for i := 0; i < 3; i++ {
		ack.Timestamp, cmd.Timestamp = uint32(i), uint32(i)
		send(encode(ack))
		read(ack, chunk.SmallReadBufSize)
		send(encode(cmd)) // at chunk size 128: three chunks in one read
		read(cmd, chunk.SmallReadBufSize)
	}
	// A publisher's burst at chunk size 4096: the first read fills the
	// small buffer, the rest goes through the large one.
	send(encode(chunk.Message{CSID: 2, Type: 1, Payload: b(0, 0, 0x10, 0)}))
	read(chunk.Message{CSID: 2, Type: 1, Payload: b(0, 0, 0x10, 0)}, chunk.SmallReadBufSize)
	for i := 0; i < 2; i++ {
		video.Timestamp = uint32(40 * i)
		send(encode(video, video))
		read(video, chunk.ReadBufSize)
		reads := src.reads
		read(video, chunk.ReadBufSize)
		if n := src.reads - reads; n > 5 {
			t.Errorf("read a 64 KiB message in %d reads, want at most 5 with the large buffer", n)
		}
		// Quiet again: the next small message is read with the small
		// buffer, the large one is back in the pool.
		ack.Timestamp = uint32(100 + i)
		send(encode(ack))
		read(ack, chunk.SmallReadBufSize)
	}
	if got := r.BytesRead(); got != uint64(total) {
		t.Errorf("BytesRead = %d, sent %d", got, total)
	}
	var m chunk.Message
	if err := r.ReadMessage(&m); err != io.EOF {
		t.Errorf("ReadMessage at the end = %v, want io.EOF", err)
	}
}

// TestReaderSwitchKeepsPartialHeader checks that bytes of a chunk header
// that straddles reads survive the switch between input buffers in both
// directions.
func TestReaderSwitchKeepsPartialHeader(t *testing.T) {
	msgs := []chunk.Message{
		{CSID: 6, Type: 9, StreamID: 1, Payload: pat(1500, 3)},
		{CSID: 6, Timestamp: 0x1000000, Type: 9, StreamID: 1, Payload: pat(1500, 4)}, // extended timestamp: 5-byte fmt 3 headers
		{CSID: 300, Timestamp: 0x1000010, Type: 8, StreamID: 1, Payload: pat(10, 5)}, // 3-byte basic header
		{CSID: 4, Timestamp: 0x1000020, Type: 8, StreamID: 1, Payload: pat(10, 6)},
	}
	data := writeAll(t, chunk.Config{}, msgs)
	// Cut the stream at every offset: from the small buffer's size on, the
	// first part fills the small buffer, so the rest of it is read with
	// the large one, and the cut often falls inside a header.
	for cut := 1; cut < len(data); cut++ {
		src := &burstSource{}
		src.push(data[:cut])
		src.push(data[cut:])
		got, err := readAllFrom(chunk.NewReader(src, chunk.Config{}))
		if err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		equalMessages(t, got, msgs)
	}
}

// readAllFrom reads messages from r until io.EOF, cloning each.
func readAllFrom(r *chunk.Reader) ([]chunk.Message, error) {
	var out []chunk.Message
	for {
		var m chunk.Message
		err := r.ReadMessage(&m)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, *m.Clone())
		if err := chunk.CheckAccounting(r); err != nil {
			return out, err
		}
	}
}

// TestWriterHoldsBufferUntilFlush checks that the Writer takes its output
// buffer for a message and gives it back on Flush, also after an error.
func TestWriterHoldsBufferUntilFlush(t *testing.T) {
	var out bytes.Buffer
	w := chunk.NewWriter(&out, chunk.Config{})
	if chunk.HoldsOutputBuffer(w) {
		t.Fatal("new Writer holds an output buffer")
	}
	if err := w.WriteMessage(&chunk.Message{CSID: 1, Type: 9}); err == nil {
		t.Fatal("WriteMessage on chunk stream 1 succeeded")
	}
	if chunk.HoldsOutputBuffer(w) {
		t.Error("Writer holds an output buffer after refusing a message")
	}
	msgs := []chunk.Message{
		{CSID: 3, Type: 20, Payload: pat(200, 1)},
		{CSID: 6, Type: 9, StreamID: 1, Payload: pat(100<<10, 2)}, // more than a buffer
	}
	for i := range msgs {
		if err := w.WriteMessage(&msgs[i]); err != nil {
			t.Fatal(err)
		}
		if !chunk.HoldsOutputBuffer(w) {
			t.Errorf("message %d written: the Writer holds no output buffer before Flush", i)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if chunk.HoldsOutputBuffer(w) {
		t.Error("Writer holds an output buffer after Flush")
	}
	if err := w.Flush(); err != nil || out.Len() != int(w.BytesWritten()) {
		t.Errorf("second Flush = %v, %d bytes out, BytesWritten %d", err, out.Len(), w.BytesWritten())
	}
	got, err := readAll(chunk.Config{}, out.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	equalMessages(t, got, msgs)

	w = chunk.NewWriter(&failingWriter{}, chunk.Config{})
	if err := w.WriteMessage(&msgs[0]); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("Flush = %v, want io.ErrClosedPipe", err)
	}
	if chunk.HoldsOutputBuffer(w) {
		t.Error("Writer holds an output buffer after a failed Flush")
	}
	if err := w.WriteMessage(&msgs[0]); !errors.Is(err, io.ErrClosedPipe) || chunk.HoldsOutputBuffer(w) {
		t.Errorf("WriteMessage after a failure = %v (holding a buffer: %v), want the sticky error and no buffer",
			err, chunk.HoldsOutputBuffer(w))
	}
}

// TestWriterPendingOutputSurvivesOtherWriters checks that a Writer's
// unflushed output stays intact while other Writers take and return
// buffers.
func TestWriterPendingOutputSurvivesOtherWriters(t *testing.T) {
	var out bytes.Buffer
	w := chunk.NewWriter(&out, chunk.Config{})
	msg := chunk.Message{CSID: 3, Type: 20, Payload: pat(5000, 7)}
	if err := w.WriteMessage(&msg); err != nil {
		t.Fatal(err)
	}
	other := chunk.NewWriter(io.Discard, chunk.Config{})
	junk := chunk.Message{CSID: 3, Type: 20, Payload: bytes.Repeat([]byte{0xEE}, 12<<10)}
	for i := 0; i < 50; i++ {
		junk.Timestamp = uint32(i)
		if err := other.WriteMessage(&junk); err != nil {
			t.Fatal(err)
		}
		if err := other.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	got, err := readAll(chunk.Config{}, out.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	equalMessages(t, got, []chunk.Message{msg})
}

// TestConcurrentConnectionsShareBuffers runs connections in parallel, each
// writing messages of mixed sizes and reading them back in bursts, so that
// Readers and Writers keep taking and returning pooled buffers; every
// message must come through intact (and the race detector must stay
// quiet).
func TestConcurrentConnectionsShareBuffers(t *testing.T) {
	const conns, rounds = 8, 40
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- roundTrips(c, rounds)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// roundTrips writes rounds of messages of conn-specific content with one
// Writer and reads each round back with one Reader.
func roundTrips(conn, rounds int) error {
	var wire bytes.Buffer
	w := chunk.NewWriter(&wire, chunk.Config{})
	src := &burstSource{}
	r := chunk.NewReader(src, chunk.Config{})
	if err := w.WriteMessage(&chunk.Message{CSID: 2, Type: 1, Payload: b(0, 0, 0x10, 0)}); err != nil {
		return err
	}
	sizes := []int{10, 700, 3000, 20 << 10, 70 << 10}
	for i := range rounds {
		var sent []chunk.Message
		for j, size := range sizes[:1+i%len(sizes)] {
			m := chunk.Message{CSID: uint32(4 + j), Timestamp: uint32(i), Type: 9, StreamID: 1,
				Payload: pat(size, byte(conn*rounds+i))}
			if err := w.WriteMessage(&m); err != nil {
				return err
			}
			sent = append(sent, m)
		}
		if err := w.Flush(); err != nil {
			return err
		}
		src.push(bytes.Clone(wire.Bytes()))
		wire.Reset()
		if i == 0 {
			sent = append([]chunk.Message{{CSID: 2, Type: 1, Payload: b(0, 0, 0x10, 0)}}, sent...)
		}
		for k, want := range sent {
			var m chunk.Message
			if err := r.ReadMessage(&m); err != nil {
				return fmt.Errorf("conn %d round %d message %d: %w", conn, i, k, err)
			}
			if !equalMessage(&m, &want) {
				return fmt.Errorf("conn %d round %d message %d: got %s, want %s",
					conn, i, k, describe([]chunk.Message{m}), describe([]chunk.Message{want}))
			}
		}
	}
	return nil
}

// TestChunkStreamIDRanges round-trips messages on chunk stream ids around
// the boundary between the Reader's and Writer's array and map, including
// an Abort of an unfinished message on each side of it.
func TestChunkStreamIDRanges(t *testing.T) {
	var msgs []chunk.Message
	for _, csid := range []uint32{2, 14, 15, 16, 17, 63, 64, 65599} {
		msgs = append(msgs,
			chunk.Message{CSID: csid, Type: 9, StreamID: 1, Payload: pat(300, byte(csid))},
			chunk.Message{CSID: csid, Timestamp: 40, Type: 9, StreamID: 1, Payload: pat(300, byte(csid+1))})
	}
	data := writeAll(t, chunk.Config{}, msgs)
	got, err := readAll(chunk.Config{}, data)
	if err != nil {
		t.Fatal(err)
	}
	equalMessages(t, got, msgs)

	for _, csid := range []byte{15, 16} {
		stream := cat(
			b(csid), b(0, 0, 0), b(0, 1, 0), b(9), b(1, 0, 0, 0), pat(128, 1), // fmt 0, 256 bytes, first chunk
			b(0x02), b(0, 0, 0), b(0, 0, 4), b(2), b(0, 0, 0, 0), b(0, 0, 0, csid), // abort csid
			b(csid), b(0, 0, 0), b(0, 0, 2), b(9), b(1, 0, 0, 0), b(0xAB, 0xCD), // new message on csid
		)
		r := chunk.NewReader(bytes.NewReader(stream), chunk.Config{})
		got, err := readAllFrom(r)
		if err != nil {
			t.Fatalf("csid %d: %v", csid, err)
		}
		equalMessages(t, got, []chunk.Message{
			{CSID: 2, Type: 2, Payload: b(0, 0, 0, csid)},
			{CSID: uint32(csid), Type: 9, StreamID: 1, Payload: b(0xAB, 0xCD)},
		})
	}
}
