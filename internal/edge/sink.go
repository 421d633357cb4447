package edge

import (
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/tributary-media/tributary/internal/fanout"
	"github.com/tributary-media/tributary/pkg/rtmp"
	"github.com/tributary-media/tributary/pkg/rtmp/flv"
)

// errPlayerTooSlowSession is the session's end reason when the fan-out
// disconnected one of its players.
var errPlayerTooSlowSession = fanout.ErrPlayerTooSlow

// playSink writes one player's queue to its connection. The fan-out calls
// WriteFrame, Notify and Flush from one goroutine at a time.
type playSink struct {
	s        *session
	r        *relay // the relay the player plays from: it counts the bytes out
	streamID uint32
	accepted time.Time // when the play was accepted
	frames   uint32    // frames written, for sampling the latency

	// span is the play's rtmp.play span when it records, else nil.
	// linked is the publish it was last linked to, links the number of
	// links added.
	span   trace.Span
	linked *pubTrace
	links  int

	// Timestamps continue across a new publish: after an event, the next
	// frame is shifted to follow the last one written.
	written bool   // a frame has been written
	rebase  bool   // shift the next frame
	last    uint32 // timestamp of the last frame written, shifted
	offset  uint32 // added to every timestamp (mod 2^32)

	corked bool // frames are held in the connection's buffer until Flush
}

func (k *playSink) WriteFrame(f *fanout.Frame) error {
	if k.rebase {
		k.rebase = false
		if k.written {
			k.offset = k.last + 1 - f.Timestamp
		}
	}
	ts := f.Timestamp + k.offset
	if !k.corked {
		k.s.conn.Cork()
		k.corked = true
	}
	var err error
	switch f.Type {
	case flv.TagAudio:
		err = k.s.conn.WriteAudio(k.streamID, ts, f.Payload)
	case flv.TagVideo:
		err = k.s.conn.WriteVideo(k.streamID, ts, f.Payload)
	default:
		err = k.s.conn.WriteData(k.streamID, ts, f.Payload)
	}
	if err != nil {
		return err
	}
	if m := k.s.e.met; m != nil {
		if k.frames%latencySampleEvery == 0 {
			now := k.s.e.now()
			if !k.written {
				m.observeFirstFrame(now.Sub(k.accepted))
			}
			m.observeLatency(f.IngestTime, now)
		}
		k.frames++
	}
	if k.span != nil {
		k.traceFrame()
	}
	k.written, k.last = true, ts
	c := &k.s.e.counter
	c.framesOut.Add(1)
	c.bytesOut.Add(uint64(len(f.Payload)))
	k.r.bytesOut.Add(uint64(len(f.Payload)))
	return nil
}

// traceFrame records on the play span the time to the first frame and
// a link to each publish the player receives (up to maxPlayLinks). It
// runs after a frame was written; a new publish is noticed at the first
// frame written after its frames reached the relay.
func (k *playSink) traceFrame() {
	if !k.written {
		ms := float64(k.s.e.now().Sub(k.accepted)) / float64(time.Millisecond)
		k.span.SetAttributes(keyTTFF.Float64(ms))
	}
	pt := k.r.trace.Load()
	if pt == k.linked || pt == nil || k.links >= maxPlayLinks {
		return
	}
	k.linked = pt
	k.links++
	k.span.AddLink(trace.Link{SpanContext: pt.sc,
		Attributes: []attribute.KeyValue{keyLink.String("bus"), epochAttr(keyEpoch, pt.epoch)}})
}

// Flush writes out the frames written since the last Flush: the fan-out
// writes everything queued for the player, then flushes once.
func (k *playSink) Flush() error {
	if !k.corked {
		return nil
	}
	k.corked = false
	return k.s.conn.Uncork()
}

func (k *playSink) Notify(ev fanout.Event) error {
	switch ev {
	case fanout.EventUnpublished:
		k.rebase = true
		if err := k.s.conn.SendStatus(k.streamID, rtmp.LevelStatus, rtmp.CodePlayUnpublishNotify, "The stream is no longer published."); err != nil {
			return err
		}
		return k.s.conn.SendStreamEOF(k.streamID)
	case fanout.EventPublished:
		k.rebase = true
		if !k.written {
			// The player has just started: Play.Start said it all.
			return nil
		}
		if err := k.s.conn.SendStreamBegin(k.streamID); err != nil {
			return err
		}
		return k.s.conn.SendStatus(k.streamID, rtmp.LevelStatus, rtmp.CodePlayPublishNotify, "The stream is published.")
	case fanout.EventRestarted:
		k.rebase = true
	}
	return nil
}

// Close is how the fan-out disconnects a lagging player: the whole
// connection is closed, which also ends a write blocked on the peer.
func (k *playSink) Close() { k.s.fail(errPlayerTooSlowSession) }
