// Package chunk implements the RTMP chunk stream (RTMP 1.0 section 5.3):
// splitting messages into chunks with compressed headers, reassembling
// them from interleaved chunk streams, and the two protocol control
// messages that steer the chunk layer itself, Set Chunk Size (type 1) and
// Abort (type 2).
//
// A [Reader] turns a byte stream into [Message] values and a [Writer] does
// the reverse; [Header] encodes and decodes single chunk headers. Neither
// Reader nor Writer knows about the handshake, acknowledgements or any
// message type other than 1 and 2: those belong to the layers above.
//
// # Interoperability
//
// The Reader accepts all four header formats and all three basic header
// forms (including chunk stream ids 64..319 in the 3-byte form). On fmt 3
// chunks after a header with an extended timestamp it follows SRS's rule:
// the 4 bytes are taken as the repeated extended timestamp when the chunk
// starts a message or when they equal the stored value, and as payload
// otherwise, so senders that repeat the field (the 2012 specification,
// FFmpeg, OBS since 2024) and senders that omit it (older librtmp) both
// work. A payload that happens to start with the stored value is misread
// after an omitting sender; that risk is accepted. To decide, the Reader
// needs the 4 bytes, so when an omitting sender's message ends less than 4
// bytes into such a chunk, the message is returned only once the next
// chunk's first bytes arrive. A fmt 0 chunk inside an
// unfinished message, or a fmt 1 chunk that changes its length or type, is
// a protocol error (as in SRS); a fmt 1 or 2 chunk that changes nothing is
// read as a continuation (as in FFmpeg and nginx-rtmp). The timestamp delta
// of a message that starts with fmt 3 right after a fmt 0 message is the
// fmt 0 timestamp, or 0 with [Config].Fmt3AfterFmt0ZeroDelta. Set Chunk
// Size and Abort are applied whatever message stream id they arrive on.
//
// The Writer uses the smallest basic header, picks header formats like
// FFmpeg's writer (but never a fmt 3 new message directly after fmt 0), and
// repeats the extended timestamp on every fmt 3 chunk.
//
// # Limits and memory
//
// The Reader's memory follows the bytes that arrive, not the lengths that
// headers announce: a message buffer grows as chunks arrive, at most to
// twice the bytes it holds (but at least 4 KiB) and never beyond the
// message length, so a peer that announces a 16 MiB message and sends 10
// bytes costs 4 KiB. Per connection the Reader holds a 1 KiB input buffer
// (a 16 KiB one while the peer sends more than that at a time, as a
// publisher does; see below), the payload of unfinished messages (at most
// [Config].MaxPendingBytes, default 32 MiB, in buffers of at most twice
// that capacity), and buffers kept for reuse after their message was
// returned: a buffer is kept for the next message on its chunk stream only
// while the Reader holds at most 4 MiB of buffer capacity in total, so the
// kept buffers never exceed 4 MiB. A steady stream of messages therefore
// reads with no allocations. Chunk stream state is created for at most
// [Config].MaxChunkStreams (default 64) chunk stream ids and never
// released. Messages longer than [Config].MaxMessageLength (default
// 16,777,215, the wire maximum) are rejected when their first header
// arrives. The Writer holds a small state per chunk stream id used.
//
// The 16 KiB input buffers and 64 KiB output buffers come from pools
// shared by all Readers and Writers of the process, so that an idle
// connection (a player between two media messages) holds none. A Writer
// takes one when a message is written and returns it on [Writer.Flush]; a
// Reader takes one when a read fills its 1 KiB buffer and returns it once a
// read comes back short and everything read has been parsed. A Writer
// blocked in a write to a slow peer holds its buffer until the write
// returns.
//
// # Buffer ownership
//
// The Payload of a Message filled by [Reader.ReadMessage] aliases the
// Reader's memory and is valid only until the next ReadMessage call;
// [Message.Clone] copies it. [Writer.WriteMessage] only reads the Message
// during the call; the caller keeps ownership.
//
// # Concurrency
//
// A Reader and a Writer are each for one goroutine at a time. The Reader
// and the Writer of one connection are independent and may run in
// different goroutines. Neither starts goroutines. Deadlines belong to the
// owner of the underlying connection.
//
// # Errors
//
// Reader errors wrap [ErrProtocol] when the peer breaks the chunking rules
// and [ErrLimit] (which also matches ErrProtocol) when it exceeds a limit of
// [Config]; a stream that ends between messages gives io.EOF and one that
// ends inside a chunk or message gives an error wrapping
// io.ErrUnexpectedEOF. Errors of the underlying reader or writer are
// returned wrapped. Reader errors and Writer I/O errors are sticky. Writer
// errors about an unencodable Message are the caller's and are not sticky.
package chunk
