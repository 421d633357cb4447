package flv_test

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/tributary-media/tributary/pkg/rtmp/flv"
)

var benchSizes = []int{1 << 10, 64 << 10, 2 << 20}

func sizeName(n int) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%dMiB", n>>20)
	}
	return fmt.Sprintf("%dKiB", n>>10)
}

// hevcFrameBody is an E-RTMP hvc1 CodedFrames body of n bytes.
func hevcFrameBody(n int) []byte {
	b := cat([]byte{0xa1}, fourCC("hvc1"), []byte{0x00, 0x00, 0x28})
	return append(b, make([]byte, n-len(b))...)
}

// BenchmarkParseTag is the per-message work of a bus consumer: frame a tag
// and parse its video header.
func BenchmarkParseTag(b *testing.B) {
	for _, n := range benchSizes {
		for _, kind := range []string{"legacy-avc", "ex-hvc1"} {
			body := hevcFrameBody(n)
			if kind == "legacy-avc" {
				copy(body, []byte{0x27, 0x01, 0x00, 0x00, 0x28})
			}
			tag, err := flv.AppendTag(nil, flv.TagVideo, 1000, body)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(kind+"/"+sizeName(n), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(tag)))
				for b.Loop() {
					t, _, err := flv.ParseTag(tag)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := flv.ParseVideoHeader(t.Body); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkAppendTag is the per-message work of a bus publisher: the tag
// bytes for one message, into a reused buffer.
func BenchmarkAppendTag(b *testing.B) {
	for _, n := range benchSizes {
		body := hevcFrameBody(n)
		b.Run(sizeName(n), func(b *testing.B) {
			dst := make([]byte, 0, n+flv.TagOverhead)
			b.ReportAllocs()
			b.SetBytes(int64(n + flv.TagOverhead))
			for b.Loop() {
				var err error
				if dst, err = flv.AppendTag(dst[:0], flv.TagVideo, 1000, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHotPathChecks measures the checks a server makes on every message.
func BenchmarkHotPathChecks(b *testing.B) {
	bodies := map[string][]byte{
		"legacy-avc":           {0x17, 0x01, 0x00, 0x00, 0x00, 0x00},
		"ex-hvc1":              hevcFrameBody(64),
		"ex-modex-multitrack":  videoBytes("ex-modex-then-multitrack"),
		"ex-many-codecs-audio": audioBytes("ex-multitrack-many-codecs-sequence-start"),
	}
	for name, body := range bodies {
		typ := flv.TagVideo
		if name == "ex-many-codecs-audio" {
			typ = flv.TagAudio
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				flv.IsKeyframe(typ, body)
				flv.IsSequenceHeader(typ, body)
				flv.TagCodec(typ, body)
			}
		})
	}
}

// BenchmarkParseVideoHeaderMultitrack parses a two-track message and walks
// its tracks.
func BenchmarkParseVideoHeaderMultitrack(b *testing.B) {
	body := videoBytes("ex-vp08-and-vvc1")
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		h, err := flv.ParseVideoHeader(body)
		if err != nil {
			b.Fatal(err)
		}
		var t flv.VideoTrack
		for it := h.Tracks(); it.Next(&t); {
		}
	}
}

// BenchmarkReader reads a file of 64 KiB video tags from memory.
func BenchmarkReader(b *testing.B) {
	const tags = 64
	file := flv.AppendHeader(nil, flv.Header{Video: true})
	body := hevcFrameBody(64 << 10)
	for i := 0; i < tags; i++ {
		var err error
		if file, err = flv.AppendTag(file, flv.TagVideo, uint32(i*40), body); err != nil {
			b.Fatal(err)
		}
	}
	rd := bytes.NewReader(file)
	b.ReportAllocs()
	b.SetBytes(int64(len(file)))
	for b.Loop() {
		rd.Reset(file)
		r := flv.NewReader(rd, flv.ReaderConfig{})
		var t flv.Tag
		for {
			if err := r.ReadTag(&t); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
	}
}
