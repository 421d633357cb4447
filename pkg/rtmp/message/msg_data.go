package message

import (
	"fmt"

	"github.com/tributary-media/tributary/pkg/rtmp/amf"
)

// Data is a data message ("notify"): type 18 in AMF0, or type 15 whose
// payload starts with a format byte (0x00) and carries AMF0 values in
// which AMF3 values are introduced one by one with the AVM+ marker 0x11.
//
//	payload (18): name (AMF0 string) · values (AMF0) ...
//	payload (15): 0x00 · the same
//
// Typical names: "@setDataFrame" (followed by "onMetaData" and an ECMA
// array), "onMetaData", "|RtmpSampleAccess", "onTextData", "onCuePoint".
// Decoding a type-15 payload that does not start with 0x00 reads it as
// AMF0 from its first byte (the name must then be a string), so a peer
// that omits the format byte is still understood; encoding always writes
// it.
type Data struct {
	// AMF3 selects type 15 (with the format byte) instead of 18.
	AMF3 bool
	// Name is the first value, a string.
	Name string
	// Values are the values after the name; nil when there are none.
	Values []any
}

// Type returns [TypeDataAMF3] or [TypeDataAMF0].
func (m *Data) Type() uint8 {
	if m.AMF3 {
		return TypeDataAMF3
	}
	return TypeDataAMF0
}

// AppendPayload appends the format byte (type 15), the name and the values
// to dst. AMF3-only values ([]byte, *amf.Array3, vectors, dictionaries) are
// written as AVM+ values.
func (m *Data) AppendPayload(dst []byte) ([]byte, error) {
	if m.AMF3 {
		dst = append(dst, 0x00)
	}
	dst, err := amf.AppendAMF0(dst, m.Name)
	if err != nil {
		return dst, fmt.Errorf("message: data name: %w", err)
	}
	for i, v := range m.Values {
		if dst, err = amf.AppendAMF0(dst, v); err != nil {
			return dst, fmt.Errorf("message: data %q value %d: %w", m.Name, i, err)
		}
	}
	return dst, nil
}

// Unmarshal decodes a payload with the amf package's default limits,
// keeping AMF3 as set by the caller.
func (m *Data) Unmarshal(b []byte) error { return m.unmarshal(amf.Decoder{}, b) }

func (m *Data) unmarshal(d amf.Decoder, b []byte) error {
	vals, err := decodeValues(d, b, m.AMF3, "data")
	if err != nil {
		return err
	}
	name, ok := vals[0].(string)
	if !ok {
		return fmt.Errorf("%w: data: name is %s, want a string", ErrMalformed, typeName(vals[0]))
	}
	m.Name = name
	m.Values = nil
	if len(vals) > 1 {
		m.Values = vals[1:]
	}
	return nil
}

// decodeValues skips the format byte of an AMF3-flavoured message and
// decodes the AMF0 values that follow; at least one value is required.
func decodeValues(d amf.Decoder, b []byte, amf3 bool, what string) ([]any, error) {
	if amf3 && len(b) > 0 && b[0] == 0x00 {
		b = b[1:]
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: %s: no values", ErrMalformed, what)
	}
	vals, err := d.DecodeAMF0All(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrMalformed, what, err)
	}
	return vals, nil
}

// typeName names the Go type of a decoded AMF value for error messages.
func typeName(v any) string {
	if v == nil {
		return "null"
	}
	return fmt.Sprintf("%T", v)
}
