package chunk

import (
	"errors"
	"fmt"
)

// Error classes callers branch on. Errors returned by this package wrap one
// of them (test with errors.Is) and add the chunk stream id and the values
// involved.
var (
	// ErrProtocol reports a chunk stream that breaks the RTMP chunking
	// rules: a fresh chunk stream that does not start with fmt 0, a fmt 0
	// header inside an unfinished message, a malformed Set Chunk Size or
	// Abort message, and so on. The connection cannot continue.
	ErrProtocol = errors.New("chunk: protocol error")

	// ErrLimit reports a peer that exceeded a limit of [Config]. Errors
	// that wrap ErrLimit also match ErrProtocol, so a caller that only
	// tells protocol errors from I/O errors needs one test.
	ErrLimit = errors.New("chunk: limit exceeded")
)

// Errors the Writer returns for messages it cannot encode; they are the
// caller's mistakes, not the peer's.
var (
	errCSID        = errors.New("chunk: chunk stream id out of range 2..65599")
	errTooLong     = errors.New("chunk: message too long")
	errChunkSizeTx = errors.New("chunk: invalid set chunk size message")
	errAbortTx     = errors.New("chunk: invalid abort message")
)

func protocolErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrProtocol}, args...)...)
}

// limitError is an ErrLimit error that also matches ErrProtocol.
type limitError struct{ err error }

func (e *limitError) Error() string   { return e.err.Error() }
func (e *limitError) Unwrap() []error { return []error{e.err, ErrProtocol} }

func limitErrorf(format string, args ...any) error {
	return &limitError{err: fmt.Errorf("%w: "+format, append([]any{ErrLimit}, args...)...)}
}
