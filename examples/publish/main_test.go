package main

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/tributary-media/tributary/pkg/rtmp/flv"
)

func TestPacerLoopsWithIncreasingTimestamps(t *testing.T) {
	tests := []struct {
		name string
		file []uint32 // file timestamps of one pass
		want []uint32 // output timestamps of three passes
	}{
		{
			name: "from zero",
			file: []uint32{0, 0, 23, 40, 46, 80},
			// The largest step is 34 ms (46 to 80): each pass starts one
			// step after the end of the previous one.
			want: []uint32{0, 0, 23, 40, 46, 80, 114, 114, 137, 154, 160, 194, 228, 228, 251, 268, 274, 308},
		},
		{
			name: "from an offset, audio behind video",
			file: []uint32{1000, 1040, 1030, 1080},
			want: []uint32{1000, 1040, 1030, 1080, 1120, 1160, 1150, 1200, 1240, 1280, 1270, 1320},
		},
		{
			name: "a single tag",
			file: []uint32{5},
			want: []uint32{5, 45, 85}, // no step seen: 40 ms
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &pacer{ctx: context.Background()}
			var got []uint32
			for pass := range 3 {
				if pass > 0 {
					p.nextLoop()
				}
				for _, ts := range tc.file {
					got = append(got, p.out(ts))
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("output timestamps %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPacerWaits(t *testing.T) {
	done := make(chan struct{})
	p := &pacer{ctx: context.Background(), done: done}
	p.out(1000)
	start := time.Now()
	if err := p.wait(p.out(1050)); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Errorf("a tag 50 ms after the first left after %v", d)
	}
	if err := p.wait(p.out(1000)); err != nil {
		t.Fatalf("a tag already due: %v", err)
	}
	close(done)
	if err := p.wait(p.out(900_000)); !errors.Is(err, errStopped) {
		t.Fatalf("wait after the connection ended: %v, want errStopped", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	p = &pacer{ctx: ctx}
	p.out(0)
	cancel()
	if err := p.wait(p.out(900_000)); !errors.Is(err, errStopped) {
		t.Fatalf("wait after the context ended: %v, want errStopped", err)
	}
}

func TestIsSequenceEnd(t *testing.T) {
	tests := []struct {
		name  string
		typ   flv.TagType
		bytes []byte
		want  bool
	}{
		// key | AVC, AVCPacketType 2 (end of sequence), CTS 0.
		{"avc end of sequence", flv.TagVideo, []byte{0x17, 0x02, 0x00, 0x00, 0x00}, true},
		// key | AVC, AVCPacketType 1 (NALUs), CTS 0, data.
		{"avc frame", flv.TagVideo, []byte{0x17, 0x01, 0x00, 0x00, 0x00, 0x01}, false},
		// ExHeader | key | SequenceEnd, FourCC.
		{"hvc1 sequence end", flv.TagVideo, []byte{0x92, 'h', 'v', 'c', '1'}, true},
		// ExHeader | key | SequenceStart, FourCC, record.
		{"hvc1 sequence start", flv.TagVideo, []byte{0x90, 'h', 'v', 'c', '1', 0x01}, false},
		// SoundFormat 9 (ExHeader) | SequenceEnd, FourCC.
		{"opus sequence end", flv.TagAudio, []byte{0x92, 'O', 'p', 'u', 's'}, true},
		// AAC, raw frame.
		{"aac frame", flv.TagAudio, []byte{0xaf, 0x01, 0x21}, false},
		{"script", flv.TagScript, []byte{0x02, 0x00, 0x00}, false},
	}
	for _, tc := range tests {
		if got := isSequenceEnd(tc.typ, tc.bytes); got != tc.want {
			t.Errorf("%s: isSequenceEnd = %v, want %v", tc.name, got, tc.want)
		}
	}
}
