package amf_test

import (
	"bytes"
	"testing"

	"github.com/tributary-media/tributary/pkg/rtmp/amf"
)

// fuzzDecoder keeps the decoded tree small enough for quick round trips;
// the limits themselves are part of what is fuzzed.
var fuzzDecoder = amf.Decoder{MaxDepth: 32, MaxElements: 1 << 14}

// maxSeedLen leaves the largest case vectors out of the fuzz seeds.
const maxSeedLen = 4096

// FuzzAMF0 decodes arbitrary bytes as an AMF0 value stream. Whatever
// decodes must encode again, and decoding that encoding must give an
// equivalent stream:
//
//   - references are resolved when decoding, so the first encoding writes
//     referenced values out in full and the values compare equal;
//   - AMF3 values (AVM+) come back as themselves, except AMF3 integers,
//     which the AMF0 encoder writes as Number: an int32 equals a float64
//     of the same value;
//   - numbers compare bit for bit, so NaN payloads and -0 must survive;
//   - the ECMA array count and non-canonical forms (Long String for a
//     short string, Boolean bytes other than 0 and 1, a missing final ECMA
//     terminator) are not part of a value.
//
// The second encoding must then be byte-identical to the first: the
// encoder's output is a fixed point.
func FuzzAMF0(f *testing.F) {
	for _, c := range amf0Cases {
		// The 64 KiB string vectors would steer the fuzzer to big inputs
		// that are slow to minimise; short Long Strings cover their code.
		if len(c.bytes) <= maxSeedLen {
			f.Add(c.bytes)
		}
	}
	for _, c := range amf0ErrorCases {
		f.Add(c.bytes)
	}
	f.Add(ffmpegPublishConnect)
	f.Fuzz(func(t *testing.T, b []byte) {
		if v, n, err := fuzzDecoder.DecodeAMF0(b); err == nil {
			if n <= 0 || n > len(b) {
				t.Fatalf("DecodeAMF0 n = %d for %d bytes", n, len(b))
			}
			if _, err := amf.AppendAMF0(nil, v); err != nil {
				t.Fatalf("AppendAMF0 of a decoded value: %v", err)
			}
		}
		vals, err := fuzzDecoder.DecodeAMF0All(b)
		if err != nil {
			return
		}
		enc := encodeAll(t, amf.AppendAMF0, vals)
		again, err := fuzzDecoder.DecodeAMF0All(enc)
		if err != nil {
			t.Fatalf("decoding the re-encoding: %v\ninput % x\nencoded % x", err, b, enc)
		}
		if err := sameValue(amf.StrictArray(vals), amf.StrictArray(again), true); err != nil {
			t.Fatalf("round trip changed the values: %v\ninput % x\nencoded % x", err, b, enc)
		}
		if enc2 := encodeAll(t, amf.AppendAMF0, again); !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable:\n% x\n% x", enc, enc2)
		}
	})
}

// FuzzAMF3 decodes arbitrary bytes as one AMF3 value. Whatever decodes must
// encode again and decode to an equivalent value of exactly the same
// types: references are resolved (object references are written out in
// full, string and traits references are written as references again),
// numbers compare bit for bit, sealed members of anonymous objects and
// dynamic members of typed objects come back in the same order, XML comes
// back as XMLDocument, and non-canonical U29 forms are not part of a
// value. The second encoding must be byte-identical to the first.
func FuzzAMF3(f *testing.F) {
	for _, c := range amf3Cases {
		f.Add(c.bytes)
	}
	for _, c := range amf3RefCases {
		f.Add(c.bytes)
	}
	for _, c := range amf3ErrorCases {
		f.Add(c.bytes)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, n, err := fuzzDecoder.DecodeAMF3(b)
		if err != nil {
			return
		}
		if n <= 0 || n > len(b) {
			t.Fatalf("DecodeAMF3 n = %d for %d bytes", n, len(b))
		}
		enc, err := amf.AppendAMF3(nil, v)
		if err != nil {
			t.Fatalf("AppendAMF3 of a decoded value: %v\ninput % x", err, b)
		}
		again, m, err := fuzzDecoder.DecodeAMF3(enc)
		if err != nil {
			t.Fatalf("decoding the re-encoding: %v\ninput % x\nencoded % x", err, b, enc)
		}
		if m != len(enc) {
			t.Fatalf("re-encoding decoded %d of %d bytes", m, len(enc))
		}
		if err := sameValue(v, again, false); err != nil {
			t.Fatalf("round trip changed the value: %v\ninput % x\nencoded % x", err, b, enc)
		}
		enc2, err := amf.AppendAMF3(nil, again)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable (%v):\n% x\n% x", err, enc, enc2)
		}
		// The same value inside AMF0 through AVM+ must survive as well.
		if _, err := amf.AppendAMF0(nil, amf.AVMPlus{Value: v}); err != nil {
			t.Fatalf("AppendAMF0 of AVM+ value: %v", err)
		}
	})
}

func encodeAll(t *testing.T, appendFn func([]byte, any) ([]byte, error), vals []any) []byte {
	t.Helper()
	var out []byte
	for _, v := range vals {
		var err error
		if out, err = appendFn(out, v); err != nil {
			t.Fatalf("encoding decoded value %#v: %v", v, err)
		}
	}
	return out
}
