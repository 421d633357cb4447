package message

import "errors"

// ErrMalformed is wrapped by every error returned for a payload that does
// not have the shape of its message type: too short, a length that runs
// past the end, AMF that does not decode, a command without a name. The
// error text names the message and the sizes involved. A connection may
// log such a message and carry on instead of closing (nginx-rtmp ignores
// short control payloads), which is why callers can branch on it.
var ErrMalformed = errors.New("message: malformed payload")

// errInvalid is returned by AppendPayload for a field value the wire format
// cannot carry.
var errInvalid = errors.New("message: invalid field value")
