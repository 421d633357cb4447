package amf

import (
	"errors"
	"fmt"
)

// Decoding and encoding errors. Call sites wrap them with %w and add the
// marker, offset, length or Go type involved.
var (
	errTruncated   = errors.New("amf: truncated input")
	errMarker      = errors.New("amf: unknown marker")
	errUnsupported = errors.New("amf: unsupported type")
	errObjectEnd   = errors.New("amf: object end marker outside an object")
	errReference   = errors.New("amf: invalid reference")
	errDepth       = errors.New("amf: nesting too deep")
	errElements    = errors.New("amf: too many elements")
	errGoType      = errors.New("amf: cannot encode Go type")
	errTooLong     = errors.New("amf: value too long")
	errEmptyKey    = errors.New("amf: empty key in an AMF3 associative array")
)

func truncatedAt(off int, what string) error {
	return fmt.Errorf("%w: %s at offset %d", errTruncated, what, off)
}
