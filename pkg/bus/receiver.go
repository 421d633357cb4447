package bus

import (
	"fmt"
	"sync/atomic"

	"github.com/nats-io/nats.go"
)

// ReceiverConfig holds the limits of a Receiver. The zero value gives the
// documented defaults.
type ReceiverConfig struct {
	// MaxFrameSize is the largest frame, in bytes of FLV tag, that is
	// accepted or reassembled from fragments. Zero or a value above the
	// largest FLV tag (16 MiB + 14 bytes) means the largest FLV tag.
	MaxFrameSize int
}

// ReceiverStats counts what a Receiver did with the messages pushed into it.
type ReceiverStats struct {
	// Frames and Bytes count the frames delivered and their tag bytes.
	Frames, Bytes uint64
	// Fragments counts fragment messages received.
	Fragments uint64
	// Gaps counts sequence gaps within an epoch; Lost counts the frames
	// missing in them.
	Gaps, Lost uint64
	// Stale counts messages dropped because their epoch was older than
	// the newest seen.
	Stale uint64
	// Duplicates counts frames dropped because their sequence number was
	// not above the last one delivered.
	Duplicates uint64
	// Incomplete counts frames abandoned with fragments missing, and
	// fragments that belong to no frame in progress.
	Incomplete uint64
	// Malformed counts messages rejected: bad or missing headers, a
	// payload that is not one FLV tag, a frame above MaxFrameSize.
	Malformed uint64
	// Ends counts end-of-stream messages delivered.
	Ends uint64
	// Epochs counts changes to a newer epoch after the first epoch seen.
	Epochs uint64
}

// receiverCounters are the live counters behind ReceiverStats, readable
// from any goroutine.
type receiverCounters struct {
	frames, bytes, fragments, gaps, lost, stale, duplicates, incomplete, malformed, ends, epochs atomic.Uint64
}

func (c *receiverCounters) snapshot() ReceiverStats {
	return ReceiverStats{
		Frames:     c.frames.Load(),
		Bytes:      c.bytes.Load(),
		Fragments:  c.fragments.Load(),
		Gaps:       c.gaps.Load(),
		Lost:       c.lost.Load(),
		Stale:      c.stale.Load(),
		Duplicates: c.duplicates.Load(),
		Incomplete: c.incomplete.Load(),
		Malformed:  c.malformed.Load(),
		Ends:       c.ends.Load(),
		Epochs:     c.epochs.Load(),
	}
}

// Receiver turns the messages of one stream's media subject into frames:
// it fences epochs (drops messages older than the newest epoch seen; a newer
// epoch resets the sequence expectation), detects sequence gaps, drops
// duplicates, reassembles fragments, and checks that every frame is exactly
// one FLV tag. Subscriber uses one; a program that manages its own NATS
// subscription (a channel subscription, a JetStream consumer) can use one
// directly.
//
// A Receiver is not safe for concurrent use, except Stats, which may be
// called from any goroutine.
type Receiver struct {
	maxFrame int
	// epoch is the newest epoch seen, 0 before the first message.
	epoch uint64
	// next is the sequence number expected next in epoch, 0 when any is
	// accepted (no frame delivered yet in this epoch, or after an end).
	next uint64
	// quiet is, after a fast start, the last sequence number the
	// publisher had sent when it took its snapshot: frames up to it that
	// were neither in the snapshot nor received live were left out of the
	// fast start on purpose and are not counted as lost.
	quiet uint64
	// unordered turns sequence checks off (init replies are not
	// contiguous).
	unordered bool

	// The frame being reassembled: part holds the bytes received so far,
	// partEnv the envelope of its first fragment; active when part is in
	// use.
	part    []byte
	partEnv Envelope
	active  bool

	c receiverCounters
}

// NewReceiver returns a Receiver with the limits of cfg.
func NewReceiver(cfg ReceiverConfig) *Receiver {
	r := &Receiver{maxFrame: cfg.MaxFrameSize}
	if r.maxFrame <= 0 || r.maxFrame > maxTagSize {
		r.maxFrame = maxTagSize
	}
	return r
}

// Stats returns the counters. It may be called from any goroutine.
func (r *Receiver) Stats() ReceiverStats { return r.c.snapshot() }

// Epoch returns the newest epoch seen, 0 before any message was accepted.
func (r *Receiver) Epoch() uint64 { return r.epoch }

// Push processes one message of a stream's media subject, given its NATS
// headers and data, and returns the frame or end-of-stream event it
// completes, if any (ok). Stale, duplicate and out-of-place messages are
// dropped and counted without an error; a malformed message is counted and
// its error returned. Event messages of unknown types are dropped.
//
// For a whole frame, the returned Tag aliases data; for a reassembled frame
// it is a new buffer. The Receiver keeps no reference to either, so the
// caller owns the frame (with nats.go, data is a fresh buffer per message).
func (r *Receiver) Push(h nats.Header, data []byte) (f Frame, ok bool, err error) {
	env, err := ParseEnvelope(h)
	if err != nil {
		r.c.malformed.Add(1)
		return Frame{}, false, err
	}
	if env.InitEnd {
		r.c.malformed.Add(1)
		return Frame{}, false, fmt.Errorf("bus: %s outside an init reply", HeaderInitEnd)
	}
	f, ok, err = r.push(&env, data)
	if ok {
		r.count(&f)
	}
	return f, ok, err
}

// count counts a frame or event delivered.
func (r *Receiver) count(f *Frame) {
	if f.Event != "" {
		r.c.ends.Add(1)
		return
	}
	r.c.frames.Add(1)
	r.c.bytes.Add(uint64(len(f.Tag)))
}

// push is Push after the headers are parsed, without counting what it
// delivers.
func (r *Receiver) push(env *Envelope, data []byte) (Frame, bool, error) {
	switch {
	case env.Epoch < r.epoch:
		r.c.stale.Add(1)
		return Frame{}, false, nil
	case env.Epoch > r.epoch:
		if r.epoch != 0 {
			r.c.epochs.Add(1)
		}
		r.epoch = env.Epoch
		r.next, r.quiet = 0, 0
		r.dropPartial()
	}
	if env.Event != "" {
		if len(data) != 0 {
			r.c.malformed.Add(1)
			return Frame{}, false, fmt.Errorf("bus: event %q with %d bytes of data", env.Event, len(data))
		}
		r.dropPartial()
		lost, fresh := r.sequence(env.Seq)
		if !fresh || env.Event != EventEnd {
			return Frame{}, false, nil
		}
		r.next, r.quiet = 0, 0
		return Frame{Epoch: env.Epoch, Seq: env.Seq, IngestTime: env.IngestTime, TraceParent: env.TraceParent, Event: env.Event, Lost: lost}, true, nil
	}
	if env.FragTotal == 0 {
		r.dropPartial()
		if len(data) > r.maxFrame {
			r.c.malformed.Add(1)
			return Frame{}, false, fmt.Errorf("%w: %d bytes, limit %d", errTooLarge, len(data), r.maxFrame)
		}
		return r.deliver(env, data)
	}
	return r.fragment(env, data)
}

// fragment adds one fragment and delivers the frame it completes.
func (r *Receiver) fragment(env *Envelope, data []byte) (Frame, bool, error) {
	r.c.fragments.Add(1)
	if env.FragTotal > r.maxFrame {
		r.dropPartial()
		r.c.malformed.Add(1)
		return Frame{}, false, fmt.Errorf("%w: fragment of a %d-byte frame, limit %d", errTooLarge, env.FragTotal, r.maxFrame)
	}
	if len(data) == 0 || env.FragOffset+len(data) > env.FragTotal {
		r.dropPartial()
		r.c.malformed.Add(1)
		return Frame{}, false, fmt.Errorf("%w: %d bytes at offset %d of %d", errFragment, len(data), env.FragOffset, env.FragTotal)
	}
	if env.FragOffset == 0 {
		r.dropPartial()
		// Allocate what the first fragments announce, but no more than a
		// few times the bytes actually received, so a forged total costs
		// nothing until the data arrives.
		r.part = make([]byte, 0, min(env.FragTotal, 4*len(data)))
		r.partEnv = *env
		r.active = true
	} else if !r.active || env.Epoch != r.partEnv.Epoch || env.Seq != r.partEnv.Seq ||
		env.FragTotal != r.partEnv.FragTotal || env.FragOffset != len(r.part) {
		// A fragment whose predecessors were lost, or that does not
		// continue the frame in progress.
		r.dropPartial()
		r.c.incomplete.Add(1)
		return Frame{}, false, nil
	}
	r.part = append(r.part, data...)
	if len(r.part) < r.partEnv.FragTotal {
		return Frame{}, false, nil
	}
	tag, first := r.part, r.partEnv
	r.part, r.active = nil, false
	first.FragOffset, first.FragTotal = 0, 0
	return r.deliver(&first, tag)
}

// dropPartial abandons the frame being reassembled.
func (r *Receiver) dropPartial() {
	if r.active {
		r.c.incomplete.Add(1)
	}
	r.part, r.active = nil, false
}

// sequence checks seq against the expectation and advances it. It returns
// the number of frames missing before seq, and false for a duplicate.
func (r *Receiver) sequence(seq uint64) (lost uint64, fresh bool) {
	if r.unordered {
		return 0, true
	}
	if r.next != 0 {
		if seq < r.next {
			r.c.duplicates.Add(1)
			return 0, false
		}
		if from := max(r.next, r.quiet+1); seq > from {
			lost = seq - from
			r.c.gaps.Add(1)
			r.c.lost.Add(lost)
		}
	}
	r.next = seq + 1
	return lost, true
}

// deliver checks a complete frame and returns it.
func (r *Receiver) deliver(env *Envelope, tag []byte) (Frame, bool, error) {
	if _, err := checkTag(tag); err != nil {
		r.c.malformed.Add(1)
		return Frame{}, false, fmt.Errorf("bus: frame epoch %d seq %d: %w", env.Epoch, env.Seq, err)
	}
	lost, fresh := r.sequence(env.Seq)
	if !fresh {
		return Frame{}, false, nil
	}
	return Frame{
		Epoch:       env.Epoch,
		Seq:         env.Seq,
		IngestTime:  env.IngestTime,
		TraceParent: env.TraceParent,
		Tag:         tag,
		Lost:        lost,
	}, true, nil
}

// prime makes the Receiver continue after a fast start whose reply came
// from epoch and held frames up to sequence number last, taken when the
// publisher had sent up to sent: epoch becomes the newest epoch if it is
// newer; within it, frames up to last are duplicates, and frames up to sent
// that never arrive are not counted as lost.
func (r *Receiver) prime(epoch, last, sent uint64) {
	if epoch > r.epoch {
		if r.epoch != 0 {
			r.c.epochs.Add(1)
		}
		r.epoch = epoch
		r.next, r.quiet = 0, 0
		r.dropPartial()
	}
	if epoch != r.epoch {
		return
	}
	if last+1 > r.next {
		r.next = last + 1
	}
	r.quiet = max(r.quiet, sent)
}
