package chunk

import "sync"

// bufSize is the size of the buffers a Reader reads into while its peer
// sends faster than its small input buffer holds.
const bufSize = 16 << 10

// ioBuf is one such buffer. The pool holds pointers to arrays, so that
// taking and returning a buffer allocates nothing.
type ioBuf [bufSize]byte

// bufPool holds the read buffers of all Readers of the process. A Reader
// takes one when a read fills its small input buffer and returns it once it
// has parsed everything and a read came back short. (Writers have a pool
// of their own, writeBufPool.) An idle connection therefore holds none, and
// the buffers in use at any time are those of the connections reading a
// burst.
var bufPool = sync.Pool{New: func() any { return new(ioBuf) }}

// getBuf takes a buffer from the pool. Its contents are unspecified.
func getBuf() *ioBuf { return bufPool.Get().(*ioBuf) }

// putBuf returns b to the pool; the caller must hold no reference to it.
func putBuf(b *ioBuf) { bufPool.Put(b) }

// smallBuf is a Reader's small input buffer.
type smallBuf [smallReadBufSize]byte

// smallPool holds the small input buffers of Readers that released theirs
// while idle (Reader.Release).
var smallPool = sync.Pool{New: func() any { return new(smallBuf) }}
