package rtmp_test

import (
	"testing"

	"github.com/tributary-media/tributary/pkg/rtmp"
	"github.com/tributary-media/tributary/pkg/rtmp/message"
)

// The media paths take no allocation in steady state: reading a video
// message from a publishing client (including the acknowledgements the
// read path sends), and writing audio and video on either side.

func TestAllocsServerReadVideo(t *testing.T) {
	c, sc := publishingServerConn(t, videoCycle(t, 8, 3000))
	defer c.Close()
	read := func() {
		m, err := c.ReadMessage()
		if err != nil || m.Kind != rtmp.KindVideo || len(m.Payload) != 3000 {
			t.Fatalf("ReadMessage = %v, %v", m, err)
		}
	}
	for i := 0; i < 100; i++ {
		read() // warm up: buffers grow to their steady size
	}
	written := sc.written.Load()
	if n := testing.AllocsPerRun(1000, read); n != 0 {
		t.Errorf("ServerConn.ReadMessage of video: %v allocations, want 0", n)
	}
	if sc.written.Load() == written {
		t.Error("no acknowledgement was written while reading 3 MB")
	}
}

// Media a client sends on message stream 0 while it publishes on stream 1
// (see TestMediaOnStreamZero) takes the same allocation-free path. Each
// cycle ends with a frame on stream 1, so that dropped frames show as a gap
// in the frame indexes instead of a ReadMessage that never returns.
func TestAllocsServerReadVideoStreamZero(t *testing.T) {
	const n = 5
	var msgs []message.Message
	for i := 0; i < n-1; i++ {
		msgs = append(msgs, &message.Video{Payload: videoFrame(i, i == 0, 3000)})
	}
	cycle := chunkBytes(t, 4096, 0, msgs...)
	cycle = append(cycle, chunkBytes(t, 4096, 1, &message.Video{Payload: videoFrame(n-1, false, 3000)})...)
	c, _ := publishingServerConn(t, cycle)
	defer c.Close()
	next := 0
	read := func() {
		m, err := c.ReadMessage()
		if err != nil || m.Kind != rtmp.KindVideo || m.StreamID != 1 || len(m.Payload) != 3000 {
			t.Fatalf("ReadMessage = %v, %v", m, err)
		}
		if i := frameIndex(m.Payload); i != next {
			t.Fatalf("read frame %d, want %d", i, next)
		}
		next = (next + 1) % n
	}
	for i := 0; i < 100; i++ {
		read()
	}
	if n := testing.AllocsPerRun(1000, read); n != 0 {
		t.Errorf("ServerConn.ReadMessage of video on message stream 0: %v allocations, want 0", n)
	}
}

// TestAllocsServerWriteMedia writes media flushed message by message, and
// corked (see Cork) with an Uncork every tenth pair.
func TestAllocsServerWriteMedia(t *testing.T) {
	for _, corked := range []bool{false, true} {
		c, _ := publishingServerConn(t, nil)
		video, audio := videoFrame(1, false, 3000), audioFrame(1)
		if corked {
			c.Cork()
		}
		var ts uint32
		write := func() {
			ts += 40
			if err := c.WriteVideo(1, ts, video); err != nil {
				t.Fatal(err)
			}
			if err := c.WriteAudio(1, ts, audio); err != nil {
				t.Fatal(err)
			}
			if corked && ts%400 == 0 {
				if err := c.Uncork(); err != nil {
					t.Fatal(err)
				}
				c.Cork()
			}
		}
		write()
		if n := testing.AllocsPerRun(1000, write); n != 0 {
			t.Errorf("ServerConn.WriteVideo/WriteAudio (corked %v): %v allocations, want 0", corked, n)
		}
		c.Close()
	}
}

func TestAllocsClientWriteMedia(t *testing.T) {
	c := publishingClientConn(t)
	defer c.Close()
	video, audio := videoFrame(1, false, 3000), audioFrame(1)
	key := videoFrame(2, true, 3000)
	var ts uint32
	write := func() {
		ts += 40
		p := video
		if ts%400 == 0 {
			p = key
		}
		if err := c.WriteVideo(ts, p); err != nil {
			t.Fatal(err)
		}
		if err := c.WriteAudio(ts, audio); err != nil {
			t.Fatal(err)
		}
	}
	write()
	if n := testing.AllocsPerRun(1000, write); n != 0 {
		t.Errorf("ClientConn.WriteVideo/WriteAudio: %v allocations, want 0", n)
	}
}

// TestCork checks that corked media stays in the write buffer until
// Uncork, or until the buffer fills, or another write flushes it.
func TestCork(t *testing.T) {
	c, sc := publishingServerConn(t, nil)
	defer c.Close()
	video, audio := videoFrame(1, false, 3000), audioFrame(1)
	before := sc.written.Load()
	if err := c.WriteVideo(1, 0, video); err != nil {
		t.Fatal(err)
	}
	if sc.written.Load() == before {
		t.Fatal("an uncorked video message was not flushed")
	}
	c.Cork()
	before = sc.written.Load()
	for ts := uint32(40); ts <= 160; ts += 40 {
		if err := c.WriteVideo(1, ts, video); err != nil {
			t.Fatal(err)
		}
		if err := c.WriteAudio(1, ts, audio); err != nil {
			t.Fatal(err)
		}
	}
	if got := sc.written.Load(); got != before {
		t.Fatalf("%d bytes written while corked, want none before Uncork", got-before)
	}
	if err := c.Uncork(); err != nil {
		t.Fatal(err)
	}
	if got := sc.written.Load() - before; got < int64(4*(len(video)+len(audio))) {
		t.Fatalf("Uncork wrote %d bytes, want the 4 video and 4 audio messages", got)
	}
	// A command flushes corked media; a full buffer is written out.
	c.Cork()
	before = sc.written.Load()
	if err := c.WriteVideo(1, 200, video); err != nil {
		t.Fatal(err)
	}
	if err := c.SendStatus(1, rtmp.LevelStatus, rtmp.CodePlayPublishNotify, "x"); err != nil {
		t.Fatal(err)
	}
	if got := sc.written.Load() - before; got < int64(len(video)) {
		t.Fatalf("a status message while corked wrote %d bytes, want the corked video too", got)
	}
	before = sc.written.Load()
	big := videoFrame(2, false, 40<<10)
	ts := uint32(240)
	for range 2 {
		ts += 40
		if err := c.WriteVideo(1, ts, big); err != nil {
			t.Fatal(err)
		}
	}
	if sc.written.Load() == before {
		t.Fatal("80 KiB of corked video stayed in the write buffer")
	}
	if err := c.Uncork(); err != nil {
		t.Fatal(err)
	}
}
