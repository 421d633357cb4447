package rtmp_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/tributary-media/tributary/pkg/rtmp"
	"github.com/tributary-media/tributary/pkg/rtmp/amf"
	"github.com/tributary-media/tributary/pkg/rtmp/message"
)

// received is a message a ServerConn returned to the test handler.
type received struct {
	kind     rtmp.Kind
	streamID uint32
	ts       uint32
	payload  []byte
	dataName string
}

// startRecordingServer runs a Server whose handler accepts every connect
// and publish and passes the media, data and unpublish messages it reads
// to the returned channel.
func startRecordingServer(t *testing.T) (string, <-chan received) {
	t.Helper()
	out := make(chan received, 64)
	srv := &rtmp.Server{Handler: func(ctx context.Context, c *rtmp.ServerConn) error {
		if _, err := c.ReadConnect(); err != nil {
			return err
		}
		if err := c.AcceptConnect(nil); err != nil {
			return err
		}
		for {
			m, err := c.ReadMessage()
			if err != nil {
				return err
			}
			switch m.Kind {
			case rtmp.KindPublish:
				if err := c.AcceptPublish(m.Publish); err != nil {
					return err
				}
			case rtmp.KindAudio, rtmp.KindVideo, rtmp.KindData, rtmp.KindUnpublish:
				r := received{kind: m.Kind, streamID: m.StreamID, ts: m.Timestamp, payload: bytes.Clone(m.Payload)}
				if m.Data != nil {
					r.dataName = m.Data.Name
				}
				out <- r
			}
		}
	}}
	return startServer(t, srv), out
}

// publishOn publishes name on stream id and waits for Publish.Start.
func (p *rawPeer) publishOn(id uint32, name string) {
	p.t.Helper()
	p.send(id, p.cmd("publish", name, "live"))
	cm, cmd := p.nextCommand()
	if code := statusCode(cmd); cmd.Name != "onStatus" || code != rtmp.CodePublishStart || cm.StreamID != id {
		p.t.Fatalf("publish %q on stream %d answered with %s %q on stream %d", name, id, cmd.Name, code, cm.StreamID)
	}
}

// waitStatus reads until an onStatus with code arrives on stream id.
func (p *rawPeer) waitStatus(id uint32, code string) {
	p.t.Helper()
	for {
		cm, cmd := p.nextCommand()
		if cmd.Name == "onStatus" && cm.StreamID == id && statusCode(cmd) == code {
			return
		}
	}
}

// sendAt writes one message on stream id with timestamp ts.
func (p *rawPeer) sendAt(id, ts uint32, m message.Message) {
	p.t.Helper()
	cm, err := message.ToChunk(m, id, ts, nil)
	if err != nil {
		p.t.Fatal(err)
	}
	if err := p.w.WriteMessage(&cm); err != nil {
		p.t.Fatal(err)
	}
	if err := p.w.Flush(); err != nil {
		p.t.Fatal(err)
	}
}

// expectReceived waits for the next message the handler passed on and
// compares it with want.
func expectReceived(t *testing.T, got <-chan received, want received) {
	t.Helper()
	select {
	case r := <-got:
		if r.kind != want.kind || r.streamID != want.streamID || r.ts != want.ts || r.dataName != want.dataName ||
			(want.payload != nil && !bytes.Equal(r.payload, want.payload)) {
			t.Fatalf("handler got %v on stream %d at %d (data %q, % x), want %v on stream %d at %d (data %q, % x)",
				r.kind, r.streamID, r.ts, r.dataName, r.payload, want.kind, want.streamID, want.ts, want.dataName, want.payload)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("handler got nothing, want %v on stream %d at %d", want.kind, want.streamID, want.ts)
	}
}

// TestMediaOnStreamZero: a client that publishes on the stream
// createStream returned but sends its audio, video and data on message
// stream 0 (node-media-server's RTMP client) has that media returned as
// the publishing stream's, as long as the conn has exactly one accepted
// publish; before any publish, and while two are accepted, media on
// stream 0 is dropped.
func TestMediaOnStreamZero(t *testing.T) {
	video, audio := videoFrame(7, true, 300), audioFrame(7)
	meta := &message.Data{Name: "@setDataFrame", Values: []any{"onMetaData", amf.ECMAArray{{Key: "width", Value: 320.0}}}}

	t.Run("one publish", func(t *testing.T) {
		addr, got := startRecordingServer(t)
		p := dialRaw(t, addr)
		p.connect()
		id := p.createStream()
		p.publishOn(id, "zero")
		p.sendAt(0, 0, meta)
		p.sendAt(0, 0, &message.Video{Payload: avcSeqHeader})
		p.sendAt(0, 0, &message.Audio{Payload: aacSeqHeader})
		p.sendAt(0, 40, &message.Video{Payload: video})
		p.sendAt(0, 46, &message.Audio{Payload: audio})
		expectReceived(t, got, received{kind: rtmp.KindData, streamID: id, dataName: "onMetaData"})
		expectReceived(t, got, received{kind: rtmp.KindVideo, streamID: id, payload: avcSeqHeader})
		expectReceived(t, got, received{kind: rtmp.KindAudio, streamID: id, payload: aacSeqHeader})
		expectReceived(t, got, received{kind: rtmp.KindVideo, streamID: id, ts: 40, payload: video})
		expectReceived(t, got, received{kind: rtmp.KindAudio, streamID: id, ts: 46, payload: audio})
		// Media on the publishing stream itself is unaffected.
		p.sendAt(id, 80, &message.Video{Payload: video})
		expectReceived(t, got, received{kind: rtmp.KindVideo, streamID: id, ts: 80, payload: video})
	})

	t.Run("before publish", func(t *testing.T) {
		addr, got := startRecordingServer(t)
		p := dialRaw(t, addr)
		p.connect()
		id := p.createStream()
		p.sendAt(0, 0, &message.Video{Payload: video}) // no publish yet: dropped
		p.sendAt(0, 0, meta)                           // dropped
		p.publishOn(id, "zero")
		p.sendAt(0, 40, &message.Audio{Payload: audio})
		expectReceived(t, got, received{kind: rtmp.KindAudio, streamID: id, ts: 40, payload: audio})
	})

	t.Run("two publishes", func(t *testing.T) {
		addr, got := startRecordingServer(t)
		p := dialRaw(t, addr)
		p.connect()
		first, second := p.createStream(), p.createStream()
		p.publishOn(first, "one")
		p.publishOn(second, "two")
		p.sendAt(0, 0, &message.Video{Payload: video}) // ambiguous: dropped
		p.sendAt(0, 0, meta)                           // dropped
		p.sendAt(second, 10, &message.Audio{Payload: audio})
		expectReceived(t, got, received{kind: rtmp.KindAudio, streamID: second, ts: 10, payload: audio})

		// Once the first publish ends, the second is the only one left.
		p.send(0, p.cmd("deleteStream", float64(first)))
		expectReceived(t, got, received{kind: rtmp.KindUnpublish, streamID: first})
		p.waitStatus(first, rtmp.CodeUnpublishSuccess)
		p.sendAt(0, 20, &message.Video{Payload: video})
		expectReceived(t, got, received{kind: rtmp.KindVideo, streamID: second, ts: 20, payload: video})

		// After FCUnpublish of the second one there is none: dropped again.
		p.send(0, p.cmd("FCUnpublish", "two"))
		expectReceived(t, got, received{kind: rtmp.KindUnpublish, streamID: second})
		p.waitStatus(second, rtmp.CodeUnpublishSuccess)
		p.sendAt(0, 30, &message.Video{Payload: video})
		third := p.createStream()
		p.publishOn(third, "three")
		p.sendAt(third, 40, &message.Audio{Payload: audio})
		expectReceived(t, got, received{kind: rtmp.KindAudio, streamID: third, ts: 40, payload: audio})
	})
}
