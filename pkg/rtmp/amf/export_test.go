package amf

// Test-only access to unexported sentinels and the U29 codec.
var (
	ErrTruncated   = errTruncated
	ErrMarker      = errMarker
	ErrUnsupported = errUnsupported
	ErrObjectEnd   = errObjectEnd
	ErrReference   = errReference
	ErrDepth       = errDepth
	ErrElements    = errElements
	ErrGoType      = errGoType
	ErrTooLong     = errTooLong
	ErrEmptyKey    = errEmptyKey
)

// AppendU29 appends v (at most 2^29-1) as an AMF3 U29.
func AppendU29(dst []byte, v uint32) []byte { return appendU29(dst, v) }

// DecodeU29 reads an AMF3 U29 from the start of b.
func DecodeU29(b []byte) (uint32, int, error) {
	st := decodeState{b: b}
	v, err := st.u29()
	return v, st.off, err
}
