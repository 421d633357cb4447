package bus

import "errors"

// ErrClosed is returned by the methods of a Publisher after End or Close,
// and by Subscriber.Start after Close.
var ErrClosed = errors.New("bus: closed")

var (
	errTrailingBytes = errors.New("bus: bytes after the FLV tag")
	errFragment      = errors.New("bus: fragment out of place")
	errTooLarge      = errors.New("bus: frame larger than the configured maximum")
)
