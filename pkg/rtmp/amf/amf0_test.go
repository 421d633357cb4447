package amf_test

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/tributary-media/tributary/pkg/rtmp/amf"
)

// valueCase is one wire encoding and the value it decodes to.
type valueCase struct {
	name  string
	bytes []byte // the wire bytes
	value any    // what bytes decode to
	// encoded is what the encoder writes for value when that differs from
	// bytes (bytes then use a form the decoder accepts but the encoder
	// does not produce).
	encoded []byte
}

func (c valueCase) wantEncoded() []byte {
	if c.encoded != nil {
		return c.encoded
	}
	return c.bytes
}

// errorCase is input a decoder must reject with err.
type errorCase struct {
	name  string
	bytes []byte
	err   error
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

var (
	longASCII = strings.Repeat("a", 65536) // one byte over the String limit
	maxShort  = strings.Repeat("b", 65535) // the longest String
)

var amf0Cases = []valueCase{
	{name: "number-zero", bytes: []byte{
		0x00,                                           // Number
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // 0.0
	}, value: 0.0},
	{name: "number-1.5", bytes: []byte{
		0x00,                                           // Number
		0x3F, 0xF8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // 1.5
	}, value: 1.5},
	{name: "number-negative", bytes: []byte{
		0x00,                                           // Number
		0xC0, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // -2.5
	}, value: -2.5},
	{name: "number-negative-zero", bytes: []byte{
		0x00,                                           // Number
		0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // -0.0 (sign kept)
	}, value: math.Copysign(0, -1)},
	{name: "number-nan-payload", bytes: []byte{
		0x00,                                           // Number
		0x7F, 0xF8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, // a NaN with a payload bit
	}, value: math.Float64frombits(0x7FF8000000000001)},
	{name: "boolean-true", bytes: []byte{
		0x01, // Boolean
		0x01, // true
	}, value: true},
	{name: "boolean-false", bytes: []byte{
		0x01, // Boolean
		0x00, // false
	}, value: false},
	{name: "boolean-nonzero-is-true", bytes: []byte{
		0x01, // Boolean
		0x7F, // any non-zero byte is true
	}, value: true, encoded: []byte{0x01, 0x01}},
	{name: "string-empty", bytes: []byte{
		0x02,       // String
		0x00, 0x00, // length 0
	}, value: ""},
	{name: "string-ascii", bytes: []byte{
		0x02,       // String
		0x00, 0x04, // length 4
		'l', 'i', 'v', 'e',
	}, value: "live"},
	{name: "string-utf8", bytes: []byte{
		0x02,       // String
		0x00, 0x06, // length 6: UTF-8 bytes, not runes (2)
		0xE6, 0x97, 0xA5, 0xE6, 0x9C, 0xAC, // "日本"
	}, value: "日本"},
	{name: "string-65535", bytes: cat(
		[]byte{0x02, 0xFF, 0xFF}, // String, length 65535
		[]byte(maxShort),
	), value: maxShort},
	{name: "long-string-65536", bytes: cat(
		[]byte{0x0C, 0x00, 0x01, 0x00, 0x00}, // Long String, length 65536
		[]byte(longASCII),
	), value: longASCII},
	{name: "long-string-short", bytes: []byte{
		0x0C,                   // Long String
		0x00, 0x00, 0x00, 0x02, // length 2
		'h', 'i',
	}, value: "hi", encoded: []byte{0x02, 0x00, 0x02, 'h', 'i'}},
	{name: "null", bytes: []byte{0x05}, value: nil},
	{name: "undefined", bytes: []byte{0x06}, value: amf.Undefined{}},
	{name: "unsupported", bytes: []byte{0x0D}, value: amf.Unsupported{}},
	{name: "object", bytes: []byte{
		0x03,       // Object
		0x00, 0x03, // name length 3
		'a', 'p', 'p',
		0x02,       // String
		0x00, 0x04, // length 4
		'l', 'i', 'v', 'e',
		0x00, 0x04, // name length 4
		'f', 'p', 'a', 'd',
		0x01, 0x00, // Boolean false
		0x00, 0x00, 0x09, // empty name + object end
	}, value: amf.Object{{Key: "app", Value: "live"}, {Key: "fpad", Value: false}}},
	{name: "object-empty", bytes: []byte{
		0x03,             // Object
		0x00, 0x00, 0x09, // empty name + object end
	}, value: amf.Object{}},
	{name: "object-empty-name-property", bytes: []byte{
		0x03,       // Object
		0x00, 0x00, // empty name, not followed by object end:
		0x05,             // so a property whose value is Null
		0x00, 0x00, 0x09, // empty name + object end
	}, value: amf.Object{{Key: "", Value: nil}}},
	{name: "object-nested", bytes: []byte{
		0x03,       // Object
		0x00, 0x01, // name length 1
		'o',
		0x03,       // Object
		0x00, 0x01, // name length 1
		'n',
		0x00,                                           // Number
		0x40, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // 5.0
		0x00, 0x00, 0x09, // end of inner object
		0x00, 0x00, 0x09, // end of outer object
	}, value: amf.Object{{Key: "o", Value: amf.Object{{Key: "n", Value: 5.0}}}}},
	{name: "ecma-array", bytes: []byte{
		0x08,                   // ECMA array
		0x00, 0x00, 0x00, 0x02, // count 2
		0x00, 0x05, // name length 5
		'w', 'i', 'd', 't', 'h',
		0x00,                                           // Number
		0x40, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // 640.0
		0x00, 0x06, // name length 6
		'h', 'e', 'i', 'g', 'h', 't',
		0x00,                                           // Number
		0x40, 0x7E, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // 480.0
		0x00, 0x00, 0x09, // empty name + object end
	}, value: amf.ECMAArray{{Key: "width", Value: 640.0}, {Key: "height", Value: 480.0}}},
	{name: "ecma-count-zero-three-properties", bytes: []byte{
		0x08,                   // ECMA array
		0x00, 0x00, 0x00, 0x00, // count 0: only a hint
		0x00, 0x01, 'a', // name "a"
		0x01, 0x01, // Boolean true
		0x00, 0x01, 'b', // name "b"
		0x05,            // Null
		0x00, 0x01, 'c', // name "c"
		0x02, 0x00, 0x01, 'x', // String "x"
		0x00, 0x00, 0x09, // empty name + object end
	}, value: amf.ECMAArray{{Key: "a", Value: true}, {Key: "b", Value: nil}, {Key: "c", Value: "x"}},
		encoded: []byte{
			0x08,                   // ECMA array
			0x00, 0x00, 0x00, 0x03, // the encoder writes the real count
			0x00, 0x01, 'a', 0x01, 0x01,
			0x00, 0x01, 'b', 0x05,
			0x00, 0x01, 'c', 0x02, 0x00, 0x01, 'x',
			0x00, 0x00, 0x09,
		}},
	{name: "ecma-missing-terminator-at-end", bytes: []byte{
		0x08,                   // ECMA array
		0x00, 0x00, 0x00, 0x01, // count 1
		0x00, 0x01, 'a', // name "a"
		0x05, // Null; input ends without 00 00 09
	}, value: amf.ECMAArray{{Key: "a", Value: nil}},
		encoded: []byte{0x08, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 'a', 0x05, 0x00, 0x00, 0x09}},
	{name: "strict-array", bytes: []byte{
		0x0A,                   // Strict array
		0x00, 0x00, 0x00, 0x03, // count 3
		0x00,                                           // Number
		0x3F, 0xF0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // 1.0
		0x02, 0x00, 0x01, 'x', // String "x"
		0x05, // Null
	}, value: amf.StrictArray{1.0, "x", nil}},
	{name: "strict-array-empty", bytes: []byte{
		0x0A,                   // Strict array
		0x00, 0x00, 0x00, 0x00, // count 0
	}, value: amf.StrictArray{}},
	{name: "date", bytes: []byte{
		0x0B,                                           // Date
		0x42, 0x78, 0xBC, 0xFE, 0x56, 0x80, 0x00, 0x00, // 1700000000000 ms (double first)
		0x00, 0x00, // time zone 0 (s16, after the double)
	}, value: amf.Date{Millis: 1700000000000}},
	{name: "date-time-zone-kept", bytes: []byte{
		0x0B,                                           // Date
		0x42, 0x78, 0xBC, 0xFE, 0x56, 0x80, 0x00, 0x00, // 1700000000000 ms
		0xFF, 0xC4, // time zone -60
	}, value: amf.Date{Millis: 1700000000000, TimeZone: -60}},
	{name: "xml-document", bytes: []byte{
		0x0F,                   // XML document
		0x00, 0x00, 0x00, 0x04, // length 4
		'<', 'a', '/', '>',
	}, value: amf.XMLDocument("<a/>")},
	{name: "typed-object", bytes: []byte{
		0x10,       // Typed object
		0x00, 0x05, // class name length 5
		'P', 'o', 'i', 'n', 't',
		0x00, 0x01, 'x', // name "x"
		0x00,                                           // Number
		0x3F, 0xF0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // 1.0
		0x00, 0x00, 0x09, // empty name + object end
	}, value: &amf.TypedObject{Class: "Point", Props: amf.Object{{Key: "x", Value: 1.0}}}},
	{name: "reference-resolved", bytes: []byte{
		0x0A,                   // Strict array (complex value #0)
		0x00, 0x00, 0x00, 0x02, // count 2
		0x03,            // Object (complex value #1)
		0x00, 0x01, 'k', // name "k"
		0x02, 0x00, 0x01, 'v', // String "v"
		0x00, 0x00, 0x09, // object end
		0x07,       // Reference
		0x00, 0x01, // to complex value #1
	}, value: amf.StrictArray{
		amf.Object{{Key: "k", Value: "v"}},
		amf.Object{{Key: "k", Value: "v"}},
	}, encoded: []byte{
		0x0A, 0x00, 0x00, 0x00, 0x02, // Strict array, count 2
		0x03, 0x00, 0x01, 'k', 0x02, 0x00, 0x01, 'v', 0x00, 0x00, 0x09, // the object
		0x03, 0x00, 0x01, 'k', 0x02, 0x00, 0x01, 'v', 0x00, 0x00, 0x09, // written again
	}},
	{name: "avmplus-bytearray", bytes: []byte{
		0x11,             // AVM+: one AMF3 value follows
		0x0C,             // AMF3 ByteArray
		0x07,             // U29 inline, length 3
		0x01, 0x02, 0x03, // bytes
	}, value: []byte{1, 2, 3}},
	{name: "avmplus-integer-becomes-number", bytes: []byte{
		0x11, // AVM+
		0x04, // AMF3 integer
		0x05, // 5
	}, value: int32(5), encoded: []byte{
		0x00,                                           // the AMF0 encoder writes int32 as Number
		0x40, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // 5.0
	}},
	{name: "avmplus-object-inside-object", bytes: []byte{
		0x03,            // Object
		0x00, 0x01, 'o', // name "o"
		0x11,      // AVM+
		0x0A,      // AMF3 object
		0x0B,      // U29 inline traits, dynamic, 0 sealed members
		0x01,      // class name "" (anonymous)
		0x03, 'k', // dynamic member name "k"
		0x06, 0x03, 'v', // AMF3 string "v"
		0x01,             // empty name: end of dynamic members
		0x00, 0x00, 0x09, // end of the AMF0 object
	}, value: amf.Object{{Key: "o", Value: amf.Object{{Key: "k", Value: "v"}}}},
		encoded: []byte{
			0x03, 0x00, 0x01, 'o', // Object, name "o"
			0x03, 0x00, 0x01, 'k', 0x02, 0x00, 0x01, 'v', 0x00, 0x00, 0x09, // plain AMF0 object
			0x00, 0x00, 0x09,
		}},
}

var amf0ErrorCases = []errorCase{
	{"empty", []byte{}, amf.ErrTruncated},
	{"number-truncated", []byte{0x00, 0x3F, 0xF0}, amf.ErrTruncated},
	{"boolean-truncated", []byte{0x01}, amf.ErrTruncated},
	{"string-length-truncated", []byte{0x02, 0x00}, amf.ErrTruncated},
	{"string-body-truncated", []byte{0x02, 0x00, 0x05, 'a', 'b'}, amf.ErrTruncated},
	{"long-string-huge-length", []byte{0x0C, 0xFF, 0xFF, 0xFF, 0xFF, 'a'}, amf.ErrTruncated},
	{"object-missing-end", []byte{0x03, 0x00, 0x01, 'a', 0x05}, amf.ErrTruncated},
	{"object-end-missing-marker", []byte{0x03, 0x00, 0x00}, amf.ErrTruncated},
	{"object-name-truncated", []byte{0x03, 0x00, 0x09, 'a'}, amf.ErrTruncated},
	{"object-end-at-top-level", []byte{0x09}, amf.ErrObjectEnd},
	{"object-end-as-property-value", []byte{0x03, 0x00, 0x01, 'a', 0x09, 0x00, 0x00, 0x09}, amf.ErrObjectEnd},
	{"object-end-in-strict-array", []byte{0x0A, 0x00, 0x00, 0x00, 0x01, 0x09}, amf.ErrObjectEnd},
	{"movieclip", []byte{0x04}, amf.ErrUnsupported},
	{"recordset", []byte{0x0E}, amf.ErrUnsupported},
	{"unknown-marker-0x12", []byte{0x12}, amf.ErrMarker},
	{"unknown-marker-0xff", []byte{0xFF}, amf.ErrMarker},
	{"reference-without-table", []byte{0x07, 0x00, 0x00}, amf.ErrReference},
	{"reference-truncated", []byte{0x07, 0x00}, amf.ErrTruncated},
	{"reference-cyclic", []byte{
		0x03,            // Object (complex value #0)
		0x00, 0x01, 'a', // name "a"
		0x07, 0x00, 0x00, // Reference to #0 while #0 is still open
		0x00, 0x00, 0x09,
	}, amf.ErrReference},
	{"ecma-short-of-count-at-end", []byte{
		0x08,                   // ECMA array
		0x00, 0x00, 0x00, 0x02, // count 2
		0x00, 0x01, 'a', 0x05, // one property, then the input ends
	}, amf.ErrTruncated},
	{"strict-array-huge-count", []byte{0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x05, 0x05}, amf.ErrTruncated},
	{"date-truncated", []byte{0x0B, 0x42, 0x78, 0xBC, 0xFE, 0x56, 0x80, 0x00, 0x00, 0x00}, amf.ErrTruncated},
	{"xml-truncated", []byte{0x0F, 0x00, 0x00, 0x00, 0x04, '<'}, amf.ErrTruncated},
	{"typed-object-class-truncated", []byte{0x10, 0x00, 0x05, 'P'}, amf.ErrTruncated},
	{"avmplus-truncated", []byte{0x11}, amf.ErrTruncated},
	{"avmplus-externalizable", []byte{
		0x11,      // AVM+
		0x0A,      // AMF3 object
		0x07,      // U29 inline traits, externalizable
		0x03, 'A', // class name "A"
	}, amf.ErrUnsupported},
}

func TestDecodeAMF0Cases(t *testing.T) {
	for _, c := range amf0Cases {
		t.Run(c.name, func(t *testing.T) {
			v, n, err := amf.DecodeAMF0(c.bytes)
			if err != nil {
				t.Fatalf("DecodeAMF0: %v", err)
			}
			if n != len(c.bytes) {
				t.Errorf("n = %d, want %d", n, len(c.bytes))
			}
			if err := sameValue(v, c.value, false); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestAppendAMF0Cases(t *testing.T) {
	for _, c := range amf0Cases {
		t.Run(c.name, func(t *testing.T) {
			prefix := []byte("keep")
			got, err := amf.AppendAMF0(prefix, c.value)
			if err != nil {
				t.Fatalf("AppendAMF0: %v", err)
			}
			if !bytes.Equal(got[:4], []byte("keep")) {
				t.Fatalf("AppendAMF0 overwrote dst: % x", got[:4])
			}
			if want := c.wantEncoded(); !bytes.Equal(got[4:], want) {
				t.Errorf("AppendAMF0 = % x\nwant        % x", shorten(got[4:]), shorten(want))
			}
		})
	}
}

func TestDecodeAMF0Errors(t *testing.T) {
	for _, c := range amf0ErrorCases {
		t.Run(c.name, func(t *testing.T) {
			v, n, err := amf.DecodeAMF0(c.bytes)
			if !errors.Is(err, c.err) {
				t.Fatalf("DecodeAMF0 error = %v, want %v", err, c.err)
			}
			if v != nil || n != 0 {
				t.Errorf("on error got v=%#v n=%d, want nil, 0", v, n)
			}
			if !strings.HasPrefix(err.Error(), "amf: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestDecodeAMF0ReturnsLength(t *testing.T) {
	b := []byte{
		0x02, 0x00, 0x01, 'a', // String "a"
		0x05, // Null, left for the next call
	}
	v, n, err := amf.DecodeAMF0(b)
	if err != nil || v != "a" || n != 4 {
		t.Fatalf("DecodeAMF0 = %#v, %d, %v; want \"a\", 4, nil", v, n, err)
	}
}

func TestDecodeAMF0AllReferenceSpansValues(t *testing.T) {
	b := []byte{
		0x03,            // Object (complex value #0)
		0x00, 0x01, 'a', // name "a"
		0x01, 0x01, // true
		0x00, 0x00, 0x09,
		0x07, 0x00, 0x00, // a second top-level value: Reference to #0
	}
	vals, err := amf.DecodeAMF0All(b)
	if err != nil {
		t.Fatal(err)
	}
	want := []any{amf.Object{{Key: "a", Value: true}}, amf.Object{{Key: "a", Value: true}}}
	if err := sameValue(amf.StrictArray(vals), amf.StrictArray(want), false); err != nil {
		t.Fatal(err)
	}
	// The same bytes decoded one value at a time have no table to refer to.
	if _, n, err := amf.DecodeAMF0(b); err != nil || n != 9 {
		t.Fatalf("DecodeAMF0 = %d, %v", n, err)
	}
	if _, _, err := amf.DecodeAMF0(b[9:]); !errors.Is(err, amf.ErrReference) {
		t.Fatalf("reference decoded on its own: err = %v, want ErrReference", err)
	}
}

func TestDecodeAMF0AllEmpty(t *testing.T) {
	vals, err := amf.DecodeAMF0All(nil)
	if err != nil || len(vals) != 0 {
		t.Fatalf("DecodeAMF0All(nil) = %v, %v", vals, err)
	}
}

func TestDecodeAMF0AllError(t *testing.T) {
	b := []byte{0x05, 0x02, 0x00, 0x09} // Null, then a truncated String
	vals, err := amf.DecodeAMF0All(b)
	if !errors.Is(err, amf.ErrTruncated) || vals != nil {
		t.Fatalf("DecodeAMF0All = %v, %v; want nil, ErrTruncated", vals, err)
	}
}

// TestDecodeDoesNotAliasInput checks that decoded strings and byte arrays
// survive the caller reusing the input buffer.
func TestDecodeDoesNotAliasInput(t *testing.T) {
	b := []byte{
		0x0A, 0x00, 0x00, 0x00, 0x03, // Strict array, count 3
		0x02, 0x00, 0x03, 'x', 'y', 'z', // String "xyz"
		0x0F, 0x00, 0x00, 0x00, 0x02, '<', '>', // XML document "<>"
		0x11, 0x0C, 0x05, 0xAA, 0xBB, // AVM+ ByteArray AA BB
	}
	v, _, err := amf.DecodeAMF0(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 0
	}
	want := amf.StrictArray{"xyz", amf.XMLDocument("<>"), []byte{0xAA, 0xBB}}
	if err := sameValue(v, want, false); err != nil {
		t.Fatal(err)
	}
}

// amf0EncodeCases cover the Go conveniences the AMF0 encoder accepts
// beyond the value model.
var amf0EncodeCases = []struct {
	name  string
	value any
	bytes []byte
}{
	{"int", 7, []byte{0x00, 0x40, 0x1C, 0, 0, 0, 0, 0, 0}},
	{"int64", int64(-2), []byte{0x00, 0xC0, 0x00, 0, 0, 0, 0, 0, 0}},
	{"uint8", uint8(15), []byte{0x00, 0x40, 0x2E, 0, 0, 0, 0, 0, 0}},
	{"uint64", uint64(252), []byte{0x00, 0x40, 0x6F, 0x80, 0, 0, 0, 0, 0}},
	{"float32", float32(1.5), []byte{0x00, 0x3F, 0xF8, 0, 0, 0, 0, 0, 0}},
	{"int32", int32(25), []byte{0x00, 0x40, 0x39, 0, 0, 0, 0, 0, 0}},
	{"slice-any", []any{true, nil}, []byte{
		0x0A, 0x00, 0x00, 0x00, 0x02, // Strict array, count 2
		0x01, 0x01, // true
		0x05, // Null
	}},
	{"map-sorted-keys", map[string]any{"b": nil, "a": true}, []byte{
		0x03,                        // Object
		0x00, 0x01, 'a', 0x01, 0x01, // "a": true (keys sorted)
		0x00, 0x01, 'b', 0x05, // "b": null
		0x00, 0x00, 0x09,
	}},
	{"pointer-object", &amf.Object{{Key: "a", Value: nil}}, []byte{
		0x03, 0x00, 0x01, 'a', 0x05, 0x00, 0x00, 0x09,
	}},
	{"nil-pointer-object", (*amf.Object)(nil), []byte{0x05}},
	{"nil-typed-object", (*amf.TypedObject)(nil), []byte{0x05}},
	{"typed-object-value", amf.TypedObject{Class: "C"}, []byte{
		0x10, 0x00, 0x01, 'C', // Typed object, class "C"
		0x00, 0x00, 0x09,
	}},
	{"time", time.UnixMilli(1700000000000), []byte{
		0x0B,                                           // Date
		0x42, 0x78, 0xBC, 0xFE, 0x56, 0x80, 0x00, 0x00, // 1700000000000 ms
		0x00, 0x00, // time zone 0
	}},
	{"avmplus-integer", amf.AVMPlus{Value: int32(5)}, []byte{
		0x11,       // AVM+
		0x04, 0x05, // AMF3 integer 5
	}},
	{"avmplus-pointer-string", &amf.AVMPlus{Value: "ab"}, []byte{
		0x11,                 // AVM+
		0x06, 0x05, 'a', 'b', // AMF3 string "ab"
	}},
	{"avmplus-fresh-tables-per-value", amf.StrictArray{amf.AVMPlus{Value: "s"}, amf.AVMPlus{Value: "s"}}, []byte{
		0x0A, 0x00, 0x00, 0x00, 0x02, // Strict array, count 2
		0x11, 0x06, 0x03, 's', // AVM+ string "s", inline
		0x11, 0x06, 0x03, 's', // inline again: no reference across AVM+ values
	}},
	{"array3-goes-avmplus", &amf.Array3{Assoc: amf.Object{{Key: "k", Value: true}}}, []byte{
		0x11,            // AVM+
		0x09,            // AMF3 array
		0x01,            // dense count 0
		0x03, 'k', 0x03, // "k": true
		0x01, // end of associative part
	}},
	{"vector-goes-avmplus", amf.VectorInt{Items: []int32{1}}, []byte{
		0x11,                   // AVM+
		0x0D,                   // AMF3 Vector.<int>
		0x03,                   // count 1
		0x00,                   // not fixed
		0x00, 0x00, 0x00, 0x01, // 1
	}},
}

func TestAppendAMF0GoTypes(t *testing.T) {
	for _, c := range amf0EncodeCases {
		t.Run(c.name, func(t *testing.T) {
			got, err := amf.AppendAMF0(nil, c.value)
			if err != nil {
				t.Fatalf("AppendAMF0: %v", err)
			}
			if !bytes.Equal(got, c.bytes) {
				t.Errorf("AppendAMF0 = % x\nwant        % x", got, c.bytes)
			}
		})
	}
}

func TestAppendAMF0LongNameFallsBackToAVMPlus(t *testing.T) {
	long := strings.Repeat("k", 65536)
	v := amf.Object{{Key: long, Value: true}}
	b, err := amf.AppendAMF0(nil, v)
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != 0x11 || b[1] != 0x0A {
		t.Fatalf("encoding starts % x, want AVM+ object 11 0a", b[:2])
	}
	got, n, err := amf.DecodeAMF0(b)
	if err != nil || n != len(b) {
		t.Fatalf("DecodeAMF0: n=%d err=%v", n, err)
	}
	if err := sameValue(got, v, false); err != nil {
		t.Fatal(err)
	}
}

func TestAppendAMF0Errors(t *testing.T) {
	cyclic := make(amf.StrictArray, 1)
	cyclic[0] = cyclic
	self := &amf.TypedObject{Class: "Loop"}
	self.Props = amf.Object{{Key: "self", Value: self}}
	for _, c := range []struct {
		name  string
		value any
		err   error
	}{
		{"struct", struct{ A int }{1}, amf.ErrGoType},
		{"channel", make(chan int), amf.ErrGoType},
		{"nested-unknown", amf.Object{{Key: "f", Value: func() {}}}, amf.ErrGoType},
		{"named-int", time.Second, amf.ErrGoType},
		{"cyclic-array", cyclic, amf.ErrDepth},
		{"cyclic-typed-object", self, amf.ErrDepth},
		{"unsupported-in-avmplus", amf.AVMPlus{Value: amf.Unsupported{}}, amf.ErrUnsupported},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := amf.AppendAMF0(nil, c.value)
			if !errors.Is(err, c.err) {
				t.Fatalf("AppendAMF0 error = %v, want %v", err, c.err)
			}
		})
	}
}

// TestCase34AMF0RoundTrip is PROTOCOL.md section 9 case 34: Number,
// Boolean, String, Long String (>65535 UTF-8 bytes), Object, Null,
// Undefined, ECMA array (count 0 but 3 properties), Strict array, Date
// (double then s16 zone) and Typed object decode from their byte vectors,
// encode back, and survive a round trip in one stream.
func TestCase34AMF0RoundTrip(t *testing.T) {
	names := []string{
		"number-1.5", "boolean-true", "string-ascii", "long-string-65536", "object", "null",
		"undefined", "ecma-count-zero-three-properties", "strict-array", "date-time-zone-kept",
		"typed-object",
	}
	var stream []byte
	var want []any
	for _, name := range names {
		c := findCase(t, amf0Cases, name)
		v, n, err := amf.DecodeAMF0(c.bytes)
		if err != nil || n != len(c.bytes) {
			t.Fatalf("%s: DecodeAMF0 n=%d err=%v", name, n, err)
		}
		if err := sameValue(v, c.value, false); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		enc, err := amf.AppendAMF0(nil, v)
		if err != nil {
			t.Fatalf("%s: AppendAMF0: %v", name, err)
		}
		if !bytes.Equal(enc, c.wantEncoded()) {
			t.Fatalf("%s: AppendAMF0 = % x, want % x", name, shorten(enc), shorten(c.wantEncoded()))
		}
		stream = append(stream, enc...)
		want = append(want, c.value)
	}
	got, err := amf.DecodeAMF0All(stream)
	if err != nil {
		t.Fatal(err)
	}
	if err := sameValue(amf.StrictArray(got), amf.StrictArray(want), false); err != nil {
		t.Fatal(err)
	}
	// The Date keeps its layout: marker, double, then the s16 zone.
	d := findCase(t, amf0Cases, "date-time-zone-kept").bytes
	if d[0] != 0x0B || d[9] != 0xFF || d[10] != 0xC4 {
		t.Fatalf("date vector layout: % x", d)
	}
}

// TestCase35AMF0StringUTF8Length is PROTOCOL.md section 9 case 35: AMF0
// string lengths count UTF-8 bytes, for values, names and the switch to
// Long String.
func TestCase35AMF0StringUTF8Length(t *testing.T) {
	got, err := amf.AppendAMF0(nil, amf.Object{{Key: "ключ", Value: "日本語"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{
		0x03,       // Object
		0x00, 0x08, // name length 8 bytes (4 runes)
		0xD0, 0xBA, 0xD0, 0xBB, 0xD1, 0x8E, 0xD1, 0x87, // "ключ"
		0x02,       // String
		0x00, 0x09, // length 9 bytes (3 runes)
		0xE6, 0x97, 0xA5, 0xE6, 0x9C, 0xAC, 0xE8, 0xAA, 0x9E, // "日本語"
		0x00, 0x00, 0x09,
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("AppendAMF0 = % x\nwant        % x", got, want)
	}
	v, _, err := amf.DecodeAMF0(want)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := amf.Lookup(v, "ключ"); s != "日本語" {
		t.Fatalf("decoded %#v", v)
	}

	// 21846 three-byte runes are 65538 bytes: too long for a String even
	// though the rune count is small.
	s := strings.Repeat("語", 21846)
	got, err = amf.AppendAMF0(nil, s)
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != 0x0C || !bytes.Equal(got[1:5], []byte{0x00, 0x01, 0x00, 0x02}) {
		t.Fatalf("header % x, want Long String of 65538 bytes (0c 00 01 00 02)", got[:5])
	}
	if v, n, err := amf.DecodeAMF0(got); err != nil || n != len(got) || v != s {
		t.Fatalf("DecodeAMF0: n=%d err=%v equal=%v", n, err, v == s)
	}
}

// TestCase36AMF0ObjectECMAInterchangeable is PROTOCOL.md section 9 case
// 36: an ECMA array reads like an Object and the other way round, and an
// ECMA array ends at 00 00 09 whatever its count says.
func TestCase36AMF0ObjectECMAInterchangeable(t *testing.T) {
	object := []byte{
		0x03,                      // Object
		0x00, 0x03, 'a', 'p', 'p', // name "app"
		0x02, 0x00, 0x04, 'l', 'i', 'v', 'e', // "live"
		0x00, 0x00, 0x09,
	}
	ecma := []byte{
		0x08,                   // ECMA array
		0x00, 0x00, 0x00, 0x00, // count 0 (hint)
		0x00, 0x03, 'a', 'p', 'p', // name "app"
		0x02, 0x00, 0x04, 'l', 'i', 'v', 'e', // "live"
		0x00, 0x00, 0x09,
	}
	for name, b := range map[string][]byte{"object": object, "ecma": ecma} {
		v, n, err := amf.DecodeAMF0(b)
		if err != nil || n != len(b) {
			t.Fatalf("%s: n=%d err=%v", name, n, err)
		}
		props, ok := amf.Props(v)
		if !ok || len(props) != 1 || props[0] != (amf.Property{Key: "app", Value: "live"}) {
			t.Fatalf("%s: Props = %#v, %v", name, props, ok)
		}
		if app, ok := amf.Lookup(v, "app"); !ok || app != "live" {
			t.Fatalf("%s: Lookup(app) = %#v, %v", name, app, ok)
		}
	}

	// A count larger than the properties present: the terminator ends the
	// array and the next value decodes from the right place.
	b := []byte{
		0x08,                   // ECMA array
		0x00, 0x00, 0x00, 0x05, // count 5, but only one property follows
		0x00, 0x01, 'a', 0x05, // "a": null
		0x00, 0x00, 0x09, // terminator
		0x02, 0x00, 0x01, 'z', // the next value: String "z"
	}
	vals, err := amf.DecodeAMF0All(b)
	if err != nil {
		t.Fatal(err)
	}
	want := amf.StrictArray{amf.ECMAArray{{Key: "a", Value: nil}}, "z"}
	if err := sameValue(amf.StrictArray(vals), want, false); err != nil {
		t.Fatal(err)
	}
	// A count smaller than the properties present: all are read.
	v, _, err := amf.DecodeAMF0(findCase(t, amf0Cases, "ecma-count-zero-three-properties").bytes)
	if err != nil {
		t.Fatal(err)
	}
	if props, _ := amf.Props(v); len(props) != 3 {
		t.Fatalf("got %d properties, want 3", len(props))
	}
}

func findCase(t *testing.T, cases []valueCase, name string) valueCase {
	t.Helper()
	for _, c := range cases {
		if c.name == name {
			return c
		}
	}
	t.Fatalf("no case %q", name)
	return valueCase{}
}

// shorten keeps long byte strings readable in failure messages.
func shorten(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

// TestConcurrentDecode decodes every case from several goroutines at once;
// run with -race it checks that calls share no state.
func TestConcurrentDecode(t *testing.T) {
	done := make(chan error)
	const workers = 8
	for w := range workers {
		go func() {
			for i := range 50 {
				c := amf0Cases[(w+i)%len(amf0Cases)]
				v, _, err := amf.DecodeAMF0(c.bytes)
				if err == nil {
					err = sameValue(v, c.value, false)
				}
				if err != nil {
					done <- err
					return
				}
				c = amf3Cases[(w+i)%len(amf3Cases)]
				if v, _, err = amf.DecodeAMF3(c.bytes); err == nil {
					err = sameValue(v, c.value, false)
				}
				if err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range workers {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
