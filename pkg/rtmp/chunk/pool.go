package chunk

import "sync"

// bufSize is the size of the buffers a Writer assembles chunks in and a
// Reader reads into while its peer sends faster than its small input
// buffer holds.
const bufSize = 16 << 10

// ioBuf is one such buffer. The pool holds pointers to arrays, so that
// taking and returning a buffer allocates nothing.
type ioBuf [bufSize]byte

// bufPool holds the buffers of all Readers and Writers of the process. A
// Writer takes one for the messages it writes and returns it on Flush; a
// Reader takes one when a read fills its small input buffer and returns it
// once it has parsed everything and a read came back short. An idle
// connection therefore holds neither, and the buffers in use at any time
// are those of the connections busy writing or reading a burst.
var bufPool = sync.Pool{New: func() any { return new(ioBuf) }}

// getBuf takes a buffer from the pool. Its contents are unspecified.
func getBuf() *ioBuf { return bufPool.Get().(*ioBuf) }

// putBuf returns b to the pool; the caller must hold no reference to it.
func putBuf(b *ioBuf) { bufPool.Put(b) }
