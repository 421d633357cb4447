package bus

import (
	"github.com/tributary-media/tributary/pkg/rtmp/flv"
)

// maxTagSize is the largest FLV tag in file form: the largest body the
// 24-bit size field holds plus header and previous tag size.
const maxTagSize = flv.MaxTagBodySize + flv.TagOverhead

// Frame is one frame of a stream as it travels on the bus, or the
// end-of-stream event of a publish.
type Frame struct {
	// Epoch is the ownership epoch of the publish that sent the frame.
	Epoch uint64
	// Seq is the frame's sequence number within its epoch.
	Seq uint64
	// IngestTime is when the owner received the frame from the encoder,
	// in Unix nanoseconds; 0 when the publisher did not say.
	IngestTime int64
	// TraceParent is the W3C traceparent sent with the frame, or "".
	TraceParent string
	// Event is "" for a frame and EventEnd for the end of a publish (Tag
	// is then empty).
	Event string
	// Tag is the frame: exactly one FLV tag as an FLV file holds it
	// (11-byte header, body, 4-byte previous tag size). Frames delivered
	// by a Receiver or Subscriber always hold a tag that flv.ParseTag
	// accepts whole.
	Tag []byte
	// Lost is the number of frames of the same epoch that were missing
	// just before this one (a sequence gap), 0 normally. Frames of a new
	// epoch and the first frame a receiver sees have Lost 0.
	Lost uint64
	// Init reports a frame delivered from a fast-start (init) reply
	// rather than live.
	Init bool
}

// ParseTag parses the frame's FLV tag. The returned Tag's Body aliases
// f.Tag.
func (f *Frame) ParseTag() (flv.Tag, error) {
	t, _, err := flv.ParseTag(f.Tag)
	return t, err
}

// Clone returns a copy of f whose Tag does not alias f.Tag.
func (f *Frame) Clone() Frame {
	c := *f
	if f.Tag != nil {
		c.Tag = append([]byte(nil), f.Tag...)
	}
	return c
}

// checkTag reports whether b holds exactly one FLV tag.
func checkTag(b []byte) (flv.Tag, error) {
	t, n, err := flv.ParseTag(b)
	if err != nil {
		return t, err
	}
	if n != len(b) {
		return t, errTrailingBytes
	}
	return t, nil
}
