package amf_test

import (
	"bytes"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/tributary-media/tributary/pkg/rtmp/amf"
)

// nestAMF0 returns levels strict arrays of one item nested in each other
// around inner.
func nestAMF0(levels int, inner []byte) []byte {
	var b []byte
	for range levels {
		b = append(b, 0x0A, 0x00, 0x00, 0x00, 0x01) // Strict array, count 1
	}
	return append(b, inner...)
}

// nestAMF3 returns levels AMF3 arrays of one dense item around inner.
func nestAMF3(levels int, inner []byte) []byte {
	var b []byte
	for range levels {
		b = append(b, 0x09, 0x03, 0x01) // array, dense count 1, no associative part
	}
	return append(b, inner...)
}

func TestDepthLimit(t *testing.T) {
	null0, null3 := []byte{0x05}, []byte{0x01}
	for _, c := range []struct {
		name   string
		d      amf.Decoder
		decode func(amf.Decoder, []byte) error
		nest   func(int, []byte) []byte
		inner  []byte
		ok     int // deepest nesting accepted
	}{
		{"amf0-default", amf.Decoder{}, decode0, nestAMF0, null0, amf.DefaultMaxDepth},
		{"amf0-max-3", amf.Decoder{MaxDepth: 3}, decode0, nestAMF0, null0, 3},
		{"amf0-negative-is-default", amf.Decoder{MaxDepth: -1}, decode0, nestAMF0, null0, amf.DefaultMaxDepth},
		{"amf3-default", amf.Decoder{}, decode3, nestAMF3, null3, amf.DefaultMaxDepth},
		{"amf3-max-5", amf.Decoder{MaxDepth: 5}, decode3, nestAMF3, null3, 5},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := c.decode(c.d, c.nest(c.ok, c.inner)); err != nil {
				t.Fatalf("%d levels: %v", c.ok, err)
			}
			if err := c.decode(c.d, c.nest(c.ok+1, c.inner)); !errors.Is(err, amf.ErrDepth) {
				t.Fatalf("%d levels: err = %v, want ErrDepth", c.ok+1, err)
			}
		})
	}
}

func decode0(d amf.Decoder, b []byte) error { _, _, err := d.DecodeAMF0(b); return err }
func decode3(d amf.Decoder, b []byte) error { _, _, err := d.DecodeAMF3(b); return err }

func TestDepthCountsAcrossAVMPlus(t *testing.T) {
	d := amf.Decoder{MaxDepth: 6}
	ok := nestAMF0(3, append([]byte{0x11}, nestAMF3(3, []byte{0x01})...))
	if err := decode0(d, ok); err != nil {
		t.Fatalf("3+3 levels: %v", err)
	}
	deep := nestAMF0(3, append([]byte{0x11}, nestAMF3(4, []byte{0x01})...))
	if err := decode0(d, deep); !errors.Is(err, amf.ErrDepth) {
		t.Fatalf("3+4 levels: err = %v, want ErrDepth", err)
	}
}

// TestDeepNestingIsAnErrorNotAStackOverflow feeds a million nesting levels.
func TestDeepNestingIsAnErrorNotAStackOverflow(t *testing.T) {
	objects := bytes.Repeat([]byte{0x03, 0x00, 0x01, 'a'}, 1<<20) // Object, name "a", value: ...
	for name, b := range map[string][]byte{
		"amf0-arrays":  nestAMF0(1<<20, nil),
		"amf0-objects": objects,
		"amf3-arrays":  nestAMF3(1<<20, nil),
	} {
		start := time.Now()
		var err error
		if name == "amf3-arrays" {
			err = decode3(amf.Decoder{}, b)
		} else {
			err = decode0(amf.Decoder{}, b)
		}
		if !errors.Is(err, amf.ErrDepth) {
			t.Errorf("%s: err = %v, want ErrDepth", name, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s: took %v", name, d)
		}
	}
}

// TestReferenceDepth checks that a reference counts the depth of what it
// points at where it appears, so the decoded tree stays within MaxDepth.
func TestReferenceDepth(t *testing.T) {
	d := amf.Decoder{MaxDepth: 10}
	first := nestAMF0(6, []byte{0x05}) // complex values #0..#5; #0 spans 6 levels
	ref := []byte{0x07, 0x00, 0x00}    // Reference to #0
	if _, err := d.DecodeAMF0All(cat(first, nestAMF0(4, ref))); err != nil {
		t.Fatalf("4 levels + reference spanning 6: %v", err)
	}
	if _, err := d.DecodeAMF0All(cat(first, nestAMF0(5, ref))); !errors.Is(err, amf.ErrDepth) {
		t.Fatalf("5 levels + reference spanning 6: err = %v, want ErrDepth", err)
	}
	// A reference to an inner value spans only that value's levels.
	inner := []byte{0x07, 0x00, 0x05} // #5 spans 1 level
	if _, err := d.DecodeAMF0All(cat(first, nestAMF0(9, inner))); err != nil {
		t.Fatalf("9 levels + reference spanning 1: %v", err)
	}

	// AMF3: object #1 spans two levels; referring to it from 9 levels deep
	// reaches 11.
	two := []byte{0x09, 0x03, 0x01, 0x09, 0x03, 0x01, 0x01} // array > array > null
	b3 := cat(
		[]byte{0x09, 0x05, 0x01},        // array #0, dense count 2
		two,                             // #1 and #2
		nestAMF3(8, []byte{0x09, 0x02}), // 8 more levels, then a reference to #1
	)
	if _, _, err := d.DecodeAMF3(b3); !errors.Is(err, amf.ErrDepth) {
		t.Fatalf("AMF3 reference beyond MaxDepth: err = %v, want ErrDepth", err)
	}
	if _, _, err := (amf.Decoder{MaxDepth: 11}).DecodeAMF3(b3); err != nil {
		t.Fatalf("AMF3 reference within MaxDepth: %v", err)
	}
}

// doubling returns AMF0 values where value k is a strict array holding two
// references to value k-1, so the decoded tree doubles with each value.
func doubling(levels int) []byte {
	b := []byte{0x0A, 0x00, 0x00, 0x00, 0x02, 0x05, 0x05} // #0: [null, null]
	for k := 1; k < levels; k++ {
		ref := []byte{0x07, byte((k - 1) >> 8), byte(k - 1)}
		b = append(b, 0x0A, 0x00, 0x00, 0x00, 0x02) // #k: strict array, count 2
		b = append(b, ref...)
		b = append(b, ref...)
	}
	return b
}

func TestReferenceExpansionIsBounded(t *testing.T) {
	// [null, null] is 3 elements; [ref, ref] to it is 1 + 3 + 3.
	b := doubling(2)
	if _, err := (amf.Decoder{MaxElements: 10}).DecodeAMF0All(b); err != nil {
		t.Fatalf("10 elements within a limit of 10: %v", err)
	}
	if _, err := (amf.Decoder{MaxElements: 9}).DecodeAMF0All(b); !errors.Is(err, amf.ErrElements) {
		t.Fatalf("10 elements with a limit of 9: err = %v, want ErrElements", err)
	}

	// 600 bytes that would expand to 2^100 values.
	start := time.Now()
	if _, err := amf.DecodeAMF0All(doubling(100)); !errors.Is(err, amf.ErrElements) {
		t.Fatalf("doubling references: err = %v, want ErrElements", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("doubling references took %v", d)
	}

	// The same in AMF3: an outer array (#0) of 61 arrays, the first [null,
	// null] (#1) and each next one two references to the one before.
	b3 := []byte{
		0x09, 0x7B, 0x01, // array #0, dense count 61
		0x09, 0x05, 0x01, 0x01, 0x01, // #1: [null, null]
	}
	for k := 1; k <= 60; k++ {
		b3 = append(b3, 0x09, 0x05, 0x01)                   // #k+1: array, dense count 2
		b3 = append(b3, 0x09, byte(k<<1), 0x09, byte(k<<1)) // two references to #k
	}
	if _, _, err := amf.DecodeAMF3(b3); !errors.Is(err, amf.ErrElements) {
		t.Fatalf("AMF3 doubling references: err = %v, want ErrElements", err)
	}
}

func TestMaxElements(t *testing.T) {
	nulls := cat([]byte{0x0A, 0x00, 0x00, 0x00, 0x0A}, bytes.Repeat([]byte{0x05}, 10)) // 11 elements
	if _, _, err := (amf.Decoder{MaxElements: 11}).DecodeAMF0(nulls); err != nil {
		t.Fatal(err)
	}
	if _, _, err := (amf.Decoder{MaxElements: 10}).DecodeAMF0(nulls); !errors.Is(err, amf.ErrElements) {
		t.Fatalf("err = %v, want ErrElements", err)
	}
	// Vector items count: 100 ints with a budget of 50 fail before the
	// items are allocated.
	vec := cat([]byte{0x0D, 0x81, 0x49, 0x00}, make([]byte, 400)) // Vector.<int>, count 100, not fixed
	if _, _, err := (amf.Decoder{MaxElements: 50}).DecodeAMF3(vec); !errors.Is(err, amf.ErrElements) {
		t.Fatalf("vector: err = %v, want ErrElements", err)
	}
	if _, _, err := amf.DecodeAMF3(vec); err != nil {
		t.Fatalf("vector with the default limit: %v", err)
	}
}

// TestHostileCountsDoNotAllocate checks that declared counts of up to 2^32
// with almost no bytes behind them cost almost no memory.
func TestHostileCountsDoNotAllocate(t *testing.T) {
	for _, c := range []struct {
		name   string
		b      []byte
		decode func(amf.Decoder, []byte) error
	}{
		{"amf0-strict-array", []byte{0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x05, 0x05, 0x05}, decode0},
		{"amf0-ecma-array", []byte{0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x01, 'a', 0x05}, decode0},
		{"amf0-long-string", []byte{0x0C, 0xFF, 0xFF, 0xFF, 0xFF, 'a'}, decode0},
		{"amf0-xml", []byte{0x0F, 0xFF, 0xFF, 0xFF, 0xFF, 'a'}, decode0},
		{"amf3-array", []byte{0x09, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x01, 0x01}, decode3},
		{"amf3-string", []byte{0x06, 0xFF, 0xFF, 0xFF, 0xFF, 'a'}, decode3},
		{"amf3-bytearray", []byte{0x0C, 0xFF, 0xFF, 0xFF, 0xFF, 'a'}, decode3},
		{"amf3-vector-int", []byte{0x0D, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x01}, decode3},
		{"amf3-vector-double", []byte{0x0F, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x01}, decode3},
		{"amf3-vector-object", []byte{0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x01, 0x01}, decode3},
		{"amf3-dictionary", []byte{0x11, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x01, 0x01}, decode3},
		{"amf3-sealed-names", []byte{0x0A, 0xFF, 0xFF, 0xFF, 0xFB, 0x01, 0x03, 'a'}, decode3},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := c.decode(amf.Decoder{}, c.b); !errors.Is(err, amf.ErrTruncated) {
				t.Fatalf("err = %v, want ErrTruncated", err)
			}
			const runs = 20
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for range runs {
				_ = c.decode(amf.Decoder{}, c.b)
			}
			runtime.ReadMemStats(&after)
			if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > 4096 {
				t.Fatalf("%d bytes allocated per decode", per)
			}
		})
	}
}

// TestReferencedBytesAreBounded checks that string and byte-array data
// count against MaxElements wherever references repeat it: one element per
// 64 bytes, so a small input cannot decode into a tree that is gigabytes
// long once written out.
func TestReferencedBytesAreBounded(t *testing.T) {
	data := bytes.Repeat([]byte{'d'}, 640) // 10 elements' worth

	amf0 := cat(
		[]byte{0x03, 0x00, 0x01, 'a', 0x02, 0x02, 0x80}, // Object #0, "a": String of 640 bytes
		data,
		[]byte{0x00, 0x00, 0x09},             // 1 + 1 + 10 = 12 elements
		[]byte{0x0A, 0x00, 0x00, 0x00, 0x03}, // Strict array of 3:
		[]byte{0x07, 0x00, 0x00, 0x07, 0x00, 0x00, 0x07, 0x00, 0x00}, // references to #0, 12 each
	)
	amf3Strings := cat(
		[]byte{0x09, 0x07, 0x01, 0x06, 0x8A, 0x01}, // array of 3; string of 640 bytes (U29 1281)
		data,                           // 1 + 10 elements
		[]byte{0x06, 0x00, 0x06, 0x00}, // two string references, 11 each
	)
	amf3Bytes := cat(
		[]byte{0x09, 0x07, 0x01, 0x0C, 0x8A, 0x01}, // array (#0) of 3; ByteArray (#1) of 640 bytes
		data,
		[]byte{0x0C, 0x02, 0x0C, 0x02}, // two references to #1, 11 each
	)
	amf3Traits := cat(
		[]byte{0x09, 0x05, 0x01},                  // array of 2
		[]byte{0x0A, 0x13, 0x03, 'C', 0x8A, 0x01}, // object, traits #0: class "C", one sealed name of 640 bytes
		data,
		[]byte{0x01},             // its value: null (1 + 10 + 1 elements)
		[]byte{0x0A, 0x01, 0x01}, // object with traits reference #0: the name counts again
	)
	for _, c := range []struct {
		name   string
		b      []byte
		decode func(amf.Decoder, []byte) error
		need   int
	}{
		{"amf0-object-references", amf0, decodeAll0, 12 + 1 + 3*12},
		{"amf3-string-references", amf3Strings, decode3, 1 + 3*11},
		{"amf3-bytearray-references", amf3Bytes, decode3, 1 + 3*11},
		{"amf3-traits-references", amf3Traits, decode3, 1 + 2*12},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := c.decode(amf.Decoder{MaxElements: c.need}, c.b); err != nil {
				t.Fatalf("limit %d: %v", c.need, err)
			}
			if err := c.decode(amf.Decoder{MaxElements: c.need - 1}, c.b); !errors.Is(err, amf.ErrElements) {
				t.Fatalf("limit %d: err = %v, want ErrElements", c.need-1, err)
			}
		})
	}

	// 69 KB that would write out as 180 MB: 3000 references to an object
	// holding a 60000-byte string.
	big := cat([]byte{0x03, 0x00, 0x01, 'a', 0x02, 0xEA, 0x60}, make([]byte, 60000), []byte{0x00, 0x00, 0x09},
		[]byte{0x0A, 0x00, 0x00, 0x0B, 0xB8}, bytes.Repeat([]byte{0x07, 0x00, 0x00}, 3000))
	if err := decodeAll0(amf.Decoder{}, big); !errors.Is(err, amf.ErrElements) {
		t.Fatalf("amplifying references: err = %v, want ErrElements", err)
	}
}

func decodeAll0(d amf.Decoder, b []byte) error { _, err := d.DecodeAMF0All(b); return err }
