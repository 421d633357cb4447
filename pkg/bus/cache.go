package bus

import (
	"bytes"

	"github.com/tributary-media/tributary/pkg/rtmp/flv"
)

// DefaultInitCacheBytes is the default cap of a Publisher's fast-start
// cache: metadata, sequence headers and the current GOP together.
const DefaultInitCacheBytes = 8 << 20

// cachedTag is one tag held by the fast-start cache: its bytes live in a
// buffer of the cache, at [off:end).
type cachedTag struct {
	seq      uint64
	ingest   int64
	off, end int
}

// slot holds one tag (metadata or a sequence header) in its own buffer.
type slot struct {
	buf    []byte
	seq    uint64
	ingest int64
}

func (s *slot) set(tag []byte, seq uint64, ingest int64) {
	s.buf = append(s.buf[:0], tag...)
	s.seq, s.ingest = seq, ingest
}

// initCache is the state a player needs to start a stream at once: the
// latest onMetaData, the latest audio and video sequence headers, and every
// tag since the latest video keyframe. Buffers are reused, so adding a tag
// allocates nothing once they have grown to the stream's needs.
type initCache struct {
	limit int
	meta  slot
	video slot // video sequence header
	audio slot // audio sequence header
	// gop holds the tags since the latest keyframe, when gopOn; it is off
	// until the first keyframe and after the GOP outgrew the limit.
	gop     []byte
	gopTags []cachedTag
	gopOn   bool
}

// metaPrefix is the AMF0 string "onMetaData" that starts a metadata body;
// setDataFramePrefix is the AMF0 string "@setDataFrame" that a publisher's
// data message may carry in front of it.
var (
	metaPrefix         = []byte("\x02\x00\x0aonMetaData")
	setDataFramePrefix = []byte("\x02\x00\x0d@setDataFrame")
)

func isMetadata(typ flv.TagType, body []byte) bool {
	if typ != flv.TagScript {
		return false
	}
	body = bytes.TrimPrefix(body, setDataFramePrefix)
	return bytes.HasPrefix(body, metaPrefix)
}

func (c *initCache) size() int {
	return len(c.meta.buf) + len(c.video.buf) + len(c.audio.buf) + len(c.gop)
}

// add records a tag that was just published.
func (c *initCache) add(typ flv.TagType, body, tag []byte, seq uint64, ingest int64) {
	if c.limit <= 0 {
		return
	}
	switch {
	case isMetadata(typ, body):
		c.meta.set(tag, seq, ingest)
		return
	case typ == flv.TagVideo && flv.IsSequenceHeader(typ, body):
		c.video.set(tag, seq, ingest)
		return
	case typ == flv.TagAudio && flv.IsSequenceHeader(typ, body):
		c.audio.set(tag, seq, ingest)
		return
	case typ == flv.TagVideo && flv.IsKeyframe(typ, body):
		c.gop = c.gop[:0]
		c.gopTags = c.gopTags[:0]
		c.gopOn = true
	case !c.gopOn:
		return
	}
	if c.size()+len(tag) > c.limit {
		// The GOP no longer fits: drop it and wait for the next keyframe,
		// so what the cache holds always starts on a keyframe.
		c.gop = c.gop[:0]
		c.gopTags = c.gopTags[:0]
		c.gopOn = false
		return
	}
	off := len(c.gop)
	c.gop = append(c.gop, tag...)
	c.gopTags = append(c.gopTags, cachedTag{seq: seq, ingest: ingest, off: off, end: len(c.gop)})
}

// snapshot copies the cached tags into buf, in the order a player needs
// them (metadata, video and audio sequence headers, the GOP), and appends a
// Frame for each to frames; the frames' Tags alias buf.
func (c *initCache) snapshot(buf []byte, frames []Frame, epoch uint64) ([]byte, []Frame) {
	buf = buf[:0]
	frames = frames[:0]
	need := c.size()
	if cap(buf) < need {
		buf = make([]byte, 0, need)
	}
	add := func(tag []byte, seq uint64, ingest int64) {
		off := len(buf)
		buf = append(buf, tag...)
		frames = append(frames, Frame{Epoch: epoch, Seq: seq, IngestTime: ingest, Tag: buf[off:len(buf):len(buf)]})
	}
	for _, s := range []*slot{&c.meta, &c.video, &c.audio} {
		if len(s.buf) > 0 {
			add(s.buf, s.seq, s.ingest)
		}
	}
	for _, t := range c.gopTags {
		add(c.gop[t.off:t.end], t.seq, t.ingest)
	}
	return buf, frames
}
