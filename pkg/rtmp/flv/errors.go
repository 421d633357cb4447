package flv

import "errors"

// ErrUnknownCodec is returned (wrapped, with the value seen) when an audio or
// video tag names a codec this package does not know: an unknown E-RTMP
// FourCC, a reserved legacy CodecID or SoundFormat. The E-RTMP specification
// asks receivers to fail cleanly on such tags; a relay that forwards tags
// unchanged may branch on this error and forward the tag anyway.
var ErrUnknownCodec = errors.New("flv: unknown codec")

var (
	errReserved       = errors.New("flv: reserved value")
	errTagTooLarge    = errors.New("flv: tag too large")
	errPrevTagSize    = errors.New("flv: previous tag size mismatch")
	errSignature      = errors.New("flv: not an FLV file")
	errTrackSize      = errors.New("flv: track size exceeds message")
	errModEx          = errors.New("flv: bad ModEx")
	errMalformed      = errors.New("flv: malformed bitstream")
	errUnsupported    = errors.New("flv: unsupported")
	errNoParameterSet = errors.New("flv: no parameter sets")
	errEncode         = errors.New("flv: cannot encode")
)
