package amf_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/tributary-media/tributary/pkg/rtmp/amf"
)

var amf3Cases = []valueCase{
	{name: "undefined", bytes: []byte{0x00}, value: amf.Undefined{}},
	{name: "null", bytes: []byte{0x01}, value: nil},
	{name: "false", bytes: []byte{0x02}, value: false},
	{name: "true", bytes: []byte{0x03}, value: true},
	{name: "integer-zero", bytes: []byte{0x04, 0x00}, value: int32(0)},
	{name: "integer-0x7f", bytes: []byte{
		0x04, // integer
		0x7F, // U29, 1 byte
	}, value: int32(0x7F)},
	{name: "integer-0x80", bytes: []byte{
		0x04,       // integer
		0x81, 0x00, // U29, 2 bytes
	}, value: int32(0x80)},
	{name: "integer-0x3fff", bytes: []byte{0x04, 0xFF, 0x7F}, value: int32(0x3FFF)},
	{name: "integer-0x4000", bytes: []byte{
		0x04,             // integer
		0x81, 0x80, 0x00, // U29, 3 bytes
	}, value: int32(0x4000)},
	{name: "integer-0x1fffff", bytes: []byte{0x04, 0xFF, 0xFF, 0x7F}, value: int32(0x1FFFFF)},
	{name: "integer-0x200000", bytes: []byte{
		0x04,                   // integer
		0x80, 0xC0, 0x80, 0x00, // U29, 4 bytes (last one has 8 bits)
	}, value: int32(0x200000)},
	{name: "integer-max", bytes: []byte{
		0x04,                   // integer
		0xBF, 0xFF, 0xFF, 0xFF, // 2^28-1, the largest integer
	}, value: int32(1<<28 - 1)},
	{name: "integer-minus-one", bytes: []byte{
		0x04,                   // integer
		0xFF, 0xFF, 0xFF, 0xFF, // 0x1FFFFFFF: -1 in 29-bit two's complement
	}, value: int32(-1)},
	{name: "integer-min", bytes: []byte{
		0x04,                   // integer
		0xC0, 0x80, 0x80, 0x00, // 0x10000000: -2^28, the smallest integer
	}, value: int32(-1 << 28)},
	{name: "integer-non-canonical-u29", bytes: []byte{
		0x04,       // integer
		0x80, 0x05, // 5 in two bytes (a leading zero group)
	}, value: int32(5), encoded: []byte{0x04, 0x05}},
	{name: "double", bytes: []byte{
		0x05,                                           // double
		0x3F, 0xF8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // 1.5
	}, value: 1.5},
	{name: "double-integral-stays-double", bytes: []byte{
		0x05,                                           // double
		0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // 2.0
	}, value: 2.0},
	{name: "string-empty", bytes: []byte{
		0x06, // string
		0x01, // U29 inline, length 0
	}, value: ""},
	{name: "string", bytes: []byte{
		0x06,          // string
		0x07,          // U29 inline (bit 0), length 3
		'a', 'b', 'c', //
	}, value: "abc"},
	{name: "xml-document", bytes: []byte{
		0x07,               // XMLDocument
		0x09,               // U29 inline, length 4
		'<', 'a', '/', '>', //
	}, value: amf.XMLDocument("<a/>")},
	{name: "xml", bytes: []byte{
		0x0B,               // XML (E4X)
		0x09,               // U29 inline, length 4
		'<', 'a', '/', '>', //
	}, value: amf.XMLDocument("<a/>"), encoded: []byte{0x07, 0x09, '<', 'a', '/', '>'}},
	{name: "date", bytes: []byte{
		0x08,                                           // date
		0x01,                                           // U29 inline
		0x42, 0x78, 0xBC, 0xFE, 0x56, 0x80, 0x00, 0x00, // 1700000000000 ms
	}, value: amf.Date{Millis: 1700000000000}},
	{name: "array-dense", bytes: []byte{
		0x09,       // array
		0x05,       // U29 inline, dense count 2
		0x01,       // empty key: no associative part
		0x04, 0x01, // integer 1
		0x06, 0x03, 'x', // string "x"
	}, value: amf.StrictArray{int32(1), "x"}},
	{name: "array-empty", bytes: []byte{
		0x09, // array
		0x01, // dense count 0
		0x01, // no associative part
	}, value: amf.StrictArray{}},
	{name: "array-associative", bytes: []byte{
		0x09,      // array
		0x03,      // dense count 1
		0x03, 'k', // key "k"
		0x04, 0x02, // integer 2
		0x01,       // end of associative part
		0x04, 0x07, // dense item: integer 7
	}, value: &amf.Array3{Assoc: amf.Object{{Key: "k", Value: int32(2)}}, Dense: amf.StrictArray{int32(7)}}},
	{name: "object-anonymous-dynamic", bytes: []byte{
		0x0A,      // object
		0x0B,      // U29 inline traits (011), dynamic (bit 3), 0 sealed members
		0x01,      // class "" (anonymous)
		0x03, 'a', // dynamic member "a"
		0x04, 0x01, // integer 1
		0x01, // end of dynamic members
	}, value: amf.Object{{Key: "a", Value: int32(1)}}},
	{name: "object-anonymous-sealed", bytes: []byte{
		0x0A,      // object
		0x13,      // inline traits, not dynamic, 1 sealed member (1<<4 | 011)
		0x01,      // class ""
		0x03, 'a', // sealed member name "a"
		0x04, 0x01, // its value: integer 1
	}, value: amf.Object{{Key: "a", Value: int32(1)}},
		encoded: []byte{0x0A, 0x0B, 0x01, 0x03, 'a', 0x04, 0x01, 0x01}},
	{name: "object-empty-key-sealed", bytes: []byte{
		0x0A,       // object
		0x13,       // inline traits, 1 sealed member: an empty name cannot be dynamic
		0x01,       // class ""
		0x01,       // sealed member name ""
		0x04, 0x01, // integer 1
	}, value: amf.Object{{Key: "", Value: int32(1)}}},
	{name: "object-typed", bytes: []byte{
		0x0A,                          // object
		0x23,                          // inline traits, 2 sealed members (2<<4 | 011)
		0x0B, 'P', 'o', 'i', 'n', 't', // class "Point"
		0x03, 'x', // sealed name "x"
		0x03, 'y', // sealed name "y"
		0x04, 0x01, // x = 1
		0x04, 0x02, // y = 2
	}, value: &amf.TypedObject{Class: "Point", Props: amf.Object{{Key: "x", Value: int32(1)}, {Key: "y", Value: int32(2)}}}},
	{name: "object-typed-dynamic", bytes: []byte{
		0x0A,      // object
		0x1B,      // inline traits, dynamic, 1 sealed member (1<<4 | 1011)
		0x03, 'P', // class "P"
		0x03, 'x', // sealed name "x"
		0x04, 0x01, // x = 1
		0x03, 'z', // dynamic member "z"
		0x04, 0x03, // z = 3
		0x01, // end of dynamic members
	}, value: &amf.TypedObject{Class: "P", Props: amf.Object{{Key: "x", Value: int32(1)}, {Key: "z", Value: int32(3)}}},
		encoded: []byte{
			0x0A, 0x23, 0x03, 'P', // typed objects are written with all members sealed
			0x03, 'x', 0x03, 'z',
			0x04, 0x01, 0x04, 0x03,
		}},
	{name: "bytearray", bytes: []byte{
		0x0C,             // ByteArray
		0x07,             // U29 inline, length 3
		0x01, 0x02, 0x03, //
	}, value: []byte{1, 2, 3}},
	{name: "vector-int", bytes: []byte{
		0x0D,                   // Vector.<int>
		0x05,                   // U29 inline, count 2
		0x00,                   // not fixed
		0xFF, 0xFF, 0xFF, 0xFF, // -1
		0x00, 0x00, 0x00, 0x02, // 2
	}, value: &amf.VectorInt{Items: []int32{-1, 2}}},
	{name: "vector-uint", bytes: []byte{
		0x0E,                   // Vector.<uint>
		0x03,                   // count 1
		0x01,                   // fixed
		0xFF, 0xFF, 0xFF, 0xFF, // 4294967295
	}, value: &amf.VectorUint{Fixed: true, Items: []uint32{0xFFFFFFFF}}},
	{name: "vector-double", bytes: []byte{
		0x0F,                                           // Vector.<Number>
		0x03,                                           // count 1
		0x00,                                           // not fixed
		0x3F, 0xF8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // 1.5
	}, value: &amf.VectorDouble{Items: []float64{1.5}}},
	{name: "vector-object", bytes: []byte{
		0x10,                          // Vector.<Object>
		0x05,                          // count 2
		0x00,                          // not fixed
		0x0B, 'P', 'o', 'i', 'n', 't', // element type "Point"
		0x06, 0x03, 'a', // string "a"
		0x01, // null
	}, value: &amf.VectorObject{Class: "Point", Items: []any{"a", nil}}},
	{name: "dictionary", bytes: []byte{
		0x11,            // Dictionary
		0x05,            // count 2
		0x01,            // weak keys
		0x06, 0x03, 'k', // key: string "k"
		0x04, 0x05, // value: integer 5
		0x04, 0x01, // key: integer 1
		0x03, // value: true
	}, value: &amf.Dictionary{Weak: true, Entries: []amf.DictEntry{
		{Key: "k", Value: int32(5)}, {Key: int32(1), Value: true},
	}}},
}

// amf3RefCases are PROTOCOL.md section 9 case 38: string, object and
// traits references.
var amf3RefCases = []valueCase{
	{name: "string-reference", bytes: []byte{
		0x09,                      // array
		0x05,                      // dense count 2
		0x01,                      // no associative part
		0x06, 0x07, 'a', 'b', 'c', // string "abc", inline: string #0
		0x06, 0x00, // string reference #0 (U29 0<<1)
	}, value: amf.StrictArray{"abc", "abc"}},
	{name: "empty-string-never-referenced", bytes: []byte{
		0x09,       // array
		0x09,       // dense count 4
		0x01,       // no associative part
		0x06, 0x01, // "": inline, not added to the table
		0x06, 0x01, // "" again: still inline
		0x06, 0x05, 'h', 'i', // "hi": string #0
		0x06, 0x00, // reference #0 is "hi", not ""
	}, value: amf.StrictArray{"", "", "hi", "hi"}},
	{name: "key-and-value-share-string-table", bytes: []byte{
		0x0A,      // object
		0x0B,      // inline traits, dynamic
		0x01,      // class ""
		0x03, 'n', // key "n": string #0
		0x06, 0x00, // value: string reference #0, "n"
		0x01, // end
	}, value: amf.Object{{Key: "n", Value: "n"}}},
	{name: "object-reference", bytes: []byte{
		0x09,             // array: object #0
		0x05,             // dense count 2
		0x01,             // no associative part
		0x0A, 0x0B, 0x01, // object #1: inline dynamic traits #0, class ""
		0x03, 'a', 0x04, 0x01, // "a": 1 ("a" is string #0)
		0x01,       // end of object #1
		0x0A, 0x02, // object reference #1 (U29 1<<1)
	}, value: amf.StrictArray{amf.Object{{Key: "a", Value: int32(1)}}, amf.Object{{Key: "a", Value: int32(1)}}},
		encoded: []byte{
			0x09, 0x05, 0x01,
			0x0A, 0x0B, 0x01, 0x03, 'a', 0x04, 0x01, 0x01, // the object
			0x0A, 0x01, // written again, with traits reference #0 (0<<2 | 01)
			0x00, 0x04, 0x01, 0x01, // key "a" as string reference #0, value 1, end
		}},
	{name: "traits-reference", bytes: []byte{
		0x09,                                      // array
		0x05,                                      // dense count 2
		0x01,                                      // no associative part
		0x0A, 0x13, 0x0B, 'P', 'o', 'i', 'n', 't', // object, inline traits #0: class "Point", 1 sealed
		0x03, 'x', // sealed name "x"
		0x04, 0x01, // x = 1
		0x0A, 0x01, // object with traits reference #0 (0<<2 | 01)
		0x04, 0x02, // x = 2
	}, value: amf.StrictArray{
		&amf.TypedObject{Class: "Point", Props: amf.Object{{Key: "x", Value: int32(1)}}},
		&amf.TypedObject{Class: "Point", Props: amf.Object{{Key: "x", Value: int32(2)}}},
	}},
	{name: "date-and-bytearray-references", bytes: []byte{
		0x09,                                                       // array: object #0
		0x09,                                                       // dense count 4
		0x01,                                                       // no associative part
		0x08, 0x01, 0x42, 0x78, 0xBC, 0xFE, 0x56, 0x80, 0x00, 0x00, // date: object #1
		0x0C, 0x03, 0xAA, // ByteArray AA: object #2
		0x08, 0x02, // date reference #1
		0x0C, 0x04, // ByteArray reference #2
	}, value: amf.StrictArray{
		amf.Date{Millis: 1700000000000}, []byte{0xAA}, amf.Date{Millis: 1700000000000}, []byte{0xAA},
	}, encoded: []byte{
		0x09, 0x09, 0x01,
		0x08, 0x01, 0x42, 0x78, 0xBC, 0xFE, 0x56, 0x80, 0x00, 0x00,
		0x0C, 0x03, 0xAA,
		0x08, 0x01, 0x42, 0x78, 0xBC, 0xFE, 0x56, 0x80, 0x00, 0x00, // written inline again
		0x0C, 0x03, 0xAA,
	}},
}

var amf3ErrorCases = []errorCase{
	{"empty", []byte{}, amf.ErrTruncated},
	{"integer-u29-truncated", []byte{0x04, 0x80}, amf.ErrTruncated},
	{"integer-u29-four-bytes-truncated", []byte{0x04, 0xFF, 0xFF, 0xFF}, amf.ErrTruncated},
	{"double-truncated", []byte{0x05, 0x3F}, amf.ErrTruncated},
	{"string-truncated", []byte{0x06, 0x07, 'a'}, amf.ErrTruncated},
	{"string-reference-out-of-range", []byte{0x06, 0x00}, amf.ErrReference},
	{"object-reference-out-of-range", []byte{0x0A, 0x00}, amf.ErrReference},
	{"traits-reference-out-of-range", []byte{0x0A, 0x01}, amf.ErrReference},
	{"externalizable", []byte{0x0A, 0x07, 0x03, 'A'}, amf.ErrUnsupported},
	{"unknown-marker", []byte{0x12}, amf.ErrMarker},
	{"array-cyclic", []byte{
		0x09, 0x03, 0x01, // array #0, dense count 1
		0x09, 0x00, // reference to #0 while it is open
	}, amf.ErrReference},
	{"object-cyclic", []byte{
		0x0A, 0x0B, 0x01, // object #0, dynamic
		0x03, 's', // key "s"
		0x0A, 0x00, // reference to #0 while it is open
		0x01,
	}, amf.ErrReference},
	{"array-huge-count", []byte{0x09, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x01}, amf.ErrTruncated},
	{"vector-int-huge-count", []byte{0x0D, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00}, amf.ErrTruncated},
	{"vector-double-truncated", []byte{0x0F, 0x03, 0x00, 0x3F}, amf.ErrTruncated},
	{"vector-missing-fixed-flag", []byte{0x0E, 0x03}, amf.ErrTruncated},
	{"vector-object-huge-count", []byte{0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x01, 0x01}, amf.ErrTruncated},
	{"dictionary-huge-count", []byte{0x11, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x01, 0x01}, amf.ErrTruncated},
	{"sealed-names-huge-count", []byte{0x0A, 0xFF, 0xFF, 0xFF, 0xFB, 0x01, 0x03, 'a'}, amf.ErrTruncated},
	{"bytearray-truncated", []byte{0x0C, 0x07, 0x01}, amf.ErrTruncated},
	{"date-truncated", []byte{0x08, 0x01, 0x42}, amf.ErrTruncated},
}

func TestDecodeAMF3Cases(t *testing.T) {
	for _, c := range append(append([]valueCase{}, amf3Cases...), amf3RefCases...) {
		t.Run(c.name, func(t *testing.T) {
			v, n, err := amf.DecodeAMF3(c.bytes)
			if err != nil {
				t.Fatalf("DecodeAMF3: %v", err)
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

func TestAppendAMF3Cases(t *testing.T) {
	for _, c := range append(append([]valueCase{}, amf3Cases...), amf3RefCases...) {
		t.Run(c.name, func(t *testing.T) {
			got, err := amf.AppendAMF3([]byte("keep"), c.value)
			if err != nil {
				t.Fatalf("AppendAMF3: %v", err)
			}
			if !bytes.Equal(got[:4], []byte("keep")) {
				t.Fatalf("AppendAMF3 overwrote dst: % x", got[:4])
			}
			if want := c.wantEncoded(); !bytes.Equal(got[4:], want) {
				t.Errorf("AppendAMF3 = % x\nwant        % x", got[4:], want)
			}
		})
	}
}

func TestDecodeAMF3Errors(t *testing.T) {
	for _, c := range amf3ErrorCases {
		t.Run(c.name, func(t *testing.T) {
			v, n, err := amf.DecodeAMF3(c.bytes)
			if !errors.Is(err, c.err) {
				t.Fatalf("DecodeAMF3 error = %v, want %v", err, c.err)
			}
			if v != nil || n != 0 {
				t.Errorf("on error got v=%#v n=%d, want nil, 0", v, n)
			}
		})
	}
}

// amf3EncodeCases cover the Go conveniences of the AMF3 encoder.
var amf3EncodeCases = []struct {
	name  string
	value any
	bytes []byte
}{
	{"int", 300, []byte{0x04, 0x82, 0x2C}},
	{"int-negative", -129, []byte{0x04, 0xFF, 0xFF, 0xFF, 0x7F}},
	{"int-2^28-is-double", 1 << 28, []byte{0x05, 0x41, 0xB0, 0, 0, 0, 0, 0, 0}},
	{"int64-below-min-is-double", int64(-1<<28 - 1), []byte{0x05, 0xC1, 0xB0, 0x00, 0x00, 0x01, 0, 0, 0}},
	{"uint64-huge-is-double", uint64(1 << 40), []byte{0x05, 0x42, 0x70, 0, 0, 0, 0, 0, 0}},
	{"uint8", uint8(200), []byte{0x04, 0x81, 0x48}},
	{"float32", float32(1.5), []byte{0x05, 0x3F, 0xF8, 0, 0, 0, 0, 0, 0}},
	{"slice-any", []any{"s", "s"}, []byte{
		0x09, 0x05, 0x01, // array, dense count 2
		0x06, 0x03, 's', // "s" inline
		0x06, 0x00, // "s" by reference
	}},
	{"map-sorted", map[string]any{"b": 2, "a": 1}, []byte{
		0x0A, 0x0B, 0x01, // anonymous dynamic object
		0x03, 'a', 0x04, 0x01, // a: 1
		0x03, 'b', 0x04, 0x02, // b: 2
		0x01,
	}},
	{"ecma-array-is-associative", amf.ECMAArray{{Key: "k", Value: nil}}, []byte{
		0x09, 0x01, // array, dense count 0
		0x03, 'k', 0x01, // "k": null
		0x01, // end of associative part
	}},
	{"avmplus-unwrapped", amf.AVMPlus{Value: true}, []byte{0x03}},
	{"same-dynamic-traits-shared", amf.StrictArray{amf.Object{}, amf.Object{}}, []byte{
		0x09, 0x05, 0x01, // array, dense count 2
		0x0A, 0x0B, 0x01, 0x01, // object, traits #0 dynamic anonymous, no members
		0x0A, 0x01, 0x01, // object, traits reference #0, no members
	}},
	{"different-sealed-names-new-traits", amf.StrictArray{
		&amf.TypedObject{Class: "P", Props: amf.Object{{Key: "x", Value: nil}}},
		&amf.TypedObject{Class: "P", Props: amf.Object{{Key: "y", Value: nil}}},
	}, []byte{
		0x09, 0x05, 0x01,
		0x0A, 0x13, 0x03, 'P', 0x03, 'x', 0x01, // traits #0: P{x}
		0x0A, 0x13, 0x00, 0x03, 'y', 0x01, // traits #1: P{y}; "P" by string reference
	}},
	{"nil-pointers-are-null", []any{(*amf.Array3)(nil), (*amf.Dictionary)(nil), (*amf.VectorInt)(nil)}, []byte{
		0x09, 0x07, 0x01, 0x01, 0x01, 0x01,
	}},
}

func TestAppendAMF3GoTypes(t *testing.T) {
	for _, c := range amf3EncodeCases {
		t.Run(c.name, func(t *testing.T) {
			got, err := amf.AppendAMF3(nil, c.value)
			if err != nil {
				t.Fatalf("AppendAMF3: %v", err)
			}
			if !bytes.Equal(got, c.bytes) {
				t.Errorf("AppendAMF3 = % x\nwant        % x", got, c.bytes)
			}
		})
	}
}

func TestAppendAMF3Errors(t *testing.T) {
	cyclic := make([]any, 1)
	cyclic[0] = cyclic
	for _, c := range []struct {
		name  string
		value any
		err   error
	}{
		{"unsupported", amf.Unsupported{}, amf.ErrUnsupported},
		{"struct", struct{}{}, amf.ErrGoType},
		{"ecma-empty-key", amf.ECMAArray{{Key: "", Value: 1}}, amf.ErrEmptyKey},
		{"array3-empty-key", &amf.Array3{Assoc: amf.Object{{Key: "", Value: 1}}}, amf.ErrEmptyKey},
		{"cyclic", cyclic, amf.ErrDepth},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := amf.AppendAMF3(nil, c.value); !errors.Is(err, c.err) {
				t.Fatalf("AppendAMF3 error = %v, want %v", err, c.err)
			}
		})
	}
}

// TestCase37AMF3U29AndIntegers is PROTOCOL.md section 9 case 37: U29
// lengths at each boundary, integer -1 and 2^28-1 round trips, 2^28 as a
// double.
func TestCase37AMF3U29AndIntegers(t *testing.T) {
	for _, c := range []struct {
		v    uint32
		want []byte
	}{
		{0x7F, []byte{0x7F}},
		{0x80, []byte{0x81, 0x00}},
		{0x3FFF, []byte{0xFF, 0x7F}},
		{0x4000, []byte{0x81, 0x80, 0x00}},
		{0x1FFFFF, []byte{0xFF, 0xFF, 0x7F}},
		{0x200000, []byte{0x80, 0xC0, 0x80, 0x00}},
		{0x1FFFFFFF, []byte{0xFF, 0xFF, 0xFF, 0xFF}},
	} {
		got := amf.AppendU29(nil, c.v)
		if !bytes.Equal(got, c.want) {
			t.Errorf("U29 %#x = % x, want % x", c.v, got, c.want)
		}
		v, n, err := amf.DecodeU29(c.want)
		if err != nil || v != c.v || n != len(c.want) {
			t.Errorf("DecodeU29(% x) = %#x, %d, %v; want %#x, %d", c.want, v, n, err, c.v, len(c.want))
		}
	}

	for _, c := range []struct {
		name string
		in   any
		want []byte
		back any
	}{
		{"minus-one", int32(-1), []byte{0x04, 0xFF, 0xFF, 0xFF, 0xFF}, int32(-1)},
		{"2^28-1", int32(1<<28 - 1), []byte{0x04, 0xBF, 0xFF, 0xFF, 0xFF}, int32(1<<28 - 1)},
		{"2^28-as-double", int32(1 << 28), []byte{0x05, 0x41, 0xB0, 0, 0, 0, 0, 0, 0}, float64(1 << 28)},
		{"-2^28-1-as-double", int32(-1<<28 - 1), []byte{0x05, 0xC1, 0xB0, 0x00, 0x00, 0x01, 0, 0, 0}, float64(-1<<28 - 1)},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := amf.AppendAMF3(nil, c.in)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, c.want) {
				t.Fatalf("AppendAMF3(%v) = % x, want % x", c.in, b, c.want)
			}
			v, _, err := amf.DecodeAMF3(b)
			if err != nil {
				t.Fatal(err)
			}
			if err := sameValue(v, c.back, false); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestCase38AMF3References is PROTOCOL.md section 9 case 38: string,
// object and traits references decode (the same string twice is a
// reference to index 0; the empty string is never referenced), and the
// encoder writes string and traits references itself.
func TestCase38AMF3References(t *testing.T) {
	for _, c := range amf3RefCases {
		t.Run(c.name, func(t *testing.T) {
			v, n, err := amf.DecodeAMF3(c.bytes)
			if err != nil || n != len(c.bytes) {
				t.Fatalf("DecodeAMF3: n=%d err=%v", n, err)
			}
			if err := sameValue(v, c.value, false); err != nil {
				t.Fatal(err)
			}
			enc, err := amf.AppendAMF3(nil, v)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(enc, c.wantEncoded()) {
				t.Fatalf("AppendAMF3 = % x\nwant        % x", enc, c.wantEncoded())
			}
		})
	}
}

func TestAMF3ReferenceTablesArePerValue(t *testing.T) {
	// Two AVM+ values in one AMF0 stream: the second may not refer to a
	// string of the first.
	b := []byte{
		0x11, 0x06, 0x03, 's', // AVM+ string "s": string #0 of this value
		0x11, 0x06, 0x00, // AVM+ string reference #0: no table carries over
	}
	if _, err := amf.DecodeAMF0All(b); !errors.Is(err, amf.ErrReference) {
		t.Fatalf("DecodeAMF0All error = %v, want ErrReference", err)
	}
	vals, err := amf.DecodeAMF0All(b[:4])
	if err != nil || len(vals) != 1 || vals[0] != "s" {
		t.Fatalf("DecodeAMF0All = %v, %v", vals, err)
	}
}

func TestAMF3LongStringLengths(t *testing.T) {
	s := strings.Repeat("x", 1<<14) // U29 length header needs 3 bytes
	b, err := amf.AppendAMF3(nil, s)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b[:4], []byte{0x06, 0x82, 0x80, 0x01}) {
		t.Fatalf("header % x, want 06 82 80 01 (U29 (16384<<1)|1)", b[:4])
	}
	v, n, err := amf.DecodeAMF3(b)
	if err != nil || n != len(b) || v != s {
		t.Fatalf("DecodeAMF3: n=%d err=%v", n, err)
	}
}
