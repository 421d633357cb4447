// Package handshake implements the RTMP handshake, both the plain one of the
// RTMP specification ("simple": C1/S1 bytes 4..7 zero, C2/S2 echo the peer's
// packet) and the Flash Player 9 "digest" handshake that real encoders and
// servers use (HMAC-SHA256 digests inside C1/S1 and signed C2/S2), over any
// [io.ReadWriter].
//
// [Server] answers a client: it reads C0+C1, accepts RTMP version 3 (other
// versions only with [ServerConfig].Lenient), recognises a digest C1 in either
// schema (digest block at byte 772, then at byte 8) and answers in the same
// schema, or falls back to the simple handshake. It writes S0+S1+S2 in one
// write before it reads C2, because FFmpeg reads S2 before it writes C2, and
// it never rejects a connection because of the content of C2.
//
// [Client] opens a handshake: by default C1 carries a schema-1 digest and a
// Flash Player version, which servers built on Adobe-style validation
// require; [ClientConfig].Simple sends the plain form. It writes C2 as soon as
// S1 has arrived while it reads S2, so it completes both against servers that
// send S2 before reading C2 (SRS, nginx-rtmp, FFmpeg, [Server]) and against
// servers that wait for C2 before sending S2.
//
// # Buffers and limits
//
// A handshake reads exactly 1+1536+1536 bytes and writes exactly
// 1+1536+1536 bytes; it never reads beyond C2 (or S2), so the bytes that
// follow in rw belong to the chunk layer. All buffers are owned by the call.
//
// # Concurrency and deadlines
//
// A handshake runs on the calling goroutine; [Client] additionally writes C2
// from a short-lived goroutine while it reads S2 and waits for that write to
// end before it returns, so rw must allow one Read concurrent with one Write,
// as a [net.Conn] does. Neither function sets deadlines: the caller owns them
// (for example with SetDeadline on the connection) and a deadline that fires
// makes the handshake return the I/O error, which wraps
// [os.ErrDeadlineExceeded] for network connections.
//
// # Errors
//
// A C0/S0 version the side does not accept returns an error wrapping
// [ErrUnsupportedVersion]. I/O errors are wrapped with the packet that was
// being read or written ("handshake: read C1: ..."), so errors.Is works for
// [io.EOF], [io.ErrUnexpectedEOF] and deadline errors.
package handshake
