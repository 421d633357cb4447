package amf_test

import (
	"testing"

	"github.com/tributary-media/tributary/pkg/rtmp/amf"
)

// connectCommand is an ffmpeg-style connect command with the full command
// object: the fields ffmpeg sends as a publisher and as a player together.
func connectCommand() []any {
	return []any{"connect", 1.0, amf.Object{
		{Key: "app", Value: "live"},
		{Key: "type", Value: "nonprivate"},
		{Key: "flashVer", Value: "FMLE/3.0 (compatible; Lavf59.27.100)"},
		{Key: "tcUrl", Value: "rtmp://127.0.0.1:1935/live"},
		{Key: "fpad", Value: false},
		{Key: "capabilities", Value: 15.0},
		{Key: "audioCodecs", Value: 4071.0},
		{Key: "videoCodecs", Value: 252.0},
		{Key: "videoFunction", Value: 1.0},
	}}
}

func appendAll0(tb testing.TB, dst []byte, vals []any) []byte {
	for _, v := range vals {
		var err error
		if dst, err = amf.AppendAMF0(dst, v); err != nil {
			tb.Fatal(err)
		}
	}
	return dst
}

func BenchmarkAMF0EncodeConnect(b *testing.B) {
	vals := connectCommand()
	dst := appendAll0(b, nil, vals)
	b.ReportAllocs()
	b.SetBytes(int64(len(dst)))
	for b.Loop() {
		dst = appendAll0(b, dst[:0], vals)
	}
}

func BenchmarkAMF0DecodeConnect(b *testing.B) {
	payload := appendAll0(b, nil, connectCommand())
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		if _, err := amf.DecodeAMF0All(payload); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAMF3EncodeConnect(b *testing.B) {
	obj := connectCommand()[2]
	dst, err := amf.AppendAMF3(nil, obj)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(dst)))
	for b.Loop() {
		dst, _ = amf.AppendAMF3(dst[:0], obj)
	}
}

func BenchmarkAMF3DecodeConnect(b *testing.B) {
	payload, err := amf.AppendAMF3(nil, connectCommand()[2])
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		if _, _, err := amf.DecodeAMF3(payload); err != nil {
			b.Fatal(err)
		}
	}
}

// TestAMF0EncodeConnectAllocs holds the encoder to zero allocations when
// it appends into a buffer with room.
func TestAMF0EncodeConnectAllocs(t *testing.T) {
	vals := connectCommand()
	dst := appendAll0(t, nil, vals)
	if n := testing.AllocsPerRun(100, func() { dst = appendAll0(t, dst[:0], vals) }); n != 0 {
		t.Fatalf("AppendAMF0 of a connect command: %v allocations, want 0", n)
	}
}

// TestAMF0DecodeConnectAllocs keeps decoding a connect command light:
// common names and small integers are shared, scratch space is reused, so
// only the result and what is unique to this command allocate.
func TestAMF0DecodeConnectAllocs(t *testing.T) {
	payload := appendAll0(t, nil, connectCommand())
	n := testing.AllocsPerRun(100, func() {
		if _, err := amf.DecodeAMF0All(payload); err != nil {
			t.Fatal(err)
		}
	})
	// The result slice, the property slice and its interface box, the boxed
	// 4071, and flashVer and tcUrl at 2 allocations each (bytes and box).
	if n > 8 {
		t.Fatalf("DecodeAMF0All of a connect command: %v allocations, want at most 8", n)
	}
}
